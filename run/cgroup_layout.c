/* Which cgroup layout this machine has, and small cgroupfs file helpers.
 *
 * Detection looks at the directory, not at mountinfo, so that tests can
 * point STRATA_CGROUP_ROOT at a fake tree: the root itself being a v2 tree
 * (cgroup.controllers) means pure v2; subdirectories holding `tasks` are v1
 * hierarchies named after their controllers ("cpu,cpuacct", with "cpu"
 * often a symlink to it); a v2 tree at <root>/unified next to them is the
 * hybrid layout systemd sets up. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "run/cgroup_internal.h"

const char *const run_cg_v1_names[RUN_CG_NCTRL] = {
    [RUN_CG_MEMORY] = "memory", [RUN_CG_CPU] = "cpu",     [RUN_CG_CPUACCT] = "cpuacct",
    [RUN_CG_CPUSET] = "cpuset", [RUN_CG_PIDS] = "pids",   [RUN_CG_BLKIO] = "blkio",
    [RUN_CG_FREEZER] = "freezer",
};

const char *run_cgroup_mode_name(enum run_cgroup_mode mode)
{
    switch (mode) {
    case RUN_CGROUP_MODE_V1:
        return "v1";
    case RUN_CGROUP_MODE_V2:
        return "v2";
    case RUN_CGROUP_MODE_HYBRID:
        return "hybrid";
    case RUN_CGROUP_MODE_NONE:
        break;
    }
    return "none";
}

bool run_cg_exists(const char *dir, const char *file)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

int run_cg_write(const char *dir, const char *file, const char *val, struct error *err)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, file);
    cleanup_close int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `%s`", p);
    size_t len = strlen(val);
    /* cgroupfs takes one write per value and reports EINVAL etc. from it */
    ssize_t n = write(fd, val, len);
    if (n < 0)
        return error_errno(err, "write `%s` to `%s`", val, p);
    if ((size_t)n != len)
        return error_set(err, EIO, "short write of `%s` to `%s`", val, p);
    return 0;
}

char *run_cg_read(const char *dir, const char *file)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, file);
    struct error e;
    char *buf = NULL;
    size_t len;
    if (read_file_at(AT_FDCWD, p, &buf, &len, &e) < 0)
        return NULL;
    return buf;
}

int64_t run_cg_read_int(const char *dir, const char *file)
{
    cleanup_free char *s = run_cg_read(dir, file);
    if (!s || !strncmp(s, "max", 3))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return -1;
    return v;
}

int64_t run_cg_keyed(const char *text, const char *key)
{
    if (!text)
        return -1;
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, key, klen) && p[klen] == ' ') {
            const char *v = p + klen + 1;
            if (!strncmp(v, "max", 3))
                return -1;
            return strtoll(v, NULL, 10);
        }
    }
    return -1;
}

int run_cg_cpulist_parse(const char *list, uint64_t *bits, int nbits)
{
    memset(bits, 0, (size_t)(nbits + 63) / 64 * sizeof(uint64_t));
    int count = 0;
    const char *p = list;
    while (*p && *p != '\n') {
        char *end;
        long a = strtol(p, &end, 10), b;
        if (end == p || a < 0)
            return -1;
        p = end;
        if (*p == '-') {
            p++;
            b = strtol(p, &end, 10);
            if (end == p || b < a)
                return -1;
            p = end;
        } else {
            b = a;
        }
        for (long i = a; i <= b && i < nbits; i++) {
            if (!(bits[i / 64] & (1ULL << (i % 64)))) {
                bits[i / 64] |= 1ULL << (i % 64);
                count++;
            }
        }
        if (*p == ',')
            p++;
        else if (*p && *p != '\n')
            return -1;
    }
    return count;
}

void run_cg_cpulist_format(const uint64_t *bits, int nbits, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < nbits; i++) {
        if (!(bits[i / 64] & (1ULL << (i % 64))))
            continue;
        int j = i;
        while (j + 1 < nbits && (bits[(j + 1) / 64] & (1ULL << ((j + 1) % 64))))
            j++;
        int n = j > i ? snprintf(buf + off, size - off, "%s%d-%d", off ? "," : "", i, j)
                      : snprintf(buf + off, size - off, "%s%d", off ? "," : "", i);
        if (n < 0 || (size_t)n >= size - off)
            return;
        off += (size_t)n;
        i = j;
    }
}

static int ctrl_index(const char *name, size_t len)
{
    for (int i = 0; i < RUN_CG_NCTRL; i++)
        if (strlen(run_cg_v1_names[i]) == len && !strncmp(run_cg_v1_names[i], name, len))
            return i;
    return -1;
}

