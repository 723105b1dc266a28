/* `strata build`: a Containerfile → an image in the store.
 *
 * Stages run in file order, skipping those the target does not need.
 * Metadata instructions edit the config; RUN runs through run/ on a union
 * of the current layers plus a fresh upper directory, and that upper is
 * written straight into the new layer blob (format/'s layer writer) — no
 * walk-and-compare of the whole tree — then kept as the unpacked layer;
 * COPY/ADD write their fresh upper directly (copy.h).  Layer steps are
 * cached (cache.h). */
#ifndef STRATA_BUILDER_BUILD_H
#define STRATA_BUILDER_BUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "builder/expand.h"
#include "common/error.h"
#include "format/digest.h"
#include "format/manifest.h"
#include "format/store.h"

struct bld_options {
    struct fmt_store *store;
    const char *context;        /* the context directory */
    const char *file;           /* the Containerfile; NULL = CONTEXT/Containerfile, then Dockerfile */
    const char *const *tags;    /* NULL-terminated or NULL */
    const struct bld_env *build_args;
    const char *target;         /* NULL = the last stage */
    bool no_cache;
    bool network_host;          /* RUN gets the host network (default: none) */
    enum fmt_compression compression;
    int64_t timestamp;          /* -1: now; else every date in the image, mtimes clamped */
    FILE *out;                  /* STEP lines and progress; NULL = silent */
    bool tty;                   /* out is a terminal: show what a long step is doing */
    int run_stdout;             /* fds for RUN's output (-1 = inherit) */
    int run_stderr;
};

struct bld_result {
    char image_id[FMT_DIGEST_MAX];        /* config digest */
    char manifest_digest[FMT_DIGEST_MAX];
    int run_status;       /* when a RUN failed: its exit status, else 0 */
    char **unused_args;   /* --build-args no ARG consumed (NULL-terminated) */
};

int bld_build(const struct bld_options *o, struct bld_result *res, struct error *err);
void bld_result_clear(struct bld_result *res);

#endif
