/* Merged directory listings.  Each directory node keeps one listing that
 * every reader shares: OPENDIR is answered ENOSYS (ops_dir.c), so READDIR
 * comes without a handle and the kernel caches what it read.  Offsets are
 * cookies that a name keeps while it stays, so readdir is stable while
 * others create and unlink (no duplicates, no skipped entries, telldir and
 * seekdir work) and a cookie the kernel cached stays valid for every
 * reader. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "unionfs/internal.h"

/* Open-addressing set of names seen in upper layers or whited out. */
struct nameset {
    char **slots;
    size_t cap, n;
};

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool set_has(struct nameset *s, const char *name)
{
    if (!s->cap)
        return false;
    for (size_t i = hash_str(name) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slots[i])
            return false;
        if (!strcmp(s->slots[i], name))
            return true;
    }
}

static void set_add_owned(struct nameset *s, char *name);

static void set_grow(struct nameset *s)
{
    struct nameset t = {.cap = s->cap ? s->cap * 2 : 64};
    t.slots = xcalloc(t.cap, sizeof(char *));
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i])
            set_add_owned(&t, s->slots[i]);
    free(s->slots);
    *s = t;
}

static void set_add_owned(struct nameset *s, char *name)
{
    if ((s->n + 1) * 2 > s->cap)
        set_grow(s);
    size_t i = hash_str(name) & (s->cap - 1);
    while (s->slots[i])
        i = (i + 1) & (s->cap - 1);
    s->slots[i] = name;
    s->n++;
}

static void set_free(struct nameset *s, bool free_names)
{
    if (free_names)
        for (size_t i = 0; i < s->cap; i++)
            free(s->slots[i]);
    free(s->slots);
}

static void snap_add(struct ufs_dir_snapshot *s, const char *name, uint64_t ino, unsigned char type)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->ents = xrealloc(s->ents, s->cap * sizeof *s->ents);
    }
    s->ents[s->n].name = xstrdup(name);
    s->ents[s->n].ino = ino;
    s->ents[s->n].type = type;
    s->n++;
}

void ufs_dir_snapshot_free(struct ufs_dir_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->ents[i].name);
    free(s->ents);
    s->ents = NULL;
    s->n = s->cap = 0;
}

/* A descriptor to list layer directory dfd from its start.  own: the
 * caller serializes every read of dfd's position (the node's listing
 * lock), so dfd itself serves, rewound if it was read before (rewind);
 * else a fresh open, as the position is shared.  *opened: close it. */
