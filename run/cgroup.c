/* The container's cgroup: create with limits, join, find again, destroy.
 * Layout detection is in cgroup_layout.c, the stats readers in
 * cgroup_stats.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/cgroup_internal.h"

void run_cgroup_limits_init(struct run_cgroup_limits *lim)
{
    lim->memory = RUN_CGROUP_NONE;
    lim->memory_swap = RUN_CGROUP_NONE;
    lim->cpu_quota_us = RUN_CGROUP_NONE;
    lim->cpu_period_us = RUN_CGROUP_NONE;
    lim->pids_max = RUN_CGROUP_NONE;
    lim->cpuset_cpus = NULL;
}

bool run_cgroup_limits_any(const struct run_cgroup_limits *lim)
{
    return lim && (lim->memory >= 0 || lim->memory_swap >= 0 || lim->cpu_quota_us > 0 ||
                   lim->pids_max >= 0 || (lim->cpuset_cpus && *lim->cpuset_cpus));
}

int run_cgroup_limits_set_cpus(struct run_cgroup_limits *lim, const char *cpus,
                               struct error *err)
{
    char *end;
    errno = 0;
    double v = strtod(cpus, &end);
    if (errno || end == cpus || *end || !(v > 0) || v > 1e6)
        return error_set(err, EINVAL, "invalid cpu count `%s`", cpus);
    lim->cpu_period_us = 100000;
    lim->cpu_quota_us = (int64_t)(v * 100000.0 + 0.5);
    /* the kernel refuses quotas under 1ms */
    if (lim->cpu_quota_us < 1000)
        return error_set(err, EINVAL, "cpu count `%s` is below the minimum of 0.01", cpus);
    return 0;
}

enum run_cgroup_mode run_cgroup_get_mode(const struct run_cgroup *cg)
{
    return cg->mode;
}

bool run_cgroup_is_noop(const struct run_cgroup *cg)
{
    return cg->noop;
}

const char *run_cgroup_path(const struct run_cgroup *cg)
{
    return cg->desc ? cg->desc : "";
}

const char *run_cgroup_rel_path(const struct run_cgroup *cg)
{
    const char *d = cg->desc;
    size_t n = cg->root ? strlen(cg->root) : 0;
    if (!d || !n || strncmp(d, cg->root, n) || (d[n] && d[n] != '/'))
        return "";
    d += n;
    /* v1 and hybrid: every hierarchy (and the v2 tree) is mounted one
     * level below the root */
    if (cg->mode != RUN_CGROUP_MODE_V2 && *d)
        d = strchr(d + 1, '/');
    return d && *d ? d : "/";
}

size_t run_cgroup_dirs(const struct run_cgroup *cg, struct run_cgroup_dir *out)
{
    size_t n = 0;
    if (cg->noop)
        return 0;
    if (cg->v2dir)
        out[n++] = (struct run_cgroup_dir){"unified", cg->v2dir};
    for (int c = 0; c < RUN_CG_NCTRL; c++)
        if (cg->v1dir[c])
            out[n++] = (struct run_cgroup_dir){run_cg_v1_names[c], cg->v1dir[c]};
    return n;
}

int run_cgroup_mode_parse(const char *name)
{
    for (int m = RUN_CGROUP_MODE_NONE; m <= RUN_CGROUP_MODE_HYBRID; m++)
        if (name && !strcmp(name, run_cgroup_mode_name((enum run_cgroup_mode)m)))
            return m;
    return -1;
}

void run_cgroup_free(struct run_cgroup *cg)
{
    if (!cg)
        return;
    free(cg->id);
    free(cg->v2dir);
    free(cg->desc);
    free(cg->root);
    for (int i = 0; i < RUN_CG_NCTRL; i++)
        free(cg->v1dir[i]);
    free(cg);
}

static bool valid_id(const char *id)
{
    if (!id || !*id || strlen(id) > 128 || !strcmp(id, ".") || !strcmp(id, ".."))
        return false;
    for (const char *p = id; *p; p++)
        if (*p == '/' || *p == '\n' || (unsigned char)*p < 0x20)
            return false;
    return true;
}

