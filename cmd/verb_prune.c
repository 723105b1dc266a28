/* strata prune: drop blobs and unpacked layers nothing references. */
#include <stdio.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "format/gc.h"

static void print_removed(void *ctx, const char *kind, const char *name)
{
    if (*(bool *)ctx)
        printf("removed %s %s\n", kind, name);
}

static int run_prune(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {{"verbose", no_argument, NULL, 'v'}, {0}};
    bool verbose = false;
    int c;
    while ((c = cli_getopt(v, argc, argv, "v", opts)) != -1) {
        if (c == 'v')
            verbose = true;
        else
            return cli_exit_status(c);
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument `%s`", argv[optind]);
    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return 1;
    struct error err = {0};
    struct fmt_prune_stats st;
    int status = 0;
    if (fmt_prune(s, &st, print_removed, &verbose, &err) < 0)
        status = cli_fail(v, &err);
    char size[32];
    imgutil_human_size(st.bytes_removed, size, sizeof size);
    printf("removed %zu blobs (%s), %zu unpacked layers, %zu stale temporary files\n",
           st.blobs_removed, size, st.layers_removed, st.temps_removed);
    fmt_store_close(s);
    return status;
}

STRATA_VERB(prune, "prune", "remove unreferenced blobs and unpacked layers",
            "usage: strata prune [-v]\n"
            "\n"
            "Remove every blob that no image name (index.json) and no container\n"
            "(containers/*/image) reaches, every unpacked layer (layers/<diff_id>/)\n"
            "that no such image uses, and temporary files left by interrupted writes.\n"
            "Waits for other strata processes that are writing to the store.\n"
            "\n"
            "  -v, --verbose   name each thing removed\n",
            run_prune)
