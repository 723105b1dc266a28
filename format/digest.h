/* Content digests ("sha256:<64 hex>") through OpenSSL EVP. */
#ifndef STRATA_FORMAT_DIGEST_H
#define STRATA_FORMAT_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define FMT_DIGEST_MAX 72 /* "sha256:" + 64 hex + NUL, rounded */

struct fmt_digester;

struct fmt_digester *fmt_digester_new(void);
void fmt_digester_update(struct fmt_digester *d, const void *buf, size_t len);
/* Writes "sha256:<hex>"; the digester may be reused after fmt_digester_reset. */
void fmt_digester_final(struct fmt_digester *d, char out[FMT_DIGEST_MAX]);
void fmt_digester_reset(struct fmt_digester *d);
void fmt_digester_free(struct fmt_digester *d);

void fmt_digest_buffer(const void *buf, size_t len, char out[FMT_DIGEST_MAX]);
/* "sha256:" followed by exactly 64 lowercase hex digits. */
bool fmt_digest_is_valid(const char *digest);
/* The hex part of a valid digest (the file name under blobs/sha256/). */
const char *fmt_digest_hex(const char *digest);

#endif
