/* run_container: the caller's side (P) and the helper (C).
 *
 * P forks C; C enters a new user namespace (rootless) and mount namespace,
 * has P write its id maps, and clones the container process G with
 * CLONE_PARENT so that G is P's child (P waits for it, signals it through a
 * pidfd, and owns its cgroup).  C sends P G's pid, mounts the root (the
 * union of the layers, served from C's threads), tells G through a pipe of
 * their own and says READY to P.  G starts on the root (/proc, /dev, the
 * etc files) at once, while P, having G's pid, moves it into the cgroup
 * and says GO; then G finishes the root (/sys, volumes, pivot_root) and
 * execs.  Neither start waits for P to pass a message on.  G's end of the
 * socket is close-on-exec: EOF means the exec happened, a message means a
 * step failed and names it. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "run/cgroup.h"
#include "run/container.h"
#include "run/internal.h"
#include "run/procview.h"
#include "unionfs/unionfs.h"

void run_spec_init(struct run_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->stdin_fd = spec->stdout_fd = spec->stderr_fd = -1;
    spec->log_fd = -1;
    spec->network = RUN_NET_NONE;
    spec->limits.memory_swap = 0;
}

int run_container(const struct run_spec *spec, int *exit_status, struct error *err)
{
    struct run_result res;
    int r = run_container_ex(spec, &res, err);
    *exit_status = res.exit_status;
    return r;
}

/* ---- messages ---- */

int run_msg_send(int sock, int type, int value, int fd)
{
    struct run_msg m = {.type = type, .value = value};
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof m};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    ssize_t n;
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof m ? 0 : -1;
}

int run_msg_send_error(int sock, const struct error *e, int status)
{
    struct run_msg m = {.type = RUN_MSG_ERROR, .value = status, .code = e->code};
    snprintf(m.text, sizeof m.text, "%s", e->msg);
    ssize_t n;
    do
        n = send(sock, &m, sizeof m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof m ? 0 : -1;
}

int run_msg_recv(int sock, struct run_msg *m, int *fd)
{
    struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
    if (fd)
        *fd = -1;
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0;
    if (n < 0)
        return -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            int got;
            memcpy(&got, CMSG_DATA(cm), sizeof got);
            if (fd && *fd < 0)
                *fd = got;
            else
                close(got);
        }
    }
    if (n != (ssize_t)sizeof *m) {
        errno = EPROTO;
        return -1;
    }
    m->text[sizeof m->text - 1] = '\0';
    return 1;
}

void run_forwarded_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGUSR2);
    sigaddset(set, SIGWINCH);
}

/* ---- the helper C ---- */

/* The etc files G binds from the run dir, relative to the root. */
static const char *const run_etc_placeholders[] = {"etc/hostname", "etc/hosts",
                                                   "etc/resolv.conf", NULL};

struct helper_ctx {
    const struct run_spec *spec;
    const char *root;
    const char *run_dir;
    char *const *etc_text;
    const char *etc_lower; /* spec->etc_lower when ready, else NULL */
    int sock_c; /* C's end toward P */
    int sock_g; /* G's end toward P (inherited by G) */
    int other_c, other_g; /* P's ends, closed in C */
    int root_pipe[2];     /* C -> G: the root is mounted (EOF: C failed) */
    sigset_t old_mask;
    unsigned long long ignored; /* our ignored signals, reset in G before exec */
    bool rootless;
    pid_t parent;
    bool procview; /* mount the /proc view, send its connection to P */
    const struct run_seccomp *seccomp;
};

static __attribute__((noreturn)) void helper_fail(struct helper_ctx *h, struct error *e)
{
    run_msg_send_error(h->sock_c, e, 125);
    _exit(125);
}

