#include "builder/vars.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/config.h"

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
        } else if (!eq && bld_platform_arg(name)) {
            value = bld_platform_arg(name);
        }
        bld_env_set(&pending, name, value);
    }
    for (size_t i = 0; i < pending.n; i++)
        bld_env_set(scope, pending.names[i], pending.values[i]);
    bld_env_clear(&pending);
    return 0;
}

static const char *host_variant(void)
{
    /* what BuildKit reports: arm has a variant, amd64 and arm64 none */
    struct utsname u;
    if (uname(&u) == 0 && !strncmp(u.machine, "armv", 4) && isdigit((unsigned char)u.machine[4]))
        return u.machine[4] == '6' ? "v6" : "v7";
    return "";
}

const char *bld_platform_arg(const char *name)
{
    static char platform[96];
    bool target = !strncmp(name, "TARGET", 6), build = !strncmp(name, "BUILD", 5);
    if (!target && !build)
        return NULL;
    const char *what = name + (target ? 6 : 5);
    const char *arch = fmt_config_host_arch(), *variant = host_variant();
    if (!strcmp(what, "OS"))
        return "linux";
    if (!strcmp(what, "ARCH"))
        return arch;
    if (!strcmp(what, "VARIANT"))
        return variant;
    if (!strcmp(what, "PLATFORM")) {
        snprintf(platform, sizeof platform, "linux/%s%s%s", arch, *variant ? "/" : "", variant);
        return platform;
    }
    return NULL;
}

void bld_platform_args(struct bld_env *out)
{
    static const char *const names[] = {"TARGETPLATFORM", "TARGETOS", "TARGETARCH",
                                        "TARGETVARIANT",  "BUILDPLATFORM", "BUILDOS",
                                        "BUILDARCH",      "BUILDVARIANT"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        bld_env_set(out, names[i], bld_platform_arg(names[i]));
}

static const char *norm_arch(const char *a)
{
    static const struct {
        const char *alias, *arch;
    } map[] = {{"x86_64", "amd64"}, {"x86-64", "amd64"}, {"aarch64", "arm64"},
               {"armhf", "arm"},    {"armel", "arm"},    {"i386", "386"}, {"i686", "386"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(a, map[i].alias))
            return map[i].arch;
    return a;
}

bool bld_platform_match(const char *want, const char *os, const char *arch, const char *variant,
                        char **norm)
{
    size_t n;
    cleanup_strv char **parts = NULL;
    {
        /* split at '/' */
        cleanup_free char *w = xstrdup(want);
        n = 1;
        for (char *c = w; *c; c++)
            n += *c == '/';
        parts = xcalloc(n + 1, sizeof *parts);
        char *save = NULL, *tok = strtok_r(w, "/", &save);
        for (size_t i = 0; tok && i < n; i++, tok = strtok_r(NULL, "/", &save))
            parts[i] = xstrdup(tok);
    }
    const char *wos = parts[0] ? parts[0] : "";
    const char *warch = n > 1 && parts[1] ? norm_arch(parts[1]) : NULL;
    const char *wvar = n > 2 && parts[2] ? parts[2] : NULL;
    *norm = xasprintf("%s%s%s%s%s", wos, warch ? "/" : "", warch ? warch : "", wvar ? "/" : "",
                      wvar ? wvar : "");
    if (n > 3 || !*wos || strcasecmp(wos, os ? os : "linux"))
        return false;
    if (warch && strcmp(warch, norm_arch(arch ? arch : "")))
        return false;
    /* arm64's "v8" is its only variant: absent and v8 are the same */
    if (wvar && variant && *variant && strcmp(wvar, variant))
        return false;
    if (wvar && (!variant || !*variant) && !(warch && !strcmp(warch, "arm64") && !strcmp(wvar, "v8")))
        return false;
    return true;
}