/* "N:ctrl,ctrl:/path" lines: the caller's own place in each hierarchy. */
static void parse_self(struct run_cgroup_layout *l, const char *text)
{
    cleanup_free char *copy = xstrdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        const char *path = c2 + 1;
        if (c2 == c1 + 1) {
            free(l->self_v2);
            l->self_v2 = xstrdup(path);
            continue;
        }
        for (char *c = c1 + 1; c < c2;) {
            char *comma = memchr(c, ',', (size_t)(c2 - c));
            size_t len = (size_t)((comma ? comma : c2) - c);
            int idx = ctrl_index(c, len);
            if (idx >= 0) {
                free(l->self_v1[idx]);
                l->self_v1[idx] = xstrdup(path);
            }
            c += len + 1;
        }
    }
}

int run_cg_layout_detect(const char *root, const char *self_cgroup,
                         struct run_cgroup_layout *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (!root) {
        root = getenv("STRATA_CGROUP_ROOT");
        if (!root || !*root)
            root = "/sys/fs/cgroup";
    }
    out->root = xstrdup(root);

    if (run_cg_exists(root, "cgroup.controllers")) {
        out->unified = xstrdup(root);
    } else {
        cleanup_dir DIR *d = opendir(root);
        if (!d) {
            if (errno == ENOENT) {
                out->mode = RUN_CGROUP_MODE_NONE;
                goto self;
            }
            return error_errno(err, "open cgroup root `%s`", root);
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            cleanup_free char *sub = xasprintf("%s/%s", root, de->d_name);
            if (!strcmp(de->d_name, "unified") && run_cg_exists(sub, "cgroup.controllers")) {
                out->unified = TAKE_PTR(sub);
                continue;
            }
            if (!run_cg_exists(sub, "tasks"))
                continue;
            /* "cpu,cpuacct": every controller in the name shares it; a
             * symlink ("cpu" -> "cpu,cpuacct") names the same mount */
            for (const char *c = de->d_name; *c;) {
                const char *comma = strchr(c, ',');
                size_t len = comma ? (size_t)(comma - c) : strlen(c);
                int idx = ctrl_index(c, len);
                if (idx >= 0 && !out->v1[idx])
                    out->v1[idx] = xstrdup(sub);
                c += len + (comma ? 1 : 0);
            }
        }
    }
    bool any_v1 = false;
    for (int i = 0; i < RUN_CG_NCTRL; i++)
        any_v1 |= out->v1[i] != NULL;
    if (any_v1)
        out->mode = out->unified ? RUN_CGROUP_MODE_HYBRID : RUN_CGROUP_MODE_V1;
    else
        out->mode = out->unified ? RUN_CGROUP_MODE_V2 : RUN_CGROUP_MODE_NONE;

self:;
    const char *parent = getenv("STRATA_CGROUP_PARENT");
    if (parent && *parent)
        out->parent = xstrdup(parent);
    cleanup_free char *own = NULL;
    if (!self_cgroup) {
        size_t len;
        struct error e;
        if (read_file_at(AT_FDCWD, "/proc/self/cgroup", &own, &len, &e) == 0)
            self_cgroup = own;
    }
    if (self_cgroup)
        parse_self(out, self_cgroup);
    return 0;
}

void run_cg_layout_free(struct run_cgroup_layout *l)
{
    free(l->root);
    free(l->unified);
    free(l->self_v2);
    free(l->parent);
    for (int i = 0; i < RUN_CG_NCTRL; i++) {
        free(l->v1[i]);
        free(l->self_v1[i]);
    }
    memset(l, 0, sizeof(*l));
}

int run_cgroup_detect_mode(enum run_cgroup_mode *mode, struct error *err)
{
    struct run_cgroup_layout l;
    if (run_cg_layout_detect(NULL, "", &l, err) < 0)
        return -1;
    *mode = l.mode;
    run_cg_layout_free(&l);
    return 0;
}

const char *run_cg_parent(const struct run_cgroup_layout *l, struct error *err)
{
    const char *p = l->parent;
    if (!p || !*p)
        return NULL;
    if (p[0] != '/' || strstr(p, "/..") || strstr(p, "//") || strchr(p, '\n')) {
        error_set(err, EINVAL, "cgroup parent `%s` must be an absolute cgroup path without `..`",
                  p);
        return "";
    }
    return p;
}

