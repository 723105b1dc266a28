#include "run/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "run/cgroup.h"
#include "run/internal.h"

/* The namespaces to join, in one setns(pidfd) call.  A container always
 * has its own mount, PID, UTS, IPC and cgroup namespaces; its user (rootless
 * only) and network (not with --network host) namespaces may be ours, and
 * joining those again is refused (the user one always, the host's network
 * one for want of privilege over it), so only they are compared. */
static int ns_flags(pid_t pid)
{
    static const struct {
        const char *name;
        int flag;
    } maybe[] = {{"user", CLONE_NEWUSER}, {"net", CLONE_NEWNET}};
    int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
    for (size_t i = 0; i < ARRAY_SIZE(maybe); i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "/proc/self/ns/%s", maybe[i].name);
        snprintf(b, sizeof b, "/proc/%d/ns/%s", (int)pid, maybe[i].name);
        struct stat sa, sb;
        if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
            continue;
        if (sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev)
            flags |= maybe[i].flag;
    }
    return flags;
}

static __attribute__((noreturn)) void fail_to(int sock, struct error *e, int status)
{
    run_msg_send_error(sock, e, status);
    _exit(status);
}

/* What the process that joins the container needs, prepared before the
 * fork or clone. */
struct child_args {
    const struct run_exec_spec *s;
    int pidfd;
    struct run_cgroup *cg;
    int sock;
    const sigset_t *old_mask;
    const struct run_seccomp *filter;
    int flags;                 /* the namespaces to join */
    unsigned long long ignored; /* signals ignored here (SigIgn), reset before exec */
};

/* The cgroup, then the namespaces in `flags` (the caller's process). */
static void join(const struct child_args *a, int flags)
{
    struct error e = {0};
    /* nothing in the container may read this strata process */
    prctl(PR_SET_DUMPABLE, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (a->cg && run_cgroup_add_pid(a->cg, getpid(), &e) < 0)
        fail_to(a->sock, &e, 125);
    if (setns(a->pidfd, flags) < 0) {
        error_errno(&e, "setns into the container");
        fail_to(a->sock, &e, 125);
    }
    if (flags & CLONE_NEWUSER) {
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
            error_errno(&e, "become root in the user namespace");
            fail_to(a->sock, &e, 125);
        }
    }
}

static __attribute__((noreturn)) void exec_in(const struct child_args *a);

/* Rootless: joins everything, then forks the process into the PID
 * namespace (setns of a PID namespace only applies to children), as a
 * sibling of itself (CLONE_PARENT), sends its pid and exits. */
static __attribute__((noreturn)) void joiner(const struct child_args *a)
{
    struct error e = {0};
    join(a, a->flags);
    pid_t y = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), NULL, NULL,
                             NULL, NULL);
    if (y < 0) {
        error_errno(&e, "clone into the container");
        fail_to(a->sock, &e, 125);
    }
    if (y > 0) {
        run_msg_send(a->sock, RUN_MSG_PID, y, -1);
        _exit(0);
    }
    exec_in(a);
}

/* In every namespace and the cgroup: stdio, session, pty, user, exec. */
static __attribute__((noreturn)) void exec_in(const struct child_args *a)
{
    const struct run_exec_spec *s = a->s;
    int sock = a->sock;
    struct error e = {0};
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!s->interactive) {
        int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (n < 0 || dup2(n, 0) < 0) {
            error_errno(&e, "open /dev/null");
            fail_to(sock, &e, 125);
        }
        close(n);
    }
    if (setsid() < 0) {
        error_errno(&e, "setsid");
        fail_to(sock, &e, 125);
    }
    if (s->tty) {
        int m, sl;
        if (run_pty_open_in_container(&m, &sl, &e) < 0)
            fail_to(sock, &e, 125);
        if (run_msg_send(sock, RUN_MSG_PTY, 0, m) < 0) {
            error_errno(&e, "send the pty");
            fail_to(sock, &e, 125);
        }
        close(m);
        struct run_msg ack;
        if (run_msg_recv(sock, &ack, NULL) <= 0 || ack.type != RUN_MSG_PTY_DONE) {
            error_set(&e, EPROTO, "the caller did not take the pty");
            fail_to(sock, &e, 125);
        }
        if (ioctl(sl, TIOCSCTTY, 0) < 0) {
            error_errno(&e, "make the pty the controlling terminal");
            fail_to(sock, &e, 125);
        }
        for (int i = 0; i < 3; i++)
            dup2(sl, i);
        if (sl > 2)
            close(sl);
    }
    struct run_proc p = {
        .argv = s->argv, .env = s->env, .cwd = s->cwd, .user = s->user,
        .cap_add = s->cap_add, .cap_drop = s->cap_drop, .tty = s->tty,
        .seccomp_unconfined = s->seccomp_unconfined,
        .seccomp = a->filter,
    };
    char **envp = NULL;
    if (run_proc_prepare(&p, &envp, &e) < 0)
        fail_to(sock, &e, 126);
    run_signals_default(a->ignored);
    sigprocmask(SIG_SETMASK, a->old_mask, NULL);
    int status = 127;
    run_proc_exec(&p, envp, &status, &e);
    fail_to(sock, &e, status);
}

