/* The layer codec: compression, override_stat, path cleaning, the writer's
 * determinism, write → unpack round trips (root and rootless), whiteout
 * conversion, recompression, the unpacked-layer cache. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "format/blob.h"
#include "format/compress.h"
#include "format/layer_cache.h"
#include "format/layer_path.h"
#include "format/layer_unpack.h"
#include "format/layer_write.h"
#include "format/override_stat.h"
#include "format/store.h"
#include "tests/unit/layer_util.h"
#include "tests/unit/tap.h"

static char scratch[] = "/tmp/strata-codec-XXXXXX";
static int sfd = -1;
static bool is_root;

static int subdir(const char *name)
{
    mkdirat(sfd, name, 0755);
    return openat(sfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* ---- compression ---------------------------------------------------------- */

static void test_compress(void)
{
    struct error err = {0};
    /* 1.3 MB of compressible but not trivial data: several gzip chunks */
    size_t n = 1300 * 1000;
    unsigned char *data = xmalloc(n);
    unsigned x = 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        data[i] = (unsigned char)("abcdefgh"[(x >> 16) & 7] + (i % 97 == 0));
    }
    enum fmt_compression kinds[] = {FMT_COMPRESSION_GZIP, FMT_COMPRESSION_ZSTD,
                                    FMT_COMPRESSION_NONE};
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        const char *name = fmt_compression_name(kinds[k]);
        struct membuf one = {0}, four = {0}, back = {0};
        struct fmt_compressor *c;
        fmt_compressor_new(kinds[k], 0, 1, mem_sink, &one, &c, &err);
        fmt_compressor_write(c, data, n / 3, &err);
        fmt_compressor_write(c, data + n / 3, n - n / 3, &err);
        tap_is_int(fmt_compressor_finish(c, &err), 0, "compress");
        fmt_compressor_free(c);
        fmt_compressor_new(kinds[k], 0, 4, mem_sink, &four, &c, &err);
        fmt_compressor_write(c, data, n, &err);
        fmt_compressor_finish(c, &err);
        fmt_compressor_free(c);
        tap_ok(one.len == four.len && !memcmp(one.p, four.p, one.len),
               "%s: same bytes with 1 and 4 threads", name);
        tap_ok(fmt_compression_detect(one.p, one.len) == kinds[k], "%s: detected by content",
               name);
        struct fmt_decompressor *d;
        tap_is_int(fmt_decompressor_new(mem_source, &one, "mem", &d, &err), 0, "open reader");
        tap_ok(fmt_decompressor_kind(d) == kinds[k], "%s: reader detects it", name);
        unsigned char buf[65536];
        ssize_t r;
        while ((r = fmt_decompressor_read(d, buf, sizeof buf, &err)) > 0)
            mem_sink(&back, buf, (size_t)r, &err);
        fmt_decompressor_free(d);
        tap_ok(r == 0 && back.len == n && !memcmp(back.p, data, n), "%s: round trip", name);
        if (kinds[k] != FMT_COMPRESSION_NONE) {
            /* truncation is an error, not a short stream */
            one.len -= 10;
            one.pos = 0;
            fmt_decompressor_new(mem_source, &one, "cut.layer", &d, &err);
            while ((r = fmt_decompressor_read(d, buf, sizeof buf, &err)) > 0)
                ;
            fmt_decompressor_free(d);
            tap_ok(r < 0 && strstr(err.msg, "cut.layer"), "%s: truncated stream refused", name);
        }
        membuf_free(&one);
        membuf_free(&four);
        membuf_free(&back);
    }
    /* an empty gzip stream is still a valid gzip stream */
    struct membuf empty = {0};
    struct fmt_compressor *c;
    fmt_compressor_new(FMT_COMPRESSION_GZIP, 0, 2, mem_sink, &empty, &c, &err);
    fmt_compressor_finish(c, &err);
    fmt_compressor_free(c);
    struct fmt_decompressor *d;
    fmt_decompressor_new(mem_source, &empty, "empty", &d, &err);
    unsigned char b[16];
    tap_is_int(fmt_decompressor_read(d, b, sizeof b, &err), 0, "empty gzip stream reads as empty");
    fmt_decompressor_free(d);
    membuf_free(&empty);
    free(data);
}

/* ---- override_stat, path cleaning ----------------------------------------- */

