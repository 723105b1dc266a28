/* FUSE ops on directories: listing, creating and removing names.
 *
 * Every change is ordered so that a crash leaves the old state or the new:
 * a whiteout is created before the upper object it replaces is removed
 * (while both exist the upper object wins), an opaque directory is built in
 * work/tmp and renamed into place, and an upper directory being removed is
 * first renamed into work/tmp. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "unionfs/internal.h"
#include "unionfs/ops.h"

/* OPENDIR is answered ENOSYS: the kernel (5.1+, FUSE_CAP_NO_OPENDIR_SUPPORT)
 * then opens directories by itself from then on, sends no OPENDIR or
 * RELEASEDIR (two round trips per directory listed) and caches listings as
 * for FOPEN_CACHE_DIR|FOPEN_KEEP_CACHE, dropping the cache when a change
 * through the mount touched the directory.  READDIR thus comes without a
 * handle and is served from the node's listing (readdir.c), whose stable
 * cookies make that cache right for every reader. */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *d = ufs_node_of(fs, ino);
    if (!d || !d->dfd) {
        fuse_reply_err(req, d ? ENOTDIR : ENOENT);
        return;
    }
    if (fs->no_opendir) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    /* an older kernel: a handle that READDIR does not need */
    fi->fh = 0;
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *d = ufs_node_of(fs, ino);
    if (!d || !d->dfd) {
        fuse_reply_err(req, d ? ENOTDIR : ENOENT);
        return;
    }
    pthread_rwlock_rdlock(&fs->tree_lock);
    uint64_t pino = d->parent ? d->parent->ino : FUSE_ROOT_ID;
    pthread_rwlock_unlock(&fs->tree_lock);
    struct ufs_dirlist *l = ufs_dirlist_of(d);
    pthread_mutex_lock(&l->lock);
    if (off == 0 || !l->built) {
        /* opendir or rewinddir: a fresh view, as POSIX asks (the kernel
         * only asks when its cache of the listing is gone or stale) */
        int r = ufs_dirlist_refresh(fs, d, l);
        if (r) {
            pthread_mutex_unlock(&l->lock);
            fuse_reply_err(req, r);
            return;
        }
    }
    cleanup_free char *buf = xmalloc(size);
    size_t used = 0;
    /* "." and ".." at cookies 1 and 2, then the names */
    for (uint64_t dot = (uint64_t)off; dot < 2; dot++) {
        struct fuse_entry_param e = {0};
        e.attr.st_ino = dot ? pino : d->ino;
        e.attr.st_mode = S_IFDIR;
        const char *name = dot ? ".." : ".";
        size_t rest = size - used;
        size_t len = plus ? fuse_add_direntry_plus(req, buf + used, rest, name, &e, (off_t)dot + 1)
                          : fuse_add_direntry(req, buf + used, rest, name, &e.attr, (off_t)dot + 1);
        if (len > rest)
            goto out;
        used += len;
    }
    for (size_t i = ufs_dirlist_seek(l, (uint64_t)off); i < l->n; i++) {
        struct ufs_dirent *de = &l->ents[i];
        size_t rest = size - used;
        size_t len;
        if (!plus) {
            struct stat st = {.st_ino = de->ino, .st_mode = (mode_t)de->type << 12};
            len = fuse_add_direntry(req, buf + used, rest, de->name, &st, (off_t)de->off);
            if (len > rest)
                break;
            used += len;
            continue;
        }
        struct ufs_entry ent;
        struct ufs_node *n = NULL;
        int r = ufs_resolve(fs, d, de->name, &ent);
        if (r || ent.layer < 0) {
            /* gone since the listing was read: skip it, cookies stay */
            ufs_entry_release(fs, &ent);
            continue;
        }
        struct fuse_entry_param e;
        ufs_entry_to_node(fs, d, de->name, &ent, &n);
        ufs_fill_entry_st(fs, n, &ent.st, &e);
        ufs_entry_release(fs, &ent);
        len = fuse_add_direntry_plus(req, buf + used, rest, de->name, &e, (off_t)de->off);
        if (len > rest) {
            ufs_node_forget(fs, n, 1);
            break;
        }
        used += len;
    }
