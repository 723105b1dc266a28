/* The image config a build produces, as Docker writes it: the base
 * image's config is the starting point, every instruction adds a history
 * entry (`created_by`, `empty_layer` for the ones that change no files),
 * metadata instructions edit config.{Cmd,Entrypoint,Env,WorkingDir,User,
 * ExposedPorts,Volumes,Labels,StopSignal,Healthcheck,Shell}. */
#ifndef STRATA_BUILDER_IMAGE_H
#define STRATA_BUILDER_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "builder/expand.h"
#include "builder/parse.h"

struct bld_image {
    json_t *doc;      /* the whole config document */
    struct bld_env env; /* mirrors config.Env, in order */
    bool cmd_set;     /* CMD given in this stage: a later ENTRYPOINT keeps it */
};

/* An empty image (FROM scratch) for this machine's os/architecture. */
void bld_image_scratch(struct bld_image *img);
/* From a base image's config JSON. */
int bld_image_from_json(const char *data, size_t len, struct bld_image *img, struct error *err);
/* Deep copy (FROM an earlier stage); cmd_set starts false. */
void bld_image_copy(struct bld_image *dst, const struct bld_image *src);
void bld_image_clear(struct bld_image *img);

/* config.X, NULL when unset. */
json_t *bld_image_get(const struct bld_image *img, const char *key);
/* The SHELL used for shell-form RUN/CMD/ENTRYPOINT (default /bin/sh -c). */
char **bld_image_shell(const struct bld_image *img);
/* config.WorkingDir, "/" when unset. */
const char *bld_image_workdir(const struct bld_image *img);
/* config.User, "" when unset. */
const char *bld_image_user(const struct bld_image *img);

/* Applies a metadata instruction (ENV LABEL CMD ENTRYPOINT EXPOSE VOLUME
 * USER WORKDIR SHELL STOPSIGNAL HEALTHCHECK MAINTAINER ONBUILD) to the
 * config, expanding with sc where Docker does.  *created_by gets the
 * history text (malloc'd).  Errors name FILE:LINE and the instruction. */
int bld_image_apply(struct bld_image *img, const struct bld_file *f, const struct bld_instr *in,
                    const struct bld_scope *sc, char **created_by, struct error *err);

void bld_image_add_layer(struct bld_image *img, const char *diff_id);
void bld_image_add_history(struct bld_image *img, int64_t created, const char *created_by,
                           bool empty_layer);
/* Sets the top-level "created" (epoch seconds). */
void bld_image_set_created(struct bld_image *img, int64_t created);
/* The diff_ids, in order (borrowed strings, array malloc'd). */
const char **bld_image_diff_ids(const struct bld_image *img, size_t *n);
/* Compact JSON with sorted keys, so equal configs give equal digests. */
char *bld_image_serialize(const struct bld_image *img);

/* "2024-01-02T03:04:05Z" for epoch seconds (UTC). */
void bld_format_time(int64_t t, char out[40]);
/* A Go duration ("1m30s", "500ms") → nanoseconds; -1 when malformed. */
int64_t bld_parse_duration(const char *s);
/* A shell-form command line → [shell..., cmd]; exec form copied. */
char **bld_command_argv(const struct bld_image *img, const struct bld_instr *in);

#endif
