/* USER[:GROUP] as Docker reads it: names from the container's /etc/passwd
 * and /etc/group (after pivot_root, so "/" is the container's root),
 * numbers as they are even without an entry; supplementary groups are the
 * groups listing the user as a member. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/internal.h"

static FILE *open_etc(const char *path)
{
    /* a regular file inside the root only (no FIFO to hang on, no /proc) */
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f)
        close(fd);
    return f;
}

static bool parse_num(const char *s, unsigned long *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v > 0xfffffffeUL)
        return false;
    *out = v;
    return true;
}

/* Splits a passwd/group line in place into up to n fields. */
static size_t split(char *line, char **f, size_t n)
{
    size_t k = 0;
    line[strcspn(line, "\n")] = '\0';
    while (k < n) {
        f[k++] = line;
        char *c = strchr(line, ':');
        if (!c)
            break;
        *c = '\0';
        line = c + 1;
    }
    return k;
}

int run_user_resolve(const char *spec, struct run_user *u, struct error *err)
{
    memset(u, 0, sizeof *u);
    cleanup_free char *copy = xstrdup(spec && *spec ? spec : "0");
    char *grp = strchr(copy, ':');
    if (grp)
        *grp++ = '\0';
    const char *usr = *copy ? copy : "0";
    unsigned long num;
    bool user_num = parse_num(usr, &num);
    bool found = false;
    cleanup_free char *name = NULL;
    char *line = NULL;
    size_t cap = 0;

    FILE *pw = open_etc("/etc/passwd");
    if (pw) {
        while (getline(&line, &cap, pw) > 0) {
            char *f[7];
            if (split(line, f, 7) < 7)
                continue;
            unsigned long uid, gid;
            if (!parse_num(f[2], &uid) || !parse_num(f[3], &gid))
                continue;
            if (user_num ? uid == num : !strcmp(f[0], usr)) {
                u->uid = (uid_t)uid;
                u->gid = (gid_t)gid;
                u->home = xstrdup(*f[5] ? f[5] : "/");
                name = xstrdup(f[0]);
                found = true;
                break;
            }
        }
        fclose(pw);
    }
    if (!found) {
        if (!user_num) {
            free(line);
            return error_set(err, ENOENT, "unable to find user `%s`: no matching entries in "
                                          "passwd file", usr);
        }
        u->uid = (uid_t)num;
        u->gid = 0;
        u->home = xstrdup("/");
    }

    bool group_num = false;
    unsigned long gnum = 0;
    if (grp && *grp)
        group_num = parse_num(grp, &gnum);
    bool group_found = !grp || !*grp || group_num;
    if (group_num)
        u->gid = (gid_t)gnum;

    FILE *gr = open_etc("/etc/group");
    if (gr) {
        while (getline(&line, &cap, gr) > 0) {
            char *f[4];
            size_t nf = split(line, f, 4);
            if (nf < 3)
                continue;
            unsigned long gid;
            if (!parse_num(f[2], &gid))
                continue;
            if (grp && *grp && !group_num && !strcmp(f[0], grp)) {
                u->gid = (gid_t)gid;
                group_found = true;
            }
            if (!name || nf < 4)
                continue;
            /* members: comma separated */
            char *save = NULL;
            for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
                if (!strcmp(m, name)) {
                    u->groups = xrealloc(u->groups, (u->n_groups + 1) * sizeof *u->groups);
                    u->groups[u->n_groups++] = (gid_t)gid;
                    break;
                }
            }
        }
        fclose(gr);
    }
    free(line);
    if (!group_found) {
        run_user_free(u);
        return error_set(err, ENOENT, "unable to find group `%s`: no matching entries in group "
                                      "file", grp);
    }
    /* the primary group is always in the list, as docker does */
    bool has = false;
    for (size_t i = 0; i < u->n_groups; i++)
        has |= u->groups[i] == u->gid;
    if (!has) {
        u->groups = xrealloc(u->groups, (u->n_groups + 1) * sizeof *u->groups);
        memmove(u->groups + 1, u->groups, u->n_groups * sizeof *u->groups);
        u->groups[0] = u->gid;
        u->n_groups++;
    }
    return 0;
}

void run_user_free(struct run_user *u)
{
    free(u->groups);
    free(u->home);
    u->groups = NULL;
    u->home = NULL;
}
