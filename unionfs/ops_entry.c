/* FUSE ops on inodes: lookup/forget, attributes, links, xattrs, statfs.
 * As in libfuse's passthrough_ll, helpers return a positive errno and
 * every request is answered exactly once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "unionfs/internal.h"
#include "unionfs/ops.h"

int ufs_fill_entry(struct ufs *fs, struct ufs_node *n, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    int r = ufs_node_stat(fs, n, &e->attr);
    if (r)
        return r;
    e->ino = n->nodeid;
    e->attr_timeout = e->entry_timeout = ufs_timeout(fs, n);
    return 0;
}

/* Same, from a stat just taken by the resolver (saves an fstat). */
void ufs_fill_entry_st(struct ufs *fs, struct ufs_node *n, const struct stat *st,
                       struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->attr = *st;
    pthread_mutex_lock(&n->lock);
    int fd = n->dfd ? n->dfd[n->layer] : n->fd;
    ufs_present_stat(fs, n, fd, &e->attr);
    pthread_mutex_unlock(&n->lock);
    e->ino = n->nodeid;
    e->attr_timeout = e->entry_timeout = ufs_timeout(fs, n);
}

/* Resolves parent/name and replies with an entry (or a negative one). */
int ufs_lookup_reply(fuse_req_t req, struct ufs *fs, struct ufs_node *p, const char *name)
{
    struct ufs_entry ent;
    int r = ufs_resolve(fs, p, name, &ent);
    if (r) {
        ufs_entry_release(fs, &ent);
        return r;
    }
    if (ent.layer < 0) {
        ufs_entry_release(fs, &ent);
        struct fuse_entry_param e = {0};
        e.entry_timeout = ufs_timeout(fs, p);
        fuse_reply_entry(req, &e);
        return 0;
    }
    struct ufs_node *n;
    ufs_entry_to_node(fs, p, name, &ent, &n);
    struct fuse_entry_param e;
    ufs_fill_entry_st(fs, n, &ent.st, &e);
    ufs_entry_release(fs, &ent);
    fuse_reply_entry(req, &e);
    return 0;
}

int ufs_new_entry_reply(fuse_req_t req, struct ufs *fs, struct ufs_node *p, int pup,
                        const char *name)
{
    /* the stat the entry was found with is the reply's (no second fstat) */
    struct ufs_entry ent;
    int r = ufs_resolve_new(fs, pup, name, &ent);
    if (r) {
        ufs_entry_release(fs, &ent);
        return r;
    }
    struct ufs_node *n;
    ufs_entry_to_node(fs, p, name, &ent, &n);
    struct fuse_entry_param e;
    ufs_fill_entry_st(fs, n, &ent.st, &e);
    ufs_entry_release(fs, &ent);
    fuse_reply_entry(req, &e);
    return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *p = ufs_node_of(fs, parent);
    int r = p ? ufs_lookup_reply(req, fs, p, name) : ENOENT;
    if (r)
        fuse_reply_err(req, r);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    if (n)
        ufs_node_forget(fs, n, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    struct ufs *fs = fuse_req_userdata(req);
    for (size_t i = 0; i < count; i++) {
        struct ufs_node *n = ufs_node_of(fs, forgets[i].ino);
        if (n)
            ufs_node_forget(fs, n, forgets[i].nlookup);
    }
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    struct stat st;
    int r = n ? ufs_node_stat(fs, n, &st) : ENOENT;
    if (r)
        fuse_reply_err(req, r);
    else
        fuse_reply_attr(req, &st, ufs_timeout(fs, n));
}

/* The fd of the node's topmost object (O_PATH for non-dirs). */
int ufs_node_fd(struct ufs *fs, struct ufs_node *n, bool *is_dir)
{
    pthread_mutex_lock(&n->lock);
    int fd = n->dfd ? n->dfd[n->layer] : ufs_node_pfd(fs, n);
    pthread_mutex_unlock(&n->lock);
    if (is_dir)
        *is_dir = n->dfd != NULL;
    return fd;
}

static int set_times(struct ufs *fs, struct ufs_node *n, int fd, struct fuse_file_info *fi,
                     const struct stat *attr, int to_set)
{
    struct timespec ts[2];
    ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        ts[0].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_ATIME)
        ts[0] = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        ts[1].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_MTIME)
        ts[1] = attr->st_mtim;
    if (fi)
        return futimens((int)fi->fh, ts) < 0 ? errno : 0;
    if (S_ISLNK(n->type)) {
        /* no race-free way on a symlink: go through its name */
        pthread_rwlock_rdlock(&fs->tree_lock);
        int r = 0;
        if (n->parent && n->name) {
            pthread_mutex_lock(&n->parent->lock);
            int pfd = n->parent->dfd[0];
            pthread_mutex_unlock(&n->parent->lock);
            r = utimensat(pfd, n->name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
        }
        pthread_rwlock_unlock(&fs->tree_lock);
        return r;
    }
    if (n->dfd) /* a copy-up into it restores its times: not over these */
        ufs_dir_change_begin(n);
    int r = ufs_utimens_fd(fd, ts) < 0 ? errno : 0;
    if (n->dfd)
        ufs_dir_change_end(n);
    return r;
}

