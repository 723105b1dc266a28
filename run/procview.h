/* The container sees its own limits: a small FUSE filesystem (lxcfs's idea)
 * serving meminfo, cpuinfo, stat, uptime, loadavg, diskstats and the sys
 * cpu `online` mask computed from the container's cgroup, which the
 * runtime hands over (no pid-namespace detective work), and from the
 * container's start time.  Files whose limit is not set pass the host's
 * text through; uptime always counts from the view's start.
 *
 * Usage by the runtime:
 *   run_procview_start(cg, &lim, "<container dir>/procview", &pv, &err);
 *       -- before the container process is forked, so it sees the mount
 *          (root: a detached mount, whose fd it inherits; else mounted on
 *          the directory)
 *   run_procview_detach(pv, &err);
 *       -- once that namespace exists: no host mount survives a killed caller
 *   ... in the child, after mounting the new root's /proc and /sys:
 *   run_procview_bind(run_procview_dir(pv), "<new root>", &err);
 *   ... after the container is gone, before run_cgroup_destroy:
 *   run_procview_stop(pv);
 *
 * The mount is made with the new mount API (fsopen/fsmount, attached
 * nowhere) when the caller may (root), else on the directory through
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
 * outlive the view; it may be NULL and set later with
 * run_procview_set_cgroup (the host's values pass through until then), so
 * the mount can come before the cgroup is made; lim may be NULL. */
int run_procview_start(struct run_cgroup *cg, const struct run_cgroup_limits *lim,
                       const char *dir, struct run_procview **out, struct error *err);
/* Sets the cgroup the view reads (before the container can read it). */
void run_procview_set_cgroup(struct run_procview *pv, struct run_cgroup *cg);
/* Where the container binds the files from: "/proc/self/fd/N" for the
 * detached mount (valid in the processes forked after start), else the
 * directory given to start. */
const char *run_procview_dir(const struct run_procview *pv);
/* Stops the thread, unmounts (unless detached) and frees.  NULL is fine. */
void run_procview_stop(struct run_procview *pv);

/* Lazily unmounts the view from the caller's mount namespace once the
 * container's namespace holds its own copy (after the helper's unshare):
 * the view goes on serving the container through that copy, and nothing
 * is left mounted under dir if the caller is killed. */
int run_procview_detach(struct run_procview *pv, struct error *err);

/* Bind-mounts every view file in dir over its target under rootfs (targets
 * missing in rootfs are skipped).  For the container's mount namespace. */
int run_procview_bind(const char *dir, const char *rootfs, struct error *err);

/* sysinfo(2) -- what busybox `free`, `uptime` and some runtimes read -- is a
 * syscall no file can stand in for, so (as LXD does) the container process
 * traps it with a seccomp user-notification filter and the view answers:
 *   in the container process, last thing before exec (sets no_new_privs):
 *       int fd = run_procview_sysinfo_filter(&err);  -- send fd to the caller
 *   in the process serving the view:
 *       run_procview_serve_sysinfo(pv, fd, &err);    -- takes fd
 * The answer has the container's memory limit and usage, swap, uptime, load
 * and task count; every other syscall is untouched.  If the view goes away
 * first, sysinfo fails with ENOSYS in the container. */
int run_procview_sysinfo_filter(struct error *err);
int run_procview_serve_sysinfo(struct run_procview *pv, int fd, struct error *err);

#endif
