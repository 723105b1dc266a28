/* The layer index's JSON form and its on-disk cache. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/layer_index.h"

/* Bump when the meaning of a field changes: older caches are then rebuilt. */
#define INDEX_VERSION 1
#define CACHE_DIR "cache/layer-index"

json_t *fmt_layer_index_to_json(const struct fmt_layer_index *ix)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ix->n_entries; i++) {
        const struct fmt_layer_entry *e = &ix->entries[i];
        json_t *o = json_pack("{s:s, s:s}", "path", e->path, "type", fmt_entry_type_name(e->type));
        if (e->type != FMT_ENTRY_WHITEOUT && e->type != FMT_ENTRY_OPAQUE) {
            json_object_set_new(o, "mode", json_integer(e->mode));
            json_object_set_new(o, "uid", json_integer(e->uid));
            json_object_set_new(o, "gid", json_integer(e->gid));
            json_object_set_new(o, "mtime", json_integer(e->mtime));
        }
        if (e->type == FMT_ENTRY_FILE)
            json_object_set_new(o, "size", json_integer(e->size));
        if (e->link)
            json_object_set_new(o, "link", json_string(e->link));
        if (e->type == FMT_ENTRY_CHAR || e->type == FMT_ENTRY_BLOCK) {
            json_object_set_new(o, "devmajor", json_integer(e->devmajor));
            json_object_set_new(o, "devminor", json_integer(e->devminor));
        }
        if (e->digest[0])
            json_object_set_new(o, "digest", json_string(e->digest));
        json_array_append_new(arr, o);
    }
    return json_pack("{s:i, s:b, s:I, s:I, s:o}", "version", INDEX_VERSION, "digests",
                     ix->has_digests, "tar_size", (json_int_t)ix->tar_size, "file_bytes",
                     (json_int_t)ix->file_bytes, "entries", arr);
}

static int64_t int_or(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int fmt_layer_index_from_json(json_t *j, const char *what, struct fmt_layer_index *out,
                              struct error *err)
{
    json_t *entries = json_object_get(j, "entries");
    if (!json_is_object(j) || int_or(j, "version", 0) != INDEX_VERSION ||
        !json_is_array(entries))
        return error_set(err, EINVAL, "layer index %s: not a version %d index", what,
                         INDEX_VERSION);
    struct fmt_layer_index ix = {0};
    ix.has_digests = json_is_true(json_object_get(j, "digests"));
    ix.tar_size = int_or(j, "tar_size", 0);
    ix.file_bytes = int_or(j, "file_bytes", 0);
    size_t n = json_array_size(entries);
    ix.entries = xcalloc(n ? n : 1, sizeof *ix.entries);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(entries, i);
        const char *path = json_string_value(json_object_get(o, "path"));
        const char *type = json_string_value(json_object_get(o, "type"));
        int t = type ? fmt_entry_type_from_name(type) : -1;
        if (!path || t < 0) {
            fmt_layer_index_clear(&ix);
            return error_set(err, EINVAL, "layer index %s: entry %zu is malformed", what, i);
        }
        struct fmt_layer_entry *e = &ix.entries[ix.n_entries++];
        e->path = xstrdup(path);
        e->type = (enum fmt_entry_type)t;
        e->mode = (uint32_t)int_or(o, "mode", 0);
        e->uid = (uint32_t)int_or(o, "uid", 0);
        e->gid = (uint32_t)int_or(o, "gid", 0);
        e->mtime = int_or(o, "mtime", 0);
        e->size = int_or(o, "size", 0);
        e->devmajor = (uint32_t)int_or(o, "devmajor", 0);
        e->devminor = (uint32_t)int_or(o, "devminor", 0);
        const char *link = json_string_value(json_object_get(o, "link"));
        if (link)
            e->link = xstrdup(link);
        const char *digest = json_string_value(json_object_get(o, "digest"));
        if (digest && fmt_digest_is_valid(digest))
            snprintf(e->digest, sizeof e->digest, "%s", digest);
        else if (ix.has_digests && e->type == FMT_ENTRY_FILE) {
            fmt_layer_index_clear(&ix);
            return error_set(err, EINVAL, "layer index %s: `%s` lacks its digest", what, path);
        }
    }
    *out = ix;
    return 0;
}

static char *cache_path(const char *diff_id)
{
    return xasprintf(CACHE_DIR "/%s.json", fmt_digest_hex(diff_id));
}

int fmt_layer_index_cache_load(int root_fd, const char *diff_id, bool need_digests,
                               struct fmt_layer_index *out, struct error *err)
{
    if (!fmt_digest_is_valid(diff_id))
        return error_set(err, EINVAL, "diff_id `%s` is not a valid digest", diff_id);
    cleanup_free char *path = cache_path(diff_id);
    cleanup_free char *data = NULL;
    size_t len = 0;
    struct error rerr = {0};
    if (read_file_at(root_fd, path, &data, &len, &rerr) < 0) {
        if (rerr.code == ENOENT)
            return 0;
        *err = rerr;
        return -1;
    }
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    if (!j)
        return 0; /* a damaged cache entry is rebuilt, not fatal */
    struct fmt_layer_index ix;
    struct error perr = {0};
    int r = fmt_layer_index_from_json(j, path, &ix, &perr);
    json_decref(j);
    if (r < 0)
        return 0;
    if (need_digests && !ix.has_digests) {
        fmt_layer_index_clear(&ix);
        return 0;
    }
    *out = ix;
    return 1;
}

int fmt_layer_index_cache_store(int root_fd, const char *diff_id,
                                const struct fmt_layer_index *ix, struct error *err)
{
    if (!fmt_digest_is_valid(diff_id))
        return error_set(err, EINVAL, "diff_id `%s` is not a valid digest", diff_id);
    if (mkdir_p_at(root_fd, CACHE_DIR, 0700, err) < 0)
        return error_prefix(err, "layer index cache");
    cleanup_free char *path = cache_path(diff_id);
    json_t *j = fmt_layer_index_to_json(ix);
    cleanup_free char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        return error_set(err, ENOMEM, "serialise layer index `%s`", path);
    return atomic_write_at(root_fd, path, text, strlen(text), 0600, err);
}
