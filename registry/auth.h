/* Registry credentials in an auth.json as podman and skopeo keep them:
 *   {"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}
 * The file is found at $REGISTRY_AUTH_FILE, else
 * $XDG_RUNTIME_DIR/containers/auth.json (podman's, so a `podman login` is
 * seen), else strata's own $XDG_CONFIG_HOME/strata/auth.json
 * (~/.config/strata/auth.json).  Writes are atomic and mode 0600; unknown
 * keys and other registries' entries are kept as they were. */
#ifndef STRATA_REGISTRY_AUTH_H
#define STRATA_REGISTRY_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* The auth file path for this user (malloc'd), or NULL with err set. */
char *reg_auth_file_path(struct error *err);

/* Looks up registry in the file.  Returns 1 and fills *user / *password
 * (malloc'd) when found, 0 when there is no entry (or no file), <0 on a
 * damaged file. */
int reg_auth_get(const char *path, const char *registry, char **user, char **password,
                 struct error *err);
/* Adds or replaces the entry for registry. */
int reg_auth_set(const char *path, const char *registry, const char *user,
                 const char *password, struct error *err);
/* Removes the entry; returns 1 if there was one, 0 if not. */
int reg_auth_remove(const char *path, const char *registry, struct error *err);

/* base64 (OpenSSL) helpers; results are malloc'd and NUL-terminated. */
char *reg_base64_encode(const void *buf, size_t len);
/* NULL when s is not valid base64. */
char *reg_base64_decode(const char *s, size_t *out_len);

#endif
