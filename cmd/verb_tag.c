/* strata tag: another name for an image. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "format/image.h"
#include "format/index.h"
#include "format/ref.h"

static int run_tag(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    int c;
    while ((c = cli_getopt(v, argc, argv, "", NULL)) != -1)
        return cli_exit_status(c);
    if (argc - optind < 2)
        return cli_usage_error(v, "need an image and at least one new name");
    struct error err = {0};
    for (int i = optind + 1; i < argc; i++) {
        char *norm = fmt_ref_normalize(argv[i], &err);
        if (!norm)
            return cli_fail(v, &err);
        free(norm);
    }
    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return 1;
    struct fmt_image *img = NULL;
    int status = 0;
    if (fmt_image_resolve(s, argv[optind], &img, &err) < 0) {
        status = cli_fail(v, &err);
        goto out;
    }
    struct fmt_descriptor d = {.media_type = img->manifest.media_type,
                               .size = img->manifest_size};
    snprintf(d.digest, sizeof d.digest, "%s", img->digest);
    for (int i = optind + 1; i < argc; i++)
        if (fmt_index_add(s, argv[i], &d, &err) < 0) {
            status = cli_fail(v, &err);
            break;
        }
out:
    fmt_image_free(img);
    fmt_store_close(s);
    return status;
}

STRATA_VERB(tag, "tag", "give an image another name",
            "usage: strata tag IMAGE NAME[:TAG]...\n"
            "\n"
            "Point each NAME[:TAG] at IMAGE (a name, an image id or a digest, or a\n"
            "unique prefix of one).  A missing tag means `latest`; a leading\n"
            "`localhost/` is dropped.  A name already in use moves to IMAGE.\n",
            run_tag)
