#include "format/gc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/config.h"
#include "format/index.h"
#include "format/layer_cache.h"
#include "format/manifest.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void fmt_digest_set_add(struct fmt_digest_set *set, const char *digest)
{
    if (fmt_digest_set_has(set, digest))
        return;
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 64;
        set->items = xrealloc(set->items, set->cap * sizeof *set->items);
    }
    set->items[set->n++] = xstrdup(digest);
    set->sorted = false;
}

bool fmt_digest_set_has(struct fmt_digest_set *set, const char *digest)
{
    if (!set->n)
        return false;
    if (!set->sorted) {
        qsort(set->items, set->n, sizeof *set->items, cmp_str);
        set->sorted = true;
    }
    return bsearch(&digest, set->items, set->n, sizeof *set->items, cmp_str) != NULL;
}

void fmt_digest_set_clear(struct fmt_digest_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}

struct marker {
    struct fmt_store *s;
    struct fmt_digest_set *blobs, *diff_ids;
    fmt_gc_problem_fn problem;
    void *ctx;
};

static void report(struct marker *m, const char *digest, const char *what)
{
    if (m->problem)
        m->problem(m->ctx, digest, what);
}

/* Reads a blob for the walk; a failure is reported, not fatal. */
static json_t *load_json_blob(struct marker *m, const char *digest)
{
    cleanup_free char *data = NULL;
    size_t len;
    struct error e;
    if (fmt_blob_get(m->s, digest, &data, &len, &e) < 0) {
        report(m, digest, e.msg);
        return NULL;
    }
    json_t *j = json_loadb(data, len, 0, NULL);
    if (!j)
        report(m, digest, "not valid JSON");
    return j;
}

static void mark_leaf(struct marker *m, const char *digest)
{
    fmt_digest_set_add(m->blobs, digest);
    if (!fmt_blob_exists(m->s, digest))
        report(m, digest, "missing from the store");
}

static void mark_manifest_or_index(struct marker *m, const char *digest, int depth)
{
    if (!fmt_digest_is_valid(digest) || depth > 8)
        return;
    bool seen = fmt_digest_set_has(m->blobs, digest);
    fmt_digest_set_add(m->blobs, digest);
    if (seen)
        return;
    json_t *j = load_json_blob(m, digest);
    if (!j)
        return;
    json_t *children = json_object_get(j, "manifests");
    size_t i;
    json_t *e;
    json_array_foreach(children, i, e)
    {
        mark_manifest_or_index(m, json_string_value(json_object_get(e, "digest")), depth + 1);
    }
    const char *cfg = json_string_value(json_object_get(json_object_get(j, "config"), "digest"));
    if (fmt_digest_is_valid(cfg)) {
        mark_leaf(m, cfg);
        json_t *c = fmt_blob_exists(m->s, cfg) ? load_json_blob(m, cfg) : NULL;
        json_t *ids = json_object_get(json_object_get(c, "rootfs"), "diff_ids");
        json_array_foreach(ids, i, e)
        {
            if (m->diff_ids && fmt_digest_is_valid(json_string_value(e)))
                fmt_digest_set_add(m->diff_ids, json_string_value(e));
        }
        json_decref(c);
    }
    json_array_foreach(json_object_get(j, "layers"), i, e)
    {
        const char *d = json_string_value(json_object_get(e, "digest"));
        if (fmt_digest_is_valid(d))
            mark_leaf(m, d);
    }
    json_decref(j);
}

int fmt_gc_each_container_image(struct fmt_store *s, fmt_container_image_fn fn, void *arg,
                                struct error *err)
{
    int fd = openat(s->root_fd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return error_errno(err, "open `%s/containers`", s->root);
    }
    cleanup_dir DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return error_errno(err, "open `%s/containers`", s->root);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        cleanup_free char *path = xasprintf("%s/image", de->d_name);
        cleanup_free char *data = NULL;
        struct error e;
        if (read_file_at(dirfd(d), path, &data, NULL, &e) < 0)
            continue; /* a container still being created, or not one of ours */
        data[strcspn(data, " \t\r\n")] = '\0';
        int rc = fn(de->d_name, data, arg);
        if (rc)
            return rc;
    }
    return 0;
}

static int mark_container(const char *id, const char *digest, void *arg)
{
    (void)id;
    mark_manifest_or_index(arg, digest, 0);
    return 0;
}

int fmt_gc_mark(struct fmt_store *s, struct fmt_digest_set *blobs,
                struct fmt_digest_set *diff_ids, fmt_gc_problem_fn problem, void *ctx,
                struct error *err)
{
    struct marker m = {s, blobs, diff_ids, problem, ctx};
    struct fmt_index idx;
    if (fmt_index_load(s, &idx, err) < 0)
        return -1;
    for (size_t i = 0; i < idx.n; i++)
        mark_manifest_or_index(&m, idx.entries[i].desc.digest, 0);
    fmt_index_clear(&idx);
    return fmt_gc_each_container_image(s, mark_container, &m, err);
}

