/* OCI descriptors, image manifests and image indexes (jansson).  Docker
 * v2 schema2 media types are accepted wherever OCI ones are; strata itself
 * always writes OCI media types. */
#ifndef STRATA_FORMAT_MANIFEST_H
#define STRATA_FORMAT_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "format/digest.h"

#define FMT_MT_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define FMT_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define FMT_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define FMT_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define FMT_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define FMT_MT_INDEX "application/vnd.oci.image.index.v1+json"

#define FMT_MT_DOCKER_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"
#define FMT_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define FMT_MT_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"
#define FMT_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define FMT_MT_DOCKER_MANIFEST_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define FMT_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* The annotation that names a manifest in index.json. */
#define FMT_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

struct fmt_descriptor {
    char *media_type;
    char digest[FMT_DIGEST_MAX];
    int64_t size;
    char *diff_id;             /* layers only ("sha256:..."), may be NULL */
    int64_t uncompressed_size; /* -1 when unknown */
    json_t *annotations;       /* owned reference, may be NULL */
};

/* Frees the members (not d itself) and zeroes d. */
void fmt_descriptor_clear(struct fmt_descriptor *d);
void fmt_descriptor_copy(struct fmt_descriptor *dst, const struct fmt_descriptor *src);
/* {"mediaType","digest","size"[,"annotations"]}: diff_id and
 * uncompressed_size live in the config, not the descriptor. */
json_t *fmt_descriptor_to_json(const struct fmt_descriptor *d);
/* Parses and validates a descriptor (digest syntax, size >= 0).  `what`
 * names it in errors ("layer 2", "config", ...). */
int fmt_descriptor_from_json(json_t *j, const char *what, struct fmt_descriptor *d,
                             struct error *err);

enum fmt_compression { FMT_COMPRESSION_NONE, FMT_COMPRESSION_GZIP, FMT_COMPRESSION_ZSTD };
/* A layer media type (OCI or docker) → its compression; -1 if the media
 * type is not a layer type strata knows. */
int fmt_layer_media_type_compression(const char *media_type);
/* The OCI layer media type for a compression. */
const char *fmt_layer_media_type(enum fmt_compression c);
bool fmt_media_type_is_manifest(const char *media_type); /* OCI or docker */
bool fmt_media_type_is_index(const char *media_type);    /* OCI or docker list */
bool fmt_media_type_is_config(const char *media_type);

/* An image manifest, parsed. */
struct fmt_manifest {
    char *media_type; /* from the document, or the one it was referenced by */
    struct fmt_descriptor config;
    struct fmt_descriptor *layers;
    size_t n_layers;
    json_t *annotations; /* may be NULL */
};

/* Parses an image manifest (OCI or docker schema2).  media_type is the one
 * the referring descriptor gave (may be NULL). */
int fmt_manifest_parse(const char *data, size_t len, const char *media_type,
                       struct fmt_manifest *m, struct error *err);
void fmt_manifest_clear(struct fmt_manifest *m);
/* An OCI image manifest for config + layers, as compact JSON (malloc'd). */
char *fmt_manifest_build(const struct fmt_descriptor *config,
                         const struct fmt_descriptor *layers, size_t n_layers,
                         json_t *annotations);

#endif
