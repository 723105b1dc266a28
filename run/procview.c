/* The /proc view's FUSE side (low-level API): one flat directory of
 * read-only files whose text is rendered at open time (procview_render.c)
 * and served with direct_io, so readers always get fresh numbers and the
 * size-0-like /proc semantics.  No thread of its own: one epoll fd holds
 * /dev/fuse (non-blocking), a 5 s timer (the cgroup's runnable tasks
 * sampled for loadavg) and the sysinfo listener, and the caller's wait
 * loop polls it and calls run_procview_serve. */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <inttypes.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "run/cgroup_internal.h"
#include "run/procview.h"
#include "run/procview_internal.h"

enum pv_kind { PV_MEMINFO, PV_CPUINFO, PV_STAT, PV_UPTIME, PV_LOADAVG, PV_DISKSTATS, PV_ONLINE, PV_N };

const struct run_procview_target run_procview_targets[] = {
    [PV_MEMINFO] = {"meminfo", "/proc/meminfo"},
    [PV_CPUINFO] = {"cpuinfo", "/proc/cpuinfo"},
    [PV_STAT] = {"stat", "/proc/stat"},
    [PV_UPTIME] = {"uptime", "/proc/uptime"},
    [PV_LOADAVG] = {"loadavg", "/proc/loadavg"},
    [PV_DISKSTATS] = {"diskstats", "/proc/diskstats"},
    [PV_ONLINE] = {"online", "/sys/devices/system/cpu/online"},
    [PV_N] = {NULL, NULL},
};

#define PV_ROOT_INO 1
#define PV_FIRST_INO 2
#define LOAD_INTERVAL_MS 5000

/* An open file's rendered text.  Handles are linked so that stop can free
 * those whose RELEASE (sent asynchronously by the kernel) never arrived. */
struct pv_handle {
    struct pv_handle *prev, *next;
    char *text;
    size_t len;
};

/* Only the one thread that calls run_procview_serve touches it, but for
 * cg and notify_fd, which another thread may set (tests serve from a
 * thread of their own). */
struct run_procview {
    struct fuse_session *se;
    /* the request buffer: the view's requests are small and it takes no
     * writes (max_write 4096: the kernel wants reads of 8 KiB at least),
     * so not libfuse's 1 MiB one, mapped and unmapped per run */
    uint64_t rbuf[16384 / sizeof(uint64_t)];
    struct pv_handle *handles;
    int epoll_fd;              /* what the caller polls: /dev/fuse, timer_fd, notify_fd */
    int timer_fd;              /* the load sample's interval */
    atomic_int notify_fd;      /* seccomp listener for sysinfo, -1 none */
    /* borrowed, set at start or later (run_procview_set_cgroup, before the
     * container can ask); its fields are read-only after open */
    _Atomic(struct run_cgroup *) cg;
    int64_t lim_memory;
    double start; /* CLOCK_BOOTTIME seconds at start */
    double load[3];
};

static double boottime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_host(const char *path)
{
    char *buf = NULL;
    size_t len;
    struct error err;
    if (read_file_at(AT_FDCWD, path, &buf, &len, &err) < 0)
        return xstrdup("");
    return buf;
}

/* The CPUs the container should see, or NULL when that is all the host's
 * (then the host's text passes through).  Returns the count in *n. */
static bool visible_cpus(const struct run_cgroup *cg, const struct run_cgroup_cpu_stats *c,
                         uint64_t *bits, int *n)
{
    char list[4096];
    *n = run_cgroup_visible_cpus(cg, c, list, sizeof list);
    run_cg_cpulist_parse(list, bits, RUN_PV_NCPU);
    cleanup_free char *online = read_host("/sys/devices/system/cpu/online");
    uint64_t host[RUN_PV_NCPU / 64];
    if (run_cg_cpulist_parse(online, host, RUN_PV_NCPU) <= 0)
        return true;
    return memcmp(host, bits, sizeof host) != 0;
}

static void count_tasks(struct run_procview *pv, int *running, int *active, int *total);

