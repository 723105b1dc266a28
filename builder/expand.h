/* Variables and their expansion, with Docker's shell-word rules (a subset
 * of POSIX sh): $v, ${v}, ${v:-w}, ${v-w}, ${v:+w}, ${v+w}, ${v:?msg},
 * '...' literal, "..." expanding, the escape character quoting the next
 * character.  Applied only in the instructions where Docker applies it
 * (FROM, COPY, ADD, ENV, ARG, LABEL, EXPOSE, VOLUME, WORKDIR, USER,
 * STOPSIGNAL and the flags of COPY/ADD), never in RUN/CMD/ENTRYPOINT. */
#ifndef STRATA_BUILDER_EXPAND_H
#define STRATA_BUILDER_EXPAND_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* An ordered name → value list (ENV keeps its order in the image config).
 * A NULL value means "declared, no value" (an ARG without default). */
struct bld_env {
    char **names;
    char **values;
    size_t n;
};

void bld_env_init(struct bld_env *e);
void bld_env_clear(struct bld_env *e);
void bld_env_copy(struct bld_env *dst, const struct bld_env *src);
/* Sets (replacing in place, keeping the position) or appends. */
void bld_env_set(struct bld_env *e, const char *name, const char *value);
/* Index of name or -1. */
long bld_env_find(const struct bld_env *e, const char *name);
/* NULL when absent or declared without a value. */
const char *bld_env_get(const struct bld_env *e, const char *name);
/* "NAME=VALUE" strings from a list such as an image config's Env. */
void bld_env_set_pair(struct bld_env *e, const char *pair);

/* Where expansion looks names up: ENV first (ENV wins over ARG), then ARG. */
struct bld_scope {
    const struct bld_env *env;
    const struct bld_env *args;
};
const char *bld_scope_get(const struct bld_scope *sc, const char *name);

/* One word: quotes removed, variables expanded.  out is malloc'd. */
int bld_expand_word(const char *word, char escape, const struct bld_scope *sc, char **out,
                    struct error *err);
/* Splits text into words at unquoted whitespace (including whitespace from
 * unquoted expansions), expanding each.  *out is NULL-terminated. */
int bld_expand_words(const char *text, char escape, const struct bld_scope *sc, char ***out,
                     size_t *n, struct error *err);
/* Splits without expanding or removing quotes (Docker's parseWords), so
 * each piece can be expanded on its own, e.g. ENV's name=value pairs. */
char **bld_split_raw(const char *text, char escape, size_t *n);

#endif
