#include "format/image.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/config.h"
#include "format/index.h"
#include "format/ref.h"

void fmt_image_free(struct fmt_image *img)
{
    if (!img)
        return;
    free(img->ref);
    free(img->manifest_raw);
    fmt_manifest_clear(&img->manifest);
    free(img->config_raw);
    json_decref(img->config);
    free(img);
}

int64_t fmt_image_size(const struct fmt_image *img)
{
    int64_t n = img->manifest_size + img->manifest.config.size;
    for (size_t i = 0; i < img->manifest.n_layers; i++)
        n += img->manifest.layers[i].size;
    return n;
}

/* From an image index, the descriptor of the manifest for this host. */
static int pick_platform(const char *data, size_t len, const char *what,
                         struct fmt_descriptor *out, struct error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root)
        return error_set(err, EINVAL, "image index `%s` is not valid JSON: %s", what, jerr.text);
    json_t *m = json_object_get(root, "manifests");
    json_t *pick = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e)
    {
        json_t *p = json_object_get(e, "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *arch = json_string_value(json_object_get(p, "architecture"));
        if (!fmt_media_type_is_manifest(json_string_value(json_object_get(e, "mediaType"))))
            continue;
        if (!pick)
            pick = e;
        if (os && arch && !strcmp(os, "linux") && !strcmp(arch, fmt_config_host_arch())) {
            pick = e;
            break;
        }
    }
    int ret;
    if (!pick)
        ret = error_set(err, ENOENT, "image index `%s` lists no image manifest", what);
    else
        ret = fmt_descriptor_from_json(pick, what, out, err);
    json_decref(root);
    return ret;
}

static void fill_layer_info(struct fmt_image *img)
{
    for (size_t i = 0; i < img->manifest.n_layers; i++) {
        struct fmt_descriptor *l = &img->manifest.layers[i];
        const char *d = fmt_config_diff_id(img->config, i);
        if (d && !l->diff_id)
            l->diff_id = xstrdup(d);
        const char *u = json_string_value(
            json_object_get(l->annotations, FMT_ANNOTATION_UNCOMPRESSED_SIZE));
        if (u)
            l->uncompressed_size = strtoll(u, NULL, 10);
        else if (fmt_layer_media_type_compression(l->media_type) == FMT_COMPRESSION_NONE)
            l->uncompressed_size = l->size;
    }
}

int fmt_image_from_descriptor(struct fmt_store *s, const struct fmt_descriptor *desc,
                              struct fmt_image **out, struct error *err)
{
    struct fmt_descriptor picked = {0};
    const struct fmt_descriptor *d = desc;
    cleanup_free char *data = NULL;
    size_t len = 0;
    if (fmt_blob_get(s, d->digest, &data, &len, err) < 0)
        return -1;
    if (fmt_media_type_is_index(d->media_type)) {
        if (pick_platform(data, len, d->digest, &picked, err) < 0)
            return -1;
        free(data);
        data = NULL;
        d = &picked;
        if (fmt_blob_get(s, d->digest, &data, &len, err) < 0) {
            fmt_descriptor_clear(&picked);
            return -1;
        }
    }
    struct fmt_image *img = xzalloc(sizeof *img);
    snprintf(img->digest, sizeof img->digest, "%s", d->digest);
    img->manifest_size = (int64_t)len;
    int ret = fmt_manifest_parse(data, len, d->media_type, &img->manifest, err);
    fmt_descriptor_clear(&picked);
    if (ret < 0) {
        error_prefix(err, "manifest `%s`", img->digest);
        fmt_image_free(img);
        return -1;
    }
    img->manifest_raw = TAKE_PTR(data);
    snprintf(img->id, sizeof img->id, "%s", img->manifest.config.digest);
    size_t clen;
    if (fmt_blob_get(s, img->id, &img->config_raw, &clen, err) < 0 ||
        fmt_config_parse(img->config_raw, clen, &img->config, err) < 0) {
        error_prefix(err, "image `%s`", img->digest);
        fmt_image_free(img);
        return -1;
    }
    if (fmt_config_diff_id_count(img->config) != img->manifest.n_layers) {
        error_set(err, EINVAL, "image `%s`: config lists %zu diff_ids for %zu layers",
                  img->digest, fmt_config_diff_id_count(img->config), img->manifest.n_layers);
        fmt_image_free(img);
        return -1;
    }
    fill_layer_info(img);
    *out = img;
    return 0;
}

