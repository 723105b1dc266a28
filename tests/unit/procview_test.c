/* run/procview: the renderers on canned host files, then (root, /dev/fuse)
 * a real view mounted over a real cgroup with limits: the numbers follow
 * the limits and move when a process in the cgroup allocates memory; the
 * mount made in a user namespace (the rootless helper's way); and a view
 * over a canned v2 tree (tests/unit/support/cgtree, shared with the cgroup
 * tests). */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "run/cgroup.h"
#include "run/cgroup_internal.h"
#include "run/procview.h"
#include "run/procview_internal.h"
#include "tests/unit/support/cgtree.h"
#include "tests/unit/tap.h"

static const char host_meminfo[] = "MemTotal:       24684548 kB\n"
                                   "MemFree:        24000000 kB\n"
                                   "MemAvailable:   24300000 kB\n"
                                   "Buffers:            1000 kB\n"
                                   "Cached:           300000 kB\n"
                                   "SwapCached:            0 kB\n"
                                   "Active:           100000 kB\n"
                                   "SwapTotal:       1048576 kB\n"
                                   "SwapFree:        1048576 kB\n"
                                   "Shmem:             8000 kB\n"
                                   "SReclaimable:     83396 kB\n"
                                   "HugePages_Total:       0\n";

static const char host_cpuinfo[] = "processor\t: 0\nmodel name\t: X\n\n"
                                   "processor\t: 1\nmodel name\t: X\n\n"
                                   "processor\t: 2\nmodel name\t: X\n\n";

static const char host_stat[] = "cpu  300 0 150 1000 10 0 5 0 0 0\n"
                                "cpu0 100 0 50 400 5 0 2 0 0 0\n"
                                "cpu1 100 0 50 300 5 0 2 0 0 0\n"
                                "cpu2 100 0 50 300 0 0 1 0 0 0\n"
                                "intr 1 2 3\nctxt 42\nbtime 1700000000\nprocesses 9\n";

