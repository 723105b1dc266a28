#include "builder/plan.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

void bld_plan_free(struct bld_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_stages; i++) {
        free(p->stages[i].name);
        free(p->stages[i].base);
        free(p->stages[i].platform);
        free(p->stages[i].deps);
    }
    free(p->stages);
    bld_args_clear(&p->args);
    free(p);
}

long bld_plan_find_stage(const struct bld_plan *p, const char *ref, size_t before)
{
    for (size_t i = 0; i < before && i < p->n_stages; i++)
        if (p->stages[i].name && !strcasecmp(p->stages[i].name, ref))
            return (long)i;
    if (*ref && strspn(ref, "0123456789") == strlen(ref)) {
        char *end;
        unsigned long idx = strtoul(ref, &end, 10);
        if (idx < before && idx < p->n_stages)
            return (long)idx;
    }
    return -1;
}

static void mark_needed(struct bld_plan *p, size_t i)
{
    struct bld_stage *s = &p->stages[i];
    if (s->needed)
        return;
    s->needed = true;
    if (s->base_stage >= 0)
        mark_needed(p, (size_t)s->base_stage);
    for (size_t d = 0; d < s->n_deps; d++)
        mark_needed(p, (size_t)s->deps[d]);
}

static int parse_from(struct bld_plan *p, struct bld_stage *st, const struct bld_instr *in,
                      struct error *err)
{
    const struct bld_file *f = p->file;
    static const char *const allowed[] = {"platform", NULL};
    if (bld_instr_check_flags(f, in, allowed, err) < 0)
        return -1;
    struct bld_scope sc = {.args = &p->args.global};
    size_t n;
    cleanup_strv char **w = NULL;
    if (bld_expand_words(in->args, f->escape, &sc, &w, &n, err) < 0)
        return bld_instr_prefix(err, f, in);
    const char *plat = bld_instr_flag(in, "platform", NULL);
    if (plat) {
        if (bld_expand_word(plat, f->escape, &sc, &st->platform, err) < 0)
            return bld_instr_prefix(err, f, in);
        if (!*st->platform)
            return bld_instr_error(err, f, in, "FROM --platform is empty (unset ARG?)");
    }
    if (n == 1 || (n == 3 && !strcasecmp(w[1], "as"))) {
        if (!*w[0])
            return bld_instr_error(err, f, in, "FROM names an empty image (unset ARG?)");
        st->base = xstrdup(w[0]);
        if (n == 3) {
            for (char *c = w[2]; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            if (!isalpha((unsigned char)w[2][0]) ||
                strspn(w[2], "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(w[2]))
                return bld_instr_error(err, f, in, "invalid stage name `%s`", w[2]);
            for (size_t k = 0; k < st->index; k++)
                if (p->stages[k].name && !strcmp(p->stages[k].name, w[2]))
                    return bld_instr_error(err, f, in, "duplicate stage name `%s`", w[2]);
            st->name = xstrdup(w[2]);
        }
        /* FROM takes earlier stages by name only, not by index */
        for (size_t k = 0; k < st->index; k++)
            if (p->stages[k].name && !strcasecmp(p->stages[k].name, st->base))
                st->base_stage = (long)k;
        return 0;
    }
    return bld_instr_error(err, f, in, "want `FROM IMAGE [AS NAME]`");
}

int bld_plan_make(const struct bld_file *f, const struct bld_env *build_args, const char *target,
                  struct bld_plan **out, struct error *err)
{
    struct bld_plan *p = xzalloc(sizeof *p);
    p->file = f;
    bld_args_init(&p->args, build_args);
    bld_platform_args(&p->args.global);
    if (f->n_instrs == 0) {
        bld_plan_free(p);
        return error_set(err, 0, "%s: no instructions", f->path);
    }
    size_t i = 0;
    /* ARGs before the first FROM */
    for (; i < f->n_instrs && strcmp(f->instrs[i].cmd, "from"); i++) {
        const struct bld_instr *in = &f->instrs[i];
        if (strcmp(in->cmd, "arg")) {
            bld_instr_error(err, f, in, "only ARG may come before the first FROM");
            goto fail;
        }
        struct bld_scope sc = {.args = &p->args.global};
        if (bld_args_declare(&p->args, f, in, &sc, true, &p->args.global, err) < 0)
            goto fail;
    }
    if (i == f->n_instrs) {
        error_set(err, 0, "%s: no FROM instruction", f->path);
        goto fail;
    }
    for (; i < f->n_instrs; i++) {
        const struct bld_instr *in = &f->instrs[i];
        if (!strcmp(in->cmd, "from")) {
            p->stages = xrealloc(p->stages, (p->n_stages + 1) * sizeof *p->stages);
            struct bld_stage *st = &p->stages[p->n_stages];
            memset(st, 0, sizeof *st);
            st->index = p->n_stages;
            st->first = i;
            st->end = f->n_instrs;
            st->base_stage = -1;
            if (p->n_stages > 0)
                p->stages[p->n_stages - 1].end = i;
            p->n_stages++;
            if (parse_from(p, st, in, err) < 0)
                goto fail;
            continue;
        }
        struct bld_stage *st = &p->stages[p->n_stages - 1];
        if (!strcmp(in->cmd, "copy") || !strcmp(in->cmd, "add")) {
            const char *from = bld_instr_flag(in, "from", NULL);
            if (!from)
                continue;
            /* --from may use the global ARGs (as BuildKit allows) */
            struct bld_scope sc = {.args = &p->args.global};
            cleanup_free char *ref = NULL;
            if (bld_expand_word(from, f->escape, &sc, &ref, err) < 0) {
                bld_instr_prefix(err, f, in);
                goto fail;
            }
            long d = bld_plan_find_stage(p, ref, st->index);
            if (d < 0 && bld_plan_find_stage(p, ref, p->n_stages + 1) == (long)st->index) {
                bld_instr_error(err, f, in, "a stage cannot COPY --from itself");
                goto fail;
            }
            if (d >= 0) {
                st->deps = xrealloc(st->deps, (st->n_deps + 1) * sizeof *st->deps);
                st->deps[st->n_deps++] = d;
            }
        }
    }
    if (target) {
        long t = -1;
        for (size_t s = 0; s < p->n_stages; s++)
            if (p->stages[s].name && !strcasecmp(p->stages[s].name, target))
                t = (long)s;
        if (t < 0) {
            error_set(err, 0, "%s: target stage `%s` not found", f->path, target);
            goto fail;
        }
        p->target = (size_t)t;
    } else {
        p->target = p->n_stages - 1;
    }
    mark_needed(p, p->target);
    for (size_t s = 0; s < p->n_stages; s++)
        if (p->stages[s].needed)
            p->n_steps += p->stages[s].end - p->stages[s].first;
    *out = p;
    return 0;
fail:
    bld_plan_free(p);
    return -1;
}
