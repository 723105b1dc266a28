/* Final trees from layer indexes, and the differences between them.
 *
 * A tree is the sorted list of paths an image shows after applying its
 * layers in order with the OCI whiteout rules: `.wh.NAME` removes NAME and
 * all it contains from lower layers, `.wh..wh..opq` hides everything lower
 * layers put in its directory, and an entry replaces what lower layers had
 * at its path (a non-directory over a directory removes the directory's
 * contents).  Paths sort with '/' before every other byte, so a directory's
 * contents follow it contiguously and whole subtrees are ranges: applying a
 * layer and comparing two trees are single merge passes, no unpacking.
 *
 * Nodes point into the layer indexes they came from: keep the indexes alive
 * (and call fmt_tree_rebind after replacing one) while the tree is used. */
#ifndef STRATA_FORMAT_TREE_DIFF_H
#define STRATA_FORMAT_TREE_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "format/layer_index.h"

/* Orders paths with '/' lowest: a directory is followed by its contents. */
int fmt_path_cmp(const char *a, const char *b);
/* Is `path` strictly inside directory `dir` ("" is the root)? */
bool fmt_path_is_under(const char *path, const char *dir);

struct fmt_tree_node {
    const struct fmt_layer_entry *entry;
    uint32_t layer;     /* position of the providing layer in the image */
    uint32_t entry_idx; /* position of the entry in that layer's index */
};

struct fmt_tree {
    struct fmt_tree_node *nodes; /* sorted by fmt_path_cmp */
    size_t n_nodes;
};

enum fmt_change_kind { FMT_CHANGE_ADDED = 'A', FMT_CHANGE_CHANGED = 'C', FMT_CHANGE_DELETED = 'D' };

/* What differs in a 'C' change between two images. */
enum {
    FMT_DIFF_TYPE = 1 << 0,
    FMT_DIFF_CONTENT = 1 << 1, /* file digest, or device numbers */
    FMT_DIFF_MODE = 1 << 2,
    FMT_DIFF_OWNER = 1 << 3,
    FMT_DIFF_LINK = 1 << 4, /* symlink or hardlink target */
};

struct fmt_change {
    char kind; /* enum fmt_change_kind */
    unsigned what; /* FMT_DIFF_* (image comparisons only) */
    const char *path;
    const struct fmt_layer_entry *old_e; /* NULL for 'A' */
    const struct fmt_layer_entry *new_e; /* NULL for 'D' */
    /* 'A'/'C': the new entry's size; 'D': bytes of regular files removed
     * (the whole subtree when the change stands for one) */
    int64_t size;
    int64_t old_size; /* 'C': the old entry's size */
};

struct fmt_changes {
    struct fmt_change *v;
    size_t n, cap;
};
void fmt_changes_clear(struct fmt_changes *c);

enum fmt_apply_record {
    FMT_RECORD_NONE,
    /* A/C for the layer's entries, D for the top of each removed subtree */
    FMT_RECORD_TOP,
    /* additionally a D for every removed node (for waste accounting) */
    FMT_RECORD_EACH,
};

void fmt_tree_clear(struct fmt_tree *t);
/* Applies layer number `layer` (its index ix) on top of t.  Changes the
 * layer makes to t are appended to `changes` as `record` asks. */
void fmt_tree_apply(struct fmt_tree *t, const struct fmt_layer_index *ix, uint32_t layer,
                    enum fmt_apply_record record, struct fmt_changes *changes);
/* Builds the final tree of n layers. */
void fmt_tree_build(struct fmt_tree *t, const struct fmt_layer_index *const *layers, size_t n);
const struct fmt_tree_node *fmt_tree_find(const struct fmt_tree *t, const char *path);
/* Re-points the nodes of `layer` at a new index of the same tar (one with
 * digests, say).  Fails if ix is not the same list of paths. */
int fmt_tree_rebind(struct fmt_tree *t, uint32_t layer, const struct fmt_layer_index *ix,
                    struct error *err);

/* Comparing two images' final trees.  layer_ids[i] names layer i (its
 * diff_id): nodes from layers with equal ids are the same bytes and are
 * never hashed.  First ask which layers need content digests (files of the
 * same size in both trees that come from different layers), load those
 * indexes with digests and rebind, then compare. */
void fmt_tree_digest_needs(const struct fmt_tree *a, const char *const *ids_a,
                           const struct fmt_tree *b, const char *const *ids_b, bool *need_a,
                           bool *need_b);
int fmt_tree_compare(const struct fmt_tree *a, const char *const *ids_a,
                     const struct fmt_tree *b, const char *const *ids_b,
                     struct fmt_changes *out, struct error *err);
/* "content,mode,..." for a change's `what` bits (static buffer not used:
 * writes into buf). */
const char *fmt_diff_what_string(unsigned what, char *buf, size_t len);

#endif
