/* strata diff: what each layer of an image changes, what differs between
 * two images, or what a container changed in its image.  Everything comes
 * from layer indexes (tar headers, cached per diff_id); content is hashed
 * only for files of equal size that come from different layers, and those
 * digests are cached too. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/diff_util.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/tree_diff.h"
#include "run/state.h"

static const char usage[] =
    "usage: strata diff [OPTIONS] IMAGE\n"
    "       strata diff [OPTIONS] IMAGE1 IMAGE2\n"
    "       strata diff [OPTIONS] CONTAINER\n\n"
    "With one image: for every layer, the paths it adds (A), changes (C) and\n"
    "deletes (D, by whiteouts and opaque directories), with sizes (a D counts\n"
    "the bytes of everything it removes).\n"
    "With two images: the paths added, removed and changed (content, mode,\n"
    "owner, link target, type) from IMAGE1's final tree to IMAGE2's.\n"
    "With a container: what it changed against its image, as `podman diff`.\n\n"
    "options:\n"
    "  --layer N          only layer N (0 is the base layer)\n"
    "  --format FORMAT    `table` (default) or `json`\n";

struct opts {
    bool json;
    long layer; /* -1: all */
};

static const char *type_name(const struct fmt_change *ch)
{
    const struct fmt_layer_entry *e = ch->new_e ? ch->new_e : ch->old_e;
    return e ? fmt_entry_type_name(e->type) : "";
}

static json_t *change_json(const struct fmt_change *ch)
{
    cleanup_free char *path = diff_display_path(ch->path);
    json_t *o = json_pack("{s:s%, s:s, s:s, s:I}", "kind", &ch->kind, (size_t)1, "path", path,
                          "type", type_name(ch), "size", (json_int_t)ch->size);
    return o;
}

static void table_row(struct dtab *t, const char *layer, const struct fmt_change *ch)
{
    char kind[2] = {ch->kind, 0}, size[32];
    cleanup_free char *path = diff_display_path(ch->path);
    bool dir = (ch->new_e ? ch->new_e : ch->old_e)->type == FMT_ENTRY_DIR;
    if (dir && ch->kind != FMT_CHANGE_DELETED)
        snprintf(size, sizeof size, "-");
    else
        diff_human_size(ch->size, size);
    if (layer)
        dtab_row(t, (const char *const[]){layer, kind, size, path});
    else
        dtab_row(t, (const char *const[]){kind, size, path});
}

/* strata diff IMAGE */
static int diff_layers(const struct verb *v, struct fmt_store *s, const char *name,
                       const struct opts *o)
{
    struct error err = {0};
    struct diff_image di;
    if (diff_image_open(s, name, true, &di, &err) < 0)
        return cli_fail(v, &err);
    if (o->layer >= (long)di.n) {
        diff_image_close(&di);
        err.code = EINVAL;
        snprintf(err.msg, sizeof err.msg, "image `%s` has %zu layers: no layer %ld", name, di.n,
                 o->layer);
        return cli_fail(v, &err);
    }
    struct fmt_tree tree = {0};
    json_t *arr = json_array();
    struct dtab t;
    dtab_init(&t, 4, (const char *const[]){"LAYER", "CHANGE", "SIZE", "PATH"});
    for (size_t i = 0; i < di.n; i++) {
        bool show = o->layer < 0 || (size_t)o->layer == i;
        struct fmt_changes ch = {0};
        fmt_tree_apply(&tree, di.layers[i], (uint32_t)i, show ? FMT_RECORD_TOP : FMT_RECORD_NONE,
                       &ch);
        if (!show)
            continue;
        char lname[32];
        snprintf(lname, sizeof lname, "%zu", i);
        json_t *changes = json_array();
        for (size_t k = 0; k < ch.n; k++) {
            table_row(&t, lname, &ch.v[k]);
            json_array_append_new(changes, change_json(&ch.v[k]));
        }
        const struct fmt_descriptor *l = &di.img->manifest.layers[i];
        json_array_append_new(arr, json_pack("{s:I, s:s, s:s?, s:o}", "layer", (json_int_t)i,
                                             "digest", l->digest, "diff_id", l->diff_id,
                                             "changes", changes));
        fmt_changes_clear(&ch);
    }
    diff_emit(o->json, arr, &t);
    fmt_tree_clear(&tree);
    diff_image_close(&di);
    return 0;
}

