#include "format/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fmt_digester {
    EVP_MD_CTX *ctx;
};

static void digester_abort(const char *what)
{
    /* EVP only fails on allocation failure or a broken OpenSSL install. */
    fprintf(stderr, "strata: openssl %s failed\n", what);
    abort();
}

struct fmt_digester *fmt_digester_new(void)
{
    struct fmt_digester *d = malloc(sizeof *d);
    if (!d || !(d->ctx = EVP_MD_CTX_new()))
        digester_abort("EVP_MD_CTX_new");
    fmt_digester_reset(d);
    return d;
}

void fmt_digester_reset(struct fmt_digester *d)
{
    if (EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1)
        digester_abort("EVP_DigestInit_ex");
}

void fmt_digester_update(struct fmt_digester *d, const void *buf, size_t len)
{
    if (len && EVP_DigestUpdate(d->ctx, buf, len) != 1)
        digester_abort("EVP_DigestUpdate");
}

void fmt_digester_final(struct fmt_digester *d, char out[FMT_DIGEST_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(d->ctx, md, &n) != 1)
        digester_abort("EVP_DigestFinal_ex");
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
    EVP_MD_CTX_free(d->ctx);
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
