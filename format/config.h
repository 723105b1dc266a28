/* OCI image configs (jansson): created, architecture, os, config (Cmd,
 * Env, ...), rootfs.diff_ids and history.  Docker's container image config
 * is the same document, so both media types parse here. */
#ifndef STRATA_FORMAT_CONFIG_H
#define STRATA_FORMAT_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/error.h"
#include "format/manifest.h"

/* The Go-style name of this machine's architecture ("amd64", "arm64", ...). */
const char *fmt_config_host_arch(void);
/* Now, or $SOURCE_DATE_EPOCH when set (reproducible builds). */
time_t fmt_config_now(void);
/* RFC 3339 UTC ("2024-01-02T03:04:05Z"), malloc'd. */
char *fmt_config_time_string(time_t t);

/* A fresh config: this host's os/architecture, created = fmt_config_now(),
 * an empty `config`, rootfs {type: layers, diff_ids: []}, history []. */
json_t *fmt_config_new(void);
/* Parses and checks a config: an object whose rootfs.diff_ids (if any) are
 * valid digests. */
int fmt_config_parse(const char *data, size_t len, json_t **out, struct error *err);
size_t fmt_config_diff_id_count(json_t *cfg);
const char *fmt_config_diff_id(json_t *cfg, size_t i); /* NULL if out of range */
/* rootfs.diff_ids := the layers' diff_ids (each must be set). */
int fmt_config_set_diff_ids(json_t *cfg, const struct fmt_descriptor *layers, size_t n,
                            struct error *err);
/* Appends a history entry dated fmt_config_now(). */
void fmt_config_add_history(json_t *cfg, const char *created_by, const char *comment,
                            bool empty_layer);
/* `created` as seconds since the epoch; -1 if absent or unparsable. */
time_t fmt_config_created(json_t *cfg);

#endif
