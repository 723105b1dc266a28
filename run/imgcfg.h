/* From an image config and the command line to the process: ENTRYPOINT and
 * CMD combined as the Dockerfile reference's table says, and the
 * environment merged (image Env, then --env-file, then -e).  Pure code. */
#ifndef STRATA_RUN_IMGCFG_H
#define STRATA_RUN_IMGCFG_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"

/* config: the image config's "config" object (or NULL).  entrypoint: NULL
 * keeps the image's; "" clears it; anything else replaces it with that
 * single word (and, as docker does, drops the image's CMD).  args: the
 * words after IMAGE, which replace CMD when there are any.  Shell forms
 * are already ["/bin/sh","-c",...] in the config, so the table's rows are
 * all one concatenation: ENTRYPOINT ++ CMD.  *argv is a malloc'd strv. */
int run_imgcfg_argv(json_t *config, const char *entrypoint, char *const *args, size_t n_args,
                    char ***argv, struct error *err);

/* Image Env, then the env files' lines, then each -e (K=V sets, a bare K
 * copies the caller's K when set).  Later wins; order of first appearance
 * is kept.  env_files: paths, NULL-terminated or NULL. */
int run_imgcfg_env(json_t *config, const char *const *env_files, const char *const *cli_env,
                   char ***env, struct error *err);

/* A string member of config ("WorkingDir", "User", "StopSignal"), or NULL. */
const char *run_imgcfg_string(json_t *config, const char *key);

#endif