static void set_desc(struct run_cgroup *cg)
{
    free(cg->desc);
    const char *first = cg->v1dir[RUN_CG_MEMORY] ? cg->v1dir[RUN_CG_MEMORY] : cg->v2dir;
    for (int i = 0; !first && i < RUN_CG_NCTRL; i++)
        first = cg->v1dir[i];
    cg->desc = first ? xstrdup(first) : NULL;
}

/* mkdir that tolerates an existing directory. */
static int mkdir_cg(const char *path, struct error *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return error_errno(err, "create cgroup `%s`", path);
    return 0;
}

/* v1 cpuset starts empty in a new cgroup and then refuses tasks: copy the
 * parent's cpus and mems down when unset. */
static int cpuset_inherit(const char *dir, const char *parent, struct error *err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        cleanup_free char *cur = run_cg_read(dir, files[i]);
        if (cur && *cur && *cur != '\n')
            continue;
        cleanup_free char *val = run_cg_read(parent, files[i]);
        if (!val || !*val || *val == '\n')
            return error_set(err, EINVAL, "parent cgroup `%s` has no %s to inherit", parent,
                             files[i]);
        if (run_cg_write(dir, files[i], val, err) < 0)
            return -1;
    }
    return 0;
}

/* Enables the v2 controllers we use in dir's children, one at a time so
 * one the kernel lacks does not block the rest. */
