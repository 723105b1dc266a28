#include "builder/ignore.h"

#include <errno.h>
#include <fnmatch.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"

struct pattern {
    char **segs; /* path elements; "**" is the only multi-element one */
    size_t n;
    bool exclusion; /* a `!` pattern: re-includes */
};

struct bld_ignore {
    struct pattern *p;
    size_t n;
    bool has_exceptions;
};

/* Splits a cleaned path into elements, dropping "" and ".", folding "..". */
static char **split_clean(const char *path, size_t *n)
{
    char **v = xcalloc(1, sizeof *v);
    size_t count = 0;
    cleanup_free char *dup = xstrdup(path);
    char *save = NULL;
    for (char *tok = strtok_r(dup, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (!strcmp(tok, "."))
            continue;
        if (!strcmp(tok, "..")) {
            if (count > 0) {
                free(v[--count]);
                v[count] = NULL;
            }
            continue;
        }
        v = xrealloc(v, (count + 2) * sizeof *v);
        v[count++] = xstrdup(tok);
        v[count] = NULL;
    }
    *n = count;
    return v;
}

struct bld_ignore *bld_ignore_parse(const char *text)
{
    struct bld_ignore *ig = xzalloc(sizeof *ig);
    cleanup_free char *dup = xstrdup(text ? text : "");
    char *save = NULL;
    for (char *line = strtok_r(dup, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
            line[--l] = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line || *line == '#')
            continue;
        bool excl = false;
        if (*line == '!') {
            excl = true;
            line++;
            while (*line == ' ' || *line == '\t')
                line++;
        }
        size_t n;
        char **segs = split_clean(line, &n);
        if (n == 0) {
            strv_free(segs);
            continue;
        }
        ig->p = xrealloc(ig->p, (ig->n + 1) * sizeof *ig->p);
        ig->p[ig->n++] = (struct pattern){.segs = segs, .n = n, .exclusion = excl};
        if (excl)
            ig->has_exceptions = true;
    }
    return ig;
}

int bld_ignore_load(int ctx_fd, struct bld_ignore **out, struct error *err)
{
    static const char *const names[] = {".containerignore", ".dockerignore"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        cleanup_free char *buf = NULL;
        size_t len;
        if (!path_exists_at(ctx_fd, names[i]))
            continue;
        if (read_file_at(ctx_fd, names[i], &buf, &len, err) < 0)
            return -1;
        *out = bld_ignore_parse(buf);
        return 0;
    }
    *out = bld_ignore_parse(NULL);
    return 0;
}

void bld_ignore_free(struct bld_ignore *ig)
{
    if (!ig)
        return;
    for (size_t i = 0; i < ig->n; i++)
        strv_free(ig->p[i].segs);
    free(ig->p);
    free(ig);
}

/* Do pattern elements [pi..] match path elements [si..] exactly (all of
 * them)?  `**` takes zero or more elements. */
static bool match_segs(char **p, size_t pn, char **s, size_t sn)
{
    if (pn == 0)
        return sn == 0;
    if (!strcmp(p[0], "**")) {
        for (size_t k = 0; k <= sn; k++)
            if (match_segs(p + 1, pn - 1, s + k, sn - k))
                return true;
        return false;
    }
    if (sn == 0)
        return false;
    if (fnmatch(p[0], s[0], 0) != 0)
        return false;
    return match_segs(p + 1, pn - 1, s + 1, sn - 1);
}

/* The pattern matches the path or one of its parent directories. */
static bool pattern_matches(const struct pattern *pt, char **s, size_t sn)
{
    for (size_t k = 1; k <= sn; k++)
        if (match_segs(pt->segs, pt->n, s, k))
            return true;
    return false;
}

bool bld_ignore_excluded(const struct bld_ignore *ig, const char *relpath)
{
    if (!ig || ig->n == 0)
        return false;
    size_t sn;
    char **s = split_clean(relpath, &sn);
    bool excluded = false;
    if (sn > 0) {
        for (size_t i = 0; i < ig->n; i++)
            if (pattern_matches(&ig->p[i], s, sn))
                excluded = !ig->p[i].exclusion;
    }
    strv_free(s);
    return excluded;
}

bool bld_ignore_has_exceptions(const struct bld_ignore *ig)
{
    return ig && ig->has_exceptions;
}
