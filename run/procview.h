/* The container sees its own limits: a small FUSE filesystem (lxcfs's idea)
 * serving meminfo, cpuinfo, stat, uptime, loadavg, diskstats and the sys
 * cpu `online` mask computed from the container's cgroup, which the
 * runtime hands over (no pid-namespace detective work), and from the
 * container's start time.  Files whose limit is not set pass the host's
 * text through; uptime always counts from the view's start.
 *
 * Usage by the runtime (the view costs the start nothing before the fork,
 * and no thread: the caller serves it from the loops where it waits anyway):
 *   in the helper, once its user and mount namespaces exist:
 *       run_procview_mount(&dev_fd, &mnt_fd, &err);
 *           -- a detached FUSE mount (fsopen/fsmount, attached nowhere: as
 *              root and rootless alike, nothing to unmount or leak);
 *              dev_fd goes to the caller, mnt_fd stays for the container
 *   in the caller, given dev_fd (and the cgroup, once made):
 *       run_procview_new(dev_fd, cg, &lim, &pv, &err);
 *       then, wherever it waits: poll run_procview_fd(pv) along with its
 *       own fds and call run_procview_serve(pv) when it is readable (or
 *       run_procview_wait_fd(pv, fd) to wait for one fd of its own)
 *   in the container process, which inherits mnt_fd as "/proc/self/fd/N":
 *       run_procview_prime(dir);  -- while it waits anyway (optional)
 *       run_procview_bind(dir, "<new root>", &err);  -- after /proc, /sys
 *   ... after the container is gone, before run_cgroup_destroy:
 *       run_procview_stop(pv);
 *
 * A reader of a view file waits until the caller serves it, so the caller
 * must serve it for as long as the container lives, and never wait for the
 * container's processes elsewhere. */
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

/* Creates the view's mount, detached, for the current user and mount
 * namespaces (root there: as root, or in the rootless helper's namespace):
 * *dev_fd is the /dev/fuse connection to serve, *mnt_fd the mount (both
 * close-on-exec).  Requests wait until dev_fd is served. */
int run_procview_mount(int *dev_fd, int *mnt_fd, struct error *err);
/* Takes over the view's connection dev_fd (taken, even on failure) and
 * answers the FUSE_INIT queued on it; no thread.  cg is borrowed and must
 * outlive the view; it may be NULL and set later with
 * run_procview_set_cgroup (the host's values pass through until then); lim
 * may be NULL. */
int run_procview_new(int dev_fd, struct run_cgroup *cg, const struct run_cgroup_limits *lim,
                     struct run_procview **out, struct error *err);
/* One fd (epoll) that is readable when the view has work: a request, its
 * load sample's timer, a trapped sysinfo.  -1 for NULL. */
int run_procview_fd(const struct run_procview *pv);
/* Does the view's pending work; never blocks.  NULL is fine. */
void run_procview_serve(struct run_procview *pv);
/* Serves the view until fd is readable (or hung up); 0, or -1 (errno)
 * when poll fails.  NULL pv: returns at once. */
int run_procview_wait_fd(struct run_procview *pv, int fd);
/* Sets the cgroup the view reads (before the container can read it). */
void run_procview_set_cgroup(struct run_procview *pv, struct run_cgroup *cg);
/* Closes the connection (a file still bound then fails with ENOTCONN).
 * NULL is fine. */
void run_procview_stop(struct run_procview *pv);

/* Looks every view file up under dir once: each lookup is a round trip to
 * the server, and doing them while the container process waits anyway
 * leaves its binds nothing to ask (the entries are cached). */
void run_procview_prime(const char *dir);

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
/* The same trap put in front of the container's own filter prog (n
 * instructions), loaded as one program with one listener: one filter for
 * every syscall to run through rather than two.  prog itself (what `exec`
 * loads later) stays without it.  can_front says whether prog can take it
 * (it must load before it reads: libseccomp's programs do); if not, load
 * prog and stack run_procview_sysinfo_filter on it. */
struct sock_filter;
bool run_procview_sysinfo_can_front(const struct sock_filter *prog, size_t n);
int run_procview_sysinfo_filter_front(const struct sock_filter *prog, size_t n,
                                      struct error *err);
int run_procview_serve_sysinfo(struct run_procview *pv, int fd, struct error *err);

#endif
