/* Copy-up: the first write or metadata change of a lower object copies it
 * (data, owner, mode, xattrs, timestamps) into work/tmp and renames it into
 * the upper, so a crash or kill -9 at any moment leaves the upper with the
 * old state or the new, never a partial file.  A lower file with several
 * hard links is also linked into work/index/DEV-INO before the rename, and
 * every other name of the set then resolves to that inode. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "unionfs/internal.h"

int ufs_tmp_name(struct ufs *fs, char *buf, size_t size)
{
    /* the pid keeps names of two daemons apart; asked once (a syscall) */
    static _Thread_local pid_t pid;
    if (!pid)
        pid = getpid();
    unsigned long long n = atomic_fetch_add(&fs->tmp_counter, 1);
    snprintf(buf, size, "#%d-%llx", (int)pid, n);
    return 0;
}

static int copy_range_rw(int src, int dst, off_t off, off_t end)
{
    static const size_t bufsize = 1 << 20;
    cleanup_free char *buf = xmalloc(bufsize);
    while (off < end) {
        size_t want = (size_t)(end - off) < bufsize ? (size_t)(end - off) : bufsize;
        ssize_t r = pread(src, buf, want, off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (r == 0)
            break;
        for (ssize_t w = 0; w < r;) {
            ssize_t k = pwrite(dst, buf + w, (size_t)(r - w), off + w);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                return errno;
            }
            w += k;
        }
        off += r;
    }
    return 0;
}

static int copy_range(int src, int dst, off_t off, off_t end)
{
    while (off < end) {
        loff_t in = off, out = off;
        ssize_t r = copy_file_range(src, &in, dst, &out, (size_t)(end - off), 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
                return copy_range_rw(src, dst, off, end);
            return errno;
        }
        if (r == 0)
            break;
        off += r;
    }
    return 0;
}

/* Reflink when the filesystem can, else copy only the data extents (holes
 * stay holes) in the kernel with copy_file_range. */
static int copy_data(struct ufs *fs, int src, int dst, const struct stat *st)
{
    off_t size = st->st_size;
    if (size == 0)
        return 0;
    if (!atomic_load(&fs->no_reflink)) {
        if (ioctl(dst, FICLONE, src) == 0)
            return 0;
        if (errno == EOPNOTSUPP || errno == EXDEV || errno == EINVAL || errno == ENOTTY)
            atomic_store(&fs->no_reflink, true); /* not on this filesystem: stop asking */
    }
    if ((off_t)st->st_blocks * 512 >= size)
        return copy_range(src, dst, 0, size); /* no holes to keep */
    off_t off = 0;
    while (off < size) {
        off_t data = lseek(src, off, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break;
            /* no SEEK_DATA: everything is data */
            int r = copy_range(src, dst, off, size);
            if (r)
                return r;
            break;
        }
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0)
            hole = size;
        int r = copy_range(src, dst, data, hole);
        if (r)
            return r;
        off = hole;
    }
    return ftruncate(dst, size) < 0 ? errno : 0;
}

static bool xattr_skip(const char *name)
{
    /* markers of kernel-overlay lowers and our own bookkeeping must not
     * follow the object into the upper */
    return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13) ||
           !strncmp(name, "user.strata.", 12);
}

static int copy_xattrs(int src, int dst)
{
    ssize_t len = flistxattr(src, NULL, 0);
    if (len <= 0)
        return 0;
    cleanup_free char *names = xmalloc((size_t)len + 1);
    len = flistxattr(src, names, (size_t)len);
    if (len < 0)
        return errno == ENOTSUP ? 0 : errno;
    size_t vcap = 256;
    cleanup_free char *val = xmalloc(vcap);
    for (char *name = names; name < names + len; name += strlen(name) + 1) {
        if (xattr_skip(name))
            continue;
        ssize_t vl = fgetxattr(src, name, NULL, 0);
        if (vl < 0)
            continue;
        if ((size_t)vl > vcap) {
            vcap = (size_t)vl;
            val = xrealloc(val, vcap);
        }
        vl = fgetxattr(src, name, val, vcap);
        if (vl < 0)
            continue;
        if (fsetxattr(dst, name, val, (size_t)vl, 0) < 0) {
            /* rootless cannot write trusted.* or security.*: the object is
             * still correct for everything the container can see */
            if (errno != EPERM && errno != ENOTSUP && errno != EACCES)
                return errno;
        }
    }
    return 0;
}

/* Owner, mode, xattrs and times of st onto dst, in that order: chown
 * clears setuid bits and file capabilities, so they come after it. */
