/* Internals of run/cgroup*.c shared between its files and its unit tests:
 * the detected layout and the handle.  Not for other modules. */
#ifndef STRATA_RUN_CGROUP_INTERNAL_H
#define STRATA_RUN_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "run/cgroup.h"

/* The v1 controllers we join; on v2 CPUACCT folds into cpu, BLKIO is io and
 * FREEZER is the core cgroup.freeze. */
enum run_cg_ctrl {
    RUN_CG_MEMORY,
    RUN_CG_CPU,
    RUN_CG_CPUACCT,
    RUN_CG_CPUSET,
    RUN_CG_PIDS,
    RUN_CG_BLKIO,
    RUN_CG_FREEZER,
    RUN_CG_NCTRL,
};
extern const char *const run_cg_v1_names[RUN_CG_NCTRL];

struct run_cgroup_layout {
    enum run_cgroup_mode mode;
    char *root;              /* /sys/fs/cgroup or $STRATA_CGROUP_ROOT */
    char *unified;           /* the v2 mount (root on pure v2), NULL on pure v1 */
    char *v1[RUN_CG_NCTRL];  /* v1 hierarchy mount holding the controller */
    char *self_v2;           /* caller's v2 cgroup ("/user.slice/..."), from /proc/self/cgroup */
    char *self_v1[RUN_CG_NCTRL];
    /* the cgroup containers go under, the same path in every hierarchy
     * (podman's --cgroup-parent); NULL for the default placement.  Set
     * from $STRATA_CGROUP_PARENT by detect, replaced by an explicit one,
     * checked by run_cg_parent. */
    char *parent;
};

/* Detects the layout under root (NULL: $STRATA_CGROUP_ROOT or /sys/fs/cgroup)
 * with self_cgroup the text of /proc/self/cgroup (NULL: read it). */
int run_cg_layout_detect(const char *root, const char *self_cgroup,
                         struct run_cgroup_layout *out, struct error *err);
void run_cg_layout_free(struct run_cgroup_layout *l);

/* l->parent when well-formed (absolute, no `..`); NULL when unset, ""
 * (err filled) when malformed. */
const char *run_cg_parent(const struct run_cgroup_layout *l, struct error *err);
/* The directory new cgroups go under in the v2 tree: <root>/strata as root,
 * <delegated subtree>/strata rootless, <root><parent>/strata with a
 * parent (which must exist, and be writable when rootless: ENOENT or
 * EACCES naming it otherwise); NULL (err filled) when none. */
char *run_cg_v2_base(const struct run_cgroup_layout *l, bool rootless, struct error *err);
/* The same in v1 hierarchy c: <mount>/strata as root; rootless, under the
 * topmost ancestor of the caller's own cgroup there that the caller owns
 * (delegated by chown); under <mount><parent> with a parent (as for v2).  NULL (err filled, EACCES when
 * nothing is delegated) otherwise. */
char *run_cg_v1_base(const struct run_cgroup_layout *l, int c, bool rootless, struct error *err);

struct run_cgroup {
    char *id;
    enum run_cgroup_mode mode;
    bool noop;
    char *v1dir[RUN_CG_NCTRL]; /* the container's cgroup in each joined v1 hierarchy */
    char *v2dir;               /* the container's cgroup in the v2 tree */
    /* resources driven through v2 (controller enabled in v2dir) */
    bool v2_memory, v2_cpu, v2_cpuset, v2_pids, v2_io;
    char *desc;
    char *root;                /* the cgroup root, for rel; NULL when opened from dirs */
};

/* Tiny file helpers: dir + name, O_CLOEXEC, errors name the path. */
int run_cg_write(const char *dir, const char *file, const char *val, struct error *err);
/* Reads dir/file into a malloc'd string (trailing newline kept); NULL on failure. */
char *run_cg_read(const char *dir, const char *file);
/* A number or "max" (-1); -1 also when missing or unparsable. */
int64_t run_cg_read_int(const char *dir, const char *file);
/* Finds "key value" in a flat-keyed file's text; -1 when absent. */
int64_t run_cg_keyed(const char *text, const char *key);
bool run_cg_exists(const char *dir, const char *file);

/* Parses a cpu list ("0-3,6") into a bitmap of nbits; returns the count or
 * -1 on a malformed list. */
int run_cg_cpulist_parse(const char *list, uint64_t *bits, int nbits);
void run_cg_cpulist_format(const uint64_t *bits, int nbits, char *buf, size_t size);

#endif