static void test_override_stat(void)
{
    struct error err = {0};
    char buf[FMT_OVERRIDE_STAT_MAX];
    struct fmt_override_stat o = {.uid = 1000, .gid = 1011, .mode = S_IFREG | 0644};
    fmt_override_stat_format(&o, buf);
    tap_is_str(buf, "1000:1011:0644:file", "format a file (containers/storage form)");
    o = (struct fmt_override_stat){0, 5, S_IFCHR | 0620, makedev(136, 0), true};
    fmt_override_stat_format(&o, buf);
    tap_is_str(buf, "0:5:0620:char-136-0", "format a char device");
    o = (struct fmt_override_stat){1, 2, S_IFDIR | 04755, 0, true};
    fmt_override_stat_format(&o, buf);
    tap_is_str(buf, "1:2:4755:dir", "setuid bit in the mode");

    struct fmt_override_stat p;
    tap_ok(fmt_override_stat_parse("1005:1016:0600:block-8-0", 24, &p, &err) == 0 &&
               p.uid == 1005 && p.gid == 1016 && p.mode == (S_IFBLK | 0600) &&
               major(p.rdev) == 8 && minor(p.rdev) == 0,
           "parse a block device");
    tap_ok(fmt_override_stat_parse("0:0:755", 7, &p, &err) == 0 && !p.has_type &&
               p.mode == 0755,
           "parse the 3-field form");
    tap_ok(fmt_override_stat_parse("0:0:040755", 10, &p, &err) == 0 && p.has_type &&
               p.mode == (S_IFDIR | 0755),
           "parse a mode carrying its type");
    tap_ok(fmt_override_stat_parse("0:0:0644:file-extra", 19, &p, &err) == 0 &&
               S_ISREG(p.mode),
           "type prefixes, as containers/storage parses them");
    tap_ok(fmt_override_stat_parse("a:0:0644", 8, &p, &err) < 0, "reject a bad uid");
    tap_ok(fmt_override_stat_parse("0:0:0999", 8, &p, &err) < 0, "reject a non-octal mode");
    tap_ok(fmt_override_stat_parse("0:0:0644:fifo", 13, &p, &err) < 0, "reject an unknown type");

    const char *cases[][2] = {{"./a/b/", "a/b"}, {"/etc//passwd", "etc/passwd"},
                              {"./", "."},         {"a/./b", "a/b"},
                              {"/", "."},          {".wh..wh..opq", ".wh..wh..opq"}};
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *out = NULL;
        fmt_layer_path_clean(cases[i][0], &out, &err);
        tap_is_str(out, cases[i][1], cases[i][0]);
        free(out);
    }
    char *out = NULL;
    tap_ok(fmt_layer_path_clean("a/../b", &out, &err) < 0 && strstr(err.msg, "a/../b"),
           "`..` refused, entry named");
}

/* ---- the writer ------------------------------------------------------------ */

