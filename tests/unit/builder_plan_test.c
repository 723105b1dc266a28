/* Stage graph: names, FROM earlier stage, COPY --from, --target pruning. */
#include <string.h>

#include "builder/plan.h"
#include "tests/unit/tap.h"

static struct bld_file *parse(const char *text)
{
    struct error err = {0};
    struct bld_file *f = NULL;
    if (bld_parse("Containerfile", text, strlen(text), &f, &err) < 0)
        tap_diag("parse: %s", err.msg);
    return f;
}

int main(void)
{
    struct error err = {0};
    struct bld_plan *p = NULL;
    struct bld_env ba;
    bld_env_init(&ba);
    bld_env_set(&ba, "BASE", "alpine");

    struct bld_file *f = parse("ARG BASE=busybox\nARG TAG=1\n"
                               "FROM $BASE:${TAG} AS Deps\nRUN a\n"
                               "FROM scratch as unused\nRUN b\n"
                               "FROM deps AS build\nCOPY --from=0 /x /y\n"
                               "FROM busybox\nCOPY --from=build /y /z\nRUN c\n");
    tap_ok(f && bld_plan_make(f, &ba, NULL, &p, &err) == 0, "plan (%s)", err.msg);
    if (p) {
        tap_is_int(p->n_stages, 4, "four stages");
        tap_is_str(p->stages[0].base, "alpine:1", "FROM expanded with global ARGs and --build-arg");
        tap_is_str(p->stages[0].name, "deps", "stage name lowercased");
        tap_is_int(p->stages[2].base_stage, 0, "FROM an earlier stage, case-insensitive");
        tap_is_int(p->stages[2].n_deps, 1, "COPY --from=0 is a dependency");
        tap_is_int(p->stages[3].deps[0], 2, "COPY --from=build");
        tap_is_int(p->target, 3, "target defaults to the last stage");
        tap_ok(p->stages[0].needed && !p->stages[1].needed && p->stages[2].needed && p->stages[3].needed,
               "unused stage pruned");
        tap_is_int(p->n_steps, 7, "steps counted over needed stages");
        tap_is_int(p->stages[3].first, 8, "stage instruction range start");
        tap_is_int(p->stages[3].end, 11, "stage instruction range end");
        tap_is_int(bld_plan_find_stage(p, "BUILD", 4), 2, "find stage by name");
        tap_is_int(bld_plan_find_stage(p, "1", 4), 1, "find stage by index");
        tap_is_int(bld_plan_find_stage(p, "busybox", 4), -1, "an image is not a stage");
        bld_plan_free(p);
        p = NULL;
    }
    tap_ok(f && bld_plan_make(f, NULL, "unused", &p, &err) == 0, "--target unused");
    if (p) {
        tap_is_str(p->stages[0].base, "busybox:1", "global ARG default");
        tap_ok(!p->stages[0].needed && p->stages[1].needed && !p->stages[3].needed,
               "only the target stage is needed");
        tap_is_int(p->n_steps, 2, "two steps");
        bld_plan_free(p);
        p = NULL;
    }
    tap_ok(f && bld_plan_make(f, NULL, "nope", &p, &err) < 0 && strstr(err.msg, "nope"),
           "unknown target fails: %s", err.msg);
    bld_file_free(f);

    f = parse("RUN x\nFROM y\n");
    tap_ok(f && bld_plan_make(f, NULL, NULL, &p, &err) < 0 && strstr(err.msg, "Containerfile:1"),
           "instruction before FROM fails: %s", err.msg);
    bld_file_free(f);

    f = parse("ARG x\n");
    tap_ok(f && bld_plan_make(f, NULL, NULL, &p, &err) < 0 && strstr(err.msg, "FROM"),
           "no FROM fails: %s", err.msg);
    bld_file_free(f);

    f = parse("FROM a AS x\nFROM b AS X\n");
    tap_ok(f && bld_plan_make(f, NULL, NULL, &p, &err) < 0 && strstr(err.msg, "Containerfile:2") &&
               strstr(err.msg, "duplicate"),
           "duplicate stage name fails: %s", err.msg);
    bld_file_free(f);

    f = parse("FROM a b c d\n");
    tap_ok(f && bld_plan_make(f, NULL, NULL, &p, &err) < 0 && strstr(err.msg, "Containerfile:1"),
           "bad FROM fails: %s", err.msg);
    bld_file_free(f);

    f = parse("FROM a AS me\nCOPY --from=me /a /b\n");
    tap_ok(f && bld_plan_make(f, NULL, NULL, &p, &err) < 0 && strstr(err.msg, "Containerfile:2"),
           "COPY --from itself fails: %s", err.msg);
    bld_file_free(f);

    bld_env_clear(&ba);
    return tap_done();
}
