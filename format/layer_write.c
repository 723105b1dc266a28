#include "format/layer_write.h"

#include "format/libarchive.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/layer_path.h"
#include "format/override_stat.h"
#include "format/whiteout.h"

#define COPY_BUF (1024 * 1024)

void fmt_layer_write_opts_init(struct fmt_layer_write_opts *o)
{
    memset(o, 0, sizeof *o);
    o->compression = FMT_COMPRESSION_GZIP;
    o->source_date_epoch = -1;
    o->override_stat = true;
}

void fmt_layer_info_descriptor(const struct fmt_layer_info *info, struct fmt_descriptor *d)
{
    memset(d, 0, sizeof *d);
    d->media_type = xstrdup(info->media_type);
    memcpy(d->digest, info->digest, FMT_DIGEST_MAX);
    d->size = info->size;
    d->diff_id = xstrdup(info->diff_id);
    d->uncompressed_size = info->diff_size;
}

/* ---- the output chain: tar bytes → diff_id digester → compressor → sink --
 *
 * The tar producer (the tree walk, or the tar parser for recompress) and the
 * hashing + compression run on different threads, joined by a small queue
 * of 1 MiB buffers, as `tar | zstd | sha256sum` is joined by pipes: walking
 * the tree (syscalls, page faults) never waits for the compressor's turn. */

#define CHAIN_BUF (1024 * 1024)
#define CHAIN_NBUF 4

struct out_chain {
    struct fmt_digester *diff, *comp;
    int64_t diff_size, comp_size;
    struct fmt_compressor *cz;
    fmt_sink_fn sink;
    void *sink_ctx;
    struct error *err;      /* the producer's error (the caller's) */
    struct error thread_err; /* the consumer's, copied to err on failure */
    bool failed;            /* err holds the cause */
    /* lock protects the queue indices, lens, closed and consumer_failed */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned char *bufs[CHAIN_NBUF];
    size_t lens[CHAIN_NBUF];
    uint64_t head, tail; /* consumer takes head, producer fills tail */
    bool closed, consumer_failed, running;
    pthread_t thread;
};

static int chain_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
    struct out_chain *c = ctx;
    fmt_digester_update(c->comp, buf, len);
    c->comp_size += (int64_t)len;
    return c->sink(c->sink_ctx, buf, len, err);
}

static void *chain_consumer(void *arg)
{
    struct out_chain *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (c->head == c->tail && !c->closed)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->head == c->tail)
            break;
        size_t i = c->head % CHAIN_NBUF;
        pthread_mutex_unlock(&c->lock);
        fmt_digester_update(c->diff, c->bufs[i], c->lens[i]);
        c->diff_size += (int64_t)c->lens[i];
        int r = fmt_compressor_write(c->cz, c->bufs[i], c->lens[i], &c->thread_err);
        pthread_mutex_lock(&c->lock);
        c->head++;
        if (r < 0) {
            c->consumer_failed = true;
            pthread_cond_broadcast(&c->cond);
            break;
        }
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static int chain_open(struct out_chain *c, const struct fmt_layer_write_opts *o,
                      fmt_sink_fn sink, void *sink_ctx, struct error *err)
{
    memset(c, 0, sizeof *c);
    c->sink = sink;
    c->sink_ctx = sink_ctx;
    c->err = err;
    c->diff = fmt_digester_new();
    c->comp = fmt_digester_new();
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    for (int i = 0; i < CHAIN_NBUF; i++)
        c->bufs[i] = xmalloc(CHAIN_BUF);
    if (fmt_compressor_new(o->compression, o->level, o->threads, chain_sink, c, &c->cz,
                           err) < 0)
        return -1;
    int r = pthread_create(&c->thread, NULL, chain_consumer, c);
    if (r != 0)
        return error_code(err, r, "start the layer compression thread");
    c->running = true;
    return 0;
}

/* Hands the filled tail buffer to the consumer. */
static int chain_push(struct out_chain *c)
{
    pthread_mutex_lock(&c->lock);
    c->tail++;
    pthread_cond_broadcast(&c->cond);
    while (c->tail - c->head >= CHAIN_NBUF && !c->consumer_failed)
        pthread_cond_wait(&c->cond, &c->lock);
    bool failed = c->consumer_failed;
    pthread_mutex_unlock(&c->lock);
    if (failed) {
        *c->err = c->thread_err;
        c->failed = true;
        return -1;
    }
    c->lens[c->tail % CHAIN_NBUF] = 0;
    return 0;
}