static void make_tree(int dfd)
{
    mkdirat(dfd, "etc", 0755);
    mkdirat(dfd, "bin", 0755);
    mkdirat(dfd, "empty", 0700);
    write_file(dfd, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
    write_file(dfd, "bin/tool", "#!/bin/sh\necho hi\n", 04755);
    write_file(dfd, "etc/secret", "s3cret\n", 0600);
    linkat(dfd, "bin/tool", dfd, "bin/tool-link", 0);
    symlinkat("tool", dfd, "bin/alias");
    symlinkat("/nonexistent/abs", dfd, "dangling");
    mkfifoat(dfd, "fifo", 0640);
    int fd = openat(dfd, "etc/passwd", O_RDONLY | O_CLOEXEC);
    fsetxattr(fd, "user.note", "hello", 5, 0);
    fsetxattr(fd, "user.another", "x", 1, 0);
    close(fd);
    if (is_root) {
        fchownat(dfd, "etc/secret", 1000, 1001, 0);
        fchownat(dfd, "dangling", 7, 8, AT_SYMLINK_NOFOLLOW);
        mknodat(dfd, "null", S_IFCHR | 0666, makedev(1, 3));
        fchmodat(dfd, "null", 0666, 0); /* undo the umask */
        fd = openat(dfd, "bin/tool", O_RDONLY | O_CLOEXEC);
        /* a file capability: security.* survives the round trip as root */
        fsetxattr(fd, "trusted.strata-test", "t", 1, 0);
        close(fd);
        fchmodat(dfd, "bin/tool", 04755, 0); /* chown cleared nothing, but be sure */
    }
}

static void touch_all(int dfd, const char *path, time_t t)
{
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    utimensat(dfd, path, ts, AT_SYMLINK_NOFOLLOW);
}

static int write_layer(int dfd, enum fmt_compression c, int64_t sde, bool override,
                       struct fmt_layer_info *info, struct membuf *out)
{
    struct error err = {0};
    struct fmt_layer_write_opts o;
    fmt_layer_write_opts_init(&o);
    o.compression = c;
    o.source_date_epoch = sde;
    o.override_stat = override;
    struct membuf local = {0};
    int r = fmt_layer_write_tree(dfd, "tree", &o, mem_sink, out ? out : &local, info, &err);
    if (r < 0)
        tap_diag("write: %s", err.msg);
    membuf_free(&local);
    return r;
}

static void test_determinism(void)
{
    int a = subdir("det-a"), b = subdir("det-b");
    make_tree(a);
    make_tree(b);
    const char *paths[] = {"etc", "bin", "empty", "etc/passwd", "bin/tool", "etc/secret",
                           "bin/alias", "dangling", "fifo", "."};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        touch_all(a, paths[i], 1700000000);
        touch_all(b, paths[i], 1800000000);
    }
    struct fmt_layer_info i1, i2, i3, i4;
    write_layer(a, FMT_COMPRESSION_GZIP, -1, true, &i1, NULL);
    write_layer(a, FMT_COMPRESSION_GZIP, -1, true, &i2, NULL);
    tap_is_str(i1.diff_id, i2.diff_id, "same tree twice: same diff_id");
    tap_is_str(i1.digest, i2.digest, "same tree twice: same gzip digest");
    tap_is_str(i1.media_type, "application/vnd.oci.image.layer.v1.tar+gzip", "gzip media type");
    write_layer(b, FMT_COMPRESSION_GZIP, -1, true, &i3, NULL);
    tap_ok(strcmp(i1.diff_id, i3.diff_id) != 0, "different mtimes, no epoch: digests differ");
    write_layer(a, FMT_COMPRESSION_ZSTD, 1600000000, true, &i3, NULL);
    write_layer(b, FMT_COMPRESSION_ZSTD, 1600000000, true, &i4, NULL);
    tap_is_str(i3.diff_id, i4.diff_id, "two copies, different mtimes, SOURCE_DATE_EPOCH: same diff_id");
    tap_is_str(i3.digest, i4.digest, "... and the same zstd digest");
    tap_is_str(i3.media_type, "application/vnd.oci.image.layer.v1.tar+zstd", "zstd media type");
    tap_ok(i3.size > 0 && i3.diff_size > i3.size, "sizes: compressed smaller than the tar");
    close(a);
    close(b);
}

static void unpack_buf(struct membuf *m, int target, int rootless, char diff_id[FMT_DIGEST_MAX],
                       struct error *err, int *ret)
{
    m->pos = 0;
    struct fmt_layer_unpack_opts o = {.rootless = rootless};
    *ret = fmt_layer_unpack(mem_source, m, "layer", target, &o, diff_id, err);
}

