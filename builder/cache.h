/* The build cache, STORE/cache/<key hex>.json, one small JSON file per
 * step that produced a layer (written atomically).  A key chains: the
 * parent's key (the base image's manifest digest, or "scratch", for the
 * first step), the instruction text with variables expanded (plus what
 * else changes the result: build args for RUN, compression, timestamp),
 * and for COPY/ADD the digest of the sources' contents and metadata
 * (copy.h), never their mtimes.  Metadata steps are keyed too, so an ENV
 * change invalidates every step after it. */
#ifndef STRATA_BUILDER_CACHE_H
#define STRATA_BUILDER_CACHE_H

#include <stdbool.h>

#include "common/error.h"
#include "format/digest.h"
#include "format/manifest.h"
#include "format/store.h"

/* key = sha256(parent "\n" text "\n" extra); extra may be NULL. */
void bld_cache_key(const char *parent, const char *text, const char *extra,
                   char out[FMT_DIGEST_MAX]);

struct bld_cache_entry {
    bool has_layer;              /* false: the step changed no files */
    struct fmt_descriptor layer; /* with diff_id and uncompressed_size */
};

/* 1 and e filled on a hit (the layer blob must still be in the store),
 * 0 on a miss. */
int bld_cache_get(struct fmt_store *s, const char *key, struct bld_cache_entry *e,
                  struct error *err);
int bld_cache_put(struct fmt_store *s, const char *key, const struct bld_cache_entry *e,
                  struct error *err);
void bld_cache_entry_clear(struct bld_cache_entry *e);

#endif