int ufs_kill_suidgid(struct ufs *fs, struct ufs_node *n, bool *changed, struct stat *out)
{
    *changed = false;
    struct stat sbuf, *stp = out ? out : &sbuf;
    if (!S_ISREG(n->type))
        return out ? ufs_node_stat(fs, n, out) : 0;
    int r = ufs_node_stat(fs, n, stp);
    if (r)
        return r;
    struct stat st = *stp;
    /* sgid without group exec marks mandatory locking: it stays */
    mode_t drop = S_ISUID | ((st.st_mode & S_IXGRP) ? S_ISGID : 0);
    if (!(st.st_mode & drop))
        return 0;
    mode_t mode = st.st_mode & 07777 & ~drop;
    int fd = ufs_node_fd(fs, n, NULL);
    struct ufs_override ov;
    if (fs->o.rootless_override && ufs_override_get(fd, false, &ov) == 0) {
        /* the recorded mode is the one shown; the real file keeps owner
         * access (as do_setattr leaves it) */
        ov.mode = (ov.mode & S_IFMT) | mode;
        if ((r = ufs_override_set(fd, &ov)))
            return r;
        mode |= 0600;
    }
    if (ufs_chmod_fd(fd, mode) < 0)
        return errno;
    *changed = true;
    return 0;
}

void ufs_kill_suidgid_notify(struct ufs *fs, struct ufs_node *n)
{
    bool changed;
    if (ufs_kill_suidgid(fs, n, &changed, NULL) == 0 && changed && fs->se)
        /* attributes only (off -1): no lock taken, safe from a request */
        fuse_lowlevel_notify_inval_inode(fs->se, (fuse_ino_t)n->nodeid, -1, 0);
}

/* Whether a SETATTR is to clear suid/sgid (killpriv): the kernel's flag
 * on a truncate or chown; or a SETATTR that sets nothing, which is what
 * the kernel's file_remove_privs sends then (it keeps its kill bits to
 * itself) for a passthrough write that never reaches us, by a writer that
 * opened the file before it was made suid (see passthrough.c: later ones
 * write through us), or for a chown(-1, -1).  Its kill bits are there
 * unless the caller has CAP_FSETID, which for want of better is taken as
 * being root (the kernel also sends it to drop a capability xattr alone). */
static bool setattr_kills(fuse_req_t req, struct ufs *fs, int to_set)
{
    if (!atomic_load(&fs->pt.killpriv))
        return false;
    if (ufs_pt_req_kill())
        return true;
    const int sets = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
                     FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                     FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
    return !(to_set & sets) && fuse_req_ctx(req)->uid != 0;
}

