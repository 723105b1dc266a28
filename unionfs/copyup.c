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
#include <sys/sendfile.h>
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
    size_t bufsize = (size_t)(end - off) < (1u << 20) ? (size_t)(end - off) : (1u << 20);
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

/* Errors that say a way of copying does not work between these two
 * filesystems at all (not that this file failed). */
static bool unsupported(int e)
{
    return e == EXDEV || e == EINVAL || e == ENOSYS || e == EOPNOTSUPP || e == ENOTTY;
}

/* [off, end) of src to the same offsets of dst: copy_file_range (in the
 * kernel, reflinks or server-side copies where the filesystems can), else
 * sendfile (in the kernel too, across filesystems: one syscall for a small
 * file where pread + pwrite are two), else through a buffer.  What fails
 * between lower layer l and the upper is not tried again for l. */
static int copy_range(struct ufs_layer *l, int src, int dst, off_t off, off_t end, off_t *dpos)
{
    while (off < end && !atomic_load(&l->no_cfr)) {
        loff_t in = off, out = off;
        ssize_t r = copy_file_range(src, &in, dst, &out, (size_t)(end - off), 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (!unsupported(errno))
                return errno;
            atomic_store(&l->no_cfr, true);
            break;
        }
        if (r == 0)
            return 0;
        off += r;
    }
    /* sendfile writes at dst's file offset (*dpos: only sendfile moves it) */
    if (off < end && !atomic_load(&l->no_sendfile) && *dpos != off) {
        if (lseek(dst, off, SEEK_SET) < 0)
            return errno;
        *dpos = off;
    }
    while (off < end && !atomic_load(&l->no_sendfile)) {
        off_t in = off;
        size_t want = (size_t)(end - off) < (1u << 30) ? (size_t)(end - off) : (1u << 30);
        ssize_t r = sendfile(dst, src, &in, want);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (!unsupported(errno))
                return errno;
            atomic_store(&l->no_sendfile, true);
            break;
        }
        if (r == 0)
            return 0;
        off += r;
        *dpos = off;
    }
    return off < end ? copy_range_rw(src, dst, off, end) : 0;
}

/* Reflink when the filesystems can, else copy only the data extents
 * (holes stay holes) in the kernel.  src comes from lower layer l. */
static int copy_data(struct ufs_layer *l, int src, int dst, const struct stat *st)
{
    off_t size = st->st_size;
    if (size == 0)
        return 0;
    if (!atomic_load(&l->no_reflink)) {
        if (ioctl(dst, FICLONE, src) == 0)
            return 0;
        if (unsupported(errno))
            atomic_store(&l->no_reflink, true); /* not between these two: stop asking */
    }
    off_t dpos = 0; /* dst is new */
    if ((off_t)st->st_blocks * 512 >= size)
        return copy_range(l, src, dst, 0, size, &dpos); /* no holes to keep */
    off_t off = 0;
    while (off < size) {
        off_t data = lseek(src, off, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break;
            /* no SEEK_DATA: everything is data */
            int r = copy_range(l, src, dst, off, size, &dpos);
            if (r)
                return r;
            break;
        }
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0)
            hole = size;
        int r = copy_range(l, src, dst, data, hole, &dpos);
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

/* *cap: security.capability was copied (else the copy has none) */
static int copy_xattrs(int src, int dst, bool *cap)
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
        } else if (!strcmp(name, "security.capability")) {
            *cap = true;
        }
    }
    return 0;
}

/* Owner, mode, xattrs and times of st onto dst, in that order: chown
 * clears setuid bits and file capabilities, so they come after it. */
static int copy_meta(struct ufs *fs, int src_fd, int dst_fd, const struct stat *st,
                     bool is_link, int dst_dir, const char *dst_name, bool *cap)
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
        int r = copy_xattrs(src_fd, dst_fd, cap);
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

int ufs_copy_meta(struct ufs *fs, int src_fd, int dst_fd, const struct stat *st,
                  bool is_link, int dst_dir, const char *dst_name)
{
    bool cap = false;
    return copy_meta(fs, src_fd, dst_fd, st, is_link, dst_dir, dst_name, &cap);
}

/* --- the parent's times ---
 * The rename that ends a copy-up changes the times of the upper parent.
 * As kernel overlayfs does, they are put back afterwards: a copy-up is
 * not a change of the merged parent (chmod of a file does not touch its
 * directory's mtime), and the kernel's cached attributes of the parent
 * stay right without an invalidation and the GETATTR that would follow.
 * A create, unlink or utimes of that directory falling between the stat
 * and the restore would be undone, so those hold the directory's guard
 * (ufs_dir_change_begin) around their change and the copy-up holds it
 * from its stat to its restore.  Entry changes of one directory are
 * already serialized by the kernel (its i_rwsem), so the guard only ever
 * waits for a copy-up into the same directory; rename holds tree_lock for
 * writing, which every copy-up excludes, so it needs none.  The guards
 * are a small striped table (no lock per node): two directories sharing a
 * stripe wait for each other's short critical sections at worst. */
