/* strata save: images → one tar file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/archive.h"
#include "format/ref.h"

static int run_save(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {0},
    };
    const char *output = NULL, *fmt_name = "default";
    int c;
    while ((c = cli_getopt(v, argc, argv, "o:", opts)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'f':
            fmt_name = optarg;
            break;
        default:
            return cli_exit_status(c);
        }
    }
    enum fmt_archive_format format;
    if (!strcmp(fmt_name, "default") || !strcmp(fmt_name, "oci-docker"))
        format = FMT_ARCHIVE_DEFAULT;
    else if (!strcmp(fmt_name, "oci-archive") || !strcmp(fmt_name, "oci"))
        format = FMT_ARCHIVE_OCI;
    else if (!strcmp(fmt_name, "docker-archive") || !strcmp(fmt_name, "docker"))
        format = FMT_ARCHIVE_DOCKER;
    else
        return cli_usage_error(v, "unknown format `%s` (oci-archive or docker-archive)",
                               fmt_name);
    if (optind >= argc)
        return cli_usage_error(v, "need at least one image");
    bool to_stdout = !output || !strcmp(output, "-");
    if (to_stdout && cli_stdout_is_tty())
        return cli_usage_error(v, "refusing to write an archive to a terminal; use -o FILE");

    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return 1;
    struct error err = {0};
    int status = 0;
    char *tmp = NULL; /* not cleanup_free: the gotos below jump past here */
    size_t n = (size_t)(argc - optind);
    struct fmt_save_item *items = xcalloc(n, sizeof *items);
    char **refs = xcalloc(n, sizeof *refs);
    for (size_t i = 0; i < n; i++) {
        if (fmt_image_resolve(s, argv[optind + (int)i], &items[i].img, &err) < 0) {
            status = cli_fail(v, &err);
            goto out;
        }
        /* keep the name the user gave; an id names no tag */
        refs[i] = items[i].img->ref ? xstrdup(items[i].img->ref) : NULL;
        items[i].ref = refs[i];
    }
    if (to_stdout) {
        if (fmt_archive_save(s, items, n, format, STDOUT_FILENO, &err) < 0)
            status = cli_fail(v, &err);
        goto out;
    }
    /* temp file + rename: a failed save leaves no half archive behind */
    int fd = open_temp_at(AT_FDCWD, output, 0644, &tmp, &err);
    if (fd < 0) {
        status = cli_fail(v, &err);
        goto out;
    }
    if (fmt_archive_save(s, items, n, format, fd, &err) < 0 ||
        commit_temp_at(AT_FDCWD, fd, tmp, output, &err) < 0) {
        unlink(tmp);
        status = cli_fail(v, &err);
    }
    close(fd);
out:
    free(tmp);
    for (size_t i = 0; i < n; i++) {
        fmt_image_free(items[i].img);
        free(refs[i]);
    }
    free(items);
    free(refs);
    fmt_store_close(s);
    return status;
}

STRATA_VERB(save, "save", "write images to a tar archive",
            "usage: strata save [-o FILE] [--format oci-archive|docker-archive] IMAGE...\n"
            "\n"
            "Write the images to FILE (default: stdout, unless it is a terminal).  By\n"
            "default the tar is both an OCI image layout and a docker-archive (the\n"
            "Docker 25+ form: manifest.json pointing into blobs/sha256/), so podman,\n"
            "skopeo, docker and strata all load it; layers are written as stored.\n"
            "\n"
            "  -o, --output FILE   where to write (`-` for stdout)\n"
            "  --format oci-archive      the OCI layout only\n"
            "  --format docker-archive   the legacy docker layout: manifest.json,\n"
            "                            repositories, uncompressed <id>/layer.tar\n",
            run_save)
