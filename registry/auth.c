#include "registry/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"

char *reg_base64_encode(const void *buf, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
    return out;
}

char *reg_base64_decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    if (n % 4)
        return NULL;
    unsigned char *out = xmalloc(n / 4 * 3 + 1);
    int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (r < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the '=' padding as zero bytes */
    size_t len = (size_t)r;
    for (size_t i = n; i > 0 && s[i - 1] == '='; i--)
        len--;
    out[len] = '\0';
    if (out_len)
        *out_len = len;
    return (char *)out;
}

char *reg_auth_file_path(struct error *err)
{
    const char *env = getenv("REGISTRY_AUTH_FILE");
    if (env && *env)
        return xstrdup(env);
    const char *run = getenv("XDG_RUNTIME_DIR");
    if (run && run[0] == '/')
        return xasprintf("%s/containers/auth.json", run);
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/strata/auth.json", xdg);
    const char *home = getenv("HOME");
    if (home && home[0] == '/')
        return xasprintf("%s/.config/strata/auth.json", home);
    error_set(err, ENOENT, "cannot place auth.json: neither $XDG_RUNTIME_DIR nor $HOME is set");
    return NULL;
}

/* The parsed file, or a fresh {"auths":{}} when it does not exist. */
static json_t *load(const char *path, struct error *err)
{
    cleanup_free char *buf = NULL;
    size_t len = 0;
    if (read_file_at(AT_FDCWD, path, &buf, &len, err) < 0) {
        if (err->code == ENOENT) {
            error_clear(err);
            json_t *j = json_object();
            json_object_set_new(j, "auths", json_object());
            return j;
        }
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(buf, len, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        error_set(err, EINVAL, "parse `%s`: %s", path, j ? "not an object" : je.text);
        return NULL;
    }
    json_t *auths = json_object_get(j, "auths");
    if (!auths) {
        json_object_set_new(j, "auths", json_object());
    } else if (!json_is_object(auths)) {
        json_decref(j);
        error_set(err, EINVAL, "parse `%s`: `auths` is not an object", path);
        return NULL;
    }
    return j;
}

/* Takes PATH.lock, serialising read-modify-write against a concurrent
 * login or logout, and loads the file; *lock_fd holds the lock. */
static json_t *load_locked(const char *path, int *lock_fd, struct error *err)
{
    cleanup_free char *lock = xasprintf("%s.lock", path);
    *lock_fd = lock_file_at(AT_FDCWD, lock, true, err);
    if (*lock_fd < 0)
        return NULL;
    return load(path, err);
}

static int save(const char *path, json_t *j, struct error *err)
{
    cleanup_free char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir_p_at(AT_FDCWD, dir, 0700, err) < 0)
            return error_prefix(err, "save credentials");
    }
    cleanup_free char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!text)
        return error_set(err, ENOMEM, "serialise `%s`", path);
    size_t len = strlen(text);
    cleanup_free char *with_nl = xasprintf("%s\n", text);
    if (atomic_write_at(AT_FDCWD, path, with_nl, len + 1, 0600, err) < 0)
        return error_prefix(err, "save credentials");
    return 0;
}

/* podman accepts "https://host" and "host/path" keys; match on host. */
static json_t *find_entry(json_t *auths, const char *registry, const char **key_out)
{
    const char *key;
    json_t *v;
    json_object_foreach(auths, key, v)
    {
        const char *k = key;
        if (!strncmp(k, "https://", 8))
            k += 8;
        else if (!strncmp(k, "http://", 7))
            k += 7;
        size_t n = strcspn(k, "/");
        if (n == strlen(registry) && !strncmp(k, registry, n)) {
            if (key_out)
                *key_out = key;
            return v;
        }
    }
    return NULL;
}

int reg_auth_get(const char *path, const char *registry, char **user, char **password,
                 struct error *err)
{
    json_auto_t *j = load(path, err);
    if (!j)
        return -1;
    json_t *e = find_entry(json_object_get(j, "auths"), registry, NULL);
    if (!e)
        return 0;
    const char *b64 = json_string_value(json_object_get(e, "auth"));
    if (!b64)
        return 0;
    cleanup_free char *plain = reg_base64_decode(b64, NULL);
    char *colon = plain ? strchr(plain, ':') : NULL;
    if (!colon)
        return error_set(err, EINVAL, "`%s`: the entry for `%s` is not base64(user:password)",
                         path, registry);
    *colon = '\0';
    *user = xstrdup(plain);
    *password = xstrdup(colon + 1);
    return 1;
}

int reg_auth_set(const char *path, const char *registry, const char *user,
                 const char *password, struct error *err)
{
    cleanup_free char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir_p_at(AT_FDCWD, dir, 0700, err) < 0)
            return error_prefix(err, "save credentials");
    }
    cleanup_close int lk = -1;
    json_auto_t *j = load_locked(path, &lk, err);
    if (!j)
        return -1;
    json_t *auths = json_object_get(j, "auths");
    const char *old_key = NULL;
    if (find_entry(auths, registry, &old_key) && strcmp(old_key, registry))
        json_object_del(auths, old_key);
    cleanup_free char *pair = xasprintf("%s:%s", user, password);
    cleanup_free char *b64 = reg_base64_encode(pair, strlen(pair));
    json_t *entry = json_object();
    json_object_set_new(entry, "auth", json_string(b64));
    json_object_set_new(auths, registry, entry);
    return save(path, j, err);
}

int reg_auth_remove(const char *path, const char *registry, struct error *err)
{
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    cleanup_close int lk = -1;
    json_auto_t *j = load_locked(path, &lk, err);
    if (!j)
        return -1;
    json_t *auths = json_object_get(j, "auths");
    const char *key = NULL;
    if (!find_entry(auths, registry, &key))
        return 0;
    json_object_del(auths, key);
    if (save(path, j, err) < 0)
        return -1;
    return 1;
}
