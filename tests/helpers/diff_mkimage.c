/* diff_mkimage REF ARG...: commits an image to $STRATA_ROOT for the diff,
 * history and analyze tests, independent of the importer and builder.
 * Each ARG is a layer tar (stored uncompressed), optionally
 * `TAR=CREATED_BY`, or `@CREATED_BY` for a history entry without a layer.
 * With -z first, layers are stored gzip-compressed (through the layer
 * writer), as pulled and built images are. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/config.h"
#include "format/image.h"
#include "format/layer_write.h"
#include "format/manifest.h"
#include "format/store.h"
#include "format/store_root.h"

static int put_file(struct fmt_store *s, const char *path, struct fmt_descriptor *d,
                    struct error *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `%s`", path);
    struct fmt_blob_writer *w;
    if (fmt_blob_writer_new(s, &w, err) < 0)
        return -1;
    struct fmt_digester *dg = fmt_digester_new();
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        fmt_digester_update(dg, buf, (size_t)n);
        if (fmt_blob_writer_write(w, buf, (size_t)n, err) < 0) {
            fmt_blob_writer_abort(w);
            fmt_digester_free(dg);
            return -1;
        }
    }
    char diff_id[FMT_DIGEST_MAX];
    fmt_digester_final(dg, diff_id);
    fmt_digester_free(dg);
    if (n < 0) {
        fmt_blob_writer_abort(w);
        return error_errno(err, "read `%s`", path);
    }
    memset(d, 0, sizeof *d);
    if (fmt_blob_writer_commit(w, NULL, d->digest, &d->size, err) < 0)
        return -1;
    d->media_type = xstrdup(FMT_MT_LAYER_TAR);
    d->diff_id = xstrdup(diff_id);
    d->uncompressed_size = d->size;
    return 0;
}

static int put_gzip(struct fmt_store *s, const char *path, struct fmt_descriptor *d,
                    struct error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `%s`", path);
    struct fmt_layer_write_opts o;
    fmt_layer_write_opts_init(&o);
    struct fmt_layer_info info;
    int r = fmt_layer_recompress_blob(s, fmt_fd_source, &fd, path, &o, &info, err);
    close(fd);
    if (r < 0)
        return -1;
    fmt_layer_info_descriptor(&info, d);
    return 0;
}

int main(int argc, char **argv)
{
    bool gzip = argc > 1 && !strcmp(argv[1], "-z");
    if (gzip) {
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: diff_mkimage [-z] REF TAR[=CREATED_BY]|@CREATED_BY...\n");
        return 2;
    }
    struct error err = {0};
    cleanup_free char *root = fmt_store_root_resolve(NULL, &err);
    struct fmt_store *s = NULL;
    if (!root || fmt_store_open(root, &s, &err) < 0) {
        fprintf(stderr, "diff_mkimage: %s\n", err.msg);
        return 1;
    }
    json_t *cfg = fmt_config_new();
    struct fmt_descriptor *layers = xcalloc((size_t)argc, sizeof *layers);
    size_t n = 0;
    int rc = 0;
    for (int i = 2; i < argc && !rc; i++) {
        if (argv[i][0] == '@') {
            fmt_config_add_history(cfg, argv[i] + 1, NULL, true);
            continue;
        }
        cleanup_free char *path = xstrdup(argv[i]);
        char *eq = strchr(path, '=');
        if (eq)
            *eq++ = '\0';
        if ((gzip ? put_gzip(s, path, &layers[n], &err) : put_file(s, path, &layers[n], &err)) < 0)
            rc = 1;
        else
            n++;
        cleanup_free char *by = xasprintf("/bin/sh -c #(nop) ADD file:%s in /", path);
        fmt_config_add_history(cfg, eq ? eq : by, NULL, false);
    }
    char digest[FMT_DIGEST_MAX];
    if (!rc && fmt_image_commit(s, cfg, layers, n, argv[1], digest, &err) < 0)
        rc = 1;
    if (rc)
        fprintf(stderr, "diff_mkimage: %s\n", err.msg);
    else
        printf("%s\n", digest);
    for (size_t i = 0; i < n; i++)
        fmt_descriptor_clear(&layers[i]);
    free(layers);
    json_decref(cfg);
    fmt_store_close(s);
    return rc;
}
