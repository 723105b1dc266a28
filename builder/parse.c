#include "builder/parse.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"

static const char *const known_instrs[] = {
    "from", "run", "cmd", "label", "maintainer", "expose", "env", "add", "copy",
    "entrypoint", "volume", "user", "workdir", "arg", "onbuild", "stopsignal",
    "healthcheck", "shell", NULL,
};

/* Instructions whose leading `--name[=value]` words are flags. */
static const char *const flag_instrs[] = {"from", "run", "copy", "add", "healthcheck", NULL};
/* Instructions that accept the JSON exec/list form. */
static const char *const json_instrs[] = {"run", "cmd", "entrypoint", "shell",
                                          "copy", "add", "volume", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

static int vinstr_error(struct error *err, const struct bld_file *f, const struct bld_instr *in,
                        const char *msg)
{
    char text[72];
    const char *t = in && in->text ? in->text : "";
    if (strlen(t) >= sizeof text) {
        memcpy(text, t, sizeof text - 4);
        strcpy(text + sizeof text - 4, "...");
    } else {
        strcpy(text, t);
    }
    return error_set(err, err->code, "%s:%d: %s: %s", f ? f->path : "?", in ? in->line : 0, text,
                     msg);
}

int bld_instr_error(struct error *err, const struct bld_file *f, const struct bld_instr *in,
                    const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err->code = 0;
    return vinstr_error(err, f, in, msg);
}

int bld_instr_prefix(struct error *err, const struct bld_file *f, const struct bld_instr *in)
{
    char msg[sizeof err->msg];
    memcpy(msg, err->msg, sizeof msg);
    return vinstr_error(err, f, in, msg);
}

char **bld_json_strv(const char *s, size_t *n)
{
    json_error_t jerr;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &jerr);
    if (!j || !json_is_array(j)) {
        json_decref(j);
        return NULL;
    }
    size_t count = json_array_size(j);
    char **v = xcalloc(count + 1, sizeof *v);
    for (size_t i = 0; i < count; i++) {
        json_t *e = json_array_get(j, i);
        if (!json_is_string(e)) {
            v[i] = NULL;
            strv_free(v);
            json_decref(j);
            return NULL;
        }
        v[i] = xstrdup(json_string_value(e));
    }
    json_decref(j);
    if (n)
        *n = count;
    return v;
}

static void instr_clear(struct bld_instr *in)
{
    free(in->cmd);
    free(in->text);
    for (size_t i = 0; i < in->n_flags; i++) {
        free(in->flags[i].name);
        free(in->flags[i].value);
    }
    free(in->flags);
    free(in->args);
    strv_free(in->json);
}

void bld_file_free(struct bld_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_instrs; i++)
        instr_clear(&f->instrs[i]);
    free(f->instrs);
    free(f->path);
    free(f);
}

const char *bld_instr_flag(const struct bld_instr *in, const char *name, bool *present)
{
    const char *v = NULL;
    bool found = false;
    /* the last occurrence wins, as with Docker's flag parser */
    for (size_t i = 0; i < in->n_flags; i++) {
        if (!strcmp(in->flags[i].name, name)) {
            found = true;
            v = in->flags[i].value;
        }
    }
    if (present)
        *present = found;
    return v;
}

int bld_instr_check_flags(const struct bld_file *f, const struct bld_instr *in,
                          const char *const *allowed, struct error *err)
{
    for (size_t i = 0; i < in->n_flags; i++) {
        if (!allowed || !in_list(allowed, in->flags[i].name))
            return bld_instr_error(err, f, in, "unknown flag `--%s`", in->flags[i].name);
    }
    return 0;
}

/* One physical line: [start, end) without the newline. */
struct pline {
    const char *s;
    size_t len;
};

static bool is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

static bool is_comment(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    return i < len && s[i] == '#';
}

/* "# name = value" at the top of the file.  Returns true and fills name and
 * value (malloc'd) when the line has that shape. */
static bool parse_directive(const char *s, size_t len, char **name, char **value)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (i >= len || s[i] != '#')
        return false;
    i++;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    size_t ns = i;
    while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '_'))
        i++;
    size_t ne = i;
    if (ne == ns)
        return false;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (i >= len || s[i] != '=')
        return false;
    i++;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    size_t ve = len;
    while (ve > i && isspace((unsigned char)s[ve - 1]))
        ve--;
    *name = xstrndup(s + ns, ne - ns);
    for (char *p = *name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    *value = xstrndup(s + i, ve - i);
    return true;
}

/* Strips a trailing escape character (and whitespace after it): returns
 * true when the line continues on the next one. */
static bool trim_continuation(const char *s, size_t *len, char escape)
{
    size_t l = *len;
    while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
        l--;
    if (l > 0 && s[l - 1] == escape) {
        *len = l - 1;
        return true;
    }
    return false;
}

struct strbuf {
    char *s;
    size_t len, cap;
};

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static int split_instr(struct bld_file *f, struct bld_instr *in, const char *line,
                       struct error *err)
{
    const char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    size_t end = strlen(p);
    while (end > 0 && isspace((unsigned char)p[end - 1]))
        end--;
    in->text = xstrndup(p, end);

