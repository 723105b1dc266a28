/* strata history IMAGE: the config's history, newest first, each row with
 * the layer it made (if any) and that layer's uncompressed size. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/diff_util.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/config.h"
#include "format/image.h"

static const char usage[] =
    "usage: strata history [OPTIONS] IMAGE\n\n"
    "Shows how IMAGE was made: one row per history entry, newest first.\n\n"
    "options:\n"
    "  --no-trunc         do not shorten CREATED BY and the layer digests\n"
    "  -H, --human=BOOL   human sizes and relative dates (default true);\n"
    "                     -H=false prints bytes and RFC 3339 dates\n"
    "  --format FORMAT    `table` (default) or `json`\n";

struct row {
    const char *created;
    const char *created_by;
    const char *comment;
    bool empty;
    const struct fmt_descriptor *layer; /* NULL for empty layers */
    int64_t size;
};

/* Uncompressed size of a layer: recorded by strata's writer, else measured
 * once through the (cached) layer index. */
static int layer_size(struct fmt_store *s, const struct fmt_descriptor *l, int64_t *out,
                      struct error *err)
{
    if (l->uncompressed_size >= 0) {
        *out = l->uncompressed_size;
        return 0;
    }
    struct fmt_layer_index ix;
    if (fmt_layer_index_load(s, l, false, &ix, err) < 0)
        return -1;
    *out = ix.tar_size;
    fmt_layer_index_clear(&ix);
    return 0;
}

static time_t parse_time(const char *s)
{
    if (!s)
        return -1;
    /* reuse the config parser: wrap the string in a tiny config */
    json_t *j = json_pack("{s:s}", "created", s);
    time_t t = fmt_config_created(j);
    json_decref(j);
    return t;
}

static int run_history(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-trunc", no_argument, NULL, 'n'},
        {"human", optional_argument, NULL, 'H'},
        {"format", required_argument, NULL, 'f'},
        {0},
    };
    bool trunc = true, json = false;
    int human = 1, c;
    while ((c = cli_getopt(v, argc, argv, "H::", opts)) != -1) {
        switch (c) {
        case 'n':
            trunc = false;
            break;
        case 'H':
            human = diff_parse_bool(optarg);
            if (human < 0)
                return cli_usage_error(v, "`-H` takes true or false, not `%s`", optarg);
            break;
        case 'f':
            if (!strcmp(optarg, "json"))
                json = true;
            else if (strcmp(optarg, "table"))
                return cli_usage_error(v, "unknown format `%s` (table or json)", optarg);
            break;
        default:
            return cli_exit_status(c);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(v, "expected one IMAGE");

    struct diff_image di;
    struct fmt_store *s = diff_image_open_verb(cli, v, argv[optind], false, &di);
    if (!s)
        return 1;

    json_t *hist = json_object_get(di.img->config, "history");
    size_t n_hist = json_array_size(hist);
    const struct fmt_manifest *m = &di.img->manifest;
    /* images without history (some importers) still have layers: one row each */
    size_t n_rows = n_hist ? n_hist : m->n_layers;
    struct row *rows = xcalloc(n_rows + 1, sizeof *rows);
    size_t next_layer = 0;
    int rc = 0;
    struct error err = {0};
    for (size_t i = 0; i < n_rows && !rc; i++) {
        struct row *r = &rows[i];
        json_t *h = n_hist ? json_array_get(hist, i) : NULL;
        r->created = json_string_value(json_object_get(h, "created"));
        r->created_by = json_string_value(json_object_get(h, "created_by"));
        r->comment = json_string_value(json_object_get(h, "comment"));
        r->empty = json_is_true(json_object_get(h, "empty_layer"));
        if (!r->empty && next_layer < m->n_layers) {
            r->layer = &m->layers[next_layer++];
            if (layer_size(s, r->layer, &r->size, &err) < 0)
                rc = cli_fail(v, &err);
        }
    }

    if (!rc && json) {
        json_t *arr = json_array();
        for (size_t k = n_rows; k-- > 0;) {
            struct row *r = &rows[k];
            json_t *o = json_object();
            json_object_set_new(o, "id", r->layer ? json_string(r->layer->digest) : json_null());
            json_object_set_new(o, "diff_id", r->layer && r->layer->diff_id
                                                  ? json_string(r->layer->diff_id)
                                                  : json_null());
            json_object_set_new(o, "created", r->created ? json_string(r->created) : json_null());
            json_object_set_new(o, "created_by", json_string(r->created_by ? r->created_by : ""));
            json_object_set_new(o, "size", json_integer(r->size));
            json_object_set_new(o, "comment", json_string(r->comment ? r->comment : ""));
            json_object_set_new(o, "empty_layer", json_boolean(r->layer == NULL));
            json_array_append_new(arr, o);
        }
        diff_print_json(arr);
    } else if (!rc) {
        struct dtab t;
        dtab_init(&t, 5,
                  (const char *const[]){"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"});
        time_t now = time(NULL);
        for (size_t k = n_rows; k-- > 0;) {
            struct row *r = &rows[k];
            char id[FMT_DIGEST_MAX] = "<missing>", created[64], size[32];
            if (r->layer)
                snprintf(id, sizeof id, "%.*s", trunc ? 12 : 64, fmt_digest_hex(r->layer->digest));
            if (human)
                diff_human_ago(parse_time(r->created), now, created);
            else
                snprintf(created, sizeof created, "%s", r->created ? r->created : "N/A");
            if (human)
                diff_human_size(r->size, size);
            else
                snprintf(size, sizeof size, "%" PRId64, r->size);
            cleanup_free char *by = xstrdup(r->created_by ? r->created_by : "");
            for (char *p = by; *p; p++)
                if (*p == '\n' || *p == '\t')
                    *p = ' ';
            if (trunc && strlen(by) > 45)
                strcpy(by + 42, "...");
            dtab_row(&t, (const char *const[]){id, created, by, size,
                                               r->comment ? r->comment : ""});
        }
        dtab_print(&t, stdout);
        dtab_clear(&t);
    }
    free(rows);
    diff_image_close(&di);
    fmt_store_close(s);
    return rc;
}

STRATA_VERB(history, "history", "show the history of an image", usage, run_history)
