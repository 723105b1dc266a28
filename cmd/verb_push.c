/* strata push IMAGE [REGISTRY/REPO[:TAG]]: send an image to a registry. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/registry_flags.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/image.h"
#include "format/store.h"
#include "registry/progress.h"
#include "registry/push.h"
#include "registry/ref.h"

static const char usage[] =
    "usage: strata push [OPTIONS] IMAGE [[REGISTRY/]REPO[:TAG]]\n"
    "\n"
    "Sends IMAGE from the store to a registry: to the destination when one is\n"
    "given, else to the registry and repository IMAGE's own name says.  Blobs\n"
    "the repository already has are not uploaded again.\n"
    "\n"
    "options:\n"
    "      --tls-verify=BOOL   verify TLS (default true; false also allows http)\n"
    "      --cert-dir DIR      CA certificates (*.crt) and client cert/key\n"
    "                          (*.cert, *.key), as podman's certs.d\n"
    "      --creds USER:PASS   credentials (default: from the auth file)\n"
    "      --authfile FILE     auth.json to read credentials from\n"
    "      --mount-from REPO   mount blobs from this repository of the same\n"
    "                          registry instead of uploading them (default:\n"
    "                          the repository IMAGE was pulled from, if any)\n"
    "      --chunk-size SIZE   upload in PATCH chunks of SIZE (e.g. 8M)\n"
    "                          instead of one PUT per blob\n"
    "      --parallel N        blobs transferred at once (default 3)\n"
    "      --retry N           retries on errors and dropped connections (default 4)\n"
    "      --digestfile FILE   write the pushed manifest digest to FILE\n"
    "  -q, --quiet             print only the digest\n";

enum { OPT_MOUNT = 256, OPT_CHUNK, OPT_DIGESTFILE };

static int run_push(struct cli *cli, const struct verb *self, int argc, char **argv)
{
    static const struct option opts[] = {
        REG_FLAGS_CONNECT,
        REG_FLAGS_TRANSFER,
        {"mount-from", required_argument, NULL, OPT_MOUNT},
        {"chunk-size", required_argument, NULL, OPT_CHUNK},
        {"digestfile", required_argument, NULL, OPT_DIGESTFILE},
        {"quiet", no_argument, NULL, 'q'},
        {0},
    };
    struct reg_opts o;
    reg_opts_init(&o);
    bool quiet = false;
    const char *mount_from = NULL, *digestfile = NULL;
    cleanup_free char *user = NULL;
    int c;
    while ((c = cli_getopt(self, argc, argv, "q", opts)) != -1) {
        int shared = registry_flag_apply(self, c, optarg, &o, &user);
        if (shared < 0)
            return cli_exit_status(shared);
        if (shared)
            continue;
        switch (c) {
        case 'q':
            quiet = true;
            break;
        case OPT_MOUNT:
            if (!reg_repository_is_valid(optarg))
                return cli_usage_error(self, "--mount-from: invalid repository `%s`", optarg);
            mount_from = optarg;
            break;
        case OPT_CHUNK:
            o.chunk_size = reg_parse_size(optarg);
            if (o.chunk_size <= 0)
                return cli_usage_error(self, "--chunk-size: invalid size `%s`", optarg);
            break;
        case OPT_DIGESTFILE:
            digestfile = optarg;
            break;
        default:
            return cli_exit_status(c);
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 2)
        return cli_usage_error(self, "expected IMAGE and an optional destination");
    const char *image = argv[optind];
    const char *dest = nargs == 2 ? argv[optind + 1] : image;

    struct error err = {0};
    struct reg_ref ref;
    if (reg_ref_parse(dest, &ref, &err) < 0)
        return cli_fail(self, &err);
    if (!ref.tag && ref.digest) {
        reg_ref_clear(&ref);
        return cli_usage_error(self, "push to a tag, not a digest: `%s`", dest);
    }
    struct reg_progress_ui *ui = reg_progress_ui_new(stdout, cli_stdout_is_tty(), quiet);
    o.progress = reg_progress_ui_event;
    o.progress_ud = ui;
    struct fmt_store *s = NULL;
    struct fmt_image *img = NULL;
    struct reg_client *client = NULL;
    int status = 0;
    struct reg_push_result res;
    cleanup_free char *name = NULL;
    cleanup_free char *auto_mount = NULL;
    if (fmt_store_open(cli->root, &s, &err) < 0 || fmt_image_resolve(s, image, &img, &err) < 0 ||
        reg_client_new(ref.registry, &o, &client, &err) < 0) {
        status = cli_fail(self, &err);
        goto out;
    }
    /* An image pulled from this registry under another repository: ask
     * the registry to mount its blobs from there (it uploads them when
     * the mount is refused). */
    struct reg_ref origin = {0};
    struct error ignored = {0};
    if (!mount_from && img->ref && strchr(img->ref, '/') &&
        reg_ref_parse(img->ref, &origin, &ignored) == 0 &&
        !strcmp(origin.registry, ref.registry) && strcmp(origin.repository, ref.repository))
        mount_from = auto_mount = xstrdup(origin.repository);
    reg_ref_clear(&origin);
    name = reg_ref_format(&ref);
    if (!quiet)
        printf("Pushing %s to %s\n", image, name);
    if (reg_push(client, s, img->digest, ref.repository, ref.tag, mount_from, &res, &err) < 0) {
        status = cli_fail(self, &err);
        goto out;
    }
    if (digestfile) {
        cleanup_free char *line = xasprintf("%s\n", res.digest);
        if (atomic_write_at(AT_FDCWD, digestfile, line, strlen(line), 0644, &err) < 0) {
            status = cli_fail(self, &err);
            goto out;
        }
    }
    if (quiet)
        printf("%s\n", res.digest);
    else
        printf("Pushed %s: %s (%zu blobs uploaded, %zu already there, %zu mounted)\n", name,
               res.digest, res.blobs_uploaded, res.blobs_existing, res.blobs_mounted);
out:
    reg_client_free(client);
    fmt_image_free(img);
    fmt_store_close(s);
    reg_progress_ui_free(ui);
    reg_ref_clear(&ref);
    return status;
}

STRATA_VERB(push, "push", "send an image to a registry", usage, run_push)
