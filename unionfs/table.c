/* The node table (nodeid -> node) and the id map ((dev, ino) -> nodeid).
 * The id map is never shrunk: a number, once given to a layer object, stays
 * its number for the life of the mount even after the kernel forgets the
 * node (a few dozen bytes per object ever seen). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "unionfs/internal.h"

struct ufs_idmap_entry {
    struct ufs_idmap_entry *next;
    dev_t dev;
    ino_t ino;
    uint64_t number;
};

static size_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static size_t hash_id(dev_t dev, ino_t ino)
{
    return hash_u64((uint64_t)ino * 31 + (uint64_t)dev);
}

static void ids_grow(struct ufs *fs)
{
    size_t cap = fs->ids_cap ? fs->ids_cap * 2 : 1024;
    struct ufs_idmap_entry **t = xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < fs->ids_cap; i++) {
        struct ufs_idmap_entry *e = fs->ids[i], *next;
        for (; e; e = next) {
            next = e->next;
            size_t h = hash_id(e->dev, e->ino) & (cap - 1);
            e->next = t[h];
            t[h] = e;
        }
    }
    free(fs->ids);
    fs->ids = t;
    fs->ids_cap = cap;
}

static struct ufs_idmap_entry *id_lookup(struct ufs *fs, dev_t dev, ino_t ino)
{
    if (!fs->ids_cap)
        return NULL;
    for (struct ufs_idmap_entry *e = fs->ids[hash_id(dev, ino) & (fs->ids_cap - 1)]; e;
         e = e->next)
        if (e->dev == dev && e->ino == ino)
            return e;
    return NULL;
}

static void id_add_locked(struct ufs *fs, dev_t dev, ino_t ino, uint64_t number)
{
    if (fs->n_ids + 1 > fs->ids_cap)
        ids_grow(fs);
    struct ufs_idmap_entry *e = xmalloc(sizeof *e);
    e->dev = dev;
    e->ino = ino;
    e->number = number;
    size_t h = hash_id(dev, ino) & (fs->ids_cap - 1);
    e->next = fs->ids[h];
    fs->ids[h] = e;
    fs->n_ids++;
}

/* Number for (dev, ino); when unknown it becomes `want` if nonzero, else a
 * fresh one. */
uint64_t ufs_id_get(struct ufs *fs, dev_t dev, ino_t ino, uint64_t want)
{
    pthread_mutex_lock(&fs->table_lock);
    struct ufs_idmap_entry *e = id_lookup(fs, dev, ino);
    uint64_t n;
    if (e) {
        n = e->number;
    } else {
        n = want ? want : fs->next_ino++;
        id_add_locked(fs, dev, ino, n);
    }
    pthread_mutex_unlock(&fs->table_lock);
    return n;
}

/* The upper object was deleted: the filesystem may reuse its inode number
 * for something unrelated, which must get a fresh number. */
void ufs_id_forget(struct ufs *fs, dev_t dev, ino_t ino)
{
    pthread_mutex_lock(&fs->table_lock);
    if (fs->ids_cap) {
        struct ufs_idmap_entry **pp = &fs->ids[hash_id(dev, ino) & (fs->ids_cap - 1)];
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->dev == dev && (*pp)->ino == ino) {
                struct ufs_idmap_entry *e = *pp;
                *pp = e->next;
                free(e);
                fs->n_ids--;
                break;
            }
    }
    pthread_mutex_unlock(&fs->table_lock);
}

/* After copy-up the upper object answers to the number of the lower one. */
void ufs_id_alias(struct ufs *fs, dev_t dev, ino_t ino, uint64_t number)
{
    pthread_mutex_lock(&fs->table_lock);
    struct ufs_idmap_entry *e = id_lookup(fs, dev, ino);
    if (e)
        e->number = number;
    else
        id_add_locked(fs, dev, ino, number);
    pthread_mutex_unlock(&fs->table_lock);
}

/* Two hashes of the same size: every node by nodeid, the nodes that are
 * not orphans by ino (for names and numbers). */