out:
    pthread_mutex_unlock(&l->lock);
    fuse_reply_buf(req, buf, used);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *d = ufs_node_of(fs, ino);
    int r = 0;
    if (d && !fs->o.volatile_mode && d->layer == 0 && fsync(d->dfd[0]) < 0)
        r = errno == EBADF || errno == EINVAL ? 0 : errno;
    fuse_reply_err(req, r);
}

/* --- creating names --- */

int ufs_new_owner(fuse_req_t req, struct ufs *fs, int dirfd, const char *name, mode_t mode,
                  dev_t rdev)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    uid_t hu = ufs_uid_to_host(fs, ctx->uid);
    gid_t hg = ufs_gid_to_host(fs, ctx->gid);
    bool is_link = S_ISLNK(mode);
    if (hu == fs->euid && hg == fs->egid && !fs->o.rootless_override)
        return 0; /* the common case: already right */
    if (is_link) {
        if (hu != fs->euid || hg != fs->egid)
            fchownat(dirfd, name, hu, hg, AT_SYMLINK_NOFOLLOW);
        return 0;
    }
    cleanup_close int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat real;
    if (fstat(fd, &real) < 0)
        return errno;
    bool record = false;
    if ((hu != fs->euid || hg != fs->egid) && fchownat(fd, "", hu, hg, AT_EMPTY_PATH) < 0) {
        if (!fs->o.rootless_override)
            return fs->privileged ? errno : 0;
        record = true;
    }
    mode_t need = S_ISDIR(mode) ? 0700 : 0600;
    bool fake_type = (real.st_mode & S_IFMT) != (mode & S_IFMT);
    if (fs->o.rootless_override && ((mode & need) != need || fake_type))
        record = true;
    if (!record)
        return 0;
    struct ufs_override ov = {.uid = hu, .gid = hg, .mode = mode & 07777};
    if (fake_type) {
        ov.mode |= mode & S_IFMT;
        ov.rdev = rdev;
    }
    int r = ufs_override_set(fd, &ov);
    if (r)
        return r;
    char path[64];
    ufs_proc_path(path, sizeof path, fd);
    if (chmod(path, (mode & 07777) | need) < 0)
        return errno;
    return 0;
}

/* Common prologue of every name-creating op: the name must be free and
 * the parent must exist in the upper.  Returns the upper dir fd or -errno
 * and tells whether an upper whiteout must be removed afterwards. */
static int prepare_create(struct ufs *fs, struct ufs_node *p, const char *name, bool *had_wh)
{
    if (!fs->has_upper)
        return -EROFS;
    if (ufs_name_reserved(name))
        return -EINVAL;
    struct ufs_entry ent;
    int r = ufs_resolve(fs, p, name, &ent);
    bool exists = ent.layer >= 0;
    *had_wh = ent.upper_whiteout;
    ufs_entry_release(fs, &ent);
    if (r)
        return -r;
    if (exists)
        return -EEXIST;
    return ufs_upper_dir(fs, p);
}

static int finish_create(fuse_req_t req, struct ufs *fs, struct ufs_node *p, int pup,
                         const char *name, bool had_wh)
{
    if (had_wh) {
        ufs_dir_change_begin(p);
        ufs_unlink_whiteout(pup, name);
        ufs_dir_change_end(p);
    }
    return ufs_new_entry_reply(req, fs, p, pup, name);
}

