/* Reading a container's usage back out of its cgroup, for the /proc view
 * and inspect.  Each reader takes whichever hierarchy drives the resource
 * (see cgroup.c) and reports -1 for what the kernel does not keep. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/cgroup_internal.h"

/* v1 reports "unlimited" as a huge page-rounded number */
static int64_t v1_limit(int64_t v)
{
    return v < 0 || v >= (INT64_C(1) << 60) ? -1 : v;
}

static int64_t min_limit(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

int run_cgroup_memory_stats(struct run_cgroup *cg, struct run_cgroup_memory_stats *out,
                            struct error *err)
{
    memset(out, 0xff, sizeof(*out)); /* every field -1 */
    if (cg->noop)
        return 0;
    if (cg->v1dir[RUN_CG_MEMORY]) {
        const char *d = cg->v1dir[RUN_CG_MEMORY];
        cleanup_free char *stat = run_cg_read(d, "memory.stat");
        if (!stat)
            return error_errno(err, "read `%s/memory.stat`", d);
        out->usage = run_cg_read_int(d, "memory.usage_in_bytes");
        /* hierarchical_*: the tightest limit of this cgroup and its parents */
        out->limit = v1_limit(run_cg_keyed(stat, "hierarchical_memory_limit"));
        int64_t memsw = v1_limit(run_cg_keyed(stat, "hierarchical_memsw_limit"));
        if (out->limit >= 0 && memsw >= 0)
            out->swap_limit = memsw - out->limit;
        int64_t swu = run_cg_read_int(d, "memory.memsw.usage_in_bytes");
        if (swu >= 0 && out->usage >= 0)
            out->swap_usage = swu > out->usage ? swu - out->usage : 0;
        out->shmem = run_cg_keyed(stat, "total_shmem");
        out->active_anon = run_cg_keyed(stat, "total_active_anon");
        out->inactive_anon = run_cg_keyed(stat, "total_inactive_anon");
        out->active_file = run_cg_keyed(stat, "total_active_file");
        out->inactive_file = run_cg_keyed(stat, "total_inactive_file");
    } else if (cg->v2_memory) {
        const char *d = cg->v2dir;
        cleanup_free char *stat = run_cg_read(d, "memory.stat");
        if (!stat)
            return error_errno(err, "read `%s/memory.stat`", d);
        out->usage = run_cg_read_int(d, "memory.current");
        /* v2 has no hierarchical total: walk up while the parent still has
         * the memory controller (the root has no memory.max) */
        cleanup_free char *p = xstrdup(d);
        out->limit = -1;
        int64_t swap = -1;
        bool swap_known = run_cg_exists(d, "memory.swap.max");
        for (;;) {
            if (!run_cg_exists(p, "memory.max"))
                break;
            out->limit = min_limit(out->limit, run_cg_read_int(p, "memory.max"));
            if (swap_known)
                swap = min_limit(swap, run_cg_read_int(p, "memory.swap.max"));
            char *slash = strrchr(p, '/');
            if (!slash || slash == p)
                break;
            *slash = '\0';
        }
        out->swap_limit = swap;
        out->swap_usage = run_cg_read_int(d, "memory.swap.current");
        out->shmem = run_cg_keyed(stat, "shmem");
        out->active_anon = run_cg_keyed(stat, "active_anon");
        out->inactive_anon = run_cg_keyed(stat, "inactive_anon");
        out->active_file = run_cg_keyed(stat, "active_file");
        out->inactive_file = run_cg_keyed(stat, "inactive_file");
        out->slab_reclaimable = run_cg_keyed(stat, "slab_reclaimable");
        out->slab_unreclaimable = run_cg_keyed(stat, "slab_unreclaimable");
    } else {
        return 0;
    }
    /* reclaimable: the page cache on the file LRUs (shmem lives on the
     * anon ones, so it is not counted) */
    if (out->active_file >= 0 || out->inactive_file >= 0)
        out->cache = (out->active_file > 0 ? out->active_file : 0) +
                     (out->inactive_file > 0 ? out->inactive_file : 0);
    return 0;
}

int run_cgroup_cpu_stats(struct run_cgroup *cg, struct run_cgroup_cpu_stats *out,
                         struct error *err)
{
    memset(out, 0, sizeof(*out));
    out->quota_us = out->period_us = -1;
    out->usage_ns = out->user_ns = out->system_ns = -1;
    if (cg->noop)
        return 0;
    if (cg->v1dir[RUN_CG_CPU]) {
        out->quota_us = run_cg_read_int(cg->v1dir[RUN_CG_CPU], "cpu.cfs_quota_us");
        out->period_us = run_cg_read_int(cg->v1dir[RUN_CG_CPU], "cpu.cfs_period_us");
        if (out->quota_us <= 0)
            out->quota_us = -1;
    } else if (cg->v2_cpu) {
        cleanup_free char *s = run_cg_read(cg->v2dir, "cpu.max");
        if (s && strncmp(s, "max", 3)) {
            long long q, p;
            if (sscanf(s, "%lld %lld", &q, &p) == 2) {
                out->quota_us = q;
                out->period_us = p;
            }
        } else if (s) {
            sscanf(s, "max %" SCNd64, &out->period_us);
        }
    }
    const char *cs = cg->v1dir[RUN_CG_CPUSET];
    cleanup_free char *cpus = NULL;
    if (cs) {
        cpus = run_cg_read(cs, "cpuset.effective_cpus");
        if (!cpus)
            cpus = run_cg_read(cs, "cpuset.cpus");
    } else if (cg->v2_cpuset) {
        cpus = run_cg_read(cg->v2dir, "cpuset.cpus.effective");
    }
    if (cpus) {
        cpus[strcspn(cpus, "\n")] = '\0';
        snprintf(out->cpuset, sizeof out->cpuset, "%s", cpus);
    }
    if (cg->v1dir[RUN_CG_CPUACCT]) {
        const char *d = cg->v1dir[RUN_CG_CPUACCT];
        out->usage_ns = run_cg_read_int(d, "cpuacct.usage");
        out->user_ns = run_cg_read_int(d, "cpuacct.usage_user");
        out->system_ns = run_cg_read_int(d, "cpuacct.usage_sys");
        if (out->user_ns < 0) {
            /* older kernels: only cpuacct.stat, in USER_HZ ticks */
            cleanup_free char *st = run_cg_read(d, "cpuacct.stat");
            long hz = sysconf(_SC_CLK_TCK);
            int64_t u = run_cg_keyed(st, "user"), s = run_cg_keyed(st, "system");
            if (u >= 0 && s >= 0 && hz > 0) {
                out->user_ns = u * (1000000000 / hz);
                out->system_ns = s * (1000000000 / hz);
            }
        }
    } else if (cg->v2dir) {
        /* cpu.stat is a core file: usage is known even without the cpu
         * controller (and in the hybrid tracking tree) */
        cleanup_free char *st = run_cg_read(cg->v2dir, "cpu.stat");
        int64_t u = run_cg_keyed(st, "usage_usec"), us = run_cg_keyed(st, "user_usec"),
                sy = run_cg_keyed(st, "system_usec");
        out->usage_ns = u >= 0 ? u * 1000 : -1;
        out->user_ns = us >= 0 ? us * 1000 : -1;
        out->system_ns = sy >= 0 ? sy * 1000 : -1;
    }
    (void)err;
    return 0;
}

int run_cgroup_tasks(struct run_cgroup *cg, bool threads, pid_t **pids, size_t *n,
                     struct error *err)
{
    *pids = NULL;
    *n = 0;
    if (cg->noop)
        return 0;
    const char *dir = cg->v1dir[RUN_CG_PIDS] ? cg->v1dir[RUN_CG_PIDS] : cg->v2dir;
    for (int c = 0; !dir && c < RUN_CG_NCTRL; c++)
        dir = cg->v1dir[c];
    if (!dir)
        return 0;
    bool v1 = dir != cg->v2dir;
    const char *file = !threads ? "cgroup.procs" : v1 ? "tasks" : "cgroup.threads";
    cleanup_free char *s = run_cg_read(dir, file);
    if (!s)
        return error_errno(err, "read `%s/%s`", dir, file);
    size_t cap = 16;
    pid_t *v = xmalloc(cap * sizeof(*v));
    for (char *p = s; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (*n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof(*v));
        v[(*n)++] = (pid_t)pid;
        p = end;
        while (*p == '\n')
            p++;
    }
    *pids = v;
    return 0;
}

static struct run_cgroup_io_stat *io_find(struct run_cgroup_io_stat **v, size_t *n,
                                          unsigned maj, unsigned min)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].major == maj && (*v)[i].minor == min)
            return &(*v)[i];
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    struct run_cgroup_io_stat *s = &(*v)[(*n)++];
    memset(s, 0, sizeof(*s));
    s->major = maj;
    s->minor = min;
    return s;
}

