/* The container process G, from its clone to exec: PID 1 of the new PID
 * namespace.  Every failure is sent to the caller with the step that
 * failed, and G exits; the caller prints it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/internal.h"
#include "run/procview.h"

static __attribute__((noreturn)) void child_fail(struct run_child_ctx *c, struct error *e,
                                                 int status)
{
    run_msg_send_error(c->sock, e, status);
    _exit(status);
}

static void reset_signals(const struct run_child_ctx *c)
{
    run_signals_default(c->ignored);
    sigprocmask(SIG_SETMASK, &c->old_mask, NULL);
}

static int setup_stdio(struct run_child_ctx *c, struct error *e)
{
    const struct run_spec *s = c->spec;
    int in = s->stdin_fd >= 0 ? s->stdin_fd : STDIN_FILENO;
    int out = s->stdout_fd >= 0 ? s->stdout_fd : STDOUT_FILENO;
    int errfd = s->stderr_fd >= 0 ? s->stderr_fd : STDERR_FILENO;
    /* without -i, stdin becomes the container's /dev/null after pivot_root */
    int null_fd = -1;
    if (!s->interactive) {
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0)
            return error_errno(e, "open /dev/null");
        in = null_fd;
    }
    /* dup2 to the low numbers in an order that never clobbers a source */
    int fds[3] = {fcntl(in, F_DUPFD_CLOEXEC, 3), fcntl(out, F_DUPFD_CLOEXEC, 3),
                  fcntl(errfd, F_DUPFD_CLOEXEC, 3)};
    if (null_fd >= 0)
        close(null_fd);
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0)
            return error_errno(e, "stdio fd %d", i);
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0)
            return error_errno(e, "dup2 stdio fd %d", i);
        close(fds[i]);
    }
    return 0;
}

static int setup_tty(struct run_child_ctx *c, struct error *e)
{
    int master, slave;
    if (run_pty_open_in_container(&master, &slave, e) < 0)
        return -1;
    if (run_msg_send(c->sock, RUN_MSG_PTY, 0, master) < 0) {
        close(master);
        close(slave);
        return error_errno(e, "send the pty to the caller");
    }
    close(master);
    /* the caller sets the window size before anything reads it */
    struct run_msg m;
    if (run_msg_recv(c->sock, &m, NULL) <= 0 || m.type != RUN_MSG_PTY_DONE) {
        close(slave);
        return error_set(e, EPROTO, "the caller did not take the pty");
    }
    if (ioctl(slave, TIOCSCTTY, 0) < 0) {
        close(slave);
        return error_errno(e, "make the pty the controlling terminal");
    }
    /* -t alone (as docker): stdin is the pty too, nothing is typed into it */
    for (int i = 0; i < 3; i++) {
        if (dup2(slave, i) < 0) {
            close(slave);
            return error_errno(e, "dup2 pty");
        }
    }
    if (slave > 2)
        close(slave);
    return 0;
}

/* --init: stay as PID 1, reap everything, forward signals to the main
 * process, exit as it did. */
static volatile sig_atomic_t init_pending[NSIG];

static void init_on_signal(int sig)
{
    init_pending[sig] = 1;
}

static __attribute__((noreturn)) void run_init(pid_t main_pid)
{
    static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                              SIGWINCH, SIGCONT, SIGALRM};
    sigset_t all, wait_mask;
    sigemptyset(&all);
    for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
        sigaddset(&all, fwd[i]);
    sigaddset(&all, SIGCHLD);
    /* blocked except inside sigsuspend, so no wakeup is lost */
    sigprocmask(SIG_BLOCK, &all, NULL);
    struct sigaction sa = {.sa_handler = init_on_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
        sigaction(fwd[i], &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&wait_mask);

    for (;;) {
        for (size_t i = 0; i < ARRAY_SIZE(fwd); i++) {
            if (init_pending[fwd[i]]) {
                init_pending[fwd[i]] = 0;
                kill(main_pid, fwd[i]);
            }
        }
        int st;
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
            if (p == main_pid)
                _exit(run_wait_status_to_exit(st));
        }
        if (p < 0 && errno == ECHILD)
            _exit(0);
        sigsuspend(&wait_mask);
    }
}