/* strata diff IMAGE1 IMAGE2 */
static int diff_images(const struct verb *v, struct fmt_store *s, const char *n1,
                       const char *n2, const struct opts *o)
{
    struct error err = {0};
    struct diff_image a, b;
    if (diff_image_open(s, n1, true, &a, &err) < 0)
        return cli_fail(v, &err);
    if (diff_image_open(s, n2, true, &b, &err) < 0) {
        diff_image_close(&a);
        return cli_fail(v, &err);
    }
    struct fmt_tree ta = {0}, tb = {0};
    fmt_tree_build(&ta, a.layers, a.n);
    fmt_tree_build(&tb, b.layers, b.n);
    /* hash only the layers that hold same-size files from different layers */
    bool *need_a = xcalloc(a.n + 1, 1), *need_b = xcalloc(b.n + 1, 1);
    fmt_tree_digest_needs(&ta, a.ids, &tb, b.ids, need_a, need_b);
    struct diff_digest_job *jobs = xcalloc(a.n + b.n + 1, sizeof *jobs);
    size_t n_jobs = 0;
    for (size_t i = 0; i < a.n; i++)
        if (need_a[i])
            jobs[n_jobs++] = (struct diff_digest_job){.di = &a, .layer = i, .tree = &ta};
    for (size_t i = 0; i < b.n; i++)
        if (need_b[i])
            jobs[n_jobs++] = (struct diff_digest_job){.di = &b, .layer = i, .tree = &tb};
    int rc = n_jobs ? diff_load_digests(s, jobs, n_jobs, &err) : 0;
    free(jobs);
    free(need_a);
    free(need_b);
    struct fmt_changes ch = {0};
    if (!rc)
        rc = fmt_tree_compare(&ta, a.ids, &tb, b.ids, &ch, &err);
    if (!rc) {
        json_t *arr = json_array();
        struct dtab t;
        dtab_init(&t, 5, (const char *const[]){"CHANGE", "SIZE", "OLD SIZE", "WHAT", "PATH"});
        for (size_t k = 0; k < ch.n; k++) {
            const struct fmt_change *c = &ch.v[k];
            char what[64] = "", size[32] = "", old[32] = "";
            char kind[2] = {c->kind, 0};
            cleanup_free char *path = diff_display_path(c->path);
            fmt_diff_what_string(c->what, what, sizeof what);
            const struct fmt_layer_entry *e = c->new_e ? c->new_e : c->old_e;
            bool dir = e->type == FMT_ENTRY_DIR;
            if (!dir)
                diff_human_size(c->size, size);
            if (c->kind == FMT_CHANGE_CHANGED && !dir)
                diff_human_size(c->old_size, old);
            dtab_row(&t, (const char *const[]){kind, dir ? "-" : size, old, what, path});
            json_t *j = change_json(c);
            if (c->kind == FMT_CHANGE_CHANGED) {
                json_t *w = json_array();
                for (char *tok = strtok(what, ","); tok; tok = strtok(NULL, ","))
                    json_array_append_new(w, json_string(tok));
                json_object_set_new(j, "what", w);
                json_object_set_new(j, "old_size", json_integer(c->old_size));
                json_object_set_new(j, "old_type", json_string(fmt_entry_type_name(c->old_e->type)));
            }
            json_array_append_new(arr, j);
        }
        diff_emit(o->json, arr, &t);
    }
    fmt_changes_clear(&ch);
    fmt_tree_clear(&ta);
    fmt_tree_clear(&tb);
    diff_image_close(&a);
    diff_image_close(&b);
    return rc < 0 ? cli_fail(v, &err) : 0;
}

/* The container `name` means (by id, name or unique id prefix): an exact id
 * or name wins over an image, an image over an id prefix, so an image name
 * never resolves to a container by accident.  NULL when it is no container. */
static char *find_container(struct cli *cli, struct fmt_store *s, const char *name)
{
    struct run_ctr *c = NULL;
    struct error err = {0};
    if (run_ctr_find(cli->root, name, &c, &err) < 0) {
        /* a container dir without readable state (crashed mid-create, or
         * written by another tool) still has a layer worth diffing */
        cleanup_free char *upper = xasprintf("containers/%s/upper", name);
        bool plain = name[0] && name[0] != '.' && !strchr(name, '/');
        return plain && path_exists_at(s->root_fd, upper) ? xstrdup(name) : NULL;
    }
    const char *cname = json_string_value(json_object_get(c->config, "Name"));
    bool exact = !strcmp(c->id, name) || (cname && !strcmp(cname, name));
    if (!exact) {
        struct fmt_image *img = NULL;
        int r = fmt_image_resolve(s, name, &img, &err);
        fmt_image_free(img);
        if (r == 0) {
            run_ctr_free(c);
            return NULL;
        }
    }
    char *id = xstrdup(c->id);
    run_ctr_free(c);
    return id;
}