static void v2_enable(const char *dir)
{
    cleanup_free char *avail = run_cg_read(dir, "cgroup.controllers");
    cleanup_free char *on = run_cg_read(dir, "cgroup.subtree_control");
    static const char *const want[] = {"memory", "cpu", "cpuset", "pids", "io"};
    for (size_t i = 0; avail && i < ARRAY_SIZE(want); i++) {
        size_t n = strlen(want[i]);
        bool has = false, enabled = false;
        for (const char *p = avail; (p = strstr(p, want[i])); p += n)
            if ((p == avail || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
                has = true;
        for (const char *p = on ? on : ""; (p = strstr(p, want[i])); p += n)
            if ((p == on || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
                enabled = true;
        if (has && !enabled) {
            cleanup_free char *v = xasprintf("+%s", want[i]);
            struct error e;
            run_cg_write(dir, "cgroup.subtree_control", v, &e);
        }
    }
}

/* Which resources the v2 cgroup at cg->v2dir can control: a controller
 * enabled by the parent shows its files in the child. */
static void v2_probe(struct run_cgroup *cg)
{
    if (!cg->v2dir)
        return;
    cg->v2_memory = !cg->v1dir[RUN_CG_MEMORY] && run_cg_exists(cg->v2dir, "memory.max");
    cg->v2_cpu = !cg->v1dir[RUN_CG_CPU] && run_cg_exists(cg->v2dir, "cpu.max");
    cg->v2_cpuset = !cg->v1dir[RUN_CG_CPUSET] && run_cg_exists(cg->v2dir, "cpuset.cpus");
    cg->v2_pids = !cg->v1dir[RUN_CG_PIDS] && run_cg_exists(cg->v2dir, "pids.max");
    cg->v2_io = !cg->v1dir[RUN_CG_BLKIO] && run_cg_exists(cg->v2dir, "io.stat");
}

static const char *lim_name_memory = "memory limit (--memory)";

/* Fails plainly when a requested limit has no controller to enforce it. */
static int check_enforceable(const struct run_cgroup *cg, const struct run_cgroup_limits *lim,
                             struct error *err)
{
    const char *why = NULL;
    if (lim->memory >= 0 && !cg->v1dir[RUN_CG_MEMORY] && !cg->v2_memory)
        why = lim_name_memory;
    else if (lim->memory_swap >= 0 && !cg->v1dir[RUN_CG_MEMORY] && !cg->v2_memory)
        why = "memory+swap limit (--memory-swap)";
    else if (lim->cpu_quota_us > 0 && !cg->v1dir[RUN_CG_CPU] && !cg->v2_cpu)
        why = "cpu quota (--cpus)";
    else if (lim->pids_max >= 0 && !cg->v1dir[RUN_CG_PIDS] && !cg->v2_pids)
        why = "pids limit (--pids-limit)";
    else if (lim->cpuset_cpus && *lim->cpuset_cpus && !cg->v1dir[RUN_CG_CPUSET] &&
             !cg->v2_cpuset)
        why = "cpuset (--cpuset-cpus)";
    if (why)
        return error_set(err, EOPNOTSUPP, "cannot enforce the %s: no usable cgroup controller%s",
                         why, geteuid() ? " for this user" : "");
    return 0;
}

static int apply_memory(struct run_cgroup *cg, const struct run_cgroup_limits *lim,
                        struct error *err)
{
    if (lim->memory_swap >= 0 && lim->memory < 0)
        return error_set(err, EINVAL, "--memory-swap needs --memory");
    if (lim->memory_swap >= 0 && lim->memory_swap < lim->memory)
        return error_set(err, EINVAL,
                         "memory+swap limit %" PRId64 " is below the memory limit %" PRId64,
                         lim->memory_swap, lim->memory);
    if (lim->memory < 0)
        return 0;
    char buf[32];
    if (cg->v1dir[RUN_CG_MEMORY]) {
        const char *d = cg->v1dir[RUN_CG_MEMORY];
        snprintf(buf, sizeof buf, "%" PRId64, lim->memory);
        if (run_cg_write(d, "memory.limit_in_bytes", buf, err) < 0)
            return -1;
        bool memsw = run_cg_exists(d, "memory.memsw.limit_in_bytes");
        if (!memsw) {
            if (lim->memory_swap >= 0)
                return error_set(err, EOPNOTSUPP,
                                 "cannot enforce --memory-swap: the kernel has no swap "
                                 "accounting (`%s/memory.memsw.limit_in_bytes` is missing)",
                                 d);
            return 0;
        }
        int64_t total = lim->memory_swap == RUN_CGROUP_SWAP_UNLIMITED ? -1
                        : lim->memory_swap >= 0                       ? lim->memory_swap
                        : lim->memory > INT64_MAX / 2 ? -1 : 2 * lim->memory;
        snprintf(buf, sizeof buf, "%" PRId64, total);
        return run_cg_write(d, "memory.memsw.limit_in_bytes", buf, err);
    }
    snprintf(buf, sizeof buf, "%" PRId64, lim->memory);
    if (run_cg_write(cg->v2dir, "memory.max", buf, err) < 0)
        return -1;
    if (!run_cg_exists(cg->v2dir, "memory.swap.max")) {
        if (lim->memory_swap >= 0)
            return error_set(err, EOPNOTSUPP,
                             "cannot enforce --memory-swap: the kernel has no swap "
                             "accounting (`%s/memory.swap.max` is missing)",
                             cg->v2dir);
        return 0;
    }
    if (lim->memory_swap == RUN_CGROUP_SWAP_UNLIMITED)
        snprintf(buf, sizeof buf, "max");
    else
        snprintf(buf, sizeof buf, "%" PRId64,
                 lim->memory_swap >= 0 ? lim->memory_swap - lim->memory : lim->memory);
    return run_cg_write(cg->v2dir, "memory.swap.max", buf, err);
}

static int apply_limits(struct run_cgroup *cg, const struct run_cgroup_limits *lim,
                        struct error *err)
{
    char buf[64];
    if (check_enforceable(cg, lim, err) < 0 || apply_memory(cg, lim, err) < 0)
        return -1;
    if (lim->cpu_quota_us > 0) {
        int64_t period = lim->cpu_period_us > 0 ? lim->cpu_period_us : 100000;
        if (cg->v1dir[RUN_CG_CPU]) {
            snprintf(buf, sizeof buf, "%" PRId64, period);
            if (run_cg_write(cg->v1dir[RUN_CG_CPU], "cpu.cfs_period_us", buf, err) < 0)
                return -1;
            snprintf(buf, sizeof buf, "%" PRId64, lim->cpu_quota_us);
            if (run_cg_write(cg->v1dir[RUN_CG_CPU], "cpu.cfs_quota_us", buf, err) < 0)
                return -1;
        } else {
            snprintf(buf, sizeof buf, "%" PRId64 " %" PRId64, lim->cpu_quota_us, period);
            if (run_cg_write(cg->v2dir, "cpu.max", buf, err) < 0)
                return -1;
        }
    }
    if (lim->pids_max >= 0) {
        snprintf(buf, sizeof buf, "%" PRId64, lim->pids_max);
        const char *d = cg->v1dir[RUN_CG_PIDS] ? cg->v1dir[RUN_CG_PIDS] : cg->v2dir;
        if (run_cg_write(d, "pids.max", buf, err) < 0)
            return -1;
    }
    if (lim->cpuset_cpus && *lim->cpuset_cpus) {
        uint64_t bits[16];
        if (run_cg_cpulist_parse(lim->cpuset_cpus, bits, 1024) <= 0)
            return error_set(err, EINVAL, "invalid cpu list `%s`", lim->cpuset_cpus);
        const char *d = cg->v1dir[RUN_CG_CPUSET] ? cg->v1dir[RUN_CG_CPUSET] : cg->v2dir;
        if (run_cg_write(d, "cpuset.cpus", lim->cpuset_cpus, err) < 0)
            return error_prefix(err, "cannot use cpuset `%s`", lim->cpuset_cpus);
    }
    return 0;
}

/* <base>/<id> in one v1 hierarchy (base: run_cg_v1_base); cg->v1dir[c] set
 * on success, NULL and *denied (the reason in *why) when the hierarchy is
 * not ours to write (rootless without a delegated cgroup there). */
static int create_v1(struct run_cgroup *cg, const struct run_cgroup_layout *l, int c,
                     bool rootless, bool *denied, struct error *why, struct error *err)
{
    cleanup_free char *base = run_cg_v1_base(l, c, rootless, why);
    if (!base) {
        if (why->code == EACCES || why->code == EPERM || why->code == EROFS) {
            *denied = true;
            return 0;
        }
        *err = *why;
        return -1;
    }
    cleanup_free char *parent = xstrdup(base);
    *strrchr(parent, '/') = '\0';
    cleanup_free char *dir = xasprintf("%s/%s", base, cg->id);
    if (mkdir(base, 0755) < 0 && errno != EEXIST) {
        if (errno == EACCES || errno == EPERM || errno == EROFS) {
            error_errno(why, "create cgroup `%s`", base);
            *denied = true;
            return 0;
        }
        return error_errno(err, "create cgroup `%s`", base);
    }
    if (c == RUN_CG_CPUSET && cpuset_inherit(base, parent, err) < 0)
        return -1;
    if (mkdir(dir, 0755) < 0) {
        if (errno == EACCES || errno == EPERM || errno == EROFS) {
            error_errno(why, "create cgroup `%s`", dir);
            *denied = true;
            return 0;
        }
        if (errno != EEXIST)
            return error_errno(err, "create cgroup `%s`", dir);
    }
    cg->v1dir[c] = TAKE_PTR(dir);
    if (c == RUN_CG_CPUSET && cpuset_inherit(cg->v1dir[c], base, err) < 0)
        return -1;
    return 0;
}

static int create_v2(struct run_cgroup *cg, const struct run_cgroup_layout *l, bool rootless,
                     struct error *err)
{
    cleanup_free char *base = run_cg_v2_base(l, rootless, err);
    if (!base)
        return -1;
    char *slash = strrchr(base, '/');
    *slash = '\0';
    v2_enable(base);
    *slash = '/';
    if (mkdir_cg(base, err) < 0)
        return -1;
    v2_enable(base);
    cg->v2dir = xasprintf("%s/%s", base, cg->id);
    if (mkdir(cg->v2dir, 0755) < 0 && errno != EEXIST) {
        int e = errno;
        free(cg->v2dir);
        cg->v2dir = NULL;
        return error_code(err, e, "create cgroup `%s/%s`", base, cg->id);
    }
    return 0;
}

/* The v1 hierarchies a container with these limits joins (see create). */
static void cgroup_needed(const struct run_cgroup_layout *l, const struct run_cgroup_limits *lim,
                          bool need[RUN_CG_NCTRL])
{
    for (int c = 0; c < RUN_CG_NCTRL; c++)
        need[c] = false;
    need[RUN_CG_MEMORY] = lim->memory >= 0 || lim->memory_swap >= 0;
    need[RUN_CG_CPU] = lim->cpu_quota_us > 0;
    need[RUN_CG_CPUSET] = lim->cpuset_cpus && *lim->cpuset_cpus;
    need[RUN_CG_PIDS] = lim->pids_max >= 0 || !l->unified;
    /* cpu usage comes from cpu.stat in the v2 tree; without one, from
     * cpuacct, which is usually mounted with cpu anyway */
    need[RUN_CG_CPUACCT] = !l->unified && need[RUN_CG_CPU];
    for (int c = 0; c < RUN_CG_NCTRL; c++)
        need[c] = need[c] && l->v1[c];
}

/* What create and open share: a valid id, the detected layout with the
 * parent (NULL: $STRATA_CGROUP_PARENT's, "": none), a record. */
static struct run_cgroup *cgroup_new(const char *container_id, const char *parent,
                                     struct run_cgroup_layout *l, struct error *err)
{
    if (!valid_id(container_id)) {
        error_set(err, EINVAL, "invalid container id `%s` for a cgroup name",
                  container_id ? container_id : "");
        return NULL;
    }
    if (run_cg_layout_detect(NULL, NULL, l, err) < 0)
        return NULL;
    if (parent) {
        free(l->parent);
        l->parent = *parent ? xstrdup(parent) : NULL;
    }
    struct run_cgroup *cg = xzalloc(sizeof(*cg));
    cg->id = xstrdup(container_id);
    cg->mode = l->mode;
    cg->root = xstrdup(l->root);
    return cg;
}

int run_cgroup_create(const char *container_id, const struct run_cgroup_limits *lim,
                      struct run_cgroup **out, struct error *err)
{
    return run_cgroup_create_in(container_id, NULL, lim, out, err);
}

int run_cgroup_create_in(const char *container_id, const char *parent,
                         const struct run_cgroup_limits *lim, struct run_cgroup **out,
                         struct error *err)
{
    struct run_cgroup_limits none;
    if (!lim) {
        run_cgroup_limits_init(&none);
        lim = &none;
    }
    struct run_cgroup_layout l;
    struct run_cgroup *cg = cgroup_new(container_id, parent, &l, err);
    if (!cg)
        return -1;
    bool rootless = geteuid() != 0;
    bool want = run_cgroup_limits_any(lim);
    int r = 0;

    if (l.mode == RUN_CGROUP_MODE_NONE) {
        if (want || l.parent) {
            r = error_set(err, EOPNOTSUPP,
                          "cannot %s: no cgroup filesystem at `%s`",
                          want ? "enforce resource limits" : "use a cgroup parent", l.root);
            goto fail;
        }
        cg->noop = true;
        goto done;
    }

    /* Each cgroup.procs write on v1 waits for an RCU grace period
     * (milliseconds), so the container joins only the hierarchies that
     * carry one of its limits; the v2 tree (hybrid) is the tracker that
     * lists every process for kill (cgroup.kill), stop and the load
     * average, and gives cpu usage (cpu.stat) without cpuacct.  Without a
     * v2 tree, pids is the tracker. */
    bool need[RUN_CG_NCTRL];
    cgroup_needed(&l, lim, need);
    bool denied = false;
    struct error why = {0};
    for (int c = 0; c < RUN_CG_NCTRL && !denied; c++) {
        if (need[c] && create_v1(cg, &l, c, rootless, &denied, &why, err) < 0) {
            r = -1;
            goto fail;
        }
    }
    if (denied) {
        /* rootless on v1: the hierarchies are root's.  Half-joined is worse
         * than none, so drop what was made. */
        for (int c = 0; c < RUN_CG_NCTRL; c++) {
            if (cg->v1dir[c])
                rmdir(cg->v1dir[c]);
            free(cg->v1dir[c]);
            cg->v1dir[c] = NULL;
        }
    }
    struct error e2 = {0};
    if (l.unified) {
        if (create_v2(cg, &l, rootless, &e2) < 0) {
            bool v2_needed = l.mode == RUN_CGROUP_MODE_V2;
            if (v2_needed && want) {
                *err = e2;
                r = error_prefix(err, "cannot enforce resource limits");
                goto fail;
            }
            /* hybrid: the v2 tree only tracks processes; rootless v2 with
             * no limits: no cgroup of our own is fine */
        }
    }
    v2_probe(cg);
    if (denied && want) {
        const char *what = lim->memory >= 0         ? "--memory"
                           : lim->memory_swap >= 0  ? "--memory-swap"
                           : lim->cpu_quota_us > 0  ? "--cpus"
                           : lim->pids_max >= 0     ? "--pids-limit"
                                                    : "--cpuset-cpus";
        r = error_set(err, EPERM, "cannot enforce %s without a delegated cgroup: %s", what,
                      why.msg);
        goto fail;
    }
    bool any = cg->v2dir != NULL;
    for (int c = 0; c < RUN_CG_NCTRL; c++)
        any |= cg->v1dir[c] != NULL;
    /* a parent that the v2 tree cannot take (hybrid: delegated in v1
     * only, as an admin's chown often is): the first v1 hierarchy where it
     * is usable tracks the container instead */
    static const int track[] = {RUN_CG_PIDS,    RUN_CG_MEMORY,  RUN_CG_CPU,   RUN_CG_CPUACCT,
                                RUN_CG_BLKIO,   RUN_CG_FREEZER, RUN_CG_CPUSET};
    for (size_t i = 0; !any && l.parent && i < ARRAY_SIZE(track); i++) {
        bool no = false;
        struct error w = {0}, e3 = {0};
        if (l.v1[track[i]] && create_v1(cg, &l, track[i], rootless, &no, &w, &e3) == 0)
            any = cg->v1dir[track[i]] != NULL;
    }
    if (!any && l.parent) {
        /* a parent was asked for: running outside it would be silent */
        *err = denied || !e2.msg[0] ? why : e2;
        if (!err->msg[0])
            error_set(err, ENOENT, "no cgroup hierarchy at `%s`", l.root);
        r = error_prefix(err, "cannot place the container under cgroup parent `%s`", l.parent);
        goto fail;
    }
    if (apply_limits(cg, lim, err) < 0) {
        r = -1;
        goto fail;
    }
    cg->noop = !any;
done:
    set_desc(cg);
    run_cg_layout_free(&l);
    *out = cg;
    return 0;
fail:
    run_cg_layout_free(&l);
    {
        struct error ignored;
        run_cgroup_destroy(cg, &ignored);
    }
    return r < 0 ? r : -1;
}

/* The end of both ways of opening an existing container's cgroup: found
 * in at least one hierarchy, or an error naming the container. */
static int opened(struct run_cgroup *cg, bool any, struct run_cgroup **out, struct error *err)
{
    if (!any) {
        error_set(err, ENOENT, "no cgroup for container `%s`", cg->id);
        run_cgroup_free(cg);
        return -1;
    }
    v2_probe(cg);
    set_desc(cg);
    *out = cg;
    return 0;
}

int run_cgroup_open(const char *container_id, struct run_cgroup **out, struct error *err)
{
    return run_cgroup_open_in(container_id, NULL, out, err);
}

int run_cgroup_open_in(const char *container_id, const char *parent, struct run_cgroup **out,
                       struct error *err)
{
    struct run_cgroup_layout l;
    struct run_cgroup *cg = cgroup_new(container_id, parent, &l, err);
    if (!cg)
        return -1;
    bool any = false;
    struct stat st;
    for (int c = 0; c < RUN_CG_NCTRL; c++) {
        if (!l.v1[c])
            continue;
        struct error e;
        cleanup_free char *base = run_cg_v1_base(&l, c, geteuid() != 0, &e);
        if (!base)
            continue;
        char *dir = xasprintf("%s/%s", base, container_id);
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
            cg->v1dir[c] = dir;
            any = true;
        } else {
            free(dir);
        }
    }
    if (l.unified) {
        struct error e;
        cleanup_free char *base = run_cg_v2_base(&l, geteuid() != 0, &e);
        if (base) {
            char *dir = xasprintf("%s/%s", base, container_id);
            if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
                cg->v2dir = dir;
                any = true;
            } else {
                free(dir);
            }
        }
    }
    run_cg_layout_free(&l);
    return opened(cg, any, out, err);
}

/* A recorded directory: absolute, no `.` or `..` step, named after the
 * container, so a damaged state file cannot aim a kill or an rmdir at
 * some other cgroup. */
static bool recorded_dir_ok(const char *dir, const char *id)
{
    size_t n = strlen(dir), k = strlen(id);
    if (dir[0] != '/' || strstr(dir, "/./") || strstr(dir, "/../") || strchr(dir, '\n'))
        return false;
    return n > k + 1 && dir[n - k - 1] == '/' && !strcmp(dir + n - k, id);
}

int run_cgroup_open_dirs(const char *container_id, enum run_cgroup_mode mode,
                         const struct run_cgroup_dir *dirs, size_t n, struct run_cgroup **out,
                         struct error *err)
{
    if (!valid_id(container_id))
        return error_set(err, EINVAL, "invalid container id `%s` for a cgroup name",
                         container_id ? container_id : "");
    struct run_cgroup *cg = xzalloc(sizeof(*cg));
    cg->id = xstrdup(container_id);
    cg->mode = mode;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (!dirs[i].hierarchy || !dirs[i].path)
            continue;
        if (!recorded_dir_ok(dirs[i].path, container_id)) {
            run_cgroup_free(cg);
            return error_set(err, EINVAL, "recorded cgroup `%s` is not container `%s`'s",
                             dirs[i].path, container_id);
        }
        struct stat st;
        if (stat(dirs[i].path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue; /* removed already (the owner's teardown) */
        char **slot = NULL;
        if (!strcmp(dirs[i].hierarchy, "unified"))
            slot = &cg->v2dir;
        for (int c = 0; !slot && c < RUN_CG_NCTRL; c++)
            if (!strcmp(dirs[i].hierarchy, run_cg_v1_names[c]))
                slot = &cg->v1dir[c];
        if (!slot || *slot)
            continue;
        *slot = xstrdup(dirs[i].path);
        any = true;
    }
    return opened(cg, any, out, err);
}

/* A quota below the cpuset's size: pin to the CPUs the /proc view shows
 * (after joining, since joining a cpuset resets the affinity). */
static int pin_cpus(struct run_cgroup *cg, pid_t pid, struct error *err)
{
    struct run_cgroup_cpu_stats st;
    if (run_cgroup_cpu_stats(cg, &st, err) < 0)
        return -1;
    if (st.quota_us <= 0)
        return 0;
    char list[4096], whole[4096];
    int n = run_cgroup_visible_cpus(cg, &st, list, sizeof list);
    struct run_cgroup_cpu_stats unlimited = st;
    unlimited.quota_us = -1;
    if (n >= run_cgroup_visible_cpus(cg, &unlimited, whole, sizeof whole))
        return 0;
    uint64_t bits[16];
    run_cg_cpulist_parse(list, bits, 1024);
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < 1024 && i < CPU_SETSIZE; i++)
        if (bits[i / 64] & (1ULL << (i % 64)))
            CPU_SET(i, &set);
    if (sched_setaffinity(pid, sizeof set, &set) < 0)
        return error_errno(err, "pin pid %d to cpus %s", (int)pid, list);
    return 0;
}

/* "cpu,cpuacct": one directory serves two controllers; join it once. */
static bool comounted_before(const struct run_cgroup *cg, int c)
{
    for (int i = 0; i < c; i++)
        if (cg->v1dir[i] && !strcmp(cg->v1dir[i], cg->v1dir[c]))
            return true;
    return false;
}

int run_cgroup_add_pid(struct run_cgroup *cg, pid_t pid, struct error *err)
{
    if (cg->noop)
        return 0;
    char buf[32];
    snprintf(buf, sizeof buf, "%d", (int)pid);
    /* the v2 tree first: in hybrid mode it is only bookkeeping, but it is
     * what cgroup.kill and the container's cgroup namespace see */
    if (cg->v2dir && run_cg_write(cg->v2dir, "cgroup.procs", buf, err) < 0) {
        if (cg->mode != RUN_CGROUP_MODE_HYBRID || cg->v2_memory || cg->v2_cpu || cg->v2_pids)
            return -1;
        /* hybrid, rootless: a v2 tracker we made but may not move into (the
         * common ancestor is root's); an empty tracker would hide the
         * container from kill, so drop it and track through v1 */
        rmdir(cg->v2dir);
        free(cg->v2dir);
        cg->v2dir = NULL;
        cg->v2_io = cg->v2_cpuset = false;
        set_desc(cg);
    }
    for (int c = 0; c < RUN_CG_NCTRL; c++) {
        if (!cg->v1dir[c] || comounted_before(cg, c))
            continue;
        if (run_cg_write(cg->v1dir[c], "cgroup.procs", buf, err) < 0)
            return -1;
    }
    return pin_cpus(cg, pid, err);
}

bool run_cgroup_oom_killed(struct run_cgroup *cg)
{
    if (cg->noop)
        return false;
    if (cg->v1dir[RUN_CG_MEMORY]) {
        cleanup_free char *s = run_cg_read(cg->v1dir[RUN_CG_MEMORY], "memory.oom_control");
        return run_cg_keyed(s, "oom_kill") > 0;
    }
    if (cg->v2_memory) {
        cleanup_free char *s = run_cg_read(cg->v2dir, "memory.events");
        return run_cg_keyed(s, "oom_kill") > 0;
    }
    return false;
}

/* A directory whose cgroup.procs lists every process of the container. */
static const char *procs_dir(const struct run_cgroup *cg)
{
    if (cg->v2dir)
        return cg->v2dir;
    for (int c = 0; c < RUN_CG_NCTRL; c++)
        if (cg->v1dir[c])
            return cg->v1dir[c];
    return NULL;
}

static bool cg_empty(const char *dir)
{
    cleanup_free char *s = run_cg_read(dir, "cgroup.procs");
    return !s || !*s;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* SIGKILL to everything: cgroup.kill where available, else freeze the v1
 * freezer (so nothing forks behind our back), kill each pid, thaw. */
static void kill_all(struct run_cgroup *cg)
{
    const char *dir = procs_dir(cg);
    if (!dir || cg_empty(dir))
        return;
    struct error e;
    if (cg->v2dir && run_cg_exists(cg->v2dir, "cgroup.kill") &&
        run_cg_write(cg->v2dir, "cgroup.kill", "1", &e) == 0)
        return;
    const char *fz = cg->v1dir[RUN_CG_FREEZER];
    for (int round = 0; round < 50 && !cg_empty(dir); round++) {
        if (fz)
            run_cg_write(fz, "freezer.state", "FROZEN", &e);
        cleanup_free char *s = run_cg_read(dir, "cgroup.procs");
        for (char *p = s; p && *p;) {
            char *end;
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 0)
                kill((pid_t)pid, SIGKILL);
            p = end;
            while (*p == '\n')
                p++;
        }
        if (fz)
            run_cg_write(fz, "freezer.state", "THAWED", &e);
        sleep_ms(1);
    }
}

/* rmdir retrying while the last killed tasks leave (EBUSY). */
static int rmdir_cg(const char *dir, struct error *err)
{
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            break;
        sleep_ms(i < 20 ? 1 : 10);
    }
    return error_errno(err, "remove cgroup `%s`", dir);
}

int run_cgroup_destroy(struct run_cgroup *cg, struct error *err)
{
    if (!cg)
        return 0;
    int r = 0;
    if (!cg->noop) {
        kill_all(cg);
        const char *dir = procs_dir(cg);
        for (int i = 0; dir && i < 2000 && !cg_empty(dir); i++)
            sleep_ms(1);
        if (cg->v2dir && rmdir_cg(cg->v2dir, err) < 0)
            r = -1;
        for (int c = 0; c < RUN_CG_NCTRL; c++) {
            if (!cg->v1dir[c])
                continue;
            /* comounted controllers share one directory: the second rmdir
             * sees ENOENT, which rmdir_cg accepts */
            struct error e;
            if (rmdir_cg(cg->v1dir[c], r < 0 ? &e : err) < 0)
                r = -1;
        }
    }
    run_cgroup_free(cg);
    return r;
}