/* Without a pty, the process that joins shares our memory and we sleep
 * until it has exec'd or died (see run_exec); rootless, the joiner's
 * child shares it too, and the joiner sleeps likewise.  Their stacks are
 * static, so no mmap and munmap (whose TLB shootdown is an IPI, costly on
 * this VM) per exec: one exec per process. */
static char vm_stacks[2][256 * 1024] __attribute__((aligned(64)));

/* AddressSanitizer cannot follow a child onto a stack it did not make (it
 * warns on every noreturn call there): its builds fork instead. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#else
#define ASAN_BUILD 0
#endif

static int vm_direct(void *arg)
{
    const struct child_args *a = arg;
    join(a, a->flags & ~CLONE_NEWPID);
    exec_in(a);
}

static int vm_exec(void *arg)
{
    exec_in(arg);
}

static int vm_joiner(void *arg)
{
    const struct child_args *a = arg;
    struct error e = {0};
    join(a, a->flags);
    pid_t y = clone(vm_exec, vm_stacks[1] + sizeof vm_stacks[1],
                    CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, (void *)a);
    if (y < 0) {
        error_errno(&e, "clone into the container");
        fail_to(a->sock, &e, 125);
    }
    run_msg_send(a->sock, RUN_MSG_PID, y, -1);
    _exit(0);
}

int run_exec(const struct run_exec_spec *s, int *exit_status, struct error *err)
{
    *exit_status = -1;
    int ret = -1, sock[2] = {-1, -1}, sigfd = -1, ypidfd = -1, master = -1, own_pidns = -1;
    pid_t x = -1, y = -1;
    struct run_cgroup *cg = s->cgroup;
    sigset_t fwd, old;
    bool masked = false;
    struct run_tty_saved tty = {.fd = -1};
    struct run_seccomp exec_filter = {0};

    cleanup_close int pidfd = run_pidfd_open(s->pid);
    if (pidfd < 0)
        return error_errno(err, "container process %d", (int)s->pid);
    run_forwarded_signals(&fwd);
    pthread_sigmask(SIG_BLOCK, &fwd, &old);
    masked = true;
    sigfd = signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0) {
        error_errno(err, "signalfd/socketpair");
        goto out;
    }
    /* The filter `run` kept for the container, read before the fork;
     * compiled (or read from the cache) only for a container started
     * without one kept (by an older strata).  A damaged one is an error. */
    if (!s->seccomp_unconfined) {
        struct error e2 = {0};
        int r = s->seccomp_file ? run_seccomp_read(s->seccomp_file, &exec_filter, &e2) : -1;
        if (r < 0 && s->seccomp_file && e2.code != ENOENT) {
            *err = e2;
            goto out;
        }
        if (r < 0 &&
            run_seccomp_prepare(s->cap_add, s->cap_drop, s->seccomp_cache, &exec_filter, err) < 0)
            goto out;
    }
    /* As root (no user namespace to enter), this process enters the PID
     * namespace for its children only, and the one child it forks is born
     * in it and joins the rest itself.  Rootless, setns(CLONE_NEWPID) here
     * would need a privilege over our own namespace we lack: an
     * intermediate process joins everything and forks. */
    int flags = ns_flags(s->pid);
    bool direct = false;
    if (!(flags & CLONE_NEWUSER)) {
        own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        direct = own_pidns >= 0 && setns(pidfd, CLONE_NEWPID) == 0;
    }
    struct child_args a = {
        .s = s, .pidfd = pidfd, .cg = cg, .sock = sock[1], .old_mask = &old,
        .filter = exec_filter.insns ? &exec_filter : NULL, .flags = flags,
        .ignored = run_signals_ignored(),
    };
    fflush(NULL);
    /* Without a pty nothing is exchanged with the child before its exec,
     * so it shares our memory and we sleep until it has exec'd or died
     * (CLONE_VM | CLONE_VFORK): no page tables copied, no copy-on-write
     * faults on either side, which is most of what a fork costs on this
     * kind of VM.  It keeps its own files (no CLONE_FILES), so its socket
     * end still closes on exec, and its own credentials and namespaces
     * (setns, the user namespace's too, allows a shared mm; a thread group
     * or a shared fs_struct it refuses).  With a pty it is forked. */
    bool shares_mm = !s->tty && !ASAN_BUILD;
    if (shares_mm && direct)
        x = clone(vm_direct, vm_stacks[0] + sizeof vm_stacks[0],
                  CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &a, &ypidfd);
    else if (shares_mm)
        x = clone(vm_joiner, vm_stacks[0] + sizeof vm_stacks[0],
                  CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    else
        x = fork();
    /* back to our own PID namespace for any later child (the sanitizers'
     * leak checker clones one at exit) */
    if (direct && x != 0)
        setns(own_pidns, CLONE_NEWPID);
    if (x < 0) {
        error_errno(err, "fork");
        goto out;
    }
    if (x == 0) {
        close(sock[0]);
        if (!direct)
            joiner(&a);
        join(&a, flags & ~CLONE_NEWPID);
        exec_in(&a);
    }
    close(sock[1]);
    sock[1] = -1;
    if (direct) {
        y = x;
        x = -1;
        if (ypidfd < 0)
            ypidfd = run_pidfd_open(y);
    }
    /* A child that shared our memory has exec'd or died by now (we slept
     * until then): what it (or the joiner) had to say is queued, and an
     * empty socket means the exec happened, without waiting for its end
     * to close (one wakeup less). */
    bool settled = shares_mm;
    for (;;) {
        struct run_msg m;
        int fd = -1;
        struct pollfd p = {.fd = sock[0], .events = POLLIN};
        if (settled && poll(&p, 1, 0) == 0)
            break;
        int r = run_msg_recv(sock[0], &m, &fd);
        if (r == 0)
            break;
        if (r < 0) {
            error_errno(err, "read from the exec helper");
            goto out;
        }
        if (m.type == RUN_MSG_PID) {
            y = m.value;
            ypidfd = run_pidfd_open(y);
        } else if (m.type == RUN_MSG_PTY && fd >= 0) {
            master = fd;
            fd = -1;
            run_tty_copy_winsize(isatty(STDIN_FILENO) ? STDIN_FILENO : STDOUT_FILENO, master);
            run_msg_send(sock[0], RUN_MSG_PTY_DONE, 0, -1);
        } else if (m.type == RUN_MSG_ERROR) {
            error_set(err, m.code, "%s", m.text);
            *exit_status = m.value;
            if (fd >= 0)
                close(fd);
            goto out;
        }
        if (fd >= 0)
            close(fd);
    }
    while (x > 0 && waitpid(x, NULL, 0) < 0 && errno == EINTR)
        ;
    x = -1;
    if (y <= 0 || ypidfd < 0) {
        error_set(err, 0, "the exec helper died");
        goto out;
    }
    int in_fd = STDIN_FILENO, out_fd = STDOUT_FILENO;
    if (master >= 0 && s->interactive)
        run_tty_raw(in_fd, &tty);
    struct run_relay rl = {.master = master,
                           .in_fd = master >= 0 && s->interactive ? in_fd : -1,
                           .out_fd = out_fd, .sigfd = sigfd, .pidfd = ypidfd};
    if (run_relay_loop(&rl, err) < 0)
        goto out;
    siginfo_t si = {0};
    if (waitid(P_PID, (id_t)y, &si, WEXITED) < 0) {
        error_errno(err, "wait for the process");
        goto out;
    }
    y = -1;
    *exit_status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    ret = 0;
out:
    run_tty_restore(&tty);
    if (y > 0) {
        kill(y, SIGKILL);
        waitpid(y, NULL, 0);
    }
    if (x > 0) {
        kill(x, SIGKILL);
        waitpid(x, NULL, 0);
    }
    if (master >= 0)
        close(master);
    if (ypidfd >= 0)
        close(ypidfd);
    if (own_pidns >= 0)
        close(own_pidns);
    for (int i = 0; i < 2; i++)
        if (sock[i] >= 0)
            close(sock[i]);
    if (sigfd >= 0) {
        struct signalfd_siginfo si2;
        while (read(sigfd, &si2, sizeof si2) == (ssize_t)sizeof si2)
            ;
        close(sigfd);
    }
    if (masked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    run_seccomp_free(&exec_filter);
    return ret;
}
