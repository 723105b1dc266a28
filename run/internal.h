/* Shared between the pieces of run/: the messages the caller, the helper
 * and the container process exchange, and the steps each of them runs.
 * Not for use outside run/. */
#ifndef STRATA_RUN_INTERNAL_H
#define STRATA_RUN_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "run/container.h"

/* Messages on SOCK_SEQPACKET socketpairs (one datagram each). */
enum run_msg_type {
    RUN_MSG_MAPS = 1, /* helper -> caller: write my uid/gid maps */
    RUN_MSG_MAPS_DONE,
    RUN_MSG_PID,      /* helper -> caller: the container's pid (value) */
    RUN_MSG_READY,    /* helper -> caller: root mounted, go on */
    RUN_MSG_GO,       /* caller -> container: cgroup joined, set up and exec */
    RUN_MSG_PTY,      /* container -> caller: the pty master (SCM_RIGHTS) */
    RUN_MSG_PTY_DONE, /* caller -> container: window size set, go on */
    RUN_MSG_ERROR,    /* anyone: text = message, code = errno, value = exit status */
    RUN_MSG_SYSINFO,  /* container -> caller: sysinfo seccomp listener (SCM_RIGHTS) for the /proc view */
    RUN_MSG_PROCVIEW, /* helper -> caller: the /proc view's /dev/fuse connection (SCM_RIGHTS) */
};

struct run_msg {
    int type;
    int value;
    int code;
    char text[1024];
};

int run_msg_send(int sock, int type, int value, int fd);
int run_msg_send_error(int sock, const struct error *e, int status);
/* Returns 1 with a message (and *fd when one was attached, else -1), 0 at
 * EOF, <0 on error. */
int run_msg_recv(int sock, struct run_msg *m, int *fd);

/* The signals the caller forwards to the container. */
void run_forwarded_signals(sigset_t *set);

/* idmap.c: the caller writes the maps of a process in a new user namespace:
 * itself as root, plus the subordinate ranges through newuidmap/newgidmap
 * when /etc/subuid and /etc/subgid list the caller. */
int run_idmap_write(pid_t pid, struct error *err);

/* setup.c: the container process's side, from GO to exec.  Never returns. */
struct run_child_ctx {
    const struct run_spec *spec;
    const char *root;      /* the directory that becomes / */
    const char *run_dir;   /* the etc files' fallback home */
    const char *const *etc_text; /* their contents, RUN_ETC_* */
    int sock;              /* to the caller */
    int root_fd;           /* from the helper: a byte once the root is mounted */
    sigset_t old_mask;     /* the caller's mask, restored before exec */
    unsigned long long ignored; /* the caller's ignored signals, reset before exec */
    bool rootless;
    bool procview;         /* the caller sends the /proc view's mount after GO */
    const struct run_seccomp *seccomp; /* compiled by the caller, or NULL */
};
__attribute__((noreturn)) void run_child_main(struct run_child_ctx *c);

/* mounts.c, run in the container process before/after pivot_root.  The
 * root is built in two steps so the first overlaps with the caller moving
 * the process into its cgroup: begin (bind the root, /proc, /dev, the etc
 * files; returns the root's fd) needs nothing of the cgroup; end (/sys with
 * the cgroup namespace's hierarchies, the /proc view, volumes, pivot_root,
 * masks) runs once the process is in its cgroup namespace. */
enum { RUN_ETC_HOSTNAME, RUN_ETC_HOSTS, RUN_ETC_RESOLV, RUN_ETC_N };
int run_mount_root_begin(const struct run_spec *spec, const char *root, const char *run_dir,
                         const char *const *etc_text, bool rootless, struct error *err);
int run_mount_root_end(const struct run_spec *spec, const char *root, int rootfd,
                       const char *procview_dir, struct error *err);
int run_mount_after_pivot(const struct run_spec *spec, struct error *err);
/* Opens (O_PATH) `path` inside the root dirfd, creating missing directories
 * (and the last component as a file when !dir), all resolved with
 * RESOLVE_IN_ROOT so no symlink leaves the root. */
int run_open_in_root(int rootfd, const char *path, bool create, bool dir, struct error *err);

/* process.c: what the container process and `exec` share, after the root
 * is in place: user, groups, cwd, capabilities, no_new_privs, fds, exec. */
struct run_proc {
    char *const *argv;
    char *const *env;
    const char *cwd;
    const char *user;
    const char *const *cap_add;
    const char *const *cap_drop;
    bool tty;
    bool seccomp_unconfined; /* no default seccomp filter */
    const struct run_seccomp *seccomp; /* compiled ahead; NULL = compile here */
};
/* Resolves the user and switches to it, sets cwd and the capabilities;
 * returns the final environment (malloc'd) in *envp. */
int run_proc_prepare(const struct run_proc *p, char ***envp, struct error *err);
/* execs (PATH from envp); only returns on failure with err set and
 * *status 127 (not found) or 126 (not executable). */
