/* Trees from layers (whiteouts, opaque directories), per-layer A/C/D,
 * image-to-image comparison with digests only where needed, and dive's
 * waste measure. */
#include "diff_tar.h"
#include "format/analyze.h"
#include "format/tree_diff.h"
#include "tap.h"

static struct fmt_layer_index base, top, img2top;

static void make_base(struct fmt_layer_index *ix, int digests)
{
    struct test_tar t;
    tt_open(&t);
    tt_add(&t, 'd', "etc", NULL, 0755, 0);
    tt_add(&t, 'f', "etc/keep", "keep", 0644, 0);
    tt_add(&t, 'f', "etc/change", "old", 0644, 0);
    tt_add(&t, 'f', "etc/remove", "12345", 0644, 0);
    tt_add(&t, 'd', "var", NULL, 0755, 0);
    tt_add(&t, 'd', "var/cache", NULL, 0755, 0);
    tt_add(&t, 'f', "var/cache/a", "aaaaaaaaaa", 0644, 0);
    tt_add(&t, 'f', "var/cache/b", "bbbbbbbbbbbbbbbbbbbb", 0644, 0);
    tt_add(&t, 'd', "opt", NULL, 0755, 0);
    tt_add(&t, 'f', "opt/x", "x", 0644, 0);
    tt_add(&t, 'f', "opt/y", "yy", 0644, 0);
    tt_add(&t, 'f', "a-b", "dash sorts before slash in strcmp", 0644, 0);
    tt_add(&t, 'l', "etc/link", "keep", 0777, 0);
    tt_add(&t, 'f', "etc/script", "#!/bin/sh\n", 0644, 0);
    tap_ok(tt_index(&t, digests, ix) == 0, "base layer indexed");
}

static void make_top(struct fmt_layer_index *ix)
{
    struct test_tar t;
    tt_open(&t);
    tt_add(&t, 'd', "etc", NULL, 0755, 0);
    tt_add(&t, 'f', "etc/change", "new!", 0644, 0);
    tt_add(&t, 'f', "etc/.wh.remove", "", 0644, 0);
    tt_add(&t, 'f', "etc/added", "added", 0644, 0);
    tt_add(&t, 'f', "var/.wh.cache", "", 0644, 0);
    tt_add(&t, 'd', "opt", NULL, 0755, 0);
    tt_add(&t, 'f', "opt/.wh..wh..opq", "", 0644, 0);
    tt_add(&t, 'f', "opt/y", "YY", 0644, 0);
    tap_ok(tt_index(&t, 0, ix) == 0, "top layer indexed");
}

/* image 2: base + a layer changing one file's content (same size), one's
 * mode and one symlink's target */
static void make_img2top(struct fmt_layer_index *ix, int digests)
{
    struct test_tar t;
    tt_open(&t);
    tt_add(&t, 'f', "etc/keep", "KEEP", 0644, 0);
    tt_add(&t, 'f', "etc/script", "#!/bin/sh\n", 0755, 0);
    tt_add(&t, 'l', "etc/link", "change", 0777, 0);
    tt_add(&t, 'f', "etc/same", "z", 0644, 0);
    tap_ok(tt_index(&t, digests, ix) == 0, "image 2 top layer indexed");
}

static const struct fmt_change *change_of(const struct fmt_changes *c, const char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].path, path))
            return &c->v[i];
    return NULL;
}

