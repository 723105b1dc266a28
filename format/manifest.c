#include "format/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

void fmt_descriptor_clear(struct fmt_descriptor *d)
{
    if (!d)
        return;
    free(d->media_type);
    free(d->diff_id);
    json_decref(d->annotations);
    memset(d, 0, sizeof *d);
    d->uncompressed_size = -1;
}

void fmt_descriptor_copy(struct fmt_descriptor *dst, const struct fmt_descriptor *src)
{
    *dst = *src;
    dst->media_type = src->media_type ? xstrdup(src->media_type) : NULL;
    dst->diff_id = src->diff_id ? xstrdup(src->diff_id) : NULL;
    dst->annotations = src->annotations ? json_deep_copy(src->annotations) : NULL;
}

json_t *fmt_descriptor_to_json(const struct fmt_descriptor *d)
{
    json_t *j = json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest,
                          "size", (json_int_t)d->size);
    if (d->annotations && json_object_size(d->annotations) > 0)
        json_object_set_new(j, "annotations", json_deep_copy(d->annotations));
    return j;
}

int fmt_descriptor_from_json(json_t *j, const char *what, struct fmt_descriptor *d,
                             struct error *err)
{
    memset(d, 0, sizeof *d);
    d->uncompressed_size = -1;
    if (!json_is_object(j))
        return error_set(err, EINVAL, "%s: descriptor is not a JSON object", what);
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    const char *digest = json_string_value(json_object_get(j, "digest"));
    json_t *size = json_object_get(j, "size");
    if (!fmt_digest_is_valid(digest))
        return error_set(err, EINVAL, "%s: invalid digest `%s`", what, digest ? digest : "");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return error_set(err, EINVAL, "%s: missing or negative size", what);
    d->media_type = xstrdup(mt ? mt : "");
    snprintf(d->digest, sizeof d->digest, "%s", digest);
    d->size = (int64_t)json_integer_value(size);
    json_t *ann = json_object_get(j, "annotations");
    if (json_is_object(ann))
        d->annotations = json_incref(ann);
    return 0;
}

int fmt_layer_media_type_compression(const char *mt)
{
    if (!mt)
        return -1;
    if (!strcmp(mt, FMT_MT_LAYER_TAR) || !strcmp(mt, FMT_MT_DOCKER_LAYER_TAR))
        return FMT_COMPRESSION_NONE;
    if (!strcmp(mt, FMT_MT_LAYER_GZIP) || !strcmp(mt, FMT_MT_DOCKER_LAYER_GZIP) ||
        !strcmp(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip") ||
        !strcmp(mt, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"))
        return FMT_COMPRESSION_GZIP;
    if (!strcmp(mt, FMT_MT_LAYER_ZSTD) || !strcmp(mt, FMT_MT_DOCKER_LAYER_ZSTD))
        return FMT_COMPRESSION_ZSTD;
    return -1;
}

const char *fmt_layer_media_type(enum fmt_compression c)
{
    switch (c) {
    case FMT_COMPRESSION_GZIP:
        return FMT_MT_LAYER_GZIP;
    case FMT_COMPRESSION_ZSTD:
        return FMT_MT_LAYER_ZSTD;
    case FMT_COMPRESSION_NONE:
    default:
        return FMT_MT_LAYER_TAR;
    }
}

bool fmt_media_type_is_manifest(const char *mt)
{
    return mt && (!strcmp(mt, FMT_MT_MANIFEST) || !strcmp(mt, FMT_MT_DOCKER_MANIFEST));
}

bool fmt_media_type_is_index(const char *mt)
{
    return mt && (!strcmp(mt, FMT_MT_INDEX) || !strcmp(mt, FMT_MT_DOCKER_MANIFEST_LIST));
}

bool fmt_media_type_is_config(const char *mt)
{
    return mt && (!strcmp(mt, FMT_MT_CONFIG) || !strcmp(mt, FMT_MT_DOCKER_CONFIG));
}

void fmt_manifest_clear(struct fmt_manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    fmt_descriptor_clear(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        fmt_descriptor_clear(&m->layers[i]);
    free(m->layers);
    json_decref(m->annotations);
    memset(m, 0, sizeof *m);
}

int fmt_manifest_parse(const char *data, size_t len, const char *media_type,
                       struct fmt_manifest *m, struct error *err)
{
    memset(m, 0, sizeof *m);
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root)
        return error_set(err, EINVAL, "manifest is not valid JSON: %s (line %d)", jerr.text,
                         jerr.line);
    int ret = -1;
    const char *mt = json_string_value(json_object_get(root, "mediaType"));
    if (!mt)
        mt = media_type;
    if (json_integer_value(json_object_get(root, "schemaVersion")) != 2) {
        error_set(err, EINVAL, "manifest: schemaVersion is not 2");
        goto out;
    }
    if (mt && !fmt_media_type_is_manifest(mt)) {
        error_set(err, EINVAL, "manifest: media type `%s` is not an image manifest", mt);
        goto out;
    }
    json_t *layers = json_object_get(root, "layers");
    if (!json_is_array(layers)) {
        error_set(err, EINVAL, "manifest: `layers` is not an array");
        goto out;
    }
    m->media_type = xstrdup(mt ? mt : FMT_MT_MANIFEST);
    if (fmt_descriptor_from_json(json_object_get(root, "config"), "manifest config",
                                 &m->config, err) < 0)
        goto out;
    m->n_layers = json_array_size(layers);
    m->layers = xcalloc(m->n_layers ? m->n_layers : 1, sizeof *m->layers);
    for (size_t i = 0; i < m->n_layers; i++) {
        char what[64];
        snprintf(what, sizeof what, "manifest layer %zu", i);
        if (fmt_descriptor_from_json(json_array_get(layers, i), what, &m->layers[i], err) < 0)
            goto out;
    }
    json_t *ann = json_object_get(root, "annotations");
    if (json_is_object(ann))
        m->annotations = json_incref(ann);
    ret = 0;
out:
    json_decref(root);
    if (ret < 0)
        fmt_manifest_clear(m);
    return ret;
}

char *fmt_manifest_build(const struct fmt_descriptor *config,
                         const struct fmt_descriptor *layers, size_t n_layers,
                         json_t *annotations)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n_layers; i++)
        json_array_append_new(arr, fmt_descriptor_to_json(&layers[i]));
    json_t *root = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
                             FMT_MT_MANIFEST, "config", fmt_descriptor_to_json(config), "layers",
                             arr);
    if (annotations && json_object_size(annotations) > 0)
        json_object_set(root, "annotations", annotations);
    char *s = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(root);
    if (!s)
        abort(); /* jansson only fails on allocation */
    return s;
}
