/* The container sees its own limits: a small FUSE filesystem (lxcfs's idea)
 * serving meminfo, cpuinfo, stat, uptime, loadavg, diskstats and the sys
 * cpu `online` mask computed from the container's cgroup, which the
 * runtime hands over (no pid-namespace detective work), and from the
 * container's start time.  Files whose limit is not set pass the host's
 * text through; uptime always counts from the view's start.
 *
 * Usage by the runtime:
 *   run_procview_start(cg, &lim, "<container dir>/procview", &pv, &err);
 *       -- before the container's mount namespace is made, so it sees the mount
 *   ... in the child, after mounting the new root's /proc and /sys:
 *   run_procview_bind("<container dir>/procview", "<new root>", &err);
 *   ... after the container is gone, before run_cgroup_destroy:
 *   run_procview_stop(pv);
 *
 * The mount is made with mount(2) when the caller may (root), else through
 * fusermount3; it is served by one background thread of the calling
 * process, which must therefore outlive the container. */
#ifndef STRATA_RUN_PROCVIEW_H
#define STRATA_RUN_PROCVIEW_H

#include "common/error.h"
#include "run/cgroup.h"

struct run_procview;

/* A file of the view and where it goes inside the container. */
struct run_procview_target {
    const char *name;   /* file name in the view's directory */
    const char *target; /* absolute path inside the container */
};
/* Terminated by an entry with name == NULL. */
extern const struct run_procview_target run_procview_targets[];

/* Mounts the view on dir (created if missing).  cg is borrowed and must
 * outlive the view; lim may be NULL. */
int run_procview_start(struct run_cgroup *cg, const struct run_cgroup_limits *lim,
                       const char *dir, struct run_procview **out, struct error *err);
/* Stops the thread, unmounts and frees.  NULL is fine. */
void run_procview_stop(struct run_procview *pv);

/* Bind-mounts every view file in dir over its target under rootfs (targets
 * missing in rootfs are skipped).  For the container's mount namespace. */
int run_procview_bind(const char *dir, const char *rootfs, struct error *err);

#endif