static int chain_write(struct out_chain *c, const void *buf, size_t len)
{
    if (c->failed)
        return -1;
    const unsigned char *p = buf;
    while (len > 0) {
        size_t i = c->tail % CHAIN_NBUF;
        size_t n = CHAIN_BUF - c->lens[i];
        if (n > len)
            n = len;
        memcpy(c->bufs[i] + c->lens[i], p, n);
        c->lens[i] += n;
        p += n;
        len -= n;
        if (c->lens[i] == CHAIN_BUF && chain_push(c) < 0)
            return -1;
    }
    return 0;
}

/* Stops the consumer after it has taken everything queued. */
static void chain_stop(struct out_chain *c)
{
    if (!c->running)
        return;
    pthread_mutex_lock(&c->lock);
    c->closed = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    c->running = false;
}

static int chain_finish(struct out_chain *c, const struct fmt_layer_write_opts *o,
                        struct fmt_layer_info *info)
{
    if (c->failed)
        return -1;
    if (c->lens[c->tail % CHAIN_NBUF] > 0) {
        pthread_mutex_lock(&c->lock);
        c->tail++;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
    }
    chain_stop(c);
    if (c->consumer_failed) {
        *c->err = c->thread_err;
        c->failed = true;
        return -1;
    }
    /* the consumer has exited: the compressor is this thread's now */
    if (fmt_compressor_finish(c->cz, c->err) < 0)
        return -1;
    memset(info, 0, sizeof *info);
    fmt_digester_final(c->diff, info->diff_id);
    fmt_digester_final(c->comp, info->digest);
    info->diff_size = c->diff_size;
    info->size = c->comp_size;
    info->compression = o->compression;
    info->media_type = fmt_layer_media_type(o->compression);
    return 0;
}

static void chain_close(struct out_chain *c)
{
    chain_stop(c);
    fmt_compressor_free(c->cz);
    fmt_digester_free(c->diff);
    fmt_digester_free(c->comp);
    for (int i = 0; i < CHAIN_NBUF; i++)
        free(c->bufs[i]);
    if (c->diff) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
    }
}

static la_ssize_t archive_out(struct archive *a, void *ctx, const void *buf, size_t len)
{
    struct out_chain *c = ctx;
    if (chain_write(c, buf, len) < 0) {
        archive_set_error(a, EIO, "%s", c->err->msg);
        return -1;
    }
    return (la_ssize_t)len;
}

/* ---- hard links: (dev, ino) → first path written ----------------------- */

struct link_slot {
    dev_t dev;
    ino_t ino;
    char *path; /* NULL: empty slot */
};

struct link_map {
    struct link_slot *slots;
    size_t cap, used;
};

static size_t link_hash(dev_t dev, ino_t ino, size_t cap)
{
    uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* Returns the earlier path for (dev, ino), or records path and returns NULL. */
static const char *link_lookup_or_add(struct link_map *m, dev_t dev, ino_t ino,
                                      const char *path)
{
    if ((m->used + 1) * 2 > m->cap) {
        struct link_map n = {.cap = m->cap ? m->cap * 2 : 256};
        n.slots = xcalloc(n.cap, sizeof *n.slots);
        for (size_t i = 0; i < m->cap; i++) {
            struct link_slot *s = &m->slots[i];
            if (!s->path)
                continue;
            size_t j = link_hash(s->dev, s->ino, n.cap);
            while (n.slots[j].path)
                j = (j + 1) & (n.cap - 1);
            n.slots[j] = *s;
        }
        n.used = m->used;
        free(m->slots);
        *m = n;
    }
    size_t j = link_hash(dev, ino, m->cap);
    while (m->slots[j].path) {
        if (m->slots[j].dev == dev && m->slots[j].ino == ino)
            return m->slots[j].path;
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (struct link_slot){dev, ino, xstrdup(path)};
    m->used++;
    return NULL;
}

static void link_map_free(struct link_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].path);
    free(m->slots);
}

