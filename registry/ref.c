#include "registry/ref.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/digest.h"

static bool is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static bool component_is_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_alnum_lower(s[0]))
        return false;
    while (i < n) {
        while (i < n && is_alnum_lower(s[i]))
            i++;
        if (i == n)
            return true;
        size_t sep = i;
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i == n || !is_alnum_lower(s[i]) || i == sep)
            return false;
    }
    return true;
}

bool reg_repository_is_valid(const char *repo)
{
    size_t len = strlen(repo);
    if (len == 0 || len > 255)
        return false;
    const char *p = repo;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!component_is_valid(p, n))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

/* tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
bool reg_tag_is_valid(const char *tag)
{
    size_t n = strlen(tag);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        bool word = isalnum((unsigned char)c) || c == '_';
        if (!(word || (i > 0 && (c == '.' || c == '-'))))
            return false;
    }
    return true;
}

static bool host_is_valid(const char *h)
{
    if (!*h)
        return false;
    const char *colon = strrchr(h, ':');
    bool bracketed = h[0] == '[';
    if (bracketed) {
        const char *close = strchr(h, ']');
        if (!close)
            return false;
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] && close[1] != ':')
            return false;
    }
    size_t hostlen = colon ? (size_t)(colon - h) : strlen(h);
    if (hostlen == 0)
        return false;
    if (!bracketed)
        for (size_t i = 0; i < hostlen; i++)
            if (!(isalnum((unsigned char)h[i]) || h[i] == '.' || h[i] == '-'))
                return false;
    if (colon) {
        if (!colon[1] || strlen(colon + 1) > 5)
            return false;
        for (const char *p = colon + 1; *p; p++)
            if (!isdigit((unsigned char)*p))
                return false;
    }
    return true;
}

static char *lowercase(const char *s, size_t n)
{
    char *r = xstrndup(s, n);
    for (char *p = r; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}

static char *config_default_registry(void)
{
    cleanup_free char *path = NULL;
    const char *env = getenv("STRATA_REGISTRY_CONF");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    const char *candidates[3] = {0};
    cleanup_free char *user = NULL;
    if (env && *env) {
        candidates[0] = env;
    } else {
        if (xdg && xdg[0] == '/')
            user = xasprintf("%s/strata/registry.conf", xdg);
        else if (home && home[0] == '/')
            user = xasprintf("%s/.config/strata/registry.conf", home);
        candidates[0] = user;
        candidates[1] = "/etc/strata/registry.conf";
    }
    for (size_t i = 0; i < ARRAY_SIZE(candidates) && candidates[i]; i++) {
        cleanup_free char *buf = NULL;
        size_t len;
        struct error ignored = {0};
        if (read_file_at(AT_FDCWD, candidates[i], &buf, &len, &ignored) < 0)
            continue;
        /* lines of `key = value`; '#' starts a comment */
        for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            char *hash = strchr(line, '#');
            if (hash)
                *hash = '\0';
            char *eq = strchr(line, '=');
            if (!eq)
                continue;
            *eq = '\0';
            char *k = line, *v = eq + 1;
            while (isspace((unsigned char)*k))
                k++;
            for (char *e = k + strlen(k); e > k && isspace((unsigned char)e[-1]); e--)
                e[-1] = '\0';
            while (isspace((unsigned char)*v) || *v == '"')
                v++;
            for (char *e = v + strlen(v);
                 e > v && (isspace((unsigned char)e[-1]) || e[-1] == '"'); e--)
                e[-1] = '\0';
            if (!strcmp(k, "default-registry") && *v)
                return xstrdup(v);
        }
    }
    return NULL;
}

