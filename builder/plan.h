/* The stage graph: each FROM starts a stage (`AS name`, case-insensitive),
 * a stage depends on the earlier stage it is FROM and on those it COPYs
 * --from.  Only the target (default: the last stage) and what feeds it
 * are built; everything else is skipped. */
#ifndef STRATA_BUILDER_PLAN_H
#define STRATA_BUILDER_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "builder/parse.h"
#include "builder/vars.h"

struct bld_stage {
    size_t index;
    char *name;         /* lowercased AS name, or NULL */
    size_t first, end;  /* instruction range [first, end); first is the FROM */
    char *base;         /* FROM's argument, expanded with the global ARGs */
    char *platform;     /* FROM --platform, expanded, or NULL */
    long base_stage;    /* an earlier stage's index, or -1 (image or scratch) */
    long *deps;         /* stages named by COPY --from (their indices) */
    size_t n_deps;
    bool needed;
};

struct bld_plan {
    const struct bld_file *file; /* borrowed */
    struct bld_args args;        /* build args + the global ARG values */
    struct bld_stage *stages;
    size_t n_stages;
    size_t target;
    size_t n_steps; /* instructions in needed stages (for STEP n/m) */
};

/* Builds the plan; build_args must outlive it.  target NULL = last stage;
 * it may be a stage name or index. */
int bld_plan_make(const struct bld_file *f, const struct bld_env *build_args, const char *target,
                  struct bld_plan **out, struct error *err);
void bld_plan_free(struct bld_plan *p);

/* A stage by name (case-insensitive) or decimal index below `before`;
 * -1 when none (then `ref` names an image). */
long bld_plan_find_stage(const struct bld_plan *p, const char *ref, size_t before);

#endif