/* ---- the tree walk -------------------------------------------------------- */

enum dent_kind { DENT_NORMAL, DENT_WHITEOUT };

struct dent {
    char *name;       /* as written in the tar */
    const char *disk; /* name on disk; NULL for the synthesized opaque marker */
    struct stat st;
    enum dent_kind kind;
};

struct walker {
    const struct fmt_layer_write_opts *o;
    const char *what;
    struct archive *a;
    struct archive_entry *e;
    struct out_chain *chain;
    struct link_map links;
    char *buf;
    struct error *err;
};

static int dent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static int64_t clamp_mtime(const struct walker *w, const struct stat *st)
{
    int64_t t = (int64_t)st->st_mtim.tv_sec;
    if (w->o->source_date_epoch >= 0 && t > w->o->source_date_epoch)
        t = w->o->source_date_epoch;
    return t;
}

/* ARCHIVE_WARN means written, with a remark: typically a name that is not
 * valid in the (C) locale's charset, which pax then records as raw bytes
 * with hdrcharset=BINARY.  File names are bytes; that is what we want. */
static bool header_ok(int r)
{
    return r == ARCHIVE_OK || r == ARCHIVE_WARN;
}

static int archive_fail(struct walker *w, const char *path)
{
    if (w->chain->failed)
        return -1; /* the chain's own error is already in w->err */
    return error_set(w->err, archive_errno(w->a) > 0 ? archive_errno(w->a) : EIO,
                     "write tar entry `%s`: %s", path, archive_error_string(w->a));
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int add_xattrs(struct walker *w, int fd, const char *path)
{
    ssize_t n = flistxattr(fd, NULL, 0);
    if (n < 0) {
        if (errno == ENOTSUP)
            return 0;
        return error_errno(w->err, "list xattrs of `%s/%s`", w->what, path);
    }
    if (n == 0)
        return 0;
    cleanup_free char *list = xmalloc((size_t)n + 1);
    n = flistxattr(fd, list, (size_t)n);
    if (n < 0)
        return error_errno(w->err, "list xattrs of `%s/%s`", w->what, path);
    /* sorted, so the pax record order does not depend on the filesystem */
    size_t count = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
        count++;
    cleanup_free const char **names = xcalloc(count, sizeof *names);
    count = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
        names[count++] = list + i;
    qsort(names, count, sizeof *names, name_cmp);
    for (size_t i = 0; i < count; i++) {
        if (fmt_xattr_is_union_private(names[i]) || !strcmp(names[i], "security.selinux"))
            continue;
        ssize_t vl = fgetxattr(fd, names[i], NULL, 0);
        if (vl < 0) {
            if (errno == ENODATA)
                continue;
            return error_errno(w->err, "read xattr `%s` of `%s/%s`", names[i], w->what, path);
        }
        cleanup_free char *v = xmalloc((size_t)vl + 1);
        vl = fgetxattr(fd, names[i], v, (size_t)vl);
        if (vl < 0)
            return error_errno(w->err, "read xattr `%s` of `%s/%s`", names[i], w->what, path);
        archive_entry_xattr_add_entry(w->e, names[i], v, (size_t)vl);
    }
    return 0;
}

static int copy_data(struct walker *w, int fd, int64_t size, const char *path)
{
    int64_t left = size;
    while (left > 0) {
        size_t want = left > COPY_BUF ? COPY_BUF : (size_t)left;
        ssize_t n = read(fd, w->buf, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_errno(w->err, "read `%s/%s`", w->what, path);
        }
        if (n == 0)
            return error_set(w->err, EIO, "`%s/%s` shrank while it was being read", w->what,
                             path);
        if (archive_write_data(w->a, w->buf, (size_t)n) != n)
            return archive_fail(w, path);
        left -= n;
    }
    return 0;
}

static int walk_dir(struct walker *w, int dfd, const char *prefix);

/* Writes one entry; recurses into directories. */
static int emit(struct walker *w, int dfd, const char *prefix, struct dent *d)
{
    struct archive_entry *e = w->e;
    cleanup_free char *path = xasprintf("%s%s", prefix, d->name);
    archive_entry_clear(e);
    struct stat st = d->st;

    if (d->kind == DENT_WHITEOUT) {
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0600);
        archive_entry_set_size(e, 0);
        archive_entry_set_mtime(e, clamp_mtime(w, &st), 0);
        if (!header_ok(archive_write_header(w->a, e)))
            return archive_fail(w, path);
        return 0;
    }

    cleanup_close int fd = -1;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
        fd = openat(dfd, d->disk,
                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
        if (fd < 0)
            return error_errno(w->err, "open `%s/%s`", w->what, path);
        struct stat now;
        if (fstat(fd, &now) < 0)
            return error_errno(w->err, "stat `%s/%s`", w->what, path);
        if ((now.st_mode & S_IFMT) != (st.st_mode & S_IFMT) || now.st_ino != st.st_ino)
            return error_set(w->err, EAGAIN, "`%s/%s` changed while the layer was written",
                             w->what, path);
        st = now;
    }
    bool is_dir = S_ISDIR(st.st_mode);
    struct stat meta = st; /* what the tar says; may come from override_stat */
    if (fd >= 0 && w->o->override_stat) {
        struct fmt_override_stat ov;
        int r = fmt_override_stat_get(fd, &ov, w->err);
        if (r < 0)
            return error_prefix(w->err, "`%s/%s`", w->what, path);
        if (r > 0) {
            fmt_override_stat_apply(&ov, &meta);
            /* a directory stays a directory; a file may stand for a device or fifo */
            mode_t t = meta.st_mode & S_IFMT;
            if (is_dir ? t != S_IFDIR : (t != S_IFREG && t != S_IFCHR && t != S_IFBLK &&
                                         t != S_IFIFO))
                meta.st_mode = (st.st_mode & S_IFMT) | (meta.st_mode & 07777);
        }
    }

    cleanup_free char *tar_name = is_dir ? xasprintf("%s/", path) : xstrdup(path);
    archive_entry_set_pathname(e, tar_name);
    archive_entry_set_uid(e, meta.st_uid);
    archive_entry_set_gid(e, meta.st_gid);
    archive_entry_set_mode(e, meta.st_mode);
    archive_entry_set_mtime(e, clamp_mtime(w, &meta), 0);
    archive_entry_set_size(e, 0);

    mode_t type = meta.st_mode & S_IFMT;
    bool has_data = false;
    if (type == S_IFREG || S_ISLNK(st.st_mode) || type == S_IFCHR || type == S_IFBLK ||
        type == S_IFIFO) {
        if (st.st_nlink > 1) {
            const char *first = link_lookup_or_add(&w->links, st.st_dev, st.st_ino, path);
            if (first) {
                archive_entry_set_hardlink(e, first);
                if (!header_ok(archive_write_header(w->a, e)))
                    return archive_fail(w, path);
                return 0;
            }
        }
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dfd, d->disk, target, sizeof target - 1);
        if (n < 0)
            return error_errno(w->err, "readlink `%s/%s`", w->what, path);
        target[n] = '\0';
        archive_entry_set_symlink(e, target);
    } else if (type == S_IFCHR || type == S_IFBLK) {
        archive_entry_set_rdevmajor(e, major(meta.st_rdev));
        archive_entry_set_rdevminor(e, minor(meta.st_rdev));
    } else if (type == S_IFREG) {
        archive_entry_set_size(e, st.st_size);
        has_data = st.st_size > 0;
    }
    if (fd >= 0 && add_xattrs(w, fd, path) < 0)
        return -1;
    if (!header_ok(archive_write_header(w->a, e)))
        return archive_fail(w, path);
    if (has_data && copy_data(w, fd, st.st_size, path) < 0)
        return -1;
    if (is_dir) {
        cleanup_free char *sub = xasprintf("%s/", path);
        return walk_dir(w, fd, sub);
    }
    return 0;
}

