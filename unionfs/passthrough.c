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
 *     was copied up since, e.g. by a setxattr): a reader gets
 *     FOPEN_PASSTHROUGH|FOPEN_DIRECT_IO with their id, so read(2) comes to
 *     us and sees the upper (only an mmap of it maps the old lower file);
 *     a writer must not (the kernel opens the backing file with the
 *     opener's flags: it would write the lower), so it splits the node;
 *   - split (ufs_pt_split, before a writer's open or a setattr copies up a
 *     file whose lower is a backing): the name gets a new node with a new
 *     nodeid, i.e. a new kernel inode, the same st_ino; the old node, an
 *     orphan, keeps the old opens, their backing and the lower until the
 *     kernel forgets it.  The kernel's entry for the name is invalidated
 *     and the OPEN answered ESTALE: do_filp_open then walks the path once
 *     more with LOOKUP_REVAL, fuse_dentry_revalidate looks the name up
 *     again, sees another nodeid and drops the dentry, and the open is
 *     sent for the new inode, which gets its own backing of the upper.
 *     An orphan answers every OPEN with ESTALE (another hard link's
 *     dentry, still on the old inode, is looked up again the same way);
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
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "unionfs/internal.h"

#define TAG_PT (1ull << 32)     /* fi->fh: a passthrough open */
#define TAG_CACHED (1ull << 33) /* fi->fh: a page cache open, counted */
#define TAG_SHARED (1ull << 34) /* fi->fh: the node's kept fd, not the open's */

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
}