/* v1 "8:0 Read 4096" lines; ios=true for the io_serviced file. */
static void io_v1(const char *text, bool ios, struct run_cgroup_io_stat **v, size_t *n)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        unsigned maj, min;
        char op[16];
        unsigned long long val;
        if (sscanf(p, "%u:%u %15s %llu", &maj, &min, op, &val) != 4)
            continue;
        bool rd = !strcmp(op, "Read"), wr = !strcmp(op, "Write");
        if (!rd && !wr)
            continue;
        struct run_cgroup_io_stat *s = io_find(v, n, maj, min);
        if (ios)
            *(rd ? &s->read_ios : &s->write_ios) = val;
        else
            *(rd ? &s->read_bytes : &s->write_bytes) = val;
    }
}

int run_cgroup_io_stats(struct run_cgroup *cg, struct run_cgroup_io_stat **out, size_t *n,
                        struct error *err)
{
    *out = NULL;
    *n = 0;
    (void)err;
    if (cg->noop)
        return 0;
    if (cg->v1dir[RUN_CG_BLKIO]) {
        const char *d = cg->v1dir[RUN_CG_BLKIO];
        cleanup_free char *b = run_cg_read(d, "blkio.throttle.io_service_bytes_recursive");
        cleanup_free char *o = run_cg_read(d, "blkio.throttle.io_serviced_recursive");
        io_v1(b, false, out, n);
        io_v1(o, true, out, n);
        return 0;
    }
    if (!cg->v2_io)
        return 0;
    cleanup_free char *s = run_cg_read(cg->v2dir, "io.stat");
    for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        unsigned maj, min;
        unsigned long long rb, wb, ri, wi;
        if (sscanf(p, "%u:%u rbytes=%llu wbytes=%llu rios=%llu wios=%llu", &maj, &min, &rb,
                   &wb, &ri, &wi) != 6)
            continue;
        struct run_cgroup_io_stat *st = io_find(out, n, maj, min);
        st->read_bytes = rb;
        st->write_bytes = wb;
        st->read_ios = ri;
        st->write_ios = wi;
    }
    return 0;
}