static void dents_free(struct dent *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static int walk_dir(struct walker *w, int dfd, const char *prefix)
{
    int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0)
        return error_errno(w->err, "dup directory fd of `%s/%s`", w->what, prefix);
    DIR *dir = fdopendir(dup_fd);
    if (!dir) {
        close(dup_fd);
        return error_errno(w->err, "open directory `%s/%s`", w->what, prefix);
    }
    size_t n = 0, cap = 16;
    struct dent *v = xcalloc(cap, sizeof *v);
    /* names live in one growing string pool so d->disk stays valid */
    char **pool = NULL;
    size_t n_pool = 0;
    bool have_opaque = false;
    int ret = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n + 1 >= cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof *v);
        }
        struct dent *d = &v[n];
        memset(d, 0, sizeof *d);
        if (fstatat(dfd, de->d_name, &d->st, AT_SYMLINK_NOFOLLOW) < 0) {
            ret = error_errno(w->err, "stat `%s/%s%s`", w->what, prefix, de->d_name);
            break;
        }
        if (S_ISSOCK(d->st.st_mode))
            continue; /* tar has no sockets; they are runtime state anyway */
        pool = xrealloc(pool, (n_pool + 1) * sizeof *pool);
        pool[n_pool] = xstrdup(de->d_name);
        d->disk = pool[n_pool++];
        if (fmt_whiteout_is_overlay_device(&d->st)) {
            d->name = xasprintf(FMT_WHITEOUT_PREFIX "%s", de->d_name);
            d->kind = DENT_WHITEOUT;
        } else {
            d->name = xstrdup(de->d_name);
            if (!strncmp(de->d_name, FMT_WHITEOUT_PREFIX, 4)) {
                d->kind = DENT_WHITEOUT;
                if (fmt_whiteout_is_opaque(de->d_name))
                    have_opaque = true;
            } else if (S_ISREG(d->st.st_mode) && d->st.st_size == 0) {
                int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                if (fd >= 0) {
                    if (fmt_whiteout_file_is_whiteout(fd)) {
                        free(d->name);
                        d->name = xasprintf(FMT_WHITEOUT_PREFIX "%s", de->d_name);
                        d->kind = DENT_WHITEOUT;
                    }
                    close(fd);
                }
            }
        }
        n++;
        errno = 0;
    }
    if (ret == 0 && errno != 0)
        ret = error_errno(w->err, "read directory `%s/%s`", w->what, prefix);
    closedir(dir);
    if (ret == 0 && !have_opaque && fmt_whiteout_dir_is_opaque(dfd)) {
        struct dent *d = &v[n++];
        memset(d, 0, sizeof *d);
        d->name = xstrdup(FMT_WHITEOUT_OPAQUE);
        d->kind = DENT_WHITEOUT;
        if (fstat(dfd, &d->st) < 0)
            ret = error_errno(w->err, "stat `%s/%s`", w->what, prefix);
    }
    if (ret == 0) {
        qsort(v, n, sizeof *v, dent_cmp);
        for (size_t i = 0; i < n && ret == 0; i++)
            ret = emit(w, dfd, prefix, &v[i]);
    }
    dents_free(v, n);
    for (size_t i = 0; i < n_pool; i++)
        free(pool[i]);
    free(pool);
    return ret;
}

