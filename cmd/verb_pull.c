/* strata pull REGISTRY/REPO[:TAG|@DIGEST]: fetch an image into the store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/registry_flags.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/index.h"
#include "format/manifest.h"
#include "format/store.h"
#include "registry/progress.h"
#include "registry/pull.h"
#include "registry/ref.h"

static const char usage[] =
    "usage: strata pull [OPTIONS] [REGISTRY/]REPO[:TAG|@DIGEST]\n"
    "\n"
    "Fetches an image from a registry into the store, tagged REGISTRY/REPO:TAG.\n"
    "Every blob is checked against its digest before it enters the store;\n"
    "blobs already there are not fetched again, so an interrupted pull resumes.\n"
    "A name without a registry uses $STRATA_REGISTRY, `default-registry` in\n"
    "~/.config/strata/registry.conf or /etc/strata/registry.conf, else docker.io.\n"
    "\n"
    "options:\n"
    "  -a, --all-tags          pull every tag of the repository\n"
    "      --platform OS/ARCH  the image to take from a multi-platform index\n"
    "                          (default: this host's, e.g. linux/amd64)\n"
    "      --tls-verify=BOOL   verify TLS (default true; false also allows http)\n"
    "      --cert-dir DIR      CA certificates (*.crt) and client cert/key\n"
    "                          (*.cert, *.key), as podman's certs.d\n"
    "      --creds USER:PASS   credentials (default: from the auth file)\n"
    "      --authfile FILE     auth.json to read credentials from\n"
    "      --parallel N        blobs transferred at once (default 3)\n"
    "      --retry N           retries on errors and dropped connections (default 4)\n"
    "  -q, --quiet             print only the digest\n";

enum { OPT_PLATFORM = 256 };

static int pull_one(struct cli *cli, const struct verb *self, struct reg_client *c,
                    struct fmt_store *s, const struct reg_ref *ref, const char *platform,
                    bool quiet)
{
    struct error err = {0};
    cleanup_free char *name = reg_ref_format(ref);
    if (!quiet)
        printf("Pulling %s\n", name);
    struct reg_pull_result res;
    if (reg_pull(c, s, ref, platform, &res, &err) < 0)
        return cli_fail(self, &err);
    struct fmt_descriptor desc = {.media_type = res.media_type, .size = res.size};
    memcpy(desc.digest, res.digest, sizeof desc.digest);
    /* tagged as REGISTRY/REPO:TAG; by digest only, an untagged entry */
    cleanup_free char *local =
        ref->tag ? xasprintf("%s/%s:%s", ref->registry, ref->repository, ref->tag) : NULL;
    int r = fmt_index_add(s, local, &desc, &err);
    if (r < 0) {
        reg_pull_result_clear(&res);
        return cli_fail(self, &err);
    }
    if (quiet)
        printf("%s\n", res.digest);
    else
        printf("Pulled %s: %s (%zu blobs fetched, %zu already present)\n", name, res.digest,
               res.blobs_fetched, res.blobs_present);
    reg_pull_result_clear(&res);
    return 0;
}

static int run_pull(struct cli *cli, const struct verb *self, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all-tags", no_argument, NULL, 'a'},
        {"platform", required_argument, NULL, OPT_PLATFORM},
        REG_FLAGS_CONNECT,
        REG_FLAGS_TRANSFER,
        {"quiet", no_argument, NULL, 'q'},
        {0},
    };
    struct reg_opts o;
    reg_opts_init(&o);
    bool quiet = false, all_tags = false;
    const char *platform = NULL;
    cleanup_free char *user = NULL;
    int c;
    while ((c = cli_getopt(self, argc, argv, "aq", opts)) != -1) {
        int shared = registry_flag_apply(self, c, optarg, &o, &user);
        if (shared < 0)
            return cli_exit_status(shared);
        if (shared)
            continue;
        switch (c) {
        case 'a':
            all_tags = true;
            break;
        case 'q':
            quiet = true;
            break;
        case OPT_PLATFORM: {
            const char *slash = strchr(optarg, '/');
            if (!slash || slash == optarg || !slash[1] || slash[1] == '/')
                return cli_usage_error(self, "--platform takes OS/ARCH[/VARIANT], not `%s`",
                                       optarg);
            platform = optarg;
            break;
        }
        default:
            return cli_exit_status(c);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(self, "expected one image reference");
    struct error err = {0};
    struct reg_ref ref;
    if (reg_ref_parse(argv[optind], &ref, &err) < 0)
        return cli_fail(self, &err);
    struct reg_progress_ui *ui = reg_progress_ui_new(stdout, cli_stdout_is_tty(), quiet);
    o.progress = reg_progress_ui_event;
    o.progress_ud = ui;
    struct fmt_store *s = NULL;
    struct reg_client *client = NULL;
    int status = 0;
    if (fmt_store_open(cli->root, &s, &err) < 0 ||
        reg_client_new(ref.registry, &o, &client, &err) < 0) {
        status = cli_fail(self, &err);
        goto out;
    }
    if (!all_tags) {
        status = pull_one(cli, self, client, s, &ref, platform, quiet);
        goto out;
    }
    char **tags = NULL;
    if (reg_tags_list(client, ref.repository, &tags, &err) < 0) {
        status = cli_fail(self, &err);
        goto out;
    }
    for (char **t = tags; *t && status == 0; t++) {
        struct reg_ref one = {.registry = ref.registry, .repository = ref.repository,
                              .tag = *t};
        status = pull_one(cli, self, client, s, &one, platform, quiet);
    }
    strv_free(tags);
out:
    reg_client_free(client);
    fmt_store_close(s);
    reg_progress_ui_free(ui);
    reg_ref_clear(&ref);
    return status;
}

STRATA_VERB(pull, "pull", "fetch an image from a registry", usage, run_pull)
