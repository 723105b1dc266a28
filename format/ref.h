/* Image references: NAME[:TAG] or NAME@sha256:HEX.
 *
 * Normalisation (like podman's short names, minus the registry search):
 *   - a missing tag means `latest`: `busybox` == `busybox:latest`;
 *   - a leading `localhost/` is dropped: `localhost/busybox` == `busybox`
 *     (podman writes local images as localhost/NAME; strata stores NAME);
 *   - anything else (`docker.io/library/busybox`, `quay.io/x/y`) is kept as
 *     written: strata never guesses a registry.
 * index.json stores the normalised `NAME:TAG` in the
 * org.opencontainers.image.ref.name annotation, which is also what
 * `skopeo ... oci:STORE:NAME:TAG` looks for. */
#ifndef STRATA_FORMAT_REF_H
#define STRATA_FORMAT_REF_H

#include "common/error.h"
#include "format/digest.h"

struct fmt_ref {
    char *name;   /* repository, normalised */
    char *tag;    /* never NULL when digest is NULL */
    char *digest; /* NAME@sha256:..., else NULL */
};

/* Parses and validates (lowercase name components of [a-z0-9._-] separated by
 * `/`, an optional registry host[:port] first; tags [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}). */
int fmt_ref_parse(const char *s, struct fmt_ref *ref, struct error *err);
void fmt_ref_clear(struct fmt_ref *ref);
/* "name:tag" or "name@digest", malloc'd. */
char *fmt_ref_string(const struct fmt_ref *ref);
/* Parses and returns the normalised string in one go; NULL (err filled) if invalid. */
char *fmt_ref_normalize(const char *s, struct error *err);

#endif