/* Closes every fd from 3 up except a, b and c (-1: none). */
static void close_all_but(int a, int b, int c)
{
    int k[3] = {a, b, c};
    for (int i = 0; i < 3; i++) /* sort the three */
        for (int j = i + 1; j < 3; j++)
            if (k[j] < k[i]) {
                int t = k[i];
                k[i] = k[j];
                k[j] = t;
            }
    unsigned from = 3;
    for (int i = 0; i < 3; i++) {
        if (k[i] < (int)from)
            continue; /* -1 (none), or a duplicate */
        if ((unsigned)k[i] > from)
            syscall(SYS_close_range, from, (unsigned)k[i] - 1, 0U);
        from = (unsigned)k[i] + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0U);
}

/* The /proc view's mount, made here where we are root (rootless too),
 * detached, once G is cloned and on its way: its ~0.4 ms (the superblock's
 * bdi, the fusectl entries) overlap with G's first steps.  P gets the
 * connection (it serves it; the INIT is answered at once), then this
 * process's READDIRPLUS enters every file, and only then the mount, which
 * P holds to the end (the view's superblock outlives G, whose exit then
 * tears nothing of it down) and passes to G for its binds: they find
 * every entry made and send nothing. */
static void start_view(struct helper_ctx *h)
{
    struct error e = {0};
    int dev, mnt;
    if (!h->procview)
        return;
    if (run_procview_mount(&dev, &mnt, &e) < 0)
        helper_fail(h, &e);
    if (run_msg_send(h->sock_c, RUN_MSG_PROCVIEW, 0, dev) < 0)
        _exit(125);
    close(dev);
    char dir[32];
    snprintf(dir, sizeof dir, "/proc/self/fd/%d", mnt);
    run_procview_prime(dir);
    if (run_msg_send(h->sock_c, RUN_MSG_PROCVIEW, 1, mnt) < 0)
        _exit(125);
    close(mnt);
}

