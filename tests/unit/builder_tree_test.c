/* The merged read view over layer directories: whiteouts, opaque
 * directories, symlinks resolved inside the root, merged listings. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/tree.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "tests/unit/tap.h"

static char base[64];

static void mk(const char *layer, const char *path, const char *content)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s/%s", base, layer, path);
    struct error err = {0};
    char dir[512];
    snprintf(dir, sizeof dir, "%s", p);
    *strrchr(dir, '/') = '\0';
    mkdir_p_at(AT_FDCWD, dir, 0755, &err);
    if (content) {
        FILE *f = fopen(p, "w");
        fputs(content, f);
        fclose(f);
    } else {
        mkdir(p, 0755);
    }
}

static void ln(const char *layer, const char *path, const char *target)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s/%s", base, layer, path);
    symlink(target, p);
}

static const char *resolve(const struct bld_tree *t, const char *path)
{
    static char out[1100];
    char *r = NULL;
    struct error err = {0};
    if (bld_tree_resolve(t, path, true, &r, &err) < 0)
        snprintf(out, sizeof out, "ERR %s", err.msg);
    else
        snprintf(out, sizeof out, "%s", r);
    free(r);
    return out;
}

static int exists(const struct bld_tree *t, const char *path)
{
    struct bld_node n;
    struct error err = {0};
    if (bld_tree_lookup(t, path, &n, &err) < 0)
        return -1;
    int e = n.exists;
    bld_node_clear(&n);
    return e;
}

int main(void)
{
    snprintf(base, sizeof base, "/tmp/strata-tree-test.XXXXXX");
    if (!mkdtemp(base))
        return 1;
    /* bottom layer L2, then L1, then the top L0 */
    mk("L2", "etc/passwd", "root");
    mk("L2", "etc/gone", "x");
    mk("L2", "usr/bin/tool", "t");
    ln("L2", "bin", "usr/bin");
    mk("L2", "opq/old", "o");
    mk("L2", "dir/keep", "k");
    mk("L2", "replaced/x", "x");
    mk("L1", "etc/new", "n");
    mk("L1", "etc/.wh.gone", "");
    mk("L1", "opq/.wh..wh..opq", "");
    mk("L1", "opq/fresh", "f");
    mk("L1", "replaced", "now a file");
    ln("L1", "abs", "/etc/../../../etc");
    ln("L1", "loop", "loop");
    mk("L0", "dir/added", "a");

    char l0[128], l1[128], l2[128];
    snprintf(l0, sizeof l0, "%s/L0", base);
    snprintf(l1, sizeof l1, "%s/L1", base);
    snprintf(l2, sizeof l2, "%s/L2", base);
    const char *dirs[] = {l0, l1, l2};
    struct bld_tree t;
    struct error err = {0};
    tap_ok(bld_tree_open(&t, dirs, 3, &err) == 0, "open tree");

    tap_is_int(exists(&t, "etc/passwd"), 1, "lower file visible");
    tap_is_int(exists(&t, "etc/new"), 1, "middle file visible");
    tap_is_int(exists(&t, "etc/gone"), 0, "whiteout hides a lower file");
    tap_is_int(exists(&t, "etc/.wh.gone"), 1, "(the whiteout itself is a plain lookup)");
    tap_is_int(exists(&t, "opq/old"), 0, "opaque dir hides lower contents");
    tap_is_int(exists(&t, "opq/fresh"), 1, "opaque dir keeps its own");
    tap_is_int(exists(&t, "replaced/x"), -1, "a file over a lower dir hides its contents (ENOTDIR)");
    tap_is_int(exists(&t, "dir/added") + exists(&t, "dir/keep"), 2, "directories merge");

    tap_is_str(resolve(&t, "/bin/tool"), "usr/bin/tool", "relative symlink followed in the root");
    tap_is_str(resolve(&t, "abs/passwd"), "etc/passwd", "absolute symlink with .. stays in the root");
    tap_is_str(resolve(&t, "/../../etc/passwd"), "etc/passwd", "/.. is /");
    tap_is_str(resolve(&t, "/new/dir/x"), "new/dir/x", "missing components kept as written");
    tap_is_str(resolve(&t, "/new/../etc"), "etc", ".. after a missing component folds");
    tap_ok(!strncmp(resolve(&t, "loop/x"), "ERR", 3), "symlink loop fails");
    tap_ok(!strncmp(resolve(&t, "etc/passwd/x"), "ERR", 3), "a file used as a directory fails");

    char **names = NULL;
    size_t n = 0;
    tap_ok(bld_tree_list(&t, "etc", &names, &n, &err) == 0, "list etc");
    char joined[256] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(joined, names[i]);
        strcat(joined, " ");
    }
    tap_is_str(joined, "new passwd ", "merged listing without whiteouts or whiteouted names");
    strv_free(names);
    tap_ok(bld_tree_list(&t, "opq", &names, &n, &err) == 0 && n == 1 && !strcmp(names[0], "fresh"),
           "opaque listing");
    strv_free(names);

    char *data = NULL;
    size_t len = 0;
    tap_ok(bld_tree_read_file(&t, "/bin/tool", &data, &len, &err) == 0 && len == 1 && data[0] == 't',
           "read a file through a symlinked directory");
    free(data);
    tap_ok(bld_tree_read_file(&t, "/etc/gone", &data, &len, &err) < 0, "whiteouted file unreadable");

    bld_tree_close(&t);
    rm_rf_at(AT_FDCWD, base, &err);
    return tap_done();
}
