#include "registry/push.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/manifest.h"
#include "registry/http.h"

struct push_job {
    struct reg_client *c;
    struct fmt_store *s;
    const char *repository;
    const char *mount_from;
    struct fmt_descriptor *blobs;
    size_t n;
    pthread_mutex_t lock; /* protects the counters */
    size_t uploaded, existing, mounted;
    int64_t bytes;
};

/* Feeds one request's share of a blob from the verifying reader. */
struct upload {
    struct reg_client *c;
    size_t index;
    const struct fmt_descriptor *d;
    struct fmt_blob_reader *reader;
    int64_t sent;  /* bytes read from the blob so far */
    int64_t limit; /* this request ends when sent reaches it */
    bool failed;
    struct error err;
};

static ssize_t upload_source(void *ud, void *buf, size_t len)
{
    struct upload *up = ud;
    int64_t left = up->limit - up->sent;
    if (left <= 0)
        return 0;
    if ((int64_t)len > left)
        len = (size_t)left;
    ssize_t n = fmt_blob_reader_read(up->reader, buf, len, &up->err);
    if (n < 0)
        goto fail;
    if (n == 0) {
        error_set(&up->err, EILSEQ, "blob `%s` is shorter than its %lld bytes", up->d->digest,
                  (long long)up->d->size);
        goto fail;
    }
    up->sent += n;
    if (up->sent == up->d->size) {
        /* hold back the last bytes until the reader has checked the
         * digest at EOF: a damaged blob never completes an upload */
        char extra;
        ssize_t e = fmt_blob_reader_read(up->reader, &extra, 1, &up->err);
        if (e < 0)
            goto fail;
        if (e > 0) {
            error_set(&up->err, EILSEQ, "blob `%s` is longer than its %lld bytes",
                      up->d->digest, (long long)up->d->size);
            goto fail;
        }
    }
    reg_progress(up->c, up->index, up->d->digest, REG_BLOB_PROGRESS, up->sent, up->d->size);
    return n;
fail:
    up->failed = true;
    return -1;
}

/* HEAD: does the repository have the blob already? */
static int blob_exists(struct reg_conn *conn, const char *repository, const char *scope,
                       const struct fmt_descriptor *d, bool *exists, struct error *err)
{
    cleanup_free char *url = xasprintf("/v2/%s/blobs/%s", repository, d->digest);
    struct reg_request rq = {.method = "HEAD", .url = url, .scope = scope};
    struct reg_response resp = {0};
    if (reg_http(conn, &rq, &resp, err) < 0)
        return -1;
    long st = resp.status;
    reg_response_clear(&resp);
    if (st == 200) {
        *exists = true;
        return 0;
    }
    if (st == 404) {
        *exists = false;
        return 0;
    }
    if (st == 401 || st == 403)
        return error_set(err, EACCES, "check blob `%s`: access denied (HTTP %ld)", d->digest,
                         st);
    /* some registries refuse HEAD: upload and let the registry sort it */
    *exists = false;
    return 0;
}

/* One upload session: POST (maybe mounting), then PUT or PATCH...PUT.
 * Returns 0 on success, 1 for "retry", <0 on a hard failure. */
