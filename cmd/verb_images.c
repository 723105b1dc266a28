/* strata images: one row per tag (untagged images as <none>). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/config.h"
#include "format/image.h"
#include "format/index.h"
#include "format/ref.h"

struct row {
    char *repo, *tag, *id, *created, *size;
};

static int run_images(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"no-trunc", no_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'},
        {0},
    };
    const char *format = "table";
    bool no_trunc = false, quiet = false;
    int c;
    while ((c = cli_getopt(v, argc, argv, "q", opts)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'T':
            no_trunc = true;
            break;
        case 'q':
            quiet = true;
            break;
        default:
            return cli_exit_status(c);
        }
    }
    if (strcmp(format, "table") && strcmp(format, "json"))
        return cli_usage_error(v, "unknown format `%s` (table or json)", format);
    if (argc - optind > 1)
        return cli_usage_error(v, "unexpected argument `%s`", argv[optind + 1]);
    /* REPOSITORY[:TAG] filter, compared in normalised form */
    cleanup_free char *want_repo = NULL, *want_tag = NULL;
    if (optind < argc) {
        struct error perr = {0};
        struct fmt_ref r;
        if (fmt_ref_parse(argv[optind], &r, &perr) < 0)
            return cli_fail(v, &perr);
        want_repo = xstrdup(r.name);
        const char *slash = strrchr(argv[optind], '/');
        if (strchr(slash ? slash : argv[optind], ':'))
            want_tag = xstrdup(r.tag ? r.tag : "");
        fmt_ref_clear(&r);
    }

    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return 1;
    struct error err = {0};
    struct fmt_index idx;
    if (fmt_index_load(s, &idx, &err) < 0) {
        fmt_store_close(s);
        return cli_fail(v, &err);
    }
    int status = 0;
    json_t *arr = json_array();
    struct row *rows = xcalloc(idx.n + 1, sizeof *rows);
    size_t nrows = 0;
    for (size_t i = 0; i < idx.n; i++) {
        if (want_repo) {
            char *rn, *rt;
            imgutil_split_ref(idx.entries[i].ref, &rn, &rt);
            bool match = !strcmp(rn, want_repo) && (!want_tag || !strcmp(rt, want_tag));
            free(rn);
            free(rt);
            if (!match)
                continue;
        }
        struct fmt_image *img = NULL;
        if (fmt_image_from_descriptor(s, &idx.entries[i].desc, &img, &err) < 0) {
            fprintf(stderr, "strata images: %s\n", err.msg);
            status = 1;
            continue;
        }
        struct row *r = &rows[nrows++];
        imgutil_split_ref(idx.entries[i].ref, &r->repo, &r->tag);
        const char *hex = fmt_digest_hex(img->id);
        r->id = no_trunc ? xstrdup(img->id) : xstrndup(hex, 12);
        char buf[64];
        time_t created = fmt_config_created(img->config);
        imgutil_human_ago(created, buf, sizeof buf);
        r->created = xstrdup(buf);
        imgutil_human_size(fmt_image_size(img), buf, sizeof buf);
        r->size = xstrdup(buf);
        const char *cstr = json_string_value(json_object_get(img->config, "created"));
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I}", "Repository", r->repo, "Tag",
                           r->tag, "Id", img->id, "Digest", img->digest, "Created", cstr,
                           "Size", (json_int_t)fmt_image_size(img)));
        fmt_image_free(img);
    }

    if (!strcmp(format, "json")) {
        char *out = json_dumps(arr, JSON_INDENT(2));
        puts(out);
        free(out);
    } else if (quiet) {
        for (size_t i = 0; i < nrows; i++)
            puts(rows[i].id);
    } else {
        int w[4] = {10, 3, 8, 7}; /* the header widths */
        for (size_t i = 0; i < nrows; i++) {
            const char *cols[4] = {rows[i].repo, rows[i].tag, rows[i].id, rows[i].created};
            for (int k = 0; k < 4; k++)
                if ((int)strlen(cols[k]) > w[k])
                    w[k] = (int)strlen(cols[k]);
        }
        printf("%-*s   %-*s   %-*s   %-*s   %s\n", w[0], "REPOSITORY", w[1], "TAG", w[2],
               "IMAGE ID", w[3], "CREATED", "SIZE");
        for (size_t i = 0; i < nrows; i++)
            printf("%-*s   %-*s   %-*s   %-*s   %s\n", w[0], rows[i].repo, w[1], rows[i].tag,
                   w[2], rows[i].id, w[3], rows[i].created, rows[i].size);
    }
    for (size_t i = 0; i < nrows; i++) {
        free(rows[i].repo);
        free(rows[i].tag);
        free(rows[i].id);
        free(rows[i].created);
        free(rows[i].size);
    }
    free(rows);
    json_decref(arr);
    fmt_index_clear(&idx);
    fmt_store_close(s);
    return status;
}

STRATA_VERB(images, "images", "list the images in the store",
            "usage: strata images [--format table|json] [--no-trunc] [-q] [REPOSITORY[:TAG]]\n"
            "\n"
            "List the images in the store, one row per tag (untagged images show\n"
            "<none>): REPOSITORY TAG IMAGE ID CREATED SIZE.  IMAGE ID is the config\n"
            "digest (as docker and podman show it); SIZE is what the image's blobs\n"
            "occupy in the store (compressed layers, config and manifest).  With\n"
            "REPOSITORY[:TAG], only the matching rows.\n"
            "\n"
            "  --format table|json   aligned table (default) or a JSON array\n"
            "  --no-trunc            full image ids\n"
            "  -q, --quiet           image ids only\n",
            run_images)
