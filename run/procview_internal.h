/* The /proc view's text renderers: pure functions from the host's file and
 * the container's cgroup numbers to the text the container reads.  Kept
 * apart from the FUSE plumbing so unit tests can feed them canned input.
 * Every function returns a malloc'd, NUL-terminated string. */
#ifndef STRATA_RUN_PROCVIEW_INTERNAL_H
#define STRATA_RUN_PROCVIEW_INTERNAL_H

#include <stdint.h>

#include "run/cgroup.h"

#define RUN_PV_NCPU 1024

/* MemTotal = min(limit, host), MemFree = total - usage, MemAvailable =
 * free + reclaimable cache, Swap from the swap limit; the host's text when
 * m->limit < 0. */
char *run_pv_meminfo(const char *host, const struct run_cgroup_memory_stats *m);
/* Keeps only the processor blocks whose number is in visible (NULL: all). */
char *run_pv_cpuinfo(const char *host, const uint64_t *visible);
/* cpuN lines of visible CPUs only; when the cgroup's user/system times are
 * known (>= 0, ns) they replace the host's, split evenly over the visible
 * CPUs, and idle is the rest of each CPU's time.  hz: USER_HZ. */
char *run_pv_stat(const char *host, const uint64_t *visible, int64_t user_ns,
                  int64_t system_ns, long hz);
char *run_pv_uptime(double uptime, double idle);
char *run_pv_loadavg(const double avg[3], int running, int total, long last_pid);
/* Host devices with the cgroup's counters (zeros for devices it has not
 * touched). */
char *run_pv_diskstats(const char *host, const struct run_cgroup_io_stat *io, size_t n);

struct sysinfo;
/* The container's sysinfo: host's si with memory from m (when limited),
 * uptime, loads and procs replaced; procs < 0 keeps the host's. */
void run_pv_sysinfo(struct sysinfo *si, const struct run_cgroup_memory_stats *m, double uptime,
                    const double load[3], int procs);

/* Exponential load average step every 5 s, as the kernel's calc_load. */
void run_pv_load_step(double avg[3], int active);

#endif