void run_child_main(struct run_child_ctx *c)
{
    struct error e = {0};
    struct run_msg m;
    const struct run_spec *s = c->spec;

    /* If P dies, so do we; and nothing in the container may read our
     * memory or /proc/1/exe (the strata binary) while we are strata. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_DUMPABLE, 0);

    /* the union mount is up in the helper's mount namespace: copy it
     * (EOF: the helper failed and tells the caller why) */
    char b;
    ssize_t got;
    while ((got = read(c->root_fd, &b, 1)) < 0 && errno == EINTR)
        ;
    if (got != 1)
        _exit(125);
    close(c->root_fd);
    if (unshare(CLONE_NEWNS) < 0) {
        error_errno(&e, "unshare the mount namespace");
        child_fail(c, &e, 125);
    }
    const char *hn = s->hostname;
    cleanup_free char *id_host = NULL;
    if (!hn) {
        id_host = xstrndup(s->id ? s->id : "strata", 12);
        hn = id_host;
    }
    if (sethostname(hn, strlen(hn)) < 0) {
        error_errno(&e, "sethostname `%s`", hn);
        child_fail(c, &e, 125);
    }
    if (s->network == RUN_NET_NONE && run_net_lo_up(&e) < 0)
        child_fail(c, &e, 125);
    /* stdio comes from the host before the root changes (/dev/null) */
    if (setup_stdio(c, &e) < 0)
        child_fail(c, &e, 125);
    if (setsid() < 0) {
        error_errno(&e, "setsid");
        child_fail(c, &e, 125);
    }
    /* while the caller moves this process into its cgroup */
    int rootfd = run_mount_root_begin(s, c->root, c->run_dir, c->etc_text, c->rootless,
                                      &e);
    if (rootfd < 0)
        child_fail(c, &e, 125);
    /* in the cgroup now: the cgroup namespace is rooted there, and /sys
     * shows it */
    int r = run_msg_recv(c->sock, &m, NULL);
    if (r <= 0 || m.type != RUN_MSG_GO)
        _exit(125);
    if (unshare(CLONE_NEWCGROUP) < 0) {
        error_errno(&e, "unshare the cgroup namespace");
        child_fail(c, &e, 125);
    }
    /* the /proc view's mount (primed: the binds send nothing), which the
     * helper made while we came this far */
    char pv_dir[32];
    int pv_fd = -1;
    if (c->procview) {
        r = run_msg_recv(c->sock, &m, &pv_fd);
        if (r <= 0 || m.type != RUN_MSG_PROCVIEW || pv_fd < 0)
            _exit(125);
        snprintf(pv_dir, sizeof pv_dir, "/proc/self/fd/%d", pv_fd);
    }
    if (run_mount_root_end(s, c->root, rootfd, c->procview ? pv_dir : NULL, &e) < 0)
        child_fail(c, &e, 125);
    if (pv_fd >= 0)
        close(pv_fd);
    close(rootfd);
    if (!s->interactive && !s->tty) {
        int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (n < 0 || dup2(n, 0) < 0) {
            error_errno(&e, "open /dev/null");
            child_fail(c, &e, 125);
        }
        close(n);
    }
    if (s->tty && setup_tty(c, &e) < 0)
        child_fail(c, &e, 125);

    struct run_proc p = {
        .argv = s->argv,
        .env = s->env,
        .cwd = s->cwd,
        .user = s->user,
        .cap_add = s->cap_add,
        .cap_drop = s->cap_drop,
        .tty = s->tty,
        .seccomp_unconfined = s->seccomp_unconfined,
        .seccomp = c->seccomp,
    };
    /* the /proc view's sysinfo trap goes in front of the container's
     * filter, loaded below as one program in place of the two stacked */
    size_t nf = c->seccomp ? c->seccomp->len / sizeof(struct sock_filter) : 0;
    bool front = c->procview && !s->seccomp_unconfined && c->seccomp &&
                 run_procview_sysinfo_can_front(c->seccomp->insns, nf);
    if (front)
        p.seccomp_unconfined = true;
    char **envp = NULL;
    if (run_proc_prepare(&p, &envp, &e) < 0)
        child_fail(c, &e, 125);
    if (c->procview) {
        /* sysinfo(2) (busybox free, uptime) answered by the /proc view;
         * after run_proc_prepare, which set no_new_privs */
        int sfd = front ? run_procview_sysinfo_filter_front(c->seccomp->insns, nf, &e)
                        : run_procview_sysinfo_filter(&e);
        if (sfd < 0 || run_msg_send(c->sock, RUN_MSG_SYSINFO, 0, sfd) < 0) {
            if (sfd >= 0)
                error_errno(&e, "send the sysinfo filter to the caller");
            child_fail(c, &e, 125);
        }
        close(sfd);
    }

    if (s->init) {
        pid_t main_pid = fork();
        if (main_pid < 0) {
            error_errno(&e, "fork the main process");
            child_fail(c, &e, 125);
        }
        if (main_pid == 0) {
            reset_signals(c);
            int status = 127;
            run_proc_exec(&p, envp, &status, &e);
            child_fail(c, &e, status);
        }
        /* the main process holds the socket until its exec; nothing else
         * of the caller's stays open in PID 1 */
        close(c->sock);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        prctl(PR_SET_NAME, "strata-init");
        run_init(main_pid);
    }
    reset_signals(c);
    int status = 127;
    run_proc_exec(&p, envp, &status, &e);
    child_fail(c, &e, status);
}