static int do_mkdir(fuse_req_t req, struct ufs *fs, struct ufs_node *p, const char *name,
                    mode_t mode)
{
    bool had_wh;
    int pup = prepare_create(fs, p, name, &had_wh);
    if (pup < 0)
        return -pup;
    mode = S_IFDIR | (mode & 07777);
    if (!had_wh) {
        ufs_dir_change_begin(p);
        int r = mkdirat(pup, name, mode & 07777) < 0 ? errno : 0;
        if (!r && (r = ufs_new_owner(req, fs, pup, name, mode, 0)))
            unlinkat(pup, name, AT_REMOVEDIR);
        ufs_dir_change_end(p);
        if (r)
            return r;
        return finish_create(req, fs, p, pup, name, false);
    }
    /* over a whiteout: the lowers may still have NAME, so the new dir is
     * opaque, and it appears complete (marker inside) in one rename */
    char tmp[64];
    ufs_tmp_name(fs, tmp, sizeof tmp);
    if (mkdirat(fs->tmp_fd, tmp, mode & 07777) < 0)
        return errno;
    int r = 0;
    cleanup_close int dfd = openat(fs->tmp_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        r = errno;
    if (!r) {
        int m = openat(dfd, UFS_OPQ, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
        if (m < 0)
            r = errno;
        else
            close(m);
    }
    if (!r)
        r = ufs_new_owner(req, fs, fs->tmp_fd, tmp, mode, 0);
    if (!r) {
        ufs_dir_change_begin(p);
        if (renameat(fs->tmp_fd, tmp, pup, name) < 0)
            r = errno;
        ufs_dir_change_end(p);
    }
    if (r) {
        rm_rf_at(fs->tmp_fd, tmp, &(struct error){0});
        return r;
    }
    return finish_create(req, fs, p, pup, name, true);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *p = ufs_node_of(fs, parent);
    int r = p ? do_mkdir(req, fs, p, name, mode) : ENOENT;
    if (r)
        fuse_reply_err(req, r);
}

static int do_mknod(fuse_req_t req, struct ufs *fs, struct ufs_node *p, const char *name,
                    mode_t mode, dev_t rdev)
{
    bool had_wh;
    int pup = prepare_create(fs, p, name, &had_wh);
    if (pup < 0)
        return -pup;
    ufs_dir_change_begin(p);
    int r = 0;
    if (mknodat(pup, name, mode, rdev) < 0) {
        r = errno;
        if (r == EPERM && fs->o.rootless_override && (S_ISCHR(mode) || S_ISBLK(mode))) {
            /* rootless: an empty file that presents the device */
            int fd = openat(pup, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            r = fd < 0 ? errno : 0;
            if (fd >= 0)
                close(fd);
        }
        if (r) {
            ufs_dir_change_end(p);
            return r;
        }
    }
    if ((r = ufs_new_owner(req, fs, pup, name, mode, rdev)))
        unlinkat(pup, name, 0);
    ufs_dir_change_end(p);
    if (r)
        return r;
    return finish_create(req, fs, p, pup, name, had_wh);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     dev_t rdev)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *p = ufs_node_of(fs, parent);
    int r = p ? do_mknod(req, fs, p, name, mode, rdev) : ENOENT;
    if (r)
        fuse_reply_err(req, r);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *p = ufs_node_of(fs, parent);
    bool had_wh;
    int r = 0;
    int pup = p ? prepare_create(fs, p, name, &had_wh) : -ENOENT;
    if (pup < 0) {
        r = -pup;
    } else {
        ufs_dir_change_begin(p);
        if (symlinkat(link, pup, name) < 0)
            r = errno;
        else
            ufs_new_owner(req, fs, pup, name, S_IFLNK | 0777, 0);
        ufs_dir_change_end(p);
        if (!r)
            r = finish_create(req, fs, p, pup, name, had_wh);
    }
    if (r)
        fuse_reply_err(req, r);
}

static int do_link(fuse_req_t req, struct ufs *fs, struct ufs_node *n, struct ufs_node *p,
                   const char *name)
{
    if (n->dfd)
        return EPERM;
    bool had_wh;
    int pup = prepare_create(fs, p, name, &had_wh);
    if (pup < 0)
        return -pup;
    int r = ufs_copy_up(fs, n, true);
    if (r)
        return r;
    char path[64];
    ufs_proc_path(path, sizeof path, ufs_node_fd(fs, n, NULL));
    ufs_dir_change_begin(p);
    r = linkat(AT_FDCWD, path, pup, name, AT_SYMLINK_FOLLOW) < 0 ? errno : 0;
    ufs_dir_change_end(p);
    if (r)
        return r;
    return finish_create(req, fs, p, pup, name, had_wh);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *n = ufs_node_of(fs, ino);
    struct ufs_node *p = ufs_node_of(fs, newparent);
    int r = n && p ? do_link(req, fs, n, p, newname) : ENOENT;
    if (r)
        fuse_reply_err(req, r);
}

/* --- removing names --- */

/* Does some lower layer still show NAME in dir p (so removing it from the
 * upper needs a whiteout)? */
static bool lower_has(struct ufs *fs, struct ufs_node *p, const char *name)
{
    pthread_mutex_lock(&p->lock);
    int bottom = p->bottom;
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i <= bottom; i++) {
        int pfd = p->dfd[i];
        if (pfd < 0)
            continue;
        struct stat st;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return !ufs_is_whiteout_stat(&st);
        if (ufs_has_whiteout(pfd, name))
            return false;
    }
    return false;
}

/* The node, if the kernel has one for this entry, loses this name. */
static void drop_name(struct ufs *fs, struct ufs_node *p, const char *name, uint64_t ino)
{
    struct ufs_node *n = ufs_node_find_ino(fs, ino);
    if (!n)
        return;
    pthread_rwlock_wrlock(&fs->tree_lock);
    if (n->parent == p && n->name && !strcmp(n->name, name))
        ufs_node_move(fs, n, p, NULL);
    pthread_rwlock_unlock(&fs->tree_lock);
}

static uint64_t entry_number(struct ufs *fs, struct ufs_entry *e)
{
    return ufs_id_get(fs, fs->layers[e->layer].dev, e->st.st_ino, 0);
}

static int do_unlink(struct ufs *fs, struct ufs_node *p, const char *name)
{
    if (!fs->has_upper)
        return EROFS;
    struct ufs_entry ent;
    int r = ufs_resolve(fs, p, name, &ent);
    if (!r && ent.layer < 0)
        r = ENOENT;
    if (!r && S_ISDIR(ent.st.st_mode))
        r = EISDIR;
    if (r) {
        ufs_entry_release(fs, &ent);
        return r;
    }
    uint64_t number = entry_number(fs, &ent);
    if (!ent.upper && S_ISREG(ent.st.st_mode) && (ent.index || ent.st.st_nlink > 1)) {
        /* a lower name of a hard-link set: the other names lose a link */
        struct ufs_node *ln;
        ufs_entry_to_node(fs, p, name, &ent, &ln);
        r = ufs_lower_link_gone(fs, ln);
        ufs_node_forget(fs, ln, 1);
        if (r) {
            ufs_entry_release(fs, &ent);
            return r;
        }
    }
    int pup = ufs_upper_dir(fs, p);
    if (pup < 0) {
        ufs_entry_release(fs, &ent);
        return -pup;
    }
    bool in_upper = ent.upper;
    bool need_wh = !in_upper || lower_has(fs, p, name);
    struct stat ust = ent.st;
    ufs_entry_release(fs, &ent);
    ufs_dir_change_begin(p);
    if (need_wh)
        r = ufs_make_whiteout(pup, name);
    if (!r && in_upper && unlinkat(pup, name, 0) < 0)
        r = errno;
    ufs_dir_change_end(p);
    if (r)
        return r;
    if (in_upper && ust.st_nlink <= 1)
        ufs_id_forget(fs, fs->layers[0].dev, ust.st_ino);
    drop_name(fs, p, name, number);
    return 0;
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *p = ufs_node_of(fs, parent);
    fuse_reply_err(req, p ? do_unlink(fs, p, name) : ENOENT);
}

/* Empties an upper directory that only holds whiteouts and markers (the
 * merged view of it is empty). */
static int clear_upper_dir(struct ufs *fs, int pup, const char *name)
{
    cleanup_close int fd = openat(pup, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct error err = {0};
    DIR *d = ufs_opendir_at(fd);
    if (!d)
        return errno;
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (rm_rf_at(fd, de->d_name, &err) < 0) {
            r = err.code ? err.code : EIO;
            break;
        }
    }
    closedir(d);
    (void)fs;
    return r;
}

static int do_rmdir(struct ufs *fs, struct ufs_node *p, const char *name)
{
    if (!fs->has_upper)
        return EROFS;
    struct ufs_entry ent;
    int r = ufs_resolve(fs, p, name, &ent);
    if (!r && ent.layer < 0)
        r = ENOENT;
    if (!r && !S_ISDIR(ent.st.st_mode))
        r = ENOTDIR;
    struct ufs_dir_snapshot s = {0};
    if (!r)
        r = ufs_dir_list(fs, ent.dfd, ent.layer, ent.bottom, &s, false);
    if (!r && s.n)
        r = ENOTEMPTY;
    ufs_dir_snapshot_free(&s);
    if (r) {
        ufs_entry_release(fs, &ent);
        return r;
    }
    uint64_t number = entry_number(fs, &ent);
    bool in_upper = ent.upper;
    bool need_wh = lower_has(fs, p, name);
    ino_t uino = ent.st.st_ino;
    ufs_entry_release(fs, &ent);
    int pup = ufs_upper_dir(fs, p);
    if (pup < 0)
        return -pup;
    char tmp[64];
    ufs_tmp_name(fs, tmp, sizeof tmp);
    ufs_dir_change_begin(p);
    if (need_wh)
        r = ufs_make_whiteout(pup, name);
    /* out of the way in one step, then removed at leisure */
    if (!r && in_upper && renameat(pup, name, fs->tmp_fd, tmp) < 0)
        r = errno;
    ufs_dir_change_end(p);
    if (r)
        return r;
    if (in_upper) {
        struct error err = {0};
        rm_rf_at(fs->tmp_fd, tmp, &err);
        ufs_id_forget(fs, fs->layers[0].dev, uino);
    }
    drop_name(fs, p, name, number);
    return 0;
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *p = ufs_node_of(fs, parent);
    fuse_reply_err(req, p ? do_rmdir(fs, p, name) : ENOENT);
}

/* --- rename --- */

struct rn_side {
    struct ufs_node *dir;
    const char *name;
    int up;                 /* upper fd of dir */
    struct ufs_entry ent;
    bool exists;
    bool lower;             /* a lower layer has the name */
    struct ufs_node *node;  /* with one reference held by us */
};

/* Puts the object named by s into the upper at s->name.  A directory with
 * lower contents gets a redirect to where the lowers have it, so it keeps
 * them wherever it moves. */
static int side_to_upper(struct ufs *fs, struct rn_side *s)
{
    struct ufs_node *n = s->node;
    if (n->dfd) {
        int r = ufs_copy_up_held(fs, n, true);
        if (r)
            return r;
        pthread_mutex_lock(&n->lock);
        bool has_lower = false;
        for (int i = 1; i <= n->bottom; i++)
            has_lower |= n->dfd[i] >= 0;
        int fd = n->dfd[0];
        pthread_mutex_unlock(&n->lock);
        if (has_lower) {
            cleanup_free char *v = xasprintf("/%s", n->lpath ? n->lpath : "");
            if (fsetxattr(fd, UFS_XATTR_REDIRECT, v, strlen(v), 0) < 0)
                return errno;
        }
        return 0;
    }
    if (s->ent.upper)
        return 0;
    /* copy-up lands at the node's own name; a hard link of a copied-up
     * set is linked from the shared inode instead */
    int r = ufs_copy_up_held(fs, n, true);
    if (r)
        return r;
    struct stat st;
    if (fstatat(s->up, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    char path[64];
    ufs_proc_path(path, sizeof path, ufs_node_fd(fs, n, NULL));
    if (linkat(AT_FDCWD, path, s->up, s->name, AT_SYMLINK_FOLLOW) < 0)
        return errno;
    return ufs_lower_link_gone(fs, n); /* a lower name became an upper one */
}

static bool dir_has_lower(struct ufs_node *n)
{
    for (int i = 1; i <= n->bottom; i++)
        if (n->dfd[i] >= 0)
            return true;
    return false;
}

/* A directory without lower contents moving onto a name the lowers have
 * must hide them. */
static int make_opaque_if_needed(struct rn_side *from, bool target_lower)
{
    struct ufs_node *n = from->node;
    if (!n->dfd || dir_has_lower(n) || !target_lower)
        return 0;
    int fd = openat(n->dfd[0], UFS_OPQ, O_WRONLY | O_CREAT | O_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int resolve_side(struct ufs *fs, struct rn_side *s)
{
    int r = ufs_resolve(fs, s->dir, s->name, &s->ent);
    if (r)
        return r;
    s->exists = s->ent.layer >= 0;
    if (!s->exists)
        return 0;
    s->lower = s->ent.index || lower_has(fs, s->dir, s->name);
    ufs_entry_to_node(fs, s->dir, s->name, &s->ent, &s->node);
    return 0;
}

static int do_rename(struct ufs *fs, struct ufs_node *p1, const char *name, struct ufs_node *p2,
                     const char *newname, unsigned flags)
{
    if (!fs->has_upper)
        return EROFS;
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
        return EINVAL;
    if (ufs_name_reserved(newname))
        return EINVAL;
    struct rn_side a = {.dir = p1, .name = name}, b = {.dir = p2, .name = newname};
    int r = resolve_side(fs, &a);
    if (!r && !a.exists)
        r = ENOENT;
    if (!r)
        r = resolve_side(fs, &b);
    if (r)
        goto out;
    bool exchange = flags & RENAME_EXCHANGE;
    if (exchange && !b.exists) {
        r = ENOENT;
        goto out;
    }
    if ((flags & RENAME_NOREPLACE) && b.exists) {
        r = EEXIST;
        goto out;
    }
    if (b.exists && a.node == b.node)
        goto out; /* same object: nothing to do */
    bool a_dir = a.node->dfd != NULL, b_dir = b.exists && b.node->dfd != NULL;
    if (b.exists && !exchange) {
        if (a_dir && !b_dir) {
            r = ENOTDIR;
            goto out;
        }
        if (!a_dir && b_dir) {
            r = EISDIR;
            goto out;
        }
        if (b_dir) {
            struct ufs_dir_snapshot s = {0};
            r = ufs_dir_list(fs, b.node->dfd, b.node->layer, b.node->bottom, &s, false);
            if (!r && s.n)
                r = ENOTEMPTY;
            ufs_dir_snapshot_free(&s);
            if (r)
                goto out;
        }
    }

    pthread_rwlock_wrlock(&fs->tree_lock);
    a.up = ufs_upper_dir_held(fs, p1);
    b.up = a.up < 0 ? a.up : ufs_upper_dir_held(fs, p2);
    if (b.up < 0) {
        r = -b.up;
        goto unlock;
    }
    if ((r = side_to_upper(fs, &a)))
        goto unlock;
    if (exchange && (r = side_to_upper(fs, &b)))
        goto unlock;
    if ((r = make_opaque_if_needed(&a, b.lower || b.ent.upper_whiteout)))
        goto unlock;
    if (exchange && (r = make_opaque_if_needed(&b, a.lower)))
        goto unlock;
    if (!exchange && b.exists && !b.ent.upper && !b_dir && S_ISREG(b.ent.st.st_mode) &&
        (b.ent.index || b.ent.st.st_nlink > 1) && (r = ufs_lower_link_gone(fs, b.node)))
        goto unlock; /* a lower name of a hard-link set is replaced */
    if (!exchange && b.exists && b_dir && b.ent.upper &&
        (r = clear_upper_dir(fs, b.up, newname)))
        goto unlock;
    if (!exchange && a.lower && (r = ufs_make_whiteout(a.up, name)))
        goto unlock;
    if (renameat2(a.up, name, b.up, newname, flags) < 0) {
        r = errno;
        goto unlock;
    }
    if (!exchange) {
        if (b.ent.upper_whiteout)
            ufs_unlink_whiteout(b.up, newname);
        if (b.exists && b.ent.upper && (b_dir || b.ent.st.st_nlink <= 1))
            ufs_id_forget(fs, fs->layers[0].dev, b.ent.st.st_ino);
        if (b.exists && b.node->parent == p2 && b.node->name && !strcmp(b.node->name, newname))
            ufs_node_move(fs, b.node, p2, NULL);
        ufs_node_move(fs, a.node, p2, newname);
    } else {
        ufs_node_move(fs, a.node, p2, newname);
        ufs_node_move(fs, b.node, p1, name);
    }
unlock:
    pthread_rwlock_unlock(&fs->tree_lock);
out:
    if (a.node)
        ufs_node_forget(fs, a.node, 1);
    if (b.node)
        ufs_node_forget(fs, b.node, 1);
    ufs_entry_release(fs, &a.ent);
    ufs_entry_release(fs, &b.ent);
    return r;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    struct ufs *fs = fuse_req_userdata(req);
    struct ufs_node *p1 = ufs_node_of(fs, parent), *p2 = ufs_node_of(fs, newparent);
    fuse_reply_err(req, p1 && p2 ? do_rename(fs, p1, name, p2, newname, flags) : ENOENT);
}

void ufs_ops_dir(struct fuse_lowlevel_ops *ops)
{
    ops->opendir = op_opendir;
    ops->readdir = op_readdir;
    ops->readdirplus = op_readdirplus;
    ops->releasedir = op_releasedir;
    ops->fsyncdir = op_fsyncdir;
    ops->mkdir = op_mkdir;
    ops->mknod = op_mknod;
    ops->symlink = op_symlink;
    ops->link = op_link;
    ops->unlink = op_unlink;
    ops->rmdir = op_rmdir;
    ops->rename = op_rename;
}
