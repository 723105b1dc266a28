#include "builder/vars.h"

#include <ctype.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (isspace((unsigned char)*s) || *s == '=')
            return false;
    return true;
}

int bld_parse_kv(const struct bld_file *f, const struct bld_instr *in,
                 const struct bld_scope *sc, bool allow_legacy, struct bld_env *out,
                 struct error *err)
{
    const char *kw = in->cmd;
    /* ENV names are variables; LABEL keys may be anything quoted */
    bool strict = !strcmp(kw, "env");
    size_t n;
    cleanup_strv char **words = bld_split_raw(in->args, f->escape, &n);
    if (n == 0)
        return bld_instr_error(err, f, in, "%s requires at least one argument", kw);

    if (!strchr(words[0], '=')) {
        if (!allow_legacy)
            return bld_instr_error(err, f, in, "want NAME=VALUE, got `%s`", words[0]);
        /* legacy `ENV name value with spaces`: the rest of the line is the value */
        const char *rest = in->args + strcspn(in->args, " \t");
        while (*rest == ' ' || *rest == '\t')
            rest++;
        if (!*rest)
            return bld_instr_error(err, f, in, "%s needs a value (`%s NAME=VALUE`)", kw, kw);
        cleanup_free char *name = NULL, *value = NULL;
        if (bld_expand_word(words[0], f->escape, sc, &name, err) < 0 ||
            bld_expand_word(rest, f->escape, sc, &value, err) < 0)
            return bld_instr_prefix(err, f, in);
        if (strict && !valid_name(name))
            return bld_instr_error(err, f, in, "invalid name `%s`", name);
        bld_env_set(out, name, value);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(words[i], '=');
        if (!eq)
            return bld_instr_error(err, f, in, "want NAME=VALUE, got `%s`", words[i]);
        cleanup_free char *rawname = xstrndup(words[i], (size_t)(eq - words[i]));
        cleanup_free char *name = NULL, *value = NULL;
        if (bld_expand_word(rawname, f->escape, sc, &name, err) < 0 ||
            bld_expand_word(eq + 1, f->escape, sc, &value, err) < 0)
            return bld_instr_prefix(err, f, in);
        if (strict ? !valid_name(name) : !*name)
            return bld_instr_error(err, f, in, "invalid name `%s`", name);
        bld_env_set(out, name, value);
    }
    return 0;
}

void bld_args_init(struct bld_args *a, const struct bld_env *build_args)
{
    memset(a, 0, sizeof *a);
    a->build_args = build_args;
    a->used = xcalloc(build_args ? build_args->n + 1 : 1, sizeof *a->used);
}

void bld_args_clear(struct bld_args *a)
{
    bld_env_clear(&a->global);
    free(a->used);
}

int bld_args_declare(struct bld_args *a, const struct bld_file *f, const struct bld_instr *in,
                     const struct bld_scope *sc, bool global, struct bld_env *scope,
                     struct error *err)
{
    size_t n;
    cleanup_strv char **words = bld_split_raw(in->args, f->escape, &n);
    if (n == 0)
        return bld_instr_error(err, f, in, "ARG requires at least one argument");
    /* expansions use the variables from before this line */
    struct bld_env pending;
    bld_env_init(&pending);
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(words[i], '=');
        cleanup_free char *rawname = eq ? xstrndup(words[i], (size_t)(eq - words[i]))
                                        : xstrdup(words[i]);
        cleanup_free char *name = NULL, *def = NULL;
        if (bld_expand_word(rawname, f->escape, sc, &name, err) < 0 ||
            (eq && bld_expand_word(eq + 1, f->escape, sc, &def, err) < 0)) {
            bld_env_clear(&pending);
            return bld_instr_prefix(err, f, in);
        }
        if (!valid_name(name)) {
            bld_env_clear(&pending);
            return bld_instr_error(err, f, in, "invalid ARG name `%s`", name);
        }
        const char *value = def;
        long bi = a->build_args ? bld_env_find(a->build_args, name) : -1;
        if (bi >= 0) {
            value = a->build_args->values[bi];
            a->used[bi] = true;
        } else if (!eq && !global && bld_env_find(&a->global, name) >= 0) {
            /* re-declaring a global ARG inside a stage brings its value in */
            value = bld_env_get(&a->global, name);
        }
        bld_env_set(&pending, name, value);
    }
    for (size_t i = 0; i < pending.n; i++)
        bld_env_set(scope, pending.names[i], pending.values[i]);
    bld_env_clear(&pending);
    return 0;
}