    const char *kw = in->text;
    size_t kl = strcspn(kw, " \t");
    in->cmd = xstrndup(kw, kl);
    for (char *c = in->cmd; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (!in_list(known_instrs, in->cmd)) {
        cleanup_free char *orig = xstrndup(kw, kl);
        return bld_instr_error(err, f, in, "unknown instruction `%s`", orig);
    }

    const char *rest = kw + kl;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (in_list(flag_instrs, in->cmd)) {
        while (rest[0] == '-' && rest[1] == '-') {
            size_t wl = strcspn(rest, " \t");
            const char *w = rest + 2;
            size_t nl = strcspn(w, "=");
            if (nl > wl - 2)
                nl = wl - 2;
            if (nl == 0)
                return bld_instr_error(err, f, in, "empty flag name");
            in->flags = xrealloc(in->flags, (in->n_flags + 1) * sizeof *in->flags);
            struct bld_flag *fl = &in->flags[in->n_flags++];
            fl->name = xstrndup(w, nl);
            for (char *c = fl->name; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            fl->value = nl + 2 < wl ? xstrndup(w + nl + 1, wl - 2 - nl - 1) : NULL;
            rest += wl;
            while (*rest == ' ' || *rest == '\t')
                rest++;
        }
    }
    in->args = xstrdup(rest);
    if (in_list(json_instrs, in->cmd) && in->args[0] == '[')
        in->json = bld_json_strv(in->args, &in->n_json);
    if (!strcmp(in->cmd, "shell") && !in->json)
        return bld_instr_error(err, f, in, "SHELL requires the arguments in JSON form");
    return 0;
}

int bld_parse(const char *path, const char *text, size_t len, struct bld_file **out,
              struct error *err)
{
    struct bld_file *f = xzalloc(sizeof *f);
    f->path = xstrdup(path);
    f->escape = '\\';

    /* physical lines */
    struct pline *lines = NULL;
    size_t n_lines = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (text + i)) : len - i;
        lines = xrealloc(lines, (n_lines + 1) * sizeof *lines);
        lines[n_lines].s = text + i;
        lines[n_lines].len = (l > 0 && text[i + l - 1] == '\r') ? l - 1 : l;
        n_lines++;
        i += l + 1;
    }

    size_t li = 0;
    bool seen_escape = false;
    /* Parser directives: only at the very top, stopping at the first line
     * that is not one (an unknown directive counts as a comment and ends
     * the directive block, as Docker does). */
    for (; li < n_lines; li++) {
        char *name = NULL, *value = NULL;
        if (!parse_directive(lines[li].s, lines[li].len, &name, &value))
            break;
        bool known = !strcmp(name, "escape") || !strcmp(name, "syntax") || !strcmp(name, "check");
        if (!strcmp(name, "escape")) {
            if (seen_escape || strlen(value) != 1 || (value[0] != '\\' && value[0] != '`')) {
                struct bld_instr fake = {.text = xstrndup(lines[li].s, lines[li].len),
                                         .line = (int)li + 1};
                if (seen_escape)
                    bld_instr_error(err, f, &fake, "only one escape parser directive can be used");
                else
                    bld_instr_error(err, f, &fake, "invalid escape token `%s`, want \\ or `", value);
                free(fake.text);
                free(name);
                free(value);
                free(lines);
                bld_file_free(f);
                return -1;
            }
            f->escape = value[0];
            seen_escape = true;
        }
        free(name);
        free(value);
        if (!known) {
            li++;
            break;
        }
    }

    int rc = 0;
    while (li < n_lines) {
        const char *s = lines[li].s;
        size_t l = lines[li].len;
        int start = (int)li + 1;
        li++;
        if (is_blank(s, l) || is_comment(s, l))
            continue;
        struct strbuf b = {0};
        while (l > 0 && isspace((unsigned char)*s))
            s++, l--;
        bool cont = trim_continuation(s, &l, f->escape);
        sb_add(&b, s, l);
        while (cont && li < n_lines) {
            s = lines[li].s;
            l = lines[li].len;
            li++;
            /* comments and empty lines inside a continuation are dropped */
            if (is_comment(s, l) || is_blank(s, l))
                continue;
            cont = trim_continuation(s, &l, f->escape);
            sb_add(&b, s, l);
        }
        if (!b.s || is_blank(b.s, b.len)) {
            free(b.s);
            continue;
        }
        f->instrs = xrealloc(f->instrs, (f->n_instrs + 1) * sizeof *f->instrs);
        struct bld_instr *in = &f->instrs[f->n_instrs++];
        memset(in, 0, sizeof *in);
        in->line = start;
        rc = split_instr(f, in, b.s, err);
        free(b.s);
        if (rc < 0)
            break;
    }
    free(lines);
    if (rc < 0) {
        bld_file_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

int bld_parse_file(const char *path, const char *display_name, struct bld_file **out,
                   struct error *err)
{
    cleanup_free char *buf = NULL;
    size_t len = 0;
    if (read_file_at(AT_FDCWD, path, &buf, &len, err) < 0)
        return -1;
    return bld_parse(display_name ? display_name : path, buf, len, out, err);
}