/* The cgroup, or NULL while none is set (the host's values pass through). */
static struct run_cgroup *pv_cg(struct run_procview *pv)
{
    struct run_cgroup *cg = atomic_load(&pv->cg);
    return cg && !cg->noop ? cg : NULL;
}

static char *render(struct run_procview *pv, enum pv_kind kind)
{
    struct run_cgroup *cg = pv_cg(pv);
    if (!cg) {
        static const char *const host[PV_N] = {
            [PV_MEMINFO] = "/proc/meminfo",     [PV_CPUINFO] = "/proc/cpuinfo",
            [PV_STAT] = "/proc/stat",           [PV_LOADAVG] = "/proc/loadavg",
            [PV_DISKSTATS] = "/proc/diskstats", [PV_ONLINE] = "/sys/devices/system/cpu/online",
        };
        if (host[kind])
            return read_host(host[kind]);
    }
    /* uptime counts from the view's start even without a cgroup */
    struct run_cgroup none = {.noop = true};
    if (!cg)
        cg = &none;
    struct error err;
    struct run_cgroup_cpu_stats c;
    uint64_t vis[RUN_PV_NCPU / 64];
    int nvis;
    switch (kind) {
    case PV_MEMINFO: {
        struct run_cgroup_memory_stats m;
        cleanup_free char *host = read_host("/proc/meminfo");
        if (run_cgroup_memory_stats(cg, &m, &err) < 0)
            return TAKE_PTR(host);
        if (m.limit < 0 && pv->lim_memory >= 0)
            m.limit = pv->lim_memory;
        return run_pv_meminfo(host, &m);
    }
    case PV_CPUINFO: {
        cleanup_free char *host = read_host("/proc/cpuinfo");
        run_cgroup_cpu_stats(cg, &c, &err);
        return run_pv_cpuinfo(host, visible_cpus(cg, &c, vis, &nvis) ? vis : NULL);
    }
    case PV_STAT: {
        cleanup_free char *host = read_host("/proc/stat");
        run_cgroup_cpu_stats(cg, &c, &err);
        return run_pv_stat(host, visible_cpus(cg, &c, vis, &nvis) ? vis : NULL, c.user_ns,
                           c.system_ns, sysconf(_SC_CLK_TCK));
    }
    case PV_UPTIME: {
        run_cgroup_cpu_stats(cg, &c, &err);
        visible_cpus(cg, &c, vis, &nvis);
        double up = boottime() - pv->start;
        double idle = up * nvis - (c.usage_ns > 0 ? (double)c.usage_ns / 1e9 : 0);
        return run_pv_uptime(up, idle);
    }
    case PV_LOADAVG: {
        if (!cg)
            return read_host("/proc/loadavg");
        cleanup_free char *host = read_host("/proc/loadavg");
        long last = 0;
        const char *sp = strrchr(host, ' ');
        if (sp)
            last = strtol(sp + 1, NULL, 10);
        int running, active, total;
        count_tasks(pv, &running, &active, &total);
        double avg[3] = {pv->load[0], pv->load[1], pv->load[2]};
        return run_pv_loadavg(avg, running, total, last);
    }
    case PV_DISKSTATS: {
        cleanup_free char *host = read_host("/proc/diskstats");
        struct run_cgroup_io_stat *io = NULL;
        size_t n = 0;
        bool has_io = !!cg && (cg->v1dir[RUN_CG_BLKIO] || cg->v2_io);
        if (!has_io || run_cgroup_io_stats(cg, &io, &n, &err) < 0)
            return TAKE_PTR(host);
        char *s = run_pv_diskstats(host, io, n);
        free(io);
        return s;
    }
    case PV_ONLINE: {
        run_cgroup_cpu_stats(cg, &c, &err);
        if (!visible_cpus(cg, &c, vis, &nvis))
            return read_host("/sys/devices/system/cpu/online");
        char list[4096];
        run_cg_cpulist_format(vis, RUN_PV_NCPU, list, sizeof list);
        return xasprintf("%s\n", list);
    }
    case PV_N:
        break;
    }
    return xstrdup("");
}

