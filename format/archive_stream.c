/* Reading a layer blob decompressed: libarchive's filters (gzip, zstd, ...)
 * over the verified blob reader, with the "raw" format so the bytes come
 * out as one stream. */
#include "format/archive_stream.h"
#include "format/archive.h"

#include "format/libarchive.h"
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/xalloc.h"
#include "format/blob.h"

struct fmt_unpacked_stream {
    struct archive *a;
    struct fmt_blob_reader *r;
    char digest[FMT_DIGEST_MAX];
    char buf[1 << 16];
    struct error inner; /* the blob reader's error, which libarchive cannot carry */
    bool failed;
};

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **out)
{
    struct fmt_unpacked_stream *u = ctx;
    ssize_t n = fmt_blob_reader_read(u->r, u->buf, sizeof u->buf, &u->inner);
    if (n < 0) {
        u->failed = true;
        archive_set_error(a, EILSEQ, "%s", u->inner.msg);
        return -1;
    }
    *out = u->buf;
    return n;
}

int fmt_unpacked_stream_open(struct fmt_store *s, const char *digest,
                             struct fmt_unpacked_stream **out, struct error *err)
{
    struct fmt_unpacked_stream *u = xzalloc(sizeof *u);
    snprintf(u->digest, sizeof u->digest, "%s", digest);
    if (fmt_blob_reader_open(s, digest, &u->r, err) < 0) {
        free(u);
        return -1;
    }
    u->a = archive_read_new();
    archive_read_support_filter_all(u->a);
    archive_read_support_format_raw(u->a);
    struct archive_entry *e;
    if (archive_read_open(u->a, u, NULL, read_cb, NULL) != ARCHIVE_OK ||
        archive_read_next_header(u->a, &e) != ARCHIVE_OK) {
        if (u->failed)
            error_set(err, EILSEQ, "%s", u->inner.msg);
        else
            error_set(err, EINVAL, "layer `%s`: %s", digest, archive_error_string(u->a));
        fmt_unpacked_stream_close(u);
        return -1;
    }
    *out = u;
    return 0;
}

ssize_t fmt_unpacked_stream_read(struct fmt_unpacked_stream *u, void *buf, size_t len,
                                 struct error *err)
{
    la_ssize_t n = archive_read_data(u->a, buf, len);
    if (n < 0) {
        if (u->failed)
            return error_set(err, EILSEQ, "%s", u->inner.msg);
        return error_set(err, EINVAL, "layer `%s`: %s", u->digest, archive_error_string(u->a));
    }
    if (n == 0 && !u->failed) {
        /* libarchive may stop before the blob's end (trailing padding);
         * drain it so the digest is checked over every byte. */
        char tmp[4096];
        ssize_t m;
        while ((m = fmt_blob_reader_read(u->r, tmp, sizeof tmp, err)) > 0)
            ;
        if (m < 0)
            return -1;
    }
    return n;
}

void fmt_unpacked_stream_close(struct fmt_unpacked_stream *u)
{
    if (!u)
        return;
    if (u->a)
        archive_read_free(u->a);
    fmt_blob_reader_close(u->r);
    free(u);
}

int fmt_layer_blob_diff_id(struct fmt_store *s, const char *digest, char diff_id[FMT_DIGEST_MAX],
                           int64_t *uncompressed_size, struct error *err)
{
    struct fmt_unpacked_stream *u;
    if (fmt_unpacked_stream_open(s, digest, &u, err) < 0)
        return -1;
    struct fmt_digester *d = fmt_digester_new();
    char *buf = xmalloc(1 << 16);
    int64_t total = 0;
    ssize_t n;
    while ((n = fmt_unpacked_stream_read(u, buf, 1 << 16, err)) > 0) {
        fmt_digester_update(d, buf, (size_t)n);
        total += n;
    }
    free(buf);
    fmt_unpacked_stream_close(u);
    if (n == 0) {
        fmt_digester_final(d, diff_id);
        if (uncompressed_size)
            *uncompressed_size = total;
    }
    fmt_digester_free(d);
    return n < 0 ? -1 : 0;
}
