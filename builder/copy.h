/* COPY and ADD: sources from the context (or another stage's / image's
 * root) written into the step's fresh upper directory, without a
 * container.  Docker's rules: a directory source copies its contents; a
 * file goes to DEST/NAME when DEST ends in '/', is an existing directory
 * or there are several sources, else to DEST itself; wildcards per path
 * element; missing parents are created; new files are 0:0 unless --chown;
 * --chmod sets the mode.  Context paths are resolved inside the context
 * (a symlink cannot lead out of it, `..` beyond the root is refused) and
 * destinations inside the image root (its symlinks followed there). */
#ifndef STRATA_BUILDER_COPY_H
#define STRATA_BUILDER_COPY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "builder/ignore.h"
#include "builder/tree.h"
#include "common/error.h"
#include "format/digest.h"

struct bld_copy_opts {
    const struct bld_tree *src;    /* the context (one layer) or a stage/image root */
    const struct bld_ignore *ignore; /* context only, else NULL */
    bool from_context;             /* `..` beyond the root is an error */
    char **srcs;                   /* expanded source arguments */
    size_t n_srcs;
    const char *dest;              /* expanded, absolute (WORKDIR applied), may end in '/' */
    bool chown;
    uid_t uid;
    gid_t gid;
    bool chmod;
    mode_t mode;
    bool add;                      /* ADD: local tar archives are extracted */
    int64_t timestamp;             /* -1: keep the sources' mtimes */
    bool rootless;                 /* owners go to user.containers.override_stat */
};

struct bld_copy_plan;

/* Expands wildcards and walks the sources: fails for a missing source or
 * one outside the context.  Messages name the source. */
int bld_copy_plan_make(const struct bld_copy_opts *o, struct bld_copy_plan **out,
                       struct error *err);
void bld_copy_plan_free(struct bld_copy_plan *p);
/* The digest of every source's content and metadata (names, types, modes,
 * sizes, link targets; not mtimes or owners), for the cache key. */
int bld_copy_plan_digest(struct bld_copy_plan *p, char out[FMT_DIGEST_MAX], struct error *err);
/* Writes the plan into upper_dir; image is the view to resolve the
 * destination in (upper_dir on top of the current layers). */
int bld_copy_plan_run(struct bld_copy_plan *p, const struct bld_tree *image, int upper_fd,
                      struct error *err);

/* "user[:group]" (names from the image's /etc/passwd and /etc/group, or
 * numbers) → ids; a missing group means gid = uid, as Docker does. */
int bld_parse_chown(const struct bld_tree *image, const char *spec, uid_t *uid, gid_t *gid,
                    struct error *err);
/* An octal --chmod value. */
int bld_parse_chmod(const char *spec, mode_t *mode, struct error *err);

/* Creates the directory path (relative to the image root, resolved) in the
 * upper, copying the metadata of directories the lower layers already
 * have; new ones get mode 0755 and root (or uid/gid). */
int bld_upper_mkdirs(const struct bld_tree *image, int upper_fd, const char *path, uid_t uid,
                     gid_t gid, int64_t timestamp, bool rootless, struct error *err);

#endif