#define DIR_GUARDS 64
static pthread_mutex_t dir_guards[DIR_GUARDS] = {[0 ... DIR_GUARDS - 1] =
                                                     PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t *dir_guard(struct ufs_node *d)
{
    return &dir_guards[(d->ino * 0x9E3779B97F4A7C15ull) >> 58];
}

void ufs_dir_change_begin(struct ufs_node *d)
{
    pthread_mutex_lock(dir_guard(d));
}

void ufs_dir_change_end(struct ufs_node *d)
{
    pthread_mutex_unlock(dir_guard(d));
}

/* Renames work/tmp/tmp to name in p's upper dir pup, keeping pup's mtime.
 * *changed: the kernel's cached attributes of p may be wrong now (the
 * mtime could not be put back, or the directory grew). */
static int rename_into(struct ufs *fs, struct ufs_node *p, int pup, const char *tmp,
                       const char *name, bool *changed)
{
    struct stat before, after;
    ufs_dir_change_begin(p);
    bool known = fstat(pup, &before) == 0;
    int r = renameat(fs->tmp_fd, tmp, pup, name) < 0 ? errno : 0;
    if (!r) {
        /* the rename changed mtime and ctime, not atime: a reader's atime
         * update meanwhile stays */
        struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, before.st_mtim};
        *changed = !known || ufs_utimens_fd(pup, ts) < 0 || fstat(pup, &after) < 0 ||
                   after.st_size != before.st_size || after.st_blocks != before.st_blocks;
    }
    ufs_dir_change_end(p);
    return r;
}

