/* strata save: images → one tar (see format/archive.h for the layouts). */
#include "format/libarchive.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/archive.h"
#include "format/archive_stream.h"
#include "format/blob.h"
#include "format/gc.h"

#define CHUNK (1 << 16)

struct saver {
    struct fmt_store *s;
    struct archive *a;
    struct fmt_digest_set written; /* blobs already in the tar */
    struct error *err;
};

static int tar_fail(struct saver *sv, const char *path)
{
    return error_set(sv->err, EIO, "write `%s` to the archive: %s", path,
                     archive_error_string(sv->a));
}

static int put_header(struct saver *sv, const char *path, mode_t type, int64_t size)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
    /* fixed owner and time: the same images always give the same tar */
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_mtime(e, 0, 0);
    int r = archive_write_header(sv->a, e);
    archive_entry_free(e);
    return r == ARCHIVE_OK ? 0 : tar_fail(sv, path);
}

static int put_bytes(struct saver *sv, const char *path, const void *buf, size_t len)
{
    if (put_header(sv, path, AE_IFREG, (int64_t)len) < 0)
        return -1;
    if (len && archive_write_data(sv->a, buf, len) != (la_ssize_t)len)
        return tar_fail(sv, path);
    return 0;
}

static int put_json(struct saver *sv, const char *path, json_t *j)
{
    char *data = json_dumps(j, JSON_COMPACT);
    if (!data)
        abort(); /* jansson only fails on allocation */
    int r = put_bytes(sv, path, data, strlen(data));
    free(data);
    return r;
}

/* Streams a blob (verified as it is read) into the tar as path. */
static int put_blob_as(struct saver *sv, const char *digest, const char *path)
{
    struct fmt_blob_reader *r;
    if (fmt_blob_reader_open(sv->s, digest, &r, sv->err) < 0)
        return -1;
    int ret = put_header(sv, path, AE_IFREG, fmt_blob_reader_size(r));
    cleanup_free char *buf = xmalloc(CHUNK);
    ssize_t n = 0;
    while (ret == 0 && (n = fmt_blob_reader_read(r, buf, CHUNK, sv->err)) > 0)
        if (archive_write_data(sv->a, buf, (size_t)n) != n)
            ret = tar_fail(sv, path);
    if (n < 0)
        ret = -1;
    fmt_blob_reader_close(r);
    return ret;
}

static int put_blob(struct saver *sv, const char *digest)
{
    if (fmt_digest_set_has(&sv->written, digest))
        return 0;
    cleanup_free char *path = xasprintf("blobs/sha256/%s", fmt_digest_hex(digest));
    if (put_blob_as(sv, digest, path) < 0)
        return -1;
    fmt_digest_set_add(&sv->written, digest);
    return 0;
}

/* Decompresses a layer into an unnamed temp file in the store (the tar
 * header needs the size first), checking it against the diff_id. */
static int unpacked_layer_file(struct saver *sv, const struct fmt_descriptor *l, int64_t *size)
{
    int fd = openat(sv->s->root_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_errno(sv->err, "create a temporary file in `%s`", sv->s->root);
    struct fmt_unpacked_stream *u;
    if (fmt_unpacked_stream_open(sv->s, l->digest, &u, sv->err) < 0) {
        close(fd);
        return -1;
    }
    struct fmt_digester *d = fmt_digester_new();
    cleanup_free char *buf = xmalloc(CHUNK);
    int64_t total = 0;
    ssize_t n;
    while ((n = fmt_unpacked_stream_read(u, buf, CHUNK, sv->err)) > 0) {
        fmt_digester_update(d, buf, (size_t)n);
        if (write(fd, buf, (size_t)n) != n) {
            n = error_errno(sv->err, "write temporary layer file");
            break;
        }
        total += n;
    }
    fmt_unpacked_stream_close(u);
    char got[FMT_DIGEST_MAX];
    fmt_digester_final(d, got);
    fmt_digester_free(d);
    if (n == 0 && l->diff_id && strcmp(got, l->diff_id) != 0)
        n = error_set(sv->err, EILSEQ,
                      "layer `%s` decompresses to `%s`, not to its diff_id `%s`", l->digest, got,
                      l->diff_id);
    if (n < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        if (n == 0)
            error_errno(sv->err, "seek temporary layer file");
        close(fd);
        return -1;
    }
    *size = total;
    return fd;
}

static int put_fd(struct saver *sv, int fd, int64_t size, const char *path)
{
    if (put_header(sv, path, AE_IFREG, size) < 0)
        return -1;
    cleanup_free char *buf = xmalloc(CHUNK);
    ssize_t n;
    while ((n = read(fd, buf, CHUNK)) > 0)
        if (archive_write_data(sv->a, buf, (size_t)n) != n)
            return tar_fail(sv, path);
    if (n < 0)
        return error_errno(sv->err, "read temporary layer file");
    return 0;
}

static int save_docker_legacy(struct saver *sv, const struct fmt_save_item *items, size_t n)
{
    json_t *manifest = json_array();
    json_t *repos = json_object();
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        struct fmt_image *img = items[i].img;
        json_t *layers = json_array();
        const char *parent = NULL;
        for (size_t k = 0; k < img->manifest.n_layers && ret == 0; k++) {
            const struct fmt_descriptor *l = &img->manifest.layers[k];
            const char *id = fmt_digest_hex(l->diff_id);
            cleanup_free char *path = xasprintf("%s/layer.tar", id);
            json_array_append_new(layers, json_string(path));
            if (fmt_digest_set_has(&sv->written, l->diff_id)) {
                parent = id;
                continue;
            }
            cleanup_free char *dir = xasprintf("%s/", id);
            cleanup_free char *ver = xasprintf("%s/VERSION", id);
            cleanup_free char *jpath = xasprintf("%s/json", id);
            json_t *v1 = json_pack("{s:s}", "id", id);
            if (parent)
                json_object_set_new(v1, "parent", json_string(parent));
            ret = put_header(sv, dir, AE_IFDIR, 0);
            if (ret == 0)
                ret = put_bytes(sv, ver, "1.0", 3);
            if (ret == 0)
                ret = put_json(sv, jpath, v1);
            json_decref(v1);
            if (ret < 0)
                break;
            if (fmt_layer_media_type_compression(l->media_type) == FMT_COMPRESSION_NONE) {
                ret = put_blob_as(sv, l->digest, path);
            } else {
                int64_t size = 0;
                int fd = unpacked_layer_file(sv, l, &size);
                if (fd < 0) {
                    ret = -1;
                    break;
                }
                ret = put_fd(sv, fd, size, path);
                close(fd);
            }
            fmt_digest_set_add(&sv->written, l->diff_id);
            parent = id;
        }
        cleanup_free char *cfg = xasprintf("%s.json", fmt_digest_hex(img->id));
        if (ret == 0 && !fmt_digest_set_has(&sv->written, img->id)) {
            ret = put_blob_as(sv, img->id, cfg);
            fmt_digest_set_add(&sv->written, img->id);
        }
        json_t *tags = json_array();
        if (items[i].ref) {
            json_array_append_new(tags, json_string(items[i].ref));
            char *name = xstrdup(items[i].ref);
            char *colon = strrchr(name, ':');
            if (colon && parent && !strchr(colon, '/')) {
                *colon = '\0';
                json_t *r = json_object_get(repos, name);
                if (!r) {
                    r = json_object();
                    json_object_set_new(repos, name, r);
                }
                json_object_set_new(r, colon + 1, json_string(parent));
            }
            free(name);
        }
        json_array_append_new(manifest, json_pack("{s:s, s:o, s:o}", "Config", cfg, "RepoTags",
                                                  tags, "Layers", layers));
    }
    if (ret == 0)
        ret = put_json(sv, "manifest.json", manifest);
    if (ret == 0 && json_object_size(repos) > 0)
        ret = put_json(sv, "repositories", repos);
    json_decref(manifest);
    json_decref(repos);
    return ret;
}