static int upload_once(struct reg_conn *conn, struct push_job *job, size_t i,
                       const char *scope, bool *mounted, struct error *err)
{
    struct reg_client *c = job->c;
    const struct fmt_descriptor *d = &job->blobs[i];
    const struct reg_opts *o = reg_client_opts(c);
    cleanup_free char *post = xasprintf("/v2/%s/blobs/uploads/", job->repository);
    if (job->mount_from) {
        char *u = reg_url_add_query(post, "mount", d->digest);
        free(post);
        post = reg_url_add_query(u, "from", job->mount_from);
        free(u);
    }
    struct reg_request rq = {.method = "POST", .url = post, .scope = scope, .once = true};
    struct reg_response resp = {0};
    if (reg_http(conn, &rq, &resp, err) < 0) {
        reg_response_clear(&resp);
        return 1;
    }
    if (resp.status == 201 && job->mount_from) {
        reg_response_clear(&resp);
        *mounted = true;
        return 0;
    }
    if (resp.status != 202 || !resp.location) {
        cleanup_free char *what = xasprintf("start upload of blob `%s`", d->digest);
        reg_http_status_error(&resp, what, err);
        int retry = resp.status >= 500 || resp.status == 429;
        reg_response_clear(&resp);
        return retry ? 1 : -1;
    }
    char *location = reg_url_resolve(c, resp.location);
    reg_response_clear(&resp);

    struct upload up = {.c = c, .index = i, .d = d};
    if (fmt_blob_reader_open(job->s, d->digest, &up.reader, err) < 0) {
        free(location);
        return -1;
    }
    int ret = 0;
    int64_t chunk = o->chunk_size > 0 ? o->chunk_size : d->size;
    bool chunked = o->chunk_size > 0;
    while (chunked && up.sent < d->size) {
        int64_t start = up.sent;
        up.limit = start + chunk < d->size ? start + chunk : d->size;
        char range[64];
        snprintf(range, sizeof range, "%lld-%lld", (long long)start, (long long)up.limit - 1);
        struct reg_request pr = {.method = "PATCH", .url = location, .scope = scope,
                                 .content_type = "application/octet-stream",
                                 .content_range = range, .source = upload_source,
                                 .source_ud = &up, .source_len = up.limit - start,
                                 .once = true};
        int r = reg_http(conn, &pr, &resp, err);
        if (up.failed) {
            *err = up.err;
            ret = -1;
        } else if (r < 0 || resp.status >= 500 || resp.status == 429) {
            ret = 1;
        } else if (resp.status != 202 || !resp.location) {
            cleanup_free char *what = xasprintf("upload a chunk of blob `%s`", d->digest);
            reg_http_status_error(&resp, what, err);
            ret = -1;
        } else {
            free(location);
            location = reg_url_resolve(c, resp.location);
        }
        reg_response_clear(&resp);
        if (ret)
            goto out;
    }
    {
        cleanup_free char *put = reg_url_add_query(location, "digest", d->digest);
        up.limit = d->size;
        struct reg_request pr = {.method = "PUT", .url = put, .scope = scope,
                                 .content_type = "application/octet-stream", .once = true};
        if (!chunked) {
            pr.source = upload_source;
            pr.source_ud = &up;
            pr.source_len = d->size;
        }
        int r = reg_http(conn, &pr, &resp, err);
        if (up.failed) {
            *err = up.err;
            ret = -1;
        } else if (r < 0 || resp.status >= 500 || resp.status == 429) {
            ret = 1;
        } else if (resp.status != 201) {
            cleanup_free char *what = xasprintf("upload blob `%s`", d->digest);
            reg_http_status_error(&resp, what, err);
            ret = -1;
        } else if (up.sent != d->size) {
            ret = error_set(err, EIO, "upload blob `%s`: sent %lld of %lld bytes", d->digest,
                            (long long)up.sent, (long long)d->size);
        }
        reg_response_clear(&resp);
    }
out:
    fmt_blob_reader_close(up.reader);
    free(location);
    return ret;
}