int run_proc_exec(const struct run_proc *p, char **envp, int *status, struct error *err);

/* seccomp.c: the default filter (Docker's default profile's denials,
 * relaxed for the capabilities the set grants), compiled to BPF ahead of
 * time (from cache_dir when there, NULL = no cache) and loaded last
 * (needs no_new_privs). */
struct sock_filter;
struct run_seccomp {
    struct sock_filter *insns;
    size_t len; /* bytes */
    char *file; /* the cache entry it was read from or written to, or NULL */
};
int run_seccomp_prepare(const char *const *cap_add, const char *const *cap_drop,
                        const char *cache_dir, struct run_seccomp *out, struct error *err);
/* The filter kept at `path` for later execs into the container (a hard
 * link to its cache entry when it has one, else a copy), and read back:
 * the file's size and SHA-256 are checked, so a damaged one is an error
 * naming it, never a silent lack of filter; err->code ENOENT when absent. */
int run_seccomp_save(const struct run_seccomp *f, const char *path, struct error *err);
int run_seccomp_read(const char *path, struct run_seccomp *out, struct error *err);
int run_seccomp_load(const struct run_seccomp *f, struct error *err);
void run_seccomp_free(struct run_seccomp *f);

/* caps.c; run_caps_mask gives the container's set (Docker's default
 * adjusted) as bits by capability number. */
int run_caps_mask(const char *const *add, const char *const *drop, unsigned long long *mask,
                  struct error *err);
int run_caps_bound(const char *const *add, const char *const *drop, struct error *err);
int run_caps_set_for(uid_t uid, const char *const *add, const char *const *drop,
                     struct error *err);

/* passwd.c: "user[:group]" resolved in the current root's /etc files. */
struct run_user {
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t n_groups;
    char *home; /* from passwd, or "/" */
};
int run_user_resolve(const char *spec, struct run_user *u, struct error *err);
void run_user_free(struct run_user *u);

/* net.c */
int run_net_lo_up(struct error *err);

struct run_attach;
struct run_procview;

/* pty.c: the pty created inside the container, and the caller's relay. */
int run_pty_open_in_container(int *master, int *slave, struct error *err);
struct run_relay {
    int master;      /* pty master or -1 */
    int in_fd;       /* the caller's stdin to copy into the pty, or -1 */
    int out_fd;      /* where the pty's output goes */
    int sigfd;       /* signalfd of run_forwarded_signals */
    int pidfd;       /* the process to wait for and to signal */
    struct run_tee *tee; /* NULL, or output also kept in a log */
    struct run_attach *attach; /* NULL, or `run -d -t`'s attach socket */
    struct run_procview *view; /* NULL, or the /proc view to serve meanwhile */
};
/* A foreground run's log: the process's stdout and stderr come through
 * pipes (or the pty) and are copied to the caller's fds and the log. */
struct run_tee {
    int out_pipe[2]; /* -1 when the pty carries the output */
    int err_pipe[2];
    int out_fd, err_fd; /* the caller's destinations */
    int log_fd;
};
/* Pipes for out/err unless tty; all fds -1 first, so close is always safe. */
int run_tee_open(struct run_tee *t, int log_fd, int out_fd, int err_fd, bool tty,
                 struct error *err);
void run_tee_close_writers(struct run_tee *t);
void run_tee_close(struct run_tee *t);
/* Loops until the pidfd says the process ended; forwards signals.  When
 * the caller's side of a pipe goes away (EPIPE), that pipe is closed, so
 * the process sees EPIPE as if it wrote there itself. */
int run_relay_loop(struct run_relay *r, struct error *err);
/* Terminal raw mode on fd for the duration of a -t session. */
struct run_tty_saved {
    int fd;
    bool saved;
    char state[64]; /* struct termios */
};
void run_tty_raw(int fd, struct run_tty_saved *s);
void run_tty_restore(struct run_tty_saved *s);
void run_tty_copy_winsize(int from, int to);

/* procutil.c */
int run_pidfd_open(pid_t pid);
int run_pidfd_send(int pidfd, int sig);
/* Start time (clock ticks since boot, /proc/PID/stat field 22) or 0. */
unsigned long long run_proc_starttime(pid_t pid);
/* The signals this process ignores (SigIgn of /proc/self/status; all of
 * them when it cannot be read).  Only an ignored signal keeps its
 * disposition across exec (a caught one is reset by the kernel) and strata
 * catches none before forking, so resetting these few to the default,
 * instead of all 62 (some 100 us of syscalls here), gives the process the
 * default dispositions a container expects. */
unsigned long long run_signals_ignored(void);
void run_signals_default(unsigned long long which);
int run_signal_parse(const char *s);
const char *run_signal_name(int sig);
/* The exit status in shell terms: code, or 128+N when killed by N. */
int run_wait_status_to_exit(int wstatus);

#endif
