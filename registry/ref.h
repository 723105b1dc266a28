/* Image references as Docker parses them: [REGISTRY/]REPO[:TAG][@DIGEST].
 * The first path component is a registry when it contains '.' or ':' or is
 * `localhost`; otherwise the default registry applies ($STRATA_REGISTRY,
 * then the config file, then docker.io).  On docker.io a one-component
 * name gets `library/` in front, as `docker pull busybox` does. */
#ifndef STRATA_REGISTRY_REF_H
#define STRATA_REGISTRY_REF_H

#include <stdbool.h>

#include "common/error.h"

#define REG_DOCKER_HUB "docker.io"

struct reg_ref {
    char *registry;   /* "docker.io", "127.0.0.1:5000" (lowercase host) */
    char *repository; /* "library/busybox" */
    char *tag;        /* NULL only when a digest is given without a tag */
    char *digest;     /* "sha256:<hex>" or NULL */
};

/* Parses s.  A reference with neither tag nor digest gets tag "latest". */
int reg_ref_parse(const char *s, struct reg_ref *ref, struct error *err);
void reg_ref_clear(struct reg_ref *ref);
/* "REGISTRY/REPO:TAG", "REGISTRY/REPO@DIGEST" or both (malloc'd). */
char *reg_ref_format(const struct reg_ref *ref);
/* "REGISTRY/REPO" (malloc'd). */
char *reg_ref_name(const struct reg_ref *ref);

/* The registry used for names without one: $STRATA_REGISTRY, else
 * `default-registry = HOST` in the config file ($STRATA_REGISTRY_CONF, else
 * $XDG_CONFIG_HOME/strata/registry.conf or ~/.config/strata/registry.conf,
 * else /etc/strata/registry.conf), else docker.io.  malloc'd. */
char *reg_default_registry(void);
/* The host to talk HTTP to: registry-1.docker.io for docker.io. */
const char *reg_api_host(const char *registry);
/* Normalises a registry name given on its own (login, logout): lowercase,
 * scheme and trailing '/' dropped, index.docker.io → docker.io.  malloc'd,
 * NULL (with err) when it is not a host[:port]. */
char *reg_registry_normalize(const char *s, struct error *err);

/* Syntax checks from the distribution spec's grammar. */
bool reg_repository_is_valid(const char *repo);
bool reg_tag_is_valid(const char *tag);

#endif
