#include "format/digest.h"

/* OpenSSL's SHA256_* functions, not EVP: the first EVP digest of a process
 * loads openssl.cnf and initialises the provider store, milliseconds that
 * every `strata run` paid to verify two small JSON blobs.  SHA256_* run the
 * same assembly without providers; they are deprecated in 3.0 but kept, and
 * EVP is used where they are compiled out. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef OPENSSL_NO_DEPRECATED_3_0
#define FMT_SHA256_LOW_LEVEL 1
#endif

struct fmt_digester {
#ifdef FMT_SHA256_LOW_LEVEL
    SHA256_CTX ctx;
#else
    EVP_MD_CTX *ctx;
#endif
};

static void digester_abort(const char *what)
{
    /* these only fail on allocation failure or a broken OpenSSL install */
    fprintf(stderr, "strata: openssl %s failed\n", what);
    abort();
}

struct fmt_digester *fmt_digester_new(void)
{
    struct fmt_digester *d = malloc(sizeof *d);
    if (!d)
        digester_abort("digest context");
#ifndef FMT_SHA256_LOW_LEVEL
    if (!(d->ctx = EVP_MD_CTX_new()))
        digester_abort("EVP_MD_CTX_new");
#endif
    fmt_digester_reset(d);
    return d;
}

void fmt_digester_reset(struct fmt_digester *d)
{
#ifdef FMT_SHA256_LOW_LEVEL
    if (SHA256_Init(&d->ctx) != 1)
        digester_abort("SHA256_Init");
#else
    if (EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1)
        digester_abort("EVP_DigestInit_ex");
#endif
}

void fmt_digester_update(struct fmt_digester *d, const void *buf, size_t len)
{
#ifdef FMT_SHA256_LOW_LEVEL
    if (len && SHA256_Update(&d->ctx, buf, len) != 1)
        digester_abort("SHA256_Update");
#else
    if (len && EVP_DigestUpdate(d->ctx, buf, len) != 1)
        digester_abort("EVP_DigestUpdate");
#endif
}

void fmt_digester_final(struct fmt_digester *d, char out[FMT_DIGEST_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = SHA256_DIGEST_LENGTH;
#ifdef FMT_SHA256_LOW_LEVEL
    if (SHA256_Final(md, &d->ctx) != 1)
        digester_abort("SHA256_Final");
#else
    if (EVP_DigestFinal_ex(d->ctx, md, &n) != 1)
        digester_abort("EVP_DigestFinal_ex");
#endif
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < n; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[7 + 2 * n] = '\0';
}

void fmt_digester_free(struct fmt_digester *d)
{
    if (!d)
        return;
#ifndef FMT_SHA256_LOW_LEVEL
    EVP_MD_CTX_free(d->ctx);
#endif
    free(d);
}

void fmt_digest_buffer(const void *buf, size_t len, char out[FMT_DIGEST_MAX])
{
    struct fmt_digester *d = fmt_digester_new();
    fmt_digester_update(d, buf, len);
    fmt_digester_final(d, out);
    fmt_digester_free(d);
}

bool fmt_digest_is_valid(const char *digest)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0)
        return false;
    const char *h = digest + 7;
    size_t i;
    for (i = 0; h[i]; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    return i == 64;
}

const char *fmt_digest_hex(const char *digest)
{
    return digest + 7;
}
