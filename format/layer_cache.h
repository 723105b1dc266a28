/* Unpacked layers, cached by diff_id at STORE/layers/<diff_id hex>/ and
 * shared by every image (and container) that uses the layer.
 *
 * A layer is unpacked into a dot-named temp dir beside its final place and
 * renamed into place only when complete (after syncfs), so a crash never
 * leaves a half layer under a real name.  A per-layer lock file
 * (layers/.<hex>.lock) makes two concurrent `run`s unpack it once: the
 * second waits and then finds it there. */
#ifndef STRATA_FORMAT_LAYER_CACHE_H
#define STRATA_FORMAT_LAYER_CACHE_H

#include <stdbool.h>

#include "common/error.h"
#include "format/store.h"

/* STORE/layers/<hex>, malloc'd (whether or not it exists). */
char *fmt_layer_cache_path(struct fmt_store *s, const char *diff_id);
bool fmt_layer_cache_has(struct fmt_store *s, const char *diff_id);

/* Makes sure the layer blob `blob_digest` (whose uncompressed digest must
 * be diff_id) is unpacked; *path gets its directory (malloc'd).  The blob
 * is verified by digest as it is read, the tar by diff_id. */
int fmt_layer_cache_get(struct fmt_store *s, const char *blob_digest, const char *diff_id,
                        char **path, struct error *err);

/* Removes an unpacked layer (for prune), under its lock. */
int fmt_layer_cache_remove(struct fmt_store *s, const char *diff_id, struct error *err);

#endif
