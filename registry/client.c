#include "registry/client.h"

#include <ctype.h>
#include "registry/libcurl.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "registry/auth.h"
#include "registry/http.h"
#include "registry/ref.h"

#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

enum auth_scheme { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct token {
    char *scope;
    char *header; /* "Authorization: Bearer ..." */
    struct token *next;
};

struct reg_client {
    char *registry;
    char *base;
    struct reg_opts opts;
    char *user, *password;
    char *ca_pem; /* system bundle + certs.d CAs, for CURLOPT_CAINFO_BLOB */
    size_t ca_len;
    char *client_cert, *client_key;

    pthread_mutex_t lock; /* protects everything below */
    enum auth_scheme scheme;
    char *realm, *service;
    char *basic_header;
    struct token *tokens;
};

struct reg_conn {
    struct reg_client *c;
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void reg_opts_init(struct reg_opts *o)
{
    *o = (struct reg_opts){.tls_verify = true};
}

const struct reg_opts *reg_client_opts(const struct reg_client *c)
{
    return &c->opts;
}
const char *reg_client_registry(const struct reg_client *c)
{
    return c->registry;
}
const char *reg_client_base_url(const struct reg_client *c)
{
    return c->base;
}
int reg_client_retries(const struct reg_client *c)
{
    return c->opts.retries < 0 ? 0 : c->opts.retries ? c->opts.retries : 4;
}

void reg_backoff(int attempt)
{
    /* 200ms, 400ms, 800ms, ... capped at 5s */
    long ms = 200L << (attempt > 5 ? 5 : attempt - 1);
    if (ms > 5000)
        ms = 5000;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void reg_progress(struct reg_client *c, size_t index, const char *digest,
                  enum reg_blob_state state, int64_t done, int64_t total)
{
    if (c->opts.progress)
        c->opts.progress(c->opts.progress_ud, index, digest, state, done, total);
}

void reg_response_clear(struct reg_response *r)
{
    free(r->location);
    free(r->content_type);
    free(r->docker_digest);
    free(r->www_authenticate);
    free(r->link);
    free(r->body);
    *r = (struct reg_response){.content_length = -1};
}

/* ---- TLS material (podman's certs.d layout) ---- */

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static void append_file(char **buf, size_t *len, int dirfd, const char *name)
{
    cleanup_free char *data = NULL;
    size_t n = 0;
    struct error ignored = {0};
    if (read_file_at(dirfd, name, &data, &n, &ignored) < 0)
        return;
    *buf = xrealloc(*buf, *len + n + 2);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[(*len)++] = '\n';
    (*buf)[*len] = '\0';
}

static int load_cert_dir(struct reg_client *c, const char *dir, bool explicit_dir,
                         struct error *err)
{
    cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (!explicit_dir)
            return 0;
        return error_errno(err, "open certificate directory `%s`", dir);
    }
    DIR *d = fdopendir(dup(fd));
    if (!d)
        return error_errno(err, "read certificate directory `%s`", dir);
    cleanup_dir DIR *dd = d;
    struct dirent *e;
    /* names sorted would be nicer; the set is what matters */
    while ((e = readdir(dd))) {
        if (has_suffix(e->d_name, ".crt")) {
            append_file(&c->ca_pem, &c->ca_len, fd, e->d_name);
        } else if (has_suffix(e->d_name, ".cert")) {
            size_t stem = strlen(e->d_name) - 5;
            cleanup_free char *key = xasprintf("%.*s.key", (int)stem, e->d_name);
            if (!path_exists_at(fd, key))
                return error_set(err, ENOENT, "`%s/%s` has no matching key `%s`", dir,
                                 e->d_name, key);
            free(c->client_cert);
            free(c->client_key);
            c->client_cert = xasprintf("%s/%s", dir, e->d_name);
            c->client_key = xasprintf("%s/%s", dir, key);
        }
    }
    return 0;
}

static int load_tls(struct reg_client *c, struct error *err)
{
    size_t system_len;
    append_file(&c->ca_pem, &c->ca_len, AT_FDCWD, SYSTEM_CA_BUNDLE);
    system_len = c->ca_len;
    if (c->opts.cert_dir)
        return load_cert_dir(c, c->opts.cert_dir, true, err);
    cleanup_free char *etc = xasprintf("/etc/containers/certs.d/%s", c->registry);
    cleanup_free char *docker = xasprintf("/etc/docker/certs.d/%s", c->registry);
    if (load_cert_dir(c, etc, false, err) < 0 || load_cert_dir(c, docker, false, err) < 0)
        return -1;
    const char *home = getenv("HOME");
    if (home && home[0] == '/') {
        cleanup_free char *user =
            xasprintf("%s/.config/containers/certs.d/%s", home, c->registry);
        if (load_cert_dir(c, user, false, err) < 0)
            return -1;
    }
    if (c->ca_len == system_len && system_len == 0) {
        free(c->ca_pem);
        c->ca_pem = NULL;
    }
    return 0;
}

/* ---- connections ---- */

struct reg_conn *reg_conn_new(struct reg_client *c)
{
    struct reg_conn *conn = xzalloc(sizeof *conn);
    conn->c = c;
    conn->curl = curl_easy_init();
    if (!conn->curl)
        abort();
    return conn;
}

void reg_conn_free(struct reg_conn *conn)
{
    if (!conn)
        return;
    curl_easy_cleanup(conn->curl);
    free(conn);
}

struct reg_client *reg_conn_client(struct reg_conn *conn)
{
    return conn->c;
}

/* per-exchange state handed to the curl callbacks */
struct exchange {
    const struct reg_request *rq;
    struct reg_response *resp;
    size_t collect_max;
    bool aborted;
    struct error cb_err;
    size_t body_off; /* in-memory body position */
};

static char *header_value(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
        return NULL;
    const char *v = line + k + 1;
    const char *end = line + n;
    while (v < end && isspace((unsigned char)*v))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    return xstrndup(v, (size_t)(end - v));
}

static void set_field(char **field, char *v)
{
    if (v) {
        free(*field);
        *field = v;
    }
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct exchange *x = ud;
    size_t n = size * nmemb;
    struct reg_response *r = x->resp;
    if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
        /* a new response (after a redirect or a 100): forget the last one's */
        free(r->location);
        free(r->content_type);
        free(r->docker_digest);
        free(r->www_authenticate);
        free(r->link);
        r->location = r->content_type = r->docker_digest = r->www_authenticate = r->link =
            NULL;
        r->content_length = -1;
        const char *sp = memchr(buf, ' ', n);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return n;
    }
    set_field(&r->location, header_value(buf, n, "Location"));
    set_field(&r->content_type, header_value(buf, n, "Content-Type"));
    set_field(&r->docker_digest, header_value(buf, n, "Docker-Content-Digest"));
    set_field(&r->www_authenticate, header_value(buf, n, "WWW-Authenticate"));
    set_field(&r->link, header_value(buf, n, "Link"));
    char *cl = header_value(buf, n, "Content-Length");
    if (cl) {
        r->content_length = strtoll(cl, NULL, 10);
        free(cl);
    }
    return n;
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct exchange *x = ud;
    size_t n = size * nmemb;
    struct reg_response *r = x->resp;
    bool success = r->status >= 200 && r->status < 300;
    if (success && x->rq->sink) {
        if (x->rq->sink(x->rq->sink_ud, r->status, buf, n) < 0) {
            x->aborted = true;
            return 0;
        }
        return n;
    }
    if (r->body_len + n > x->collect_max) {
        if (!success) /* an error page: its start is enough */
            return n;
        error_set(&x->cb_err, EFBIG, "answer larger than %zu bytes", x->collect_max);
        x->aborted = true;
        return 0;
    }
    r->body = xrealloc(r->body, r->body_len + n + 1);
    memcpy(r->body + r->body_len, buf, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct exchange *x = ud;
    size_t n = size * nmemb;
    if (x->rq->source) {
        ssize_t got = x->rq->source(x->rq->source_ud, buf, n);
        if (got < 0) {
            x->aborted = true;
            return CURL_READFUNC_ABORT;
        }
        return (size_t)got;
    }
    size_t left = x->rq->body_len - x->body_off;
    if (n > left)
        n = left;
    memcpy(buf, (const char *)x->rq->body + x->body_off, n);
    x->body_off += n;
    return n;
}

static char *auth_header_for(struct reg_client *c, const char *scope)
{
    char *h = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->scheme == AUTH_BASIC && c->basic_header) {
        h = xstrdup(c->basic_header);
    } else if (c->scheme == AUTH_BEARER) {
        const char *want = scope ? scope : "";
        for (struct token *t = c->tokens; t; t = t->next)
            if (!strcmp(t->scope, want)) {
                h = xstrdup(t->header);
                break;
            }
    }
    pthread_mutex_unlock(&c->lock);
    return h;
}

static bool transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* One exchange, no retries, no auth dance. */
static int perform(struct reg_conn *conn, const struct reg_request *rq, const char *auth,
                   struct reg_response *resp, CURLcode *rc_out, struct error *err)
{
    struct reg_client *c = conn->c;
    CURL *h = conn->curl;
    reg_response_clear(resp);
    struct exchange x = {.rq = rq, .resp = resp,
                         .collect_max = rq->collect_max ? rq->collect_max : 4u << 20};
    cleanup_free char *url =
        rq->url[0] == '/' ? xasprintf("%s%s", c->base, rq->url) : xstrdup(rq->url);