static bool is_hex64(const char *name)
{
    size_t i;
    for (i = 0; name[i]; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return i == 64;
}

static DIR *open_dir(struct fmt_store *s, const char *path, struct error *err)
{
    int fd = openat(s->root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            error_errno(err, "open `%s/%s`", s->root, path);
        return NULL;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        error_errno(err, "open `%s/%s`", s->root, path);
        close(fd);
    }
    return d;
}

static int sweep(struct fmt_store *s, struct fmt_digest_set *blobs,
                 struct fmt_digest_set *diff_ids, struct fmt_prune_stats *st,
                 void (*removed)(void *ctx, const char *kind, const char *name), void *ctx,
                 struct error *err)
{
    error_clear(err);
    cleanup_dir DIR *d = open_dir(s, "blobs/sha256", err);
    if (!d)
        return err->msg[0] ? -1 : 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char digest[FMT_DIGEST_MAX];
        if (!strncmp(de->d_name, ".upload", 7)) {
            /* no writer holds the gc lock, so this temp file is stale */
            if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                st->temps_removed++;
            continue;
        }
        if (!is_hex64(de->d_name))
            continue;
        snprintf(digest, sizeof digest, "sha256:%.64s", de->d_name);
        if (fmt_digest_set_has(blobs, digest))
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) < 0)
            return error_errno(err, "remove blob `%s`", digest);
        st->blobs_removed++;
        st->bytes_removed += sb.st_size;
        if (removed)
            removed(ctx, "blob", digest);
    }

    cleanup_dir DIR *ld = open_dir(s, "layers", err);
    if (!ld)
        return err->msg[0] ? -1 : 0;
    while ((de = readdir(ld))) {
        char digest[FMT_DIGEST_MAX];
        if (!is_hex64(de->d_name))
            continue; /* in-progress unpacks and anything not ours */
        snprintf(digest, sizeof digest, "sha256:%.64s", de->d_name);
        if (fmt_digest_set_has(diff_ids, digest))
            continue;
        if (fmt_layer_cache_remove(s, digest, err) < 0)
            return -1;
        st->layers_removed++;
        if (removed)
            removed(ctx, "layer", digest);
    }
    return 0;
}

int fmt_prune(struct fmt_store *s, struct fmt_prune_stats *stats,
              void (*removed)(void *ctx, const char *kind, const char *name), void *ctx,
              struct error *err)
{
    struct fmt_prune_stats st = {0};
    if (s->gc_lock_fd >= 0)
        return error_set(err, EBUSY, "prune: this store handle has written blobs");
    /* Exclusive: every blob writer holds it shared until it closes the store. */
    cleanup_close int gc = lock_file_at(s->root_fd, FMT_STORE_GC_LOCK, true, err);
    if (gc < 0)
        return error_prefix(err, "store `%s`", s->root);
    /* No tag moves while we decide what is alive. */
    cleanup_close int il = lock_file_at(s->root_fd, FMT_STORE_INDEX_LOCK, true, err);
    if (il < 0)
        return error_prefix(err, "store `%s`", s->root);
    struct fmt_digest_set blobs = {0}, diff_ids = {0};
    int ret = fmt_gc_mark(s, &blobs, &diff_ids, NULL, NULL, err);
    if (ret == 0)
        ret = sweep(s, &blobs, &diff_ids, &st, removed, ctx, err);
    fmt_digest_set_clear(&blobs);
    fmt_digest_set_clear(&diff_ids);
    if (stats)
        *stats = st;
    return ret;
}

struct fsck_ctx {
    fmt_gc_problem_fn problem;
    void *ctx;
    struct fmt_digest_set reported;
    int count;
};

static void fsck_problem(void *vctx, const char *digest, const char *what)
{
    struct fsck_ctx *c = vctx;
    if (fmt_digest_set_has(&c->reported, digest))
        return;
    fmt_digest_set_add(&c->reported, digest);
    c->count++;
    c->problem(c->ctx, digest, what);
}

int fmt_fsck(struct fmt_store *s, size_t *blobs_checked, fmt_gc_problem_fn problem, void *ctx,
             struct error *err)
{
    struct fsck_ctx c = {.problem = problem, .ctx = ctx};
    size_t checked = 0;
    error_clear(err);
    DIR *d = open_dir(s, "blobs/sha256", err);
    if (!d)
        return err->msg[0] ? -1 : 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_hex64(de->d_name))
            continue;
        char digest[FMT_DIGEST_MAX];
        snprintf(digest, sizeof digest, "sha256:%.64s", de->d_name);
        struct error e;
        checked++;
        if (fmt_blob_verify(s, digest, &e) < 0)
            fsck_problem(&c, digest, e.msg);
    }
    closedir(d);
    /* then the references: a blob named by an image but absent */
    struct fmt_digest_set blobs = {0};
    int ret = fmt_gc_mark(s, &blobs, NULL, fsck_problem, &c, err);
    fmt_digest_set_clear(&blobs);
    fmt_digest_set_clear(&c.reported);
    if (blobs_checked)
        *blobs_checked = checked;
    return ret < 0 ? -1 : c.count;
}
