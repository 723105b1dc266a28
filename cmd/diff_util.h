/* Shared by the history, diff and analyze verbs: aligned tables, docker-
 * style human sizes and ages, and an image loaded with its layer indexes. */
#ifndef STRATA_CMD_DIFF_UTIL_H
#define STRATA_CMD_DIFF_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "common/error.h"
#include "format/image.h"
#include "format/layer_index.h"
#include "format/store.h"
#include "format/tree_diff.h"

/* A table printed with columns padded to their widest cell. */
struct dtab {
    size_t n_cols, n_rows, cap;
    char **cells; /* n_rows * n_cols, row 0 is the header */
};
void dtab_init(struct dtab *t, size_t n_cols, const char *const *header);
/* Appends a row of n_cols cells (copied). */
void dtab_row(struct dtab *t, const char *const *cells);
void dtab_print(const struct dtab *t, FILE *out);
void dtab_clear(struct dtab *t);

/* Sizes as docker prints them: decimal units, three significant digits. */
const char *diff_human_size(int64_t bytes, char buf[32]);
/* "3 hours ago", as docker's HumanDuration. */
const char *diff_human_ago(time_t then, time_t now, char buf[64]);
/* "20MB", "1.5GiB", "1000" -> bytes; -1 if unparsable. */
int64_t diff_parse_bytes(const char *s);
/* "true"/"false"/"1"/"0" (an optional leading '=' is ignored); -1 if neither. */
int diff_parse_bool(const char *s);
/* Prints JSON, indented, with a trailing newline; steals j. */
void diff_print_json(json_t *j);
/* Prints arr as JSON when json is set, else t as a table; frees both. */
void diff_emit(bool json, json_t *arr, struct dtab *t);
/* "/" + path for display. */
char *diff_display_path(const char *path);

/* An image with every layer's index loaded (without digests). */
struct diff_image {
    struct fmt_image *img;
    struct fmt_layer_index *ix; /* manifest.n_layers of them */
    const struct fmt_layer_index **layers; /* &ix[i], for fmt_tree_build */
    const char **ids;           /* diff_id of each layer (or blob digest) */
    size_t n;
};
int diff_image_open(struct fmt_store *s, const char *name, bool indexes, struct diff_image *di,
                    struct error *err);
struct cli;
struct verb;
/* For a verb over one image: opens the store at cli->root and the image in
 * it; on failure prints the error as the verb and returns NULL. */
struct fmt_store *diff_image_open_verb(struct cli *cli, const struct verb *v, const char *name,
                                       bool indexes, struct diff_image *di);
/* Layer `layer` of `di` needs its index with digests, `tree` rebound to it. */
struct diff_digest_job {
    struct diff_image *di;
    size_t layer;
    struct fmt_tree *tree;
    /* private */
    struct fmt_layer_index ix;
    struct error err;
    int rc;
};
/* Loads the jobs' indexes with digests (cached) on up to one thread per
 * CPU (hashing is CPU-bound and layers are independent), then swaps them
 * in and rebinds the trees. */
int diff_load_digests(struct fmt_store *s, struct diff_digest_job *jobs, size_t n,
                      struct error *err);
void diff_image_close(struct diff_image *di);

#endif
