/* strata fsck: re-verify every blob. */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "format/gc.h"

static void print_problem(void *ctx, const char *digest, const char *what)
{
    (void)ctx;
    /* fmt_blob_* messages already name the blob */
    if (strstr(what, digest))
        printf("broken: %s\n", what);
    else
        printf("broken: blob `%s`: %s\n", digest, what);
}

static int run_fsck(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    int c;
    while ((c = cli_getopt(v, argc, argv, "", NULL)) != -1)
        return cli_exit_status(c);
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument `%s`", argv[optind]);
    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return 1;
    struct error err = {0};
    size_t checked = 0;
    int n = fmt_fsck(s, &checked, print_problem, NULL, &err);
    fmt_store_close(s);
    if (n < 0)
        return cli_fail(v, &err);
    if (n > 0) {
        fprintf(stderr, "strata fsck: %d problem%s in %zu blobs\n", n, n == 1 ? "" : "s",
                checked);
        return 1;
    }
    printf("%zu blobs verified, no problems\n", checked);
    return 0;
}

STRATA_VERB(fsck, "fsck", "verify every blob in the store",
            "usage: strata fsck\n"
            "\n"
            "Re-read every blob in the store and check its digest, and check that every\n"
            "blob an image or container references is present.  Prints one line per\n"
            "broken blob and exits 1 when anything is wrong.\n",
            run_fsck)
