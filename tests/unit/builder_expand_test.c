/* Variable expansion and ARG/ENV scoping. */
#include <string.h>

#include "builder/expand.h"
#include "builder/vars.h"
#include "common/cleanup.h"
#include "tests/unit/tap.h"

static struct bld_scope sc;

static void check(const char *in, const char *want)
{
    struct error err = {0};
    char *out = NULL;
    if (bld_expand_word(in, '\\', &sc, &out, &err) < 0) {
        tap_ok(0, "expand `%s`: %s", in, err.msg);
        return;
    }
    if (!tap_ok(!strcmp(out, want), "expand `%s` -> `%s`", in, want))
        tap_diag("  got `%s`", out);
    free(out);
}

static void check_words(const char *in, const char *want_joined)
{
    struct error err = {0};
    char **v = NULL;
    size_t n;
    if (bld_expand_words(in, '\\', &sc, &v, &n, &err) < 0) {
        tap_ok(0, "words `%s`: %s", in, err.msg);
        return;
    }
    char got[512] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(got, "<");
        strcat(got, v[i]);
        strcat(got, ">");
    }
    if (!tap_ok(!strcmp(got, want_joined), "words `%s` -> %s", in, want_joined))
        tap_diag("  got %s", got);
    strv_free(v);
}

static struct bld_file *parse(const char *text)
{
    struct error err = {0};
    struct bld_file *f = NULL;
    if (bld_parse("Containerfile", text, strlen(text), &f, &err) < 0)
        tap_diag("parse: %s", err.msg);
    return f;
}