static int emit_root(struct walker *w, int dfd)
{
    struct stat st;
    if (fstat(dfd, &st) < 0)
        return error_errno(w->err, "stat `%s`", w->what);
    if (w->o->override_stat) {
        struct fmt_override_stat ov;
        int r = fmt_override_stat_get(dfd, &ov, w->err);
        if (r < 0)
            return error_prefix(w->err, "`%s`", w->what);
        if (r > 0)
            fmt_override_stat_apply(&ov, &st);
        st.st_mode = S_IFDIR | (st.st_mode & 07777);
    }
    archive_entry_clear(w->e);
    archive_entry_set_pathname(w->e, "./");
    archive_entry_set_uid(w->e, st.st_uid);
    archive_entry_set_gid(w->e, st.st_gid);
    archive_entry_set_mode(w->e, st.st_mode);
    archive_entry_set_mtime(w->e, clamp_mtime(w, &st), 0);
    if (add_xattrs(w, dfd, ".") < 0)
        return -1;
    if (!header_ok(archive_write_header(w->a, w->e)))
        return archive_fail(w, "./");
    return 0;
}

static struct archive *tar_writer(struct out_chain *chain, struct error *err)
{
    struct archive *a = archive_write_new();
    if (!a) {
        error_set(err, ENOMEM, "libarchive: cannot create a writer");
        return NULL;
    }
    /* restricted pax: plain ustar headers unless an entry needs more (long
     * names, big ids, xattrs), as Go's archive/tar (docker, buildkit) does */
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
        error_set(err, EIO, "libarchive: %s", archive_error_string(a));
        archive_write_free(a);
        return NULL;
    }
    /* xattrs as SCHILY.xattr.* only (GNU tar, Go, docker), not twice */
    archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY");
    if (archive_write_open2(a, chain, NULL, archive_out, NULL, NULL) != ARCHIVE_OK) {
        error_set(err, EIO, "libarchive: %s", archive_error_string(a));
        archive_write_free(a);
        return NULL;
    }
    return a;
}

