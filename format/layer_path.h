/* Paths inside a layer: tar entry names cleaned under one policy, and the
 * openat2 wrapper every layer path is resolved with.
 *
 * Policy (docker's, made strict): a leading "/" is stripped (an absolute
 * entry name means "from the layer root", as tar and docker treat it), "."
 * components, "./" prefixes and repeated or trailing slashes are dropped,
 * and any ".." component is refused outright, even one that would stay
 * inside the layer.  Resolution never follows symlinks at all (see
 * fmt_layer_open_parent): a layer that writes through a symlink it planted
 * is refused, not redirected. */
#ifndef STRATA_FORMAT_LAYER_PATH_H
#define STRATA_FORMAT_LAYER_PATH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Cleans a tar entry name; "." for the layer root.  Returns a malloc'd
 * string in *out, or -1 with err naming the entry. */
int fmt_layer_path_clean(const char *name, char **out, struct error *err);

/* openat2(2) (glibc has no wrapper): -1 with errno on failure. */
int fmt_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve);

/* Resolves path strictly beneath dirfd with no symlinks and no magic
 * links (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS). */
int fmt_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

#endif