static int64_t field_kb(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static void test_render(void)
{
    struct run_cgroup_memory_stats m;
    memset(&m, 0xff, sizeof m);
    char *s = run_pv_meminfo(host_meminfo, &m);
    tap_is_str(s, host_meminfo, "no memory limit: meminfo passes through");
    free(s);

    m.limit = 256 << 20;
    m.usage = 100 << 20;
    m.cache = 30 << 20;
    m.swap_limit = 0;
    m.swap_usage = 0;
    m.shmem = 4096;
    s = run_pv_meminfo(host_meminfo, &m);
    tap_is_int(field_kb(s, "SReclaimable:"), 0, "no host slab in a limited view");
    tap_is_int(field_kb(s, "MemTotal:"), 262144, "MemTotal is the limit");
    tap_is_int(field_kb(s, "MemFree:"), 262144 - 102400, "MemFree = limit - usage");
    tap_is_int(field_kb(s, "MemAvailable:"), 262144 - 102400 + 30720, "MemAvailable adds the cache");
    tap_is_int(field_kb(s, "Cached:"), 30720, "Cached is the cgroup's page cache");
    tap_is_int(field_kb(s, "SwapTotal:"), 0, "SwapTotal from a zero swap limit");
    tap_is_int(field_kb(s, "Shmem:"), 4, "Shmem from the cgroup");
    tap_ok(strstr(s, "HugePages_Total:       0\n") != NULL, "other lines pass through");
    tap_ok(strstr(s, "MemTotal:         262144 kB\n") != NULL, "kernel's column layout");
    free(s);
    m.limit = INT64_C(1) << 50; /* larger than the host */
    m.swap_limit = -1;
    s = run_pv_meminfo(host_meminfo, &m);
    tap_is_int(field_kb(s, "MemTotal:"), 24684548, "a limit above the host's RAM shows the host's");
    tap_is_int(field_kb(s, "SwapTotal:"), 1048576, "no swap limit: the host's swap");
    free(s);

    uint64_t vis[RUN_PV_NCPU / 64] = {0};
    vis[0] = (1 << 0) | (1 << 2);
    s = run_pv_cpuinfo(host_cpuinfo, vis);
    tap_is_str(s, "processor\t: 0\nmodel name\t: X\n\nprocessor\t: 2\nmodel name\t: X\n\n",
               "cpuinfo keeps the visible processors");
    free(s);
    s = run_pv_cpuinfo(host_cpuinfo, NULL);
    tap_is_str(s, host_cpuinfo, "cpuinfo passes through without a cpu limit");
    free(s);

    s = run_pv_stat(host_stat, vis, -1, -1, 100);
    tap_ok(strstr(s, "cpu0 100 ") && !strstr(s, "cpu1 ") && strstr(s, "cpu2 100 "),
           "stat keeps the visible cpuN lines");
    tap_ok(!strncmp(s, "cpu  200 0 100 700 5 0 3 0 0 0\n", 31), "stat aggregate sums them");
    tap_ok(strstr(s, "ctxt 42\n") && strstr(s, "btime 1700000000\n"), "other stat lines pass");
    free(s);
    /* 3 s user + 1 s system at USER_HZ 100: 300 and 100 ticks over 2 cpus */
    s = run_pv_stat(host_stat, vis, 3000000000LL, 1000000000LL, 100);
    tap_ok(strstr(s, "cpu0 150 0 50 357 0 0 0 0 0 0\n") != NULL,
           "stat: cgroup time split over the visible cpus, idle the rest");
    tap_ok(!strncmp(s, "cpu  300 0 100 ", 15), "stat aggregate of cgroup time");
    free(s);

    s = run_pv_uptime(12.345, 20.5);
    tap_is_str(s, "12.35 20.50\n", "uptime format");
    free(s);
    double avg[3] = {0, 0, 0};
    for (int i = 0; i < 12; i++)
        run_pv_load_step(avg, 2);
    tap_ok(avg[0] > 1.2 && avg[0] < 1.4 && avg[1] < avg[0] && avg[2] < avg[1],
           "a minute of 2 runnable tasks: 1-min load ~1.26, slower averages behind");
    s = run_pv_loadavg(avg, 1, 3, 77);
    tap_ok(strstr(s, " 1/3 77\n") != NULL, "loadavg format");
    free(s);

    struct run_cgroup_io_stat io = {8, 0, 4096, 1024, 3, 1};
    s = run_pv_diskstats("   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"
                         "   8       1 sda1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
                         &io, 1);
    tap_ok(strstr(s, "   8       0 sda 3 0 8 0 1 0 2 0 0 0 0 0 0 0 0 0 0\n") != NULL,
           "diskstats from the cgroup's io counters");
    tap_ok(strstr(s, "   8       1 sda1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n") != NULL,
           "devices the cgroup has not touched read zero");
    free(s);
}

static char *slurp(const char *dir, const char *name)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, name);
    char *buf = NULL;
    size_t len;
    struct error err;
    if (read_file_at(AT_FDCWD, p, &buf, &len, &err) < 0) {
        tap_diag("%s", err.msg);
        return xstrdup("");
    }
    return buf;
}

/* How many processors the view's cpuinfo in dir lists. */
static int processors_in(const char *dir)
{
    char *ci = slurp(dir, "cpuinfo");
    int procs = 0;
    for (const char *p = ci; (p = strstr(p, "processor")); p++)
        procs++;
    free(ci);
    return procs;
}