static void test_roundtrip_root(void)
{
    if (!is_root) {
        tap_skip("round trip as root: not root");
        return;
    }
    struct error err = {0};
    int src = subdir("rt-src"), dst = subdir("rt-dst");
    make_tree(src);
    struct fmt_layer_info info, again;
    struct membuf layer = {0};
    write_layer(src, FMT_COMPRESSION_GZIP, -1, false, &info, &layer);
    char diff_id[FMT_DIGEST_MAX];
    int r;
    unpack_buf(&layer, dst, 0, diff_id, &err, &r);
    if (!tap_ok(r == 0, "unpack as root"))
        tap_diag("%s", err.msg);
    tap_is_str(diff_id, info.diff_id, "unpack computes the same diff_id");
    write_layer(dst, FMT_COMPRESSION_GZIP, -1, false, &again, NULL);
    tap_is_str(again.diff_id, info.diff_id,
               "write → unpack → write: identical tar (paths, modes, owners, mtimes, xattrs, links)");
    struct stat s1, s2;
    fstatat(dst, "bin/tool", &s1, 0);
    fstatat(dst, "bin/tool-link", &s2, 0);
    tap_ok(s1.st_ino == s2.st_ino && s1.st_nlink == 2, "hard link kept");
    tap_is_int(s1.st_mode & 07777, 04755, "setuid mode kept");
    fstatat(dst, "etc/secret", &s1, 0);
    tap_ok(s1.st_uid == 1000 && s1.st_gid == 1001 && (s1.st_mode & 0777) == 0600, "owner kept");
    fstatat(dst, "null", &s1, 0);
    tap_ok(S_ISCHR(s1.st_mode) && s1.st_rdev == makedev(1, 3), "device node kept");
    fstatat(dst, "fifo", &s1, AT_SYMLINK_NOFOLLOW);
    tap_ok(S_ISFIFO(s1.st_mode) && (s1.st_mode & 0777) == 0640, "fifo kept");
    char link[64] = {0};
    readlinkat(dst, "bin/alias", link, sizeof link - 1);
    tap_is_str(link, "tool", "symlink kept");
    fstatat(dst, "dangling", &s1, AT_SYMLINK_NOFOLLOW);
    tap_ok(s1.st_uid == 7 && s1.st_gid == 8, "symlink owner kept");
    int fd = openat(dst, "etc/passwd", O_RDONLY | O_CLOEXEC);
    char v[16] = {0};
    fgetxattr(fd, "user.note", v, sizeof v);
    close(fd);
    tap_is_str(v, "hello", "user xattr kept");
    fd = openat(dst, "bin/tool", O_RDONLY | O_CLOEXEC);
    memset(v, 0, sizeof v);
    fgetxattr(fd, "trusted.strata-test", v, sizeof v);
    close(fd);
    tap_is_str(v, "t", "trusted xattr kept as root");
    cleanup_free char *content = read_text(dst, "bin/tool");
    tap_is_str(content, "#!/bin/sh\necho hi\n", "content kept");

    /* the diff_id check catches a layer that is not what the config says */
    int other = subdir("rt-other");
    struct fmt_layer_unpack_opts o = {.rootless = 0,
                                      .expected_diff_id = "sha256:0000000000000000000000000000000000000000000000000000000000000000"};
    layer.pos = 0;
    r = fmt_layer_unpack(mem_source, &layer, "layer", other, &o, NULL, &err);
    tap_ok(r < 0 && strstr(err.msg, "diff_id mismatch"), "diff_id mismatch refused");
    close(other);
    membuf_free(&layer);
    close(src);
    close(dst);
}

