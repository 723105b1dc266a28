#include "cmd/imageutil.h"

#include <stdio.h>
#include <string.h>

#include "common/xalloc.h"

struct fmt_store *imgutil_open_store(struct cli *cli, const struct verb *v)
{
    struct error err = {0};
    struct fmt_store *s = NULL;
    if (fmt_store_open(cli->root, &s, &err) < 0) {
        cli_fail(v, &err);
        return NULL;
    }
    return s;
}

void imgutil_human_size(int64_t bytes, char *buf, size_t len)
{
    static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1000 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lldB", (long long)bytes);
    else
        snprintf(buf, len, "%.3g%s", v, units[u]);
}

void imgutil_human_ago(time_t t, char *buf, size_t len)
{
    if (t < 0) {
        snprintf(buf, len, "N/A");
        return;
    }
    long long d = (long long)(time(NULL) - t);
    static const struct {
        long long secs;
        const char *unit;
    } steps[] = {{365LL * 86400, "year"}, {30LL * 86400, "month"}, {7 * 86400, "week"},
                 {86400, "day"},          {3600, "hour"},          {60, "minute"},
                 {1, "second"}};
    if (d < 1) {
        snprintf(buf, len, "Less than a second ago");
        return;
    }
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        long long n = d / steps[i].secs;
        if (n >= 1) {
            snprintf(buf, len, "%lld %s%s ago", n, steps[i].unit, n == 1 ? "" : "s");
            return;
        }
    }
}

void imgutil_split_ref(const char *ref, char **name, char **tag)
{
    if (!ref) {
        *name = xstrdup("<none>");
        *tag = xstrdup("<none>");
        return;
    }
    const char *at = strchr(ref, '@');
    const char *slash = strrchr(ref, '/');
    const char *colon = strrchr(slash ? slash : ref, ':');
    if (at && (!colon || colon > at))
        colon = NULL;
    const char *end = colon ? colon : at ? at : ref + strlen(ref);
    *name = xstrndup(ref, (size_t)(end - ref));
    *tag = colon ? xstrndup(colon + 1, (size_t)((at ? at : ref + strlen(ref)) - colon - 1))
                 : xstrdup("<none>");
}
