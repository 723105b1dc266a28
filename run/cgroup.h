/* One cgroup per container, on cgroup v2, v1 and the hybrid layout (v1
 * controllers under /sys/fs/cgroup/<ctrl> plus v2 at /sys/fs/cgroup/unified,
 * which crun refuses and we must not).  Each resource (memory, cpu, cpuset,
 * pids, io) is driven through the hierarchy that owns its controller: a v1
 * mount when there is one, else the v2 tree.  The cgroup root is
 * /sys/fs/cgroup unless STRATA_CGROUP_ROOT says otherwise (tests).
 *
 * Placement: root uses strata/<id> under every hierarchy it joins;
 * rootless (v2 and each v1 hierarchy alike) uses <delegated>/strata/<id>,
 * the delegated cgroup being the topmost ancestor of the caller's cgroup
 * that the caller owns (systemd's user@UID.service, or a cgroup an admin
 * chowned to the user).  A cgroup parent (podman's --cgroup-parent; by
 * default $STRATA_CGROUP_PARENT) puts containers under
 * <hierarchy>/path/strata instead: it must exist, writable by the caller
 * when rootless.  Other verbs find the cgroup again from the directories
 * recorded when it was made (run_cgroup_dirs, run_cgroup_open_dirs), not
 * by placing it again.
 * Only the hierarchies a limit needs are joined, plus the v2 tree as the
 * process tracker.  A limit that cannot be enforced is an error that says
 * so; rootless with no limits and nothing writable gives a no-op cgroup. */
#ifndef STRATA_RUN_CGROUP_H
#define STRATA_RUN_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* "No limit" for every int64_t field below. */
#define RUN_CGROUP_NONE ((int64_t)-1)
/* memory_swap only: docker's `--memory-swap -1`, swap unlimited. */
#define RUN_CGROUP_SWAP_UNLIMITED ((int64_t)-2)

struct run_cgroup_limits {
    int64_t memory;        /* bytes; RUN_CGROUP_NONE for none */
    /* docker semantics: memory + swap in bytes.  RUN_CGROUP_NONE (not given)
     * means docker's default of as much swap as memory (total 2 x memory);
     * RUN_CGROUP_SWAP_UNLIMITED lifts the swap limit; equal to memory means
     * no swap at all.  Needs memory. */
    int64_t memory_swap;
    int64_t cpu_quota_us;  /* RUN_CGROUP_NONE for none */
    int64_t cpu_period_us; /* 0 or RUN_CGROUP_NONE: the kernel default 100000 */
    int64_t pids_max;      /* RUN_CGROUP_NONE for none */
    const char *cpuset_cpus; /* "0-1,3" or NULL */
};

/* Every field "none". */
void run_cgroup_limits_init(struct run_cgroup_limits *lim);
bool run_cgroup_limits_any(const struct run_cgroup_limits *lim);
/* `--cpus 1.5` -> quota/period (period 100000, as docker). */
int run_cgroup_limits_set_cpus(struct run_cgroup_limits *lim, const char *cpus,
                               struct error *err);

enum run_cgroup_mode {
    RUN_CGROUP_MODE_NONE,   /* no cgroup filesystem found */
    RUN_CGROUP_MODE_V1,
    RUN_CGROUP_MODE_V2,
    RUN_CGROUP_MODE_HYBRID, /* v1 controllers + v2 tree at <root>/unified */
};
const char *run_cgroup_mode_name(enum run_cgroup_mode mode);
/* The layout of this machine (or of $STRATA_CGROUP_ROOT). */
int run_cgroup_detect_mode(enum run_cgroup_mode *mode, struct error *err);

struct run_cgroup;

/* Creates the container's cgroup(s) and applies lim (NULL = no limits),
 * under $STRATA_CGROUP_PARENT when set. */
int run_cgroup_create(const char *container_id, const struct run_cgroup_limits *lim,
                      struct run_cgroup **out, struct error *err);
/* The same under parent ("/path", the same in every hierarchy; NULL:
 * $STRATA_CGROUP_PARENT; "": the default placement).  With a parent the
 * container must get a cgroup under it: a parent that does not exist, or
 * is not the caller's to write when rootless, is an error naming it. */
int run_cgroup_create_in(const char *container_id, const char *parent,
                         const struct run_cgroup_limits *lim, struct run_cgroup **out,
                         struct error *err);
/* Moves pid (and, on v1, its whole thread group) into every hierarchy. */
int run_cgroup_add_pid(struct run_cgroup *cg, pid_t pid, struct error *err);
/* Finds an existing container's cgroup (for exec and the /proc view).
 * -ENOENT-style failure (err->code ENOENT) when it does not exist. */
int run_cgroup_open(const char *container_id, struct run_cgroup **out, struct error *err);
/* The same with parent as run_cgroup_create_in's (for containers recorded
 * with a parent but no directories). */
int run_cgroup_open_in(const char *container_id, const char *parent, struct run_cgroup **out,
                       struct error *err);

/* One directory of a container's cgroup: the v1 controller it serves
 * ("memory", "cpu", ...; comounted ones share a path) or "unified" for
 * the v2 tree. */
