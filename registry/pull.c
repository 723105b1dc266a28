#include "registry/pull.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/manifest.h"
#include "registry/http.h"

#define MANIFEST_MAX (4u << 20)

const char *reg_default_platform(void)
{
#if defined(__x86_64__)
    return "linux/amd64";
#elif defined(__aarch64__)
    return "linux/arm64";
#elif defined(__i386__)
    return "linux/386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "linux/ppc64le";
#elif defined(__s390x__)
    return "linux/s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    return "linux/riscv64";
#else
    return "linux/amd64";
#endif
}

void reg_pull_result_clear(struct reg_pull_result *r)
{
    free(r->media_type);
    *r = (struct reg_pull_result){0};
}

static char *media_type_of(const char *content_type, const char *data, size_t len)
{
    /* the document's own mediaType wins over a generic Content-Type */
    json_error_t je;
    json_t *j = json_loadb(data, len, 0, &je);
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    char *r = NULL;
    if (mt && *mt)
        r = xstrdup(mt);
    else if (content_type)
        r = xstrndup(content_type, strcspn(content_type, "; "));
    else if (json_object_get(j, "manifests"))
        r = xstrdup(FMT_MT_INDEX);
    else
        r = xstrdup(FMT_MT_MANIFEST);
    json_decref(j);
    return r;
}

int reg_fetch_manifest(struct reg_conn *conn, const char *repository, const char *reference,
                       const char *expected_digest, char **data, size_t *len,
                       char **media_type, char digest[FMT_DIGEST_MAX], struct error *err)
{
    cleanup_free char *url = xasprintf("/v2/%s/manifests/%s", repository, reference);
    cleanup_free char *scope = xasprintf("repository:%s:pull", repository);
    struct reg_request rq = {.method = "GET", .url = url, .scope = scope,
                             .accept = REG_MANIFEST_ACCEPT, .collect_max = MANIFEST_MAX};
    struct reg_response resp = {0};
    if (reg_http(conn, &rq, &resp, err) < 0)
        return error_prefix(err, "fetch manifest `%s:%s`", repository, reference);
    if (resp.status != 200) {
        cleanup_free char *what = xasprintf("fetch manifest `%s:%s`", repository, reference);
        reg_http_status_error(&resp, what, err);
        reg_response_clear(&resp);
        return -1;
    }
    const char *body = resp.body ? resp.body : "";
    fmt_digest_buffer(body, resp.body_len, digest);
    /* by digest the bytes must hash to it; by tag the registry's header,
     * when it sends one, must agree with what arrived */
    const char *want = expected_digest ? expected_digest : resp.docker_digest;
    if (want && strncmp(want, "sha256:", 7) == 0 && strcmp(want, digest)) {
        error_set(err, EILSEQ, "manifest `%s:%s`: digest mismatch: expected `%s`, got `%s`",
                  repository, reference, want, digest);
        reg_response_clear(&resp);
        return -1;
    }
    *media_type = media_type_of(resp.content_type, body, resp.body_len);
    *data = resp.body ? TAKE_PTR(resp.body) : xstrdup("");
    *len = resp.body_len;
    reg_response_clear(&resp);
    return 0;
}

/* Picks the manifest for platform from an image index. */
static int pick_platform(const char *data, size_t len, const char *platform,
                         char digest[FMT_DIGEST_MAX], struct error *err)
{
    cleanup_free char *want = xstrdup(platform);
    char *os = want, *arch = strchr(want, '/'), *variant = NULL;
    if (!arch)
        return error_set(err, EINVAL, "platform `%s` is not OS/ARCH[/VARIANT]", platform);
    *arch++ = '\0';
    variant = strchr(arch, '/');
    if (variant)
        *variant++ = '\0';
    json_error_t je;
    json_auto_t *j = json_loadb(data, len, 0, &je);
    json_t *list = json_object_get(j, "manifests");
    if (!json_is_array(list))
        return error_set(err, EINVAL, "image index: `manifests` is not an array");
    size_t i;
    json_t *m;
    const char *found = NULL;
    cleanup_free char *seen = xstrdup("");
    json_array_foreach(list, i, m)
    {
        json_t *p = json_object_get(m, "platform");
        const char *mos = json_string_value(json_object_get(p, "os"));
        const char *march = json_string_value(json_object_get(p, "architecture"));
        const char *mvar = json_string_value(json_object_get(p, "variant"));
        if (mos && march) {
            char *s2 = xasprintf("%s%s%s/%s%s%s", seen, *seen ? ", " : "", mos, march,
                                 mvar ? "/" : "", mvar ? mvar : "");
            free(seen);
            seen = s2;
        }
        if (!mos || !march || strcmp(mos, os) || strcmp(march, arch))
            continue;
        if (variant && (!mvar || strcmp(mvar, variant)))
            continue;
        found = json_string_value(json_object_get(m, "digest"));
        break;
    }
    if (!found)
        return error_set(err, ENOENT, "no image for platform `%s` in the index (it has: %s)",
                         platform, *seen ? seen : "none");
    if (!fmt_digest_is_valid(found))
        return error_set(err, EINVAL, "image index: invalid digest `%s`", found);
    snprintf(digest, FMT_DIGEST_MAX, "%s", found);
    return 0;
}