static __attribute__((noreturn)) void helper_main(struct helper_ctx *h)
{
    struct error e = {0};
    struct run_msg m;

    close(h->other_c);
    close(h->other_g);
    /* P's death takes the helper (and with it the union mount) along. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != h->parent)
        _exit(125);
    /* terminal signals are P's to forward; keep them blocked here */

    int flags = CLONE_NEWNS | (h->rootless ? CLONE_NEWUSER : 0);
    if (unshare(flags) < 0) {
        error_errno(&e, h->rootless ? "unshare user and mount namespaces"
                                    : "unshare mount namespace");
        helper_fail(h, &e);
    }
    if (h->rootless) {
        if (run_msg_send(h->sock_c, RUN_MSG_MAPS, 0, -1) < 0)
            _exit(125);
        int r = run_msg_recv(h->sock_c, &m, NULL);
        if (r <= 0 || m.type != RUN_MSG_MAPS_DONE)
            _exit(125);
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
            error_errno(&e, "become root in the user namespace");
            helper_fail(h, &e);
        }
    }
    /* nothing we mount may propagate back to the host */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        error_errno(&e, "make mounts private");
        helper_fail(h, &e);
    }
    if (pipe2(h->root_pipe, O_CLOEXEC) < 0) {
        error_errno(&e, "pipe");
        helper_fail(h, &e);
    }
    int cflags = CLONE_PARENT | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    if (h->spec->network == RUN_NET_NONE)
        cflags |= CLONE_NEWNET;
    /* fork-like raw clone (no new stack): the child continues here */
    pid_t g = (pid_t)syscall(SYS_clone, (unsigned long)(cflags | SIGCHLD), NULL, NULL, NULL,
                             NULL);
    if (g < 0) {
        error_errno(&e, "clone the container process");
        helper_fail(h, &e);
    }
    if (g == 0) {
        close(h->sock_c);
        close(h->root_pipe[1]);
        struct run_child_ctx c = {
            .root_fd = h->root_pipe[0],
            .spec = h->spec,
            .root = h->root,
            .run_dir = h->run_dir,
            .etc_text = (const char *const *)h->etc_text,
            .sock = h->sock_g,
            .old_mask = h->old_mask,
            .ignored = h->ignored,
            .rootless = h->rootless,
            .procview = h->procview,
            .seccomp = h->seccomp,
        };
        run_child_main(&c);
    }
    /* nothing of the caller's stays open here: a pipe end kept by this
     * long-lived helper would hide EOF from whoever waits on it */
    int root_w = h->root_pipe[1];
    close(h->root_pipe[0]);
    /* the pid first: P moves G into the cgroup and says GO before it
     * sets the view up (~0.5 ms here), which G does not need until its
     * binds; its requests wait in the kernel until then */
    if (run_msg_send(h->sock_c, RUN_MSG_PID, g, -1) < 0)
        _exit(125);
    close_all_but(h->sock_c, root_w, -1);


    if (h->spec->lowers) {
        /* The union mount lives in this mount namespace (G's copy is made
         * at GO) and is served from this process's threads until P closes
         * the socket; G is already cloned, so no fork follows the threads. */
        size_t n = 0;
        while (h->spec->lowers[n])
            n++;
        const char **lowers = xcalloc(n + 2, sizeof *lowers);
        memcpy(lowers, h->spec->lowers, n * sizeof *lowers);
        /* below the image's layers: the etc files' mount points */
        if (h->etc_lower)
            lowers[n++] = h->etc_lower;
        struct ufs_options o = {
            .lowers = lowers,
            .n_lowers = n,
            .upper = h->spec->upper,
            .work = h->spec->work,
            /* rootless stores keep owners in user.containers.override_stat */
            .rootless_override = h->rootless,
            /* the etc files' mount points, made before the mount so G
             * copies nothing up through it; etc_lower has them already */
            .placeholders = h->etc_lower ? NULL : run_etc_placeholders,
            /* G's first steps need no answer from the mount */
            .async_init = true,
        };
        struct ufs_mount *um = NULL;
        if (ufs_mount_start(&o, h->root, &um, &e) < 0) {
            error_prefix(&e, "mount the root (unionfs)");
            helper_fail(h, &e);
        }
        /* G starts on the root now (its copy of our mount namespace) */
        if (write(root_w, "R", 1) != 1)
            _exit(125);
        close(root_w);
        start_view(h);
        if (run_msg_send(h->sock_c, RUN_MSG_READY, 0, -1) < 0)
            _exit(125);
        char b;
        while (read(h->sock_c, &b, 1) > 0 || errno == EINTR)
            ;
        ufs_mount_stop(um, &e);
        _exit(0);
    }
    if (write(root_w, "R", 1) != 1)
        _exit(125);
    close(root_w);
    start_view(h);
    if (run_msg_send(h->sock_c, RUN_MSG_READY, 0, -1) < 0)
        _exit(125);
    _exit(0);
}

/* ---- the caller P ---- */

/* The contents of /etc/hostname, /etc/hosts and /etc/resolv.conf
 * (RUN_ETC_*), made here and written by the container process. */
static void make_etc_text(const struct run_spec *spec, const char *hostname,
                          char *text[RUN_ETC_N])
{
    text[RUN_ETC_HOSTNAME] = xasprintf("%s\n", hostname);
    text[RUN_ETC_HOSTS] = xasprintf("127.0.0.1\tlocalhost %s\n"
                                    "::1\tlocalhost ip6-localhost ip6-loopback\n",
                                    hostname);

    /* the host's resolv.conf; a loopback resolver is useless in a new
     * network namespace, so those lines go unless the network is shared */
    cleanup_free char *host = NULL;
    size_t len = 0;
    struct error ignore = {0};
    if (read_file_at(AT_FDCWD, "/etc/resolv.conf", &host, &len, &ignore) < 0)
        host = xstrdup("");
    size_t cap = strlen(host) + 64;
    char *out = xmalloc(cap);
    out[0] = '\0';
    size_t o = 0;
    for (char *line = host, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        size_t n = next ? (size_t)(next - line) : strlen(line);
        if (next)
            next++;
        bool local = !strncmp(line, "nameserver", 10) &&
                     (strstr(line, " 127.") || strstr(line, " ::1"));
        if (local && spec->network != RUN_NET_HOST)
            continue;
        memcpy(out + o, line, n);
        o += n;
        out[o++] = '\n';
        out[o] = '\0';
    }
    text[RUN_ETC_RESOLV] = out;
}