/* Counts the cgroup's threads: runnable (R), and runnable or
 * uninterruptible (R/D, what the kernel's load average counts). */
static void count_tasks(struct run_procview *pv, int *running, int *active, int *total)
{
    *running = *active = *total = 0;
    pid_t *tids = NULL;
    size_t n = 0;
    struct error err;
    struct run_cgroup *cg = pv_cg(pv);
    if (!cg || run_cgroup_tasks(cg, true, &tids, &n, &err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)tids[i]);
        cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        const char *rp = strrchr(buf, ')'); /* comm may hold spaces and parens */
        if (!rp || rp[1] != ' ')
            continue;
        char state = rp[2];
        *running += state == 'R';
        *active += state == 'R' || state == 'D';
    }
    *total = (int)n;
    free(tids);
}

static void sample_load(struct run_procview *pv)
{
    if (!pv_cg(pv))
        return;
    int running, active, total;
    count_tasks(pv, &running, &active, &total);
    run_pv_load_step(pv->load, active);
}

/* ---- FUSE operations (every request answered exactly once) ---- */

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_nlink = 1;
    if (ino == PV_ROOT_INO) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
    } else {
        /* size 0 like /proc: readers read to EOF (direct_io serves it) */
        st->st_mode = S_IFREG | 0444;
    }
}

static bool valid_ino(fuse_ino_t ino)
{
    return ino == PV_ROOT_INO || (ino >= PV_FIRST_INO && ino < PV_FIRST_INO + PV_N);
}

static void pv_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (parent != PV_ROOT_INO) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    for (int i = 0; i < PV_N; i++) {
        if (!strcmp(name, run_procview_targets[i].name)) {
            struct fuse_entry_param e = {.ino = PV_FIRST_INO + (fuse_ino_t)i,
                                         .attr_timeout = 86400,
                                         .entry_timeout = 86400};
            fill_attr(e.ino, &e.attr);
            fuse_reply_entry(req, &e);
            return;
        }
    }
    fuse_reply_err(req, ENOENT);
}

static void pv_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (!valid_ino(ino)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st;
    fill_attr(ino, &st);
    fuse_reply_attr(req, &st, 86400);
}

/* The root's listing, with every entry's attributes for READDIRPLUS: the
 * kernel caches the entries, so one READDIRPLUS stands for the seven
 * LOOKUPs of the binds (run_procview_prime).  Offsets: 1 ".", 2 "..",
 * 3.. the files. */
static void pv_list(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
    if (ino != PV_ROOT_INO) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    char buf[4096];
    size_t used = 0;
    if (size > sizeof buf)
        size = sizeof buf;
    for (off_t i = off; i < 2 + PV_N; i++) {
        fuse_ino_t e = i < 2 ? PV_ROOT_INO : PV_FIRST_INO + (fuse_ino_t)(i - 2);
        const char *name = i == 0 ? "." : i == 1 ? ".." : run_procview_targets[i - 2].name;
        struct fuse_entry_param ep = {.ino = e, .attr_timeout = 86400, .entry_timeout = 86400};
        fill_attr(e, &ep.attr);
        size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &ep, i + 1)
                           : fuse_add_direntry(req, buf + used, size - used, name, &ep.attr, i + 1);
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
}

static void pv_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    pv_list(req, ino, size, off, false);
}

static void pv_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    pv_list(req, ino, size, off, true);
}

/* Every file is direct_io and dropped from the page cache at open, so
 * nothing is gained by the kernel asking for the attributes to check the
 * cache (a GETATTR before the prime's READDIRPLUS). */
static void pv_init(void *userdata, struct fuse_conn_info *conn)
{
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    conn->max_write = 4096; /* read-only: see rbuf */
}

/* No state per open directory: ENOSYS tells the kernel to stop sending
 * OPENDIR and RELEASEDIR (the prime's getdents is then one READDIRPLUS). */
