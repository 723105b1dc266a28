/* What in the store is alive, and dropping the rest.
 *
 * Roots: every index.json entry, and every containers/<id>/image file (the
 * run module writes the container's image manifest digest there, so an
 * image removed with rmi stays intact while a container uses it).  From a
 * root: image indexes → manifests → config + layers; configs → diff_ids,
 * which keep layers/<diff_id hex>/ (unpacked layers). */
#ifndef STRATA_FORMAT_GC_H
#define STRATA_FORMAT_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "format/store.h"

/* A set of digests ("sha256:..."). */
struct fmt_digest_set {
    char **items;
    size_t n, cap;
    bool sorted;
};
void fmt_digest_set_add(struct fmt_digest_set *set, const char *digest);
bool fmt_digest_set_has(struct fmt_digest_set *set, const char *digest);
void fmt_digest_set_clear(struct fmt_digest_set *set);

/* A problem found while walking (a missing or corrupt blob). */
typedef void (*fmt_gc_problem_fn)(void *ctx, const char *digest, const char *what);

/* Calls fn(id, image manifest digest, arg) for each containers/<id>/image;
 * a non-zero return stops the walk and is returned.  A missing containers/
 * dir is no containers; an unreadable image file (a container still being
 * created) is skipped. */
typedef int (*fmt_container_image_fn)(const char *id, const char *digest, void *arg);
int fmt_gc_each_container_image(struct fmt_store *s, fmt_container_image_fn fn, void *arg,
                                struct error *err);

/* Marks every blob reachable from the roots in `blobs` and every diff_id of
 * a reachable image in `diff_ids`.  Blobs that cannot be read are reported
 * through problem (may be NULL) and their subtrees skipped. */
int fmt_gc_mark(struct fmt_store *s, struct fmt_digest_set *blobs,
                struct fmt_digest_set *diff_ids, fmt_gc_problem_fn problem, void *ctx,
                struct error *err);

struct fmt_prune_stats {
    size_t blobs_removed;
    int64_t bytes_removed;
    size_t layers_removed;
    size_t temps_removed;
};
/* Takes the gc lock exclusively (waits for every process that is writing
 * blobs to close its store), marks, then removes unreachable blobs, stale
 * temp files and unpacked layers.  `removed` (may be NULL) is told each
 * thing removed ("blob", digest) / ("layer", diff_id). */
int fmt_prune(struct fmt_store *s, struct fmt_prune_stats *stats,
              void (*removed)(void *ctx, const char *kind, const char *name), void *ctx,
              struct error *err);

/* Re-verifies every blob in blobs/sha256 and checks that everything the
 * roots reference exists.  Each problem goes to `problem`; returns the
 * number of problems (0 = healthy), or -1 when the check itself failed. */
int fmt_fsck(struct fmt_store *s, size_t *blobs_checked, fmt_gc_problem_fn problem, void *ctx,
             struct error *err);

#endif
