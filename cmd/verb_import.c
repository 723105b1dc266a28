/* strata import: a root filesystem (a tarball or a directory) as a
 * one-layer image, like `docker import`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/compress.h"
#include "format/config.h"
#include "format/image.h"
#include "format/layer_write.h"
#include "format/ref.h"

/* $SOURCE_DATE_EPOCH as seconds, -1 when unset; -2 when malformed. */
static int64_t source_date_epoch(void)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return -2;
    return v;
}

static int write_layer(struct fmt_store *s, const char *src, const struct fmt_layer_write_opts *o,
                       struct fmt_layer_info *info, struct error *err)
{
    if (!strcmp(src, "-")) {
        int in = STDIN_FILENO;
        return fmt_layer_recompress_blob(s, fmt_fd_source, &in, "(stdin)", o, info, err);
    }
    cleanup_close int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `%s`", src);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return error_errno(err, "stat `%s`", src);
    if (S_ISDIR(st.st_mode)) {
        struct fmt_layer_write_opts dir_opts = *o;
        dir_opts.include_root = true;
        return fmt_layer_write_tree_blob(s, fd, src, &dir_opts, info, err);
    }
    return fmt_layer_recompress_blob(s, fmt_fd_source, &fd, src, o, info, err);
}

static int run_import(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"compression", required_argument, NULL, 'c'},
        {"message", required_argument, NULL, 'm'},
        {0, 0, 0, 0},
    };
    struct fmt_layer_write_opts o;
    fmt_layer_write_opts_init(&o);
    const char *message = NULL;
    struct error err = {0};
    int c;
    while ((c = cli_getopt(v, argc, argv, "c:m:", longopts)) != -1) {
        switch (c) {
        case 'c':
            if (fmt_compression_parse(optarg, &o.compression, &err) < 0)
                return cli_usage_error(v, "%s", err.msg);
            break;
        case 'm':
            message = optarg;
            break;
        default:
            return cli_exit_status(c);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error(v, "need a source (tarball, directory or -) and a NAME[:TAG]");
    const char *src = argv[optind], *ref = argv[optind + 1];
    o.source_date_epoch = source_date_epoch();
    if (o.source_date_epoch == -2)
        return cli_usage_error(v, "SOURCE_DATE_EPOCH `%s` is not a number of seconds",
                               getenv("SOURCE_DATE_EPOCH"));
    cleanup_free char *norm = fmt_ref_normalize(ref, &err);
    if (!norm)
        return cli_fail(v, &err);

    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return 1;
    int status = 0;
    json_t *cfg = NULL;
    struct fmt_image *img = NULL;
    struct fmt_descriptor layer = {0};
    struct fmt_layer_info info;
    cleanup_free char *created_by = xasprintf("strata import %s", src);
    if (write_layer(s, src, &o, &info, &err) < 0) {
        status = cli_fail(v, &err);
        goto out;
    }
    fmt_layer_info_descriptor(&info, &layer);
    cfg = fmt_config_new();
    fmt_config_add_history(cfg, created_by, message, false);
    if (fmt_image_commit(s, cfg, &layer, 1, norm, NULL, &err) < 0 ||
        fmt_image_resolve(s, norm, &img, &err) < 0) {
        status = cli_fail(v, &err);
        goto out;
    }
    printf("%s\n", img->id);
out:
    fmt_image_free(img);
    fmt_descriptor_clear(&layer);
    if (cfg)
        json_decref(cfg);
    fmt_store_close(s);
    return status;
}

STRATA_VERB(import, "import", "make a one-layer image from a root filesystem",
            "usage: strata import [OPTIONS] SOURCE NAME[:TAG]\n"
            "\n"
            "Make an image whose only layer is SOURCE, like `docker import`, and\n"
            "print its image id.  SOURCE is a tarball (plain, gzip or zstd: the\n"
            "compression is detected from the content), `-` for a tarball on\n"
            "standard input, or a directory (written as a reproducible tar with\n"
            "numeric owners; SOURCE_DATE_EPOCH clamps its mtimes).\n"
            "\n"
            "options:\n"
            "  -c, --compression gzip|zstd|none   layer compression (default gzip)\n"
            "  -m, --message TEXT                 comment for the history entry\n",
            run_import)
