#include "format/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/xalloc.h"

const char *fmt_config_host_arch(void)
{
    static const struct {
        const char *machine, *goarch;
    } map[] = {
        {"x86_64", "amd64"},   {"aarch64", "arm64"}, {"armv7l", "arm"},     {"armv6l", "arm"},
        {"i686", "386"},       {"i386", "386"},      {"ppc64le", "ppc64le"}, {"s390x", "s390x"},
        {"riscv64", "riscv64"}, {"mips64", "mips64le"},
    };
    static char buf[sizeof(((struct utsname *)0)->machine)];
    struct utsname u;
    if (uname(&u) < 0)
        return "amd64";
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(u.machine, map[i].machine))
            return map[i].goarch;
    snprintf(buf, sizeof buf, "%s", u.machine);
    return buf;
}

time_t fmt_config_now(void)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        char *end;
        errno = 0;
        long long v = strtoll(sde, &end, 10);
        if (!errno && !*end && v >= 0)
            return (time_t)v;
    }
    return time(NULL);
}

char *fmt_config_time_string(time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return xstrdup(buf);
}

json_t *fmt_config_new(void)
{
    char *created = fmt_config_time_string(fmt_config_now());
    json_t *cfg = json_pack("{s:s, s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "created", created,
                            "architecture", fmt_config_host_arch(), "os", "linux", "config",
                            "rootfs", "type", "layers", "diff_ids", "history");
    free(created);
    return cfg;
}

int fmt_config_parse(const char *data, size_t len, json_t **out, struct error *err)
{
    json_error_t jerr;
    json_t *cfg = json_loadb(data, len, 0, &jerr);
    if (!cfg)
        return error_set(err, EINVAL, "image config is not valid JSON: %s (line %d)", jerr.text,
                         jerr.line);
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return error_set(err, EINVAL, "image config is not a JSON object");
    }
    json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (ids && !json_is_array(ids)) {
        json_decref(cfg);
        return error_set(err, EINVAL, "image config: rootfs.diff_ids is not an array");
    }
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (!fmt_digest_is_valid(json_string_value(v))) {
            json_decref(cfg);
            return error_set(err, EINVAL, "image config: diff_id %zu is not a sha256 digest", i);
        }
    }
    *out = cfg;
    return 0;
}

static json_t *diff_ids(json_t *cfg)
{
    return json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
}

size_t fmt_config_diff_id_count(json_t *cfg)
{
    return json_array_size(diff_ids(cfg));
}

const char *fmt_config_diff_id(json_t *cfg, size_t i)
{
    return json_string_value(json_array_get(diff_ids(cfg), i));
}

int fmt_config_set_diff_ids(json_t *cfg, const struct fmt_descriptor *layers, size_t n,
                            struct error *err)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!fmt_digest_is_valid(layers[i].diff_id)) {
            json_decref(arr);
            return error_set(err, EINVAL, "layer %zu (`%s`) has no valid diff_id", i,
                             layers[i].digest);
        }
        json_array_append_new(arr, json_string(layers[i].diff_id));
    }
    json_t *rootfs = json_object_get(cfg, "rootfs");
    if (!json_is_object(rootfs)) {
        rootfs = json_object();
        json_object_set_new(cfg, "rootfs", rootfs);
    }
    json_object_set_new(rootfs, "type", json_string("layers"));
    json_object_set_new(rootfs, "diff_ids", arr);
    return 0;
}

void fmt_config_add_history(json_t *cfg, const char *created_by, const char *comment,
                            bool empty_layer)
{
    json_t *h = json_object_get(cfg, "history");
    if (!json_is_array(h)) {
        h = json_array();
        json_object_set_new(cfg, "history", h);
    }
    char *created = fmt_config_time_string(fmt_config_now());
    json_t *e = json_pack("{s:s}", "created", created);
    free(created);
    if (created_by)
        json_object_set_new(e, "created_by", json_string(created_by));
    if (comment)
        json_object_set_new(e, "comment", json_string(comment));
    if (empty_layer)
        json_object_set_new(e, "empty_layer", json_true());
    json_array_append_new(h, e);
}

time_t fmt_config_created(json_t *cfg)
{
    const char *s = json_string_value(json_object_get(cfg, "created"));
    if (!s)
        return -1;
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    time_t t = timegm(&tm);
    /* skip fractional seconds; honour a numeric offset */
    if (*rest == '.')
        while (*++rest >= '0' && *rest <= '9')
            ;
    if ((*rest == '+' || *rest == '-') && strlen(rest) >= 6) {
        int h = atoi(rest + 1), m = atoi(rest + 4);
        int off = (h * 60 + m) * 60;
        t += *rest == '+' ? -off : off;
    }
    return t;
}
