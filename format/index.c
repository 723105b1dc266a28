#include "format/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/ref.h"

static int read_index(struct fmt_store *s, json_t **out, struct error *err)
{
    cleanup_free char *data = NULL;
    size_t len = 0;
    if (read_file_at(s->root_fd, "index.json", &data, &len, err) < 0)
        return error_prefix(err, "store `%s`", s->root);
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root)
        return error_set(err, EINVAL, "`%s/index.json` is not valid JSON: %s (line %d)",
                         s->root, jerr.text, jerr.line);
    json_t *m = json_object_get(root, "manifests");
    if (!json_is_object(root) || (m && !json_is_array(m))) {
        json_decref(root);
        return error_set(err, EINVAL, "`%s/index.json` is not an OCI image index", s->root);
    }
    if (!m)
        json_object_set_new(root, "manifests", json_array());
    *out = root;
    return 0;
}

/* The normalised ref of an entry, NULL if untagged or unparsable (a ref
 * another tool wrote that strata cannot name is kept but never matched). */
static char *entry_ref(json_t *entry)
{
    const char *name = json_string_value(
        json_object_get(json_object_get(entry, "annotations"), FMT_ANNOTATION_REF_NAME));
    if (!name)
        return NULL;
    struct error ignored;
    return fmt_ref_normalize(name, &ignored);
}

int fmt_index_load(struct fmt_store *s, struct fmt_index *idx, struct error *err)
{
    memset(idx, 0, sizeof *idx);
    json_t *root;
    if (read_index(s, &root, err) < 0)
        return -1;
    json_t *m = json_object_get(root, "manifests");
    idx->entries = xcalloc(json_array_size(m) + 1, sizeof *idx->entries);
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e)
    {
        struct fmt_index_entry *ie = &idx->entries[idx->n];
        char what[64];
        snprintf(what, sizeof what, "index.json entry %zu", i);
        if (fmt_descriptor_from_json(e, what, &ie->desc, err) < 0) {
            json_decref(root);
            fmt_index_clear(idx);
            return error_prefix(err, "store `%s`", s->root);
        }
        ie->ref = entry_ref(e);
        idx->n++;
    }
    json_decref(root);
    return 0;
}

void fmt_index_clear(struct fmt_index *idx)
{
    for (size_t i = 0; i < idx->n; i++) {
        free(idx->entries[i].ref);
        fmt_descriptor_clear(&idx->entries[i].desc);
    }
    free(idx->entries);
    memset(idx, 0, sizeof *idx);
}

const struct fmt_index_entry *fmt_index_find(const struct fmt_index *idx, const char *ref)
{
    struct error ignored;
    cleanup_free char *norm = fmt_ref_normalize(ref, &ignored);
    if (!norm)
        return NULL;
    for (size_t i = 0; i < idx->n; i++)
        if (idx->entries[i].ref && !strcmp(idx->entries[i].ref, norm))
            return &idx->entries[i];
    return NULL;
}

int fmt_index_edit(struct fmt_store *s, fmt_index_edit_fn fn, void *ctx, struct error *err)
{
    /* The lock protects the read-modify-write of index.json. */
    cleanup_close int lock = lock_file_at(s->root_fd, FMT_STORE_INDEX_LOCK, true, err);
    if (lock < 0)
        return error_prefix(err, "store `%s`", s->root);
    json_t *root;
    if (read_index(s, &root, err) < 0)
        return -1;
    int ret = fn(json_object_get(root, "manifests"), ctx, err);
    if (ret >= 0) {
        if (!json_object_get(root, "schemaVersion"))
            json_object_set_new(root, "schemaVersion", json_integer(2));
        char *data = json_dumps(root, JSON_INDENT(2));
        if (!data)
            abort(); /* jansson only fails on allocation */
        size_t len = strlen(data);
        data = xrealloc(data, len + 2);
        data[len++] = '\n';
        if (atomic_write_at(s->root_fd, "index.json", data, len, 0644, err) < 0)
            ret = error_prefix(err, "store `%s`", s->root);
        free(data);
    }
    json_decref(root);
    return ret;
}

struct add_ctx {
    const char *ref;
    const struct fmt_descriptor *desc;
};

static void drop_ref_annotation(json_t *entry)
{
    json_t *ann = json_object_get(entry, "annotations");
    json_object_del(ann, FMT_ANNOTATION_REF_NAME);
    /* a docker-style companion annotation would name the old image too */
    json_object_del(ann, "io.containerd.image.name");
    if (ann && json_object_size(ann) == 0)
        json_object_del(entry, "annotations");
}