int fmt_layer_write_tree(int dirfd, const char *what, const struct fmt_layer_write_opts *o,
                         fmt_sink_fn sink, void *sink_ctx, struct fmt_layer_info *info,
                         struct error *err)
{
    struct out_chain chain;
    struct walker w = {.o = o, .what = what, .chain = &chain, .err = err};
    int ret = -1;
    cleanup_close int root = -1;
    if (chain_open(&chain, o, sink, sink_ctx, err) < 0)
        goto out;
    root = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        error_errno(err, "open `%s`", what);
        goto out;
    }
    w.a = tar_writer(&chain, err);
    if (!w.a)
        goto out;
    w.e = archive_entry_new();
    w.buf = xmalloc(COPY_BUF);
    if (o->include_root && emit_root(&w, root) < 0)
        goto out;
    if (walk_dir(&w, root, "") < 0)
        goto out;
    if (archive_write_close(w.a) != ARCHIVE_OK) {
        archive_fail(&w, "(end of archive)");
        goto out;
    }
    if (chain_finish(&chain, o, info) < 0)
        goto out;
    ret = 0;
out:
    if (w.e)
        archive_entry_free(w.e);
    if (w.a)
        archive_write_free(w.a);
    free(w.buf);
    link_map_free(&w.links);
    chain_close(&chain);
    if (ret < 0 && strncmp(err->msg, "layer from", 10))
        error_prefix(err, "layer from `%s`", what);
    return ret;
}

static int blob_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
    return fmt_blob_writer_write(ctx, buf, len, err);
}

typedef int (*layer_producer)(void *arg, fmt_sink_fn sink, void *sink_ctx,
                              struct fmt_layer_info *info, struct error *err);

static int to_blob(struct fmt_store *s, layer_producer produce, void *arg,
                   struct fmt_layer_info *info, struct error *err)
{
    struct fmt_blob_writer *bw;
    if (fmt_blob_writer_new(s, &bw, err) < 0)
        return -1;
    if (produce(arg, blob_sink, bw, info, err) < 0) {
        fmt_blob_writer_abort(bw);
        return -1;
    }
    int64_t size;
    return fmt_blob_writer_commit(bw, info->digest, NULL, &size, err);
}

struct tree_args {
    int dirfd;
    const char *what;
    const struct fmt_layer_write_opts *o;
};

static int produce_tree(void *arg, fmt_sink_fn sink, void *sink_ctx,
                        struct fmt_layer_info *info, struct error *err)
{
    struct tree_args *t = arg;
    return fmt_layer_write_tree(t->dirfd, t->what, t->o, sink, sink_ctx, info, err);
}

int fmt_layer_write_tree_blob(struct fmt_store *s, int dirfd, const char *what,
                              const struct fmt_layer_write_opts *o,
                              struct fmt_layer_info *info, struct error *err)
{
    struct tree_args t = {dirfd, what, o};
    return to_blob(s, produce_tree, &t, info, err);
}

/* ---- recompress: tar in → layer out, parsed on the way -------------------- */

struct rc {
    struct fmt_decompressor *d;
    struct out_chain *chain;
    struct error *err;
    bool failed;
    unsigned char buf[128 * 1024];
};

static ssize_t rc_pull(struct rc *r)
{
    ssize_t n = fmt_decompressor_read(r->d, r->buf, sizeof r->buf, r->err);
    if (n < 0) {
        r->failed = true;
        return -1;
    }
    if (n > 0 && chain_write(r->chain, r->buf, (size_t)n) < 0) {
        r->failed = true;
        return -1;
    }
    return n;
}

