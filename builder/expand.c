#include "builder/expand.h"

#include <ctype.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

void bld_env_init(struct bld_env *e)
{
    memset(e, 0, sizeof *e);
}

void bld_env_clear(struct bld_env *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->names[i]);
        free(e->values[i]);
    }
    free(e->names);
    free(e->values);
    memset(e, 0, sizeof *e);
}

void bld_env_copy(struct bld_env *dst, const struct bld_env *src)
{
    bld_env_init(dst);
    for (size_t i = 0; i < src->n; i++)
        bld_env_set(dst, src->names[i], src->values[i]);
}

long bld_env_find(const struct bld_env *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->names[i], name))
            return (long)i;
    return -1;
}

void bld_env_set(struct bld_env *e, const char *name, const char *value)
{
    long i = bld_env_find(e, name);
    if (i >= 0) {
        free(e->values[i]);
        e->values[i] = value ? xstrdup(value) : NULL;
        return;
    }
    e->names = xrealloc(e->names, (e->n + 1) * sizeof *e->names);
    e->values = xrealloc(e->values, (e->n + 1) * sizeof *e->values);
    e->names[e->n] = xstrdup(name);
    e->values[e->n] = value ? xstrdup(value) : NULL;
    e->n++;
}

const char *bld_env_get(const struct bld_env *e, const char *name)
{
    long i = e ? bld_env_find(e, name) : -1;
    return i >= 0 ? e->values[i] : NULL;
}

void bld_env_set_pair(struct bld_env *e, const char *pair)
{
    const char *eq = strchr(pair, '=');
    if (!eq) {
        bld_env_set(e, pair, "");
        return;
    }
    cleanup_free char *name = xstrndup(pair, (size_t)(eq - pair));
    bld_env_set(e, name, eq + 1);
}

const char *bld_scope_get(const struct bld_scope *sc, const char *name)
{
    if (!sc)
        return NULL;
    if (sc->env && bld_env_find(sc->env, name) >= 0)
        return bld_env_get(sc->env, name);
    return bld_env_get(sc->args, name);
}

static bool scope_isset(const struct bld_scope *sc, const char *name)
{
    if (!sc)
        return false;
    if (sc->env && bld_env_find(sc->env, name) >= 0)
        return true;
    return sc->args && bld_env_get(sc->args, name) != NULL;
}

/* ---- the word machine ---- */

struct buf {
    char *s;
    size_t len, cap;
};

static void buf_addc(struct buf *b, char c)
{
    if (b->len + 2 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 32;
        b->s = xrealloc(b->s, b->cap);
    }
    b->s[b->len++] = c;
    b->s[b->len] = '\0';
}

static void buf_adds(struct buf *b, const char *s)
{
    for (; *s; s++)
        buf_addc(b, *s);
}

/* Words being built: `split` makes unquoted whitespace (also from
 * expansions) end a word. */
struct words {
    bool split;
    struct buf cur;
    bool in_word; /* cur holds a word, possibly empty (from "") */
    char **v;
    size_t n;
};

static void words_raw(struct words *w, char c)
{
    buf_addc(&w->cur, c);
    w->in_word = true;
}

static void words_end(struct words *w)
{
    if (!w->in_word)
        return;
    w->v = xrealloc(w->v, (w->n + 2) * sizeof *w->v);
    w->v[w->n++] = w->cur.s ? w->cur.s : xstrdup("");
    w->v[w->n] = NULL;
    memset(&w->cur, 0, sizeof w->cur);
    w->in_word = false;
}

/* A character from an unquoted context: whitespace separates words. */
static void words_char(struct words *w, char c)
{
    if (w->split && isspace((unsigned char)c)) {
        words_end(w);
        return;
    }
    words_raw(w, c);
}

struct lexer {
    const char *s;
    size_t i;
    char escape;
    const struct bld_scope *sc;
    struct error *err;
};

static int peek(struct lexer *lx)
{
    return lx->s[lx->i] ? (unsigned char)lx->s[lx->i] : -1;
}

static int next(struct lexer *lx)
{
    return lx->s[lx->i] ? (unsigned char)lx->s[lx->i++] : -1;
}

static int process(struct lexer *lx, struct words *w, int stop);

static int lex_error(struct lexer *lx, const char *msg)
{
    return error_set(lx->err, 0, "%s in `%s`", msg, lx->s);
}

