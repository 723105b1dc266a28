/* Images in the store: resolve what a user typed (a ref, an image id or a
 * manifest digest, or a unique hex prefix of either) to the manifest and
 * config, and commit a new image from a config and layer descriptors. */
#ifndef STRATA_FORMAT_IMAGE_H
#define STRATA_FORMAT_IMAGE_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"
#include "format/manifest.h"
#include "format/store.h"

/* Layer descriptors in manifests strata writes carry the uncompressed size
 * under this annotation (OCI has no field for it). */
#define FMT_ANNOTATION_UNCOMPRESSED_SIZE "io.strata.layer.uncompressed-size"

struct fmt_image {
    char *ref;                     /* normalised NAME:TAG it was found by, else NULL */
    char digest[FMT_DIGEST_MAX];   /* manifest digest */
    int64_t manifest_size;
    char *manifest_raw;            /* the manifest blob, NUL-terminated */
    struct fmt_manifest manifest;  /* layers[i].diff_id and uncompressed_size filled */
    char id[FMT_DIGEST_MAX];       /* config digest: the image id, as docker/podman */
    char *config_raw;              /* the config blob, NUL-terminated */
    json_t *config;
};

/* Resolves name; when nothing matches, fails with err->code == ENOENT and a
 * message "image `NAME` not found" (callers such as inspect then try
 * containers).  Every blob read is digest-verified. */
int fmt_image_resolve(struct fmt_store *s, const char *name, struct fmt_image **out,
                      struct error *err);
/* Loads the image a manifest (or image index) descriptor points at; for an
 * index, the manifest for this host's platform (else the first). */
int fmt_image_from_descriptor(struct fmt_store *s, const struct fmt_descriptor *desc,
                              struct fmt_image **out, struct error *err);
void fmt_image_free(struct fmt_image *img);
/* Sum of the layer blob sizes + config + manifest (bytes on disk). */
int64_t fmt_image_size(const struct fmt_image *img);

/* Writes config (rootfs.diff_ids set from layers, which must each have a
 * diff_id) and an OCI manifest for layers as blobs, then tags it ref (NULL:
 * an untagged index.json entry).  The layer blobs must already be in the
 * store.  The config is serialised with sorted keys so the same input gives
 * the same digests.  Returns the manifest digest in manifest_digest (may be
 * NULL). */
int fmt_image_commit(struct fmt_store *s, json_t *config, const struct fmt_descriptor *layers,
                     size_t n_layers, const char *ref, char manifest_digest[FMT_DIGEST_MAX],
                     struct error *err);

/* The lower half of fmt_image_commit: the config blob is already in the
 * store (its bytes are kept as they are, so an image id survives a
 * save/load round trip); writes the manifest and tags it. */
int fmt_image_commit_manifest(struct fmt_store *s, const struct fmt_descriptor *config,
                              const struct fmt_descriptor *layers, size_t n_layers,
                              const char *ref, char manifest_digest[FMT_DIGEST_MAX],
                              struct error *err);

#endif