static int send_fd(int sock, int fd)
{
    char c = 'f';
    struct iovec iov = {.iov_base = &c, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
    char c;
    struct iovec iov = {.iov_base = &c, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    int fd = -1;
    if (cm && cm->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

/* A child in the cgroup traps sysinfo(2); the view answers it. */
static void test_sysinfo(struct run_cgroup *cg, struct run_procview *pv)
{
    struct error err;
    int sv[2], go[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(go, O_CLOEXEC) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(sv[0]);
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        int fd = run_procview_sysinfo_filter(&err);
        if (fd < 0 || send_fd(sv[1], fd) < 0)
            _exit(3);
        close(fd);
        if (read(sv[1], &c, 1) != 1)
            _exit(4);
        struct sysinfo si;
        if (sysinfo(&si) < 0)
            _exit(5);
        unsigned long long v[3] = {(unsigned long long)si.totalram * si.mem_unit,
                                   (unsigned long long)si.uptime, si.procs};
        if (write(sv[1], v, sizeof v) != (ssize_t)sizeof v)
            _exit(6);
        _exit(0);
    }
    close(sv[1]);
    close(go[0]);
    run_cgroup_add_pid(cg, pid, &err);
    if (write(go[1], "g", 1) != 1)
        tap_diag("cannot start the child");
    int fd = recv_fd(sv[0]);
    tap_ok(fd >= 0, "the child's sysinfo filter fd arrived");
    tap_is_int(fd >= 0 ? run_procview_serve_sysinfo(pv, fd, &err) : -1, 0, "the view serves it");
    unsigned long long v[3] = {0, 0, 0};
    if (write(sv[0], "k", 1) != 1 || read(sv[0], v, sizeof v) != (ssize_t)sizeof v)
        tap_diag("no answer from the child");
    tap_is_int(v[0], 256 << 20, "sysinfo totalram in the container is the 256m limit");
    tap_ok(v[1] < 60, "sysinfo uptime counts from the view's start");
    tap_ok(v[2] >= 1, "sysinfo procs counts the container's tasks");
    int st;
    waitpid(pid, &st, 0);
    tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child ran to the end");
    struct sysinfo host;
    sysinfo(&host);
    tap_ok((unsigned long long)host.totalram * host.mem_unit > (256ULL << 20),
           "sysinfo outside the container is untouched");
    close(sv[0]);
    close(go[1]);
}

static char cg_id[64];
static char target[] = "/tmp/strata-procview-XXXXXX";

static void cleanup_all(void)
{
    struct run_cgroup *cg;
    struct error err;
    umount2(target, MNT_DETACH);
    unlink(target);
    if (cg_id[0] && run_cgroup_open(cg_id, &cg, &err) == 0)
        run_cgroup_destroy(cg, &err);
}

/* The view's server: what the runtime's wait loops do, here in a thread
 * (this process reads the view too), until the stop pipe is written.  One
 * view at a time. */
static pthread_t srv_thread;
static int srv_stop[2] = {-1, -1};

static void *serve_main(void *arg)
{
    run_procview_wait_fd(arg, srv_stop[0]);
    return NULL;
}

/* What the runtime does in two processes, here in one: the detached mount,
 * then its server.  *dir is where the files are read ("/proc/self/fd/N"),
 * *mnt the mount's fd. */
static int view_start(struct run_cgroup *cg, const struct run_cgroup_limits *lim,
                      struct run_procview **pv, char **dir, int *mnt, struct error *err)
{
    int dev;
    if (run_procview_mount(&dev, mnt, err) < 0)
        return -1;
    if (run_procview_new(dev, cg, lim, pv, err) < 0) {
        close(*mnt);
        return -1;
    }
    if (pipe2(srv_stop, O_CLOEXEC) < 0 || pthread_create(&srv_thread, NULL, serve_main, *pv)) {
        error_set(err, errno, "start the test's server thread");
        run_procview_stop(*pv);
        close(*mnt);
        return -1;
    }
    *dir = xasprintf("/proc/self/fd/%d", *mnt);
    return 0;
}

/* Stops the server thread, then the view. */
static void view_stop(struct run_procview *pv)
{
    if (write(srv_stop[1], "s", 1) != 1)
        tap_diag("cannot stop the server thread");
    pthread_join(srv_thread, NULL);
    close(srv_stop[0]);
    close(srv_stop[1]);
    run_procview_stop(pv);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_mounted(void)
{
    struct error err = {0};
    if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) < 0) {
        tap_skip("a mounted view with real limits needs root and /dev/fuse");
        return;
    }
    int tfd = mkstemp(target);
    if (tfd < 0)
        return;
    close(tfd);
    snprintf(cg_id, sizeof cg_id, "pvunit-%d", (int)getpid());
    atexit(cleanup_all);

    struct run_cgroup_limits lim;
    run_cgroup_limits_init(&lim);
    lim.memory = 256 << 20;
    run_cgroup_limits_set_cpus(&lim, "1", &err);
    struct run_cgroup *cg = NULL;
    if (!tap_ok(run_cgroup_create(cg_id, &lim, &cg, &err) == 0, "cgroup with -m 256m --cpus 1")) {
        tap_diag("%s", err.msg);
        return;
    }
    struct run_procview *pv = NULL;
    char *vd = NULL;
    int mfd = -1;
    double t0 = now_ms();
    int r = view_start(cg, &lim, &pv, &vd, &mfd, &err);
    double t1 = now_ms();
    if (!tap_ok(r == 0, "mount and start the view")) {
        tap_diag("%s", err.msg);
        run_cgroup_destroy(cg, &err);
        return;
    }
    tap_diag("run_procview_mount + new took %.3f ms", t1 - t0);
    run_procview_prime(vd);

    char *mi = slurp(vd, "meminfo");
    tap_is_int(field_kb(mi, "MemTotal:"), 262144, "MemTotal = 256 MiB");
    int64_t avail0 = field_kb(mi, "MemAvailable:");
    tap_ok(avail0 > 0 && avail0 <= 262144, "MemAvailable within the limit");
    free(mi);
    char *online = slurp(vd, "online");
    tap_ok(!strcmp(online, "0\n") || !strcmp(online, "1\n"), "one cpu online");
    tap_is_int(processors_in(vd), 1, "cpuinfo lists one processor");
    char *st = slurp(vd, "stat");
    int on = atoi(online);
    char want[16], other[16];
    snprintf(want, sizeof want, "\ncpu%d ", on);
    snprintf(other, sizeof other, "\ncpu%d ", !on);
    tap_ok(strstr(st, want) && !strstr(st, other), "stat shows the online cpu only");
    free(st);
    char *up = slurp(vd, "uptime");
    tap_ok(strtod(up, NULL) < 60, "uptime counts from the view's start");
    free(up);
    char *la = slurp(vd, "loadavg");
    tap_ok(strstr(la, "/") != NULL, "loadavg readable");
    free(la);
    char *ds = slurp(vd, "diskstats");
    tap_ok(ds[0] != '\0' || access("/proc/diskstats", F_OK) < 0, "diskstats readable");
    free(ds);
    cleanup_free char *wpath = xasprintf("%s/meminfo", vd);
    int wfd = open(wpath, O_WRONLY | O_CLOEXEC);
    tap_ok(wfd < 0 && (errno == EACCES || errno == EROFS), "the view is read-only");
    if (wfd >= 0)
        close(wfd);

    /* a process in the cgroup allocates 64 MiB: MemAvailable drops */
    int p[2], q[2];
    if (pipe2(p, O_CLOEXEC) < 0 || pipe2(q, O_CLOEXEC) < 0)
        return;
    pid_t child = fork();
    if (child == 0) {
        char c;
        if (read(p[0], &c, 1) != 1)
            _exit(3);
        /* volatile: the compiler may not drop writes nobody reads */
        volatile char *m = malloc(64 << 20);
        if (!m)
            _exit(2);
        for (size_t i = 0; i < (64 << 20); i += 4096)
            m[i] = 1;
        if (write(q[1], "x", 1) != 1)
            _exit(4);
        pause();
        _exit(0);
    }
    close(p[0]);
    close(q[1]);
    if (run_cgroup_add_pid(cg, child, &err) < 0)
        tap_diag("%s", err.msg);
    char c;
    if (write(p[1], "g", 1) != 1 || read(q[0], &c, 1) != 1)
        tap_diag("child did not allocate");
    cpu_set_t aff;
    CPU_ZERO(&aff);
    sched_getaffinity(child, sizeof aff, &aff);
    int pinned = -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &aff))
            pinned = i;
    tap_ok(CPU_COUNT(&aff) == 1 && pinned == atoi(online),
           "the process is pinned to the one online cpu (nproc agrees)");
    free(online);
    char *ld = slurp(vd, "loadavg");
    int nrun = -1, ntot = -1;
    sscanf(ld, "%*f %*f %*f %d/%d", &nrun, &ntot);
    tap_ok(ntot == 1 && nrun >= 0, "loadavg counts the cgroup's one task");
    free(ld);
    mi = slurp(vd, "meminfo");
    int64_t avail1 = field_kb(mi, "MemAvailable:");
    tap_ok(avail1 <= avail0 - 60000, "MemAvailable fell by the 64 MiB allocated");
    tap_diag("MemAvailable %lld -> %lld kB", (long long)avail0, (long long)avail1);
    free(mi);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close(p[1]);
    close(q[0]);

    test_sysinfo(cg, pv);

    /* a bind of a view file (what the container holds), then the mount's
     * fd closed (G's exec): the bind goes on being served */
    cleanup_free char *src = xasprintf("%s/meminfo", vd);
    tap_ok(mount(src, target, NULL, MS_BIND, NULL) == 0, "bind a view file elsewhere");
    close(mfd);
    cleanup_free char *tdir = xstrdup(target);
    *strrchr(tdir, '/') = '\0';
    mi = slurp(tdir, strrchr(target, '/') + 1);
    tap_is_int(field_kb(mi, "MemTotal:"), 262144,
               "the bound file is still served once the mount's fd is closed");
    free(mi);

    view_stop(pv);
    free(vd);
    int rfd = open(target, O_RDONLY | O_CLOEXEC);
    char rb[16];
    tap_ok(rfd < 0 || read(rfd, rb, sizeof rb) < 0, "after stop the bound file fails (ENOTCONN)");
    if (rfd >= 0)
        close(rfd);
    umount2(target, MNT_DETACH);
    tap_is_int(run_cgroup_destroy(cg, &err), 0, "cgroup destroyed");

    /* without limits the host's values pass through */
    if (run_cgroup_create(cg_id, NULL, &cg, &err) == 0 &&
        view_start(cg, NULL, &pv, &vd, &mfd, &err) == 0) {
        mi = slurp(vd, "meminfo");
        cleanup_free char *host = slurp("/proc", "meminfo");
        tap_is_int(field_kb(mi, "MemTotal:"), field_kb(host, "MemTotal:"),
                   "no limit: the host's MemTotal");
        free(mi);
        online = slurp(vd, "online");
        cleanup_free char *honline = slurp("/sys/devices/system/cpu", "online");
        tap_is_str(online, honline, "no limit: the host's online mask");
        free(online);
        view_stop(pv);
        close(mfd);
        free(vd);
        run_cgroup_destroy(cg, &err);
    } else {
        tap_ok(0, "view without limits");
        tap_diag("%s", err.msg);
    }

    /* the view may come before its cgroup */
    if (view_start(NULL, &lim, &pv, &vd, &mfd, &err) == 0) {
        mi = slurp(vd, "meminfo");
        cleanup_free char *host = slurp("/proc", "meminfo");
        tap_is_int(field_kb(mi, "MemTotal:"), field_kb(host, "MemTotal:"),
                   "no cgroup set yet: the host's MemTotal");
        free(mi);
        if (run_cgroup_create(cg_id, &lim, &cg, &err) == 0) {
            run_procview_set_cgroup(pv, cg);
            mi = slurp(vd, "meminfo");
            tap_is_int(field_kb(mi, "MemTotal:"), 262144, "cgroup set later: MemTotal = 256 MiB");
            free(mi);
            view_stop(pv);
            run_cgroup_destroy(cg, &err);
        } else {
            tap_ok(0, "cgroup for the late view");
            view_stop(pv);
        }
        close(mfd);
        free(vd);
    } else {
        tap_ok(0, "view started without a cgroup");
        tap_diag("%s", err.msg);
    }
    unlink(target);
}

/* uid 65534, as the rootless helper: root of a new user and mount
 * namespace mounts the view itself (no fusermount3), the caller serves it;
 * a no-op cgroup, so the host's values pass through. */
static void test_rootless(void)
{
    if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) < 0) {
        tap_skip("rootless view: needs root (to switch users) and /dev/fuse");
        return;
    }
    int p[2];
    if (pipe(p) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        struct error err = {0};
        struct run_cgroup *cg = NULL;
        struct run_procview *pv = NULL;
        char res[3] = "---";
        char *vd = NULL;
        int mfd = -1;
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(9);
        /* a uid change left /proc/self root's: our maps need it ours */
        prctl(PR_SET_DUMPABLE, 1);
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
            dprintf(p[1], "unshare: %s", strerror(errno));
            _exit(0);
        }
        int fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            dprintf(fd, "deny");
            close(fd);
        }
        fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            dprintf(fd, "0 65534 1");
            close(fd);
        }
        fd = open("/proc/self/gid_map", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            dprintf(fd, "0 65534 1");
            close(fd);
        }
        if (run_cgroup_create("pvunit-rootless", NULL, &cg, &err) == 0 &&
            view_start(cg, NULL, &pv, &vd, &mfd, &err) == 0) {
            res[0] = 'm';
            char *mi = slurp(vd, "meminfo");
            char *host = slurp("/proc", "meminfo");
            res[1] = field_kb(mi, "MemTotal:") == field_kb(host, "MemTotal:") ? 'h' : 'x';
            free(mi);
            free(host);
            char *up = slurp(vd, "uptime");
            res[2] = strtod(up, NULL) < 60 ? 'u' : 'x';
            free(up);
            view_stop(pv);
            close(mfd);
            free(vd);
        } else {
            dprintf(p[1], "%s", err.msg);
        }
        run_cgroup_destroy(cg, &err);
        if (write(p[1], res, 3) < 0)
            _exit(8);
        _exit(0);
    }
    close(p[1]);
    char buf[1200] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    waitpid(pid, NULL, 0);
    tap_ok(n >= 3 && !strncmp(buf + n - 3, "mhu", 3),
           "rootless: view mounted in a user namespace, served, host values pass through");
    if (n < 3 || strncmp(buf + n - 3, "mhu", 3))
        tap_diag("%s", buf);
}