/* Runs in a child as uid/gid 65534: unpack rootless, check, write back. */
static int rootless_child(struct membuf *layer, const char *want_diff_id)
{
    int fails = 0;
    struct error err = {0};
    int dst = openat(sfd, "rl-dst", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r;
    char diff_id[FMT_DIGEST_MAX];
    unpack_buf(layer, dst, -1, diff_id, &err, &r);
#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fails++;                                                                         \
            printf("# rootless: failed: ");                                                  \
            printf(__VA_ARGS__);                                                             \
            printf("\n");                                                                    \
        }                                                                                    \
    } while (0)
    CHECK(r == 0, "unpack: %s", err.msg);
    struct stat st;
    fstatat(dst, "etc/secret", &st, 0);
    CHECK(st.st_uid == 65534, "etc/secret is owned by the caller");
    CHECK((st.st_mode & 0600) == 0600, "etc/secret is readable by the caller");
    int fd = openat(dst, "etc/secret", O_RDONLY | O_CLOEXEC);
    char v[FMT_OVERRIDE_STAT_MAX] = {0};
    fgetxattr(fd, FMT_OVERRIDE_STAT_XATTR, v, sizeof v - 1);
    close(fd);
    CHECK(!strcmp(v, "1000:1001:0600:file"), "etc/secret override_stat is `%s`", v);
    fstatat(dst, "null", &st, 0);
    CHECK(S_ISREG(st.st_mode) && st.st_size == 0, "device became an empty file");
    fd = openat(dst, "null", O_RDONLY | O_CLOEXEC);
    memset(v, 0, sizeof v);
    fgetxattr(fd, FMT_OVERRIDE_STAT_XATTR, v, sizeof v - 1);
    close(fd);
    CHECK(!strcmp(v, "0:0:0666:char-1-3"), "device override_stat is `%s`", v);
    fstatat(dst, "bin/tool", &st, 0);
    CHECK((st.st_mode & 07000) == 0, "no setuid bit on disk");
    fd = openat(dst, "bin", O_RDONLY | O_CLOEXEC);
    memset(v, 0, sizeof v);
    fgetxattr(fd, FMT_OVERRIDE_STAT_XATTR, v, sizeof v - 1);
    close(fd);
    CHECK(!strcmp(v, "0:0:0755:dir"), "directory override_stat is `%s`", v);
    fstatat(dst, "empty", &st, 0);
    CHECK((st.st_mode & 0700) == 0700, "directories stay u+rwx on disk");
    /* written back through override_stat, the files carry their real owners */
    struct fmt_layer_info again;
    struct membuf out = {0};
    struct fmt_layer_write_opts o;
    fmt_layer_write_opts_init(&o);
    o.compression = FMT_COMPRESSION_NONE;
    CHECK(fmt_layer_write_tree(dst, "rl", &o, mem_sink, &out, &again, &err) == 0, "rewrite: %s",
          err.msg);
    /* find etc/secret's and null's headers in the plain tar */
    out.pos = 0;
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_open_memory(a, out.p, out.len);
    struct archive_entry *e;
    bool secret_ok = false, null_ok = false;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *n = archive_entry_pathname(e);
        if (!strcmp(n, "etc/secret"))
            secret_ok = archive_entry_uid(e) == 1000 && archive_entry_gid(e) == 1001 &&
                        archive_entry_perm(e) == 0600;
        if (!strcmp(n, "null"))
            null_ok = archive_entry_filetype(e) == AE_IFCHR && archive_entry_rdevmajor(e) == 1 &&
                      archive_entry_rdevminor(e) == 3;
    }
    archive_read_free(a);
    CHECK(secret_ok, "rewritten etc/secret has owner 1000:1001 and mode 0600");
    CHECK(null_ok, "rewritten null is char device 1:3 again");
    membuf_free(&out);
    (void)want_diff_id;
    close(dst);
    return fails;
}

static void test_roundtrip_rootless(void)
{
    if (!is_root) {
        tap_skip("rootless round trip: needs root to build the tree and drop privileges");
        return;
    }
    int src = subdir("rl-src"), dst = subdir("rl-dst");
    fchown(dst, 65534, 65534);
    make_tree(src);
    struct fmt_layer_info info;
    struct membuf layer = {0};
    write_layer(src, FMT_COMPRESSION_ZSTD, -1, false, &info, &layer);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(100);
        int fails = rootless_child(&layer, info.diff_id);
        fflush(stdout);
        _exit(fails > 99 ? 99 : fails);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "rootless (uid 65534): owners, modes and devices kept in override_stat, "
           "written back as they were");
    membuf_free(&layer);
    close(src);
    close(dst);
}

/* ---- whiteouts ------------------------------------------------------------- */

static void list_tar(struct membuf *m, char *out, size_t cap, bool *overlay_xattr)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_open_memory(a, m->p, m->len);
    struct archive_entry *e;
    out[0] = '\0';
    *overlay_xattr = false;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        strncat(out, archive_entry_pathname(e), cap - strlen(out) - 2);
        strcat(out, archive_entry_filetype(e) == AE_IFREG ? "(f) " : " ");
        const char *name;
        const void *value;
        size_t size;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
            if (strstr(name, "overlay"))
                *overlay_xattr = true;
    }
    archive_read_free(a);
}