char *reg_registry_normalize(const char *s, struct error *err)
{
    if (!strncmp(s, "https://", 8))
        s += 8;
    else if (!strncmp(s, "http://", 7))
        s += 7;
    size_t n = strcspn(s, "/");
    /* "host/v2/" or "host/" as users paste them: only the host counts */
    char *h = lowercase(s, n);
    if (!host_is_valid(h)) {
        error_set(err, EINVAL, "`%s` is not a registry host[:port]", s);
        free(h);
        return NULL;
    }
    if (!strcmp(h, "index.docker.io") || !strcmp(h, "registry-1.docker.io")) {
        free(h);
        h = xstrdup(REG_DOCKER_HUB);
    }
    return h;
}

char *reg_default_registry(void)
{
    const char *env = getenv("STRATA_REGISTRY");
    char *conf = NULL;
    const char *v = env && *env ? env : (conf = config_default_registry());
    if (v) {
        struct error ignored = {0};
        char *r = reg_registry_normalize(v, &ignored);
        free(conf);
        if (r)
            return r;
    }
    return xstrdup(REG_DOCKER_HUB);
}

const char *reg_api_host(const char *registry)
{
    return strcmp(registry, REG_DOCKER_HUB) ? registry : "registry-1.docker.io";
}

void reg_ref_clear(struct reg_ref *ref)
{
    free(ref->registry);
    free(ref->repository);
    free(ref->tag);
    free(ref->digest);
    *ref = (struct reg_ref){0};
}

int reg_ref_parse(const char *s, struct reg_ref *ref, struct error *err)
{
    *ref = (struct reg_ref){0};
    if (!*s)
        return error_set(err, EINVAL, "empty image reference");
    cleanup_free char *work = xstrdup(s);

    char *at = strchr(work, '@');
    if (at) {
        *at = '\0';
        if (!fmt_digest_is_valid(at + 1))
            return error_set(err, EINVAL, "`%s`: invalid digest `%s`", s, at + 1);
        ref->digest = xstrdup(at + 1);
    }
    /* the tag is after the last ':' only when no '/' follows it, so that
     * "host:5000/repo" keeps its port */
    char *colon = strrchr(work, ':');
    if (colon && !strchr(colon, '/')) {
        *colon = '\0';
        if (!reg_tag_is_valid(colon + 1)) {
            reg_ref_clear(ref);
            return error_set(err, EINVAL, "`%s`: invalid tag `%s`", s, colon + 1);
        }
        ref->tag = xstrdup(colon + 1);
    }

    char *name = work;
    char *slash = strchr(name, '/');
    if (slash && (memchr(name, '.', (size_t)(slash - name)) ||
                  memchr(name, ':', (size_t)(slash - name)) ||
                  (slash - name == 9 && !strncmp(name, "localhost", 9)))) {
        *slash = '\0';
        struct error e2 = {0};
        ref->registry = reg_registry_normalize(name, &e2);
        if (!ref->registry) {
            reg_ref_clear(ref);
            return error_set(err, EINVAL, "`%s`: invalid registry `%s`", s, name);
        }
        name = slash + 1;
    } else {
        ref->registry = reg_default_registry();
    }
    if (!strcmp(ref->registry, REG_DOCKER_HUB) && !strchr(name, '/'))
        ref->repository = xasprintf("library/%s", name);
    else
        ref->repository = xstrdup(name);

    if (!reg_repository_is_valid(ref->repository)) {
        bool upper = false;
        for (const char *p = name; *p; p++)
            upper |= isupper((unsigned char)*p) != 0;
        int r = error_set(err, EINVAL, "`%s`: invalid repository name `%s`%s", s, name,
                          upper ? " (must be lowercase)" : "");
        reg_ref_clear(ref);
        return r;
    }
    if (!ref->tag && !ref->digest)
        ref->tag = xstrdup("latest");
    return 0;
}

char *reg_ref_name(const struct reg_ref *ref)
{
    return xasprintf("%s/%s", ref->registry, ref->repository);
}

char *reg_ref_format(const struct reg_ref *ref)
{
    return xasprintf("%s/%s%s%s%s%s", ref->registry, ref->repository, ref->tag ? ":" : "",
                     ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                     ref->digest ? ref->digest : "");
}