/* spec->etc_lower: made once (a temp directory renamed into place, so no
 * run ever sees half of it).  False when it cannot be had. */
static bool etc_lower_ready(const char *path)
{
    cleanup_free char *probe = xasprintf("%s/etc/resolv.conf", path);
    if (access(probe, F_OK) == 0)
        return true;
    cleanup_free char *tmp = xasprintf("%s.XXXXXX", path);
    if (!mkdtemp(tmp))
        return false;
    bool ok = chmod(tmp, 0755) == 0;
    cleanup_close int d = -1;
    if (ok) {
        cleanup_free char *etc = xasprintf("%s/etc", tmp);
        ok = mkdir(etc, 0755) == 0 && chmod(etc, 0755) == 0 &&
             (d = open(etc, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0;
    }
    for (size_t i = 0; ok && run_etc_placeholders[i]; i++) {
        const char *name = strrchr(run_etc_placeholders[i], '/') + 1;
        int f = openat(d, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        ok = f >= 0 && fchmod(f, 0644) == 0;
        if (f >= 0)
            close(f);
    }
    if (ok && rename(tmp, path) == 0)
        return true;
    struct error ignore = {0};
    rm_rf_at(AT_FDCWD, tmp, &ignore);
    /* another run may have made it meanwhile */
    return access(probe, F_OK) == 0;
}

/* The etc files are bind-mounted over placeholders; a placeholder made in
 * the upper (the image had no such file) is not the container's change:
 * drop it so it never reaches `diff` or a committed layer. */
static void drop_etc_placeholders(const struct run_spec *spec)
{
    const char *const *files = run_etc_placeholders;
    cleanup_close int up = open(spec->upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (up < 0)
        return;
    for (size_t i = 0; files[i]; i++) {
        struct stat st;
        if (fstatat(up, files[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            st.st_size != 0)
            continue;
        bool in_lower = false;
        for (size_t l = 0; spec->lowers[l] && !in_lower; l++) {
            cleanup_free char *p = xasprintf("%s/%s", spec->lowers[l], files[i]);
            in_lower = access(p, F_OK) == 0 || errno != ENOENT;
        }
        if (!in_lower)
            unlinkat(up, files[i], 0);
    }
}

/* --rootfs: which etc placeholders the directory lacks before the run, so
 * the empty files made to mount over are removed again afterwards. */
static unsigned etc_missing(const char *rootfs)
{
    static const char *files[] = {"etc/hostname", "etc/hosts", "etc/resolv.conf"};
    unsigned mask = 0;
    cleanup_close int r = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(files); i++) {
        struct stat st;
        if (fstatat(r, files[i], &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
            mask |= 1u << i;
    }
    return mask;
}

static void drop_rootfs_placeholders(const char *rootfs, unsigned mask)
{
    static const char *files[] = {"etc/hostname", "etc/hosts", "etc/resolv.conf"};
    cleanup_close int r = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(files); i++) {
        struct stat st;
        if ((mask & (1u << i)) && fstatat(r, files[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && st.st_size == 0)
            unlinkat(r, files[i], 0);
    }
}

static char *make_id(void)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, b, sizeof b) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^ (getpid() << i) ^ i);
    }
    if (fd >= 0)
        close(fd);
    char *id = xmalloc(sizeof b * 2 + 1);
    for (size_t i = 0; i < sizeof b; i++)
        sprintf(id + 2 * i, "%02x", b[i]);
    return id;
}

static void to_cgroup_limits(const struct run_limits *l, struct run_cgroup_limits *c)
{
    run_cgroup_limits_init(c);
    if (l->memory > 0)
        c->memory = l->memory;
    if (l->memory_swap == -1)
        c->memory_swap = RUN_CGROUP_SWAP_UNLIMITED;
    else if (l->memory_swap > 0)
        c->memory_swap = l->memory_swap;
    if (l->cpus > 0) {
        c->cpu_period_us = 100000;
        c->cpu_quota_us = (int64_t)(l->cpus * 100000 + 0.5);
        if (c->cpu_quota_us < 1000)
            c->cpu_quota_us = 1000;
    }
    if (l->pids > 0)
        c->pids_max = l->pids;
    c->cpuset_cpus = l->cpuset_cpus;
}

static void drain_signals(int sigfd)
{
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        ;
}

/* G builds the first half of its root before GO: when a step of P fails
 * meanwhile, a failure G already reported is the one to show. */
static void child_error(int sock, struct error *err, struct run_result *res)
{
    struct pollfd p = {.fd = sock, .events = POLLIN};
    struct run_msg m;
    if (poll(&p, 1, 0) == 1 && run_msg_recv(sock, &m, NULL) > 0 && m.type == RUN_MSG_ERROR) {
        error_set(err, m.code, "%s", m.text);
        res->exit_status = m.value ? m.value : 125;
    }
}

/* G's pid is known (C has not mounted the root yet): the pidfd, G into
 * its cgroup, then GO, which G reads once the first half of its root is
 * built.  Before GO: G unshares its cgroup namespace rooted where it is. */
static int start_in_cgroup(pid_t g_pid, struct run_cgroup *cg, int sock_g, int *pidfd,
                           struct run_result *res, struct error *err)
{
    *pidfd = run_pidfd_open(g_pid);
    if (*pidfd < 0)
        return error_errno(err, "pidfd_open %d", (int)g_pid);
    if (run_cgroup_add_pid(cg, g_pid, err) < 0) {
        child_error(sock_g, err, res);
        return -1;
    }
    if (run_msg_send(sock_g, RUN_MSG_GO, 0, -1) < 0) {
        error_errno(err, "talk to the container process");
        child_error(sock_g, err, res);
        return -1;
    }
    return 0;
}

/* Reads (and drops) whatever is left until EOF. */
static void wait_eof(int sock)
{
    char buf[sizeof(struct run_msg)];
    while (sock >= 0 && (read(sock, buf, sizeof buf) > 0 || errno == EINTR))
        ;
}

static void kill_and_reap(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

int run_container_ex(const struct run_spec *spec, struct run_result *res, struct error *err)
{
    memset(res, 0, sizeof *res);
    res->exit_status = -1;
    if (!spec->argv || !spec->argv[0])
        return error_set(err, EINVAL, "no command to run");
    if (!!spec->rootfs == !!spec->lowers)
        return error_set(err, EINVAL, "give either a rootfs or layers, not both");
    if (spec->lowers && (!spec->upper || !spec->work))
        return error_set(err, EINVAL, "a layered root needs an upper and a work dir");

    bool rootless = geteuid() != 0;
    cleanup_free char *id = spec->id ? xstrdup(spec->id) : make_id();
    cleanup_free char *hostname =
        spec->hostname ? xstrdup(spec->hostname) : xstrndup(id, 12);

    /* the run dir: the union's mount point, the etc files' fallback home
     * (kernels before open_tree of a detached mount) */
    cleanup_free char *tmp_dir = NULL;
    const char *run_dir = spec->run_dir;
    if (!run_dir) {
        const char *base = getenv("XDG_RUNTIME_DIR");
        if (!base || access(base, W_OK) < 0)
            base = "/tmp";
        tmp_dir = xasprintf("%s/strata-run.XXXXXX", base);
        if (!mkdtemp(tmp_dir)) {
            error_errno(err, "create a run directory in `%s`", base);
            free(tmp_dir);
            tmp_dir = NULL;
            return -1;
        }
        run_dir = tmp_dir;
    }
    int ret = -1;
    int sigfd = -1, sc[2] = {-1, -1}, sg[2] = {-1, -1}, pidfd = -1, master = -1;
    pid_t c_pid = -1, g_pid = -1;
    sigset_t fwd, old_mask;
    bool mask_set = false;
    struct run_tty_saved tty_saved = {.fd = -1};
    struct run_cgroup *cg = NULL;
    struct run_procview *pv = NULL;
    int pv_mnt = -1; /* the view's mount, held until the container is gone */
    struct run_tee tee_buf, *tee = NULL;
    struct run_spec tee_spec;
    struct run_seccomp filter = {0};
    unsigned etc_mask = spec->rootfs ? etc_missing(spec->rootfs) : 0;
    cleanup_free char *mnt = xasprintf("%s/rootfs", run_dir);
    const char *root = spec->rootfs;
    char *etc_text[RUN_ETC_N] = {0};

    make_etc_text(spec, hostname, etc_text);
    if (spec->lowers) {
        if (mkdir(mnt, 0755) < 0 && errno != EEXIST) {
            error_errno(err, "mkdir `%s`", mnt);
            goto out;
        }
        root = mnt;
    }

    run_forwarded_signals(&fwd);
    if (pthread_sigmask(SIG_BLOCK, &fwd, &old_mask) != 0) {
        error_errno(err, "block signals");
        goto out;
    }
    mask_set = true;
    sigfd = signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) {
        error_errno(err, "signalfd");
        goto out;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sc) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sg) < 0) {
        error_errno(err, "socketpair");
        goto out;
    }

    /* the cgroup is P's: created before anything runs, removed after */
    struct run_cgroup_limits lim;
    to_cgroup_limits(&spec->limits, &lim);
    /* The /proc view is served by P (which outlives the container) from
     * the loops below where it waits anyway, once C has sent the view's
     * connection (no thread); G binds
     * its files over /proc once it has mounted /proc.  Only when there
     * are limits to show: without them the host's values would pass
     * through anyway.  C is forked before the cgroup is made, so the union
     * mount comes up while P writes the cgroup. */
    bool want_view = !spec->no_proc_view && run_cgroup_limits_any(&lim);

    if (spec->log_fd >= 0) {
        /* the log: output comes through pipes (or the pty) to the relay */
        if (run_tee_open(&tee_buf, spec->log_fd,
                         spec->stdout_fd >= 0 ? spec->stdout_fd : STDOUT_FILENO,
                         spec->stderr_fd >= 0 ? spec->stderr_fd : STDERR_FILENO, spec->tty,
                         err) < 0)
            goto out;
        tee = &tee_buf;
        if (!spec->tty) {
            tee_spec = *spec;
            tee_spec.stdout_fd = tee->out_pipe[1];
            tee_spec.stderr_fd = tee->err_pipe[1];
            spec = &tee_spec;
        }
    }

    /* compiled (or read from the cache) here, once, before the fork */
    if (!spec->seccomp_unconfined &&
        (run_seccomp_prepare(spec->cap_add, spec->cap_drop, spec->seccomp_cache, &filter,
                             err) < 0 ||
         (spec->seccomp_save && run_seccomp_save(&filter, spec->seccomp_save, err) < 0)))
        goto out;

    struct helper_ctx h = {
        .spec = spec, .root = root, .run_dir = run_dir, .etc_text = etc_text,
        .etc_lower = spec->lowers && spec->etc_lower && etc_lower_ready(spec->etc_lower)
                         ? spec->etc_lower
                         : NULL,
        .sock_c = sc[1], .sock_g = sg[1], .other_c = sc[0], .other_g = sg[0],
        .old_mask = old_mask, .ignored = run_signals_ignored(), .rootless = rootless,
        .parent = getpid(),
        .procview = want_view,
        .seccomp = spec->seccomp_unconfined ? NULL : &filter,
    };
    fflush(NULL);
    c_pid = fork();
    if (c_pid < 0) {
        error_errno(err, "fork");
        goto out;
    }
    if (c_pid == 0)
        helper_main(&h);
    if (tee)
        run_tee_close_writers(tee);
    close(sc[1]);
    sc[1] = -1;
    close(sg[1]);
    sg[1] = -1;
    if (run_cgroup_create_in(id, spec->cgroup_parent, &lim, &cg, err) < 0)
        goto fail;

    /* the helper's steps */
    for (bool ready = false; !ready;) {
        struct run_msg m;
        int fd = -1;
        run_procview_wait_fd(pv, sc[0]);
        int r = run_msg_recv(sc[0], &m, &fd);
        if (r <= 0) {
            error_set(err, 0, "the runtime helper died during setup");
            goto fail;
        }
        if (fd >= 0 && m.type != RUN_MSG_PROCVIEW) {
            close(fd);
            fd = -1;
        }
        switch (m.type) {
        case RUN_MSG_PROCVIEW:
            if (m.value == 1 && fd >= 0 && pv_mnt < 0) {
                pv_mnt = fd;
                /* G's binds wait for it (after GO on the same socket) */
                if (run_msg_send(sg[0], RUN_MSG_PROCVIEW, 0, pv_mnt) < 0) {
                    error_errno(err, "talk to the container process");
                    goto fail;
                }
                break;
            }
            /* after PID (GO is not held back by its setup), before
             * READY: served before the helper's prime */
            if (fd < 0 || pv) {
                if (fd >= 0)
                    close(fd);
                error_set(err, EPROTO, "the runtime helper sent no /proc view");
                goto fail;
            }
            if (run_procview_new(fd, cg, &lim, &pv, err) < 0)
                goto fail;
            break;
        case RUN_MSG_MAPS:
            if (run_idmap_write(c_pid, err) < 0)
                goto fail;
            if (run_msg_send(sc[0], RUN_MSG_MAPS_DONE, 0, -1) < 0) {
                error_errno(err, "talk to the runtime helper");
                goto fail;
            }
            break;
        case RUN_MSG_PID:
            /* G waits for the root from C meanwhile */
            g_pid = m.value;
            if (start_in_cgroup(g_pid, cg, sg[0], &pidfd, res, err) < 0)
                goto fail;
            break;
        case RUN_MSG_READY:
            ready = true;
            break;
        case RUN_MSG_ERROR:
            error_set(err, m.code, "%s", m.text);
            goto fail;
        default:
            error_set(err, EPROTO, "unexpected message %d from the runtime helper", m.type);
            goto fail;
        }
    }
    if (g_pid <= 0 || pidfd < 0) {
        error_set(err, EPROTO, "the runtime helper sent no container pid");
        goto fail;
    }
    if (!spec->lowers) {
        /* nothing to serve: the helper has exited */
        while (waitpid(c_pid, NULL, 0) < 0 && errno == EINTR)
            ;
        c_pid = -1;
    }

    int out_fd = tee ? tee->out_fd : spec->stdout_fd >= 0 ? spec->stdout_fd : STDOUT_FILENO;
    int in_fd = spec->stdin_fd >= 0 ? spec->stdin_fd : STDIN_FILENO;
    for (;;) {
        struct run_msg m;
        int fd = -1;
        run_procview_wait_fd(pv, sg[0]); /* G's or C's prime, G's binds */
        int r = run_msg_recv(sg[0], &m, &fd);
        if (r == 0)
            break; /* exec'd: the close-on-exec end went away */
        if (r < 0) {
            error_errno(err, "read from the container process");
            goto fail;
        }
        if (m.type == RUN_MSG_PTY && fd >= 0) {
            if (master >= 0)
                close(master);
            master = fd;
            int ref = isatty(in_fd) ? in_fd : out_fd;
            run_tty_copy_winsize(ref, master);
            run_msg_send(sg[0], RUN_MSG_PTY_DONE, 0, -1);
            continue;
        }
        if (m.type == RUN_MSG_SYSINFO && fd >= 0) {
            if (!pv || run_procview_serve_sysinfo(pv, fd, err) < 0) {
                if (!pv)
                    close(fd);
                else
                    goto fail;
            }
            continue;
        }
        if (fd >= 0)
            close(fd);
        if (m.type == RUN_MSG_ERROR) {
            error_set(err, m.code, "%s", m.text);
            res->exit_status = m.value ? m.value : 125;
            goto fail;
        }
    }
    res->pid = g_pid;
    if (spec->on_start)
        spec->on_start(spec->on_start_data, g_pid, cg);

    if (master >= 0 && spec->interactive)
        run_tty_raw(in_fd, &tty_saved);
    struct run_relay rl = {
        .master = master,
        .in_fd = master >= 0 && spec->interactive ? in_fd : -1,
        .out_fd = out_fd,
        .sigfd = sigfd,
        .pidfd = pidfd,
        .tee = tee,
        .attach = spec->attach,
        .view = pv,
    };
    if (run_relay_loop(&rl, err) < 0)
        goto fail;
    siginfo_t si = {0};
    if (waitid(P_PID, (id_t)g_pid, &si, WEXITED) < 0) {
        error_errno(err, "wait for the container process");
        g_pid = -1;
        goto fail;
    }
    g_pid = -1;
    res->exit_status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    ret = 0;
    goto out;

fail:
    kill_and_reap(g_pid);
    g_pid = -1;
out:
    run_tty_restore(&tty_saved);
    if (tee)
        run_tee_close(tee);
    run_seccomp_free(&filter);
    if (master >= 0)
        close(master);
    /* PID 1 is gone, and the kernel kills the rest of its PID namespace:
     * nothing can ask the union for anything more.  The helper is killed
     * rather than asked to unmount: its mount namespace, and the mount in
     * it, go with it, a copy-up is atomic against a kill, and a graceful
     * unmount (waiting for the kernel to retire the connection, joining
     * the serving threads) cost more than the rest of the teardown.  Its
     * exit overlaps with the cgroup's removal and the caller's on_exit. */
    if (c_pid > 0)
        kill(c_pid, SIGKILL);
    run_procview_stop(pv);
    /* the view's superblock goes here, while the helper exits */
    if (pv_mnt >= 0)
        close(pv_mnt);
    if (cg) {
        res->oom_killed = run_cgroup_oom_killed(cg);
        struct error e2 = {0};
        /* kills anything left (a daemonised child of the process) */
        if (run_cgroup_destroy(cg, &e2) < 0 && ret == 0) {
            *err = e2;
            ret = -1;
        }
    }
    if (c_pid > 0) {
        /* EOF on the helper's socket: its last thread has closed its
         * files, so none of them can touch the upper any more (an exit
         * releases the files before the namespaces, and unmounting
         * the union there is the slow part: it overlaps with what
         * follows, up to the reaping below) */
        wait_eof(sc[0]);
        /* the upper is the caller's again */
        if (spec->lowers)
            drop_etc_placeholders(spec);
    }
    if (sc[0] >= 0)
        close(sc[0]);
    if (etc_mask)
        drop_rootfs_placeholders(spec->rootfs, etc_mask);
    if (spec->on_exit)
        spec->on_exit(spec->on_exit_data);
    if (c_pid > 0) {
        while (waitpid(c_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (sc[1] >= 0)
        close(sc[1]);
    if (sg[0] >= 0)
        close(sg[0]);
    if (sg[1] >= 0)
        close(sg[1]);
    if (pidfd >= 0)
        close(pidfd);
    if (sigfd >= 0) {
        drain_signals(sigfd);
        close(sigfd);
    }
    if (mask_set)
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (tmp_dir) {
        struct error ignore = {0};
        rm_rf_at(AT_FDCWD, tmp_dir, &ignore);
    }
    for (size_t i = 0; i < RUN_ETC_N; i++)
        free(etc_text[i]);
    return ret;
}
