#include "format/layer_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/digest.h"
#include "format/layer_unpack.h"

#define LAYERS_DIR "layers"

char *fmt_layer_cache_path(struct fmt_store *s, const char *diff_id)
{
    return xasprintf("%s/" LAYERS_DIR "/%s", s->root, fmt_digest_hex(diff_id));
}

bool fmt_layer_cache_has(struct fmt_store *s, const char *diff_id)
{
    if (!fmt_digest_is_valid(diff_id))
        return false;
    cleanup_free char *rel = xasprintf(LAYERS_DIR "/%s", fmt_digest_hex(diff_id));
    return path_exists_at(s->root_fd, rel);
}

static ssize_t blob_source(void *ctx, void *buf, size_t len, struct error *err)
{
    return fmt_blob_reader_read(ctx, buf, len, err);
}

static int open_layers_dir(struct fmt_store *s, struct error *err)
{
    if (mkdir_p_at(s->root_fd, LAYERS_DIR, 0700, err) < 0)
        return error_prefix(err, "store `%s`", s->root);
    int fd = openat(s->root_fd, LAYERS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `%s/" LAYERS_DIR "`", s->root);
    return fd;
}

static int unpack_into(struct fmt_store *s, int layers_fd, const char *tmp,
                       const char *blob_digest, const char *diff_id, struct error *err)
{
    if (mkdirat(layers_fd, tmp, 0700) < 0)
        return error_errno(err, "create `%s/" LAYERS_DIR "/%s`", s->root, tmp);
    cleanup_close int dir = openat(layers_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return error_errno(err, "open `%s/" LAYERS_DIR "/%s`", s->root, tmp);
    struct fmt_blob_reader *r;
    if (fmt_blob_reader_open(s, blob_digest, &r, err) < 0)
        return -1;
    struct fmt_layer_unpack_opts o = {.rootless = -1, .expected_diff_id = diff_id};
    int ret = fmt_layer_unpack(blob_source, r, blob_digest, dir, &o, NULL, err);
    fmt_blob_reader_close(r);
    if (ret < 0)
        return -1;
    /* one syncfs instead of an fsync per file: the rename below publishes
     * the layer, and it must not name a tree still in the page cache only */
    if (syncfs(dir) < 0)
        return error_errno(err, "sync unpacked layer `%s`", diff_id);
    return 0;
}

int fmt_layer_cache_get(struct fmt_store *s, const char *blob_digest, const char *diff_id,
                        char **path, struct error *err)
{
    if (!fmt_digest_is_valid(diff_id))
        return error_set(err, EINVAL, "invalid diff_id `%s`", diff_id ? diff_id : "");
    if (!fmt_digest_is_valid(blob_digest))
        return error_set(err, EINVAL, "invalid layer digest `%s`",
                         blob_digest ? blob_digest : "");
    const char *hex = fmt_digest_hex(diff_id);
    cleanup_close int layers_fd = open_layers_dir(s, err);
    if (layers_fd < 0)
        return -1;
    if (!path_exists_at(layers_fd, hex)) {
        cleanup_free char *lock_name = xasprintf(".%s.lock", hex);
        /* protects the creation of layers/<hex> */
        cleanup_close int lock = lock_file_at(layers_fd, lock_name, true, err);
        if (lock < 0)
            return error_prefix(err, "store `%s`", s->root);
        if (!path_exists_at(layers_fd, hex)) {
            cleanup_free char *tmp = xasprintf(".tmp-%s-%d", hex, (int)getpid());
            struct error ignored = {0};
            rm_rf_at(layers_fd, tmp, &ignored); /* a crashed earlier try by a reused pid */
            if (unpack_into(s, layers_fd, tmp, blob_digest, diff_id, err) < 0) {
                rm_rf_at(layers_fd, tmp, &ignored);
                return -1;
            }
            if (renameat(layers_fd, tmp, layers_fd, hex) < 0) {
                error_errno(err, "rename unpacked layer into `%s/" LAYERS_DIR "/%s`", s->root,
                            hex);
                rm_rf_at(layers_fd, tmp, &ignored);
                return -1;
            }
            if (fsync(layers_fd) < 0)
                return error_errno(err, "fsync `%s/" LAYERS_DIR "`", s->root);
        }
    }
    *path = fmt_layer_cache_path(s, diff_id);
    return 0;
}

int fmt_layer_cache_remove(struct fmt_store *s, const char *diff_id, struct error *err)
{
    if (!fmt_digest_is_valid(diff_id))
        return error_set(err, EINVAL, "invalid diff_id `%s`", diff_id ? diff_id : "");
    const char *hex = fmt_digest_hex(diff_id);
    cleanup_close int layers_fd = open_layers_dir(s, err);
    if (layers_fd < 0)
        return -1;
    cleanup_free char *lock_name = xasprintf(".%s.lock", hex);
    cleanup_close int lock = lock_file_at(layers_fd, lock_name, true, err);
    if (lock < 0)
        return error_prefix(err, "store `%s`", s->root);
    /* rename first so a reader never sees a half-removed layer under its name */
    cleanup_free char *doomed = xasprintf(".rm-%s-%d", hex, (int)getpid());
    if (renameat(layers_fd, hex, layers_fd, doomed) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_errno(err, "remove unpacked layer `%s`", diff_id);
    }
    if (rm_rf_at(layers_fd, doomed, err) < 0)
        return error_prefix(err, "remove unpacked layer `%s`", diff_id);
    return 0;
}