static int save_oci(struct saver *sv, const struct fmt_save_item *items, size_t n, bool docker)
{
    if (put_bytes(sv, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30) < 0 ||
        put_header(sv, "blobs/", AE_IFDIR, 0) < 0 ||
        put_header(sv, "blobs/sha256/", AE_IFDIR, 0) < 0)
        return -1;
    json_t *index = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", FMT_MT_INDEX,
                              "manifests");
    json_t *dm = json_array();
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        struct fmt_image *img = items[i].img;
        json_t *layers = json_array();
        for (size_t k = 0; k < img->manifest.n_layers && ret == 0; k++) {
            ret = put_blob(sv, img->manifest.layers[k].digest);
            cleanup_free char *lp =
                xasprintf("blobs/sha256/%s", fmt_digest_hex(img->manifest.layers[k].digest));
            json_array_append_new(layers, json_string(lp));
        }
        if (ret == 0)
            ret = put_blob(sv, img->id);
        if (ret == 0)
            ret = put_blob(sv, img->digest);
        json_t *desc = json_pack("{s:s, s:s, s:I}", "mediaType", img->manifest.media_type,
                                 "digest", img->digest, "size", (json_int_t)img->manifest_size);
        json_t *tags = json_array();
        if (items[i].ref) {
            json_object_set_new(desc, "annotations",
                                json_pack("{s:s, s:s}", FMT_ANNOTATION_REF_NAME, items[i].ref,
                                          "io.containerd.image.name", items[i].ref));
            json_array_append_new(tags, json_string(items[i].ref));
        }
        json_array_append_new(json_object_get(index, "manifests"), desc);
        cleanup_free char *cfg = xasprintf("blobs/sha256/%s", fmt_digest_hex(img->id));
        json_array_append_new(dm, json_pack("{s:s, s:o, s:o}", "Config", cfg, "RepoTags", tags,
                                            "Layers", layers));
    }
    if (ret == 0)
        ret = put_json(sv, "index.json", index);
    if (ret == 0 && docker)
        ret = put_json(sv, "manifest.json", dm);
    json_decref(index);
    json_decref(dm);
    return ret;
}

int fmt_archive_save(struct fmt_store *s, const struct fmt_save_item *items, size_t n,
                     enum fmt_archive_format format, int out_fd, struct error *err)
{
    struct saver sv = {.s = s, .err = err};
    sv.a = archive_write_new();
    archive_write_set_format_pax_restricted(sv.a);
    archive_write_set_bytes_in_last_block(sv.a, 1);
    int ret;
    if (archive_write_open_fd(sv.a, out_fd) != ARCHIVE_OK) {
        ret = error_set(err, EIO, "open the archive for writing: %s",
                        archive_error_string(sv.a));
    } else {
        ret = format == FMT_ARCHIVE_DOCKER ? save_docker_legacy(&sv, items, n)
                                           : save_oci(&sv, items, n, format == FMT_ARCHIVE_DEFAULT);
        if (archive_write_close(sv.a) != ARCHIVE_OK && ret == 0)
            ret = error_set(err, EIO, "finish the archive: %s", archive_error_string(sv.a));
    }
    archive_write_free(sv.a);
    fmt_digest_set_clear(&sv.written);
    return ret;
}
