/* `strata exec`: a new process in a running container — every namespace
 * of the container's main process entered through its pidfd (setns), its
 * cgroup joined, then the same last steps as the main process (user,
 * working directory, capabilities, no_new_privs, only fds 0-2).  The
 * helper that joins is non-dumpable and has left the container (the new
 * process is cloned with CLONE_PARENT) before anything in it runs. */
#ifndef STRATA_RUN_EXEC_H
#define STRATA_RUN_EXEC_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

struct run_cgroup;

struct run_exec_spec {
    pid_t pid;              /* the container's main process (host pid) */
    /* the container's cgroup to join (borrowed; run_ctr_cgroup_open), or NULL */
    struct run_cgroup *cgroup;
    char *const *argv;
    char *const *env;
    const char *cwd;        /* NULL = / */
    const char *user;       /* NULL = root */
    const char *const *cap_add;
    const char *const *cap_drop;
    bool tty;
    bool interactive;
    bool seccomp_unconfined; /* the container runs without the default filter */
    const char *seccomp_cache; /* optional: a directory for compiled filters */
    /* optional: the filter `run` kept (run_seccomp_save); when absent the
     * filter is made as run makes it */
    const char *seccomp_file;
};

/* Runs to completion; *exit_status as run_container's. */
int run_exec(const struct run_exec_spec *s, int *exit_status, struct error *err);

#endif
