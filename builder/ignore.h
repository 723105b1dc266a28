/* .containerignore / .dockerignore, with Docker's semantics: one pattern
 * a line relative to the context root ('#' comments, leading '/' and
 * redundant separators ignored), Go filepath.Match globbing per path
 * element plus `**` for any number of elements, `!` re-includes; the last
 * matching pattern decides, and a pattern matching a directory excludes
 * everything below it. */
#ifndef STRATA_BUILDER_IGNORE_H
#define STRATA_BUILDER_IGNORE_H

#include <stdbool.h>

#include "common/error.h"

struct bld_ignore;

struct bld_ignore *bld_ignore_parse(const char *text);
/* Reads .containerignore, else .dockerignore, in the context directory;
 * neither existing gives an empty (match-nothing) list. */
int bld_ignore_load(int ctx_fd, struct bld_ignore **out, struct error *err);
void bld_ignore_free(struct bld_ignore *ig);

/* Is relpath (relative to the context, '/'-separated) excluded? */
bool bld_ignore_excluded(const struct bld_ignore *ig, const char *relpath);
/* Does any `!` pattern exist (an excluded directory must then still be
 * walked, since something below it may be re-included)? */
bool bld_ignore_has_exceptions(const struct bld_ignore *ig);

#endif
