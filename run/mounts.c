/* The container's root: bind it onto itself, mount /proc, /dev, /sys, the
 * etc files, volumes and tmpfs inside it, pivot_root, then mask and
 * write-protect what runc and crun do.  Every target inside the root is
 * opened with openat2(RESOLVE_IN_ROOT) and mounted through its fd (the new
 * mount API, or /proc/self/fd/N), so a symlink in the image can never
 * point a mount at a host path. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "run/internal.h"
#include "run/procview.h"

static int openat2_(int dirfd, const char *path, int flags, unsigned long long resolve)
{
    struct open_how how = {.flags = (unsigned long long)flags | O_CLOEXEC, .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

/* One walk of `path` from the root; on a dangling link, *relink gets the
 * path to walk instead (the link's target joined with the rest). */
static int walk_create(int rootfd, const char *path, bool dir, char **relink, struct error *err)
{
    cleanup_free char *copy = xstrdup(path);
    cleanup_close int cur = openat2_(rootfd, ".", O_PATH | O_DIRECTORY, IN_ROOT);
    if (cur < 0)
        return error_errno(err, "open the container root");
    char *p = copy;
    for (;;) {
        while (*p == '/')
            p++;
        char *slash = strchr(p, '/');
        while (slash && slash[1] == '/')
            slash++;
        bool last = !slash || !slash[1];
        if (slash)
            *slash = '\0';
        bool want_dir = !last || dir;
        int nfd = openat2_(rootfd, copy, O_PATH | (want_dir ? O_DIRECTORY : 0), IN_ROOT);
        if (nfd < 0 && errno == ENOENT) {
            int r;
            if (want_dir) {
                r = mkdirat(cur, p, 0755);
            } else {
                /* O_EXCL|O_NOFOLLOW: never follows a (dangling) link */
                int f = openat(cur, p, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
                r = f < 0 ? -1 : 0;
                if (f >= 0)
                    close(f);
            }
            if (r < 0 && errno == EEXIST) {
                /* a link whose target is missing: walk its target instead,
                 * still inside the root (RESOLVE_IN_ROOT semantics) */
                char target[PATH_MAX];
                ssize_t n = readlinkat(cur, p, target, sizeof target - 1);
                if (n > 0) {
                    target[n] = '\0';
                    const char *rest = last ? "" : slash + 1;
                    if (target[0] == '/') {
                        *relink = xasprintf("%s/%s", target, rest);
                    } else {
                        *p = '\0';
                        *relink = xasprintf("%s/%s/%s", copy, target, rest);
                    }
                    return 1;
                }
            }
            if (r < 0 && errno != EEXIST)
                return error_errno(err, "create `/%s` in the container", copy);
            nfd = openat2_(rootfd, copy, O_PATH | (want_dir ? O_DIRECTORY : 0), IN_ROOT);
        }
        if (nfd < 0)
            return error_errno(err, "open `/%s` in the container", copy);
        close(cur);
        cur = nfd;
        if (last)
            break;
        *slash = '/';
        p = slash + 1;
    }
    return TAKE_FD(cur);
}

int run_open_in_root(int rootfd, const char *path, bool create, bool dir, struct error *err)
{
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    int fd = openat2_(rootfd, path, O_PATH | (dir ? O_DIRECTORY : 0), IN_ROOT);
    if (fd >= 0)
        return fd;
    if (errno != ENOENT || !create)
        return error_errno(err, "open `/%s` in the container", path);
    /* Walk down, creating what is missing.  Every prefix is resolved from
     * the root with RESOLVE_IN_ROOT (links behave as inside the image and
     * cannot leave it); each new entry is made by a single-component name
     * in the directory that resolution gave. */
    char *cur = xstrdup(path);
    for (int hops = 0; hops < 40; hops++) {
        char *next = NULL;
        int r = walk_create(rootfd, cur, dir, &next, err);
        free(cur);
        if (r != 1)
            return r;
        cur = next;
    }
    free(cur);
    return error_set(err, ELOOP, "open `/%s` in the container: too many links", path);
}

static char *fd_path(int fd)
{
    return xasprintf("/proc/self/fd/%d", fd);
}

static int mount_at_fd(int fd, const char *src, const char *type, unsigned long flags,
                       const char *data, const char *what, struct error *err)
{
    cleanup_free char *p = fd_path(fd);
    if (mount(src, p, type, flags, data) < 0)
        return error_errno(err, "mount %s", what);
    return 0;
}

/* Clones the host path `src` (recursively) onto fd `target`. */
static int bind_at_fd(const char *src, int target, bool ro, bool recursive, const char *what,
                      struct error *err)
{
    cleanup_close int tree =
        open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (tree < 0)
        return error_errno(err, "mount %s: open `%s`", what, src);
    if (ro) {
        struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
        if (mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a,
                          sizeof a) < 0)
            return error_errno(err, "mount %s: make read-only", what);
    }
    if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return error_errno(err, "mount %s", what);
    return 0;
}

