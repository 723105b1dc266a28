/* Canned cgroup trees for unit tests: files written under a scratch
 * directory that the runtime is pointed at (STRATA_CGROUP_ROOT), so the
 * whole create/join/read path runs without a real cgroup of that kind
 * (this hybrid host binds every controller to v1: no real v2 cgroup can
 * carry a limit).  Shared by the cgroup and /proc view tests. */
#ifndef STRATA_TESTS_UNIT_CGTREE_H
#define STRATA_TESTS_UNIT_CGTREE_H

#include <stdbool.h>

/* Makes the scratch directory (once); false if it cannot. */
bool cgt_init(void);
/* Its path. */
const char *cgt_dir(void);
/* Removes it and everything in it. */
void cgt_cleanup(void);
/* Writes text to <scratch>/rel, making the directories. */
void cgt_put(const char *rel, const char *text);
/* <scratch>/rel, malloc'd. */
char *cgt_at(const char *rel);
/* The first line of <scratch>/rel (malloc'd), "(missing)" if unreadable. */
char *cgt_first_line(const char *rel);

/* A pure v2 tree at <scratch>/root with the cpuset, cpu, io, memory and
 * pids controllers, a `strata` parent and, for container id, the files
 * create writes (empty) and canned accounting: memory.current 100 MiB,
 * memory.swap.current 4096, memory.stat with 23.7 MiB of file LRUs
 * (active_file 4857600 + inactive_file 20000000; `file` 44857600 holds
 * shmem 20000000), memory.events oom_kill 1, cpuset.cpus.effective
 * `cpus`, cpu.stat usage 7000 us (user 4000, system 3000). */
void cgt_v2(const char *root, const char *id, const char *cpus);

/* Points the runtime at <scratch>/root (STRATA_CGROUP_ROOT); a caller who
 * is not root names the tree's root as its delegated parent (root needs
 * none, and must show it needs none).  cgt_unuse undoes both. */
void cgt_use(const char *root);
void cgt_unuse(void);

#endif