static void nodes_grow(struct ufs *fs)
{
    size_t cap = fs->nodes_cap ? fs->nodes_cap * 2 : 1024;
    struct ufs_node **t = xcalloc(cap, sizeof *t);
    struct ufs_node **ti = xcalloc(cap, sizeof *ti);
    for (size_t i = 0; i < fs->nodes_cap; i++) {
        struct ufs_node *n = fs->nodes[i], *next;
        for (; n; n = next) {
            next = n->hnext;
            size_t h = hash_u64(n->nodeid) & (cap - 1);
            n->hnext = t[h];
            t[h] = n;
        }
        for (n = fs->inos[i]; n; n = next) {
            next = n->inext;
            size_t h = hash_u64(n->ino) & (cap - 1);
            n->inext = ti[h];
            ti[h] = n;
        }
    }
    free(fs->nodes);
    free(fs->inos);
    fs->nodes = t;
    fs->inos = ti;
    fs->nodes_cap = cap;
}

static struct ufs_node *find_locked(struct ufs *fs, uint64_t nodeid)
{
    if (!fs->nodes_cap)
        return NULL;
    for (struct ufs_node *n = fs->nodes[hash_u64(nodeid) & (fs->nodes_cap - 1)]; n;
         n = n->hnext)
        if (n->nodeid == nodeid)
            return n;
    return NULL;
}

static struct ufs_node *find_ino_locked(struct ufs *fs, uint64_t ino)
{
    if (!fs->nodes_cap)
        return NULL;
    for (struct ufs_node *n = fs->inos[hash_u64(ino) & (fs->nodes_cap - 1)]; n; n = n->inext)
        if (n->ino == ino)
            return n;
    return NULL;
}

static void hash_locked(struct ufs *fs, struct ufs_node *node)
{
    if (fs->n_nodes + 1 > fs->nodes_cap)
        nodes_grow(fs);
    size_t h = hash_u64(node->nodeid) & (fs->nodes_cap - 1);
    node->hnext = fs->nodes[h];
    fs->nodes[h] = node;
    h = hash_u64(node->ino) & (fs->nodes_cap - 1);
    node->inext = fs->inos[h];
    fs->inos[h] = node;
    fs->n_nodes++;
}

static void unhash_ino_locked(struct ufs *fs, struct ufs_node *node)
{
    struct ufs_node **pp = &fs->inos[hash_u64(node->ino) & (fs->nodes_cap - 1)];
    for (; *pp; pp = &(*pp)->inext)
        if (*pp == node) {
            *pp = node->inext;
            return;
        }
}

struct ufs_node *ufs_node_find(struct ufs *fs, uint64_t nodeid)
{
    if (nodeid == FUSE_ROOT_ID)
        return fs->root;
    pthread_mutex_lock(&fs->table_lock);
    struct ufs_node *n = find_locked(fs, nodeid);
    pthread_mutex_unlock(&fs->table_lock);
    return n;
}

struct ufs_node *ufs_node_find_ino(struct ufs *fs, uint64_t ino)
{
    if (ino == FUSE_ROOT_ID)
        return fs->root;
    pthread_mutex_lock(&fs->table_lock);
    struct ufs_node *n = find_ino_locked(fs, ino);
    pthread_mutex_unlock(&fs->table_lock);
    return n;
}

struct ufs_node *ufs_node_alloc(int n_layers)
{
    struct ufs_node *n = xzalloc(sizeof *n);
    pthread_mutex_init(&n->lock, NULL);
    n->fd = -1;
    n->lfd = -1;
    n->pt.fd = -1;
    n->nocap_layer = -1;
    (void)n_layers;
    return n;
}