static int setup_dev(int rootfd, bool rootless, struct error *err)
{
    {
        cleanup_close int d = run_open_in_root(rootfd, "/dev", true, true, err);
        if (d < 0)
            return error_prefix(err, "mount /dev");
        if (mount_at_fd(d, "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME,
                        "mode=755,size=65536k", "/dev", err) < 0)
            return -1;
    }
    /* the fresh tmpfs is ours: plain *at calls are safe inside it */
    cleanup_close int dev = openat2_(rootfd, "dev", O_PATH | O_DIRECTORY,
                                     RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
    if (dev < 0)
        return error_errno(err, "open /dev");
    static const struct {
        const char *name;
        unsigned major, minor;
    } nodes[] = {{"null", 1, 3},    {"zero", 1, 5},    {"full", 1, 7},
                 {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
        const char *name = nodes[i].name;
        /* As root, the node itself, as crun makes it: two calls where a
         * bind takes six.  Rootless (or root in a user namespace) cannot
         * make devices and binds the host's. */
        if (!rootless) {
            if (mknodat(dev, name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) == 0) {
                /* the mode without the caller's umask */
                if (fchmodat(dev, name, 0666, 0) < 0)
                    return error_errno(err, "chmod /dev/%s", name);
                continue;
            }
            if (errno != EPERM)
                return error_errno(err, "mknod /dev/%s", name);
        }
        cleanup_free char *host = xasprintf("/dev/%s", name);
        int f = openat(dev, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
        if (f < 0)
            return error_errno(err, "create %s", host);
        close(f);
        cleanup_close int t = openat(dev, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (t < 0)
            return error_errno(err, "open %s", host);
        if (bind_at_fd(host, t, false, false, host, err) < 0)
            return -1;
    }
    static const struct {
        const char *name, *target;
    } links[] = {
        {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}, {"core", "/proc/kcore"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlinkat(links[i].target, dev, links[i].name) < 0)
            return error_errno(err, "symlink /dev/%s", links[i].name);

    static const struct {
        const char *dir, *type, *data;
        unsigned long flags;
        mode_t mode;
    } fs[] = {
        {"pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", MS_NOSUID | MS_NOEXEC, 0755},
        {"shm", "tmpfs", "mode=1777,size=65536k", MS_NOSUID | MS_NODEV | MS_NOEXEC, 01777},
        {"mqueue", "mqueue", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0755},
    };
    for (size_t i = 0; i < ARRAY_SIZE(fs); i++) {
        cleanup_free char *what = xasprintf("/dev/%s", fs[i].dir);
        if (mkdirat(dev, fs[i].dir, fs[i].mode) < 0)
            return error_errno(err, "mkdir %s", what);
        cleanup_close int t = openat(dev, fs[i].dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (t < 0)
            return error_errno(err, "open %s", what);
        int r = mount_at_fd(t, fs[i].type, fs[i].type, fs[i].flags, fs[i].data, what, err);
        if (r < 0 && !strcmp(fs[i].dir, "pts") && (errno == EINVAL || errno == EPERM)) {
            /* gid 5 (tty) is not mapped when rootless without subgids */
            r = mount_at_fd(t, "devpts", "devpts", fs[i].flags,
                            "newinstance,ptmxmode=0666,mode=0620", what, err);
        }
        if (r < 0)
            return -1;
    }
    return 0;
}

/* /sys/fs/cgroup inside: the container's own cgroup (its cgroup namespace
 * root) in every hierarchy the host has, read-only.  Best effort: a
 * hierarchy that cannot be mounted is left out rather than failing. */
static void setup_sys_cgroup(int sysfd)
{
    cleanup_close int cg = openat2_(sysfd, "fs/cgroup", O_PATH | O_DIRECTORY,
                                    RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
    if (cg < 0)
        return;
    cleanup_fclose FILE *mi = fopen("/proc/self/mountinfo", "re");
    if (!mi)
        return;
    struct error ignore = {0};
    char *line = NULL;
    size_t cap = 0;
    bool v2_root = false, tmpfs_done = false;
    /* first pass: is /sys/fs/cgroup itself cgroup2 (pure v2)? */
    while (getline(&line, &cap, mi) > 0) {
        char mp[512], fstype[64];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %511s", mp) != 1 ||
            sscanf(dash + 3, "%63s", fstype) != 1)
            continue;
        if (!strcmp(mp, "/sys/fs/cgroup") && !strcmp(fstype, "cgroup2"))
            v2_root = true;
    }
    if (v2_root) {
        free(line);
        mount_at_fd(cg, "cgroup2", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL,
                    "/sys/fs/cgroup", &ignore);
        return;
    }
    rewind(mi);
    while (getline(&line, &cap, mi) > 0) {
        char mp[512], fstype[64], opts[512];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %511s", mp) != 1 ||
            sscanf(dash + 3, "%63s %*s %511s", fstype, opts) != 2)
            continue;
        if (strncmp(mp, "/sys/fs/cgroup/", 15) || strchr(mp + 15, '/'))
            continue;
        if (strcmp(fstype, "cgroup") && strcmp(fstype, "cgroup2"))
            continue;
        if (!tmpfs_done) {
            if (mount_at_fd(cg, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755",
                            "/sys/fs/cgroup", &ignore) < 0)
                break;
            close(cg);
            cg = openat2_(sysfd, "fs/cgroup", O_PATH | O_DIRECTORY,
                          RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
            if (cg < 0)
                break;
            tmpfs_done = true;
        }
        const char *name = mp + 15;
        if (mkdirat(cg, name, 0755) < 0)
            continue;
        cleanup_close int t = openat(cg, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (t < 0)
            continue;
        /* the controllers are the super options minus rw/ro */
        char data[512] = "";
        if (!strcmp(fstype, "cgroup")) {
            char *save = NULL;
            for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
                if (!strcmp(o, "rw") || !strcmp(o, "ro"))
                    continue;
                if (data[0])
                    strncat(data, ",", sizeof data - strlen(data) - 1);
                strncat(data, o, sizeof data - strlen(data) - 1);
            }
        }
        mount_at_fd(t, fstype, fstype, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                    data[0] ? data : NULL, mp, &ignore);
    }
    free(line);
    if (tmpfs_done && cg >= 0) {
        struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
        mount_setattr(cg, "", AT_EMPTY_PATH, &a, sizeof a);
    }
}

static int setup_sys(int rootfd, struct error *err)
{
    cleanup_close int s = run_open_in_root(rootfd, "/sys", true, true, err);
    if (s < 0)
        return error_prefix(err, "mount /sys");
    cleanup_free char *p = fd_path(s);
    unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY;
    if (mount("sysfs", p, "sysfs", fl, NULL) < 0) {
        /* sysfs needs a network namespace of our own; with the host's
         * network (rootless), bind the host's /sys read-only instead */
        if (errno != EPERM && errno != EACCES)
            return error_errno(err, "mount /sys");
        if (bind_at_fd("/sys", s, true, true, "/sys", err) < 0)
            return -1;
        return 0;
    }
    cleanup_close int s2 = run_open_in_root(rootfd, "/sys", false, true, err);
    if (s2 >= 0)
        setup_sys_cgroup(s2);
    return 0;
}

/* A small tmpfs of our own, never attached: the etc files are bound
 * from it, so they cost no disk and need no removal (the last bind going
 * takes it along).  -1 when the kernel cannot. */
static int etc_tmpfs(const char *const *text)
{
    static const char *names[RUN_ETC_N] = {"hostname", "hosts", "resolv.conf"};
    cleanup_close int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "size", "16m", 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return -1;
    cleanup_close int mnt =
        fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (mnt < 0)
        return -1;
    for (size_t i = 0; i < RUN_ETC_N; i++) {
        cleanup_close int f = openat(mnt, names[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        struct error ignore = {0};
        if (f < 0 || write_all(f, text[i], strlen(text[i]), &ignore) < 0)
            return -1;
    }
    return TAKE_FD(mnt);
}

/* A detached clone of etc file `name`: from the tmpfs, or (a kernel that
 * cannot clone from a detached mount, as older ones) from a file written
 * in the run dir, which goes with it. */
static int etc_tree(int *mnt, const char *run_dir, const char *name, const char *text,
                    struct error *err)
{
    if (*mnt >= 0) {
        int t = open_tree(*mnt, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (t >= 0)
            return t;
        close(*mnt);
        *mnt = -1;
    }
    cleanup_close int dir = open(run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return error_errno(err, "open run directory `%s`", run_dir);
    {
        /* lives as long as the run: no fsync */
        cleanup_close int f = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (f < 0)
            return error_errno(err, "create `%s/%s`", run_dir, name);
        if (write_all(f, text, strlen(text), err) < 0)
            return -1;
    }
    int t = open_tree(dir, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (t < 0)
        return error_errno(err, "mount /etc/%s: open `%s/%s`", name, run_dir, name);
    return t;
}

static int setup_etc(int rootfd, const char *run_dir, const char *const *text, struct error *err)
{
    static const char *files[RUN_ETC_N] = {"hostname", "hosts", "resolv.conf"};
    cleanup_close int mnt = -1;
    bool tried = false;
    for (size_t i = 0; i < RUN_ETC_N; i++) {
        cleanup_free char *target = xasprintf("/etc/%s", files[i]);
        struct error e2 = {0};
        /* a root we cannot write (read-only, or not ours) without the file
         * just goes without it */
        cleanup_close int t = run_open_in_root(rootfd, target, true, false, &e2);
        if (t < 0)
            continue;
        struct stat st;
        if (fstat(t, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (!tried) {
            mnt = etc_tmpfs(text);
            tried = true;
        }
        cleanup_close int tree = etc_tree(&mnt, run_dir, files[i], text[i], err);
        if (tree < 0)
            return -1;
        if (move_mount(tree, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            return error_errno(err, "mount %s", target);
    }
    return 0;
}

static int setup_volumes(int rootfd, const struct run_spec *spec, struct error *err)
{
    for (size_t i = 0; i < spec->n_volumes; i++) {
        const struct run_volume *v = &spec->volumes[i];
        struct stat st;
        if (stat(v->source, &st) < 0)
            return error_errno(err, "volume `%s`", v->source);
        cleanup_free char *what = xasprintf("volume `%s` on `%s`", v->source, v->target);
        cleanup_close int t = run_open_in_root(rootfd, v->target, true, S_ISDIR(st.st_mode), err);
        if (t < 0)
            return error_prefix(err, "mount %s", what);
        if (bind_at_fd(v->source, t, v->read_only, true, what, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < spec->n_tmpfs; i++) {
        const struct run_tmpfs *tf = &spec->tmpfs[i];
        cleanup_free char *what = xasprintf("tmpfs on `%s`", tf->target);
        cleanup_close int t = run_open_in_root(rootfd, tf->target, true, true, err);
        if (t < 0)
            return error_prefix(err, "mount %s", what);
        cleanup_free char *data =
            xasprintf("mode=1777%s%s", tf->options ? "," : "", tf->options ? tf->options : "");
        if (mount_at_fd(t, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, data, what, err) < 0)
            return -1;
    }
    return 0;
}

int run_mount_root_begin(const struct run_spec *spec, const char *root, const char *run_dir,
                         const char *const *etc_text, bool rootless, struct error *err)
{
    /* a mount of its own, so pivot_root has a mount point to move */
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
        return error_errno(err, "bind the root `%s`", root);
    cleanup_close int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return error_errno(err, "open the root `%s`", root);

    {
        cleanup_close int p = run_open_in_root(rootfd, "/proc", true, true, err);
        if (p < 0)
            return error_prefix(err, "mount /proc");
        if (mount_at_fd(p, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc",
                        err) < 0)
            return -1;
    }
    if (setup_dev(rootfd, rootless, err) < 0)
        return -1;
    if (setup_etc(rootfd, run_dir, etc_text, err) < 0)
        return -1;
    return TAKE_FD(rootfd);
}

int run_mount_root_end(const struct run_spec *spec, const char *root, int rootfd,
                       const char *procview_dir, struct error *err)
{
    if (setup_sys(rootfd, err) < 0)
        return -1;
    /* the /proc view's files over /proc/meminfo, /proc/cpuinfo, ... and
     * /sys/devices/system/cpu/online, once /proc and /sys are there */
    if (procview_dir && run_procview_bind(procview_dir, root, err) < 0)
        return error_prefix(err, "mount the /proc view");
    /* volumes last: one may sit under /etc, /dev or /sys */
    if (setup_volumes(rootfd, spec, err) < 0)
        return -1;

    if (fchdir(rootfd) < 0)
        return error_errno(err, "chdir into the root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return error_errno(err, "pivot_root");
    /* the old root is stacked under the new one: detach it */
    if (umount2(".", MNT_DETACH) < 0)
        return error_errno(err, "pivot_root: detach the old root");
    if (chdir("/") < 0)
        return error_errno(err, "chdir /");
    return run_mount_after_pivot(spec, err);
}

int run_mount_after_pivot(const struct run_spec *spec, struct error *err)
{
    static const char *masked[] = {
        "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    };
    static const char *readonly[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    };
    for (size_t i = 0; i < ARRAY_SIZE(masked); i++) {
        struct stat st;
        if (lstat(masked[i], &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (mount("tmpfs", masked[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "size=0,mode=0555") < 0)
                return error_errno(err, "mask `%s`", masked[i]);
        } else if (mount("/dev/null", masked[i], NULL, MS_BIND, NULL) < 0) {
            return error_errno(err, "mask `%s`", masked[i]);
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(readonly); i++) {
        if (access(readonly[i], F_OK) < 0)
            continue;
        if (mount(readonly[i], readonly[i], NULL, MS_BIND | MS_REC, NULL) < 0)
            return error_errno(err, "make `%s` read-only", readonly[i]);
        struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                           MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
        if (mount_setattr(AT_FDCWD, readonly[i], AT_RECURSIVE, &a, sizeof a) < 0)
            return error_errno(err, "make `%s` read-only", readonly[i]);
    }
    if (spec->read_only) {
        struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
        if (mount_setattr(AT_FDCWD, "/", 0, &a, sizeof a) < 0)
            return error_errno(err, "make the root read-only");
    }
    return 0;
}
