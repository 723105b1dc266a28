/* FUSE ops on open files.  The data path (read, write, fsync, fallocate,
 * lseek, copy_file_range) works on the fd in fi->fh and takes no lock;
 * reads splice straight from the layer file into the kernel. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unionfs/internal.h"
#include "unionfs/ops.h"

static int open_flags(struct ufs *fs, int flags)
{
    flags &= ~(O_CREAT | O_EXCL | O_NOCTTY);
    if (fs->writeback) {
        /* the kernel reads pages to fill partial writes and implements
         * O_APPEND itself from its cached size */
        if ((flags & O_ACCMODE) == O_WRONLY)
            flags = (flags & ~O_ACCMODE) | O_RDWR;
        flags &= ~O_APPEND;
    }
    return flags | O_CLOEXEC;
}

static bool wants_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* Whether an O_TRUNC open is to clear suid/sgid.  With killpriv the
 * kernel says so.  Without, its own clearing is lost: with atomic_o_trunc
 * it sends no SETATTR after the OPEN, so it is done here for callers other
 * than root (whose CAP_FSETID keeps the bits, as in the kernel's rule). */
static bool trunc_kills(fuse_req_t req, struct ufs *fs, struct fuse_file_info *fi)
{
    if (!(fi->flags & O_TRUNC))
        return false;
    if (atomic_load(&fs->pt.killpriv))
        return ufs_pt_req_kill();
    return fuse_req_ctx(req)->uid != 0;
}

/* ESTALE makes the kernel walk the path again, looking the last name up
 * afresh (passthrough.c, split).  notify: the kernel holds no lock on the
 * parent (OPEN, not CREATE). */
static int do_open(struct ufs *fs, struct ufs_node *n, struct fuse_file_info *fi, bool notify,
                   bool trunc_kill)
{
    if (n->dfd)
        return EISDIR;
    pthread_mutex_lock(&n->lock);
    bool orphan = n->orphan;
    pthread_mutex_unlock(&n->lock);
    if (orphan)
        return ESTALE;
    struct ufs_node *m;
    if (wants_write(fi->flags)) {
        if (!fs->has_upper)
            return EROFS;
        int r = ufs_pt_split(fs, n, notify, &m);
        if (!r && m)
            return ESTALE;
        if (!r)
            r = ufs_copy_up(fs, n, !(fi->flags & O_TRUNC));
        if (r)
            return r;
        if (trunc_kill)
            ufs_kill_suidgid_notify(fs, n);
    }
    /* a reader of a file with a kept passthrough backing: no fd to open */
    if (S_ISREG(n->type) && !wants_write(fi->flags) && ufs_pt_open_shared(fs, n, fi))
        return 0;
    pthread_mutex_lock(&n->lock);
    int src = ufs_node_pfd(fs, n);
    bool lower = n->layer > 0;
    pthread_mutex_unlock(&n->lock);
    int fd = ufs_reopen(src, open_flags(fs, fi->flags));
    if (fd < 0)
        return errno;
    fi->fh = (uint64_t)fd;
    /* lower files never change: keep their pages across opens */
    fi->keep_cache = lower;
    int r = S_ISREG(n->type) ? ufs_pt_open(fs, n, fd, fi, NULL, !lower) : 0;
    if (r)
        close(fd);
    if (r == ESTALE) {
        int r2 = ufs_pt_split(fs, n, notify, &m);
        if (r2)
            r = r2;
    }
    return r;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    int r = n ? do_open(fs, n, fi, true, trunc_kills(req, fs, fi)) : ENOENT;
    if (r) {
        fuse_reply_err(req, r);
        return;
    }
    r = fuse_reply_open(req, fi);
    ufs_pt_reply_done();
    if (r == -ENOENT) {
        /* the opener was interrupted: no RELEASE will come */
        if (ufs_pt_release(fs, ino, fi->fh))
            close((int)fi->fh);
    }
}

/* Whether directory p exists in the upper and nothing merges below it:
 * then the upper alone says whether a name exists there and no whiteout
 * can hide a lower one, so O_EXCL is the whole check (the kernel sends
 * CREATE for a name its lookup found absent, holding the parent's lock). */
static bool upper_only(struct ufs *fs, struct ufs_node *p)
{
    pthread_mutex_lock(&p->lock);
    bool only = p->dfd && p->layer == 0;
    for (int i = 1; only && i < fs->n_layers; i++)
        only = p->dfd[i] < 0;
    pthread_mutex_unlock(&p->lock);
    return only;
}

/* The node of the file this request created as fd in upper dir pup; *st
 * gets its stat (after ufs_new_owner: the reply's). */
static int created_node(struct ufs *fs, struct ufs_node *p, int pup, const char *name, int fd,
                        struct stat *st, struct ufs_node **out)
{
    struct ufs_entry e = {.layer = 0, .upper = true, .created = true};
    if (fstat(fd, &e.st) < 0)
        return errno;
    e.fd = openat(pup, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (e.fd < 0)
        return errno;
    *st = e.st;
    ufs_entry_to_node(fs, p, name, &e, out);
    ufs_entry_release(fs, &e);
    return 0;
}

/* The create in p's upper dir pup: a copy-up into p restores p's times
 * afterwards, never over this (copyup.c).  -1 with errno. */
static int create_at(struct ufs_node *p, int pup, const char *name, int flags, mode_t mode)
{
    ufs_dir_change_begin(p);
    int fd = openat(pup, name, flags, mode & 07777);
    int saved = errno;
    ufs_dir_change_end(p);
    errno = saved;
    return fd;
}

static int do_create(fuse_req_t req, struct ufs *fs, struct ufs_node *p, const char *name,
                     mode_t mode, struct fuse_file_info *fi)
{
    if (!fs->has_upper)
        return EROFS;
    if (ufs_name_reserved(name))
        return EINVAL;
    int flags = open_flags(fs, fi->flags) | O_CREAT | O_EXCL;
    int fd = -1, pup = -1, r = 0;
    bool had_wh = false;
    struct ufs_node *n = NULL;
    if (upper_only(fs, p)) {
        pup = ufs_upper_dir(fs, p);
        if (pup < 0)
            return -pup;
        fd = create_at(p, pup, name, flags, mode);
        if (fd < 0 && errno != EEXIST)
            return errno;
    }
    if (fd < 0) {
        /* merged, or the name is there: what the view shows decides */
        struct ufs_entry ent;
        r = ufs_resolve(fs, p, name, &ent);
        bool exists = ent.layer >= 0;
        had_wh = ent.upper_whiteout;
        if (!r && exists) {
            /* lost a race with another creator: open what is there */
            if (fi->flags & O_EXCL)
                r = EEXIST;
            else
                ufs_entry_to_node(fs, p, name, &ent, &n);
        }
        ufs_entry_release(fs, &ent);
        if (r)
            return r;
        if (!n) {
            pup = ufs_upper_dir(fs, p);
            if (pup < 0)
                return -pup;
            fd = create_at(p, pup, name, flags, mode);
            if (fd < 0)
                return errno;
        }
    }
    struct fuse_entry_param e;
    if (!n) {
        struct stat st;
        r = ufs_new_owner(req, fs, pup, name, S_IFREG | (mode & 07777), 0);
        if (!r && had_wh) {
            ufs_dir_change_begin(p);
            ufs_unlink_whiteout(pup, name);
            ufs_dir_change_end(p);
        }
        if (!r)
            r = created_node(fs, p, pup, name, fd, &st, &n);
        if (r) {
            close(fd);
            return r;
        }
        fi->fh = (uint64_t)fd;
        if ((r = ufs_pt_open(fs, n, fd, fi, &st, true))) {
            close(fd);
            ufs_node_forget(fs, n, 1);
            return r;
        }
        ufs_fill_entry_st(fs, n, &st, &e);
    } else if ((r = do_open(fs, n, fi, false, trunc_kills(req, fs, fi)))) {
        ufs_node_forget(fs, n, 1);
        return r;
    } else {
        r = ufs_fill_entry(fs, n, &e);
    }
    if (!r && fuse_reply_create(req, &e, fi) != -ENOENT) {
        ufs_pt_reply_done();
        return 0;
    }
    /* could not answer, or the creator was interrupted */
    ufs_pt_reply_done();
    if (ufs_pt_release(fs, n->nodeid, fi->fh))
        close((int)fi->fh);
    ufs_node_forget(fs, n, 1);
    return r;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *p = ufs_node_of(fs, parent);
    int r = p ? do_create(req, fs, p, name, mode, fi) : ENOENT;
    if (r)
        fuse_reply_err(req, r);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = (int)fi->fh;
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
                         struct fuse_file_info *fi)
{
    if (ufs_pt_req_kill()) {
        /* killpriv: a writer without CAP_FSETID (before the data, as the
         * kernel's file_remove_privs) */
        struct ufs *fs = fuse_req_userdata(req);
        struct ufs_node *n = ufs_node_of(fs, ino);
        if (n)
            ufs_kill_suidgid_notify(fs, n);
    }
    struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
    out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    out.buf[0].fd = (int)fi->fh;
    out.buf[0].pos = off;
    ssize_t r = fuse_buf_copy(&out, in, 0);
    if (r < 0)
        fuse_reply_err(req, (int)-r);
    else
        fuse_reply_write(req, (size_t)r);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ufs_pt_release(fuse_req_userdata(req), ino, fi->fh))
        close((int)fi->fh);
    fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct ufs *fs = fuse_req_userdata(req);
    int r = 0;
    if (!fs->o.volatile_mode) {
        int fd = (int)fi->fh;
        r = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0;
    }
    fuse_reply_err(req, r);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi)
{
    fuse_reply_err(req, fallocate((int)fi->fh, mode, off, len) < 0 ? errno : 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                     struct fuse_file_info *fi)
{
    off_t r = lseek((int)fi->fh, off, whence);
    if (r < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_lseek(req, r);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                               struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                               struct fuse_file_info *fi_out, size_t len, int flags)
{
    loff_t in = off_in, out = off_out;
    ssize_t r = copy_file_range((int)fi_in->fh, &in, (int)fi_out->fh, &out, len,
                                (unsigned)flags);
    if (r < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_write(req, (size_t)r);
}

void ufs_ops_file(struct fuse_lowlevel_ops *ops)
{
    ops->open = op_open;
    ops->create = op_create;
    ops->read = op_read;
    ops->write_buf = op_write_buf;
    /* no flush: the first FLUSH gets ENOSYS and the kernel stops sending
     * one per close(2) (it still writes dirty pages back itself) */
    ops->release = op_release;
    ops->fsync = op_fsync;
    ops->fallocate = op_fallocate;
    ops->lseek = op_lseek;
    ops->copy_file_range = op_copy_file_range;
}
