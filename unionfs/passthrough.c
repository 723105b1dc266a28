/* FUSE passthrough on libfuse 3.14 (see passthrough.h).
 *
 * libfuse does INIT itself and its fuse_reply_open has no backing id, so
 * the session's io goes through the hooks below (fuse_session_custom_io on
 * the fd fuse_session_mount opened): the INIT request tells whether the
 * kernel offers passthrough, its reply gets FUSE_PASSTHROUGH and
 * max_stack_depth, and an open or create reply of a thread armed by
 * ufs_pt_open gets FOPEN_PASSTHROUGH and the backing id.  libfuse writes
 * every reply synchronously from the thread that answers, so a thread-local
 * note is enough to find the right one.
 *
 * Which answer an open gets (the kernel's rules, fs/fuse/iomode.c: an inode
 * is in passthrough mode with one backing file while any such open exists,
 * or in page cache mode; an open that breaks the mode fails with EIO):
 *   - no open: a new backing id for the fd we opened, FOPEN_PASSTHROUGH;
 *   - passthrough opens of the same layer file: the same id;
 *   - passthrough opens of another file (they hold the lower file, the node
 *     was copied up since): a reader gets FOPEN_PASSTHROUGH|FOPEN_DIRECT_IO
 *     with their id, so read(2) comes to us and sees the upper (only an
 *     mmap of it maps the old lower file); a writer must not (the kernel
 *     opens the backing file with the opener's flags: an mmap would write
 *     the lower), so it waits a second for them to close, then ETXTBSY;
 *   - page cache opens (the kernel refused a backing): page cache.
 * The kernel drops an inode's mode before it sends RELEASE, so our counts
 * are never below its own. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fuse.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "unionfs/internal.h"

#define TAG_PT (1ull << 32)     /* fi->fh: a passthrough open */
#define TAG_CACHED (1ull << 33) /* fi->fh: a page cache open, counted */
#define WRITER_WAIT_MS 1000

/* max_stack_depth took 7.38's first unused word */
#define INIT_OUT_MAX_STACK_DEPTH offsetof(struct fuse_init_out, unused)

static _Thread_local struct {
    bool armed;
    uint32_t open_flags;
    int32_t id;
} reply_note;

void ufs_pt_fs_init(struct ufs_pt_fs *p)
{
    p->fuse_fd = -1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
}

void ufs_pt_fs_free(struct ufs_pt_fs *p)
{
    pthread_cond_destroy(&p->cond);
}

/* Registering a backing file needs CAP_SYS_ADMIN in the initial user
 * namespace (fs/fuse/backing.c); anything else would only fail later. */
static bool init_ns_admin(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0 || !(d[0].effective & (1u << CAP_SYS_ADMIN)))
        return false;
    FILE *f = fopen("/proc/self/uid_map", "re");
    if (!f)
        return false;
    unsigned long inside, outside, count;
    bool full = fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 &&
                outside == 0 && count == 4294967295ul;
    fclose(f);
    return full;
}

/* Backing files must sit lower than max_stack_depth: 1 lets our mount be
 * a layer of kernel overlayfs, 2 is needed when a layer is itself on a
 * stacked filesystem (strata inside an overlayfs container). */
static uint32_t stack_depth(struct ufs *fs)
{
    for (int i = 0; i < fs->n_layers; i++) {
        struct statfs sf;
        if (fstatfs(fs->layers[i].fd, &sf) == 0 &&
            (sf.f_type == OVERLAYFS_SUPER_MAGIC || sf.f_type == FUSE_SUPER_MAGIC ||
             sf.f_type == ECRYPTFS_SUPER_MAGIC))
            return 2;
    }
    return 1;
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
    struct ufs *fs = userdata;
    ssize_t r = read(fd, buf, len);
    const struct fuse_in_header *in = buf;
    if (r >= (ssize_t)(sizeof *in + offsetof(struct fuse_init_in, unused)) &&
        in->opcode == FUSE_INIT) {
        const struct fuse_init_in *arg = (const void *)(in + 1);
        fs->pt.init_unique = in->unique;
        fs->pt.kernel = (arg->flags & FUSE_INIT_EXT) && (arg->flags2 & UFS_FUSE_PASSTHROUGH_FLAGS2);
    }
    return r;
}

