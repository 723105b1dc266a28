#include "tests/unit/support/cgtree.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/xalloc.h"

static char scratch[] = "/tmp/strata-cgtree-XXXXXX";
static bool made;

bool cgt_init(void)
{
    if (!made)
        made = mkdtemp(scratch) != NULL;
    return made;
}

const char *cgt_dir(void)
{
    return scratch;
}

void cgt_cleanup(void)
{
    struct error err;
    if (made)
        rm_rf_at(AT_FDCWD, scratch, &err);
    made = false;
}

void cgt_put(const char *rel, const char *text)
{
    struct error err;
    cleanup_free char *p = cgt_at(rel);
    cleanup_free char *dir = xstrdup(p);
    *strrchr(dir, '/') = '\0';
    mkdir_p_at(AT_FDCWD, dir, 0755, &err);
    if (atomic_write_at(AT_FDCWD, p, text, strlen(text), 0644, &err) < 0)
        printf("# %s\n", err.msg);
}

char *cgt_at(const char *rel)
{
    return xasprintf("%s/%s", scratch, rel);
}

char *cgt_first_line(const char *rel)
{
    cleanup_free char *p = cgt_at(rel);
    char *buf = NULL;
    size_t len;
    struct error err;
    if (read_file_at(AT_FDCWD, p, &buf, &len, &err) < 0)
        return xstrdup("(missing)");
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

void cgt_v2(const char *root, const char *id, const char *cpus)
{
    static const char *const made_by_create[] = {"memory.max", "memory.swap.max", "cpu.max",
                                                  "pids.max",   "cpuset.cpus",     "cgroup.procs"};
    static const struct {
        const char *name, *text;
    } canned[] = {
        {"memory.current", "104857600\n"},
        {"memory.swap.current", "4096\n"},
        {"memory.stat", "anon 60000000\nfile 44857600\nshmem 20000000\nactive_anon 1\n"
                        "inactive_anon 2\nactive_file 4857600\ninactive_file 20000000\n"
                        "slab_reclaimable 5\n"},
        {"memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"},
        {"cpu.stat", "usage_usec 7000\nuser_usec 4000\nsystem_usec 3000\n"},
    };
    const char *ctl = "cpuset cpu io memory pids\n";
    cleanup_free char *a = xasprintf("%s/cgroup.controllers", root);
    cleanup_free char *b = xasprintf("%s/cgroup.subtree_control", root);
    cleanup_free char *c = xasprintf("%s/strata/cgroup.controllers", root);
    cleanup_free char *d = xasprintf("%s/strata/cgroup.subtree_control", root);
    cgt_put(a, ctl);
    cgt_put(b, "");
    cgt_put(c, ctl);
    cgt_put(d, "");
    for (size_t i = 0; i < sizeof made_by_create / sizeof *made_by_create; i++) {
        cleanup_free char *f = xasprintf("%s/strata/%s/%s", root, id, made_by_create[i]);
        cgt_put(f, "");
    }
    for (size_t i = 0; i < sizeof canned / sizeof *canned; i++) {
        cleanup_free char *f = xasprintf("%s/strata/%s/%s", root, id, canned[i].name);
        cgt_put(f, canned[i].text);
    }
    cleanup_free char *f = xasprintf("%s/strata/%s/cpuset.cpus.effective", root, id);
    cleanup_free char *t = xasprintf("%s\n", cpus);
    cgt_put(f, t);
}

void cgt_use(const char *root)
{
    cleanup_free char *p = cgt_at(root);
    setenv("STRATA_CGROUP_ROOT", p, 1);
    if (geteuid() != 0)
        setenv("STRATA_CGROUP_PARENT", "/", 1);
    else
        unsetenv("STRATA_CGROUP_PARENT");
}

void cgt_unuse(void)
{
    unsetenv("STRATA_CGROUP_ROOT");
    unsetenv("STRATA_CGROUP_PARENT");
}
