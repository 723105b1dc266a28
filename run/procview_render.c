/* Text of the /proc view's files (see procview_internal.h).  Lines we do
 * not compute are passed through from the host, so fields added by newer
 * kernels keep working. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "common/xalloc.h"
#include "run/procview_internal.h"

/* open_memstream buffer: a FILE that ends up as one malloc'd string. */
struct sbuf {
    FILE *f;
    char *buf;
    size_t len;
};

static void sb_open(struct sbuf *s)
{
    s->buf = NULL;
    s->f = open_memstream(&s->buf, &s->len);
    if (!s->f)
        abort(); /* allocation failure, as xmalloc */
}

static char *sb_take(struct sbuf *s)
{
    if (fclose(s->f) != 0)
        abort();
    return s->buf;
}

static bool cpu_in(const uint64_t *set, long cpu)
{
    return !set || (cpu >= 0 && cpu < RUN_PV_NCPU && (set[cpu / 64] & (1ULL << (cpu % 64))));
}

/* "Key:   123 kB" -> 123 (kB) for key, -1 when absent. */
static int64_t meminfo_kb(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, klen) && p[klen] == ':')
            return strtoll(p + klen + 1, NULL, 10);
    return -1;
}

static int64_t kb(int64_t bytes)
{
    return bytes < 0 ? 0 : bytes / 1024;
}

char *run_pv_meminfo(const char *host, const struct run_cgroup_memory_stats *m)
{
    if (m->limit < 0)
        return xstrdup(host);
    int64_t host_total = meminfo_kb(host, "MemTotal");
    int64_t total = kb(m->limit);
    if (host_total > 0 && host_total < total)
        total = host_total;
    int64_t used = kb(m->usage);
    int64_t free_ = total > used ? total - used : 0;
    int64_t cache = kb(m->cache);
    /* slab the cgroup is charged for (v2); the host's would make tools
     * that subtract it from a small total (free: used = total - free -
     * Cached - SReclaimable) go negative */
    int64_t sr = kb(m->slab_reclaimable), su = kb(m->slab_unreclaimable);
    int64_t avail = free_ + cache + sr < total ? free_ + cache + sr : total;
    int64_t host_swap = meminfo_kb(host, "SwapTotal");
    int64_t swap = host_swap < 0 ? 0 : host_swap;
    if (m->swap_limit >= 0 && kb(m->swap_limit) < swap)
        swap = kb(m->swap_limit);
    int64_t swap_used = kb(m->swap_usage);
    int64_t swap_free = swap > swap_used ? swap - swap_used : 0;

    struct {
        const char *key;
        int64_t val; /* -1: keep the host's line */
    } over[] = {
        {"MemTotal", total},
        {"MemFree", free_},
        {"MemAvailable", avail},
        {"Buffers", 0},
        {"Cached", cache},
        {"SwapCached", 0},
        {"Active", m->active_anon >= 0 ? kb(m->active_anon) + kb(m->active_file) : -1},
        {"Inactive", m->inactive_anon >= 0 ? kb(m->inactive_anon) + kb(m->inactive_file) : -1},
        {"Active(anon)", m->active_anon >= 0 ? kb(m->active_anon) : -1},
        {"Inactive(anon)", m->inactive_anon >= 0 ? kb(m->inactive_anon) : -1},
        {"Active(file)", m->active_file >= 0 ? kb(m->active_file) : -1},
        {"Inactive(file)", m->inactive_file >= 0 ? kb(m->inactive_file) : -1},
        {"SwapTotal", swap},
        {"SwapFree", m->swap_usage >= 0 || m->swap_limit >= 0 ? swap_free : -1},
        {"Shmem", m->shmem >= 0 ? kb(m->shmem) : -1},
        {"AnonPages", m->active_anon >= 0 ? kb(m->active_anon) + kb(m->inactive_anon) : -1},
        {"Slab", sr + su},
        {"SReclaimable", sr},
        {"SUnreclaim", su},
        {"KReclaimable", sr},
    };
    struct sbuf sb;
    sb_open(&sb);
    for (const char *p = host; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        bool done = false;
        for (size_t i = 0; colon && i < sizeof over / sizeof over[0]; i++) {
            size_t klen = strlen(over[i].key);
            if (over[i].val >= 0 && (size_t)(colon - p) == klen && !strncmp(p, over[i].key, klen)) {
                char key[32];
                snprintf(key, sizeof key, "%s:", over[i].key);
                fprintf(sb.f, "%-15s %8" PRId64 " kB\n", key, over[i].val);
                done = true;
                break;
            }
        }
        if (!done)
            fprintf(sb.f, "%.*s\n", (int)len, p);
        p += len + (nl ? 1 : 0);
    }
    return sb_take(&sb);
}