static void pv_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fuse_reply_err(req, ENOSYS);
}

static void pv_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (!valid_ino(ino) || ino == PV_ROOT_INO) {
        fuse_reply_err(req, ino == PV_ROOT_INO ? EISDIR : ENOENT);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        fuse_reply_err(req, EACCES);
        return;
    }
    struct run_procview *pv = fuse_req_userdata(req);
    struct pv_handle *h = xzalloc(sizeof(*h));
    h->text = render(pv, (enum pv_kind)(ino - PV_FIRST_INO));
    h->len = strlen(h->text);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    /* sendfile/splice (busybox cat) reads FUSE files through the page cache
     * bounded by i_size, even with direct_io (fixed upstream by using
     * copy_splice_read); our size is 0 like /proc's.  Storing the text's
     * last byte raises i_size to the text's length; the page itself is
     * dropped when the open completes (keep_cache 0), and a stale larger
     * size shrinks at the short read. */
    if (h->len > 0) {
        struct fuse_bufvec bv = FUSE_BUFVEC_INIT(1);
        bv.buf[0].mem = h->text + h->len - 1;
        fuse_lowlevel_notify_store(pv->se, ino, (off_t)h->len - 1, &bv, 0);
    }
    if (fuse_reply_open(req, fi) != 0) {
        /* the opener is gone: no release will come */
        free(h->text);
        free(h);
        return;
    }
    h->next = pv->handles;
    if (h->next)
        h->next->prev = h;
    pv->handles = h;
}

static void handle_free(struct run_procview *pv, struct pv_handle *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        pv->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    free(h->text);
    free(h);
}

static void pv_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct pv_handle *h = (struct pv_handle *)(uintptr_t)fi->fh;
    if (off < 0 || (size_t)off >= h->len) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    size_t n = h->len - (size_t)off;
    fuse_reply_buf(req, h->text + off, n < size ? n : size);
}

static void pv_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct pv_handle *h = (struct pv_handle *)(uintptr_t)fi->fh;
    if (h)
        handle_free(fuse_req_userdata(req), h);
    fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops pv_ops = {
    .init = pv_init,
    .lookup = pv_lookup,
    .getattr = pv_getattr,
    .opendir = pv_opendir,
    .readdir = pv_readdir,
    .readdirplus = pv_readdirplus,
    .open = pv_open,
    .read = pv_read,
    .release = pv_release,
};

/* Answers one trapped sysinfo(2): the container's numbers written into
 * the caller's buffer.  Anything unexpected runs the real syscall. */