/* live: the session runs (FORGET), not the teardown after it ended */
static void node_free(struct ufs *fs, struct ufs_node *n, bool live)
{
    ufs_pt_node_free(fs, n, live);
    if (n->fd >= 0)
        close(n->fd);
    if (n->lfd >= 0)
        close(n->lfd);
    if (n->dfd) {
        for (int i = 0; i < fs->n_layers; i++)
            if (n->dfd[i] >= 0)
                close(n->dfd[i]);
        free(n->dfd);
    }
    free(n->name);
    free(n->lpath);
    ufs_dirlist_free(n->list);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

struct ufs_node *ufs_node_insert(struct ufs *fs, struct ufs_node *node)
{
    if (node->ino == FUSE_ROOT_ID) {
        pthread_mutex_lock(&fs->table_lock);
        fs->root->nlookup++;
        pthread_mutex_unlock(&fs->table_lock);
        node_free(fs, node, true);
        return fs->root;
    }
    pthread_mutex_lock(&fs->table_lock);
    struct ufs_node *old = find_ino_locked(fs, node->ino);
    if (old) {
        old->nlookup++;
        pthread_mutex_unlock(&fs->table_lock);
        node_free(fs, node, true);
        return old;
    }
    node->nodeid = node->ino;
    hash_locked(fs, node);
    node->nlookup = 1;
    if (node->parent)
        node->parent->refs++;
    pthread_mutex_unlock(&fs->table_lock);
    return node;
}

static void unhash_locked(struct ufs *fs, struct ufs_node *node)
{
    if (!node->orphan)
        unhash_ino_locked(fs, node);
    struct ufs_node **pp = &fs->nodes[hash_u64(node->nodeid) & (fs->nodes_cap - 1)];
    for (; *pp; pp = &(*pp)->hnext)
        if (*pp == node) {
            *pp = node->hnext;
            fs->n_nodes--;
            return;
        }
}

void ufs_node_split(struct ufs *fs, struct ufs_node *old, struct ufs_node *fresh)
{
    ufs_node_move(fs, old, old->parent, NULL);
    pthread_mutex_lock(&fs->table_lock);
    /* from the counter that numbers files: no st_ino will ever be it */
    fresh->nodeid = fs->next_ino++;
    fresh->ino = old->ino;
    fresh->nlookup = 0; /* the kernel looks it up (the name was invalidated) */
    unhash_ino_locked(fs, old);
    old->orphan = true;
    hash_locked(fs, fresh);
    if (fresh->parent)
        fresh->parent->refs++;
    pthread_mutex_unlock(&fs->table_lock);
}

/* Drops n kernel references; a node nobody references any more is freed
 * and releases its parent in turn.  Parent links are read under table_lock
 * here: rename changes them with both tree_lock and table_lock held. */
void ufs_node_forget(struct ufs *fs, struct ufs_node *node, uint64_t n)
{
    pthread_mutex_lock(&fs->table_lock);
    if (node == fs->root) {
        node->nlookup = node->nlookup > n ? node->nlookup - n : 0;
        pthread_mutex_unlock(&fs->table_lock);
        return;
    }
    node->nlookup = node->nlookup > n ? node->nlookup - n : 0;
    struct ufs_node *dead = NULL;
    while (node && node != fs->root && node->nlookup == 0 && node->refs == 0) {
        unhash_locked(fs, node);
        struct ufs_node *parent = node->parent;
        node->hnext = dead;
        dead = node;
        if (parent)
            parent->refs--;
        node = parent;
    }
    pthread_mutex_unlock(&fs->table_lock);
    while (dead) {
        struct ufs_node *next = dead->hnext;
        node_free(fs, dead, true);
        dead = next;
    }
}

void ufs_table_free(struct ufs *fs)
{
    for (size_t i = 0; i < fs->nodes_cap; i++) {
        struct ufs_node *n = fs->nodes[i], *next;
        for (; n; n = next) {
            next = n->hnext;
            node_free(fs, n, false);
        }
    }
    free(fs->nodes);
    free(fs->inos);
    for (size_t i = 0; i < fs->ids_cap; i++) {
        struct ufs_idmap_entry *e = fs->ids[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(fs->ids);
    if (fs->root)
        node_free(fs, fs->root, false);
    fs->root = NULL;
}

/* --- lazy O_PATH fds of lower non-directories ---
 * A lookup or readdirplus of a lower file opens nothing: most of a walk's
 * names are never opened or changed.  The object is found again where the
 * lookup found it, name in the parent's directory of its layer: lowers
 * never change, and a node keeps the parent and name of its lookup until
 * ufs_node_move, which opens the fd first (before the old parent, and so
 * its directory fd, can go).  The fd is set once, by compare and swap; an
 * open through the parent that finds it set afterwards may have raced a
 * move, so it is not trusted. */
#define FD_LOST (-2) /* a move could not open it: the place is gone */

/* Where the lookup found lazy node n: its parent's dir fd of n's layer,
 * name copied to name; -1 when it has none. */
static int lazy_place(struct ufs *fs, struct ufs_node *n, char name[NAME_MAX + 1])
{
    int dir = -1;
    pthread_mutex_lock(&fs->table_lock);
    struct ufs_node *p = n->parent;
    if (p && p->dfd && n->name && n->layer > 0 && n->layer < fs->n_layers) {
        dir = p->dfd[n->layer];
        snprintf(name, NAME_MAX + 1, "%s", n->name);
    }
    pthread_mutex_unlock(&fs->table_lock);
    return dir;
}

static int lazy_openat(struct ufs *fs, struct ufs_node *n, int flags)
{
    char name[NAME_MAX + 1];
    int dir = lazy_place(fs, n, name);
    if (dir < 0) {
        errno = ESTALE;
        return -1;
    }
    return openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC);
}

static int fd_of(struct ufs_node *n)
{
    return __atomic_load_n(&n->fd, __ATOMIC_ACQUIRE);
}

static int set_fd(struct ufs_node *n, int fd)
{
    int expect = -1;
    if (__atomic_compare_exchange_n(&n->fd, &expect, fd, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return fd;
    if (fd >= 0)
        close(fd);
    return expect;
}

int ufs_node_pfd(struct ufs *fs, struct ufs_node *n)
{
    int fd = fd_of(n);
    if (fd == -1 && !n->dfd) {
        int nfd = lazy_openat(fs, n, O_PATH);
        if (nfd < 0)
            return -1;
        fd = set_fd(n, nfd);
    }
    if (fd < 0)
        errno = ESTALE;
    return fd < 0 ? -1 : fd;
}

int ufs_node_open(struct ufs *fs, struct ufs_node *n, int flags)
{
    if (fd_of(n) == -1 && !n->dfd) {
        int fd = lazy_openat(fs, n, flags);
        if (fd < 0 || fd_of(n) == -1)
            return fd;
        close(fd); /* opened since: maybe by a move, the place not sure */
    }
    int pfd = ufs_node_pfd(fs, n);
    return pfd < 0 ? -1 : ufs_reopen(pfd, flags);
}

int ufs_node_lstat(struct ufs *fs, struct ufs_node *n, struct stat *st)
{
    if (fd_of(n) == -1 && !n->dfd) {
        char name[NAME_MAX + 1];
        int dir = lazy_place(fs, n, name);
        if (dir >= 0 && fstatat(dir, name, st, AT_SYMLINK_NOFOLLOW) == 0 && fd_of(n) == -1)
            return 0; /* the place was right (see ufs_node_open) */
    }
    int fd = ufs_node_pfd(fs, n);
    return fd < 0 ? -1 : fstat(fd, st);
}

ssize_t ufs_node_readlink(struct ufs *fs, struct ufs_node *n, char *buf, size_t size)
{
    char name[NAME_MAX + 1];
    int dir = fd_of(n) == -1 && !n->dfd ? lazy_place(fs, n, name) : -1;
    if (dir >= 0) {
        ssize_t len = readlinkat(dir, name, buf, size);
        if (fd_of(n) == -1)
            return len; /* the place was right (see ufs_node_open) */
    }
    int fd = ufs_node_pfd(fs, n);
    return fd < 0 ? -1 : readlinkat(fd, "", buf, size);
}

/* Caller holds tree_lock for writing: node's parent and name are stable. */
static void lazy_settle(struct ufs *fs, struct ufs_node *node)
{
    if (node->dfd || fd_of(node) != -1 || !node->parent || !node->name ||
        node->layer <= 0 || node->layer >= fs->n_layers || !node->parent->dfd)
        return;
    int fd = openat(node->parent->dfd[node->layer], node->name,
                    O_PATH | O_NOFOLLOW | O_CLOEXEC);
    set_fd(node, fd < 0 ? FD_LOST : fd);
}

void ufs_node_move(struct ufs *fs, struct ufs_node *node, struct ufs_node *parent,
                   const char *name)
{
    lazy_settle(fs, node);
    char *newname = name ? xstrdup(name) : NULL;
    pthread_mutex_lock(&fs->table_lock);
    struct ufs_node *old = node->parent;
    if (parent != old) {
        if (parent)
            parent->refs++;
        if (old)
            old->refs--; /* the kernel still holds old: no free needed here */
        node->parent = parent;
    }
    char *oldname = node->name;
    node->name = newname;
    pthread_mutex_unlock(&fs->table_lock);
    free(oldname);
}

/* --- xattrs read without the /proc/self/fd walk (three times the cost of
 * the call itself on this VM) --- */
#ifndef SYS_getxattrat
#define SYS_getxattrat 464 /* Linux 6.13; one number on every architecture */
#endif
struct ufs_xattr_args {
    uint64_t value;
    uint32_t size;
    uint32_t flags;
};
static atomic_bool no_getxattrat;

static ssize_t getxattr_at(int dir, const char *name, const char *xname, void *buf, size_t size)
{
    struct ufs_xattr_args a = {.value = (uint64_t)(uintptr_t)buf, .size = (uint32_t)size};
    ssize_t len = syscall(SYS_getxattrat, dir, name, AT_SYMLINK_NOFOLLOW, xname, &a, sizeof a);
    if (len < 0 && errno == ENOSYS)
        atomic_store(&no_getxattrat, true);
    return len;
}

/* An upper non-directory by its name in the parent's upper dir, which
 * tree_lock keeps n's: a rename or unlink moves or clears n->name under
 * the write lock, and nothing else puts another object at a name the
 * upper holds. */
static ssize_t upper_getxattr(struct ufs *fs, struct ufs_node *n, const char *xname, void *buf,
                              size_t size)
{
    ssize_t len = -1;
    errno = ENOSYS;
    pthread_rwlock_rdlock(&fs->tree_lock);
    struct ufs_node *p = n->parent;
    int dir = -1;
    if (p && p->dfd && n->name) {
        pthread_mutex_lock(&p->lock);
        dir = p->layer == 0 ? p->dfd[0] : -1;
        pthread_mutex_unlock(&p->lock);
    }
    if (dir >= 0)
        len = getxattr_at(dir, n->name, xname, buf, size);
    pthread_rwlock_unlock(&fs->tree_lock);
    return len;
}

ssize_t ufs_node_getxattr(struct ufs *fs, struct ufs_node *n, const char *xname, void *buf,
                          size_t size)
{
    if (n->dfd) {
        pthread_mutex_lock(&n->lock);
        int fd = n->dfd[n->layer];
        pthread_mutex_unlock(&n->lock);
        ssize_t len = fgetxattr(fd, xname, buf, size);
        if (len < 0 && errno == EBADF)
            errno = ENOSYS; /* an O_PATH dir fd (no read access) */
        return len;
    }
    errno = ENOSYS;
    if (atomic_load(&no_getxattrat))
        return -1;
    pthread_mutex_lock(&n->lock);
    int layer = n->layer;
    bool index = n->index;
    pthread_mutex_unlock(&n->lock);
    if (layer == 0)
        return index ? -1 : upper_getxattr(fs, n, xname, buf, size);
    /* a lower one that has no fd yet: where its lookup found it (as
     * ufs_node_readlink) */
    char name[NAME_MAX + 1];
    int dir = fd_of(n) == -1 ? lazy_place(fs, n, name) : -1;
    if (dir < 0)
        return -1;
    ssize_t len = getxattr_at(dir, name, xname, buf, size);
    int saved = errno;
    if (fd_of(n) != -1) {
        errno = ENOSYS; /* opened since: maybe by a move, the place not sure */
        return -1;
    }
    errno = saved;
    return len;
}
