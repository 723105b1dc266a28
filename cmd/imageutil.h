/* Small helpers shared by the image verbs (images, inspect, tag, rmi, ...). */
#ifndef STRATA_CMD_IMAGEUTIL_H
#define STRATA_CMD_IMAGEUTIL_H

#include <stdint.h>
#include <time.h>

#include "cmd/cli.h"
#include "format/store.h"

/* Opens the store at cli->root; prints the error (as the verb) and returns
 * NULL on failure. */
struct fmt_store *imgutil_open_store(struct cli *cli, const struct verb *v);
/* Docker-style sizes: "512B", "4.32MB", "1.2GB" (decimal units). */
void imgutil_human_size(int64_t bytes, char *buf, size_t len);
/* "3 minutes ago", "2 days ago"; "N/A" when t < 0. */
void imgutil_human_ago(time_t t, char *buf, size_t len);
/* Splits a normalised "name:tag" (or "name@digest") into name and tag
 * ("<none>" when absent); both malloc'd. */
void imgutil_split_ref(const char *ref, char **name, char **tag);

#endif