char *run_pv_cpuinfo(const char *host, const uint64_t *visible)
{
    if (!visible)
        return xstrdup(host);
    struct sbuf sb;
    sb_open(&sb);
    /* blocks separated by blank lines, each starting "processor\t: N" */
    for (const char *p = host; *p;) {
        const char *end = strstr(p, "\n\n");
        size_t len = end ? (size_t)(end - p) + 2 : strlen(p);
        long cpu = -1;
        if (!strncmp(p, "processor", 9)) {
            const char *c = memchr(p, ':', len);
            if (c)
                cpu = strtol(c + 1, NULL, 10);
        }
        if (cpu < 0 || cpu_in(visible, cpu))
            fwrite(p, 1, len, sb.f);
        p += len;
    }
    return sb_take(&sb);
}

char *run_pv_stat(const char *host, const uint64_t *visible, int64_t user_ns,
                  int64_t system_ns, long hz)
{
    if (!visible)
        return xstrdup(host);
    bool usage = user_ns >= 0 && system_ns >= 0 && hz > 0;
    int nvis = 0;
    for (long i = 0; i < RUN_PV_NCPU; i++)
        nvis += cpu_in(visible, i);
    if (nvis == 0)
        nvis = 1;
    uint64_t user_t = usage ? (uint64_t)user_ns / (uint64_t)(1000000000 / hz) : 0;
    uint64_t sys_t = usage ? (uint64_t)system_ns / (uint64_t)(1000000000 / hz) : 0;

    /* first pass: the visible cpuN lines, rewritten; the aggregate "cpu"
     * line is their sum, so it is printed once they are known */
    struct sbuf lines;
    sb_open(&lines);
    uint64_t agg[10] = {0};
    int idx = 0;
    for (const char *p = host; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!strncmp(p, "cpu", 3) && p[3] >= '0' && p[3] <= '9') {
            char *e;
            long cpu = strtol(p + 3, &e, 10);
            if (cpu_in(visible, cpu)) {
                uint64_t f[10] = {0};
                const char *q = e;
                for (int i = 0; i < 10; i++) {
                    char *qe;
                    f[i] = strtoull(q, &qe, 10);
                    q = qe;
                }
                if (usage) {
                    uint64_t total = 0;
                    for (int i = 0; i < 8; i++) /* guest time is inside user */
                        total += f[i];
                    uint64_t u = user_t / (uint64_t)nvis + (idx < (int)(user_t % (uint64_t)nvis));
                    uint64_t s = sys_t / (uint64_t)nvis + (idx < (int)(sys_t % (uint64_t)nvis));
                    memset(f, 0, sizeof f);
                    f[0] = u;
                    f[2] = s;
                    f[3] = total > u + s ? total - u - s : 0;
                }
                fprintf(lines.f, "cpu%ld", cpu);
                for (int i = 0; i < 10; i++) {
                    fprintf(lines.f, " %" PRIu64, f[i]);
                    agg[i] += f[i];
                }
                fputc('\n', lines.f);
                idx++;
            }
        }
        p += len + (nl ? 1 : 0);
    }
    char *cpus = sb_take(&lines);

    struct sbuf sb;
    sb_open(&sb);
    for (const char *p = host; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!strncmp(p, "cpu ", 4)) {
            fputs("cpu ", sb.f);
            for (int i = 0; i < 10; i++)
                fprintf(sb.f, " %" PRIu64, agg[i]);
            fputc('\n', sb.f);
            fputs(cpus, sb.f);
        } else if (strncmp(p, "cpu", 3)) {
            fprintf(sb.f, "%.*s\n", (int)len, p);
        }
        p += len + (nl ? 1 : 0);
    }
    free(cpus);
    return sb_take(&sb);
}

