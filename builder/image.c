#include "builder/image.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>

#include "builder/vars.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

static const char *oci_arch(void)
{
    struct utsname u;
    if (uname(&u) < 0)
        return "amd64";
    if (!strcmp(u.machine, "x86_64"))
        return "amd64";
    if (!strcmp(u.machine, "aarch64"))
        return "arm64";
    if (!strncmp(u.machine, "arm", 3))
        return "arm";
    if (!strcmp(u.machine, "i686") || !strcmp(u.machine, "i386"))
        return "386";
    return "amd64";
}

static json_t *config_obj(struct bld_image *img)
{
    json_t *c = json_object_get(img->doc, "config");
    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(img->doc, "config", c);
    }
    return c;
}

static void sync_env_from_doc(struct bld_image *img)
{
    bld_env_clear(&img->env);
    json_t *e = bld_image_get(img, "Env");
    size_t i;
    json_t *v;
    json_array_foreach(e, i, v)
        if (json_is_string(v))
            bld_env_set_pair(&img->env, json_string_value(v));
}

static void sync_env_to_doc(struct bld_image *img)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < img->env.n; i++) {
        cleanup_free char *s =
            xasprintf("%s=%s", img->env.names[i], img->env.values[i] ? img->env.values[i] : "");
        json_array_append_new(arr, json_string(s));
    }
    json_object_set_new(config_obj(img), "Env", arr);
}

void bld_image_scratch(struct bld_image *img)
{
    memset(img, 0, sizeof *img);
    img->doc = json_pack("{s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "architecture", oci_arch(), "os",
                         "linux", "config", "rootfs", "type", "layers", "diff_ids", "history");
    bld_env_init(&img->env);
    /* what Docker gives a FROM scratch image, so RUN has a PATH */
    bld_env_set(&img->env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    sync_env_to_doc(img);
}

int bld_image_from_json(const char *data, size_t len, struct bld_image *img, struct error *err)
{
    memset(img, 0, sizeof *img);
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return error_set(err, 0, "base image config is not a JSON object: %s", jerr.text);
    }
    img->doc = doc;
    /* drop the base's created time: ours replaces it */
    json_t *rootfs = json_object_get(doc, "rootfs");
    if (!json_is_object(rootfs)) {
        rootfs = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
        json_object_set_new(doc, "rootfs", rootfs);
    }
    if (!json_is_array(json_object_get(rootfs, "diff_ids")))
        json_object_set_new(rootfs, "diff_ids", json_array());
    if (!json_is_array(json_object_get(doc, "history")))
        json_object_set_new(doc, "history", json_array());
    config_obj(img);
    bld_env_init(&img->env);
    sync_env_from_doc(img);
    return 0;
}

void bld_image_copy(struct bld_image *dst, const struct bld_image *src)
{
    memset(dst, 0, sizeof *dst);
    dst->doc = json_deep_copy(src->doc);
    bld_env_copy(&dst->env, &src->env);
}

void bld_image_clear(struct bld_image *img)
{
    json_decref(img->doc);
    bld_env_clear(&img->env);
    memset(img, 0, sizeof *img);
}

json_t *bld_image_get(const struct bld_image *img, const char *key)
{
    json_t *v = json_object_get(json_object_get(img->doc, "config"), key);
    return json_is_null(v) ? NULL : v;
}

static char **strv_from_json(json_t *arr)
{
    size_t n = json_array_size(arr);
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        v[i] = xstrdup(s ? s : "");
    }
    return v;
}

