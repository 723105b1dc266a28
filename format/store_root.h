#ifndef STRATA_FORMAT_STORE_ROOT_H
#define STRATA_FORMAT_STORE_ROOT_H

#include "common/error.h"

/* Where the store lives: `explicit_root` (--root) if given, else $STRATA_ROOT,
 * else /var/lib/strata for root, else $XDG_DATA_HOME/strata (default
 * ~/.local/share/strata).  Returns a malloc'd absolute path, NULL on error. */
char *fmt_store_root_resolve(const char *explicit_root, struct error *err);

#endif
