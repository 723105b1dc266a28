/* ADD's remote sources: a URL fetched with libcurl into a directory.  With
 * no network the error says so and names the URL. */
#ifndef STRATA_BUILDER_FETCH_H
#define STRATA_BUILDER_FETCH_H

#include "common/error.h"

/* Downloads url into dir as the URL path's last element (or "index.html"),
 * mode 0600 as Docker gives it; *name gets that file name. */
int bld_fetch_url(const char *url, const char *dir, char **name, struct error *err);

#endif
