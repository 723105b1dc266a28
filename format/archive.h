/* Image archives: save images from the store to one tar, load a tar into
 * the store.
 *
 * Formats written (save):
 *   FMT_ARCHIVE_DEFAULT  one tar that is both an OCI image layout
 *                        (oci-layout, index.json, blobs/sha256/) and a
 *                        Docker 25+ docker-archive (manifest.json whose
 *                        Config/Layers point into blobs/sha256/); layers are
 *                        written as stored (no recompression).
 *   FMT_ARCHIVE_OCI      oci-archive: the OCI layout only.
 *   FMT_ARCHIVE_DOCKER   legacy docker-archive: manifest.json, repositories,
 *                        <config hex>.json and <diff_id hex>/layer.tar
 *                        holding the *uncompressed* layer.
 * Formats read (load): any of the above, plus what skopeo, docker and podman
 * write (symlinked layer.tar files, gzip'd layers, a compressed archive).
 * Every blob is verified: OCI blobs against their names, docker layers
 * against the config's diff_ids. */
#ifndef STRATA_FORMAT_ARCHIVE_H
#define STRATA_FORMAT_ARCHIVE_H

#include <stddef.h>

#include "common/error.h"
#include "format/image.h"
#include "format/store.h"

enum fmt_archive_format { FMT_ARCHIVE_DEFAULT, FMT_ARCHIVE_OCI, FMT_ARCHIVE_DOCKER };

struct fmt_save_item {
    struct fmt_image *img;
    const char *ref; /* normalised NAME:TAG to record, or NULL */
};

/* Writes the archive to out_fd (a file or a pipe: it is written once, in
 * order).  A corrupt blob fails the save with an error naming it. */
int fmt_archive_save(struct fmt_store *s, const struct fmt_save_item *items, size_t n,
                     enum fmt_archive_format format, int out_fd, struct error *err);

/* Called for each image loaded: its manifest digest and the name it got
 * (NULL when the archive named none). */
typedef void (*fmt_loaded_fn)(void *ctx, const char *digest, const char *ref);

/* Loads path ("-" or NULL: stdin) into the store. */
int fmt_archive_load(struct fmt_store *s, const char *path, fmt_loaded_fn loaded, void *ctx,
                     struct error *err);

/* The digest and size of a layer blob after decompression (gzip, zstd or
 * none, detected from the content); verifies the blob on the way. */
int fmt_layer_blob_diff_id(struct fmt_store *s, const char *digest, char diff_id[FMT_DIGEST_MAX],
                           int64_t *uncompressed_size, struct error *err);

#endif