struct run_cgroup_dir {
    const char *hierarchy;
    const char *path;
};
#define RUN_CGROUP_MAX_DIRS 8
/* Fills out (RUN_CGROUP_MAX_DIRS entries, borrowed from cg) with the
 * cgroup's directories; none for a no-op cgroup.  Returns how many. */
size_t run_cgroup_dirs(const struct run_cgroup *cg, struct run_cgroup_dir *out);
/* Opens a cgroup from the directories run_cgroup_dirs gave when it was
 * made: no layout detection, placement rule or environment.  Each path
 * must end in /<container_id> (EINVAL otherwise: a damaged record must
 * not aim a kill at another cgroup); directories already gone are
 * skipped, and none left is ENOENT. */
int run_cgroup_open_dirs(const char *container_id, enum run_cgroup_mode mode,
                         const struct run_cgroup_dir *dirs, size_t n, struct run_cgroup **out,
                         struct error *err);
/* run_cgroup_mode_name's inverse; -1 when unknown. */
int run_cgroup_mode_parse(const char *name);
/* True when the kernel OOM-killed a process in the cgroup (v2
 * memory.events oom_kill; v1 memory.oom_control oom_kill). */
bool run_cgroup_oom_killed(struct run_cgroup *cg);
/* SIGKILLs everything left (cgroup.kill where the kernel has it, else a
 * freeze-and-kill loop), removes the directories and frees cg. */
int run_cgroup_destroy(struct run_cgroup *cg, struct error *err);
/* Frees the handle, leaves the cgroup alone.  NULL is fine. */
void run_cgroup_free(struct run_cgroup *cg);

enum run_cgroup_mode run_cgroup_get_mode(const struct run_cgroup *cg);
/* True for the rootless no-limits placeholder: add_pid does nothing, the
 * stats report "unknown" and the /proc view passes the host through. */
bool run_cgroup_is_noop(const struct run_cgroup *cg);
/* A human-readable location ("/sys/fs/cgroup/memory/strata/ID", or the v2
 * path) for `inspect` and error messages; "" for a no-op cgroup. */
const char *run_cgroup_path(const struct run_cgroup *cg);
/* run_cgroup_path below its hierarchy's mount ("/strata/ID"), as podman's
 * CgroupPath; "" for a no-op cgroup or one opened from directories. */
const char *run_cgroup_rel_path(const struct run_cgroup *cg);

/* ---- stats readers (for the /proc view and inspect) ----
 * Every value is -1 when unknown or unlimited. */
struct run_cgroup_memory_stats {
    int64_t limit;      /* effective: the tightest limit up the hierarchy */
    int64_t usage;      /* bytes charged, page cache included */
    int64_t cache;      /* reclaimable part of usage (inactive file etc.) */
    int64_t swap_limit; /* swap alone (memory+swap limit - limit) */
    int64_t swap_usage;
    int64_t shmem;
    int64_t active_anon, inactive_anon, active_file, inactive_file;
    int64_t slab_reclaimable, slab_unreclaimable; /* v2 only */
};
int run_cgroup_memory_stats(struct run_cgroup *cg, struct run_cgroup_memory_stats *out,
                            struct error *err);

struct run_cgroup_cpu_stats {
    int64_t quota_us, period_us; /* -1: no quota */
    char cpuset[256];            /* effective cpus ("0-1"), "" when unknown */
    int64_t usage_ns, user_ns, system_ns; /* cumulative, -1 unknown */
};
int run_cgroup_cpu_stats(struct run_cgroup *cg, struct run_cgroup_cpu_stats *out,
                         struct error *err);

/* The processes (threads=false) or threads in the cgroup, as a malloc'd
 * array; loadavg counts their states.  A no-op cgroup has none. */
int run_cgroup_tasks(struct run_cgroup *cg, bool threads, pid_t **pids, size_t *n,
                     struct error *err);

struct run_cgroup_io_stat {
    unsigned major, minor;
    uint64_t read_bytes, write_bytes, read_ios, write_ios;
};
/* Per-device io accounting (v2 io.stat, v1 blkio.throttle.*); *n = 0 when
 * the kernel keeps none. */
int run_cgroup_io_stats(struct run_cgroup *cg, struct run_cgroup_io_stat **out,
                        size_t *n, struct error *err);

/* The CPUs a container with these stats should see: its cpuset (or the
 * host's online CPUs) cut to ceil(quota/period) entries, a window whose
 * start is picked from the container id (so containers with small quotas
 * spread over the CPUs; cg may be NULL: the first ones).  Writes a list
 * like "0-1" and returns the count (>= 1).  run_cgroup_add_pid pins the
 * process to this set when it is narrower than the cpuset, so counters
 * based on sched_getaffinity (nproc, Go, .NET) agree with the /proc view;
 * the quota itself still applies. */
int run_cgroup_visible_cpus(const struct run_cgroup *cg, const struct run_cgroup_cpu_stats *st,
                            char *buf, size_t size);

#endif
