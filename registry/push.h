/* Pushing an image: each blob (config and layers) is first asked for with
 * HEAD and skipped when the repository has it, mounted from another
 * repository of the same registry when one is named, else uploaded in one
 * PUT or in PATCH chunks.  Blobs are read through the store's verifying
 * reader, so a blob damaged on disk aborts its upload before the last
 * bytes leave.  The manifest goes last, under the tag. */
#ifndef STRATA_REGISTRY_PUSH_H
#define STRATA_REGISTRY_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "format/digest.h"
#include "format/store.h"
#include "registry/client.h"

struct reg_push_result {
    char digest[FMT_DIGEST_MAX]; /* the manifest as the registry stored it */
    size_t blobs_uploaded;
    size_t blobs_existing;
    size_t blobs_mounted;
    int64_t bytes_uploaded;
};

/* Pushes the image manifest `manifest_digest` (in the store) to
 * repository:tag.  mount_from: a repository of the same registry to mount
 * blobs from (NULL: none). */
int reg_push(struct reg_client *c, struct fmt_store *s, const char *manifest_digest,
             const char *repository, const char *tag, const char *mount_from,
             struct reg_push_result *res, struct error *err);

#endif