int main(void)
{
    struct bld_env env, args;
    bld_env_init(&env);
    bld_env_init(&args);
    bld_env_set(&env, "FOO", "foo");
    bld_env_set(&env, "EMPTY", "");
    bld_env_set(&env, "SP", "a b");
    bld_env_set(&args, "ARGV", "argval");
    bld_env_set(&args, "FOO", "from-arg");
    bld_env_set(&args, "DECL", NULL);
    sc = (struct bld_scope){.env = &env, .args = &args};

    check("$FOO", "foo");
    check("${FOO}", "foo");
    check("x${FOO}y", "xfooy");
    check("$FOO.bar", "foo.bar");
    check("$ARGV", "argval");
    check("$UNSET", "");
    check("${UNSET:-def}", "def");
    check("${EMPTY:-def}", "def");
    check("${EMPTY-def}", "");
    check("${UNSET-def}", "def");
    check("${FOO:-def}", "foo");
    check("${FOO:+alt}", "alt");
    check("${EMPTY:+alt}", "");
    check("${EMPTY+alt}", "alt");
    check("${UNSET:+alt}", "");
    check("${UNSET:-$FOO}", "foo");
    check("${UNSET:-${ARGV}x}", "argvalx");
    check("\\$FOO", "$FOO");
    check("'$FOO'", "$FOO");
    check("\"$FOO\"", "foo");
    check("\"\\$FOO\"", "$FOO");
    check("\"a\\b\"", "a\\b");
    check("a\\ b", "a b");
    check("\"a b\"", "a b");
    check("$", "$");
    check("a$", "a$");
    check("$1x", "x");
    check("${DECL:-d}", "d");
    check("trail\\", "trail");
    tap_is_str(bld_scope_get(&sc, "FOO"), "foo", "ENV wins over ARG");

    struct error err = {0};
    char *out = NULL;
    tap_ok(bld_expand_word("${FOO", '\\', &sc, &out, &err) < 0, "unterminated ${ fails: %s", err.msg);
    tap_ok(bld_expand_word("\"abc", '\\', &sc, &out, &err) < 0, "unterminated quote fails");
    tap_ok(bld_expand_word("${UNSET:?must be set}", '\\', &sc, &out, &err) < 0 &&
               strstr(err.msg, "must be set"),
           "${v:?msg} fails with msg");
    tap_ok(bld_expand_word("${FOO%x}", '\\', &sc, &out, &err) < 0, "unsupported modifier fails");

    {
        struct bld_scope bt = sc;
        char *o = NULL;
        bld_expand_word("a`$FOO\\x", '`', &bt, &o, &err);
        tap_is_str(o, "a$FOO\\x", "backtick escape; backslash literal");
        free(o);
    }

    check_words("a b  c", "<a><b><c>");
    check_words("\"a b\" c", "<a b><c>");
    check_words("$SP c", "<a><b><c>");
    check_words("\"$SP\" c", "<a b><c>");
    check_words("x\"\"", "<x>");
    check_words("\"\" y", "<><y>");
    check_words("", "");

    size_t n;
    char **raw = bld_split_raw("a=\"x y\" b='z w' c=d\\ e", '\\', &n);
    tap_ok(n == 3 && !strcmp(raw[0], "a=\"x y\"") && !strcmp(raw[1], "b='z w'") &&
               !strcmp(raw[2], "c=d\\ e"),
           "raw split keeps quotes and escapes");
    strv_free(raw);

    /* ENV/LABEL key=value */
    struct bld_file *f = parse("FROM x\nENV a=1 b=\"two words\" c=$FOO d=${a}\nENV legacy some value\n"
                               "ENV bad\nLABEL \"k\"=v\n");
    if (f) {
        struct bld_env kv;
        bld_env_init(&kv);
        tap_ok(bld_parse_kv(f, &f->instrs[1], &sc, true, &kv, &err) == 0, "ENV pairs");
        tap_is_str(bld_env_get(&kv, "b"), "two words", "quoted value");
        tap_is_str(bld_env_get(&kv, "c"), "foo", "expanded value");
        tap_is_str(bld_env_get(&kv, "d"), "", "same-line ENV uses the previous values");
        bld_env_clear(&kv);
        tap_ok(bld_parse_kv(f, &f->instrs[2], &sc, true, &kv, &err) == 0 &&
                   !strcmp(bld_env_get(&kv, "legacy"), "some value"),
               "legacy ENV name value");
        bld_env_clear(&kv);
        tap_ok(bld_parse_kv(f, &f->instrs[3], &sc, true, &kv, &err) < 0 &&
                   strstr(err.msg, "Containerfile:4"),
               "ENV without value fails naming the line: %s", err.msg);
        bld_env_clear(&kv);
        tap_ok(bld_parse_kv(f, &f->instrs[4], &sc, false, &kv, &err) == 0 &&
                   bld_env_get(&kv, "k") && !strcmp(bld_env_get(&kv, "k"), "v"),
               "LABEL with quoted key");
        bld_env_clear(&kv);
        bld_file_free(f);
    }

    /* ARG scoping and precedence */
    f = parse("ARG G=gdef\nARG H\nARG V=1\nFROM x\nARG G\nARG V=stage\nARG B=bdef C\nARG NOVAL\n");
    if (f) {
        struct bld_env ba;
        bld_env_init(&ba);
        bld_env_set(&ba, "B", "from-cli");
        bld_env_set(&ba, "H", "h-cli");
        bld_env_set(&ba, "UNUSED", "x");
        struct bld_args a;
        bld_args_init(&a, &ba);
        struct bld_scope gs = {.args = &a.global};
        for (int i = 0; i < 3; i++)
            bld_args_declare(&a, f, &f->instrs[i], &gs, true, &a.global, &err);
        tap_is_str(bld_env_get(&a.global, "G"), "gdef", "global default");
        tap_is_str(bld_env_get(&a.global, "H"), "h-cli", "global from --build-arg");
        struct bld_env stage;
        bld_env_init(&stage);
        struct bld_scope ss = {.env = NULL, .args = &stage};
        tap_ok(bld_env_get(&stage, "G") == NULL, "global ARG not visible in stage before re-declaration");
        for (int i = 4; i < 8; i++)
            tap_ok(bld_args_declare(&a, f, &f->instrs[i], &ss, false, &stage, &err) == 0, "ARG line %d",
                   f->instrs[i].line);
        tap_is_str(bld_env_get(&stage, "G"), "gdef", "re-declared global brings its value");
        tap_is_str(bld_env_get(&stage, "V"), "stage", "stage default beats global default");
        tap_is_str(bld_env_get(&stage, "B"), "from-cli", "--build-arg beats default");
        tap_ok(bld_env_find(&stage, "C") >= 0 && bld_env_get(&stage, "C") == NULL, "declared without value");
        tap_ok(bld_env_find(&stage, "NOVAL") >= 0 && !bld_env_get(&stage, "NOVAL"), "ARG without default unset");
        tap_ok(a.used[0] && a.used[1] && !a.used[2], "consumed build args tracked");
        struct bld_env e2;
        bld_env_init(&e2);
        bld_env_set(&e2, "B", "env-wins");
        struct bld_scope both = {.env = &e2, .args = &stage};
        tap_is_str(bld_scope_get(&both, "B"), "env-wins", "ENV wins over ARG");
        bld_env_clear(&e2);
        bld_env_clear(&stage);
        bld_args_clear(&a);
        bld_env_clear(&ba);
        bld_file_free(f);
    }

    bld_env_clear(&env);
    bld_env_clear(&args);
    return tap_done();
}
