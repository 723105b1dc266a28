/* Wasted space, measured as dive (github.com/wagoodman/dive) measures it,
 * so numbers and CI thresholds carry over between the two tools.
 *
 * Every non-directory entry a layer adds or replaces is one "copy" of its
 * path with the entry's size; every non-directory a later layer removes
 * (by a whiteout, an opaque directory, or by covering a directory with a
 * file) adds a copy of size 0.  Per path: cumulative = sum of its copies'
 * sizes, minimum = its smallest copy.  Then
 *     wasted bytes = sum of cumulative over paths with 2 or more copies
 *     efficiency   = sum of minimum / sum of cumulative over all paths
 *                    (1 when the image holds no bytes)
 *     user wasted  = wasted bytes / bytes of every layer but the first
 * so a file written twice counts both copies as waste, as in dive.
 * One deliberate difference: dive only counts a deleted directory when it
 * was empty (its contents are not leaves of the whiteout's layer); here
 * the files under a deleted or opaque directory count as deleted, which is
 * what "deleted by a later layer" means to a user. */
#ifndef STRATA_FORMAT_ANALYZE_H
#define STRATA_FORMAT_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "format/layer_index.h"

struct fmt_waste_item {
    const char *path;  /* points into the layer indexes */
    uint32_t copies;   /* how many layers wrote or removed it */
    int64_t bytes;     /* cumulative size of its copies */
};

struct fmt_analysis {
    double efficiency;          /* 0..1 */
    int64_t wasted_bytes;
    int64_t image_bytes;        /* regular-file bytes of every layer */
    int64_t user_bytes;         /* the same without the first (base) layer */
    double user_wasted_fraction; /* wasted_bytes / user_bytes, 0 if no user bytes */
    struct fmt_waste_item *items; /* inefficient paths, largest first */
    size_t n_items;
};

void fmt_analyze(const struct fmt_layer_index *const *layers, size_t n, struct fmt_analysis *out);
void fmt_analysis_clear(struct fmt_analysis *a);

#endif
