/* index.json, the store's list of images.  Each entry is a manifest (or
 * image index) descriptor; a tagged entry carries its normalised NAME:TAG in
 * the org.opencontainers.image.ref.name annotation (see format/ref.h).
 * Writers take an exclusive flock on FMT_STORE_INDEX_LOCK, re-read the file
 * and replace it atomically, so concurrent builds and loads lose no ref.
 * Readers need no lock: the rename makes every read see a whole file. */
#ifndef STRATA_FORMAT_INDEX_H
#define STRATA_FORMAT_INDEX_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"
#include "format/manifest.h"
#include "format/store.h"

struct fmt_index_entry {
    char *ref; /* normalised NAME:TAG, NULL when untagged */
    struct fmt_descriptor desc;
};

struct fmt_index {
    struct fmt_index_entry *entries;
    size_t n;
};

int fmt_index_load(struct fmt_store *s, struct fmt_index *idx, struct error *err);
void fmt_index_clear(struct fmt_index *idx);
/* The entry tagged ref (any spelling fmt_ref_normalize accepts), or NULL. */
const struct fmt_index_entry *fmt_index_find(const struct fmt_index *idx, const char *ref);

/* Points ref at desc, moving the tag off any other image.  ref NULL adds an
 * untagged entry (kept from prune) unless desc is already listed. */
int fmt_index_add(struct fmt_store *s, const char *ref, const struct fmt_descriptor *desc,
                  struct error *err);
/* Drops the tag; ENOENT (err filled) when no entry carries it. */
int fmt_index_remove_ref(struct fmt_store *s, const char *ref, struct error *err);
/* Drops every entry (tagged or not) for this manifest digest; returns the
 * number removed. */
int fmt_index_remove_digest(struct fmt_store *s, const char *digest, struct error *err);

/* Locked read-modify-write of the `manifests` array, for callers that need
 * more than the above.  fn returns <0 to abort without writing. */
typedef int (*fmt_index_edit_fn)(json_t *manifests, void *ctx, struct error *err);
int fmt_index_edit(struct fmt_store *s, fmt_index_edit_fn fn, void *ctx, struct error *err);

#endif