static bool is_hex(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* Does name (hex prefix, possibly "sha256:"-prefixed) match this digest? */
static bool prefix_matches(const char *name, const char *digest)
{
    const char *hex = !strncmp(name, "sha256:", 7) ? name + 7 : name;
    return is_hex(hex) && !strncmp(fmt_digest_hex(digest), hex, strlen(hex));
}

int fmt_image_resolve(struct fmt_store *s, const char *name, struct fmt_image **out,
                      struct error *err)
{
    struct fmt_index idx;
    if (fmt_index_load(s, &idx, err) < 0)
        return -1;
    int ret = -1;
    struct fmt_image *found = NULL;

    const struct fmt_index_entry *e = fmt_index_find(&idx, name);
    if (e) {
        ret = fmt_image_from_descriptor(s, &e->desc, &found, err);
        if (ret == 0)
            found->ref = xstrdup(e->ref);
        goto out;
    }
    /* NAME@sha256:... names the manifest by digest */
    struct fmt_ref ref;
    struct error ignored;
    const char *by_digest = NULL;
    if (fmt_ref_parse(name, &ref, &ignored) == 0) {
        if (ref.digest)
            by_digest = strchr(name, '@') + 1;
        fmt_ref_clear(&ref);
    }
    const char *hex = !strncmp(name, "sha256:", 7) ? name + 7 : name;
    if (by_digest || (is_hex(hex) && strlen(hex) >= 3)) {
        for (size_t i = 0; i < idx.n; i++) {
            struct fmt_image *img = NULL;
            if (fmt_image_from_descriptor(s, &idx.entries[i].desc, &img, &ignored) < 0)
                continue; /* a broken image is fsck's to report, not a match */
            bool match = by_digest ? !strcmp(img->digest, by_digest)
                                   : prefix_matches(name, img->id) ||
                                         prefix_matches(name, img->digest) ||
                                         prefix_matches(name, idx.entries[i].desc.digest);
            if (!match) {
                fmt_image_free(img);
                continue;
            }
            if (found && strcmp(found->digest, img->digest) != 0) {
                fmt_image_free(img);
                error_set(err, EINVAL, "image id `%s` is ambiguous: give more digits", name);
                goto out;
            }
            if (!found) {
                found = img;
                if (idx.entries[i].ref)
                    found->ref = xstrdup(idx.entries[i].ref);
            } else {
                fmt_image_free(img);
            }
        }
        if (found) {
            ret = 0;
            goto out;
        }
    }
    error_set(err, ENOENT, "image `%s` not found", name);
out:
    fmt_index_clear(&idx);
    if (ret == 0)
        *out = TAKE_PTR(found);
    fmt_image_free(found);
    return ret;
}

int fmt_image_commit(struct fmt_store *s, json_t *config, const struct fmt_descriptor *layers,
                     size_t n_layers, const char *ref, char manifest_digest[FMT_DIGEST_MAX],
                     struct error *err)
{
    if (ref) {
        cleanup_free char *norm = fmt_ref_normalize(ref, err);
        if (!norm)
            return -1;
    }
    if (fmt_config_set_diff_ids(config, layers, n_layers, err) < 0)
        return -1;
    char *cfg = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
    if (!cfg)
        abort(); /* jansson only fails on allocation */
    struct fmt_descriptor cdesc = {.media_type = FMT_MT_CONFIG, .size = (int64_t)strlen(cfg)};
    int ret = fmt_blob_put(s, cfg, strlen(cfg), cdesc.digest, err);
    free(cfg);
    if (ret < 0)
        return error_prefix(err, "write image config");
    return fmt_image_commit_manifest(s, &cdesc, layers, n_layers, ref, manifest_digest, err);
}

int fmt_image_commit_manifest(struct fmt_store *s, const struct fmt_descriptor *config,
                              const struct fmt_descriptor *layers, size_t n_layers,
                              const char *ref, char manifest_digest[FMT_DIGEST_MAX],
                              struct error *err)
{
    if (ref) {
        cleanup_free char *norm = fmt_ref_normalize(ref, err);
        if (!norm)
            return -1;
    }
    if (!fmt_blob_exists(s, config->digest))
        return error_set(err, ENOENT, "config blob `%s` is not in the store", config->digest);
    for (size_t i = 0; i < n_layers; i++)
        if (!fmt_blob_exists(s, layers[i].digest))
            return error_set(err, ENOENT, "layer blob `%s` is not in the store",
                             layers[i].digest);

    /* Layer descriptors as written: record the uncompressed size we know. */
    struct fmt_descriptor *ls = xcalloc(n_layers + 1, sizeof *ls);
    for (size_t i = 0; i < n_layers; i++) {
        fmt_descriptor_copy(&ls[i], &layers[i]);
        if (layers[i].uncompressed_size >= 0 &&
            fmt_layer_media_type_compression(layers[i].media_type) != FMT_COMPRESSION_NONE) {
            if (!ls[i].annotations)
                ls[i].annotations = json_object();
            char num[32];
            snprintf(num, sizeof num, "%" PRId64, layers[i].uncompressed_size);
            json_object_set_new(ls[i].annotations, FMT_ANNOTATION_UNCOMPRESSED_SIZE,
                                json_string(num));
        }
    }
    char *man = fmt_manifest_build(config, ls, n_layers, NULL);
    for (size_t i = 0; i < n_layers; i++)
        fmt_descriptor_clear(&ls[i]);
    free(ls);
    struct fmt_descriptor mdesc = {.media_type = FMT_MT_MANIFEST, .size = (int64_t)strlen(man)};
    int ret = fmt_blob_put(s, man, strlen(man), mdesc.digest, err);
    free(man);
    if (ret < 0)
        return error_prefix(err, "write image manifest");
    if (fmt_index_add(s, ref, &mdesc, err) < 0)
        return error_prefix(err, "tag `%s`", ref ? ref : mdesc.digest);
    if (manifest_digest)
        memcpy(manifest_digest, mdesc.digest, FMT_DIGEST_MAX);
    return 0;
}