static la_ssize_t rc_read(struct archive *a, void *ctx, const void **buf)
{
    struct rc *r = ctx;
    ssize_t n = rc_pull(r);
    if (n < 0) {
        archive_set_error(a, EIO, "%s", r->err->msg);
        return -1;
    }
    *buf = r->buf;
    return n;
}

struct rc_args {
    fmt_source_fn source;
    void *source_ctx;
    const char *what;
    const struct fmt_layer_write_opts *o;
};

static int check_entry(struct archive_entry *e, struct error *err)
{
    cleanup_free char *clean = NULL;
    if (fmt_layer_path_clean(archive_entry_pathname(e), &clean, err) < 0)
        return -1;
    const char *link = archive_entry_hardlink(e);
    if (link) {
        cleanup_free char *lclean = NULL;
        if (fmt_layer_path_clean(link, &lclean, err) < 0)
            return error_prefix(err, "hard link `%s`", archive_entry_pathname(e));
    }
    return 0;
}

static int produce_recompress(void *arg, fmt_sink_fn sink, void *sink_ctx,
                              struct fmt_layer_info *info, struct error *err)
{
    struct rc_args *ra = arg;
    struct out_chain chain;
    struct rc *r = xzalloc(sizeof *r);
    struct archive *a = NULL;
    cleanup_free char *last = NULL;
    int ret = -1;
    r->chain = &chain;
    r->err = err;
    if (chain_open(&chain, ra->o, sink, sink_ctx, err) < 0)
        goto out;
    if (fmt_decompressor_new(ra->source, ra->source_ctx, ra->what, &r->d, err) < 0)
        goto out;
    a = archive_read_new();
    archive_read_support_format_tar(a);
    if (archive_read_open(a, r, NULL, rc_read, NULL) != ARCHIVE_OK) {
        if (!r->failed)
            error_set(err, EINVAL, "`%s` is not a tar archive: %s", ra->what,
                      archive_error_string(a));
        goto out;
    }
    struct archive_entry *e;
    for (;;) {
        int st = archive_read_next_header(a, &e);
        if (st == ARCHIVE_EOF)
            break;
        if (st != ARCHIVE_OK && st != ARCHIVE_WARN) {
            if (!r->failed) {
                if (last)
                    error_set(err, EINVAL, "`%s`: bad tar header after entry `%s`: %s",
                              ra->what, last, archive_error_string(a));
                else
                    error_set(err, EINVAL, "`%s` is not a tar archive: %s", ra->what,
                              archive_error_string(a));
            }
            goto out;
        }
        if (check_entry(e, err) < 0) {
            error_prefix(err, "`%s`", ra->what);
            goto out;
        }
        free(last);
        last = xstrdup(archive_entry_pathname(e));
        if (archive_read_data_skip(a) != ARCHIVE_OK) {
            if (!r->failed)
                error_set(err, EIO, "`%s`: entry `%s`: %s", ra->what, last,
                          archive_error_string(a));
            goto out;
        }
    }
    /* the tar's tail (end blocks, padding) belongs to the diff_id too */
    ssize_t n;
    while ((n = rc_pull(r)) > 0)
        ;
    if (n < 0)
        goto out;
    if (chain_finish(&chain, ra->o, info) < 0)
        goto out;
    ret = 0;
out:
    if (a)
        archive_read_free(a);
    fmt_decompressor_free(r->d);
    free(r);
    chain_close(&chain);
    return ret;
}

int fmt_layer_recompress(fmt_source_fn source, void *source_ctx, const char *what,
                         const struct fmt_layer_write_opts *o, fmt_sink_fn sink,
                         void *sink_ctx, struct fmt_layer_info *info, struct error *err)
{
    struct rc_args ra = {source, source_ctx, what, o};
    return produce_recompress(&ra, sink, sink_ctx, info, err);
}

int fmt_layer_recompress_blob(struct fmt_store *s, fmt_source_fn source, void *source_ctx,
                              const char *what, const struct fmt_layer_write_opts *o,
                              struct fmt_layer_info *info, struct error *err)
{
    struct rc_args ra = {source, source_ctx, what, o};
    return to_blob(s, produce_recompress, &ra, info, err);
}