char *run_pv_uptime(double uptime, double idle)
{
    return xasprintf("%.2f %.2f\n", uptime < 0 ? 0 : uptime, idle < 0 ? 0 : idle);
}

char *run_pv_loadavg(const double avg[3], int running, int total, long last_pid)
{
    return xasprintf("%.2f %.2f %.2f %d/%d %ld\n", avg[0], avg[1], avg[2], running, total,
                     last_pid);
}

void run_pv_load_step(double avg[3], int active)
{
    /* exp(-5s/1min), exp(-5s/5min), exp(-5s/15min): the kernel's EXP_n */
    static const double e[3] = {0.920044414629323, 0.983471453821617, 0.994459848085540};
    for (int i = 0; i < 3; i++)
        avg[i] = avg[i] * e[i] + active * (1.0 - e[i]);
}

char *run_pv_diskstats(const char *host, const struct run_cgroup_io_stat *io, size_t n)
{
    struct sbuf sb;
    sb_open(&sb);
    for (const char *p = host; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        unsigned maj, min;
        char name[64];
        if (sscanf(p, "%u %u %63s", &maj, &min, name) == 3) {
            uint64_t rb = 0, wb = 0, ri = 0, wi = 0;
            for (size_t i = 0; i < n; i++) {
                if (io[i].major == maj && io[i].minor == min) {
                    rb = io[i].read_bytes;
                    wb = io[i].write_bytes;
                    ri = io[i].read_ios;
                    wi = io[i].write_ios;
                }
            }
            /* reads merged sectors ms, writes merged sectors ms, in-flight
             * io_ms weighted_ms, then discard (4) and flush (2) fields */
            fprintf(sb.f,
                    "%4u %7u %s %" PRIu64 " 0 %" PRIu64 " 0 %" PRIu64 " 0 %" PRIu64
                    " 0 0 0 0 0 0 0 0 0 0\n",
                    maj, min, name, ri, rb / 512, wi, wb / 512);
        }
        p += len + (nl ? 1 : 0);
    }
    return sb_take(&sb);
}

void run_pv_sysinfo(struct sysinfo *si, const struct run_cgroup_memory_stats *m, double uptime,
                    const double load[3], int procs)
{
    uint64_t unit = si->mem_unit ? si->mem_unit : 1;
    uint64_t host_ram = (uint64_t)si->totalram * unit, host_swap = (uint64_t)si->totalswap * unit;
    si->uptime = (long)(uptime < 0 ? 0 : uptime);
    if (load) {
        for (int i = 0; i < 3; i++)
            si->loads[i] = (unsigned long)(load[i] * 65536.0); /* SI_LOAD_SHIFT */
    }
    if (procs >= 0)
        si->procs = (unsigned short)(procs > 65535 ? 65535 : procs);
    if (m->limit < 0)
        return;
    /* bytes from here on, as the limits are */
    uint64_t total = (uint64_t)m->limit < host_ram ? (uint64_t)m->limit : host_ram;
    uint64_t used = m->usage > 0 ? (uint64_t)m->usage : 0;
    uint64_t swap = host_swap;
    if (m->swap_limit >= 0 && (uint64_t)m->swap_limit < swap)
        swap = (uint64_t)m->swap_limit;
    uint64_t swap_used = m->swap_usage > 0 ? (uint64_t)m->swap_usage : 0;
    si->mem_unit = 1;
    si->totalram = total;
    si->freeram = total > used ? total - used : 0;
    si->sharedram = m->shmem > 0 ? (uint64_t)m->shmem : 0;
    si->bufferram = 0;
    si->totalswap = swap;
    si->freeswap = swap > swap_used ? swap - swap_used : 0;
    si->totalhigh = si->freehigh = 0;
}
