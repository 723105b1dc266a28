#include "builder/fetch.h"

#include "registry/libcurl.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"

struct sink {
    int fd;
    struct error *err;
    bool failed;
};

static size_t on_data(char *buf, size_t size, size_t n, void *ctx)
{
    struct sink *s = ctx;
    if (write_all(s->fd, buf, size * n, s->err) < 0) {
        s->failed = true;
        return 0;
    }
    return size * n;
}

static char *url_basename(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *path = strchr(p, '/');
    if (!path)
        return xstrdup("index.html");
    size_t l = strcspn(path, "?#");
    cleanup_free char *clean = xstrndup(path, l);
    while (*clean && clean[strlen(clean) - 1] == '/')
        clean[strlen(clean) - 1] = '\0';
    const char *b = strrchr(clean, '/');
    b = b ? b + 1 : clean;
    if (!*b || !strcmp(b, ".") || !strcmp(b, ".."))
        return xstrdup("index.html");
    return xstrdup(b);
}

int bld_fetch_url(const char *url, const char *dir, char **name, struct error *err)
{
    cleanup_free char *base = url_basename(url);
    cleanup_free char *path = xasprintf("%s/%s", dir, base);
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return error_errno(err, "create `%s`", path);
    CURL *c = curl_easy_init();
    if (!c)
        return error_set(err, 0, "fetch `%s`: cannot start libcurl", url);
    struct sink s = {.fd = fd, .err = err};
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (s.failed)
        return error_prefix(err, "fetch `%s`", url);
    if (rc != CURLE_OK) {
        bool net = rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT ||
                   rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_OPERATION_TIMEDOUT;
        return error_set(err, EIO, "fetch `%s`: %s%s", url, *ebuf ? ebuf : curl_easy_strerror(rc),
                         net ? " (no network?)" : "");
    }
    *name = TAKE_PTR(base);
    return 0;
}
