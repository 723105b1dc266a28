#include "builder/cache.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/blob.h"

void bld_cache_key(const char *parent, const char *text, const char *extra,
                   char out[FMT_DIGEST_MAX])
{
    struct fmt_digester *d = fmt_digester_new();
    fmt_digester_update(d, "strata-build-cache-v1\n", 22);
    fmt_digester_update(d, parent, strlen(parent));
    fmt_digester_update(d, "\n", 1);
    fmt_digester_update(d, text, strlen(text));
    fmt_digester_update(d, "\n", 1);
    if (extra)
        fmt_digester_update(d, extra, strlen(extra));
    fmt_digester_final(d, out);
    fmt_digester_free(d);
}

static char *entry_path(const char *key)
{
    return xasprintf("cache/%s.json", fmt_digest_hex(key));
}

void bld_cache_entry_clear(struct bld_cache_entry *e)
{
    fmt_descriptor_clear(&e->layer);
    e->has_layer = false;
}

int bld_cache_get(struct fmt_store *s, const char *key, struct bld_cache_entry *e,
                  struct error *err)
{
    memset(e, 0, sizeof *e);
    cleanup_free char *path = entry_path(key);
    cleanup_free char *data = NULL;
    size_t len;
    struct error e2 = {0};
    if (read_file_at(s->root_fd, path, &data, &len, &e2) < 0)
        return e2.code == ENOENT ? 0 : error_set(err, e2.code, "build cache: %s", e2.msg);
    json_t *j = json_loadb(data, len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return 0; /* a damaged entry is a miss, rewritten after the step runs */
    }
    json_t *layer = json_object_get(j, "layer");
    int rc = 1;
    if (json_is_object(layer)) {
        const char *diff_id = json_string_value(json_object_get(layer, "diff_id"));
        if (!diff_id || !fmt_digest_is_valid(diff_id) ||
            fmt_descriptor_from_json(layer, "cached layer", &e->layer, &e2) < 0) {
            rc = 0;
        } else {
            e->has_layer = true;
            e->layer.diff_id = xstrdup(diff_id);
            json_t *us = json_object_get(layer, "uncompressed_size");
            e->layer.uncompressed_size = json_is_integer(us) ? json_integer_value(us) : -1;
            if (!fmt_blob_exists(s, e->layer.digest))
                rc = 0; /* the blob was pruned: rebuild the step */
        }
    }
    json_decref(j);
    if (rc == 0)
        bld_cache_entry_clear(e);
    return rc;
}

int bld_cache_put(struct fmt_store *s, const char *key, const struct bld_cache_entry *e,
                  struct error *err)
{
    if (mkdir_p_at(s->root_fd, "cache", 0700, err) < 0)
        return -1;
    json_t *j = json_object();
    if (e->has_layer) {
        json_t *l = fmt_descriptor_to_json(&e->layer);
        json_object_set_new(l, "diff_id", json_string(e->layer.diff_id));
        json_object_set_new(l, "uncompressed_size", json_integer(e->layer.uncompressed_size));
        json_object_set_new(j, "layer", l);
    }
    cleanup_free char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    cleanup_free char *path = entry_path(key);
    if (atomic_write_at(s->root_fd, path, text, strlen(text), 0600, err) < 0)
        return error_prefix(err, "build cache");
    return 0;
}