    curl_easy_reset(h);
    conn->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, conn->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "strata/" STRATA_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a stalled transfer (under 1 byte/s for 60s) counts as dropped */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->opts.tls_verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->opts.tls_verify ? 2L : 0L);
    if (c->ca_pem) {
        struct curl_blob blob = {.data = c->ca_pem, .len = c->ca_len,
                                 .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (c->client_cert) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
    }
    /* blob GETs may redirect to storage elsewhere; curl drops our
     * Authorization header when the host changes */
    if (!strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD"))
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);

    struct curl_slist *hdrs = NULL;
    cleanup_free char *accept = rq->accept ? xasprintf("Accept: %s", rq->accept) : NULL;
    cleanup_free char *ctype =
        rq->content_type ? xasprintf("Content-Type: %s", rq->content_type) : NULL;
    cleanup_free char *crange =
        rq->content_range ? xasprintf("Content-Range: %s", rq->content_range) : NULL;
    if (accept)
        hdrs = curl_slist_append(hdrs, accept);
    if (ctype)
        hdrs = curl_slist_append(hdrs, ctype);
    if (crange)
        hdrs = curl_slist_append(hdrs, crange);
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    /* no "Expect: 100-continue" round trip before uploads */
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    char range[64];
    if (rq->range_from > 0) {
        snprintf(range, sizeof range, "%lld-", (long long)rq->range_from);
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    }

    bool has_body = rq->source || rq->body;
    if (!strcmp(rq->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(rq->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_off_t len = rq->source ? (curl_off_t)rq->source_len : (curl_off_t)rq->body_len;
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, has_body ? len : (curl_off_t)0);
    }

    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    *rc_out = rc;
    if (rc == CURLE_OK && !x.aborted)
        return 0;
    if (x.aborted && x.cb_err.msg[0]) {
        *err = x.cb_err;
        return -1;
    }
    if (x.aborted) {
        /* the sink or source set its own error through its ud; say so */
        return error_set(err, ECANCELED, "%s `%s`: transfer aborted", rq->method, url);
    }
    resp->transport_error = true;
    return error_set(err, EIO, "%s `%s`: %s", rq->method, url,
                     conn->errbuf[0] ? conn->errbuf : curl_easy_strerror(rc));
}

/* ---- auth ---- */

/* Parses `Bearer realm="..",service="..",scope=".."` (or Basic). */
static void parse_challenge(const char *h, char **scheme, char **realm, char **service,
                            char **scope)
{
    *scheme = *realm = *service = *scope = NULL;
    size_t n = strcspn(h, " ");
    *scheme = xstrndup(h, n);
    const char *p = h + n;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t k = strcspn(p, "=");
        if (!p[k])
            break;
        cleanup_free char *key = xstrndup(p, k);
        p += k + 1;
        char *val;
        if (*p == '"') {
            p++;
            size_t v = strcspn(p, "\"");
            val = xstrndup(p, v);
            p += v + (p[v] == '"');
        } else {
            size_t v = strcspn(p, ",");
            val = xstrndup(p, v);
            p += v;
        }
        if (!strcasecmp(key, "realm"))
            set_field(realm, val);
        else if (!strcasecmp(key, "service"))
            set_field(service, val);
        else if (!strcasecmp(key, "scope"))
            set_field(scope, val);
        else
            free(val);
    }
}

static char *url_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = xstrdup(e);
    curl_free(e);
    return r;
}