static void handle_sysinfo(struct run_procview *pv, int fd)
{
    struct seccomp_notif *req = NULL;
    struct seccomp_notif_resp *resp = NULL;
    if (seccomp_notify_alloc(&req, &resp) < 0)
        return;
    if (seccomp_notify_receive(fd, req) < 0)
        goto out; /* the caller died meanwhile */
    resp->id = req->id;
    resp->val = 0;
    resp->error = 0;
    resp->flags = 0;
    if (req->data.nr != SCMP_SYS(sysinfo) || req->data.arch != seccomp_arch_native()) {
        resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    } else {
        struct sysinfo si;
        struct run_cgroup_memory_stats m;
        struct error err;
        sysinfo(&si);
        struct run_cgroup *cg = pv_cg(pv);
        if (!cg || run_cgroup_memory_stats(cg, &m, &err) < 0)
            memset(&m, 0xff, sizeof m);
        if (m.limit < 0 && pv->lim_memory >= 0)
            m.limit = pv->lim_memory;
        int running, active, total;
        count_tasks(pv, &running, &active, &total);
        double load[3] = {pv->load[0], pv->load[1], pv->load[2]};
        run_pv_sysinfo(&si, &m, boottime() - pv->start, cg ? load : NULL, cg ? total : -1);
        struct iovec local = {.iov_base = &si, .iov_len = sizeof si};
        struct iovec remote = {.iov_base = (void *)(uintptr_t)req->data.args[0],
                               .iov_len = sizeof si};
        /* the pid could have been reused if the caller died: check the
         * request is still live before touching its memory */
        if (seccomp_notify_id_valid(fd, req->id) != 0)
            goto out;
        if (process_vm_writev(req->pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof si)
            resp->error = -EFAULT;
    }
    seccomp_notify_respond(fd, resp);
out:
    seccomp_notify_free(req, resp);
}

enum { EV_FUSE, EV_TIMER, EV_NOTIFY };

/* Every request queued on /dev/fuse (non-blocking: a request whose caller
 * was killed between the poll and the read is gone, and a blocking read
 * would hang the caller's loop until the next one).  False once the
 * connection is gone. */
static bool serve_fuse(struct run_procview *pv)
{
    for (;;) {
        ssize_t n = read(fuse_session_fd(pv->se), pv->rbuf, sizeof pv->rbuf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        if (n <= 0)
            return false; /* ENODEV: the connection is gone */
        struct fuse_buf buf = {.mem = pv->rbuf, .size = (size_t)n};
        fuse_session_process_buf(pv->se, &buf);
        if (fuse_session_exited(pv->se))
            return false;
    }
}

int run_procview_fd(const struct run_procview *pv)
{
    return pv ? pv->epoll_fd : -1;
}

void run_procview_serve(struct run_procview *pv)
{
    if (!pv)
        return;
    struct epoll_event ev[3];
    int n = epoll_wait(pv->epoll_fd, ev, 3, 0);
    for (int i = 0; i < n; i++) {
        uint32_t e = ev[i].events;
        switch (ev[i].data.u32) {
        case EV_FUSE:
            /* an aborted connection (the mount gone) stays readable:
             * dropped from the set, or the caller's poll would spin */
            if ((e & (EPOLLERR | EPOLLHUP)) || !serve_fuse(pv))
                epoll_ctl(pv->epoll_fd, EPOLL_CTL_DEL, fuse_session_fd(pv->se), NULL);
            break;
        case EV_TIMER: {
            uint64_t ticks;
            if (read(pv->timer_fd, &ticks, sizeof ticks) == (ssize_t)sizeof ticks)
                sample_load(pv);
            break;
        }
        case EV_NOTIFY: {
            int nfd = atomic_load(&pv->notify_fd);
            if (e & EPOLLIN)
                handle_sysinfo(pv, nfd);
            else if (e & (EPOLLHUP | EPOLLERR)) {
                /* every process of the filter is gone */
                atomic_store(&pv->notify_fd, -1);
                epoll_ctl(pv->epoll_fd, EPOLL_CTL_DEL, nfd, NULL);
                close(nfd);
            }
            break;
        }
        }
    }
}

int run_procview_wait_fd(struct run_procview *pv, int fd)
{
    if (!pv)
        return 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = pv->epoll_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        /* the view first: whoever wrote to fd may wait on it next */
        if (p[1].revents & POLLIN)
            run_procview_serve(pv);
        if (p[0].revents)
            return 0;
    }
}

/* sysinfo's trap: native-arch sysinfo is sent to the listener, anything
 * else jumps to what follows (ALLOW alone, or the container's filter). */
#define SYSINFO_TRAP(a)                                                                   \
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),                \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (a), 0, 3),                                  \
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),              \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sysinfo, 0, 1),                             \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF)
enum { TRAP_LEN = 5 };

static int load_listener(struct sock_filter *insns, size_t n, struct error *err)
{
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = insns};
    int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                          SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd < 0)
        return error_errno(err, "load the sysinfo seccomp filter");
    return fd;
}