static void test_whiteouts(void)
{
    int t = subdir("wh");
    mkdirat(t, "opq", 0755);
    mkdirat(t, "uopq", 0755);
    write_file(t, "opq/new", "n\n", 0644);
    write_file(t, ".wh.native", "", 0644);
    int fd = openat(t, "uopq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fsetxattr(fd, "user.overlay.opaque", "y", 1, 0);
    close(fd);
    if (is_root) {
        mknodat(t, "gone", S_IFCHR | 0000, makedev(0, 0));
        fd = openat(t, "opq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0);
        close(fd);
    }
    struct fmt_layer_info info;
    struct membuf m = {0};
    struct fmt_layer_write_opts o;
    fmt_layer_write_opts_init(&o);
    o.compression = FMT_COMPRESSION_NONE;
    struct error err = {0};
    fmt_layer_write_tree(t, "wh", &o, mem_sink, &m, &info, &err);
    char list[1024];
    bool ovl;
    list_tar(&m, list, sizeof list, &ovl);
    tap_diag("entries: %s", list);
    tap_ok(strstr(list, ".wh.native(f) ") != NULL, "native .wh. file kept");
    tap_ok(strstr(list, "uopq/.wh..wh..opq(f) ") != NULL, "user.overlay.opaque → .wh..wh..opq");
    if (is_root) {
        tap_ok(strstr(list, ".wh.gone(f) ") != NULL, "0/0 char device → .wh.gone file");
        tap_ok(strstr(list, "opq/.wh..wh..opq(f) opq/new(f) ") != NULL,
               "trusted.overlay.opaque → .wh..wh..opq, before the dir's content");
    } else {
        tap_skip("char device whiteouts need root");
        tap_skip("trusted.overlay.opaque needs root");
    }
    tap_ok(!ovl, "no overlay xattrs leak into the layer");
    /* unpacked, whiteouts stay .wh. files */
    int u = subdir("wh-unpacked");
    int r;
    unpack_buf(&m, u, -1, NULL, &err, &r);
    struct stat st;
    tap_ok(r == 0 && fstatat(u, "uopq/.wh..wh..opq", &st, 0) == 0 && S_ISREG(st.st_mode),
           "unpacked: opaque marker is a plain file");
    membuf_free(&m);
    close(u);
    close(t);
}

/* File names are bytes: UTF-8 and not-UTF-8 names survive write → unpack. */
static void test_odd_names(void)
{
    int t = subdir("names"), u = subdir("names-out");
    const char *names[] = {"caf\xc3\xa9", "bad\xe9name", "sp ace", "new\nline",
                           "long-component-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        write_file(t, names[i], names[i], 0644);
    struct fmt_layer_info info;
    struct membuf m = {0};
    struct error err = {0};
    int r = write_layer(t, FMT_COMPRESSION_GZIP, -1, false, &info, &m);
    tap_is_int(r, 0, "write a tree with non-ASCII, non-UTF-8 and long names");
    unpack_buf(&m, u, -1, NULL, &err, &r);
    tap_is_int(r, 0, "unpack it");
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        cleanup_free char *c = read_text(u, names[i]);
        tap_ok(c && !strcmp(c, names[i]), "name %zu round-trips byte for byte", i);
    }
    membuf_free(&m);
    close(t);
    close(u);
}

static int failing_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
    size_t *left = ctx;
    (void)buf;
    if (len > *left)
        return error_set(err, ENOSPC, "disk full (test)");
    *left -= len;
    return 0;
}

static void test_sink_failure(void)
{
    int t = subdir("fail");
    /* enough data to go through several chain buffers and gzip chunks */
    char *big = xmalloc(3 * 1024 * 1024 + 1);
    unsigned x = 7;
    for (size_t i = 0; i < 3 * 1024 * 1024; i++) {
        x = x * 1103515245 + 12345; /* incompressible enough to overflow the sink */
        big[i] = (char)(1 + (x >> 16) % 255);
    }
    big[3 * 1024 * 1024] = '\0';
    write_file(t, "big", big, 0644);
    free(big);
    enum fmt_compression kinds[] = {FMT_COMPRESSION_GZIP, FMT_COMPRESSION_ZSTD,
                                    FMT_COMPRESSION_NONE};
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        struct fmt_layer_write_opts o;
        fmt_layer_write_opts_init(&o);
        o.compression = kinds[k];
        size_t left = 4096;
        struct fmt_layer_info info;
        struct error err = {0};
        int r = fmt_layer_write_tree(t, "fail", &o, failing_sink, &left, &info, &err);
        tap_ok(r < 0 && strstr(err.msg, "disk full"), "%s: a failing sink fails the write: %s",
               fmt_compression_name(kinds[k]), err.msg);
    }
    close(t);
}

/* ---- recompress, cache ----------------------------------------------------- */

