/* Pulling an image: the manifest (through an index when the tag names
 * several platforms), then the config and the layers, several at once.
 * Every byte goes through a store blob writer that checks the digest the
 * manifest promised before it publishes the blob, so nothing unverified
 * ever enters the store.  Blobs already in the store (verified when they
 * were written) are not fetched again, which is how an interrupted pull
 * resumes; a connection dropped mid-blob is resumed with a Range request.
 * The manifest is stored last, after everything it names. */
#ifndef STRATA_REGISTRY_PULL_H
#define STRATA_REGISTRY_PULL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "format/digest.h"
#include "format/store.h"
#include "registry/client.h"
#include "registry/ref.h"

/* "linux/amd64" on x86-64, the host's GOARCH-style name elsewhere. */
const char *reg_default_platform(void);

struct reg_pull_result {
    char digest[FMT_DIGEST_MAX]; /* the image manifest stored */
    char *media_type;            /* its media type */
    int64_t size;
    char index_digest[FMT_DIGEST_MAX]; /* the index it came from, or "" */
    size_t blobs_fetched;        /* config + layers downloaded */
    size_t blobs_present;        /* already in the store */
    int64_t bytes_fetched;
};
void reg_pull_result_clear(struct reg_pull_result *r);

/* platform: "os/arch[/variant]" (NULL: reg_default_platform()). */
int reg_pull(struct reg_client *c, struct fmt_store *s, const struct reg_ref *ref,
             const char *platform, struct reg_pull_result *res, struct error *err);

/* The manifest descriptor the registry has for ref (GET, verified against
 * ref->digest when there is one); for `strata pull --all-tags` and tests. */
int reg_fetch_manifest(struct reg_conn *conn, const char *repository, const char *reference,
                       const char *expected_digest, char **data, size_t *len,
                       char **media_type, char digest[FMT_DIGEST_MAX], struct error *err);

#endif