static json_t *json_from_strv(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

char **bld_image_shell(const struct bld_image *img)
{
    json_t *sh = bld_image_get(img, "Shell");
    if (json_is_array(sh) && json_array_size(sh) > 0)
        return strv_from_json(sh);
    char **v = xcalloc(3, sizeof *v);
    v[0] = xstrdup("/bin/sh");
    v[1] = xstrdup("-c");
    return v;
}

const char *bld_image_workdir(const struct bld_image *img)
{
    const char *w = json_string_value(bld_image_get(img, "WorkingDir"));
    return w && *w ? w : "/";
}

const char *bld_image_user(const struct bld_image *img)
{
    const char *u = json_string_value(bld_image_get(img, "User"));
    return u ? u : "";
}

char **bld_command_argv(const struct bld_image *img, const struct bld_instr *in)
{
    if (in->json) {
        char **v = xcalloc(in->n_json + 1, sizeof *v);
        for (size_t i = 0; i < in->n_json; i++)
            v[i] = xstrdup(in->json[i]);
        return v;
    }
    char **sh = bld_image_shell(img);
    size_t n = 0;
    while (sh[n])
        n++;
    sh = xrealloc(sh, (n + 2) * sizeof *sh);
    sh[n] = xstrdup(in->args);
    sh[n + 1] = NULL;
    return sh;
}

void bld_format_time(int64_t t, char out[40])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t bld_parse_duration(const char *s)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    if (!s || !*s)
        return -1;
    if (!strcmp(s, "0"))
        return 0;
    double total = 0;
    const char *p = s;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        double v = strtod(p, &end);
        if (end == p)
            return -1;
        p = end;
        size_t best = 0;
        double mult = 0;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
            size_t l = strlen(units[i].unit);
            if (!strncmp(p, units[i].unit, l) && l > best) {
                best = l;
                mult = units[i].ns;
            }
        }
        if (!best)
            return -1;
        p += best;
        total += v * mult;
    }
    return (int64_t)total;
}

static char *join_path(const char *base, const char *rel)
{
    cleanup_free char *joined = rel[0] == '/' ? xstrdup(rel) : xasprintf("%s/%s", base, rel);
    /* clean: fold "//", "." and ".." as path.Clean does */
    char **parts = xcalloc(strlen(joined) + 1, sizeof *parts);
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, "."))
            continue;
        if (!strcmp(t, "..")) {
            if (n)
                n--;
            continue;
        }
        parts[n++] = t;
    }
    size_t len = 2;
    for (size_t i = 0; i < n; i++)
        len += strlen(parts[i]) + 1;
    char *out = xmalloc(len);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, "/");
        strcat(out, parts[i]);
    }
    if (!n)
        strcpy(out, "/");
    free(parts);
    return out;
}