/* The v2 path through a mounted view, on a canned v2 tree (the shared
 * one of the cgroup tests): this hybrid host binds every controller to
 * v1, so no real v2 cgroup here can carry a limit. */
static void test_canned_v2(void)
{
    struct error err = {0};
    if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) < 0) {
        tap_skip("a view over a canned v2 tree needs root and /dev/fuse");
        return;
    }
    if (!cgt_init())
        return;
    /* one cpu the host has: the last online one */
    cleanup_free char *honline = slurp("/sys/devices/system/cpu", "online");
    const char *last = honline + strcspn(honline, "\n");
    while (last > honline && (last[-1] >= '0' && last[-1] <= '9'))
        last--;
    int cpu = atoi(last);
    char cpus[16];
    snprintf(cpus, sizeof cpus, "%d", cpu);
    cgt_v2("pv2", "pvc", cpus);
    cgt_use("pv2");
    struct run_cgroup_limits lim;
    run_cgroup_limits_init(&lim);
    lim.memory = 256 << 20;
    lim.cpuset_cpus = cpus;
    run_cgroup_limits_set_cpus(&lim, "1", &err);
    struct run_cgroup *cg = NULL;
    struct run_procview *pv = NULL;
    char *vd = NULL;
    int mfd = -1;
    if (!tap_ok(run_cgroup_create("pvc", &lim, &cg, &err) == 0 &&
                    view_start(cg, &lim, &pv, &vd, &mfd, &err) == 0,
                "canned v2: cgroup and view")) {
        tap_diag("%s", err.msg);
        run_cgroup_free(cg);
        cgt_unuse();
        return;
    }
    char *mi = slurp(vd, "meminfo");
    tap_is_int(field_kb(mi, "MemTotal:"), 262144, "canned v2 view: MemTotal = memory.max");
    tap_is_int(field_kb(mi, "MemFree:"), 159744, "canned v2 view: MemFree = max - current");
    tap_is_int(field_kb(mi, "MemAvailable:"), 184019,
               "canned v2 view: MemAvailable adds the file LRUs, not shmem");
    cleanup_free char *hmi = slurp("/proc", "meminfo");
    int64_t hswap = field_kb(hmi, "SwapTotal:");
    tap_is_int(field_kb(mi, "SwapTotal:"), hswap < 262144 ? hswap : 262144,
               "canned v2 view: SwapTotal = memory.swap.max (at most the host's)");
    free(mi);
    char *on = slurp(vd, "online");
    char want[20];
    snprintf(want, sizeof want, "%d\n", cpu);
    tap_is_str(on, want, "canned v2 view: online = cpuset.cpus.effective");
    free(on);
    tap_is_int(processors_in(vd), 1, "canned v2 view: cpuinfo lists that one processor");
    char *st = slurp(vd, "stat");
    /* cpu.stat: 4 ms user, 3 ms system: under one USER_HZ tick each */
    tap_ok(!strncmp(st, "cpu  0 0 0 ", 11), "canned v2 view: stat's times from cpu.stat");
    snprintf(want, sizeof want, "\ncpu%d ", cpu);
    tap_ok(strstr(st, want) != NULL, "canned v2 view: stat shows that cpu");
    free(st);
    char *ds = slurp(vd, "diskstats");
    tap_ok(ds[0] != '\0' || access("/proc/diskstats", F_OK) < 0, "canned v2 view: diskstats");
    free(ds);
    view_stop(pv);
    close(mfd);
    free(vd);
    run_cgroup_free(cg);
    cgt_unuse();
}

int main(void)
{
    test_render();
    test_mounted();
    test_rootless();
    test_canned_v2();
    cgt_cleanup();
    return tap_done();
}
