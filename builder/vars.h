/* ENV / LABEL / ARG arguments and ARG scoping (Dockerfile reference):
 * - ARGs before the first FROM are global and usable only in FROM lines;
 *   a stage sees one only after re-declaring it (`ARG NAME`);
 * - a --build-arg value beats the ARG's default; an ARG without default
 *   and without --build-arg is declared but unset;
 * - an ENV of the same name wins over an ARG (see bld_scope_get);
 * - all expansions in one ENV/LABEL/ARG line use the variables from
 *   before that line (`ENV a=1 b=$a` gives b the previous a). */
#ifndef STRATA_BUILDER_VARS_H
#define STRATA_BUILDER_VARS_H

#include <stdbool.h>

#include "builder/expand.h"
#include "builder/parse.h"

/* `k=v k2="v 2"` (or legacy `k some value` when allow_legacy) into out,
 * names and values expanded with sc.  Errors name the instruction. */
int bld_parse_kv(const struct bld_file *f, const struct bld_instr *in,
                 const struct bld_scope *sc, bool allow_legacy, struct bld_env *out,
                 struct error *err);

/* Tracks which --build-args were consumed (for the "not consumed" warning). */
struct bld_args {
    const struct bld_env *build_args; /* --build-arg K=V */
    struct bld_env global;            /* values of the ARGs before the first FROM */
    bool *used;                       /* per build_args entry */
};

void bld_args_init(struct bld_args *a, const struct bld_env *build_args);
void bld_args_clear(struct bld_args *a);

/* Handles one ARG instruction: declares its names in `scope` (the global
 * list before the first FROM, a stage's list after) with the value chosen
 * by the precedence rules.  sc is used to expand defaults. */
int bld_args_declare(struct bld_args *a, const struct bld_file *f, const struct bld_instr *in,
                     const struct bld_scope *sc, bool global, struct bld_env *scope,
                     struct error *err);

/* The platform ARGs BuildKit predefines (TARGETPLATFORM, TARGETOS,
 * TARGETARCH, TARGETVARIANT and the same for BUILD*): strata builds for the
 * machine it runs on, so both describe it ("linux/amd64").  They are in the
 * global scope (usable in FROM); a stage sees one after `ARG NAME`. */
void bld_platform_args(struct bld_env *out);
/* The value of a predefined platform ARG, or NULL when name is not one. */
const char *bld_platform_arg(const char *name);

/* "os[/arch[/variant]]" against an image's os/architecture/variant (arch
 * aliases such as x86_64 folded, a missing variant matches any): true when
 * the image is for that platform.  *norm gets the normalized request. */
bool bld_platform_match(const char *want, const char *os, const char *arch, const char *variant,
                        char **norm);

#endif