int run_procview_sysinfo_filter(struct error *err)
{
    /* Written out: libseccomp would probe the kernel with eight seccomp(2)
     * calls and compile a program, all on the container's start path.
     * Another architecture's syscalls (x32 has its own bit in nr) run
     * untouched. */
    uint32_t arch = seccomp_arch_native();
    struct sock_filter insns[] = {
        SYSINFO_TRAP(arch),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    return load_listener(insns, ARRAY_SIZE(insns), err);
}

bool run_procview_sysinfo_can_front(const struct sock_filter *prog, size_t n)
{
    /* the trap leaves nr in the accumulator: prog must load before it
     * reads it (libseccomp's programs start by loading the arch) */
    return prog && n > 0 && n + TRAP_LEN <= BPF_MAXINSNS &&
           prog[0].code == (BPF_LD | BPF_W | BPF_ABS);
}

int run_procview_sysinfo_filter_front(const struct sock_filter *prog, size_t n,
                                      struct error *err)
{
    if (!run_procview_sysinfo_can_front(prog, n))
        return error_set(err, EINVAL, "the seccomp filter cannot take the sysinfo trap");
    uint32_t arch = seccomp_arch_native();
    struct sock_filter trap[] = {SYSINFO_TRAP(arch)};
    cleanup_free struct sock_filter *all = xcalloc(n + TRAP_LEN, sizeof *all);
    memcpy(all, trap, sizeof trap);
    memcpy(all + TRAP_LEN, prog, n * sizeof *prog);
    return load_listener(all, n + TRAP_LEN, err);
}

int run_procview_serve_sysinfo(struct run_procview *pv, int fd, struct error *err)
{
    int none = -1;
    if (!atomic_compare_exchange_strong(&pv->notify_fd, &none, fd)) {
        close(fd);
        return error_set(err, EBUSY, "proc view: already serving a sysinfo filter");
    }
    /* joins the set the caller polls: a poll waiting on it meanwhile
     * wakes at the listener's first request */
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EV_NOTIFY};
    if (epoll_ctl(pv->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return error_errno(err, "proc view: watch the sysinfo filter");
    return 0;
}

int run_procview_mount(int *dev_fd, int *mnt_fd, struct error *err)
{
    /* the kernel wants /dev/fuse opened in the user namespace that mounts */
    cleanup_close int dev = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (dev < 0)
        return error_errno(err, "proc view: open /dev/fuse");
    cleanup_close int fs = fsopen("fuse", FSOPEN_CLOEXEC);
    if (fs < 0)
        return error_errno(err, "proc view: fsopen fuse");
    char fdstr[16], uid[16], gid[16];
    snprintf(fdstr, sizeof fdstr, "%d", dev);
    snprintf(uid, sizeof uid, "%u", (unsigned)geteuid());
    snprintf(gid, sizeof gid, "%u", (unsigned)getegid());
    /* allow_other: the container's processes run as other users; in a user
     * namespace the kernel limits it to that namespace's processes */
    if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "strata-procview", 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "subtype", "procview", 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "fd", fdstr, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "rootmode", "40000", 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "user_id", uid, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "group_id", gid, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_FLAG, "allow_other", NULL, 0) < 0 ||
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return error_errno(err, "proc view: create the FUSE mount");
    int mnt = fsmount(fs, FSMOUNT_CLOEXEC,
                      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (mnt < 0)
        return error_errno(err, "proc view: fsmount");
    *dev_fd = TAKE_FD(dev);
    *mnt_fd = mnt;
    return 0;
}

void run_procview_prime(const char *dir)
{
    /* one getdents: OPENDIR and one READDIRPLUS, which enters every file
     * (the one call returns all of them; the EOF is not asked for) */
    cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char buf[2048];
    if (fd >= 0 && syscall(SYS_getdents64, fd, buf, sizeof buf) < 0) {
        /* the view is gone (the caller failed): the binds will say so */
    }
}

int run_procview_new(int dev_fd, struct run_cgroup *cg, const struct run_cgroup_limits *lim,
                     struct run_procview **out, struct error *err)
{
    struct run_procview *pv = xzalloc(sizeof(*pv));
    atomic_init(&pv->cg, cg);
    pv->lim_memory = lim ? lim->memory : RUN_CGROUP_NONE;
    pv->start = boottime();
    pv->epoll_fd = -1;
    pv->timer_fd = -1;
    atomic_init(&pv->notify_fd, -1);

    char *argv[] = {"strata-procview", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(1, argv);
    pv->se = fuse_session_new(&args, &pv_ops, sizeof pv_ops, pv);
    fuse_opt_free_args(&args);
    char devfd[32];
    snprintf(devfd, sizeof devfd, "/dev/fd/%d", dev_fd);
    if (!pv->se || fuse_session_mount(pv->se, devfd) != 0) {
        close(dev_fd);
        error_set(err, EIO, "proc view: cannot start a FUSE session");
        goto fail;
    }
    /* the session owns dev_fd from here on.  The kernel queued FUSE_INIT
     * at mount time and holds every request until it is answered: answer
     * it here, at once (the fd is non-blocking: nothing waits if it is
     * not there) */
    if (!serve_fuse(pv)) {
        error_set(err, ENOTCONN, "proc view: the FUSE connection ended at its start");
        goto fail;
    }
    /* the first load sample is due one interval in: nothing is computed
     * before the container asks */
    struct itimerspec every = {.it_interval = {LOAD_INTERVAL_MS / 1000, 0},
                               .it_value = {LOAD_INTERVAL_MS / 1000, 0}};
    pv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    pv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (pv->epoll_fd < 0 || pv->timer_fd < 0 || timerfd_settime(pv->timer_fd, 0, &every, NULL) < 0) {
        error_errno(err, "proc view: epoll/timerfd");
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EV_FUSE};
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = EV_TIMER};
    if (epoll_ctl(pv->epoll_fd, EPOLL_CTL_ADD, dev_fd, &ev) < 0 ||
        epoll_ctl(pv->epoll_fd, EPOLL_CTL_ADD, pv->timer_fd, &tev) < 0) {
        error_errno(err, "proc view: epoll_ctl");
        goto fail;
    }
    *out = pv;
    return 0;
fail:
    run_procview_stop(pv);
    return -1;
}

void run_procview_stop(struct run_procview *pv)
{
    if (!pv)
        return;
    /* closing /dev/fuse aborts the connection: a bind still held by a
     * process fails with ENOTCONN; the mount goes with its last holder */
    if (pv->se)
        fuse_session_destroy(pv->se);
    while (pv->handles)
        handle_free(pv, pv->handles);
    int nfd = atomic_load(&pv->notify_fd);
    if (nfd >= 0)
        close(nfd);
    if (pv->timer_fd >= 0)
        close(pv->timer_fd);
    if (pv->epoll_fd >= 0)
        close(pv->epoll_fd);
    free(pv);
}

void run_procview_set_cgroup(struct run_procview *pv, struct run_cgroup *cg)
{
    atomic_store(&pv->cg, cg);
}

int run_procview_bind(const char *dir, const char *rootfs, struct error *err)
{
    /* the sources named from inside the view, entered once: each
     * `/proc/self/fd/N/x` walked anew costs procfs lookups (self, the
     * fd's entry and its link) per file.  The targets must not depend on
     * the working directory meanwhile. */
    cleanup_close int here = -1;
    if (rootfs[0] == '/') {
        here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (here >= 0 && chdir(dir) < 0) {
            close(here);
            here = -1;
        }
    }
    int r = 0;
    for (int i = 0; run_procview_targets[i].name && r == 0; i++) {
        const char *name = run_procview_targets[i].name;
        cleanup_free char *src = here >= 0 ? NULL : xasprintf("%s/%s", dir, name);
        cleanup_free char *dst = xasprintf("%s%s", rootfs, run_procview_targets[i].target);
        /* one syscall a file: a target the root lacks fails with ENOENT */
        if (mount(src ? src : name, dst, NULL, MS_BIND, NULL) < 0 && errno != ENOENT)
            r = error_errno(err, "bind-mount proc view `%s/%s` on `%s`", dir, name, dst);
    }
    if (here >= 0 && fchdir(here) < 0 && r == 0)
        r = error_errno(err, "proc view: return to the working directory");
    return r;
}