/* The topmost ancestor of dir (below the hierarchy's mount, mountlen
 * bytes) that the caller owns, dir itself included; NULL when dir is not
 * the caller's.  What systemd (Delegate=yes) or an admin's chown -R hands
 * a user. */
static char *delegated_top(const char *dir, size_t mountlen)
{
    char *d = xstrdup(dir);
    while (strlen(d) > mountlen && d[strlen(d) - 1] == '/')
        d[strlen(d) - 1] = '\0';
    struct stat st;
    if (strlen(d) <= mountlen || stat(d, &st) < 0 || st.st_uid != geteuid()) {
        free(d);
        return NULL;
    }
    for (;;) {
        char *slash = strrchr(d, '/');
        if (!slash || (size_t)(slash - d) <= mountlen)
            break;
        *slash = '\0';
        if (stat(d, &st) < 0 || st.st_uid != geteuid()) {
            *slash = '/';
            break;
        }
    }
    return d;
}

/* <mount><parent>/strata.  The parent is not created: a typo would
 * otherwise make a cgroup nobody limits or cleans up; it must exist (as
 * with podman's cgroupfs manager rootless), and be writable by the
 * caller when rootless (delegated). */
static char *parent_base(const char *mount, const char *parent, bool rootless,
                         struct error *err)
{
    /* "/": the hierarchy's root itself */
    cleanup_free char *dir = xasprintf("%s%s", mount, strcmp(parent, "/") ? parent : "");
    struct stat st;
    int e = stat(dir, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (e == ENOENT || e == ENOTDIR) {
        error_set(err, ENOENT, "cgroup parent `%s` does not exist", dir);
        return NULL;
    }
    if (e) {
        error_code(err, e, "cgroup parent `%s`", dir);
        return NULL;
    }
    if (rootless && access(dir, W_OK) < 0) {
        error_errno(err,
                    "cgroup parent `%s` is not writable by uid %u (not delegated to it: "
                    "chown -R it to the user)",
                    dir, (unsigned)geteuid());
        return NULL;
    }
    return xasprintf("%s/strata", dir);
}

char *run_cg_v1_base(const struct run_cgroup_layout *l, int c, bool rootless, struct error *err)
{
    if (!l->v1[c]) {
        error_set(err, ENOENT, "no cgroup v1 `%s` hierarchy under `%s`", run_cg_v1_names[c],
                  l->root);
        return NULL;
    }
    const char *parent = run_cg_parent(l, err);
    if (parent && !*parent)
        return NULL;
    if (parent)
        return parent_base(l->v1[c], parent, rootless, err);
    if (!rootless)
        return xasprintf("%s/strata", l->v1[c]);
    /* rootless: the caller's own cgroup in this hierarchy, if delegated */
    cleanup_free char *own = xasprintf("%s%s", l->v1[c], l->self_v1[c] ? l->self_v1[c] : "/");
    cleanup_free char *top = delegated_top(own, strlen(l->v1[c]));
    if (!top) {
        error_set(err, EACCES,
                  "no cgroup of the `%s` hierarchy is delegated to uid %u (`%s` is not its own; "
                  "chown a cgroup to it and run from inside, or name it with --cgroup-parent "
                  "or STRATA_CGROUP_PARENT)",
                  run_cg_v1_names[c], (unsigned)geteuid(), own);
        return NULL;
    }
    return xasprintf("%s/strata", top);
}

char *run_cg_v2_base(const struct run_cgroup_layout *l, bool rootless, struct error *err)
{
    if (!l->unified) {
        error_set(err, ENOENT, "no cgroup v2 tree under `%s`", l->root);
        return NULL;
    }
    const char *parent = run_cg_parent(l, err);
    if (parent && !*parent)
        return NULL;
    if (parent)
        return parent_base(l->unified, parent, rootless, err);
    if (!rootless)
        return xasprintf("%s/strata", l->unified);
    if (!l->self_v2) {
        error_set(err, ENOENT, "no cgroup v2 entry in /proc/self/cgroup");
        return NULL;
    }
    /* The delegated subtree (systemd's user@UID.service) is the topmost
     * ancestor of our cgroup that we own; cgroups we create must share it as
     * common ancestor with our own so that we may move processes there. */
    cleanup_free char *dir = xasprintf("%s%s", l->unified, l->self_v2);
    cleanup_free char *top = delegated_top(dir, strlen(l->unified));
    if (!top) {
        error_set(err, EACCES,
                  "cgroup `%s` is not delegated to uid %u (no writable cgroup v2 subtree)", dir,
                  (unsigned)geteuid());
        return NULL;
    }
    return xasprintf("%s/strata", top);
}