/* GET realm?service=..&scope=.. (with basic credentials when we have
 * them) and caches "Authorization: Bearer TOKEN" for scope. */
static int fetch_token(struct reg_conn *conn, const char *scope, struct error *err)
{
    struct reg_client *c = conn->c;
    pthread_mutex_lock(&c->lock);
    cleanup_free char *realm = c->realm ? xstrdup(c->realm) : NULL;
    cleanup_free char *service = c->service ? xstrdup(c->service) : NULL;
    pthread_mutex_unlock(&c->lock);
    if (!realm)
        return error_set(err, EPROTO, "registry `%s`: bearer challenge without a realm",
                         c->registry);
    cleanup_free char *url = xstrdup(realm);
    if (service) {
        char *u = reg_url_add_query(url, "service", service);
        free(url);
        url = u;
    }
    /* several scopes (a mount reads another repository) are sent as
     * repeated scope parameters, as the token spec has it */
    cleanup_free char *scopes = xstrdup(scope ? scope : "");
    for (char *save = NULL, *one = strtok_r(scopes, " ", &save); one;
         one = strtok_r(NULL, " ", &save)) {
        char *u = reg_url_add_query(url, "scope", one);
        free(url);
        url = u;
    }
    cleanup_free char *basic = NULL;
    if (c->user) {
        cleanup_free char *pair = xasprintf("%s:%s", c->user, c->password);
        cleanup_free char *b64 = reg_base64_encode(pair, strlen(pair));
        basic = xasprintf("Authorization: Basic %s", b64);
    }
    struct reg_request rq = {.method = "GET", .url = url};
    struct reg_response resp = {0};
    CURLcode rc;
    int r = perform(conn, &rq, basic, &resp, &rc, err);
    if (r < 0) {
        reg_response_clear(&resp);
        return error_prefix(err, "fetch a token for `%s`", c->registry);
    }
    if (resp.status == 401 || resp.status == 403) {
        reg_response_clear(&resp);
        return error_set(err, EACCES, "registry `%s`: %s", c->registry,
                         c->user ? "username or password refused"
                                 : "authentication required (use `strata login`)");
    }
    if (resp.status != 200) {
        reg_http_status_error(&resp, "fetch a token", err);
        reg_response_clear(&resp);
        return -1;
    }
    json_error_t je;
    json_t *j = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, &je);
    reg_response_clear(&resp);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok || !*tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (!tok || !*tok) {
        json_decref(j);
        return error_set(err, EPROTO, "registry `%s`: the token answer has no token",
                         c->registry);
    }
    struct token *t = xzalloc(sizeof *t);
    t->scope = xstrdup(scope ? scope : "");
    t->header = xasprintf("Authorization: Bearer %s", tok);
    json_decref(j);
    pthread_mutex_lock(&c->lock);
    t->next = c->tokens;
    c->tokens = t;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* A 401 arrived: learn the challenge and get credentials for it. */