/* ---- blobs ---- */

struct pull_job {
    struct reg_client *c;
    struct fmt_store *s;
    const char *repository;
    struct fmt_descriptor *blobs; /* config first, then layers (deduplicated) */
    size_t n;
    pthread_mutex_t lock; /* protects the counters */
    size_t fetched, present;
    int64_t bytes;
};

struct download {
    struct reg_client *c;
    struct fmt_store *s;
    size_t index;
    const struct fmt_descriptor *d;
    struct fmt_blob_writer *w;
    int64_t got;
    bool response_start;
    struct error err;
    bool failed;
};

static int download_sink(void *ud, long status, const void *buf, size_t len)
{
    struct download *dl = ud;
    if (dl->response_start) {
        dl->response_start = false;
        if (status == 200 && dl->got > 0) {
            /* the server ignored our Range: start over */
            fmt_blob_writer_abort(dl->w);
            dl->w = NULL;
            dl->got = 0;
            if (fmt_blob_writer_new(dl->s, &dl->w, &dl->err) < 0) {
                dl->failed = true;
                return -1;
            }
        }
    }
    if (dl->got + (int64_t)len > dl->d->size) {
        error_set(&dl->err, EILSEQ, "blob `%s`: the registry sent more than its %lld bytes",
                  dl->d->digest, (long long)dl->d->size);
        dl->failed = true;
        return -1;
    }
    if (fmt_blob_writer_write(dl->w, buf, len, &dl->err) < 0) {
        dl->failed = true;
        return -1;
    }
    dl->got += (int64_t)len;
    reg_progress(dl->c, dl->index, dl->d->digest, REG_BLOB_PROGRESS, dl->got, dl->d->size);
    return 0;
}

static int pull_blob(struct reg_conn *conn, size_t i, void *ud, struct error *err)
{
    struct pull_job *job = ud;
    struct reg_client *c = job->c;
    const struct fmt_descriptor *d = &job->blobs[i];
    if (fmt_blob_exists(job->s, d->digest)) {
        reg_progress(c, i, d->digest, REG_BLOB_EXISTS, d->size, d->size);
        pthread_mutex_lock(&job->lock);
        job->present++;
        pthread_mutex_unlock(&job->lock);
        return 0;
    }
    reg_progress(c, i, d->digest, REG_BLOB_START, 0, d->size);
    struct download dl = {.c = c, .s = job->s, .index = i, .d = d};
    if (fmt_blob_writer_new(job->s, &dl.w, err) < 0)
        return -1;
    cleanup_free char *url = xasprintf("/v2/%s/blobs/%s", job->repository, d->digest);
    cleanup_free char *scope = xasprintf("repository:%s:pull", job->repository);
    int stalls = 0, retries = reg_client_retries(c);
    for (;;) {
        int64_t before = dl.got;
        dl.response_start = true;
        struct reg_request rq = {.method = "GET", .url = url, .scope = scope,
                                 .sink = download_sink, .sink_ud = &dl,
                                 .range_from = dl.got, .once = true};
        struct reg_response resp = {0};
        struct error herr = {0};
        int r = reg_http(conn, &rq, &resp, &herr);
        if (dl.failed) {
            reg_response_clear(&resp);
            *err = dl.err;
            goto fail;
        }
        long status = resp.status;
        if (r == 0 && (status == 200 || status == 206) && dl.got == d->size) {
            reg_response_clear(&resp);
            break;
        }
        bool transient = r < 0 || status >= 500 || status == 429 || status == 200 ||
                         status == 206 || status == 416;
        if (r == 0 && !transient) {
            cleanup_free char *what = xasprintf("fetch blob `%s`", d->digest);
            reg_http_status_error(&resp, what, err);
            reg_response_clear(&resp);
            goto fail;
        }
        if (status == 416 && dl.got > 0) {
            /* our offset is beyond what the server has: start over */
            fmt_blob_writer_abort(dl.w);
            dl.w = NULL;
            dl.got = 0;
            if (fmt_blob_writer_new(job->s, &dl.w, err) < 0) {
                reg_response_clear(&resp);
                return -1;
            }
        }
        reg_response_clear(&resp);
        stalls = dl.got > before ? 0 : stalls + 1;
        if (stalls > retries) {
            if (r < 0)
                *err = herr;
            else
                error_set(err, EIO, "fetch blob `%s`: HTTP %ld after %d retries", d->digest,
                          status, retries);
            goto fail;
        }
        reg_progress(c, i, d->digest, REG_BLOB_RETRY, dl.got, d->size);
        reg_backoff(stalls ? stalls : 1);
    }
    if (fmt_blob_writer_commit(dl.w, d->digest, NULL, NULL, err) < 0) {
        dl.w = NULL;
        reg_progress(c, i, d->digest, REG_BLOB_FAILED, dl.got, d->size);
        return error_prefix(err, "registry `%s`, repository `%s`", reg_client_registry(c),
                            job->repository);
    }
    reg_progress(c, i, d->digest, REG_BLOB_DONE, d->size, d->size);
    pthread_mutex_lock(&job->lock);
    job->fetched++;
    job->bytes += d->size;
    pthread_mutex_unlock(&job->lock);
    return 0;
fail:
    fmt_blob_writer_abort(dl.w);
    reg_progress(c, i, d->digest, REG_BLOB_FAILED, dl.got, d->size);
    return -1;
}