/* ${...} and $name; the leading '$' is consumed.  Appends via add(). */
static int process_dollar(struct lexer *lx, struct buf *out, bool *quoted_ok)
{
    (void)quoted_ok;
    int c = peek(lx);
    if (c != '{') {
        struct buf name = {0};
        if (isdigit(c)) {
            /* positional parameters ($1): digits only, always empty here */
            while ((c = peek(lx)) >= 0 && isdigit(c))
                buf_addc(&name, (char)next(lx));
        }
        while (!name.s && (c = peek(lx)) >= 0 && (isalnum(c) || c == '_'))
            buf_addc(&name, (char)next(lx));
        while (name.s && !isdigit((unsigned char)name.s[0]) && (c = peek(lx)) >= 0 &&
               (isalnum(c) || c == '_'))
            buf_addc(&name, (char)next(lx));
        if (!name.s) {
            buf_addc(out, '$');
            return 0;
        }
        const char *v = bld_scope_get(lx->sc, name.s);
        if (v)
            buf_adds(out, v);
        free(name.s);
        return 0;
    }
    next(lx); /* { */
    struct buf name = {0};
    while ((c = peek(lx)) >= 0 && (isalnum(c) || c == '_'))
        buf_addc(&name, (char)next(lx));
    if (!name.s) {
        return lex_error(lx, "bad substitution");
    }
    cleanup_free char *nm = name.s;
    c = next(lx);
    if (c == '}') {
        const char *v = bld_scope_get(lx->sc, nm);
        if (v)
            buf_adds(out, v);
        return 0;
    }
    bool colon = false;
    if (c == ':') {
        colon = true;
        c = next(lx);
    }
    if (c != '-' && c != '+' && c != '?')
        return lex_error(lx, c < 0 ? "missing `}`" : "unsupported modifier in substitution");
    /* the word after the modifier is itself expanded, stopping at '}' */
    struct words ww = {.split = false};
    if (process(lx, &ww, '}') < 0) {
        free(ww.cur.s);
        return -1;
    }
    if (next(lx) != '}') {
        free(ww.cur.s);
        return lex_error(lx, "missing `}`");
    }
    cleanup_free char *word = ww.cur.s ? ww.cur.s : xstrdup("");
    const char *v = bld_scope_get(lx->sc, nm);
    bool set = scope_isset(lx->sc, nm);
    bool has = colon ? (v && *v) : set;
    switch (c) {
    case '-':
        buf_adds(out, has ? v : word);
        break;
    case '+':
        if (has)
            buf_adds(out, word);
        break;
    case '?':
        if (!has)
            return error_set(lx->err, 0, "%s: %s", nm, *word ? word : "is not allowed to be unset");
        buf_adds(out, v);
        break;
    }
    return 0;
}

static int process_single(struct lexer *lx, struct words *w)
{
    w->in_word = true;
    for (;;) {
        int c = next(lx);
        if (c < 0)
            return lex_error(lx, "unexpected end looking for matching `'`");
        if (c == '\'')
            return 0;
        words_raw(w, (char)c);
    }
}

static int process_double(struct lexer *lx, struct words *w)
{
    w->in_word = true;
    for (;;) {
        int c = next(lx);
        if (c < 0)
            return lex_error(lx, "unexpected end looking for matching `\"`");
        if (c == '"')
            return 0;
        if (c == '$') {
            struct buf b = {0};
            if (process_dollar(lx, &b, NULL) < 0) {
                free(b.s);
                return -1;
            }
            for (size_t i = 0; i < b.len; i++)
                words_raw(w, b.s[i]);
            free(b.s);
            continue;
        }
        if (c == lx->escape) {
            int p = peek(lx);
            if (p < 0)
                continue;
            /* only these can be escaped inside double quotes */
            if (p == '"' || p == '$' || p == lx->escape) {
                words_raw(w, (char)next(lx));
                continue;
            }
        }
        words_raw(w, (char)c);
    }
}

static int process(struct lexer *lx, struct words *w, int stop)
{
    for (;;) {
        int c = peek(lx);
        if (c < 0 || (stop >= 0 && c == stop))
            return 0;
        next(lx);
        if (c == '\'') {
            if (process_single(lx, w) < 0)
                return -1;
        } else if (c == '"') {
            if (process_double(lx, w) < 0)
                return -1;
        } else if (c == '$') {
            struct buf b = {0};
            if (process_dollar(lx, &b, NULL) < 0) {
                free(b.s);
                return -1;
            }
            for (size_t i = 0; i < b.len; i++)
                words_char(w, b.s[i]);
            free(b.s);
        } else if (c == lx->escape) {
            int e = next(lx);
            if (e < 0)
                return 0; /* a lone escape at the end is dropped */
            words_raw(w, (char)e);
        } else {
            words_char(w, (char)c);
        }
    }
}

int bld_expand_word(const char *word, char escape, const struct bld_scope *sc, char **out,
                    struct error *err)
{
    struct lexer lx = {.s = word, .escape = escape, .sc = sc, .err = err};
    struct words w = {.split = false};
    if (process(&lx, &w, -1) < 0) {
        free(w.cur.s);
        return -1;
    }
    *out = w.cur.s ? w.cur.s : xstrdup("");
    return 0;
}

int bld_expand_words(const char *text, char escape, const struct bld_scope *sc, char ***out,
                     size_t *n, struct error *err)
{
    struct lexer lx = {.s = text, .escape = escape, .sc = sc, .err = err};
    struct words w = {.split = true};
    if (process(&lx, &w, -1) < 0) {
        free(w.cur.s);
        strv_free(w.v);
        return -1;
    }
    words_end(&w);
    if (!w.v)
        w.v = xcalloc(1, sizeof *w.v);
    *out = w.v;
    if (n)
        *n = w.n;
    return 0;
}

char **bld_split_raw(const char *text, char escape, size_t *n)
{
    char **v = xcalloc(1, sizeof *v);
    size_t count = 0;
    struct buf cur = {0};
    bool in_word = false;
    char quote = 0;
    for (const char *p = text;; p++) {
        char c = *p;
        if (!c || (!quote && isspace((unsigned char)c))) {
            if (in_word) {
                v = xrealloc(v, (count + 2) * sizeof *v);
                v[count++] = cur.s ? cur.s : xstrdup("");
                v[count] = NULL;
                memset(&cur, 0, sizeof cur);
                in_word = false;
            }
            if (!c)
                break;
            continue;
        }
        in_word = true;
        if (c == escape && p[1]) {
            buf_addc(&cur, c);
            buf_addc(&cur, *++p);
            continue;
        }
        if (quote && c == quote)
            quote = 0;
        else if (!quote && (c == '"' || c == '\''))
            quote = c;
        buf_addc(&cur, c);
    }
    if (n)
        *n = count;
    return v;
}