/* FNV-1a: a stable spread of container ids over CPU windows. */
static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int run_cgroup_visible_cpus(const struct run_cgroup *cg, const struct run_cgroup_cpu_stats *st,
                            char *buf, size_t size)
{
    enum { NBITS = 1024 };
    uint64_t bits[NBITS / 64];
    int count = -1;
    if (st->cpuset[0])
        count = run_cg_cpulist_parse(st->cpuset, bits, NBITS);
    if (count <= 0) {
        cleanup_free char *online = run_cg_read("/sys/devices/system/cpu", "online");
        count = online ? run_cg_cpulist_parse(online, bits, NBITS) : -1;
    }
    if (count <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        count = n > 0 && n <= NBITS ? (int)n : 1;
        memset(bits, 0, sizeof bits);
        for (int i = 0; i < count; i++)
            bits[i / 64] |= 1ULL << (i % 64);
    }
    if (st->quota_us > 0 && st->period_us > 0) {
        int64_t want = (st->quota_us + st->period_us - 1) / st->period_us;
        if (want < 1)
            want = 1;
        if (want < count) {
            /* keep `want` consecutive members of the set, starting at the
             * id's slot and wrapping around */
            int cpus[NBITS], n = 0;
            for (int i = 0; i < NBITS; i++)
                if (bits[i / 64] & (1ULL << (i % 64)))
                    cpus[n++] = i;
            int start = cg && cg->id ? (int)(id_hash(cg->id) % (uint32_t)n) : 0;
            memset(bits, 0, sizeof bits);
            for (int k = 0; k < want; k++) {
                int c = cpus[(start + k) % n];
                bits[c / 64] |= 1ULL << (c % 64);
            }
            count = (int)want;
        }
    }
    run_cg_cpulist_format(bits, NBITS, buf, size);
    return count;
}
