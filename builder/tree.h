/* A read view of an image's root as a stack of layer directories (top
 * first: the build's upper, then unpacked layers), merged with OCI
 * whiteout rules (`.wh.NAME` hides NAME below, `.wh..wh..opq` hides a
 * directory's lower contents).  COPY/ADD use it to resolve destinations
 * (following symlinks inside the image root, never out of it), to find
 * the metadata of directories they must copy up, and to read COPY --from
 * sources out of another stage or image without mounting anything. */
#ifndef STRATA_BUILDER_TREE_H
#define STRATA_BUILDER_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "common/error.h"

struct bld_tree {
    int *fds;    /* O_PATH|O_DIRECTORY layer roots, top first */
    size_t n;
    /* a plain directory (the build context): no whiteouts, no
     * override_stat xattrs to read, so lookups cost one stat */
    bool plain;
};

/* dirs: top first.  Fails naming the directory that cannot be opened. */
int bld_tree_open(struct bld_tree *t, const char *const *dirs, size_t n, struct error *err);
void bld_tree_close(struct bld_tree *t);

/* What a clean relative path ("a/b", "" for the root) is in the merged view. */
struct bld_node {
    bool exists;
    int layer;      /* the layer holding the visible entry */
    struct stat st; /* lstat of it, with override_stat applied */
    /* for a directory: the layers contributing entries, top first */
    int *dir_layers;
    size_t n_dir_layers;
};

void bld_node_clear(struct bld_node *n);

/* Looks up path exactly (symlinks in it are NOT followed; intermediate
 * components must be directories in the merged view). */
int bld_tree_lookup(const struct bld_tree *t, const char *path, struct bld_node *out,
                    struct error *err);

/* The entry `name` in the directory `parent` (found at parent_path):
 * one step, without walking from the root again. */
void bld_tree_child(const struct bld_tree *t, const struct bld_node *parent,
                    const char *parent_path, const char *name, struct bld_node *out);

/* Resolves path (absolute or relative to the root) in the merged view,
 * following symlinks inside the root as the image would see them ("/.." is
 * "/", absolute targets restart at the root), up to 40 links.  The last
 * component is followed only when follow_last.  *out gets the clean
 * relative path with no symlinks in its parents ("" for the root); missing
 * components are fine (COPY creates them): below the first one the rest
 * of the path is kept as written, `..` folded. */
int bld_tree_resolve(const struct bld_tree *t, const char *path, bool follow_last, char **out,
                     struct error *err);

/* Lists a directory of the merged view (names sorted, whiteouts applied,
 * `.wh.` entries never shown).  *names NULL-terminated. */
int bld_tree_list(const struct bld_tree *t, const char *path, char ***names, size_t *n,
                  struct error *err);

/* Reads a symlink's target / opens a regular file of the merged view. */
int bld_tree_readlink(const struct bld_tree *t, const struct bld_node *node, const char *path,
                      char **target, struct error *err);
int bld_tree_open_file(const struct bld_tree *t, const struct bld_node *node, const char *path,
                       struct error *err);

/* Reads a whole file of the merged view (following symlinks in the root);
 * ENOENT in err->code when it does not exist. */
int bld_tree_read_file(const struct bld_tree *t, const char *path, char **data, size_t *len,
                       struct error *err);

#endif
