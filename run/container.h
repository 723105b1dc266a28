/* Running one container, synchronously: the library entry point that
 * `strata run` and the builder's RUN steps share.
 *
 * Process model: the caller (P) forks a helper (C) that enters a new user
 * namespace (rootless only) and a new mount namespace and, when the root is
 * a union of layers, serves the unionfs mount from its threads.  C clones
 * the container process (G) with CLONE_PARENT, so G is P's child: P owns
 * the cgroup, waits for G, forwards signals and relays the pty; when G is
 * gone P stops C, which unmounts.  G is PID 1 of the new PID namespace: it
 * sets up the root (pivot_root, /proc, /dev, volumes, masks) and execs the
 * process, or with `init` stays as a reaper and forks it. */
#ifndef STRATA_RUN_CONTAINER_H
#define STRATA_RUN_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

struct run_attach;
struct run_cgroup;

enum run_network {
    RUN_NET_NONE = 0, /* a new network namespace with only lo, up */
    RUN_NET_HOST,     /* the caller's network namespace */
};

struct run_volume {
    const char *source;  /* host path (file or directory) */
    const char *target;  /* absolute path inside the container */
    bool read_only;
};

struct run_tmpfs {
    const char *target;  /* absolute path inside the container */
    const char *options; /* extra mount data ("size=64m"), or NULL */
};

/* Resource limits; 0 (or NULL) means "no limit". */
struct run_limits {
    int64_t memory;       /* bytes (-m) */
    int64_t memory_swap;  /* bytes of memory+swap (--memory-swap), -1 unlimited */
    double cpus;          /* CPUs worth of quota (--cpus 0.5) */
    int64_t pids;         /* max tasks (--pids-limit) */
    const char *cpuset_cpus; /* "0-1" (--cpuset-cpus) */
};

struct run_spec {
    /* The root: either `rootfs` (a directory used as is, read-write unless
     * read_only), or a union of `lowers` (top-first, NULL-terminated) with
     * the writable `upper` and its `work` dir (both must exist). */
    const char *rootfs;
    const char *const *lowers;
    const char *upper;
    const char *work;

    /* The process.  argv[0] is looked up in the container's PATH (from env,
     * else the default PATH) when it has no slash. */
    char *const *argv;   /* NULL-terminated, non-empty */
    char *const *env;    /* NULL-terminated "K=V"; NULL = just PATH/HOME/HOSTNAME */
    const char *cwd;     /* NULL = "/" */
    const char *user;    /* "name|uid[:group|gid]" resolved from the root's
                          * /etc/passwd and /etc/group; NULL = root */
    const char *hostname; /* NULL = a short id */

    enum run_network network;

    /* Standard streams for the process: fds in the caller, -1 = inherit
     * the caller's own fd of that number.  With `tty`, they are relayed to
     * and from a pty created inside the container instead. */
    int stdin_fd, stdout_fd, stderr_fd;
    bool tty;          /* real pty, window size from stdin (or stdout) tty */
    /* >= 0: stdout and stderr (or the pty's output) are also appended to
     * this fd (the container's log), relayed through pipes; -1 = none */
    int log_fd;
    bool interactive;  /* keep stdin; without it the process gets /dev/null */

    struct run_limits limits;
    const struct run_volume *volumes; size_t n_volumes;
    const struct run_tmpfs *tmpfs;    size_t n_tmpfs;
    /* capability names ("NET_ADMIN", "CAP_NET_ADMIN" or "ALL"), applied
     * to Docker's default set: drops first, then adds */
    const char *const *cap_add;  /* NULL-terminated or NULL */
    const char *const *cap_drop; /* NULL-terminated or NULL */
    bool init;        /* a reaper is PID 1 and forwards signals */
    bool read_only;   /* the root is mounted read-only */
    bool no_proc_view; /* do not serve the limits-aware /proc files */
    bool seccomp_unconfined; /* no default seccomp filter (run/seccomp.c) */
    const char *seccomp_cache; /* optional: a directory for compiled filters */
    const char *seccomp_save;  /* optional: the filter is kept here for exec */
    /* optional, with lowers: where a read-only layer holding empty
     * /etc/hostname, hosts and resolv.conf is kept (made once), put below
     * the image's layers so the etc files have something to be mounted
     * over without a change to the upper */
    const char *etc_lower;
    /* optional, with tty: the pty's output also goes to the clients of
     * this attach socket, which may type into it (run/attach.h) */
    struct run_attach *attach;

    /* Optional: the container id (names the cgroup; the first 12 chars are
     * the default hostname); NULL makes one up. */
    const char *id;
    /* Optional: a directory of the caller's for the union mount point and
     * the /etc/hosts, /etc/hostname, /etc/resolv.conf files; NULL = a temp
     * directory removed afterwards. */
    const char *run_dir;
    /* Optional: the cgroup the container's goes under, the same path in
     * every hierarchy (podman's --cgroup-parent); NULL: $STRATA_CGROUP_PARENT
     * or the default placement; "": the default placement. */
    const char *cgroup_parent;
    /* Optional: called in the caller (P) once the process has been
     * exec'd, with its host pid and its cgroup (borrowed; for `strata
     * run`'s state file, which records where the cgroup is). */
    void (*on_start)(void *data, pid_t pid, const struct run_cgroup *cg);
    void *on_start_data;
    /* Optional: called in the caller once the container has ended (or
     * failed to start) and its cgroup is gone, while the union helper
     * exits: the upper and the run dir are the caller's again (--rm
     * removes them here, so both take the time of the slower). */
    void (*on_exit)(void *data);
    void *on_exit_data;
};

/* A spec with every field at its default (stdio inherited, network none). */
void run_spec_init(struct run_spec *spec);

/* Runs the container to completion.  *exit_status is the process's exit
 * code, 128+N when it was killed by signal N (137 after an OOM kill).
 * Returns 0 when the process ran (whatever its status), <0 with err filled
 * when the container could not be started; the message names the failing
 * step ("pivot_root: ...", "mount /proc: ...").  Everything is cleaned up
 * (union mount, cgroup) before it returns.  Works as root and rootless.
 * While it runs, SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 delivered to
 * the caller are forwarded to the container. */
int run_container(const struct run_spec *spec, int *exit_status, struct error *err);

/* How the process ended. */
struct run_result {
    int exit_status;
    bool oom_killed;
    pid_t pid;
};
/* As run_container, with more detail about how the process ended. */
int run_container_ex(const struct run_spec *spec, struct run_result *res, struct error *err);

#endif
