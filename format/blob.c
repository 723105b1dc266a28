#include "format/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"

/* Temp files are dot-named in blobs/sha256 itself so the rename that
 * publishes a blob never crosses a filesystem; fsck and prune skip them. */
#define BLOB_TEMP_BASE ".upload"

struct fmt_blob_writer {
    struct fmt_store *store;
    int fd;
    char *tmp_name;
    struct fmt_digester *digester;
    int64_t size;
};

static int check_digest(const char *digest, struct error *err)
{
    if (!fmt_digest_is_valid(digest))
        return error_set(err, EINVAL, "invalid digest `%s`", digest ? digest : "");
    return 0;
}

int fmt_blob_writer_new(struct fmt_store *s, struct fmt_blob_writer **out, struct error *err)
{
    if (fmt_store_hold_gc(s, err) < 0)
        return -1;
    char *tmp = NULL;
    int fd = open_temp_at(s->blobs_fd, BLOB_TEMP_BASE, 0644, &tmp, err);
    if (fd < 0)
        return error_prefix(err, "store `%s`", s->root);
    struct fmt_blob_writer *w = xzalloc(sizeof *w);
    w->store = s;
    w->fd = fd;
    w->tmp_name = tmp;
    w->digester = fmt_digester_new();
    *out = w;
    return 0;
}

int fmt_blob_writer_write(struct fmt_blob_writer *w, const void *buf, size_t len,
                          struct error *err)
{
    if (write_all(w->fd, buf, len, err) < 0)
        return error_prefix(err, "write blob `%s/blobs/sha256/%s`", w->store->root,
                            w->tmp_name);
    fmt_digester_update(w->digester, buf, len);
    w->size += (int64_t)len;
    return 0;
}

void fmt_blob_writer_abort(struct fmt_blob_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        unlinkat(w->store->blobs_fd, w->tmp_name, 0);
    }
    free(w->tmp_name);
    fmt_digester_free(w->digester);
    free(w);
}

int fmt_blob_writer_commit(struct fmt_blob_writer *w, const char *expected_digest,
                           char digest[FMT_DIGEST_MAX], int64_t *size, struct error *err)
{
    char got[FMT_DIGEST_MAX];
    fmt_digester_final(w->digester, got);
    if (expected_digest && strcmp(expected_digest, got) != 0) {
        error_set(err, EILSEQ, "blob digest mismatch: expected `%s`, got `%s` (%lld bytes)",
                  expected_digest, got, (long long)w->size);
        fmt_blob_writer_abort(w);
        return -1;
    }
    const char *hex = fmt_digest_hex(got);
    int ret = 0;
    /* Published even when the blob exists: the bytes just verified replace
     * a copy that may have rotted, so loading or pulling again repairs what
     * fsck reported. */
    if (fchmod(w->fd, 0644) < 0) {
        ret = error_errno(err, "chmod `%s`", w->tmp_name);
        close(w->fd);
        unlinkat(w->store->blobs_fd, w->tmp_name, 0);
    } else {
        /* commit_temp_at unlinks the temp file itself on failure */
        ret = commit_temp_at(w->store->blobs_fd, w->fd, w->tmp_name, hex, err);
        close(w->fd);
        if (ret < 0)
            error_prefix(err, "store blob `%s`", got);
    }
    w->fd = -1;
    if (ret == 0) {
        if (digest)
            memcpy(digest, got, FMT_DIGEST_MAX);
        if (size)
            *size = w->size;
    }
    fmt_blob_writer_abort(w);
    return ret;
}

int fmt_blob_put(struct fmt_store *s, const void *buf, size_t len,
                 char digest[FMT_DIGEST_MAX], struct error *err)
{
    struct fmt_blob_writer *w;
    if (fmt_blob_writer_new(s, &w, err) < 0)
        return -1;
    if (fmt_blob_writer_write(w, buf, len, err) < 0) {
        fmt_blob_writer_abort(w);
        return -1;
    }
    return fmt_blob_writer_commit(w, NULL, digest, NULL, err);
}