static void test_layers(void)
{
    struct fmt_tree t = {0};
    struct fmt_changes c0 = {0}, c1 = {0};
    fmt_tree_apply(&t, &base, 0, FMT_RECORD_TOP, &c0);
    tap_is_int(c0.n, 14, "base layer: every entry added");
    tap_ok(fmt_tree_find(&t, "var/cache/b") != NULL, "find in tree");
    fmt_tree_apply(&t, &top, 1, FMT_RECORD_TOP, &c1);

    const struct fmt_change *ch = change_of(&c1, "etc/change");
    tap_ok(ch && ch->kind == 'C' && ch->size == 4 && ch->old_size == 3, "C etc/change 4 bytes");
    ch = change_of(&c1, "etc/added");
    tap_ok(ch && ch->kind == 'A' && ch->size == 5, "A etc/added 5 bytes");
    ch = change_of(&c1, "etc/remove");
    tap_ok(ch && ch->kind == 'D' && ch->size == 5, "D etc/remove (5 bytes)");
    ch = change_of(&c1, "var/cache");
    tap_ok(ch && ch->kind == 'D' && ch->size == 30, "D var/cache counts its whole subtree (30)");
    tap_ok(!change_of(&c1, "var/cache/a"), "subtree deletion listed once, at its top");
    ch = change_of(&c1, "opt/x");
    tap_ok(ch && ch->kind == 'D' && ch->size == 1, "opaque opt hides opt/x: D");
    ch = change_of(&c1, "opt/y");
    tap_ok(ch && ch->kind == 'C', "opaque opt re-creating opt/y: C");
    tap_ok(!change_of(&c1, "etc/keep") && !change_of(&c1, "a-b"), "untouched paths not listed");

    tap_ok(!fmt_tree_find(&t, "etc/remove") && !fmt_tree_find(&t, "var/cache") &&
               !fmt_tree_find(&t, "var/cache/a") && !fmt_tree_find(&t, "opt/x"),
           "removed paths are gone from the final tree");
    const struct fmt_tree_node *n = fmt_tree_find(&t, "opt/y");
    tap_ok(n && n->layer == 1 && n->entry->size == 2, "opt/y from the top layer");
    tap_ok(fmt_tree_find(&t, "var") && fmt_tree_find(&t, "a-b"), "siblings survive");
    for (size_t i = 1; i < t.n_nodes; i++)
        if (fmt_path_cmp(t.nodes[i - 1].entry->path, t.nodes[i].entry->path) >= 0) {
            tap_ok(0, "tree stays sorted");
            break;
        }
    fmt_changes_clear(&c0);
    fmt_changes_clear(&c1);
    fmt_tree_clear(&t);
}

static void test_replace_dir_by_file(void)
{
    struct test_tar t;
    struct fmt_layer_index up = {0};
    tt_open(&t);
    tt_add(&t, 'f', "var", "file now", 0644, 0);
    tt_index(&t, 0, &up);
    struct fmt_tree tr = {0};
    fmt_tree_apply(&tr, &base, 0, FMT_RECORD_NONE, NULL);
    struct fmt_changes c = {0};
    fmt_tree_apply(&tr, &up, 1, FMT_RECORD_TOP, &c);
    tap_ok(!fmt_tree_find(&tr, "var/cache/a"), "a file over a directory removes its contents");
    const struct fmt_change *ch = change_of(&c, "var");
    tap_ok(ch && ch->kind == 'C', "... and the directory is changed");
    fmt_changes_clear(&c);
    fmt_tree_clear(&tr);
    fmt_layer_index_clear(&up);
}