static int list_fd(int dfd, bool own, bool rewind, bool *opened)
{
    *opened = false;
    if (own && (!rewind || lseek(dfd, 0, SEEK_SET) == 0))
        return dfd;
    *opened = true;
    return openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int dir_list(struct ufs *fs, const int *dfd, int top, int bottom,
                    struct ufs_dir_snapshot *s, bool with_ids, bool own, bool rewind)
{
    struct nameset seen = {0}, hidden = {0};
    int r = 0;
    for (int i = top; i <= bottom; i++) {
        if (dfd[i] < 0)
            continue;
        /* getdents64 straight into a stack buffer saves fdopendir's
         * fcntl, fstat and 32 KiB allocation */
        bool opened;
        int fd = list_fd(dfd[i], own, rewind, &opened);
        if (fd < 0) {
            r = errno;
            break;
        }
        /* whiteouts of this layer hide names of the layers below only */
        struct nameset layer_wh = {0};
        _Alignas(struct dirent64) char buf[16384];
        ssize_t got = 0, at = 0;
        for (;;) {
            if (at >= got) {
                got = getdents64(fd, buf, sizeof buf);
                at = 0;
                if (got < 0 && errno == EBADF && !opened) {
                    /* an O_PATH dir fd (no read permission): as before */
                    fd = openat(dfd[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                    if (fd < 0) {
                        r = errno;
                        break;
                    }
                    opened = true;
                    got = at = 0;
                    continue;
                }
                if (got <= 0) {
                    if (got < 0)
                        r = errno;
                    break;
                }
            }
            struct dirent64 *de = (struct dirent64 *)(buf + at);
            at += de->d_reclen;
            const char *name = de->d_name;
            if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
                continue;
            if (!strncmp(name, UFS_WH_PREFIX, UFS_WH_PREFIX_LEN)) {
                if (strcmp(name, UFS_OPQ))
                    set_add_owned(&layer_wh, xstrdup(name + UFS_WH_PREFIX_LEN));
                continue;
            }
            if (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN) {
                struct stat st;
                if (fstatat(dfd[i], name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    ufs_is_whiteout_stat(&st)) {
                    set_add_owned(&layer_wh, xstrdup(name));
                    continue;
                }
            }
            if (set_has(&seen, name) || set_has(&hidden, name))
                continue;
            uint64_t ino = with_ids ? ufs_id_get(fs, fs->layers[i].dev, de->d_ino, 0) : 0;
            snap_add(s, name, ino, de->d_type);
            set_add_owned(&seen, s->ents[s->n - 1].name);
        }
        if (opened && fd >= 0)
            close(fd);
        for (size_t k = 0; k < layer_wh.cap; k++)
            if (layer_wh.slots[k]) {
                if (set_has(&hidden, layer_wh.slots[k]))
                    free(layer_wh.slots[k]);
                else
                    set_add_owned(&hidden, layer_wh.slots[k]);
            }
        set_free(&layer_wh, false);
        if (r)
            break;
    }
    set_free(&seen, false);
    set_free(&hidden, true);
    return r;
}

int ufs_dir_list(struct ufs *fs, const int *dfd, int top, int bottom,
                 struct ufs_dir_snapshot *s, bool with_ids)
{
    return dir_list(fs, dfd, top, bottom, s, with_ids, false, false);
}

/* --- the per-directory listing --- */

/* First cookie of a name: 1 and 2 are "." and "..". */
#define FIRST_OFF 3

struct ufs_dirlist *ufs_dirlist_of(struct ufs_node *d)
{
    pthread_mutex_lock(&d->lock);
    if (!d->list) {
        struct ufs_dirlist *l = xzalloc(sizeof *l);
        pthread_mutex_init(&l->lock, NULL);
        l->next_off = FIRST_OFF;
        d->list = l;
    }
    struct ufs_dirlist *l = d->list;
    pthread_mutex_unlock(&d->lock);
    return l;
}

void ufs_dirlist_free(struct ufs_dirlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->ents[i].name);
    free(l->ents);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* Open-addressing map name -> index into a snapshot. */
struct namemap {
    size_t *slots; /* index + 1, 0 = empty */
    size_t cap;
};

static void map_build(struct namemap *m, const struct ufs_dir_snapshot *s)
{
    m->cap = 16;
    while (m->cap < s->n * 2)
        m->cap *= 2;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    for (size_t j = 0; j < s->n; j++) {
        size_t i = hash_str(s->ents[j].name) & (m->cap - 1);
        while (m->slots[i])
            i = (i + 1) & (m->cap - 1);
        m->slots[i] = j + 1;
    }
}

static ssize_t map_find(const struct namemap *m, const struct ufs_dir_snapshot *s,
                        const char *name)
{
    for (size_t i = hash_str(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i])
            return -1;
        if (!strcmp(s->ents[m->slots[i] - 1].name, name))
            return (ssize_t)(m->slots[i] - 1);
    }
}

int ufs_dirlist_refresh(struct ufs *fs, struct ufs_node *d, struct ufs_dirlist *l)
{
    pthread_mutex_lock(&d->lock);
    int top = d->layer, bottom = d->bottom;
    pthread_mutex_unlock(&d->lock);
    struct ufs_dir_snapshot s = {0};
    /* l->lock is the only reader of d's dir fds' positions (other
     * listings open their own): a first listing reads them as they are,
     * at 0 since resolve opened them (the root's are dups of the layer
     * fds: rewound), later ones rewind */
    int r = dir_list(fs, d->dfd, top, bottom, &s, true, true, l->read_once || d == fs->root);
    l->read_once = true;
    if (r) {
        ufs_dir_snapshot_free(&s);
        return r;
    }
    /* names kept in place (with what they are now), the others dropped */
    bool *kept = xcalloc(s.n ? s.n : 1, sizeof *kept);
    if (l->n) {
        struct namemap m;
        map_build(&m, &s);
        size_t w = 0;
        for (size_t i = 0; i < l->n; i++) {
            ssize_t j = map_find(&m, &s, l->ents[i].name);
            if (j < 0) {
                free(l->ents[i].name);
                continue;
            }
            kept[j] = true;
            l->ents[i].ino = s.ents[j].ino;
            l->ents[i].type = s.ents[j].type;
            l->ents[w++] = l->ents[i];
        }
        l->n = w;
        free(m.slots);
    }
    /* new names at the end, with new cookies */
    for (size_t j = 0; j < s.n; j++) {
        if (kept[j]) {
            free(s.ents[j].name);
            continue;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 32;
            l->ents = xrealloc(l->ents, l->cap * sizeof *l->ents);
        }
        l->ents[l->n] = s.ents[j];
        l->ents[l->n++].off = l->next_off++;
    }
    free(kept);
    free(s.ents);
    l->built = true;
    return 0;
}

size_t ufs_dirlist_seek(const struct ufs_dirlist *l, uint64_t off)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->ents[mid].off <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
