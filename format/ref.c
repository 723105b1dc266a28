#include "format/ref.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: alnum runs joined by `.`, `_`, `__` or dashes. */
static bool valid_component(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_lower_alnum(c) || c == '-')
            continue;
        if (c == '.' || c == '_') {
            if (!is_lower_alnum(s[i + 1]) && !(c == '_' && s[i + 1] == '_'))
                return false;
            continue;
        }
        return false;
    }
    return true;
}

/* A registry host: letters (any case), digits, dots, dashes, optional :port. */
static bool valid_host(const char *s, size_t n)
{
    if (n == 0)
        return false;
    const char *colon = memchr(s, ':', n);
    size_t hn = colon ? (size_t)(colon - s) : n;
    if (hn == 0)
        return false;
    for (size_t i = 0; i < hn; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-'))
            return false;
    }
    if (colon) {
        if (colon + 1 == s + n)
            return false;
        for (const char *p = colon + 1; p < s + n; p++)
            if (*p < '0' || *p > '9')
                return false;
    }
    return true;
}

static bool valid_tag(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-')))
            return false;
    }
    return true;
}

static bool valid_name(const char *name)
{
    if (strlen(name) > 255)
        return false;
    const char *p = name;
    const char *slash = strchr(p, '/');
    /* The first component is a host when it has a dot or a port, or is localhost. */
    if (slash) {
        size_t n = (size_t)(slash - p);
        bool hostish = memchr(p, '.', n) || memchr(p, ':', n) ||
                       (n == 9 && !memcmp(p, "localhost", 9));
        if (hostish) {
            if (!valid_host(p, n))
                return false;
            p = slash + 1;
        }
    }
    for (;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!valid_component(p, n))
            return false;
        if (!end)
            return true;
        p = end + 1;
    }
}

int fmt_ref_parse(const char *s, struct fmt_ref *ref, struct error *err)
{
    memset(ref, 0, sizeof *ref);
    if (!s || !*s)
        return error_set(err, EINVAL, "empty image reference");
    char *copy = xstrdup(s);
    char *at = strchr(copy, '@');
    char *tag = NULL;
    if (at) {
        *at = '\0';
        if (!fmt_digest_is_valid(at + 1)) {
            free(copy);
            return error_set(err, EINVAL, "invalid digest in image reference `%s`", s);
        }
        ref->digest = xstrdup(at + 1);
    }
    char *last_slash = strrchr(copy, '/');
    char *colon = strrchr(last_slash ? last_slash : copy, ':');
    if (colon) {
        *colon = '\0';
        tag = colon + 1;
        if (!valid_tag(tag)) {
            free(copy);
            fmt_ref_clear(ref);
            return error_set(err, EINVAL, "invalid tag in image reference `%s`", s);
        }
    }
    const char *name = copy;
    if (!strncmp(name, "localhost/", 10))
        name += 10;
    if (!valid_name(name)) {
        free(copy);
        fmt_ref_clear(ref);
        return error_set(err, EINVAL,
                         "invalid image reference `%s` (names are lowercase letters, digits, "
                         "`.`, `_`, `-` and `/`)",
                         s);
    }
    ref->name = xstrdup(name);
    if (tag)
        ref->tag = xstrdup(tag);
    else if (!ref->digest)
        ref->tag = xstrdup("latest");
    free(copy);
    return 0;
}

void fmt_ref_clear(struct fmt_ref *ref)
{
    free(ref->name);
    free(ref->tag);
    free(ref->digest);
    memset(ref, 0, sizeof *ref);
}

char *fmt_ref_string(const struct fmt_ref *ref)
{
    if (ref->digest)
        return ref->tag ? xasprintf("%s:%s@%s", ref->name, ref->tag, ref->digest)
                        : xasprintf("%s@%s", ref->name, ref->digest);
    return xasprintf("%s:%s", ref->name, ref->tag);
}

char *fmt_ref_normalize(const char *s, struct error *err)
{
    struct fmt_ref r;
    if (fmt_ref_parse(s, &r, err) < 0)
        return NULL;
    char *out = fmt_ref_string(&r);
    fmt_ref_clear(&r);
    return out;
}
