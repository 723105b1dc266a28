/* Name resolution in a merged directory: which layer holds NAME, whether a
 * whiteout or opaque directory hides the layers below, and for directories
 * which layers are merged.  Every layer is consulted through the per-layer
 * directory fds of the parent, so a renamed (redirected) directory finds
 * its lower contents without any path strings. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "unionfs/internal.h"

bool ufs_is_whiteout_stat(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* Names the upper uses for its own bookkeeping can never be user names. */
bool ufs_name_reserved(const char *name)
{
    return strncmp(name, UFS_WH_PREFIX, UFS_WH_PREFIX_LEN) == 0;
}

static bool xattr_is_y(int fd, const char *name)
{
    char v[4];
    ssize_t r = fgetxattr(fd, name, v, sizeof v);
    return r == 1 && v[0] == 'y';
}

bool ufs_dir_is_opaque(int dirfd)
{
    struct stat st;
    if (fstatat(dirfd, UFS_OPQ, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return true;
    return xattr_is_y(dirfd, "trusted.overlay.opaque") ||
           xattr_is_y(dirfd, "user.overlay.opaque");
}

bool ufs_has_whiteout(int dirfd, const char *name)
{
    char wh[NAME_MAX + 8];
    struct stat st;
    if (strlen(name) > NAME_MAX - UFS_WH_PREFIX_LEN)
        return false;
    snprintf(wh, sizeof wh, UFS_WH_PREFIX "%s", name);
    return fstatat(dirfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int open_dir_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES)
        fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd;
}

void ufs_entry_release(struct ufs *fs, struct ufs_entry *e)
{
    if (e->dfd) {
        for (int i = 0; i < fs->n_layers; i++)
            if (e->dfd[i] >= 0 && e->dfd[i] != e->fd)
                close(e->dfd[i]);
        free(e->dfd);
        e->dfd = NULL;
    }
    if (e->fd >= 0)
        close(e->fd);
    e->fd = -1;
    free(e->redirect);
    e->redirect = NULL;
}

static char *get_redirect(int fd)
{
    char buf[4096];
    ssize_t r = fgetxattr(fd, UFS_XATTR_REDIRECT, buf, sizeof buf - 1);
    if (r <= 0)
        return NULL;
    buf[r] = 0;
    /* stored as "/a/b"; we use paths relative to the layer roots */
    const char *p = buf;
    while (*p == '/')
        p++;
    return xstrdup(p);
}

/* Merges the lower layers of a redirected directory: they are found at
 * e->redirect from each lower root instead of under the parent. */
static void merge_redirect(struct ufs *fs, struct ufs_entry *e)
{
    for (int i = 1; i < fs->n_layers; i++) {
        int fd = ufs_open_dir_beneath(fs->layers[i].fd, e->redirect);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            break; /* a non-directory at that path hides the rest */
        }
        e->dfd[i] = fd;
        e->bottom = i;
        e->lower = true;
        if (ufs_dir_is_opaque(fd))
            break;
    }
}

/* Does the merge of d go on below layer i?  Only then can a whiteout or an
 * opaque marker at layer i hide anything, so only then is it looked for:
 * in a directory that one layer holds (all of a fresh upper tree, most of
 * a single-image rootfs) a name costs one fstatat. */
static bool merges_below(const int *pd, int i, int bottom)
{
    for (int j = i + 1; j <= bottom; j++)
        if (pd[j] >= 0)
            return true;
    return false;
}

int ufs_resolve(struct ufs *fs, struct ufs_node *d, const char *name,
                struct ufs_entry *e)
{
    memset(e, 0, sizeof *e);
    e->layer = -1;
    e->fd = -1;
    if (ufs_name_reserved(name))
        return 0;
    if (strlen(name) > NAME_MAX)
        return ENAMETOOLONG;

    pthread_mutex_lock(&d->lock);
    int top = d->layer, bottom = d->bottom;
    int *pd = d->dfd;
    pthread_mutex_unlock(&d->lock);

    for (int i = top; i <= bottom; i++) {
        int pfd = pd[i];
        if (pfd < 0)
            continue;
        struct stat st;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT && errno != ENOTDIR)
                return e->layer < 0 ? errno : 0;
            if (merges_below(pd, i, bottom) && ufs_has_whiteout(pfd, name)) {
                if (i == 0)
                    e->upper_whiteout = true;
                break;
            }
            continue;
        }
        if (ufs_is_whiteout_stat(&st))
            break;
        if (e->layer < 0) {
            e->layer = i;
            e->st = st;
            if (i == 0)
                e->upper = true;
            else
                e->lower = true;
            if (!S_ISDIR(st.st_mode)) {
                /* a lower file's node opens it when needed (ufs_node_pfd);
                 * rootless, its stat needs the override xattr now */
                if (i > 0 && !fs->o.rootless_override)
                    break;
                e->fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (e->fd < 0)
                    return errno;
                break;
            }
            int fd = open_dir_at(pfd, name);
            if (fd < 0)
                return errno;
            e->fd = fd;
            e->dfd = xmalloc(sizeof(int) * (size_t)fs->n_layers);
            for (int j = 0; j < fs->n_layers; j++)
                e->dfd[j] = -1;
            e->dfd[i] = fd;
            e->bottom = i;
            bool may_merge = i == 0 && fs->n_layers > 1; /* a redirect can */
            if ((may_merge || merges_below(pd, i, bottom)) && ufs_dir_is_opaque(fd))
                break;
            if (may_merge && (e->redirect = get_redirect(fd))) {
                merge_redirect(fs, e);
                break;
            }
            continue;
        }
        /* below a directory: only directories merge, anything else stops */
        if (!S_ISDIR(st.st_mode))
            break;
        int fd = open_dir_at(pfd, name);
        if (fd < 0)
            break;
        e->dfd[i] = fd;
        e->bottom = i;
        e->lower = true;
        if (merges_below(pd, i, bottom) && ufs_dir_is_opaque(fd))
            break;
    }

    /* A lower hard-linked file already copied up through another name
     * lives in work/index: every name then shares the upper inode. */
    if (e->layer > 0 && fs->has_upper && S_ISREG(e->st.st_mode) && e->st.st_nlink > 1) {
        char key[64];
        snprintf(key, sizeof key, "%llx-%llx", (unsigned long long)e->st.st_dev,
                 (unsigned long long)e->st.st_ino);
        int ifd = openat(fs->index_fd, key, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (ifd >= 0) {
            struct stat ist;
            if (fstat(ifd, &ist) == 0) {
                if (e->fd >= 0)
                    close(e->fd);
                e->fd = ifd;
                e->index = true;
                e->lower_nlink = e->st.st_nlink;
                e->odev = fs->layers[e->layer].dev;
                e->layer = 0;
                e->oino = e->st.st_ino;
                e->st = ist;
            } else {
                close(ifd);
            }
        }
    }
    return 0;
}