bool fmt_blob_exists(struct fmt_store *s, const char *digest)
{
    if (!fmt_digest_is_valid(digest))
        return false;
    struct stat st;
    return fstatat(s->blobs_fd, fmt_digest_hex(digest), &st, 0) == 0 && S_ISREG(st.st_mode);
}

static int open_blob(struct fmt_store *s, const char *digest, struct error *err)
{
    if (check_digest(digest, err) < 0)
        return -1;
    int fd = openat(s->blobs_fd, fmt_digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return error_set(err, ENOENT, "blob `%s` is missing from the store", digest);
        return error_errno(err, "open blob `%s`", digest);
    }
    return fd;
}

static int corrupt(const char *digest, const char *got, struct error *err)
{
    return error_set(err, EILSEQ, "blob `%s` is corrupt: its content hashes to `%s`", digest,
                     got);
}

int fmt_blob_get(struct fmt_store *s, const char *digest, char **data, size_t *len,
                 struct error *err)
{
    cleanup_close int fd = open_blob(s, digest, err);
    if (fd < 0)
        return -1;
    char *buf = NULL;
    size_t n = 0;
    if (read_all_fd(fd, &buf, &n, err) < 0)
        return error_prefix(err, "read blob `%s`", digest);
    char got[FMT_DIGEST_MAX];
    fmt_digest_buffer(buf, n, got);
    if (strcmp(got, digest) != 0) {
        free(buf);
        return corrupt(digest, got, err);
    }
    *data = buf;
    if (len)
        *len = n;
    return 0;
}

struct fmt_blob_reader {
    int fd;
    char digest[FMT_DIGEST_MAX];
    struct fmt_digester *digester;
    int64_t size;
    int state; /* 0 reading, 1 EOF and verified, -1 EOF and corrupt */
};

int fmt_blob_reader_open(struct fmt_store *s, const char *digest, struct fmt_blob_reader **out,
                         struct error *err)
{
    int fd = open_blob(s, digest, err);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        error_errno(err, "stat blob `%s`", digest);
        close(fd);
        return -1;
    }
    struct fmt_blob_reader *r = xzalloc(sizeof *r);
    r->fd = fd;
    snprintf(r->digest, sizeof r->digest, "%s", digest);
    r->digester = fmt_digester_new();
    r->size = st.st_size;
    *out = r;
    return 0;
}

ssize_t fmt_blob_reader_read(struct fmt_blob_reader *r, void *buf, size_t len,
                             struct error *err)
{
    if (r->state > 0)
        return 0;
    if (r->state < 0)
        return error_set(err, EILSEQ, "blob `%s` is corrupt", r->digest);
    for (;;) {
        ssize_t n = read(r->fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_errno(err, "read blob `%s`", r->digest);
        if (n > 0 || len == 0) {
            fmt_digester_update(r->digester, buf, (size_t)n);
            return n;
        }
        break;
    }
    char got[FMT_DIGEST_MAX];
    fmt_digester_final(r->digester, got);
    if (strcmp(got, r->digest) != 0) {
        r->state = -1;
        return corrupt(r->digest, got, err);
    }
    r->state = 1;
    return 0;
}

int64_t fmt_blob_reader_size(const struct fmt_blob_reader *r)
{
    return r->size;
}

void fmt_blob_reader_close(struct fmt_blob_reader *r)
{
    if (!r)
        return;
    close(r->fd);
    fmt_digester_free(r->digester);
    free(r);
}

int fmt_blob_verify(struct fmt_store *s, const char *digest, struct error *err)
{
    struct fmt_blob_reader *r;
    if (fmt_blob_reader_open(s, digest, &r, err) < 0)
        return -1;
    cleanup_free char *buf = xmalloc(1 << 16);
    ssize_t n;
    while ((n = fmt_blob_reader_read(r, buf, 1 << 16, err)) > 0)
        ;
    fmt_blob_reader_close(r);
    return n < 0 ? -1 : 0;
}