int ufs_copy_meta(struct ufs *fs, int src_fd, int dst_fd, const struct stat *st,
                  bool is_link, int dst_dir, const char *dst_name)
{
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (is_link) {
        if (fchownat(dst_dir, dst_name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
            fs->privileged)
            return errno;
        if (utimensat(dst_dir, dst_name, ts, AT_SYMLINK_NOFOLLOW) < 0)
            return errno;
        return 0;
    }
    bool chowned = true;
    if ((st->st_uid != fs->euid || st->st_gid != fs->egid) &&
        fchown(dst_fd, st->st_uid, st->st_gid) < 0) {
        if (fs->privileged)
            return errno;
        chowned = false;
    }
    if (fchmod(dst_fd, st->st_mode & 07777) < 0)
        return errno;
    if (src_fd >= 0) {
        int r = copy_xattrs(src_fd, dst_fd);
        if (r)
            return r;
    }
    if (!chowned && fs->o.rootless_override) {
        struct ufs_override ov;
        if (ufs_override_get(dst_fd, false, &ov) < 0) {
            ov.uid = st->st_uid;
            ov.gid = st->st_gid;
            ov.mode = st->st_mode & 07777;
            ov.rdev = 0;
            int r = ufs_override_set(dst_fd, &ov);
            if (r)
                return r;
        }
    }
    if (futimens(dst_fd, ts) < 0)
        return errno;
    return 0;
}

static int copy_dir(struct ufs *fs, struct ufs_node *n, int pup, const char *name)
{
    char tmp[64];
    ufs_tmp_name(fs, tmp, sizeof tmp);
    int lfd = n->dfd[n->layer];
    cleanup_close int src = openat(lfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fstat(lfd, &st) < 0)
        return errno;
    if (mkdirat(fs->tmp_fd, tmp, 0700) < 0)
        return errno;
    cleanup_close int dst = openat(fs->tmp_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int r = dst < 0 ? errno : ufs_copy_meta(fs, src, dst, &st, false, -1, NULL);
    if (!r && renameat(fs->tmp_fd, tmp, pup, name) < 0)
        r = errno;
    if (r) {
        unlinkat(fs->tmp_fd, tmp, AT_REMOVEDIR);
        return r;
    }
    struct stat ust;
    fstat(dst, &ust);
    ufs_id_alias(fs, fs->layers[0].dev, ust.st_ino, n->ino);
    n->dfd[0] = TAKE_FD(dst);
    n->layer = 0;
    return 0;
}

/* Copies the lower object behind O_PATH fd lfd to work/tmp/tmp; *out is
 * an O_RDWR fd for a regular file, else O_PATH. */
static int make_copy(struct ufs *fs, int lfd, const struct stat *st, const char *tmp,
                     bool with_data, int *out)
{
    int fd = -1, r = 0;
    if (S_ISREG(st->st_mode)) {
        cleanup_close int src = ufs_reopen(lfd, O_RDONLY);
        if (src < 0)
            return errno;
        fd = openat(fs->tmp_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return errno;
        if (with_data)
            r = copy_data(fs, src, fd, st);
        if (!r)
            r = ufs_copy_meta(fs, src, fd, st, false, -1, NULL);
        if (!r && fs->o.durable_copyup && !fs->o.volatile_mode && fsync(fd) < 0)
            r = errno;
    } else if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX + 1];
        ssize_t len = readlinkat(lfd, "", target, PATH_MAX);
        if (len < 0)
            return errno;
        target[len] = 0;
        if (symlinkat(target, fs->tmp_fd, tmp) < 0)
            return errno;
        r = ufs_copy_meta(fs, -1, -1, st, true, fs->tmp_fd, tmp);
        fd = openat(fs->tmp_fd, tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    } else {
        struct ufs_override dev_ov;
        bool as_file = false;
        if (mknodat(fs->tmp_fd, tmp, st->st_mode & (S_IFMT | 0600), st->st_rdev) < 0) {
            if (errno != EPERM || !fs->o.rootless_override)
                return errno;
            /* rootless: a device becomes an empty file that presents it */
            int f = openat(fs->tmp_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (f < 0)
                return errno;
            close(f);
            as_file = true;
        }
        fd = openat(fs->tmp_fd, tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return errno;
        char path[64];
        ufs_proc_path(path, sizeof path, fd);
        if ((st->st_uid != fs->euid || st->st_gid != fs->egid) &&
            fchownat(fd, "", st->st_uid, st->st_gid, AT_EMPTY_PATH) < 0 && fs->privileged)
            r = errno;
        if (!r && fchmodat(fs->tmp_fd, tmp, st->st_mode & 07777, 0) < 0)
            r = errno;
        if (!r && as_file) {
            dev_ov.uid = st->st_uid;
            dev_ov.gid = st->st_gid;
            dev_ov.mode = st->st_mode & (S_IFMT | 07777);
            dev_ov.rdev = st->st_rdev;
            r = ufs_override_set(fd, &dev_ov);
        }
        struct timespec ts[2] = {st->st_atim, st->st_mtim};
        if (!r && utimensat(fs->tmp_fd, tmp, ts, AT_SYMLINK_NOFOLLOW) < 0)
            r = errno;
    }
    if (r) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

static void index_key(struct ufs *fs, int layer, const struct stat *st, char *key, size_t size)
{
    snprintf(key, size, "%llx-%llx", (unsigned long long)fs->layers[layer].dev,
             (unsigned long long)st->st_ino);
}

static int set_lower_links(int fd, nlink_t links);

/* The node now answers with the upper object pfd (O_PATH); in_index: it is
 * the work/index copy of the lower hard-link set st. */
static void node_now_upper(struct ufs *fs, struct ufs_node *n, int pfd, const struct stat *st,
                           bool in_index)
{
    struct stat ust;
    fstat(pfd, &ust);
    ufs_id_alias(fs, fs->layers[0].dev, ust.st_ino, n->ino);
    if (in_index) {
        n->index = true;
        n->odev = fs->layers[n->layer].dev;
        n->oino = st->st_ino;
        n->lower_nlink = st->st_nlink;
    }
    n->lfd = n->fd;
    n->fd = pfd;
    n->layer = 0;
}

static int copy_nondir(struct ufs *fs, struct ufs_node *n, int pup, const char *name,
                       bool with_data)
{
    char tmp[64];
    struct stat st;
    int src = ufs_node_pfd(fs, n);
    if (src < 0 || fstat(src, &st) < 0)
        return errno;
    ufs_tmp_name(fs, tmp, sizeof tmp);
    int fd = -1;
    int r = make_copy(fs, src, &st, tmp, with_data, &fd);
    char key[64] = "";
    if (!r && S_ISREG(st.st_mode) && st.st_nlink > 1) {
        /* this name becomes an upper name: the others stay lower names */
        index_key(fs, n->layer, &st, key, sizeof key);
        r = set_lower_links(fd, st.st_nlink - 1);
        if (!r && linkat(fs->tmp_fd, tmp, fs->index_fd, key, 0) < 0)
            r = errno;
    }
    if (!r && renameat(fs->tmp_fd, tmp, pup, name) < 0) {
        r = errno;
        if (*key)
            unlinkat(fs->index_fd, key, 0);
    }
    if (r) {
        unlinkat(fs->tmp_fd, tmp, 0);
        if (fd >= 0)
            close(fd);
        return r;
    }
    int pfd = S_ISREG(st.st_mode) ? ufs_reopen(fd, O_PATH) : fd;
    if (pfd != fd) {
        close(fd);
        if (pfd < 0)
            return errno;
    }
    node_now_upper(fs, n, pfd, &st, *key != 0);
    return 0;
}

/* Stores how many lower names of a set the merged view still shows on the
 * copy's inode (fd: the copy, O_RDWR or O_PATH).  Where user xattrs are not
 * supported the count falls back to "all but the copied-up name". */
static int set_lower_links(int fd, nlink_t links)
{
    char v[32];
    int len = snprintf(v, sizeof v, "%llu", (unsigned long long)links);
    if (fsetxattr(fd, UFS_XATTR_LOWER_LINKS, v, (size_t)len, 0) == 0)
        return 0;
    if (errno == EBADF) {
        char path[64];
        ufs_proc_path(path, sizeof path, fd);
        if (setxattr(path, UFS_XATTR_LOWER_LINKS, v, (size_t)len, 0) == 0)
            return 0;
    }
    return errno == ENOTSUP ? 0 : errno;
}

static pthread_mutex_t links_lock = PTHREAD_MUTEX_INITIALIZER; /* lower_links updates */

/* Puts a lower hard-link set into work/index without an upper name, for a
 * lower name that is about to leave the view: the other names then resolve
 * to the index inode, which carries the count.  Caller holds n->lock. */
static int index_only(struct ufs *fs, struct ufs_node *n, const struct stat *st)
{
    char tmp[64], key[64];
    ufs_tmp_name(fs, tmp, sizeof tmp);
    index_key(fs, n->layer, st, key, sizeof key);
    int fd = -1;
    int r = make_copy(fs, ufs_node_pfd(fs, n), st, tmp, true, &fd);
    if (!r)
        r = set_lower_links(fd, st->st_nlink);
    int pfd = -1;
    if (!r && linkat(fs->tmp_fd, tmp, fs->index_fd, key, 0) < 0) {
        r = errno;
        if (r == EEXIST) /* a leftover of an earlier mount: it is the set */
            r = (pfd = openat(fs->index_fd, key, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0 ? errno : 0;
    }
    unlinkat(fs->tmp_fd, tmp, 0);
    if (!r && pfd < 0)
        pfd = ufs_reopen(fd, O_PATH);
    if (!r && pfd < 0)
        r = errno;
    if (fd >= 0)
        close(fd);
    if (r)
        return r;
    node_now_upper(fs, n, pfd, st, true);
    return 0;
}

int ufs_lower_link_gone(struct ufs *fs, struct ufs_node *n)
{
    if (!S_ISREG(n->type))
        return 0;
    int r = 0;
    pthread_mutex_lock(&n->lock);
    if (n->layer > 0 && !n->index) {
        struct stat st;
        int src = ufs_node_pfd(fs, n);
        if (src < 0 || fstat(src, &st) < 0)
            r = errno;
        else if (st.st_nlink > 1)
            r = index_only(fs, n, &st);
    }
    if (!r && n->index) {
        char path[64], v[32];
        ufs_proc_path(path, sizeof path, n->fd);
        pthread_mutex_lock(&links_lock);
        ssize_t len = getxattr(path, UFS_XATTR_LOWER_LINKS, v, sizeof v - 1);
        unsigned long long links = n->lower_nlink > 1 ? n->lower_nlink - 1 : 0;
        if (len > 0) {
            v[len] = 0;
            links = strtoull(v, NULL, 10);
        }
        if (links > 0) {
            int len2 = snprintf(v, sizeof v, "%llu", links - 1);
            if (setxattr(path, UFS_XATTR_LOWER_LINKS, v, (size_t)len2, 0) < 0 &&
                errno != ENOTSUP)
                r = errno;
        }
        pthread_mutex_unlock(&links_lock);
    }
    pthread_mutex_unlock(&n->lock);
    return r;
}

/* A copy-up changes inodes the request did not name: the rename into the
 * parent changes the parent's times, and a directory copied up for a
 * descendant becomes merged (link count 1).  Entries and attributes are
 * cached for a day, so the kernel is told to drop those attributes.
 *
 * This is sent from the request thread, before the reply, so the caller's
 * next stat sees it (sent from another thread it would race that stat).
 * That is safe for what it is: attributes only (off -1: no page cache, no
 * writeback) of directories; the kernel just marks them stale, taking no
 * inode lock (the request may hold a parent's i_rwsem) and never calling
 * back into the daemon.  Invalidating entries, or data with dirty pages,
 * would wait on the very request being served (see fuse_lowlevel.h); that
 * is never done here. */
static void inval_attr(struct ufs *fs, uint64_t ino)
{
    if (fs->se) /* NULL when not serving a mount (flatten) */
        fuse_lowlevel_notify_inval_inode(fs->se, (fuse_ino_t)ino, -1, 0);
}

static int copy_up_locked(struct ufs *fs, struct ufs_node *n, bool with_data)
{
    pthread_mutex_lock(&n->lock);
    bool done = n->layer == 0;
    pthread_mutex_unlock(&n->lock);
    if (done)
        return 0;
    struct ufs_node *parent = n->parent;
    if (!parent || !n->name)
        return ENOENT;
    int r = copy_up_locked(fs, parent, true);
    if (r)
        return r;
    pthread_mutex_lock(&parent->lock);
    int pup = parent->dfd[0];
    pthread_mutex_unlock(&parent->lock);

    pthread_mutex_lock(&n->lock);
    bool copied = false;
    if (n->layer != 0) {
        if (n->dfd)
            r = copy_dir(fs, n, pup, n->name);
        else
            r = copy_nondir(fs, n, pup, n->name, with_data);
        copied = !r;
    }
    pthread_mutex_unlock(&n->lock);
    if (copied) {
        inval_attr(fs, parent->nodeid);
        if (n->dfd) /* even the request's own: rename's reply has no attributes */
            inval_attr(fs, n->nodeid);
    }
    return r;
}

int ufs_copy_up(struct ufs *fs, struct ufs_node *n, bool with_data)
{
    if (!fs->has_upper)
        return EROFS;
    pthread_rwlock_rdlock(&fs->tree_lock);
    int r = copy_up_locked(fs, n, with_data);
    pthread_rwlock_unlock(&fs->tree_lock);
    return r;
}

int ufs_copy_up_held(struct ufs *fs, struct ufs_node *n, bool with_data)
{
    if (!fs->has_upper)
        return EROFS;
    return copy_up_locked(fs, n, with_data);
}

int ufs_upper_dir_held(struct ufs *fs, struct ufs_node *d)
{
    int r = ufs_copy_up_held(fs, d, true);
    if (r)
        return -r;
    pthread_mutex_lock(&d->lock);
    int fd = d->dfd[0];
    pthread_mutex_unlock(&d->lock);
    return fd;
}

int ufs_upper_dir(struct ufs *fs, struct ufs_node *d)
{
    int r = ufs_copy_up(fs, d, true);
    if (r)
        return -r;
    pthread_mutex_lock(&d->lock);
    int fd = d->dfd[0];
    pthread_mutex_unlock(&d->lock);
    return fd;
}