/* strata diff CONTAINER: the upper dir read as one more layer on top of the
 * image's tree. */
static int diff_container(const struct verb *v, struct fmt_store *s, const char *id,
                          const struct opts *o)
{
    struct error err = {0};
    cleanup_free char *image_file = xasprintf("containers/%s/image", id);
    cleanup_free char *image = NULL;
    if (read_file_at(s->root_fd, image_file, &image, NULL, &err) < 0) {
        error_prefix(&err, "container `%s`", id);
        return cli_fail(v, &err);
    }
    image[strcspn(image, " \t\r\n")] = '\0';
    struct diff_image di;
    if (diff_image_open(s, image, true, &di, &err) < 0) {
        error_prefix(&err, "container `%s`", id);
        return cli_fail(v, &err);
    }
    cleanup_free char *upper = xasprintf("containers/%s/upper", id);
    cleanup_free char *what = xasprintf("container `%s`", id);
    struct fmt_layer_index up;
    if (fmt_layer_index_from_dir(s->root_fd, upper, what, &up, &err) < 0) {
        diff_image_close(&di);
        return cli_fail(v, &err);
    }
    struct fmt_tree tree = {0};
    fmt_tree_build(&tree, di.layers, di.n);
    struct fmt_changes ch = {0};
    fmt_tree_apply(&tree, &up, (uint32_t)di.n, FMT_RECORD_TOP, &ch);
    json_t *arr = json_array();
    struct dtab t;
    dtab_init(&t, 3, (const char *const[]){"CHANGE", "SIZE", "PATH"});
    for (size_t k = 0; k < ch.n; k++) {
        table_row(&t, NULL, &ch.v[k]);
        json_array_append_new(arr, change_json(&ch.v[k]));
    }
    diff_emit(o->json, arr, &t);
    fmt_changes_clear(&ch);
    fmt_tree_clear(&tree);
    fmt_layer_index_clear(&up);
    diff_image_close(&di);
    return 0;
}

static int run_diff(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option lopts[] = {
        {"layer", required_argument, NULL, 'l'},
        {"format", required_argument, NULL, 'f'},
        {0},
    };
    struct opts o = {.layer = -1};
    int c;
    while ((c = cli_getopt(v, argc, argv, "", lopts)) != -1) {
        switch (c) {
        case 'l': {
            char *end;
            o.layer = strtol(optarg, &end, 10);
            if (*end || end == optarg || o.layer < 0)
                return cli_usage_error(v, "`--layer` takes a layer number, not `%s`", optarg);
            break;
        }
        case 'f':
            if (!strcmp(optarg, "json"))
                o.json = true;
            else if (strcmp(optarg, "table"))
                return cli_usage_error(v, "unknown format `%s` (table or json)", optarg);
            break;
        default:
            return cli_exit_status(c);
        }
    }
    int n = argc - optind;
    if (n < 1 || n > 2)
        return cli_usage_error(v, "expected IMAGE, IMAGE1 IMAGE2 or CONTAINER");
    if (n == 2 && o.layer >= 0)
        return cli_usage_error(v, "`--layer` applies to a single image");

    struct error err = {0};
    struct fmt_store *s;
    if (fmt_store_open(cli->root, &s, &err) < 0)
        return cli_fail(v, &err);
    int rc;
    if (n == 2) {
        rc = diff_images(v, s, argv[optind], argv[optind + 1], &o);
    } else {
        cleanup_free char *ctr = find_container(cli, s, argv[optind]);
        if (ctr && o.layer >= 0)
            rc = cli_usage_error(v, "`--layer` applies to images, not containers");
        else if (ctr)
            rc = diff_container(v, s, ctr, &o);
        else
            rc = diff_layers(v, s, argv[optind], &o);
    }
    fmt_store_close(s);
    return rc;
}

STRATA_VERB(diff, "diff", "show what layers, images or containers change", usage, run_diff)