void ufs_pt_fs_free(struct ufs_pt_fs *p)
{
    (void)p;
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

static _Thread_local bool req_kill;

/* The kill flag of a request, which libfuse 3.14 does not pass on. */
static bool kill_flag(const struct fuse_in_header *in, size_t len)
{
    const void *arg = in + 1;
    len -= sizeof *in;
    switch (in->opcode) {
    case FUSE_WRITE:
        return len >= sizeof(struct fuse_write_in) &&
               (((const struct fuse_write_in *)arg)->write_flags & FUSE_WRITE_KILL_SUIDGID);
    case FUSE_SETATTR:
        return len >= sizeof(struct fuse_setattr_in) &&
               (((const struct fuse_setattr_in *)arg)->valid & FATTR_KILL_SUIDGID);
    case FUSE_OPEN:
        return len >= sizeof(struct fuse_open_in) &&
               (((const struct fuse_open_in *)arg)->open_flags & FUSE_OPEN_KILL_SUIDGID);
    case FUSE_CREATE:
        return len >= sizeof(struct fuse_create_in) &&
               (((const struct fuse_create_in *)arg)->open_flags & FUSE_OPEN_KILL_SUIDGID);
    default:
        return false;
    }
}

bool ufs_pt_req_kill(void)
{
    return req_kill;
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
    struct ufs *fs = userdata;
    ssize_t r = read(fd, buf, len);
    const struct fuse_in_header *in = buf;
    req_kill = r >= (ssize_t)sizeof *in && kill_flag(in, (size_t)r);
    if (r >= (ssize_t)(sizeof *in + offsetof(struct fuse_init_in, unused)) &&
        in->opcode == FUSE_INIT) {
        const struct fuse_init_in *arg = (const void *)(in + 1);
        fs->pt.init_unique = in->unique;
        fs->pt.kernel = (arg->flags & FUSE_INIT_EXT) && (arg->flags2 & UFS_FUSE_PASSTHROUGH_FLAGS2);
        fs->pt.kernel_killpriv = arg->flags & FUSE_HANDLE_KILLPRIV_V2;
    }
    return r;
}

static void patch_init(struct ufs *fs, struct iovec *iov, int count)
{
    if (count < 2 || iov[1].iov_len < INIT_OUT_MAX_STACK_DEPTH + sizeof(uint32_t))
        return;
    struct fuse_init_out *out = iov[1].iov_base;
    if (atomic_load(&fs->pt.killpriv))
        out->flags |= FUSE_HANDLE_KILLPRIV_V2;
    if (!atomic_load(&fs->pt.on))
        return;
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
        else if (h->unique == fs->pt.init_unique)
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

bool ufs_pt_killpriv_init(struct ufs *fs)
{
    /* with passthrough only: written data mostly skips us there, while
     * elsewhere reading the requests instead of splicing them in made a
     * 512 MiB write through the writeback cache a quarter slower */
    bool on = fs->pt.io && fs->pt.kernel_killpriv && atomic_load(&fs->pt.on);
    atomic_store(&fs->pt.killpriv, on);
    return on;
}

static int wants_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* Is st the object of p's backing?  A kept backing learns its identity
 * only when asked (a reader's open needs none: its node's layer tells). */
static bool same_backing(struct ufs_pt_node *p, const struct stat *st)
{
    struct stat kst;
    if (!p->ino && p->fd >= 0 && fstat(p->fd, &kst) == 0) {
        p->dev = kst.st_dev;
        p->ino = kst.st_ino;
    }
    return p->dev == st->st_dev && p->ino == st->st_ino;
}

/* n->lock held.  The passthrough opens of n hold a file that writes must
 * not reach: the lower (n not copied up yet, or copied up since). */
static bool backing_stays_behind(struct ufs_node *n)
{
    if (!n->pt.refs)
        return false;
    if (n->layer > 0)
        return true;
    if (n->pt.top)
        return false; /* registered from the upper object itself */
    struct stat st;
    return fstat(n->fd, &st) == 0 && !same_backing(&n->pt, &st);
}

static int dup_fd(int fd)
{
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

int ufs_pt_split(struct ufs *fs, struct ufs_node *n, bool notify, struct ufs_node **out)
{
    *out = NULL;
    if (!atomic_load(&fs->pt.on) || !S_ISREG(n->type))
        return 0;
    /* the common case (no open left behind) without the tree lock */
    pthread_mutex_lock(&n->lock);
    bool maybe = !n->orphan && backing_stays_behind(n);
    pthread_mutex_unlock(&n->lock);
    if (!maybe)
        return 0;
    pthread_rwlock_wrlock(&fs->tree_lock);
    pthread_mutex_lock(&n->lock);
    int r = 0;
    struct ufs_node *m = NULL, *parent = n->parent;
    char *name = NULL;
    if (!n->orphan && parent && n->name && backing_stays_behind(n)) {
        m = ufs_node_alloc(fs->n_layers);
        m->type = n->type;
        m->layer = n->layer;
        m->fd = dup_fd(ufs_node_pfd(fs, n));
        m->lfd = dup_fd(n->lfd);
        if (m->fd < 0 || (n->lfd >= 0 && m->lfd < 0)) {
            r = errno;
            if (m->fd >= 0)
                close(m->fd);
            if (m->lfd >= 0)
                close(m->lfd);
            pthread_mutex_destroy(&m->lock);
            free(m);
            m = NULL;
        } else {
            m->index = n->index;
            m->odev = n->odev;
            m->oino = n->oino;
            m->lower_nlink = n->lower_nlink;
            m->parent = parent;
            m->name = xstrdup(n->name);
            name = xstrdup(n->name);
            ufs_node_split(fs, n, m);
        }
    }
    /* the orphan stays as its opens see it: its layer file and backing */
    uint64_t pnodeid = parent ? parent->nodeid : 0;
    pthread_mutex_unlock(&n->lock);
    pthread_rwlock_unlock(&fs->tree_lock);
    if (m && notify && fs->se)
        /* safe here (see the callers): the kernel holds no lock on the
         * parent while it waits for this request */
        fuse_lowlevel_notify_inval_entry(fs->se, (fuse_ino_t)pnodeid, name, strlen(name));
    free(name);
    *out = m;
    return r;
}

/* Unregisters backing id (0: none) and closes its kept fd (-1: none). */
static void drop_backing(struct ufs *fs, int id, int fd)
{
    /* once the session ended, libfuse's unmount may have closed the fd
     * (and the number may be another file's); the kernel frees the ids
     * with the connection */
    if (id && !fuse_session_exited(fs->se)) {
        uint32_t u = (uint32_t)id;
        ioctl(fs->pt.fuse_fd, UFS_FUSE_DEV_IOC_BACKING_CLOSE, &u);
    }
    if (fd >= 0)
        close(fd);
}

static void arm_reply(struct fuse_file_info *fi, uint32_t flags, int32_t id)
{
    fi->fh |= TAG_PT;
    fi->keep_cache = 0; /* the kernel refuses it with passthrough */
    reply_note.open_flags = flags;
    reply_note.id = id;
    reply_note.armed = true;
}

/* The kept backing: registered from an O_RDONLY fd of our own on the first
 * reader's open, it stays until FORGET (or the node's object changes), so
 * a file read again costs no ioctl, and its readers share that fd for
 * what still comes to us (fsync, lseek, copy_file_range): an open costs
 * no syscall at all.  Only a read-only fd is kept: one open for writing
 * would make exec(2) of the file fail (ETXTBSY) while we hold it. */
bool ufs_pt_open_shared(struct ufs *fs, struct ufs_node *n, struct fuse_file_info *fi)
{
    reply_note.armed = false;
    if (!atomic_load(&fs->pt.on) || atomic_load(&fs->pt.broken) || wants_write(fi->flags))
        return false;
    struct ufs_pt_node *p = &n->pt;
    int stale_id = 0, stale_fd = -1;
    bool ok = false;
    pthread_mutex_lock(&n->lock);
    if (p->cached || (p->refused && p->layer == n->layer))
        goto out; /* page cache mode, or a file the kernel will not stack on */
    if (p->id && (p->layer != n->layer || p->fd < 0)) {
        /* copied up since, or an open's own backing: the usual way
         * (another backing while the old one's opens last, or a share) */
        if (p->refs)
            goto out;
        stale_id = p->id;
        stale_fd = p->fd;
        p->id = 0;
        p->fd = -1;
    }
    if (!p->id) {
        int fd = ufs_node_open(fs, n, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            goto out;
        struct ufs_fuse_backing_map map = {.fd = fd};
        int id = ioctl(fs->pt.fuse_fd, UFS_FUSE_DEV_IOC_BACKING_OPEN, &map);
        if (id <= 0) {
            if (errno == EPERM || errno == ENOTTY || errno == EOPNOTSUPP)
                atomic_store(&fs->pt.broken, true);
            p->refused = true;
            p->layer = n->layer;
            close(fd);
            goto out;
        }
        p->id = id;
        p->fd = fd;
        p->layer = n->layer;
        p->top = n->layer == 0; /* ufs_node_open under n->lock: n's object */
        p->refused = false;
        p->dev = 0;
        p->ino = 0; /* unknown until same_backing asks */
    }
    p->refs++;
    fi->fh = (uint64_t)p->fd | TAG_SHARED;
    arm_reply(fi, UFS_FOPEN_PASSTHROUGH, p->id);
    ok = true;
out:
    pthread_mutex_unlock(&n->lock);
    drop_backing(fs, stale_id, stale_fd);
    return ok;
}

int ufs_pt_open(struct ufs *fs, struct ufs_node *n, int fd, struct fuse_file_info *fi,
                const struct stat *known, bool top)
{
    reply_note.armed = false;
    if (!atomic_load(&fs->pt.on))
        return 0;
    struct stat st;
    if (known)
        st = *known;
    else if (fstat(fd, &st) < 0)
        return errno;
    bool writer = wants_write(fi->flags);
    struct ufs_pt_node *p = &n->pt;
    int stale_id = 0, stale_fd = -1;
    pthread_mutex_lock(&n->lock);
    bool other = p->refs && !same_backing(p, &st);
    if (other && writer) {
        /* a reader opened the lower since do_open's split check: the
         * kernel would reopen the lower for this writer, so it retries
         * (ESTALE) on a new node instead, as do_open's own split does */
        pthread_mutex_unlock(&n->lock);
        return ESTALE;
    }
    uint32_t flags = UFS_FOPEN_PASSTHROUGH;
    /* with killpriv the kernel leaves clearing suid/sgid on write to us,
     * and a passthrough write never reaches us: such a writer's writes
     * come here (the kernel still reads and maps the backing, if any) */
    bool kill = writer && atomic_load(&fs->pt.killpriv) &&
                ((st.st_mode & S_ISUID) || (st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP));
    if (other || (kill && p->refs)) {
        flags |= FOPEN_DIRECT_IO;
        p->refs++;
    } else if (kill) {
        p->cached++;
        flags = 0;
    } else if (p->refs) {
        p->refs++;
    } else if (p->cached || atomic_load(&fs->pt.broken)) {
        p->cached++;
        flags = 0;
    } else if (p->id && same_backing(p, &st)) {
        p->refs = 1; /* the kept backing is this file */
    } else {
        /* a kept backing of the lower, copied up since: replaced */
        stale_id = p->id;
        stale_fd = p->id ? p->fd : -1;
        p->id = 0;
        p->fd = -1;
        struct ufs_fuse_backing_map map = {.fd = fd};
        int id = ioctl(fs->pt.fuse_fd, UFS_FUSE_DEV_IOC_BACKING_OPEN, &map);
        if (id > 0) {
            /* not kept: an fd open for writing would keep the file busy
             * (ETXTBSY) after its last close */
            p->id = id;
            p->refs = 1;
            p->top = top && n->layer == 0;
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
    drop_backing(fs, stale_id, stale_fd);
    if (flags) {
        arm_reply(fi, flags, id);
    } else {
        fi->fh |= TAG_CACHED;
    }
    return 0;
}

void ufs_pt_reply_done(void)
{
    reply_note.armed = false;
}

bool ufs_pt_release(struct ufs *fs, uint64_t ino, uint64_t fh)
{
    if (!(fh & (TAG_PT | TAG_CACHED)))
        return true;
    /* the kernel holds the inode until RELEASE is answered */
    struct ufs_node *n = ufs_node_find(fs, ino);
    if (!n)
        return !(fh & TAG_SHARED);
    int id = 0;
    pthread_mutex_lock(&n->lock);
    if (fh & TAG_CACHED) {
        if (n->pt.cached)
            n->pt.cached--;
    } else if (n->pt.refs && --n->pt.refs == 0 && n->pt.fd < 0) {
        id = n->pt.id; /* an open's fd: not kept */
        n->pt.id = 0;
    }
    pthread_mutex_unlock(&n->lock);
    drop_backing(fs, id, -1);
    return !(fh & TAG_SHARED);
}

void ufs_pt_node_free(struct ufs *fs, struct ufs_node *n, bool live)
{
    if (!n->pt.id)
        return;
    if (live)
        drop_backing(fs, n->pt.id, n->pt.fd);
    else if (n->pt.fd >= 0)
        close(n->pt.fd);
}
