#include "format/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"

#define OCI_LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"
#define EMPTY_INDEX "{\"schemaVersion\":2,\"manifests\":[]}\n"

/* Writes `name` with `content` unless it exists.  The caller holds the
 * index lock, so a concurrent opener cannot replace a populated index.json
 * with an empty one. */
static int create_if_missing(int dirfd, const char *name, const char *content,
                             struct error *err)
{
    if (path_exists_at(dirfd, name))
        return 0;
    return atomic_write_at(dirfd, name, content, strlen(content), 0644, err);
}

int fmt_store_open(const char *root, struct fmt_store **out, struct error *err)
{
    if (!root || root[0] != '/')
        return error_set(err, EINVAL, "store root `%s` is not an absolute path",
                         root ? root : "");
    /* 0700: images can carry secrets; skopeo/umoci run as the same user. */
    if (mkdir_p_at(AT_FDCWD, root, 0700, err) < 0)
        return error_prefix(err, "create store `%s`", root);
    cleanup_close int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        return error_errno(err, "open store `%s`", root);
    if (mkdir_p_at(root_fd, "blobs/sha256", 0755, err) < 0)
        return error_prefix(err, "store `%s`", root);
    cleanup_close int blobs_fd = openat(root_fd, "blobs/sha256",
                                        O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (blobs_fd < 0)
        return error_errno(err, "open `%s/blobs/sha256`", root);

    if (!path_exists_at(root_fd, "index.json") || !path_exists_at(root_fd, "oci-layout")) {
        cleanup_close int lock = lock_file_at(root_fd, FMT_STORE_INDEX_LOCK, true, err);
        if (lock < 0)
            return error_prefix(err, "store `%s`", root);
        if (create_if_missing(root_fd, "oci-layout", OCI_LAYOUT, err) < 0 ||
            create_if_missing(root_fd, "index.json", EMPTY_INDEX, err) < 0)
            return error_prefix(err, "initialise store `%s`", root);
    }

    struct fmt_store *s = xzalloc(sizeof *s);
    s->root = xstrdup(root);
    s->root_fd = TAKE_FD(root_fd);
    s->blobs_fd = TAKE_FD(blobs_fd);
    s->gc_lock_fd = -1;
    *out = s;
    return 0;
}

void fmt_store_close(struct fmt_store *s)
{
    if (!s)
        return;
    if (s->root_fd >= 0)
        close(s->root_fd);
    if (s->blobs_fd >= 0)
        close(s->blobs_fd);
    if (s->gc_lock_fd >= 0)
        close(s->gc_lock_fd);
    free(s->root);
    free(s);
}

int fmt_store_hold_gc(struct fmt_store *s, struct error *err)
{
    if (s->gc_lock_fd >= 0)
        return 0;
    int fd = lock_file_at(s->root_fd, FMT_STORE_GC_LOCK, false, err);
    if (fd < 0)
        return error_prefix(err, "store `%s`", s->root);
    s->gc_lock_fd = fd;
    return 0;
}
