/* The last steps before exec, shared by the container's main process and
 * `strata exec`: the user and groups from the image's /etc files, the
 * working directory, the environment, capabilities, no_new_privs, the
 * default seccomp filter, and only fds 0-2 left open. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "run/internal.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static bool env_has(char **env, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < n; i++)
        if (!strncmp(env[i], key, kl) && env[i][kl] == '=')
            return true;
    return false;
}

static const char *env_get(char *const *env, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], key, kl) && env[i][kl] == '=')
            return env[i] + kl + 1;
    return NULL;
}

static bool groups_allowed(void)
{
    char buf[16] = "";
    int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return !(n > 0 && !strncmp(buf, "deny", 4));
}

int run_proc_prepare(const struct run_proc *p, char ***envp, struct error *err)
{
    struct run_user u = {0};
    if (run_user_resolve(p->user, &u, err) < 0)
        return -1;

    /* the working directory exists before anyone switches user (docker
     * creates WorkingDir too) */
    const char *cwd = p->cwd && *p->cwd ? p->cwd : "/";
    if (strcmp(cwd, "/")) {
        /* a failure here (read-only root) is reported by chdir below */
        struct error ignore = {0};
        mkdir_p_at(AT_FDCWD, cwd, 0755, &ignore);
    }

    if (run_caps_bound(p->cap_add, p->cap_drop, err) < 0)
        goto fail;
    if (groups_allowed()) {
        if (setgroups(u.n_groups, u.groups) < 0) {
            error_errno(err, "setgroups");
            goto fail;
        }
    }
    if (setresgid(u.gid, u.gid, u.gid) < 0) {
        error_errno(err, "setgid %u%s", (unsigned)u.gid,
                    errno == EINVAL ? " (not mapped in the user namespace)" : "");
        goto fail;
    }
    if (setresuid(u.uid, u.uid, u.uid) < 0) {
        error_errno(err, "setuid %u%s", (unsigned)u.uid,
                    errno == EINVAL ? " (not mapped in the user namespace)" : "");
        goto fail;
    }
    if (run_caps_set_for(u.uid, p->cap_add, p->cap_drop, err) < 0)
        goto fail;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        error_errno(err, "set no_new_privs");
        goto fail;
    }
    if (chdir(cwd) < 0) {
        error_errno(err, "chdir to the working directory `%s`", cwd);
        goto fail;
    }
    /* last: nothing above needs a call the filter refuses */
    if (!p->seccomp_unconfined) {
        struct run_seccomp here = {0};
        const struct run_seccomp *f = p->seccomp;
        if (!f && run_seccomp_prepare(p->cap_add, p->cap_drop, NULL, &here, err) < 0)
            goto fail;
        int r = run_seccomp_load(f ? f : &here, err);
        run_seccomp_free(&here);
        if (r < 0)
            goto fail;
    }

    size_t n = 0;
    while (p->env && p->env[n])
        n++;
    char **env = xcalloc(n + 5, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        env[k++] = xstrdup(p->env[i]);
    if (!env_has(env, k, "PATH"))
        env[k++] = xstrdup("PATH=" DEFAULT_PATH);
    if (!env_has(env, k, "HOSTNAME")) {
        char hn[256] = "";
        gethostname(hn, sizeof hn - 1);
        env[k++] = xasprintf("HOSTNAME=%s", hn);
    }
    if (!env_has(env, k, "HOME"))
        env[k++] = xasprintf("HOME=%s", u.home ? u.home : "/");
    if (p->tty && !env_has(env, k, "TERM"))
        env[k++] = xstrdup("TERM=xterm");
    env[k] = NULL;
    *envp = env;
    run_user_free(&u);
    return 0;
fail:
    run_user_free(&u);
    return -1;
}

int run_proc_exec(const struct run_proc *p, char **envp, int *status, struct error *err)
{
    /* only 0, 1 and 2 reach the process */
    syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);

    const char *file = p->argv[0];
    if (strchr(file, '/')) {
        execve(file, p->argv, envp);
        *status = errno == ENOENT ? 127 : 126;
        return error_errno(err, "exec `%s`", file);
    }
    const char *path = env_get(envp, "PATH");
    if (!path)
        path = DEFAULT_PATH;
    int saved = ENOENT;
    cleanup_free char *copy = xstrdup(path);
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        cleanup_free char *full = xasprintf("%s/%s", *dir ? dir : ".", file);
        execve(full, p->argv, envp);
        if (errno != ENOENT && errno != ENOTDIR)
            saved = errno;
    }
    errno = saved;
    *status = saved == ENOENT ? 127 : 126;
    if (saved == ENOENT)
        return error_set(err, ENOENT, "exec `%s`: executable file not found in $PATH", file);
    return error_errno(err, "exec `%s`", file);
}
