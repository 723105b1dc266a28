/* Layer indexes of layers in the store: from the cache when there, else
 * streamed once from the verified blob and cached. */
#include <errno.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/compress.h"
#include "format/layer_index.h"

/* blob reader -> decompressor (gzip/zstd/none by content) -> libarchive;
 * the uncompressed bytes are counted here, to the end of the stream, since
 * libarchive stops at the tar's end-of-archive blocks. */
struct blob_src {
    struct fmt_blob_reader *r;
    struct fmt_decompressor *d;
    struct error *err;
    int64_t bytes;
    bool failed;
    char buf[128 * 1024];
};

static ssize_t blob_source(void *ctx, void *buf, size_t len, struct error *err)
{
    return fmt_blob_reader_read(ctx, buf, len, err);
}

static la_ssize_t archive_read_cb(struct archive *a, void *ctx, const void **out)
{
    struct blob_src *s = ctx;
    ssize_t n = fmt_decompressor_read(s->d, s->buf, sizeof s->buf, s->err);
    if (n < 0) {
        s->failed = true;
        archive_set_error(a, EIO, "%s", s->err->msg);
        return -1;
    }
    s->bytes += n;
    *out = s->buf;
    return n;
}

static void cleanup_archivep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}

static int read_index(struct blob_src *src, const char *what, bool digests,
                      struct fmt_layer_index *out, struct error *err)
{
    __attribute__((cleanup(cleanup_archivep))) struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_none(a);
    if (archive_read_open(a, src, NULL, archive_read_cb, NULL) != ARCHIVE_OK) {
        if (src->failed)
            return -1;
        return error_set(err, EIO, "open %s: %s", what, archive_error_string(a));
    }
    if (fmt_layer_index_read_archive(a, digests, what, out, err) < 0) {
        if (src->failed)
            *err = *src->err; /* the stream's error says more than libarchive's */
        return -1;
    }
    /* drain: the blob reader checks the digest at EOF, and an index is only
     * as good as the bytes it came from */
    ssize_t n;
    while ((n = fmt_decompressor_read(src->d, src->buf, sizeof src->buf, err)) > 0)
        src->bytes += n;
    if (n < 0) {
        fmt_layer_index_clear(out);
        return -1;
    }
    out->tar_size = src->bytes;
    return 0;
}

static int index_blob(struct fmt_store *s, const char *digest, bool digests,
                      struct fmt_layer_index *out, struct error *err)
{
    struct blob_src *src = xzalloc(sizeof *src);
    src->err = err;
    cleanup_free char *what = xasprintf("layer `%s`", digest);
    int ret = fmt_blob_reader_open(s, digest, &src->r, err);
    if (ret == 0)
        ret = fmt_decompressor_new(blob_source, src->r, what, &src->d, err);
    if (ret == 0)
        ret = read_index(src, what, digests, out, err);
    fmt_decompressor_free(src->d);
    fmt_blob_reader_close(src->r);
    free(src);
    return ret;
}

int fmt_layer_index_load(struct fmt_store *s, const struct fmt_descriptor *layer, bool digests,
                         struct fmt_layer_index *out, struct error *err)
{
    const char *id = layer->diff_id && fmt_digest_is_valid(layer->diff_id) ? layer->diff_id
                                                                            : NULL;
    if (id) {
        int r = fmt_layer_index_cache_load(s->root_fd, id, digests, out, err);
        if (r != 0)
            return r < 0 ? error_prefix(err, "layer index of `%s`", id) : 0;
    }
    if (index_blob(s, layer->digest, digests, out, err) < 0)
        return -1;
    if (id) {
        /* a failed cache write costs time next run, not correctness */
        struct error werr = {0};
        (void)fmt_layer_index_cache_store(s->root_fd, id, out, &werr);
    }
    return 0;
}