/* *have: st holds the node's stat after the change (the reply's). */
static int do_setattr(struct ufs *fs, struct ufs_node **np, struct stat *attr, int to_set,
                      struct fuse_file_info *fi, bool kill, struct stat *st, bool *have)
{
    *have = false;
    if (!fs->has_upper)
        return EROFS;
    struct ufs_node *n = *np;
    if (S_ISREG(n->type) && !fi) {
        /* a reader's passthrough backing is the lower: the change goes to
         * a new node for the name, the reader keeps the old one
         * (passthrough.c, split; SETATTR holds no lock on the parent) */
        pthread_mutex_lock(&n->lock);
        bool orphan = n->orphan;
        pthread_mutex_unlock(&n->lock);
        if (orphan)
            return ESTALE; /* its name went to another node */
        struct ufs_node *m;
        int r = ufs_pt_split(fs, n, true, &m);
        if (r)
            return r;
        if (m)
            *np = n = m;
    }
    bool trunc0 = (to_set & FUSE_SET_ATTR_SIZE) && attr->st_size == 0 &&
                  !(to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_CTIME));
    int r = ufs_copy_up(fs, n, !trunc0);
    if (r)
        return r;
    bool is_dir;
    int fd = ufs_node_fd(fs, n, &is_dir);
    bool is_link = S_ISLNK(n->type);
    char path[64];
    ufs_proc_path(path, sizeof path, fd);

    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        /* only a recorded override needs what is not being set; the type
         * never changes */
        struct stat cur = {.st_mode = n->type};
        if (fs->o.rootless_override) {
            r = ufs_node_stat(fs, n, &cur);
            if (r)
                return r;
        }
        uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : cur.st_uid;
        gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : cur.st_gid;
        mode_t mode = (to_set & FUSE_SET_ATTR_MODE) ? attr->st_mode : cur.st_mode;
        mode = (cur.st_mode & S_IFMT) | (mode & 07777);
        if (fs->o.rootless_override && !is_link) {
            /* record what the container asked for; the real file keeps
             * the daemon's ids and owner access so it stays usable */
            struct ufs_override ov = {.uid = ufs_uid_to_host(fs, uid),
                                      .gid = ufs_gid_to_host(fs, gid),
                                      .mode = mode & 07777};
            if (S_ISCHR(cur.st_mode) || S_ISBLK(cur.st_mode)) {
                struct stat real;
                if (fstat(fd, &real) == 0 && S_ISREG(real.st_mode)) {
                    ov.mode |= cur.st_mode & S_IFMT;
                    ov.rdev = cur.st_rdev;
                }
            }
            r = ufs_override_set(fd, &ov);
            if (r)
                return r;
            mode_t need = is_dir ? 0700 : 0600;
            if (S_ISREG(n->type) || is_dir)
                if (chmod(path, (mode & 07777) | need) < 0)
                    return errno;
        } else {
            if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
                uid_t hu = (to_set & FUSE_SET_ATTR_UID) ? ufs_uid_to_host(fs, uid) : (uid_t)-1;
                gid_t hg = (to_set & FUSE_SET_ATTR_GID) ? ufs_gid_to_host(fs, gid) : (gid_t)-1;
                if (fchownat(fd, "", hu, hg, AT_EMPTY_PATH) < 0)
                    return errno;
            }
            if ((to_set & FUSE_SET_ATTR_MODE) && !is_link) {
                if (fi ? fchmod((int)fi->fh, mode & 07777) < 0 : ufs_chmod_fd(fd, mode & 07777) < 0)
                    return errno;
            }
        }
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (fi ? ftruncate((int)fi->fh, attr->st_size) < 0 : truncate(path, attr->st_size) < 0)
            return errno;
    }
    if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
        r = set_times(fs, n, fd, fi, attr, to_set);
        if (r)
            return r;
    }
    if (kill) {
        /* the kernel left the mode alone; the reply carries the new one.
         * Last, so the stat it takes is the reply's when it changed
         * nothing. */
        bool changed;
        if ((r = ufs_kill_suidgid(fs, n, &changed, st)))
            return r;
        *have = !changed;
    }
    return 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    struct stat st;
    bool have = false;
    int r = n ? do_setattr(fs, &n, attr, to_set, fi, setattr_kills(req, fs, to_set), &st, &have)
              : ENOENT;
    if (!r && !have)
        r = ufs_node_stat(fs, n, &st);
    if (r)
        fuse_reply_err(req, r);
    else
        fuse_reply_attr(req, &st, ufs_timeout(fs, n));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    if (!n) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    char buf[PATH_MAX + 1];
    ssize_t len = ufs_node_readlink(fs, n, buf, sizeof buf - 1);
    if (len < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    buf[len] = 0;
    fuse_reply_readlink(req, buf);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct statvfs sv;
    if (fstatvfs(fs->layers[0].fd, &sv) < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_statfs(req, &sv);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    /* default_permissions: the kernel already checked the mode bits */
    struct ufs *fs = fuse_req_userdata(req);
    fuse_reply_err(req, (mask & W_OK) && !fs->has_upper ? EROFS : 0);
}

/* --- xattrs: go through /proc/self/fd, which works for O_PATH fds --- */

static int xattr_path(struct ufs *fs, struct ufs_node *n, char *path, size_t size)
{
    if (S_ISLNK(n->type))
        return ENOTSUP; /* no race-free xattr access to a symlink itself */
    int fd = ufs_node_fd(fs, n, NULL);
    if (fd < 0)
        return errno;
    ufs_proc_path(path, size, fd);
    return 0;
}

/* The kernel asks for security.capability before a file's first write
 * and at every chown (killpriv), mostly of files that have none: the
 * node remembers an absence (struct ufs_node, nocap_layer). */
#define XATTR_CAP "security.capability"

static bool nocap_known(struct ufs_node *n, unsigned *gen, int *layer)
{
    pthread_mutex_lock(&n->lock);
    bool known = n->nocap_layer >= 0 && n->nocap_layer == n->layer;
    *gen = n->xgen;
    *layer = n->layer;
    pthread_mutex_unlock(&n->lock);
    return known;
}

/* An ENODATA read from the object of layer at xgen gen: kept unless an
 * xattr change or a copy-up came in between. */
static void nocap_learn(struct ufs_node *n, unsigned gen, int layer)
{
    pthread_mutex_lock(&n->lock);
    if (n->xgen == gen && n->layer == layer)
        n->nocap_layer = layer;
    pthread_mutex_unlock(&n->lock);
}

/* Before and after every xattr change through us: a getxattr that read
 * the old state in between learns nothing. */
static void xattr_changing(struct ufs_node *n)
{
    pthread_mutex_lock(&n->lock);
    n->xgen++;
    n->nocap_layer = -1;
    pthread_mutex_unlock(&n->lock);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    unsigned gen = 0;
    int layer = -1;
    bool cap = n && strcmp(name, XATTR_CAP) == 0;
    if (cap && nocap_known(n, &gen, &layer)) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    int r = !n ? ENOENT : S_ISLNK(n->type) || ufs_xattr_hidden(fs, name) ? ENODATA : 0;
    if (r) {
        fuse_reply_err(req, r);
        return;
    }
    cleanup_free char *buf = size ? xmalloc(size) : NULL;
    ssize_t len = ufs_node_getxattr(fs, n, name, buf, size);
    if (len < 0 && errno == ENOSYS) {
        char path[64];
        if ((r = xattr_path(fs, n, path, sizeof path))) {
            fuse_reply_err(req, r);
            return;
        }
        len = getxattr(path, name, buf, size);
    }
    if (len < 0 && errno == ENODATA && cap)
        nocap_learn(n, gen, layer);
    if (len < 0)
        fuse_reply_err(req, errno);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)len);
    else
        fuse_reply_buf(req, buf, (size_t)len);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    char path[64];
    int r = n ? xattr_path(fs, n, path, sizeof path) : ENOENT;
    if (r == ENOTSUP) {
        if (size == 0)
            fuse_reply_xattr(req, 0);
        else
            fuse_reply_buf(req, NULL, 0);
        return;
    }
    if (r) {
        fuse_reply_err(req, r);
        return;
    }
    ssize_t len = listxattr(path, NULL, 0);
    if (len < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    cleanup_free char *names = xmalloc((size_t)len + 1);
    len = listxattr(path, names, (size_t)len);
    if (len < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    /* drop the names that are ours, compacting in place */
    size_t out = 0;
    for (char *p = names; p < names + len;) {
        size_t l = strlen(p) + 1;
        if (!ufs_xattr_hidden(fs, p)) {
            memmove(names + out, p, l);
            out += l;
        }
        p += l;
    }
    if (size == 0)
        fuse_reply_xattr(req, out);
    else if (size < out)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, names, out);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    char path[64];
    int r = !n ? ENOENT : !fs->has_upper ? EROFS : ufs_xattr_hidden(fs, name) ? EPERM : 0;
    if (!r && S_ISLNK(n->type))
        r = EPERM;
    if (!r)
        r = ufs_copy_up(fs, n, true);
    if (!r)
        r = xattr_path(fs, n, path, sizeof path);
    if (!r) {
        xattr_changing(n);
        if (setxattr(path, name, value, size, flags) < 0)
            r = errno;
        xattr_changing(n);
    }
    fuse_reply_err(req, r);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    char path[64];
    int r = !n ? ENOENT : !fs->has_upper ? EROFS : ufs_xattr_hidden(fs, name) ? ENODATA : 0;
    if (!r)
        r = xattr_path(fs, n, path, sizeof path);
    if (!r) {
        /* do not copy up for nothing: check the name exists first */
        if (getxattr(path, name, NULL, 0) < 0)
            r = errno;
    }
    if (!r)
        r = ufs_copy_up(fs, n, true);
    if (!r)
        r = xattr_path(fs, n, path, sizeof path);
    if (!r) {
        xattr_changing(n);
        if (removexattr(path, name) < 0)
            r = errno;
        xattr_changing(n);
    }
    fuse_reply_err(req, r);
}

void ufs_ops_entry(struct fuse_lowlevel_ops *ops)
{
    ops->lookup = op_lookup;
    ops->forget = op_forget;
    ops->forget_multi = op_forget_multi;
    ops->getattr = op_getattr;
    ops->setattr = op_setattr;
    ops->readlink = op_readlink;
    ops->statfs = op_statfs;
    ops->access = op_access;
    ops->getxattr = op_getxattr;
    ops->listxattr = op_listxattr;
    ops->setxattr = op_setxattr;
    ops->removexattr = op_removexattr;
}
