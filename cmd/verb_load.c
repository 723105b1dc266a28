/* strata load: a tar archive → images in the store. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "format/archive.h"

static void print_loaded(void *ctx, const char *digest, const char *ref)
{
    (void)ctx;
    if (ref)
        printf("Loaded image: %s\n", ref);
    else
        printf("Loaded image: %s\n", digest);
}

static int run_load(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {{"input", required_argument, NULL, 'i'}, {0}};
    const char *input = NULL;
    int c;
    while ((c = cli_getopt(v, argc, argv, "i:", opts)) != -1) {
        if (c == 'i')
            input = optarg;
        else
            return cli_exit_status(c);
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument `%s` (use -i FILE)", argv[optind]);
    if ((!input || !strcmp(input, "-")) && isatty(STDIN_FILENO))
        return cli_usage_error(v, "refusing to read an archive from a terminal; use -i FILE");
    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return 1;
    struct error err = {0};
    int status = 0;
    if (fmt_archive_load(s, input, print_loaded, NULL, &err) < 0)
        status = cli_fail(v, &err);
    fmt_store_close(s);
    return status;
}

STRATA_VERB(load, "load", "load images from a tar archive",
            "usage: strata load [-i FILE]\n"
            "\n"
            "Load every image in an oci-archive or a docker-archive (the legacy form\n"
            "with manifest.json and <id>/layer.tar, or the Docker 25+ form with an OCI\n"
            "layout inside) from FILE or stdin; the archive may itself be compressed.\n"
            "Every blob is verified against its digest and every layer against the\n"
            "config's diff_ids.  Images keep their names (RepoTags or the\n"
            "org.opencontainers.image.ref.name annotation); unnamed ones are listed\n"
            "as <none>.\n"
            "\n"
            "  -i, --input FILE   the archive (`-` for stdin)\n",
            run_load)
