/* strata inspect: an image or a container as JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/state.h"
#include "format/config.h"
#include "format/image.h"
#include "format/index.h"
#include "format/layer_index.h"

static json_t *copy_or(json_t *v, json_t *dflt)
{
    if (v) {
        json_decref(dflt);
        return json_deep_copy(v);
    }
    return dflt;
}

/* The image as docker/podman-style JSON. */
static json_t *image_json(struct fmt_store *s, struct fmt_image *img)
{
    json_t *tags = json_array();
    struct fmt_index idx;
    struct error err;
    if (fmt_index_load(s, &idx, &err) == 0) {
        for (size_t i = 0; i < idx.n; i++)
            if (idx.entries[i].ref && !strcmp(idx.entries[i].desc.digest, img->digest))
                json_array_append_new(tags, json_string(idx.entries[i].ref));
        fmt_index_clear(&idx);
    }
    json_t *layers = json_array();
    for (size_t i = 0; i < img->manifest.n_layers; i++) {
        const struct fmt_descriptor *l = &img->manifest.layers[i];
        json_t *o = json_pack("{s:s, s:s?, s:s, s:I}", "Digest", l->digest, "DiffID", l->diff_id,
                              "MediaType", l->media_type, "Size", (json_int_t)l->size);
        int64_t usize = l->uncompressed_size;
        struct fmt_layer_index ix;
        struct error ierr = {0};
        /* not recorded (pulled images): measure it once via the cached layer index */
        if (usize < 0 && fmt_layer_index_load(s, l, false, &ix, &ierr) == 0) {
            usize = ix.tar_size;
            fmt_layer_index_clear(&ix);
        }
        json_object_set_new(o, "UncompressedSize",
                            usize >= 0 ? json_integer((json_int_t)usize) : json_null());
        json_array_append_new(layers, o);
    }
    json_t *c = img->config;
    json_t *manifest = json_loads(img->manifest_raw, 0, NULL);
    json_t *o = json_pack("{s:s, s:s, s:o, s:s?, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:I, s:s, "
                          "s:o, s:o}",
                          "Id", img->id, "Digest", img->digest, "RepoTags", tags, "Created",
                          json_string_value(json_object_get(c, "created")), "Author",
                          json_string_value(json_object_get(c, "author")), "Architecture",
                          json_string_value(json_object_get(c, "architecture")), "Os",
                          json_string_value(json_object_get(c, "os")), "Config",
                          copy_or(json_object_get(c, "config"), json_object()), "RootFS",
                          copy_or(json_object_get(c, "rootfs"), json_object()), "History",
                          copy_or(json_object_get(c, "history"), json_array()), "Size",
                          (json_int_t)fmt_image_size(img), "ManifestMediaType",
                          img->manifest.media_type, "Manifest",
                          manifest ? manifest : json_null(), "Layers", layers);
    if (img->manifest.annotations)
        json_object_set(o, "Annotations", img->manifest.annotations);
    static const char *optional[] = {"Created", "Author", "Architecture", "Os"};
    for (size_t i = 0; i < ARRAY_SIZE(optional); i++)
        if (json_is_null(json_object_get(o, optional[i])))
            json_object_del(o, optional[i]);
    return o;
}

/* inspect tries an image first; when no image matches (err->code ==
 * ENOENT) it looks for a container of that id, id prefix or name. */
static int inspect_container(struct cli *cli, const char *name, json_t **out,
                             struct error *err)
{
    struct run_ctr *ct = NULL;
    if (run_ctr_find(cli->root, name, &ct, err) < 0) {
        if (err->code == ENOENT)
            return error_set(err, ENOENT, "no image or container named `%s`", name);
        return -1;
    }
    *out = run_ctr_inspect(ct);
    run_ctr_free(ct);
    return 0;
}

/* `.Config.Cmd`, `{{.Config.Cmd}}` or `{{json .Config.Cmd}}`: follows object
 * keys and array indexes. */
