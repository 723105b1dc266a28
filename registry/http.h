/* Internal to registry/: one HTTP exchange with auth and retries.  Used
 * by client.c, pull.c and push.c. */
#ifndef STRATA_REGISTRY_HTTP_H
#define STRATA_REGISTRY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "registry/client.h"

#define REG_MANIFEST_ACCEPT                                                    \
    "application/vnd.oci.image.index.v1+json, "                                \
    "application/vnd.oci.image.manifest.v1+json, "                             \
    "application/vnd.docker.distribution.manifest.list.v2+json, "              \
    "application/vnd.docker.distribution.manifest.v2+json"

/* Streams a 2xx body: return 0 to go on, <0 to abort the transfer. */
typedef int (*reg_sink_fn)(void *ud, long status, const void *buf, size_t len);
/* Fills buf with request body bytes: count, 0 at the end, <0 to abort. */
typedef ssize_t (*reg_source_fn)(void *ud, void *buf, size_t len);

struct reg_request {
    const char *method;       /* GET HEAD POST PUT PATCH */
    const char *url;          /* "/v2/..." (the base is prepended) or absolute */
    const char *scope;        /* bearer scope, "repository:NAME:pull[,push]" */
    const char *accept;
    const char *content_type;
    const char *content_range; /* PATCH chunks: "START-END" */
    const void *body;          /* in-memory body (replayable), or ... */
    size_t body_len;
    reg_source_fn source;      /* ... a streamed one of source_len bytes */
    void *source_ud;
    int64_t source_len;
    reg_sink_fn sink;          /* 2xx body goes here; else it is collected */
    void *sink_ud;
    int64_t range_from;        /* > 0: ask for bytes=N- */
    size_t collect_max;        /* collected-body limit (0: 4 MiB) */
    bool once;                 /* no retries (the caller retries itself) */
};

struct reg_response {
    long status;
    char *location;
    char *content_type;
    char *docker_digest;
    char *www_authenticate;
    char *link;
    int64_t content_length; /* -1 when absent */
    char *body;             /* collected body (NUL-terminated), may be NULL */
    size_t body_len;
    bool transport_error;   /* no complete HTTP answer (after retries) */
};
void reg_response_clear(struct reg_response *r);

struct reg_conn *reg_conn_new(struct reg_client *c);
void reg_conn_free(struct reg_conn *conn);
struct reg_client *reg_conn_client(struct reg_conn *conn);

/* Performs rq, answering a 401 challenge once (when the body can be sent
 * again) and retrying transport errors and 5xx with backoff unless
 * rq->once.  Returns 0 when an HTTP status arrived (whatever it is: check
 * resp->status), <0 with err when none did (or the sink/source aborted:
 * their error is kept in err if they set it through reg_conn_error). */
int reg_http(struct reg_conn *conn, const struct reg_request *rq, struct reg_response *resp,
             struct error *err);

/* An error naming what failed from a non-success answer, with the
 * registry's own {"errors":[{"code","message"}]} text when there is one. */
int reg_http_status_error(const struct reg_response *resp, const char *what,
                          struct error *err);

/* Sleeps before attempt n (1-based) of a retried operation. */
void reg_backoff(int attempt);
/* The number of retries the client's options allow. */
int reg_client_retries(const struct reg_client *c);

/* Resolves a Location header against the base URL (malloc'd). */
char *reg_url_resolve(struct reg_client *c, const char *location);
/* url + "?"/"&" + key=value (value percent-encoded; malloc'd). */
char *reg_url_add_query(const char *url, const char *key, const char *value);

/* Runs fn(conn, i, ud, err) for i in [0, n) on up to `parallel` threads,
 * each with its own connection.  Returns the first failure. */
typedef int (*reg_job_fn)(struct reg_conn *conn, size_t i, void *ud, struct error *err);
int reg_run_parallel(struct reg_client *c, size_t n, reg_job_fn fn, void *ud,
                     struct error *err);

void reg_progress(struct reg_client *c, size_t index, const char *digest,
                  enum reg_blob_state state, int64_t done, int64_t total);

#endif