static void test_recompress_and_cache(void)
{
    struct error err = {0};
    int t = subdir("rc");
    make_tree(t);
    struct fmt_layer_info plain, z;
    struct membuf tar = {0}, zl = {0};
    write_layer(t, FMT_COMPRESSION_NONE, -1, false, &plain, &tar);
    tap_is_str(plain.digest, plain.diff_id, "uncompressed layer: digest is the diff_id");
    struct fmt_layer_write_opts o;
    fmt_layer_write_opts_init(&o);
    o.compression = FMT_COMPRESSION_ZSTD;
    tar.pos = 0;
    int r = fmt_layer_recompress(mem_source, &tar, "in.tar", &o, mem_sink, &zl, &z, &err);
    tap_is_int(r, 0, "recompress a tar to zstd");
    tap_is_str(z.diff_id, plain.diff_id, "recompress keeps the diff_id (tar bytes untouched)");
    tap_ok(fmt_compression_detect(zl.p, zl.len) == FMT_COMPRESSION_ZSTD, "output is zstd");

    struct tarbuf bad;
    tar_begin(&bad);
    tar_add(&bad, 'f', "../evil", "x");
    tar_end(&bad);
    struct membuf sink = {0};
    r = fmt_layer_recompress(mem_source, &bad.out, "evil.tar", &o, mem_sink, &sink, &z, &err);
    tap_ok(r < 0 && strstr(err.msg, "../evil"), "recompress refuses a `..` entry");
    membuf_free(&bad.out);
    membuf_free(&sink);

    /* the cache: blob in the store → layers/<diff_id hex>/ */
    cleanup_free char *root = xasprintf("%s/store", scratch);
    struct fmt_store *s = NULL;
    tap_is_int(fmt_store_open(root, &s, &err), 0, "open a store");
    struct fmt_layer_info bi;
    r = fmt_layer_write_tree_blob(s, t, "rc", &o, &bi, &err);
    tap_is_int(r, 0, "write a layer blob into the store");
    tap_ok(fmt_blob_exists(s, bi.digest), "blob is in the store");
    tap_ok(!fmt_layer_cache_has(s, bi.diff_id), "not unpacked yet");
    pid_t kids[2];
    fflush(stdout);
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char *p = NULL;
            struct error e2 = {0};
            int rr = fmt_layer_cache_get(s, bi.digest, bi.diff_id, &p, &e2);
            if (rr < 0)
                printf("# cache_get: %s\n", e2.msg);
            free(p);
            _exit(rr < 0);
        }
    }
    int ok_kids = 0;
    for (int i = 0; i < 2; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        ok_kids += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    tap_is_int(ok_kids, 2, "two concurrent cache_get calls both succeed");
    char *path = NULL;
    tap_is_int(fmt_layer_cache_get(s, bi.digest, bi.diff_id, &path, &err), 0, "cache hit");
    cleanup_free char *expect = xasprintf("%s/layers/%s", root, fmt_digest_hex(bi.diff_id));
    tap_is_str(path, expect, "layer at layers/<diff_id hex>");
    int lfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_free char *content = read_text(lfd, "etc/passwd");
    tap_is_str(content, "root:x:0:0::/root:/bin/sh\n", "unpacked content");
    close(lfd);
    free(path);
    /* no temp dirs left behind */
    int layers = openat(s->root_fd, "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(layers);
    int tmp = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        tmp += !strncmp(de->d_name, ".tmp-", 5);
    closedir(d);
    tap_is_int(tmp, 0, "no temp dirs left");
    tap_is_int(fmt_layer_cache_remove(s, bi.diff_id, &err), 0, "remove the unpacked layer");
    tap_ok(!fmt_layer_cache_has(s, bi.diff_id), "gone");
    fmt_store_close(s);
    membuf_free(&tar);
    membuf_free(&zl);
    close(t);
}

int main(void)
{
    is_root = geteuid() == 0;
    umask(022);
    if (!mkdtemp(scratch))
        return 1;
    chmod(scratch, 0755);
    sfd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    test_compress();
    test_override_stat();
    test_determinism();
    test_roundtrip_root();
    test_roundtrip_rootless();
    test_whiteouts();
    test_sink_failure();
    test_odd_names();
    test_recompress_and_cache();
    struct error err = {0};
    close(sfd);
    rm_rf_at(AT_FDCWD, scratch, &err);
    return tap_done();
}