static char *json_compact(json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int apply_healthcheck(struct bld_image *img, const struct bld_file *f,
                             const struct bld_instr *in, char **created_by, struct error *err)
{
    static const char *const allowed[] = {"interval", "timeout", "start-period", "start-interval",
                                          "retries", NULL};
    const char *a = in->args;
    size_t kl = strcspn(a, " \t");
    cleanup_free char *kw = xstrndup(a, kl);
    const char *rest = a + kl;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    json_t *hc = json_object();
    if (!strcasecmp(kw, "none")) {
        if (*rest || in->n_flags) {
            json_decref(hc);
            return bld_instr_error(err, f, in, "HEALTHCHECK NONE takes no other arguments");
        }
        json_object_set_new(hc, "Test", json_pack("[s]", "NONE"));
    } else if (!strcasecmp(kw, "cmd")) {
        if (bld_instr_check_flags(f, in, allowed, err) < 0) {
            json_decref(hc);
            return -1;
        }
        if (!*rest) {
            json_decref(hc);
            return bld_instr_error(err, f, in, "HEALTHCHECK CMD needs a command");
        }
        size_t n;
        char **j = rest[0] == '[' ? bld_json_strv(rest, &n) : NULL;
        json_t *test = json_array();
        if (j) {
            json_array_append_new(test, json_string("CMD"));
            for (size_t i = 0; i < n; i++)
                json_array_append_new(test, json_string(j[i]));
            strv_free(j);
        } else {
            json_array_append_new(test, json_string("CMD-SHELL"));
            json_array_append_new(test, json_string(rest));
        }
        json_object_set_new(hc, "Test", test);
        static const char *const dur[][2] = {{"interval", "Interval"},
                                             {"timeout", "Timeout"},
                                             {"start-period", "StartPeriod"},
                                             {"start-interval", "StartInterval"}};
        for (size_t i = 0; i < ARRAY_SIZE(dur); i++) {
            const char *v = bld_instr_flag(in, dur[i][0], NULL);
            if (!v)
                continue;
            int64_t ns = bld_parse_duration(v);
            if (ns < 0) {
                json_decref(hc);
                return bld_instr_error(err, f, in, "invalid duration `%s` for --%s", v, dur[i][0]);
            }
            json_object_set_new(hc, dur[i][1], json_integer(ns));
        }
        const char *r = bld_instr_flag(in, "retries", NULL);
        if (r) {
            char *end;
            long n_r = strtol(r, &end, 10);
            if (!*r || *end || n_r < 0) {
                json_decref(hc);
                return bld_instr_error(err, f, in, "invalid --retries `%s`", r);
            }
            json_object_set_new(hc, "Retries", json_integer(n_r));
        }
    } else {
        json_decref(hc);
        return bld_instr_error(err, f, in, "want `HEALTHCHECK [OPTIONS] CMD command` or `HEALTHCHECK NONE`");
    }
    json_object_set_new(config_obj(img), "Healthcheck", hc);
    *created_by = xasprintf("HEALTHCHECK %s", in->args);
    return 0;
}

static int expand_list(const struct bld_file *f, const struct bld_instr *in,
                       const struct bld_scope *sc, char ***out, size_t *n, struct error *err)
{
    if (in->json) {
        char **v = xcalloc(in->n_json + 1, sizeof *v);
        for (size_t i = 0; i < in->n_json; i++) {
            if (bld_expand_word(in->json[i], f->escape, sc, &v[i], err) < 0) {
                strv_free(v);
                return bld_instr_prefix(err, f, in);
            }
        }
        *out = v;
        *n = in->n_json;
        return 0;
    }
    if (bld_expand_words(in->args, f->escape, sc, out, n, err) < 0)
        return bld_instr_prefix(err, f, in);
    return 0;
}

static int apply_expose(struct bld_image *img, const struct bld_file *f, const struct bld_instr *in,
                        const struct bld_scope *sc, char **created_by, struct error *err)
{
    cleanup_strv char **ports = NULL;
    size_t n;
    if (bld_expand_words(in->args, f->escape, sc, &ports, &n, err) < 0)
        return bld_instr_prefix(err, f, in);
    if (n == 0)
        return bld_instr_error(err, f, in, "EXPOSE requires at least one port");
    json_t *ep = bld_image_get(img, "ExposedPorts");
    if (!json_is_object(ep)) {
        ep = json_object();
        json_object_set_new(config_obj(img), "ExposedPorts", ep);
    }
    size_t cap = 64, len = 0;
    char *text = xmalloc(cap);
    strcpy(text, "EXPOSE");
    len = strlen(text);
    for (size_t i = 0; i < n; i++) {
        char *slash = strchr(ports[i], '/');
        const char *proto = slash ? slash + 1 : "tcp";
        if (slash)
            *slash = '\0';
        char *end;
        long lo = strtol(ports[i], &end, 10), hi = lo;
        if (*end == '-')
            hi = strtol(end + 1, &end, 10);
        if (!*ports[i] || *end || lo < 1 || hi > 65535 || hi < lo ||
            (strcasecmp(proto, "tcp") && strcasecmp(proto, "udp") && strcasecmp(proto, "sctp"))) {
            free(text);
            return bld_instr_error(err, f, in, "invalid port `%s%s%s`", ports[i], slash ? "/" : "",
                                   slash ? proto : "");
        }
        for (long p = lo; p <= hi; p++) {
            char key[32];
            snprintf(key, sizeof key, "%ld/%s", p, proto);
            for (char *c = key; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            json_object_set_new(ep, key, json_object());
            if (len + strlen(key) + 2 > cap) {
                cap = (len + strlen(key) + 2) * 2;
                text = xrealloc(text, cap);
            }
            len += (size_t)sprintf(text + len, " %s", key);
        }
    }
    *created_by = text;
    return 0;
}

int bld_image_apply(struct bld_image *img, const struct bld_file *f, const struct bld_instr *in,
                    const struct bld_scope *sc, char **created_by, struct error *err)
{
    const char *cmd = in->cmd;
    json_t *cfg = config_obj(img);
    if (strcmp(cmd, "healthcheck") && bld_instr_check_flags(f, in, NULL, err) < 0)
        return -1;

    if (!strcmp(cmd, "env") || !strcmp(cmd, "label")) {
        struct bld_env kv;
        bld_env_init(&kv);
        if (bld_parse_kv(f, in, sc, true, &kv, err) < 0) {
            bld_env_clear(&kv);
            return -1;
        }
        bool env = !strcmp(cmd, "env");
        json_t *labels = NULL;
        if (!env) {
            labels = bld_image_get(img, "Labels");
            if (!json_is_object(labels)) {
                labels = json_object();
                json_object_set_new(cfg, "Labels", labels);
            }
        }
        size_t cap = 16;
        for (size_t i = 0; i < kv.n; i++)
            cap += strlen(kv.names[i]) + strlen(kv.values[i]) * 2 + 4;
        char *text = xmalloc(cap);
        strcpy(text, env ? "ENV" : "LABEL");
        for (size_t i = 0; i < kv.n; i++) {
            if (env)
                bld_env_set(&img->env, kv.names[i], kv.values[i]);
            else
                json_object_set_new(labels, kv.names[i], json_string(kv.values[i]));
            strcat(text, " ");
            strcat(text, kv.names[i]);
            strcat(text, "=");
            strcat(text, kv.values[i]);
        }
        if (env)
            sync_env_to_doc(img);
        bld_env_clear(&kv);
        *created_by = text;
        return 0;
    }
    if (!strcmp(cmd, "cmd") || !strcmp(cmd, "entrypoint")) {
        bool is_cmd = !strcmp(cmd, "cmd");
        json_t *val;
        if (in->json) {
            val = json_from_strv(in->json);
        } else if (!is_cmd && !*in->args) {
            /* `ENTRYPOINT` with nothing clears it */
            val = json_null();
        } else {
            char **argv = bld_command_argv(img, in);
            val = json_from_strv(argv);
            strv_free(argv);
        }
        cleanup_free char *js = json_compact(val);
        json_object_set_new(cfg, is_cmd ? "Cmd" : "Entrypoint", val);
        if (is_cmd)
            img->cmd_set = true;
        else if (!img->cmd_set)
            /* an ENTRYPOINT drops a CMD inherited from the base image */
            json_object_set_new(cfg, "Cmd", json_null());
        *created_by = xasprintf("%s %s", is_cmd ? "CMD" : "ENTRYPOINT", js);
        return 0;
    }
    if (!strcmp(cmd, "shell")) {
        if (!in->json || in->n_json == 0)
            return bld_instr_error(err, f, in, "SHELL requires a non-empty JSON array");
        json_t *val = json_from_strv(in->json);
        cleanup_free char *js = json_compact(val);
        json_object_set_new(cfg, "Shell", val);
        *created_by = xasprintf("SHELL %s", js);
        return 0;
    }
    if (!strcmp(cmd, "expose"))
        return apply_expose(img, f, in, sc, created_by, err);
    if (!strcmp(cmd, "volume")) {
        cleanup_strv char **v = NULL;
        size_t n;
        if (expand_list(f, in, sc, &v, &n, err) < 0)
            return -1;
        if (n == 0)
            return bld_instr_error(err, f, in, "VOLUME requires at least one path");
        json_t *vols = bld_image_get(img, "Volumes");
        if (!json_is_object(vols)) {
            vols = json_object();
            json_object_set_new(cfg, "Volumes", vols);
        }
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            if (!*v[i]) {
                json_decref(list);
                return bld_instr_error(err, f, in, "VOLUME path must not be empty");
            }
            json_object_set_new(vols, v[i], json_object());
            json_array_append_new(list, json_string(v[i]));
        }
        cleanup_free char *js = json_compact(list);
        json_decref(list);
        *created_by = xasprintf("VOLUME %s", js);
        return 0;
    }
    if (!strcmp(cmd, "user") || !strcmp(cmd, "workdir") || !strcmp(cmd, "stopsignal") ||
        !strcmp(cmd, "maintainer")) {
        cleanup_free char *v = NULL;
        if (bld_expand_word(in->args, f->escape, sc, &v, err) < 0)
            return bld_instr_prefix(err, f, in);
        if (!*v)
            return bld_instr_error(err, f, in, "%s requires an argument", cmd);
        if (!strcmp(cmd, "user")) {
            json_object_set_new(cfg, "User", json_string(v));
            *created_by = xasprintf("USER %s", v);
        } else if (!strcmp(cmd, "workdir")) {
            char *wd = join_path(bld_image_workdir(img), v);
            json_object_set_new(cfg, "WorkingDir", json_string(wd));
            *created_by = xasprintf("WORKDIR %s", wd);
            free(wd);
        } else if (!strcmp(cmd, "stopsignal")) {
            const char *s = v;
            bool ok = strspn(s, "0123456789") == strlen(s) ||
                      strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-") == strlen(s);
            if (!ok)
                return bld_instr_error(err, f, in, "invalid signal `%s`", s);
            json_object_set_new(cfg, "StopSignal", json_string(s));
            *created_by = xasprintf("STOPSIGNAL %s", s);
        } else {
            json_object_set_new(img->doc, "author", json_string(v));
            *created_by = xasprintf("MAINTAINER %s", v);
        }
        return 0;
    }
    if (!strcmp(cmd, "healthcheck"))
        return apply_healthcheck(img, f, in, created_by, err);
    if (!strcmp(cmd, "onbuild")) {
        /* kept in the config; a build FROM this image runs them (build.c) */
        if (!*in->args)
            return bld_instr_error(err, f, in, "ONBUILD requires an instruction");
        struct bld_file *tf = NULL;
        if (bld_parse(f->path, in->args, strlen(in->args), &tf, err) < 0)
            return bld_instr_error(err, f, in, "ONBUILD trigger does not parse: %s", err->msg);
        const char *kw = tf->n_instrs == 1 ? tf->instrs[0].cmd : NULL;
        bool refused = kw && (!strcmp(kw, "onbuild") || !strcmp(kw, "from") ||
                              !strcmp(kw, "maintainer"));
        bool one = tf->n_instrs == 1;
        cleanup_free char *upper = kw ? xstrdup(kw) : NULL;
        for (char *c = upper; c && *c; c++)
            *c = (char)toupper((unsigned char)*c);
        bld_file_free(tf);
        if (!one)
            return bld_instr_error(err, f, in, "ONBUILD takes exactly one instruction");
        if (refused)
            return bld_instr_error(err, f, in, "%s is not allowed as an ONBUILD trigger", upper);
        json_t *ob = bld_image_get(img, "OnBuild");
        if (!json_is_array(ob)) {
            ob = json_array();
            json_object_set_new(cfg, "OnBuild", ob);
        }
        json_array_append_new(ob, json_string(in->args));
        *created_by = xasprintf("ONBUILD %s", in->args);
        return 0;
    }
    return bld_instr_error(err, f, in, "not a metadata instruction");
}

void bld_image_add_layer(struct bld_image *img, const char *diff_id)
{
    json_t *ids = json_object_get(json_object_get(img->doc, "rootfs"), "diff_ids");
    json_array_append_new(ids, json_string(diff_id));
}

void bld_image_add_history(struct bld_image *img, int64_t created, const char *created_by,
                           bool empty_layer)
{
    char ts[40];
    bld_format_time(created, ts);
    json_t *h = json_pack("{s:s, s:s, s:s}", "created", ts, "created_by", created_by, "comment",
                          "strata build");
    if (empty_layer)
        json_object_set_new(h, "empty_layer", json_true());
    json_array_append_new(json_object_get(img->doc, "history"), h);
}

void bld_image_set_created(struct bld_image *img, int64_t created)
{
    char ts[40];
    bld_format_time(created, ts);
    json_object_set_new(img->doc, "created", json_string(ts));
}

const char **bld_image_diff_ids(const struct bld_image *img, size_t *n)
{
    json_t *ids = json_object_get(json_object_get(img->doc, "rootfs"), "diff_ids");
    size_t count = json_array_size(ids);
    const char **v = xcalloc(count + 1, sizeof *v);
    for (size_t i = 0; i < count; i++)
        v[i] = json_string_value(json_array_get(ids, i));
    *n = count;
    return v;
}

char *bld_image_serialize(const struct bld_image *img)
{
    return json_dumps(img->doc, JSON_COMPACT | JSON_SORT_KEYS);
}
