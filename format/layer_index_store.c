/* Layer indexes of layers in the store: from the cache when there, else
 * streamed once from the verified blob and cached. */
#include <errno.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/layer_index.h"

struct blob_src {
    struct fmt_blob_reader *r;
    struct error *err;
    char buf[128 * 1024];
    bool failed;
};

static la_ssize_t blob_read_cb(struct archive *a, void *ctx, const void **out)
{
    struct blob_src *s = ctx;
    ssize_t n = fmt_blob_reader_read(s->r, s->buf, sizeof s->buf, s->err);
    if (n < 0) {
        s->failed = true;
        archive_set_error(a, EIO, "%s", s->err->msg);
        return -1;
    }
    *out = s->buf;
    return n;
}

static void cleanup_archivep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}

static int index_blob(struct fmt_store *s, const char *digest, bool digests,
                      struct fmt_layer_index *out, struct error *err)
{
    struct blob_src src = {.err = err};
    if (fmt_blob_reader_open(s, digest, &src.r, err) < 0)
        return -1;
    cleanup_free char *what = xasprintf("layer `%s`", digest);
    int ret;
    {
        __attribute__((cleanup(cleanup_archivep))) struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_zstd(a);
        archive_read_support_filter_none(a);
        if (archive_read_open(a, &src, NULL, blob_read_cb, NULL) != ARCHIVE_OK) {
            ret = src.failed ? -1
                             : error_set(err, EIO, "open %s: %s", what, archive_error_string(a));
        } else {
            ret = fmt_layer_index_read_archive(a, digests, what, out, err);
        }
    }
    /* libarchive stops at the end-of-archive blocks; read what is left so
     * the blob reader sees EOF and checks the digest: an index is only as
     * good as the bytes it came from. */
    while (ret == 0) {
        ssize_t n = fmt_blob_reader_read(src.r, src.buf, sizeof src.buf, err);
        if (n == 0)
            break;
        if (n < 0) {
            fmt_layer_index_clear(out);
            ret = -1;
        }
    }
    fmt_blob_reader_close(src.r);
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