static void patch_init(struct ufs *fs, struct iovec *iov, int count)
{
    if (count < 2 || iov[1].iov_len < INIT_OUT_MAX_STACK_DEPTH + sizeof(uint32_t))
        return;
    struct fuse_init_out *out = iov[1].iov_base;
    out->flags |= FUSE_INIT_EXT;
    out->flags &= ~(uint32_t)FUSE_WRITEBACK_CACHE;
    out->flags2 |= UFS_FUSE_PASSTHROUGH_FLAGS2;
    uint32_t depth = fs->pt.depth;
    memcpy((char *)out + INIT_OUT_MAX_STACK_DEPTH, &depth, sizeof depth);
}

/* fuse_reply_open sends a fuse_open_out, fuse_reply_create a fuse_entry_out
 * followed by one: either way the last 16 bytes. */
static void patch_open(struct iovec *iov, int count)
{
    if (count < 2)
        return;
    size_t len = iov[count - 1].iov_len;
    if (len != sizeof(struct fuse_open_out) &&
        len != sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out))
        return;
    struct fuse_open_out *out =
        (void *)((char *)iov[count - 1].iov_base + len - sizeof(struct fuse_open_out));
    out->open_flags |= reply_note.open_flags;
    int32_t id = reply_note.id;
    memcpy(&out->padding, &id, sizeof id); /* 7.40: backing_id */
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    struct ufs *fs = userdata;
    const struct fuse_out_header *h = iov[0].iov_base;
    if (iov[0].iov_len >= sizeof *h && h->error == 0) {
        if (reply_note.armed)
            patch_open(iov, count);
        else if (h->unique == fs->pt.init_unique && atomic_load(&fs->pt.on))
            patch_init(fs, iov, count);
    }
    return writev(fd, iov, count);
}

static ssize_t io_splice(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
                         unsigned int flags, void *userdata)
{
    (void)userdata;
    return splice(fdin, offin, fdout, offout, len, flags);
}

int ufs_pt_session(struct ufs *fs)
{
    if (fs->o.no_passthrough || !init_ns_admin())
        return 0; /* rootless, or asked not to: libfuse's own io, as ever */
    const struct fuse_custom_io io = {
        .read = io_read,
        .writev = io_writev,
        .splice_receive = io_splice,
        .splice_send = io_splice,
    };
    int fd = fuse_session_fd(fs->se);
    if (fd < 0 || fuse_session_custom_io(fs->se, &io, fd) != 0)
        return EINVAL;
    fs->pt.fuse_fd = fd;
    fs->pt.depth = stack_depth(fs);
    fs->pt.io = true;
    return 0;
}

bool ufs_pt_init(struct ufs *fs, struct fuse_conn_info *conn)
{
    (void)conn;
    bool on = fs->pt.io && fs->pt.kernel;
    atomic_store(&fs->pt.on, on);
    if (fs->o.debug)
        fuse_log(FUSE_LOG_DEBUG, "strata-unionfs: passthrough %s\n",
                 on ? "on"
                 : fs->o.no_passthrough ? "off (passthrough=off)"
                 : !fs->pt.io           ? "off (no CAP_SYS_ADMIN in the initial user namespace)"
                                        : "off (the kernel does not offer it)");
    return on;
}

static int wants_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* Lock held.  Waits until n has no passthrough open of another file than
 * (dev, ino), or the deadline passes. */
static void wait_other_backing(struct ufs *fs, struct ufs_node *n, dev_t dev, ino_t ino,
                               int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (n->pt.refs && (n->pt.dev != dev || n->pt.ino != ino))
        if (pthread_cond_timedwait(&fs->pt.cond, &n->lock, &ts) == ETIMEDOUT)
            break;
}