static void test_compare(void)
{
    struct fmt_layer_index b2 = {0}, t2 = {0};
    make_base(&b2, 0);
    make_img2top(&t2, 0);
    const struct fmt_layer_index *la[] = {&base}, *lb[] = {&b2, &t2};
    struct fmt_tree a = {0}, b = {0};
    fmt_tree_build(&a, la, 1);
    fmt_tree_build(&b, lb, 2);
    const char *ids_a[] = {"sha256:base"}, *ids_b[] = {"sha256:base", "sha256:top2"};
    bool need_a[1] = {0}, need_b[2] = {0};
    fmt_tree_digest_needs(&a, ids_a, &b, ids_b, need_a, need_b);
    tap_ok(need_a[0] && !need_b[0] && need_b[1],
           "digests needed: for image 1's base (same-size files) and image 2's top only");

    struct fmt_changes c = {0};
    struct error err = {0};
    tap_ok(fmt_tree_compare(&a, ids_a, &b, ids_b, &c, &err) < 0,
           "compare refuses to guess without digests");
    fmt_changes_clear(&c);

    struct fmt_layer_index bd = {0}, td = {0};
    make_base(&bd, 1);
    make_img2top(&td, 1);
    tap_ok(fmt_tree_rebind(&a, 0, &bd, &err) == 0, "rebind image 1's base to its digest index");
    tap_ok(fmt_tree_rebind(&b, 1, &td, &err) == 0, "rebind image 2's top");
    tap_ok(fmt_tree_compare(&a, ids_a, &b, ids_b, &c, &err) == 0, "compare");
    tap_is_int(c.n, 4, "four differences");
    const struct fmt_change *ch = change_of(&c, "etc/keep");
    tap_ok(ch && ch->kind == 'C' && ch->what == FMT_DIFF_CONTENT, "content change by digest");
    ch = change_of(&c, "etc/script");
    tap_ok(ch && ch->kind == 'C' && ch->what == FMT_DIFF_MODE, "mode only (same content)");
    ch = change_of(&c, "etc/link");
    tap_ok(ch && ch->kind == 'C' && ch->what == FMT_DIFF_LINK, "symlink target");
    ch = change_of(&c, "etc/same");
    tap_ok(ch && ch->kind == 'A' && ch->size == 1, "added file");
    char buf[64];
    tap_is_str(fmt_diff_what_string(FMT_DIFF_CONTENT | FMT_DIFF_MODE, buf, sizeof buf),
               "content,mode", "what string");

    /* swapped: removed instead of added */
    fmt_changes_clear(&c);
    fmt_tree_compare(&b, ids_b, &a, ids_a, &c, &err);
    ch = change_of(&c, "etc/same");
    tap_ok(ch && ch->kind == 'D', "reverse comparison: removed");
    fmt_changes_clear(&c);
    fmt_tree_clear(&a);
    fmt_tree_clear(&b);
    fmt_layer_index_clear(&b2);
    fmt_layer_index_clear(&t2);
    fmt_layer_index_clear(&bd);
    fmt_layer_index_clear(&td);
}

static void test_analyze(void)
{
    const struct fmt_layer_index *l[] = {&base, &top};
    struct fmt_analysis an;
    fmt_analyze(l, 1, &an);
    tap_ok(an.wasted_bytes == 0 && an.efficiency == 1.0, "one layer: nothing wasted");
    fmt_analysis_clear(&an);

    fmt_analyze(l, 2, &an);
    /* waste: etc/change 3+4, etc/remove 5+0, var/cache/a 10, var/cache/b 20,
     * opt/x 1, opt/y 2+2 */
    tap_is_int(an.wasted_bytes, 7 + 5 + 10 + 20 + 1 + 4, "wasted bytes as dive counts them");
    int64_t cum = 4 + 7 + 5 + 30 + 1 + 4 + 33 + 10 + 5; /* every path's copies */
    int64_t sum_min = 4 + 3 + 0 + 0 + 0 + 0 + 2 + 33 + 10 + 5;
    tap_ok(an.efficiency > (double)sum_min / (double)cum - 1e-9 &&
               an.efficiency < (double)sum_min / (double)cum + 1e-9,
           "efficiency = sum of minimum / sum of cumulative");
    tap_is_str(an.n_items ? an.items[0].path : NULL, "var/cache/b", "largest offender first");
    tap_is_int(an.n_items, 6, "six inefficient paths");
    tap_is_int(an.user_bytes, top.file_bytes, "user bytes exclude the base layer");
    fmt_analysis_clear(&an);
}

int main(void)
{
    make_base(&base, 0);
    make_top(&top);
    tap_ok(fmt_path_cmp("a", "a/b") < 0 && fmt_path_cmp("a/b", "a-b") < 0 &&
               fmt_path_cmp("a-b", "a0") < 0,
           "paths sort with a directory's contents right after it");
    test_layers();
    test_replace_dir_by_file();
    test_compare();
    test_analyze();
    fmt_layer_index_clear(&base);
    fmt_layer_index_clear(&top);
    fmt_layer_index_clear(&img2top);
    return tap_done();
}