static int copy_dir(struct ufs *fs, struct ufs_node *n, struct ufs_node *parent, int pup,
                    bool *pchanged)
{
    char tmp[64];
    ufs_tmp_name(fs, tmp, sizeof tmp);
    /* the lower dir fd is O_RDONLY (O_PATH only where reading it was
     * refused: then its xattrs cannot be read by any fd) */
    int lfd = n->dfd[n->layer];
    struct stat st;
    if (fstat(lfd, &st) < 0)
        return errno;
    if (mkdirat(fs->tmp_fd, tmp, 0700) < 0)
        return errno;
    cleanup_close int dst = openat(fs->tmp_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat ust;
    int r = dst < 0 ? errno : ufs_copy_meta(fs, lfd, dst, &st, false, -1, NULL);
    if (!r && fstat(dst, &ust) < 0)
        r = errno;
    if (!r)
        r = rename_into(fs, parent, pup, tmp, n->name, pchanged);
    if (r) {
        unlinkat(fs->tmp_fd, tmp, AT_REMOVEDIR);
        return r;
    }
    ufs_id_alias(fs, fs->layers[0].dev, ust.st_ino, n->ino);
    n->dfd[0] = TAKE_FD(dst);
    n->layer = 0;
    return 0;
}

/* Copies the lower object to work/tmp/tmp: src is an O_RDONLY fd of it
 * for a regular file (data and xattrs are read from it), else O_PATH.
 * *out is an O_PATH fd of the copy; *cap: it has security.capability. */
static int make_copy(struct ufs *fs, int layer, int src, const struct stat *st, const char *tmp,
                     bool with_data, int *out, bool *cap)
{
    int fd = -1, r = 0;
    *cap = false;
    if (S_ISREG(st->st_mode)) {
        int rw = openat(fs->tmp_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (rw < 0)
            return errno;
        if (with_data)
            r = copy_data(&fs->layers[layer], src, rw, st);
        if (!r)
            r = copy_meta(fs, src, rw, st, false, -1, NULL, cap);
        if (!r && fs->o.durable_copyup && !fs->o.volatile_mode && fsync(rw) < 0)
            r = errno;
        /* the node keeps an O_PATH fd: a writer's fd kept open would make
         * exec(2) of the file fail ETXTBSY.  The name is ours alone until
         * the rename, so it is opened by name, not through /proc. */
        if (!r && (fd = openat(fs->tmp_fd, tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
            r = errno;
        close(rw);
    } else if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX + 1];
        ssize_t len = readlinkat(src, "", target, PATH_MAX);
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
    /* a lazy node's fd may be set by another thread's ufs_node_pfd
     * (compare and swap from -1) until now: swap, never overwrite */
    n->lfd = __atomic_exchange_n(&n->fd, pfd, __ATOMIC_ACQ_REL);
    n->layer = 0;
}

/* What ufs_copy_up_big learnt of a lower file, for the copy-up the same
 * thread may do while serving the same request (lowers never change). */
static _Thread_local struct {
    struct ufs_node *n;
    struct stat st;
} hint;

void ufs_copy_up_hint_clear(void)
{
    hint.n = NULL;
}

bool ufs_copy_up_big(struct ufs *fs, struct ufs_node *n, off_t limit)
{
    hint.n = NULL;
    if (!fs->has_upper || !S_ISREG(n->type))
        return false;
    pthread_mutex_lock(&n->lock);
    bool lower = n->layer > 0;
    if (lower && ufs_node_lstat(fs, n, &hint.st) == 0 && S_ISREG(hint.st.st_mode))
        hint.n = n;
    pthread_mutex_unlock(&n->lock);
    return hint.n && hint.st.st_size > limit;
}

/* The lower object of non-dir n: *src O_RDONLY for a regular file, else
 * n's O_PATH fd, which the caller does not close.  Caller holds tree_lock
 * and n->lock.  A regular file is opened by name where its lookup found
 * it (one path component, no /proc/self/fd walk), even when the node has
 * an fd: tree_lock keeps n's parent and name, and a lower node is never
 * moved (rename copies a file up before it moves it; the children of a
 * moved directory keep their parent, whose lower dir fds stay). */
static int open_lower(struct ufs *fs, struct ufs_node *n, int *src, bool *owned,
                      struct stat *st)
{
    *owned = S_ISREG(n->type);
    struct ufs_node *p = n->parent;
    int dir = *owned && p && p->dfd && n->name ? p->dfd[n->layer] : -1;
    if (dir >= 0)
        *src = openat(dir, n->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    else
        *src = *owned ? ufs_node_open(fs, n, O_RDONLY) : ufs_node_pfd(fs, n);
    if (*src < 0)
        return errno;
    if (hint.n == n) {
        *st = hint.st;
        hint.n = NULL;
        return 0;
    }
    if (fstat(*src, st) < 0) {
        int r = errno;
        if (*owned)
            close(*src);
        return r;
    }
    return 0;
}

static int copy_nondir(struct ufs *fs, struct ufs_node *n, struct ufs_node *parent, int pup,
                       bool with_data, bool *pchanged)
{
    char tmp[64];
    struct stat st;
    int src;
    bool owned;
    int r = open_lower(fs, n, &src, &owned, &st);
    if (r)
        return r;
    ufs_tmp_name(fs, tmp, sizeof tmp);
    int fd = -1;
    bool cap;
    r = make_copy(fs, n->layer, src, &st, tmp, with_data, &fd, &cap);
    if (owned)
        close(src);
    char key[64] = "";
    if (!r && S_ISREG(st.st_mode) && st.st_nlink > 1) {
        /* this name becomes an upper name: the others stay lower names */
        index_key(fs, n->layer, &st, key, sizeof key);
        r = set_lower_links(fd, st.st_nlink - 1);
        if (!r && linkat(fs->tmp_fd, tmp, fs->index_fd, key, 0) < 0)
            r = errno;
    }
    if (!r && (r = rename_into(fs, parent, pup, tmp, n->name, pchanged)) && *key)
        unlinkat(fs->index_fd, key, 0);
    if (r) {
        unlinkat(fs->tmp_fd, tmp, 0);
        if (fd >= 0)
            close(fd);
        return r;
    }
    node_now_upper(fs, n, fd, &st, *key != 0);
    /* what the copy has, it got here: a file without security.capability
     * costs the kernel's question before a first write no syscall */
    if (!cap)
        n->nocap_layer = 0;
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
    int src = ufs_node_open(fs, n, O_RDONLY);
    bool cap;
    int r = src < 0 ? errno : make_copy(fs, n->layer, src, st, tmp, true, &fd, &cap);
    if (src >= 0)
        close(src);
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
        pfd = TAKE_FD(fd);
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

/* A copy-up changes inodes the request did not name: a directory copied
 * up for a descendant becomes merged (link count 1, the upper's size), and
 * the rename into the parent changes the parent, though its times are put
 * back (rename_into) and only a failed restore or a grown directory is
 * left to tell.  Entries and attributes are cached for a day, so the
 * kernel is told to drop those attributes.
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
    bool copied = false, pchanged = false;
    if (n->layer != 0) {
        if (n->dfd)
            r = copy_dir(fs, n, parent, pup, &pchanged);
        else
            r = copy_nondir(fs, n, parent, pup, with_data, &pchanged);
        copied = !r;
    }
    pthread_mutex_unlock(&n->lock);
    if (copied) {
        if (pchanged)
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
