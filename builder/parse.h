/* Containerfile lexer/parser (Dockerfile reference semantics): parser
 * directives (`# escape=`), comments, line continuations, case-insensitive
 * instructions, leading `--flag[=value]`s and JSON exec form (an argument
 * that is not a valid JSON string array falls back to shell form, as Docker
 * does).  Variables are NOT expanded here: which instructions expand, and
 * with which variables, is the executor's business (see expand.h). */
#ifndef STRATA_BUILDER_PARSE_H
#define STRATA_BUILDER_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

struct bld_flag {
    char *name;  /* without the leading "--", lowercase */
    char *value; /* NULL for a bare `--flag` */
};

struct bld_instr {
    char *cmd;    /* lowercase keyword: "run", "copy", ... */
    char *text;   /* the instruction as written, continuations joined */
    int line;     /* 1-based line of its first physical line */
    struct bld_flag *flags;
    size_t n_flags;
    char *args;   /* what follows the keyword and flags, trimmed */
    char **json;  /* exec form (NULL-terminated) or NULL for shell form */
    size_t n_json;
};

struct bld_file {
    char *path;  /* the name used in messages */
    char escape; /* '\\' or '`' */
    struct bld_instr *instrs;
    size_t n_instrs;
};

/* Parses text (len bytes, need not be NUL-terminated).  Errors name
 * PATH:LINE and the instruction. */
int bld_parse(const char *path, const char *text, size_t len, struct bld_file **out,
              struct error *err);
int bld_parse_file(const char *path, const char *display_name, struct bld_file **out,
                   struct error *err);
void bld_file_free(struct bld_file *f);

/* The value of flag `name`, or NULL.  *present tells a bare flag apart. */
const char *bld_instr_flag(const struct bld_instr *in, const char *name, bool *present);
/* Fails naming the first flag not in the NULL-terminated allowed list. */
int bld_instr_check_flags(const struct bld_file *f, const struct bld_instr *in,
                          const char *const *allowed, struct error *err);

/* A JSON array of strings → NULL-terminated vector; NULL if s is not one. */
char **bld_json_strv(const char *s, size_t *n);

/* Fills err with "PATH:LINE: TEXT: <fmt>" (TEXT shortened); returns -1. */
int bld_instr_error(struct error *err, const struct bld_file *f, const struct bld_instr *in,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Prefixes an error already in err with "PATH:LINE: TEXT". */
int bld_instr_prefix(struct error *err, const struct bld_file *f, const struct bld_instr *in);

#endif
