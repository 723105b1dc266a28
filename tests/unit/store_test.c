/* format/: the store and its blobs (and later index.json). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/blob.h"
#include "format/config.h"
#include "format/gc.h"
#include "format/image.h"
#include "format/index.h"
#include "format/ref.h"
#include "format/manifest.h"
#include "format/store.h"
#include "tests/unit/tap.h"

/* Files in blobs/sha256, temp files included. */
static int count_blob_files(struct fmt_store *s)
{
    int fd = openat(s->root_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void flip_byte(struct fmt_store *s, const char *digest, off_t at)
{
    int fd = openat(s->blobs_fd, fmt_digest_hex(digest), O_RDWR | O_CLOEXEC);
    unsigned char c;
    if (pread(fd, &c, 1, at) != 1)
        abort();
    c ^= 0x20;
    if (pwrite(fd, &c, 1, at) != 1)
        abort();
    close(fd);
}

static void test_blobs(struct fmt_store *s)
{
    struct error err = {0};
    char digest[FMT_DIGEST_MAX];
    char want[FMT_DIGEST_MAX];
    fmt_digest_buffer("hello world", 11, want);

    /* streamed write in two pieces */
    struct fmt_blob_writer *w;
    int64_t size = 0;
    tap_is_int(fmt_blob_writer_new(s, &w, &err), 0, "open a blob writer");
    fmt_blob_writer_write(w, "hello ", 6, &err);
    fmt_blob_writer_write(w, "world", 5, &err);
    tap_is_int(fmt_blob_writer_commit(w, want, digest, &size, &err), 0,
               "commit with the right expected digest");
    tap_is_str(digest, want, "commit returns the content digest");
    tap_is_int(size, 11, "commit returns the size");
    tap_ok(fmt_blob_exists(s, want), "the blob exists");
    struct stat st;
    fstatat(s->blobs_fd, fmt_digest_hex(want), &st, 0);
    tap_is_int(st.st_mode & 07777, 0644, "blob is 0644");

    char *data = NULL;
    size_t len = 0;
    tap_is_int(fmt_blob_get(s, want, &data, &len, &err), 0, "get the blob");
    tap_ok(len == 11 && !memcmp(data, "hello world", 11), "get returns the content");
    free(data);
    tap_is_int(fmt_blob_put(s, "hello world", 11, digest, &err), 0, "put the same bytes again");
    tap_is_int(count_blob_files(s), 1, "dedup: one file, no temp left");

    /* wrong expected digest: refused, nothing published */
    char other[FMT_DIGEST_MAX];
    fmt_digest_buffer("something else", 14, other);
    fmt_blob_writer_new(s, &w, &err);
    fmt_blob_writer_write(w, "not that", 8, &err);
    tap_ok(fmt_blob_writer_commit(w, other, digest, NULL, &err) < 0,
           "commit with a wrong expected digest fails");
    tap_ok(strstr(err.msg, other) != NULL, "the error names the expected digest");
    tap_is_int(count_blob_files(s), 1, "nothing was published, no temp left");
    fmt_digest_buffer("not that", 8, other);
    tap_ok(!fmt_blob_exists(s, other), "the bad content is not in the store");

    /* abort leaves nothing */
    fmt_blob_writer_new(s, &w, &err);
    fmt_blob_writer_write(w, "aborted", 7, &err);
    fmt_blob_writer_abort(w);
    tap_is_int(count_blob_files(s), 1, "abort leaves no temp file");

    /* a streamed read verifies */
    char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    char bigd[FMT_DIGEST_MAX];
    tap_is_int(fmt_blob_put(s, big, sizeof big, bigd, &err), 0, "put a 100 kB blob");
    struct fmt_blob_reader *r;
    tap_is_int(fmt_blob_reader_open(s, bigd, &r, &err), 0, "open a reader");
    tap_is_int(fmt_blob_reader_size(r), sizeof big, "reader knows the size");
    char buf[4096];
    ssize_t n, total = 0;
    while ((n = fmt_blob_reader_read(r, buf, sizeof buf, &err)) > 0)
        total += n;
    tap_is_int(n, 0, "reader reaches EOF with a verified digest");
    tap_is_int(total, sizeof big, "reader returned every byte");
    fmt_blob_reader_close(r);
    tap_is_int(fmt_blob_verify(s, bigd, &err), 0, "verify a good blob");

    /* flip one byte: get, reader and verify all refuse, naming the blob */
    flip_byte(s, bigd, 5000);
    tap_ok(fmt_blob_get(s, bigd, &data, &len, &err) < 0, "get of a corrupt blob fails");
    tap_ok(strstr(err.msg, bigd) != NULL, "get's error names the blob");
    fmt_blob_reader_open(s, bigd, &r, &err);
    while ((n = fmt_blob_reader_read(r, buf, sizeof buf, &err)) > 0)
        ;
    tap_ok(n < 0, "reader of a corrupt blob fails at EOF");
    tap_ok(strstr(err.msg, bigd) != NULL, "reader's error names the blob");
    tap_ok(fmt_blob_reader_read(r, buf, sizeof buf, &err) < 0, "and keeps failing");
    fmt_blob_reader_close(r);
    tap_ok(fmt_blob_verify(s, bigd, &err) < 0, "verify of a corrupt blob fails");
    flip_byte(s, want, 0);
    tap_ok(fmt_blob_get(s, want, &data, &len, &err) < 0, "a flipped byte in a small blob too");
    tap_is_int(fmt_blob_put(s, "hello world", 11, digest, &err), 0, "put the good bytes again");
    tap_is_int(fmt_blob_get(s, want, &data, &len, &err), 0, "which repairs the blob");
    free(data);

    /* hostile or missing digests */
    tap_ok(fmt_blob_get(s, "sha256:../../../etc/passwd", &data, &len, &err) < 0,
           "a malformed digest is refused");
    tap_ok(!fmt_blob_exists(s, "sha256:../x"), "exists() of a malformed digest is false");
    fmt_digest_buffer("absent", 6, other);
    tap_ok(fmt_blob_get(s, other, &data, &len, &err) < 0 && strstr(err.msg, other),
           "a missing blob is an error naming it");
}

static void test_manifest(struct fmt_store *s)
{
    struct error err = {0};
    struct fmt_descriptor cfg = {.media_type = xstrdup(FMT_MT_CONFIG), .size = 2,
                                 .uncompressed_size = -1};
    fmt_digest_buffer("{}", 2, cfg.digest);
    struct fmt_descriptor layers[2] = {
        {.media_type = xstrdup(FMT_MT_LAYER_GZIP), .size = 10, .uncompressed_size = -1},
        {.media_type = xstrdup(FMT_MT_LAYER_ZSTD), .size = 20, .uncompressed_size = -1},
    };
    fmt_digest_buffer("a", 1, layers[0].digest);
    fmt_digest_buffer("b", 1, layers[1].digest);
    cleanup_free char *json = fmt_manifest_build(&cfg, layers, 2, NULL);
    struct fmt_manifest m;
    tap_is_int(fmt_manifest_parse(json, strlen(json), NULL, &m, &err), 0,
               "a built manifest parses");
    tap_is_str(m.media_type, FMT_MT_MANIFEST, "OCI manifest media type");
    tap_is_int(m.n_layers, 2, "two layers");
    tap_is_str(m.layers[1].digest, layers[1].digest, "layer digest kept");
    tap_is_int(m.layers[1].size, 20, "layer size kept");
    tap_is_str(m.config.digest, cfg.digest, "config digest kept");
    fmt_manifest_clear(&m);
    tap_is_int(fmt_layer_media_type_compression(FMT_MT_DOCKER_LAYER_GZIP),
               FMT_COMPRESSION_GZIP, "docker gzip layer type is understood");
    const char *bad = "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:zz\",\"size\":1},"
                      "\"layers\":[]}";
    tap_ok(fmt_manifest_parse(bad, strlen(bad), NULL, &m, &err) < 0,
           "a manifest with a bad digest is refused");
    fmt_descriptor_clear(&cfg);
    fmt_descriptor_clear(&layers[0]);
    fmt_descriptor_clear(&layers[1]);
    (void)s;
}

static void test_refs(void)
{
    struct error err = {0};
    static const char *cases[][2] = {
        {"busybox", "busybox:latest"},
        {"busybox:latest", "busybox:latest"},
        {"localhost/busybox", "busybox:latest"},
        {"localhost/busybox:1.36", "busybox:1.36"},
        {"docker.io/library/busybox", "docker.io/library/busybox:latest"},
        {"localhost:5000/a/b-c:v1.0_x", "localhost:5000/a/b-c:v1.0_x"},
        {"my.registry/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "my.registry/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *n = fmt_ref_normalize(cases[i][0], &err);
        tap_is_str(n, cases[i][1], cases[i][0]);
        free(n);
    }
    static const char *bad[] = {"", "Busybox", "a:b:c", "a/../b", "a:", "-a", "a b", "a/:x",
                                "x@sha256:12"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *n = fmt_ref_normalize(bad[i], &err);
        tap_ok(n == NULL, "`%s` is refused", bad[i]);
        free(n);
    }
}

/* Each child adds its own refs to index.json; none may be lost. */
#define WRITERS 4
#define REFS_PER_WRITER 15
static void test_concurrent_index(const char *root)
{
    struct error err = {0};
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            struct fmt_store *s;
            if (fmt_store_open(root, &s, &err) < 0)
                _exit(1);
            for (int i = 0; i < REFS_PER_WRITER; i++) {
                struct fmt_descriptor d = {.media_type = FMT_MT_MANIFEST, .size = 1};
                char *ref = xasprintf("w%d/img:%d", w, i);
                fmt_digest_buffer(ref, strlen(ref), d.digest);
                if (fmt_index_add(s, ref, &d, &err) < 0)
                    _exit(1);
                free(ref);
            }
            fmt_store_close(s);
            _exit(0);
        }
    }
    int failed = 0;
    for (int w = 0; w < WRITERS; w++) {
        int st;
        waitpid(pids[w], &st, 0);
        failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    tap_is_int(failed, 0, "concurrent index writers all succeed");
    struct fmt_store *s;
    fmt_store_open(root, &s, &err);
    struct fmt_index idx;
    tap_is_int(fmt_index_load(s, &idx, &err), 0, "index.json still parses");
    int found = 0;
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < REFS_PER_WRITER; i++) {
            char *ref = xasprintf("w%d/img:%d", w, i);
            found += fmt_index_find(&idx, ref) != NULL;
            free(ref);
        }
    tap_is_int(found, WRITERS * REFS_PER_WRITER, "no ref was lost");
    fmt_index_clear(&idx);
    fmt_store_close(s);
}

static void test_image(struct fmt_store *s)
{
    struct error err = {0};
    /* a fake uncompressed "layer" is enough for the metadata paths */
    struct fmt_descriptor layer = {.media_type = xstrdup(FMT_MT_LAYER_TAR),
                                   .uncompressed_size = -1};
    const char *body = "not really a tar, but a blob";
    tap_is_int(fmt_blob_put(s, body, strlen(body), layer.digest, &err), 0, "put a layer blob");
    layer.size = (int64_t)strlen(body);
    layer.diff_id = xstrdup(layer.digest);
    json_t *cfg = fmt_config_new();
    json_object_set_new(json_object_get(cfg, "config"), "Cmd", json_pack("[s]", "/bin/sh"));
    char digest[FMT_DIGEST_MAX];
    tap_is_int(fmt_image_commit(s, cfg, &layer, 1, "test/img", digest, &err), 0,
               "commit an image");
    tap_ok(fmt_image_commit(s, cfg, &layer, 1, "Bad Name", digest, &err) < 0,
           "commit with an invalid ref fails");
    json_decref(cfg);

    struct fmt_image *img = NULL;
    tap_is_int(fmt_image_resolve(s, "test/img:latest", &img, &err), 0, "resolve by ref");
    if (img) {
        tap_is_str(img->digest, digest, "resolved the committed manifest");
        tap_is_str(img->ref, "test/img:latest", "the ref is normalised");
        tap_is_str(img->manifest.layers[0].diff_id, layer.digest, "diff_id from the config");
        tap_is_int(img->manifest.layers[0].uncompressed_size, layer.size,
                   "an uncompressed layer's size is its uncompressed size");
        tap_is_str(json_string_value(json_array_get(
                       json_object_get(json_object_get(img->config, "config"), "Cmd"), 0)),
                   "/bin/sh", "config content kept");
        char prefix[16];
        snprintf(prefix, sizeof prefix, "%.8s", fmt_digest_hex(img->id));
        struct fmt_image *img2 = NULL;
        tap_is_int(fmt_image_resolve(s, prefix, &img2, &err), 0, "resolve by image id prefix");
        tap_ok(img2 && !strcmp(img2->digest, digest), "the same image");
        fmt_image_free(img2);
        img2 = NULL;
        tap_is_int(fmt_image_resolve(s, digest, &img2, &err), 0, "resolve by manifest digest");
        fmt_image_free(img2);
        fmt_image_free(img);
    }
    img = NULL;
    tap_ok(fmt_image_resolve(s, "nope", &img, &err) < 0 && err.code == ENOENT,
           "an unknown name is ENOENT");
    tap_is_int(fmt_index_add(s, "other:1", &(struct fmt_descriptor){.media_type = FMT_MT_MANIFEST,
                                                                    .size = 1},
                             &err),
               -1, "adding an invalid descriptor fails");
    tap_is_int(fmt_index_remove_ref(s, "test/img", &err), 0, "untag");
    tap_ok(fmt_image_resolve(s, "test/img", &img, &err) < 0, "untagged ref no longer resolves");
    tap_ok(fmt_index_remove_ref(s, "test/img", &err) < 0 && err.code == ENOENT,
           "untagging twice is ENOENT");
    fmt_descriptor_clear(&layer);
}

/* A handle that wrote a blob holds the gc lock shared, so prune (which
 * takes it exclusively) cannot collect blobs not yet tagged. */
static void test_gc_lock(const char *root)
{
    struct error err = {0};
    struct fmt_store *w, *p;
    fmt_store_open(root, &w, &err);
    char digest[FMT_DIGEST_MAX];
    tap_is_int(fmt_blob_put(w, "untagged yet", 12, digest, &err), 0, "a writer puts a blob");
    int fd = openat(w->root_fd, FMT_STORE_GC_LOCK, O_RDWR | O_CLOEXEC);
    tap_ok(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK,
           "while the writer's store is open, the gc lock cannot be taken exclusively");
    struct fmt_prune_stats st;
    tap_ok(fmt_prune(w, &st, NULL, NULL, &err) < 0, "prune through a writing handle is refused");
    fmt_store_close(w);
    tap_ok(flock(fd, LOCK_EX | LOCK_NB) == 0, "once it closes, the lock is free");
    close(fd);
    fmt_store_open(root, &p, &err);
    tap_is_int(fmt_prune(p, &st, NULL, NULL, &err), 0, "prune");
    tap_ok(!fmt_blob_exists(p, digest), "the unreferenced blob is gone");
    tap_ok(st.blobs_removed >= 1, "and counted");
    fmt_store_close(p);
}

int main(void)
{
    struct error err = {0};
    char tmpl[] = "/tmp/strata-store-XXXXXX";
    if (!mkdtemp(tmpl))
        return 1;
    cleanup_free char *root = xasprintf("%s/store", tmpl);
    struct fmt_store *s = NULL;
    tap_is_int(fmt_store_open(root, &s, &err), 0, "open (create) a store");
    tap_ok(path_exists_at(s->root_fd, "oci-layout"), "oci-layout written");
    tap_ok(path_exists_at(s->root_fd, "index.json"), "index.json written");
    struct fmt_store *s2 = NULL;
    tap_is_int(fmt_store_open(root, &s2, &err), 0, "reopen an existing store");
    fmt_store_close(s2);
    tap_ok(fmt_store_open("relative", &s2, &err) < 0, "a relative root is refused");

    test_blobs(s);
    test_manifest(s);
    test_refs();
    test_image(s);
    test_concurrent_index(root);
    fmt_store_close(s); /* it wrote blobs: prune would wait for it */
    test_gc_lock(root);

    rm_rf_at(AT_FDCWD, tmpl, &err);
    return tap_done();
}