static int answer_challenge(struct reg_conn *conn, const struct reg_response *resp,
                            const char *scope, struct error *err)
{
    struct reg_client *c = conn->c;
    if (!resp->www_authenticate)
        return error_set(err, EACCES, "registry `%s`: 401 without a challenge",
                         c->registry);
    char *scheme, *realm, *service, *ch_scope;
    parse_challenge(resp->www_authenticate, &scheme, &realm, &service, &ch_scope);
    cleanup_free char *s1 = scheme, *s2 = realm, *s3 = service, *s4 = ch_scope;
    if (!strcasecmp(scheme, "basic")) {
        if (!c->user)
            return error_set(err, EACCES,
                             "registry `%s`: authentication required (use `strata login`)",
                             c->registry);
        pthread_mutex_lock(&c->lock);
        bool had = c->scheme == AUTH_BASIC && c->basic_header;
        c->scheme = AUTH_BASIC;
        if (!c->basic_header) {
            cleanup_free char *pair = xasprintf("%s:%s", c->user, c->password);
            cleanup_free char *b64 = reg_base64_encode(pair, strlen(pair));
            c->basic_header = xasprintf("Authorization: Basic %s", b64);
        }
        pthread_mutex_unlock(&c->lock);
        if (had) /* we sent them and they were refused */
            return error_set(err, EACCES, "registry `%s`: username or password refused",
                             c->registry);
        return 0;
    }
    if (!strcasecmp(scheme, "bearer")) {
        pthread_mutex_lock(&c->lock);
        c->scheme = AUTH_BEARER;
        set_field(&c->realm, TAKE_PTR(s2));
        set_field(&c->service, TAKE_PTR(s3));
        pthread_mutex_unlock(&c->lock);
        return fetch_token(conn, scope ? scope : ch_scope, err);
    }
    return error_set(err, EACCES, "registry `%s`: unsupported auth scheme `%s`", c->registry,
                     scheme);
}