static bool entry_has_digest(json_t *entry, const char *digest)
{
    const char *d = json_string_value(json_object_get(entry, "digest"));
    return d && !strcmp(d, digest);
}

/* Removes untagged entries for digest: a tagged one now keeps the image
 * from prune. */
static void drop_untagged(json_t *manifests, const char *digest)
{
    for (size_t i = 0; i < json_array_size(manifests);) {
        json_t *e = json_array_get(manifests, i);
        bool untagged = !json_string_value(json_object_get(
            json_object_get(e, "annotations"), FMT_ANNOTATION_REF_NAME));
        if (untagged && entry_has_digest(e, digest)) {
            json_array_remove(manifests, i);
            continue;
        }
        i++;
    }
}

static int add_fn(json_t *manifests, void *vctx, struct error *err)
{
    struct add_ctx *c = vctx;
    if (!c->ref) {
        for (size_t i = 0; i < json_array_size(manifests); i++)
            if (entry_has_digest(json_array_get(manifests, i), c->desc->digest))
                return 0; /* already kept by some entry */
        json_array_append_new(manifests, fmt_descriptor_to_json(c->desc));
        return 0;
    }
    /* Untag whatever holds the ref now; drop the entry if nothing else is on it. */
    for (size_t i = 0; i < json_array_size(manifests);) {
        json_t *e = json_array_get(manifests, i);
        cleanup_free char *r = entry_ref(e);
        if (r && !strcmp(r, c->ref)) {
            json_array_remove(manifests, i);
            continue;
        }
        i++;
    }
    drop_untagged(manifests, c->desc->digest);
    json_t *e = fmt_descriptor_to_json(c->desc);
    drop_ref_annotation(e);
    json_t *ann = json_object_get(e, "annotations");
    if (!ann) {
        ann = json_object();
        json_object_set_new(e, "annotations", ann);
    }
    json_object_set_new(ann, FMT_ANNOTATION_REF_NAME, json_string(c->ref));
    json_array_append_new(manifests, e);
    (void)err;
    return 0;
}

int fmt_index_add(struct fmt_store *s, const char *ref, const struct fmt_descriptor *desc,
                  struct error *err)
{
    cleanup_free char *norm = NULL;
    if (ref && !(norm = fmt_ref_normalize(ref, err)))
        return -1;
    if (!fmt_digest_is_valid(desc->digest))
        return error_set(err, EINVAL, "invalid manifest digest `%s`", desc->digest);
    struct add_ctx c = {.ref = norm, .desc = desc};
    return fmt_index_edit(s, add_fn, &c, err);
}

struct remove_ctx {
    const char *ref;
    const char *digest;
    int removed;
};

static int remove_ref_fn(json_t *manifests, void *vctx, struct error *err)
{
    struct remove_ctx *c = vctx;
    for (size_t i = 0; i < json_array_size(manifests);) {
        json_t *e = json_array_get(manifests, i);
        cleanup_free char *r = entry_ref(e);
        if (r && !strcmp(r, c->ref)) {
            json_array_remove(manifests, i);
            c->removed++;
            continue;
        }
        i++;
    }
    if (!c->removed)
        return error_set(err, ENOENT, "no image is tagged `%s`", c->ref);
    return 0;
}

int fmt_index_remove_ref(struct fmt_store *s, const char *ref, struct error *err)
{
    cleanup_free char *norm = fmt_ref_normalize(ref, err);
    if (!norm)
        return -1;
    struct remove_ctx c = {.ref = norm};
    return fmt_index_edit(s, remove_ref_fn, &c, err);
}

static int remove_digest_fn(json_t *manifests, void *vctx, struct error *err)
{
    struct remove_ctx *c = vctx;
    for (size_t i = 0; i < json_array_size(manifests);) {
        if (entry_has_digest(json_array_get(manifests, i), c->digest)) {
            json_array_remove(manifests, i);
            c->removed++;
            continue;
        }
        i++;
    }
    (void)err;
    return 0;
}

int fmt_index_remove_digest(struct fmt_store *s, const char *digest, struct error *err)
{
    struct remove_ctx c = {.digest = digest};
    if (fmt_index_edit(s, remove_digest_fn, &c, err) < 0)
        return -1;
    return c.removed;
}