int reg_pull(struct reg_client *c, struct fmt_store *s, const struct reg_ref *ref,
             const char *platform, struct reg_pull_result *res, struct error *err)
{
    *res = (struct reg_pull_result){0};
    if (!platform)
        platform = reg_default_platform();
    struct reg_conn *conn = reg_conn_new(c);
    cleanup_free char *data = NULL;
    cleanup_free char *mt = NULL;
    size_t len = 0;
    char digest[FMT_DIGEST_MAX];
    const char *reference = ref->digest ? ref->digest : ref->tag;
    int r = reg_fetch_manifest(conn, ref->repository, reference, ref->digest, &data, &len, &mt,
                               digest, err);
    if (r == 0 && fmt_media_type_is_index(mt)) {
        snprintf(res->index_digest, sizeof res->index_digest, "%s", digest);
        char chosen[FMT_DIGEST_MAX];
        r = pick_platform(data, len, platform, chosen, err);
        if (r == 0) {
            free(data);
            free(mt);
            data = mt = NULL;
            r = reg_fetch_manifest(conn, ref->repository, chosen, chosen, &data, &len, &mt,
                                   digest, err);
        }
    }
    reg_conn_free(conn);
    if (r < 0)
        return error_prefix(err, "registry `%s`", reg_client_registry(c));

    struct fmt_manifest m;
    if (fmt_manifest_parse(data, len, mt, &m, err) < 0)
        return error_prefix(err, "image `%s/%s@%s`", reg_client_registry(c), ref->repository,
                            digest);

    struct pull_job job = {.c = c, .s = s, .repository = ref->repository};
    pthread_mutex_init(&job.lock, NULL);
    job.blobs = xcalloc(m.n_layers + 1, sizeof *job.blobs);
    job.blobs[job.n++] = m.config;
    for (size_t i = 0; i < m.n_layers; i++) {
        bool dup = false;
        for (size_t k = 0; k < job.n; k++)
            dup |= !strcmp(job.blobs[k].digest, m.layers[i].digest);
        if (!dup)
            job.blobs[job.n++] = m.layers[i];
    }
    r = reg_run_parallel(c, job.n, pull_blob, &job, err);
    res->blobs_fetched = job.fetched;
    res->blobs_present = job.present;
    res->bytes_fetched = job.bytes;
    free(job.blobs); /* shallow copies of m's descriptors */
    pthread_mutex_destroy(&job.lock);
    fmt_manifest_clear(&m);
    if (r < 0)
        return -1;

    /* last: the manifest, so a stored manifest always has its blobs */
    char stored[FMT_DIGEST_MAX];
    if (fmt_blob_put(s, data, len, stored, err) < 0)
        return error_prefix(err, "store manifest `%s`", digest);
    if (strcmp(stored, digest))
        return error_set(err, EILSEQ, "manifest `%s` stored as `%s`", digest, stored);
    memcpy(res->digest, digest, FMT_DIGEST_MAX);
    res->media_type = TAKE_PTR(mt);
    res->size = (int64_t)len;
    return 0;
}
