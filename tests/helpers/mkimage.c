/* mkimage STORE LAYER.tar[.gz] REF: a one-layer image without `strata
 * import`, so the store tests do not depend on the layer writer.  A gzip
 * layer needs its diff_id (the digest of the uncompressed tar) as a fourth
 * argument. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "format/blob.h"
#include "format/config.h"
#include "format/image.h"

static int mkimage(char **argv, struct error *err)
{
    struct fmt_store *s;
    if (fmt_store_open(argv[1], &s, err) < 0)
        return -1;
    cleanup_close int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `%s`", argv[2]);
    unsigned char head[2] = {0};
    if (pread(fd, head, 2, 0) < 0)
        return error_errno(err, "read `%s`", argv[2]);
    bool gz = head[0] == 0x1f && head[1] == 0x8b;
    struct fmt_blob_writer *w;
    if (fmt_blob_writer_new(s, &w, err) < 0)
        return -1;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (fmt_blob_writer_write(w, buf, (size_t)n, err) < 0)
            return -1;
    struct fmt_descriptor l = {.media_type = gz ? FMT_MT_LAYER_GZIP : FMT_MT_LAYER_TAR,
                               .uncompressed_size = -1};
    if (fmt_blob_writer_commit(w, NULL, l.digest, &l.size, err) < 0)
        return -1;
    l.diff_id = gz ? argv[4] : l.digest;
    json_t *cfg = fmt_config_new();
    json_object_set_new(json_object_get(cfg, "config"), "Cmd", json_pack("[s]", "/bin/sh"));
    fmt_config_add_history(cfg, "mkimage", NULL, false);
    char digest[FMT_DIGEST_MAX];
    if (fmt_image_commit(s, cfg, &l, 1, argv[3], digest, err) < 0)
        return -1;
    json_decref(cfg);
    puts(digest);
    fmt_store_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: mkimage STORE LAYER REF [DIFF_ID]\n");
        return 2;
    }
    struct error err = {0};
    if (mkimage(argv, &err) < 0) {
        fprintf(stderr, "mkimage: %s\n", err.msg);
        return 1;
    }
    return 0;
}