int ufs_pt_before_copy_up(struct ufs *fs, struct ufs_node *n)
{
    if (!atomic_load(&fs->pt.on))
        return 0;
    pthread_mutex_lock(&n->lock);
    int r = 0;
    if (n->layer > 0 && n->pt.refs) {
        struct stat st;
        if (fstat(n->fd, &st) == 0 && st.st_dev == n->pt.dev && st.st_ino == n->pt.ino) {
            /* (dev 0 matches no file: wait for every open to go) */
            wait_other_backing(fs, n, 0, 0, WRITER_WAIT_MS);
            r = n->pt.refs ? ETXTBSY : 0;
        }
    }
    pthread_mutex_unlock(&n->lock);
    return r;
}

int ufs_pt_open(struct ufs *fs, struct ufs_node *n, int fd, struct fuse_file_info *fi)
{
    reply_note.armed = false;
    if (!atomic_load(&fs->pt.on))
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return errno;
    bool writer = wants_write(fi->flags);
    struct ufs_pt_node *p = &n->pt;
    pthread_mutex_lock(&n->lock);
    bool other = p->refs && (p->dev != st.st_dev || p->ino != st.st_ino);
    if (other && writer) {
        /* most often the last opens of the lower are closed already and
         * their RELEASE is still on its way */
        wait_other_backing(fs, n, st.st_dev, st.st_ino, WRITER_WAIT_MS);
        other = p->refs != 0;
        if (other) {
            pthread_mutex_unlock(&n->lock);
            return ETXTBSY;
        }
    }
    uint32_t flags = UFS_FOPEN_PASSTHROUGH;
    if (other) {
        flags |= FOPEN_DIRECT_IO;
        p->refs++;
    } else if (p->refs) {
        p->refs++;
    } else if (p->cached || atomic_load(&fs->pt.broken)) {
        p->cached++;
        flags = 0;
    } else {
        struct ufs_fuse_backing_map map = {.fd = fd};
        int id = ioctl(fs->pt.fuse_fd, UFS_FUSE_DEV_IOC_BACKING_OPEN, &map);
        if (id > 0) {
            p->id = id;
            p->refs = 1;
            p->dev = st.st_dev;
            p->ino = st.st_ino;
        } else {
            /* no right to (EPERM), or no such ioctl: never again; a file
             * the kernel will not stack on (ELOOP...): this open only */
            if (errno == EPERM || errno == ENOTTY || errno == EOPNOTSUPP)
                atomic_store(&fs->pt.broken, true);
            p->cached++;
            flags = 0;
        }
    }
    int32_t id = p->id;
    pthread_mutex_unlock(&n->lock);
    if (flags) {
        fi->fh |= TAG_PT;
        fi->keep_cache = 0; /* the kernel refuses it with passthrough */
        reply_note.open_flags = flags;
        reply_note.id = id;
        reply_note.armed = true;
    } else {
        fi->fh |= TAG_CACHED;
    }
    return 0;
}

void ufs_pt_reply_done(void)
{
    reply_note.armed = false;
}

void ufs_pt_release(struct ufs *fs, uint64_t ino, uint64_t fh)
{
    if (!(fh & (TAG_PT | TAG_CACHED)))
        return;
    /* the kernel holds the inode until RELEASE is answered */
    struct ufs_node *n = ufs_node_find(fs, ino);
    if (!n)
        return;
    uint32_t id = 0;
    pthread_mutex_lock(&n->lock);
    if (fh & TAG_CACHED) {
        if (n->pt.cached)
            n->pt.cached--;
    } else if (n->pt.refs && --n->pt.refs == 0) {
        id = (uint32_t)n->pt.id;
        n->pt.id = 0;
        pthread_cond_broadcast(&fs->pt.cond);
    }
    pthread_mutex_unlock(&n->lock);
    /* once the session ended, libfuse's unmount may have closed the fd
     * (and the number may be another file's); the kernel frees the ids
     * with the connection */
    if (id && !fuse_session_exited(fs->se))
        ioctl(fs->pt.fuse_fd, UFS_FUSE_DEV_IOC_BACKING_CLOSE, &id);
}
