/* The user namespace's id maps, written by the caller (outside it): the
 * caller becomes root inside; when /etc/subuid and /etc/subgid give the
 * caller ranges (and newuidmap/newgidmap are there), ids 1..N map onto
 * them, so images with several users work as with podman. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "run/internal.h"

extern char **environ;

/* The first range for `name` or the numeric id in /etc/sub[ug]id. */
static bool sub_range(const char *file, const char *name, unsigned long id,
                      unsigned long *start, unsigned long *count)
{
    cleanup_fclose FILE *f = fopen(file, "re");
    if (!f)
        return false;
    char line[512];
    char idstr[32];
    snprintf(idstr, sizeof idstr, "%lu", id);
    while (fgets(line, sizeof line, f)) {
        char who[256];
        unsigned long s, c;
        if (sscanf(line, "%255[^:]:%lu:%lu", who, &s, &c) != 3)
            continue;
        if ((name && !strcmp(who, name)) || !strcmp(who, idstr)) {
            *start = s;
            *count = c;
            return true;
        }
    }
    return false;
}

static int run_tool(const char *tool, char *const argv[], struct error *err)
{
    pid_t pid;
    int r = posix_spawnp(&pid, tool, NULL, NULL, argv, environ);
    if (r != 0)
        return error_code(err, r, "run `%s`", tool);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return error_errno(err, "wait for `%s`", tool);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return error_set(err, 0, "`%s` failed (status %d)", tool, run_wait_status_to_exit(st));
    return 0;
}

static int write_proc(pid_t pid, const char *file, const char *text, struct error *err)
{
    cleanup_free char *path = xasprintf("/proc/%d/%s", (int)pid, file);
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `%s`", path);
    if (write(fd, text, strlen(text)) < 0)
        return error_errno(err, "write `%s`", path);
    return 0;
}

int run_idmap_write(pid_t pid, struct error *err)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    char buf[1024];
    struct passwd pwd, *pw = NULL;
    getpwuid_r(uid, &pwd, buf, sizeof buf, &pw);
    const char *name = pw ? pw->pw_name : NULL;

    unsigned long us, uc, gs, gc;
    bool sub = sub_range("/etc/subuid", name, uid, &us, &uc) &&
               sub_range("/etc/subgid", name, uid, &gs, &gc) && uc > 0 && gc > 0;
    if (sub) {
        char p[32], a[32], b[32], c[32];
        snprintf(p, sizeof p, "%d", (int)pid);
        snprintf(a, sizeof a, "%u", (unsigned)uid);
        snprintf(b, sizeof b, "%lu", us);
        snprintf(c, sizeof c, "%lu", uc);
        char *uargv[] = {"newuidmap", p, "0", a, "1", "1", b, c, NULL};
        if (run_tool("newuidmap", uargv, err) < 0)
            return -1;
        snprintf(a, sizeof a, "%u", (unsigned)gid);
        snprintf(b, sizeof b, "%lu", gs);
        snprintf(c, sizeof c, "%lu", gc);
        char *gargv[] = {"newgidmap", p, "0", a, "1", "1", b, c, NULL};
        return run_tool("newgidmap", gargv, err);
    }
    char map[64];
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    if (write_proc(pid, "uid_map", map, err) < 0)
        return -1;
    /* an unprivileged gid_map needs setgroups denied first */
    if (write_proc(pid, "setgroups", "deny", err) < 0)
        return -1;
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
    return write_proc(pid, "gid_map", map, err);
}