static int push_blob(struct reg_conn *conn, size_t i, void *ud, struct error *err)
{
    struct push_job *job = ud;
    struct reg_client *c = job->c;
    const struct fmt_descriptor *d = &job->blobs[i];
    cleanup_free char *scope =
        job->mount_from
            ? xasprintf("repository:%s:pull,push repository:%s:pull", job->repository,
                        job->mount_from)
            : xasprintf("repository:%s:pull,push", job->repository);
    bool exists = false;
    if (blob_exists(conn, job->repository, scope, d, &exists, err) < 0)
        return error_prefix(err, "registry `%s`", reg_client_registry(c));
    if (exists) {
        reg_progress(c, i, d->digest, REG_BLOB_EXISTS, d->size, d->size);
        pthread_mutex_lock(&job->lock);
        job->existing++;
        pthread_mutex_unlock(&job->lock);
        return 0;
    }
    reg_progress(c, i, d->digest, REG_BLOB_START, 0, d->size);
    int retries = reg_client_retries(c);
    for (int attempt = 0;; attempt++) {
        bool mounted = false;
        struct error e = {0};
        int r = upload_once(conn, job, i, scope, &mounted, &e);
        if (r == 0 && mounted) {
            reg_progress(c, i, d->digest, REG_BLOB_MOUNTED, d->size, d->size);
            pthread_mutex_lock(&job->lock);
            job->mounted++;
            pthread_mutex_unlock(&job->lock);
            return 0;
        }
        if (r == 0) {
            reg_progress(c, i, d->digest, REG_BLOB_DONE, d->size, d->size);
            pthread_mutex_lock(&job->lock);
            job->uploaded++;
            job->bytes += d->size;
            pthread_mutex_unlock(&job->lock);
            return 0;
        }
        if (r < 0 || attempt >= retries) {
            *err = e;
            reg_progress(c, i, d->digest, REG_BLOB_FAILED, 0, d->size);
            return error_prefix(err, "registry `%s`", reg_client_registry(c));
        }
        reg_progress(c, i, d->digest, REG_BLOB_RETRY, 0, d->size);
        reg_backoff(attempt + 1);
    }
}

int reg_push(struct reg_client *c, struct fmt_store *s, const char *manifest_digest,
             const char *repository, const char *tag, const char *mount_from,
             struct reg_push_result *res, struct error *err)
{
    *res = (struct reg_push_result){0};
    cleanup_free char *data = NULL;
    size_t len = 0;
    if (fmt_blob_get(s, manifest_digest, &data, &len, err) < 0)
        return error_prefix(err, "read manifest");
    struct fmt_manifest m;
    if (fmt_manifest_parse(data, len, NULL, &m, err) < 0)
        return error_prefix(err, "manifest `%s`", manifest_digest);

    struct push_job job = {.c = c, .s = s, .repository = repository,
                           .mount_from = mount_from};
    pthread_mutex_init(&job.lock, NULL);
    job.blobs = xcalloc(m.n_layers + 1, sizeof *job.blobs);
    for (size_t i = 0; i < m.n_layers; i++) {
        bool dup = false;
        for (size_t k = 0; k < job.n; k++)
            dup |= !strcmp(job.blobs[k].digest, m.layers[i].digest);
        if (!dup)
            job.blobs[job.n++] = m.layers[i];
    }
    job.blobs[job.n++] = m.config;
    int r = reg_run_parallel(c, job.n, push_blob, &job, err);
    res->blobs_uploaded = job.uploaded;
    res->blobs_existing = job.existing;
    res->blobs_mounted = job.mounted;
    res->bytes_uploaded = job.bytes;
    free(job.blobs);
    pthread_mutex_destroy(&job.lock);
    if (r < 0) {
        fmt_manifest_clear(&m);
        return -1;
    }

    struct reg_conn *conn = reg_conn_new(c);
    cleanup_free char *url = xasprintf("/v2/%s/manifests/%s", repository, tag);
    cleanup_free char *scope = xasprintf("repository:%s:pull,push", repository);
    struct reg_request rq = {.method = "PUT", .url = url, .scope = scope,
                             .content_type = m.media_type, .body = data, .body_len = len};
    struct reg_response resp = {0};
    r = reg_http(conn, &rq, &resp, err);
    reg_conn_free(conn);
    fmt_manifest_clear(&m);
    if (r == 0 && resp.status != 201) {
        cleanup_free char *what = xasprintf("push manifest to `%s:%s`", repository, tag);
        r = reg_http_status_error(&resp, what, err);
    }
    if (r == 0 && resp.docker_digest && strcmp(resp.docker_digest, manifest_digest))
        r = error_set(err, EILSEQ, "push manifest: the registry stored `%s`, not `%s`",
                      resp.docker_digest, manifest_digest);
    reg_response_clear(&resp);
    if (r < 0)
        return error_prefix(err, "registry `%s`", reg_client_registry(c));
    memcpy(res->digest, manifest_digest, FMT_DIGEST_MAX);
    return 0;
}