static int http_attempts(struct reg_conn *conn, const struct reg_request *rq,
                         struct reg_response *resp, struct error *err);

int reg_http(struct reg_conn *conn, const struct reg_request *rq, struct reg_response *resp,
             struct error *err)
{
    int r = http_attempts(conn, rq, resp, err);
    if (r < 0) /* no answer to look at: callers need not clear it */
        reg_response_clear(resp);
    return r;
}

static int http_attempts(struct reg_conn *conn, const struct reg_request *rq,
                         struct reg_response *resp, struct error *err)
{
    struct reg_client *c = conn->c;
    bool replayable = !rq->source && !rq->sink;
    int retries = rq->once || !replayable ? 0 : reg_client_retries(c);
    bool answered = false;
    for (int attempt = 0;; attempt++) {
        cleanup_free char *auth = auth_header_for(c, rq->scope);
        CURLcode rc = CURLE_OK;
        int r = perform(conn, rq, auth, resp, &rc, err);
        if (r < 0) {
            if (resp->transport_error && transient_curl(rc) && attempt < retries) {
                reg_backoff(attempt + 1);
                continue;
            }
            return -1;
        }
        if (resp->status == 401 && !answered && (replayable || !rq->source)) {
            answered = true;
            if (answer_challenge(conn, resp, rq->scope, err) < 0)
                return -1;
            attempt--;
            continue;
        }
        if (resp->status >= 500 && attempt < retries) {
            reg_backoff(attempt + 1);
            continue;
        }
        return 0;
    }
}

int reg_http_status_error(const struct reg_response *resp, const char *what,
                          struct error *err)
{
    if (resp->body && resp->body_len) {
        json_error_t je;
        json_t *j = json_loadb(resp->body, resp->body_len, 0, &je);
        json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
        const char *code = json_string_value(json_object_get(e0, "code"));
        const char *msg = json_string_value(json_object_get(e0, "message"));
        if (code || msg) {
            error_set(err, EPROTO, "%s: %ld %s%s%s", what, resp->status, code ? code : "",
                      code && msg ? ": " : "", msg ? msg : "");
            json_decref(j);
            return -1;
        }
        json_decref(j);
    }
    int code = resp->status == 401 || resp->status == 403 ? EACCES
               : resp->status == 404                      ? ENOENT
                                                          : EPROTO;
    return error_set(err, code, "%s: HTTP %ld", what, resp->status);
}

char *reg_url_resolve(struct reg_client *c, const char *location)
{
    if (strstr(location, "://"))
        return xstrdup(location);
    if (location[0] == '/')
        return xasprintf("%s%s", c->base, location);
    return xasprintf("%s/%s", c->base, location);
}

