/* Layer index: tar headers to entries, whiteouts decoded, digests on demand,
 * JSON round trip and the per-diff_id cache. */
#include <fcntl.h>
#include <unistd.h>

#include "common/fileutil.h"
#include "diff_tar.h"
#include "format/layer_index.h"
#include "tap.h"

static const struct fmt_layer_entry *find(const struct fmt_layer_index *ix, const char *p)
{
    for (size_t i = 0; i < ix->n_entries; i++)
        if (!strcmp(ix->entries[i].path, p))
            return &ix->entries[i];
    return NULL;
}

static void build(struct test_tar *t)
{
    tt_open(t);
    tt_add(t, 'd', "./", NULL, 0755, 0);
    tt_add(t, 'd', "./etc/", NULL, 0755, 0);
    tt_add(t, 'f', "./etc/hello", "hello\n", 0644, 1000);
    tt_add(t, 'l', "etc/link", "hello", 0777, 0);
    tt_add(t, 'h', "etc/hard", "./etc/hello", 0644, 1000);
    tt_add(t, 'f', "etc/.wh.gone", "", 0644, 0);
    tt_add(t, 'f', "var/.wh..wh..opq", "", 0644, 0);
    tt_add(t, 'c', "dev/null", NULL, 0666, 0);
    tt_add(t, 'f', ".wh..wh.aufs", "", 0644, 0);
}

int main(void)
{
    struct test_tar t;
    struct fmt_layer_index ix = {0};
    build(&t);
    tap_ok(tt_index(&t, 0, &ix) == 0, "index a tar without digests");
    tap_is_int(ix.n_entries, 8, "one entry per member, aufs bookkeeping skipped");
    tap_is_str(ix.entries[0].path, "", "./ is the root");
    const struct fmt_layer_entry *e = find(&ix, "etc/hello");
    tap_ok(e && e->type == FMT_ENTRY_FILE && e->size == 6 && e->uid == 1000 &&
               e->mode == 0644 && !e->digest[0],
           "file: type, size, owner, mode; no digest unless asked");
    e = find(&ix, "etc/link");
    tap_ok(e && e->type == FMT_ENTRY_SYMLINK && !strcmp(e->link, "hello"), "symlink target");
    e = find(&ix, "etc/hard");
    tap_ok(e && e->type == FMT_ENTRY_HARDLINK && !strcmp(e->link, "etc/hello") && e->size == 0,
           "hardlink target normalised");
    e = find(&ix, "etc/gone");
    tap_ok(e && e->type == FMT_ENTRY_WHITEOUT, ".wh.gone becomes a whiteout of etc/gone");
    e = find(&ix, "var");
    tap_ok(e && e->type == FMT_ENTRY_OPAQUE, ".wh..wh..opq marks var opaque");
    e = find(&ix, "dev/null");
    tap_ok(e && e->type == FMT_ENTRY_CHAR, "char device");
    tap_is_int(ix.file_bytes, 6, "file bytes");
    tap_ok(ix.tar_size > 0, "tar size recorded");
    fmt_layer_index_clear(&ix);

    build(&t);
    tap_ok(tt_index(&t, 1, &ix) == 0, "index with digests");
    e = find(&ix, "etc/hello");
    char want[FMT_DIGEST_MAX];
    fmt_digest_buffer("hello\n", 6, want);
    tap_is_str(e ? e->digest : NULL, want, "content digest is sha256 of the content");

    /* JSON round trip */
    json_t *j = fmt_layer_index_to_json(&ix);
    struct fmt_layer_index back = {0};
    struct error err = {0};
    tap_ok(fmt_layer_index_from_json(j, "test", &back, &err) == 0, "JSON parses back");
    json_decref(j);
    int same = back.n_entries == ix.n_entries && back.has_digests;
    for (size_t i = 0; same && i < ix.n_entries; i++) {
        const struct fmt_layer_entry *a = &ix.entries[i], *b = &back.entries[i];
        same = !strcmp(a->path, b->path) && a->type == b->type && a->mode == b->mode &&
               a->uid == b->uid && a->size == b->size && !strcmp(a->digest, b->digest) &&
               (!a->link == !b->link) && (!a->link || !strcmp(a->link, b->link));
    }
    tap_ok(same, "every field survives the round trip");
    fmt_layer_index_clear(&back);

    /* the cache */
    char dir[] = "/tmp/diff-ix-XXXXXX";
    tap_ok(mkdtemp(dir) != NULL, "scratch dir");
    int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    const char *id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    tap_is_int(fmt_layer_index_cache_load(root, id, false, &back, &err), 0, "cache miss");
    tap_ok(fmt_layer_index_cache_store(root, id, &ix, &err) == 0, "cache store");
    tap_is_int(fmt_layer_index_cache_load(root, id, true, &back, &err), 1, "cache hit");
    tap_is_int(back.n_entries, ix.n_entries, "cached entries");
    fmt_layer_index_clear(&back);
    ix.has_digests = false;
    fmt_layer_index_cache_store(root, id, &ix, &err);
    tap_is_int(fmt_layer_index_cache_load(root, id, true, &back, &err), 0,
               "a cache without digests does not satisfy a digest request");
    atomic_write_at(root, "cache/layer-index/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.json",
                    "{garbage", 8, 0600, &err);
    tap_is_int(fmt_layer_index_cache_load(root, id, false, &back, &err), 0,
               "a damaged cache entry reads as a miss");
    rm_rf_at(AT_FDCWD, dir, &err);
    close(root);
    fmt_layer_index_clear(&ix);

    char *p = fmt_layer_path_normalize("./a//b/./c/");
    tap_is_str(p, "a/b/c", "path normalisation");
    free(p);
    tap_ok(fmt_layer_path_normalize("a/../../x") == NULL, "`..` is refused");
    return tap_done();
}