static int format_path(json_t *root, const char *fmt, struct error *err)
{
    cleanup_free char *p = xstrdup(fmt);
    char *s = p;
    size_t n = strlen(s);
    if (n >= 4 && !strncmp(s, "{{", 2) && !strcmp(s + n - 2, "}}")) {
        s[n - 2] = '\0';
        s += 2;
    }
    while (*s == ' ')
        s++;
    bool force_json = false;
    if (!strncmp(s, "json ", 5)) {
        force_json = true;
        s += 5;
    }
    for (char *e = s + strlen(s); e > s && e[-1] == ' ';)
        *--e = '\0';
    if (*s != '.')
        return error_set(err, EINVAL, "format `%s` is not a field path such as `.Config.Cmd`",
                         fmt);
    json_t *cur = root;
    char *save = NULL;
    for (char *tok = strtok_r(s + 1, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        json_t *next = NULL;
        if (json_is_object(cur)) {
            next = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            long i = strtol(tok, &end, 10);
            if (!*end && i >= 0)
                next = json_array_get(cur, (size_t)i);
        }
        if (!next)
            return error_set(err, ENOENT, "no field `%s` in `%s`", tok, fmt);
        cur = next;
    }
    if (json_is_string(cur) && !force_json) {
        puts(json_string_value(cur));
    } else {
        char *out = json_dumps(cur, JSON_COMPACT | JSON_ENCODE_ANY);
        puts(out ? out : "null");
        free(out);
    }
    return 0;
}

static int run_inspect(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"type", required_argument, NULL, 't'},
        {0},
    };
    const char *format = NULL, *type = NULL;
    int c;
    while ((c = cli_getopt(v, argc, argv, "f:", opts)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 't':
            type = optarg;
            break;
        default:
            return cli_exit_status(c);
        }
    }
    if (type && strcmp(type, "image") && strcmp(type, "container"))
        return cli_usage_error(v, "unknown type `%s` (image or container)", type);
    if (optind >= argc)
        return cli_usage_error(v, "need an image");
    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return 1;
    int status = 0;
    json_t *all = json_array();
    for (int i = optind; i < argc; i++) {
        struct error err = {0};
        json_t *o = NULL;
        struct fmt_image *img = NULL;
        int r = -1;
        if (!type || !strcmp(type, "image")) {
            r = fmt_image_resolve(s, argv[i], &img, &err);
            if (r == 0)
                o = image_json(s, img);
            fmt_image_free(img);
        } else {
            err.code = ENOENT;
        }
        if (r < 0 && err.code == ENOENT && (!type || !strcmp(type, "container")))
            r = inspect_container(cli, argv[i], &o, &err);
        if (r < 0) {
            status = cli_fail(v, &err);
            continue;
        }
        if (format) {
            if (format_path(o, format, &err) < 0)
                status = cli_fail(v, &err);
            json_decref(o);
        } else {
            json_array_append_new(all, o);
        }
    }
    if (!format && json_array_size(all) > 0) {
        char *out = json_dumps(all, JSON_INDENT(4));
        puts(out);
        free(out);
    }
    json_decref(all);
    fmt_store_close(s);
    return status;
}

STRATA_VERB(inspect, "inspect", "show an image's manifest, config and layers as JSON",
            "usage: strata inspect [--format PATH] [--type image|container] NAME...\n"
            "\n"
            "Print a JSON array with one object per image: Id (config digest), Digest\n"
            "(manifest digest), RepoTags, Created, Architecture, Os, Config, RootFS,\n"
            "History, Size, ManifestMediaType, Manifest, and Layers (Digest, DiffID,\n"
            "MediaType, Size, UncompressedSize when known).  Every blob read is\n"
            "verified against its digest.  A container shows Id, Name, State (with\n"
            "CgroupPath and CgroupPaths, where its cgroup is), Config and\n"
            "HostConfig.CgroupParent.\n"
            "\n"
            "  -f, --format PATH   print one field, e.g. `.Config.Cmd` or\n"
            "                      `{{.Layers.0.Digest}}` (strings raw, the rest as JSON)\n"
            "  --type image|container   only look for that kind of object\n",
            run_inspect)
