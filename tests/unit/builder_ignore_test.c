/* .containerignore matching with Docker's semantics. */
#include <string.h>

#include "builder/ignore.h"
#include "tests/unit/tap.h"

static void ex(const struct bld_ignore *ig, const char *path, int want)
{
    tap_ok(bld_ignore_excluded(ig, path) == (want != 0), "%s is %s", path,
           want ? "excluded" : "included");
}

int main(void)
{
    struct bld_ignore *ig = bld_ignore_parse("# comment\n"
                                             "*.log\n"
                                             "/build\n"
                                             "docs/**/*.tmp\n"
                                             "!important.log\n"
                                             "**/secret\n"
                                             "  spaced  \n"
                                             "a/./b/../c\n"
                                             "node_modules\n"
                                             "!node_modules/keep\n"
                                             "ba?.txt\n"
                                             "[xy].md\n");
    ex(ig, "x.log", 1);
    ex(ig, "important.log", 0);
    ex(ig, "sub/x.log", 0); /* '*' does not cross '/' */
    ex(ig, "build", 1);
    ex(ig, "build/out/a.o", 1); /* a matching directory excludes its contents */
    ex(ig, "src/build", 0);
    ex(ig, "docs/x.tmp", 1); /* ** matches zero elements */
    ex(ig, "docs/a/b/x.tmp", 1);
    ex(ig, "docs/a/b/x.txt", 0);
    ex(ig, "secret", 1);
    ex(ig, "deep/er/secret", 1);
    ex(ig, "deep/er/secret/file", 1);
    ex(ig, "spaced", 1);
    ex(ig, "a/c", 1);
    ex(ig, "node_modules/x/y.js", 1);
    ex(ig, "node_modules/keep", 0);
    ex(ig, "node_modules/keep/inner", 0);
    ex(ig, "bar.txt", 1);
    ex(ig, "baaz.txt", 0);
    ex(ig, "x.md", 1);
    ex(ig, "z.md", 0);
    ex(ig, "./x.log", 1);
    tap_ok(bld_ignore_has_exceptions(ig), "has exceptions");
    bld_ignore_free(ig);

    ig = bld_ignore_parse("*\n!keep\n");
    ex(ig, "anything", 1);
    ex(ig, "keep", 0);
    bld_ignore_free(ig);

    ig = bld_ignore_parse("**\n");
    ex(ig, "a/b/c", 1);
    tap_ok(!bld_ignore_has_exceptions(ig), "no exceptions");
    bld_ignore_free(ig);

    ig = bld_ignore_parse("");
    ex(ig, "x", 0);
    bld_ignore_free(ig);

    /* last match wins: an exclusion after an exception excludes again */
    ig = bld_ignore_parse("!a.txt\n*.txt\n");
    ex(ig, "a.txt", 1);
    bld_ignore_free(ig);
    return tap_done();
}