char *reg_url_add_query(const char *url, const char *key, const char *value)
{
    cleanup_free char *v = url_escape(value);
    return xasprintf("%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', key, v);
}

/* ---- the client ---- */

static int ping(struct reg_client *c, struct error *err)
{
    struct reg_conn *conn = reg_conn_new(c);
    struct reg_request rq = {.method = "GET", .url = "/v2/", .collect_max = 64 << 10};
    struct reg_response resp = {0};
    CURLcode rc;
    int r = -1;
    int retries = reg_client_retries(c);
    for (int attempt = 0;; attempt++) {
        r = perform(conn, &rq, NULL, &resp, &rc, err);
        if (r < 0 && !c->opts.tls_verify && !strncmp(c->base, "https://", 8)) {
            /* podman's --tls-verify=false: fall back to plain http */
            cleanup_free char *host = xstrdup(c->base + 8);
            free(c->base);
            c->base = xasprintf("http://%s", host);
            struct error e2 = {0};
            r = perform(conn, &rq, NULL, &resp, &rc, &e2);
            if (r < 0) {
                /* report the https failure, it is the default */
                free(c->base);
                c->base = xasprintf("https://%s", host);
            }
        }
        if (r < 0 && resp.transport_error && transient_curl(rc) && rc != CURLE_COULDNT_CONNECT &&
            attempt < retries) {
            reg_backoff(attempt + 1);
            continue;
        }
        if (r == 0 && resp.status >= 500 && attempt < retries) {
            reg_backoff(attempt + 1);
            continue;
        }
        break;
    }
    reg_conn_free(conn);
    if (r < 0) {
        reg_response_clear(&resp);
        if (c->opts.tls_verify &&
            (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION)) {
            char cause[sizeof err->msg];
            snprintf(cause, sizeof cause, "%s", err->msg);
            error_set(err, EPROTO,
                      "%.900s (a registry with its own CA: --cert-dir; "
                      "plain http: --tls-verify=false)",
                      cause);
        }
        return error_prefix(err, "contact registry `%s`", c->registry);
    }
    if (resp.status == 401 && resp.www_authenticate) {
        char *scheme, *realm, *service, *scope;
        parse_challenge(resp.www_authenticate, &scheme, &realm, &service, &scope);
        if (!strcasecmp(scheme, "bearer")) {
            c->scheme = AUTH_BEARER;
            c->realm = realm;
            c->service = service;
            realm = service = NULL;
        } else if (!strcasecmp(scheme, "basic")) {
            c->scheme = AUTH_BASIC;
            if (c->user) {
                cleanup_free char *pair = xasprintf("%s:%s", c->user, c->password);
                cleanup_free char *b64 = reg_base64_encode(pair, strlen(pair));
                c->basic_header = xasprintf("Authorization: Basic %s", b64);
            }
        }
        free(scheme);
        free(realm);
        free(service);
        free(scope);
    } else if (resp.status != 200) {
        long st = resp.status;
        reg_response_clear(&resp);
        return error_set(err, EPROTO, "`%s` does not look like a registry: GET /v2/ answered %ld",
                         c->registry, st);
    }
    reg_response_clear(&resp);
    return 0;
}

int reg_client_new(const char *registry, const struct reg_opts *o, struct reg_client **out,
                   struct error *err)
{
    pthread_once(&curl_once, curl_init_once);
    struct reg_client *c = xzalloc(sizeof *c);
    c->registry = xstrdup(registry);
    c->opts = *o;
    c->base = xasprintf("https://%s", reg_api_host(registry));
    pthread_mutex_init(&c->lock, NULL);
    if (o->username) {
        c->user = xstrdup(o->username);
        c->password = xstrdup(o->password ? o->password : "");
    } else {
        cleanup_free char *path = o->auth_file ? xstrdup(o->auth_file) : reg_auth_file_path(err);
        if (path && reg_auth_get(path, registry, &c->user, &c->password, err) < 0) {
            reg_client_free(c);
            return -1;
        }
        error_clear(err);
    }
    if (load_tls(c, err) < 0 || ping(c, err) < 0) {
        reg_client_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void reg_client_free(struct reg_client *c)
{
    if (!c)
        return;
    free(c->registry);
    free(c->base);
    free(c->user);
    free(c->password);
    free(c->ca_pem);
    free(c->client_cert);
    free(c->client_key);
    free(c->realm);
    free(c->service);
    free(c->basic_header);
    for (struct token *t = c->tokens, *next; t; t = next) {
        next = t->next;
        free(t->scope);
        free(t->header);
        free(t);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int reg_client_check_login(struct reg_client *c, struct error *err)
{
    struct reg_conn *conn = reg_conn_new(c);
    int r = 0;
    if (c->scheme == AUTH_BEARER) {
        r = fetch_token(conn, NULL, err);
    } else if (c->scheme == AUTH_BASIC) {
        struct reg_request rq = {.method = "GET", .url = "/v2/"};
        struct reg_response resp = {0};
        r = reg_http(conn, &rq, &resp, err);
        if (r == 0 && resp.status != 200) {
            if (resp.status == 401)
                r = error_set(err, EACCES, "registry `%s`: username or password refused",
                              c->registry);
            else
                r = reg_http_status_error(&resp, "log in", err);
        }
        reg_response_clear(&resp);
    }
    reg_conn_free(conn);
    return r;
}

/* "<url>; rel=\"next\"" → url */
static char *link_next(const char *link)
{
    if (!link || !strstr(link, "rel=\"next\""))
        return NULL;
    const char *lt = strchr(link, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    return gt ? xstrndup(lt + 1, (size_t)(gt - lt - 1)) : NULL;
}

int reg_tags_list(struct reg_client *c, const char *repository, char ***tags,
                  struct error *err)
{
    struct reg_conn *conn = reg_conn_new(c);
    cleanup_free char *scope = xasprintf("repository:%s:pull", repository);
    char *url = xasprintf("/v2/%s/tags/list", repository);
    size_t n = 0;
    char **v = xcalloc(1, sizeof *v);
    int r = 0;
    while (url) {
        struct reg_request rq = {.method = "GET", .url = url, .scope = scope};
        struct reg_response resp = {0};
        r = reg_http(conn, &rq, &resp, err);
        if (r == 0 && resp.status != 200)
            r = reg_http_status_error(&resp, "list tags", err);
        json_t *j = NULL;
        if (r == 0) {
            json_error_t je;
            j = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, &je);
            json_t *arr = json_object_get(j, "tags");
            if (!j || !(json_is_array(arr) || json_is_null(arr)))
                r = error_set(err, EPROTO, "list tags of `%s`: malformed answer", repository);
            size_t i;
            json_t *t;
            json_array_foreach(arr, i, t)
            {
                if (!json_is_string(t))
                    continue;
                v = xrealloc(v, (n + 2) * sizeof *v);
                v[n++] = xstrdup(json_string_value(t));
                v[n] = NULL;
            }
        }
        json_decref(j);
        free(url);
        url = NULL;
        char *next = r == 0 ? link_next(resp.link) : NULL;
        if (next) {
            url = reg_url_resolve(c, next);
            free(next);
        }
        reg_response_clear(&resp);
    }
    reg_conn_free(conn);
    if (r < 0) {
        strv_free(v);
        return error_prefix(err, "registry `%s`", c->registry);
    }
    *tags = v;
    return 0;
}

/* ---- parallel jobs ---- */

struct pool {
    struct reg_client *c;
    reg_job_fn fn;
    void *ud;
    size_t n;
    pthread_mutex_t lock; /* protects next, failed, err */
    size_t next;
    bool failed;
    struct error err;
};

static void *worker(void *arg)
{
    struct pool *p = arg;
    struct reg_conn *conn = reg_conn_new(p->c);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next++;
        bool stop = p->failed || i >= p->n;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        struct error e = {0};
        if (p->fn(conn, i, p->ud, &e) < 0) {
            pthread_mutex_lock(&p->lock);
            if (!p->failed) {
                p->failed = true;
                p->err = e;
            }
            pthread_mutex_unlock(&p->lock);
        }
    }
    reg_conn_free(conn);
    return NULL;
}

int reg_run_parallel(struct reg_client *c, size_t n, reg_job_fn fn, void *ud,
                     struct error *err)
{
    struct pool p = {.c = c, .fn = fn, .ud = ud, .n = n};
    pthread_mutex_init(&p.lock, NULL);
    size_t threads = c->opts.parallel > 0 ? (size_t)c->opts.parallel : 3;
    if (threads > n)
        threads = n;
    pthread_t *tids = xcalloc(threads ? threads : 1, sizeof *tids);
    size_t started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, worker, &p) != 0)
            break;
    if (started == 0 && n > 0)
        worker(&p); /* no thread could start: do the work here */
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    pthread_mutex_destroy(&p.lock);
    if (p.failed) {
        *err = p.err;
        return -1;
    }
    return 0;
}
