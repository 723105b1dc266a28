/* What a transfer looks like to the user: on a terminal one line per blob,
 * redrawn in place with a bar; otherwise one plain line per blob when it
 * starts and when it ends (logs and CI stay readable); nothing with quiet.
 * The callbacks arrive from the transfer threads, so drawing is locked.
 * This is the one place in registry/ that writes to a stream, and only to
 * the one the caller hands it. */
#ifndef STRATA_REGISTRY_PROGRESS_H
#define STRATA_REGISTRY_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "registry/client.h"

struct reg_progress_ui;

struct reg_progress_ui *reg_progress_ui_new(FILE *out, bool tty, bool quiet);
void reg_progress_ui_free(struct reg_progress_ui *ui);
/* Plug into reg_opts: .progress = reg_progress_ui_event, .progress_ud = ui. */
void reg_progress_ui_event(void *ud, size_t index, const char *digest,
                           enum reg_blob_state state, int64_t done, int64_t total);

/* "true"/"false"/"1"/"0"/"yes"/"no" (NULL, from a bare --flag: true). */
int reg_parse_bool(const char *s, bool *out);
/* "123", "64k", "8M", "1G" (binary units) → bytes; -1 when invalid. */
int64_t reg_parse_size(const char *s);

#endif