int ufs_resolve_new(struct ufs *fs, int pup, const char *name, struct ufs_entry *e)
{
    memset(e, 0, sizeof *e);
    e->layer = -1;
    e->fd = -1;
    if (fstatat(pup, name, &e->st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno;
    if (S_ISDIR(e->st.st_mode)) {
        e->fd = open_dir_at(pup, name);
        if (e->fd < 0)
            return errno;
        e->dfd = xmalloc(sizeof(int) * (size_t)fs->n_layers);
        for (int j = 0; j < fs->n_layers; j++)
            e->dfd[j] = -1;
        e->dfd[0] = e->fd;
    } else {
        e->fd = openat(pup, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (e->fd < 0)
            return errno;
    }
    e->layer = 0;
    e->upper = true;
    return 0;
}

static char *child_lpath(struct ufs_node *parent, const char *name)
{
    if (!parent->lpath || !*parent->lpath)
        return xstrdup(name);
    return xasprintf("%s/%s", parent->lpath, name);
}

int ufs_entry_to_node(struct ufs *fs, struct ufs_node *parent, const char *name,
                      struct ufs_entry *e, struct ufs_node **out)
{
    /* A name found through the upper answers to the number its lower
     * original got, if any; so copied-up files keep their st_ino. */
    uint64_t number = 0;
    struct stat *st = &e->st;
    dev_t dev = e->layer >= 0 ? fs->layers[e->layer].dev : 0;
    number = ufs_id_get(fs, dev, st->st_ino, 0);
    if (e->index)
        ufs_id_alias(fs, e->odev, e->oino, number);

    struct ufs_node *n = ufs_node_alloc(fs->n_layers);
    n->ino = number;
    n->type = st->st_mode & S_IFMT;
    n->layer = e->layer;
    n->parent = parent;
    n->name = xstrdup(name);
    n->index = e->index;
    if (e->created)
        n->nocap_layer = e->layer;
    if (S_ISDIR(st->st_mode)) {
        n->dfd = e->dfd;
        e->dfd = NULL;
        e->fd = -1; /* owned through dfd */
        n->bottom = e->bottom;
        n->lpath = e->redirect ? xstrdup(e->redirect) : child_lpath(parent, name);
    } else {
        n->fd = e->fd;
        e->fd = -1;
        n->lower_nlink = e->index ? e->lower_nlink : st->st_nlink;
        n->odev = e->odev;
        n->oino = e->oino;
    }
    *out = ufs_node_insert(fs, n);
    return 0;
}
