#include "builder/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/override_stat.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define MAX_LINKS 40

int bld_tree_open(struct bld_tree *t, const char *const *dirs, size_t n, struct error *err)
{
    t->fds = xcalloc(n ? n : 1, sizeof *t->fds);
    t->n = 0;
    t->plain = false;
    for (size_t i = 0; i < n; i++) {
        int fd = open(dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            error_errno(err, "open layer directory `%s`", dirs[i]);
            bld_tree_close(t);
            return -1;
        }
        t->fds[t->n++] = fd;
    }
    return 0;
}

void bld_tree_close(struct bld_tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        close(t->fds[i]);
    free(t->fds);
    t->fds = NULL;
    t->n = 0;
}

void bld_node_clear(struct bld_node *n)
{
    free(n->dir_layers);
    memset(n, 0, sizeof *n);
}

/* lstat in one layer, with override_stat applied for files and dirs. */
static int layer_stat(const struct bld_tree *t, int fd, const char *path, struct stat *st)
{
    if (fstatat(fd, *path ? path : ".", st, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    if (!t->plain && (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))) {
        int f = openat(fd, *path ? path : ".", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (f >= 0) {
            struct fmt_override_stat ov;
            struct error e = {0};
            if (fmt_override_stat_get(f, &ov, &e) > 0) {
                mode_t type = st->st_mode & S_IFMT;
                fmt_override_stat_apply(&ov, st);
                /* a directory stays one for lookups */
                if (type == S_IFDIR)
                    st->st_mode = S_IFDIR | (st->st_mode & 07777);
            }
            close(f);
        }
    }
    return 0;
}

static bool layer_has(int fd, const char *path)
{
    struct stat st;
    return fstatat(fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static char *join(const char *dir, const char *name)
{
    return *dir ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

/* One step down: the entry `name` inside the directory `dir` whose
 * contributing layers are live[0..n_live).  Fills node. */
static void step(const struct bld_tree *t, const int *live, size_t n_live, const char *dir,
                 const char *name, struct bld_node *node)
{
    cleanup_free char *path = join(dir, name);
    cleanup_free char *wh_name = xasprintf(WH_PREFIX "%s", name);
    cleanup_free char *wh = join(dir, wh_name);
    memset(node, 0, sizeof *node);
    node->dir_layers = xcalloc(n_live + 1, sizeof *node->dir_layers);
    for (size_t k = 0; k < n_live; k++) {
        int i = live[k];
        struct stat st;
        if (layer_stat(t, t->fds[i], path, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                if (!node->exists) {
                    node->exists = true;
                    node->layer = i;
                    node->st = st;
                }
                node->dir_layers[node->n_dir_layers++] = i;
                if (t->plain)
                    continue;
                cleanup_free char *opq = join(path, WH_OPAQUE);
                if (layer_has(t->fds[i], opq))
                    break;
                continue;
            }
            if (!node->exists) {
                node->exists = true;
                node->layer = i;
                node->st = st;
            }
            break; /* a non-directory hides everything below it */
        }
        if (!t->plain && layer_has(t->fds[i], wh))
            break;
    }
}

void bld_tree_child(const struct bld_tree *t, const struct bld_node *parent,
                    const char *parent_path, const char *name, struct bld_node *out)
{
    step(t, parent->dir_layers, parent->n_dir_layers, parent_path, name, out);
}

static void root_node(const struct bld_tree *t, struct bld_node *node)
{
    memset(node, 0, sizeof *node);
    node->dir_layers = xcalloc(t->n + 1, sizeof *node->dir_layers);
    node->exists = true;
    node->layer = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (node->n_dir_layers == 0)
            layer_stat(t, t->fds[i], "", &node->st);
        node->dir_layers[node->n_dir_layers++] = (int)i;
        if (!t->plain && layer_has(t->fds[i], WH_OPAQUE))
            break;
    }
    if (t->n == 0)
        node->st.st_mode = S_IFDIR | 0755;
}

int bld_tree_lookup(const struct bld_tree *t, const char *path, struct bld_node *out,
                    struct error *err)
{
    struct bld_node cur;
    root_node(t, &cur);
    cleanup_free char *dup = xstrdup(path);
    cleanup_free char *prefix = xstrdup("");
    char *save = NULL;
    for (char *c = strtok_r(dup, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!S_ISDIR(cur.st.st_mode) || !cur.exists) {
            int code = cur.exists ? ENOTDIR : ENOENT;
            bld_node_clear(&cur);
            return error_code(err, code, "`/%s`", prefix);
        }
        struct bld_node next;
        step(t, cur.dir_layers, cur.n_dir_layers, prefix, c, &next);
        bld_node_clear(&cur);
        cur = next;
        char *np = join(prefix, c);
        free(prefix);
        prefix = np;
        if (!cur.exists) {
            /* the last component may be missing; a parent may not */
            if (strtok_r(NULL, "/", &save)) {
                bld_node_clear(&cur);
                return error_code(err, ENOENT, "`/%s`", prefix);
            }
            break;
        }
    }
    *out = cur;
    return 0;
}

/* A stack of path components. */
struct comps {
    char **v;
    size_t n;
};

static void comps_push(struct comps *c, const char *s, size_t len)
{
    c->v = xrealloc(c->v, (c->n + 1) * sizeof *c->v);
    c->v[c->n++] = xstrndup(s, len);
}

static void comps_free(struct comps *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* Pushes the components of p in reverse onto todo (so they pop in order). */
static void push_path_reversed(struct comps *todo, const char *p)
{
    struct comps tmp = {0};
    const char *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        size_t l = strcspn(s, "/");
        comps_push(&tmp, s, l);
        s += l;
    }
    for (size_t i = tmp.n; i > 0; i--) {
        todo->v = xrealloc(todo->v, (todo->n + 1) * sizeof *todo->v);
        todo->v[todo->n++] = tmp.v[i - 1];
    }
    free(tmp.v);
}

static char *comps_join(const struct comps *c)
{
    size_t len = 1;
    for (size_t i = 0; i < c->n; i++)
        len += strlen(c->v[i]) + 1;
    char *s = xmalloc(len);
    s[0] = '\0';
    for (size_t i = 0; i < c->n; i++) {
        if (i)
            strcat(s, "/");
        strcat(s, c->v[i]);
    }
    return s;
}

int bld_tree_resolve(const struct bld_tree *t, const char *path, bool follow_last, char **out,
                     struct error *err)
{
    struct comps todo = {0}, done = {0};
    push_path_reversed(&todo, path);
    int links = 0;
    int rc = 0;
    size_t missing_at = SIZE_MAX; /* done.n when a component was first missing */
    while (todo.n) {
        char *c = todo.v[--todo.n];
        bool last = todo.n == 0;
        if (!strcmp(c, ".")) {
            free(c);
            continue;
        }
        if (!strcmp(c, "..")) {
            free(c);
            if (done.n)
                free(done.v[--done.n]);
            if (done.n <= missing_at)
                missing_at = SIZE_MAX;
            continue;
        }
        if (missing_at != SIZE_MAX) {
            /* below a missing directory nothing exists: keep the names */
            done.v = xrealloc(done.v, (done.n + 1) * sizeof *done.v);
            done.v[done.n++] = c;
            continue;
        }
        cleanup_free char *parent = comps_join(&done);
        cleanup_free char *p = join(parent, c);
        struct bld_node node;
        if (bld_tree_lookup(t, p, &node, err) < 0) {
            free(c);
            rc = -1;
            break;
        }
        if (!node.exists && !last)
            missing_at = done.n;
        if (node.exists && S_ISLNK(node.st.st_mode) && (!last || follow_last)) {
            int layer = node.layer;
            bld_node_clear(&node);
            free(c);
            if (++links > MAX_LINKS) {
                rc = error_code(err, ELOOP, "`%s`", path);
                break;
            }
            char target[4096];
            ssize_t l = readlinkat(t->fds[layer], p, target, sizeof target - 1);
            if (l < 0) {
                rc = error_errno(err, "readlink `/%s`", p);
                break;
            }
            target[l] = '\0';
            if (target[0] == '/')
                while (done.n)
                    free(done.v[--done.n]);
            push_path_reversed(&todo, target);
            continue;
        }
        if (node.exists && !last && !S_ISDIR(node.st.st_mode)) {
            bld_node_clear(&node);
            free(c);
            rc = error_code(err, ENOTDIR, "`/%s`", p);
            break;
        }
        bld_node_clear(&node);
        done.v = xrealloc(done.v, (done.n + 1) * sizeof *done.v);
        done.v[done.n++] = c;
    }
    if (rc == 0)
        *out = comps_join(&done);
    comps_free(&todo);
    comps_free(&done);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int bld_tree_list(const struct bld_tree *t, const char *path, char ***names, size_t *n,
                  struct error *err)
{
    struct bld_node node;
    if (bld_tree_lookup(t, path, &node, err) < 0)
        return -1;
    if (!node.exists || !S_ISDIR(node.st.st_mode)) {
        int code = node.exists ? ENOTDIR : ENOENT;
        bld_node_clear(&node);
        return error_code(err, code, "list `/%s`", path);
    }
    char **v = NULL;
    size_t count = 0;
    /* candidates from every contributing layer; each checked by a lookup,
     * which applies whiteouts and type hiding */
    for (size_t k = 0; k < node.n_dir_layers; k++) {
        int fd = openat(t->fds[node.dir_layers[k]], *path ? path : ".",
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            bld_node_clear(&node);
            strv_free(v);
            return error_errno(err, "open `/%s`", path);
        }
        DIR *d = fdopendir(fd);
        if (!d) {
            close(fd);
            bld_node_clear(&node);
            strv_free(v);
            return error_errno(err, "open `/%s`", path);
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            const char *nm = de->d_name;
            if (!strcmp(nm, ".") || !strcmp(nm, "..") || !strncmp(nm, WH_PREFIX, strlen(WH_PREFIX)))
                continue;
            bool dup = false;
            for (size_t i = 0; i < count && !dup; i++)
                dup = !strcmp(v[i], nm);
            if (dup)
                continue;
            v = xrealloc(v, (count + 2) * sizeof *v);
            v[count++] = xstrdup(nm);
            v[count] = NULL;
        }
        closedir(d);
    }
    /* drop names whiteouted by an upper layer */
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        struct bld_node child = {0};
        if (node.n_dir_layers > 1)
            step(t, node.dir_layers, node.n_dir_layers, path, v[i], &child);
        if (node.n_dir_layers <= 1 || child.exists)
            v[kept++] = v[i];
        else
            free(v[i]);
        bld_node_clear(&child);
    }
    bld_node_clear(&node);
    if (!v)
        v = xcalloc(1, sizeof *v);
    v[kept] = NULL;
    qsort(v, kept, sizeof *v, cmp_str);
    *names = v;
    *n = kept;
    return 0;
}

int bld_tree_readlink(const struct bld_tree *t, const struct bld_node *node, const char *path,
                      char **target, struct error *err)
{
    char buf[4096];
    ssize_t l = readlinkat(t->fds[node->layer], path, buf, sizeof buf - 1);
    if (l < 0)
        return error_errno(err, "readlink `/%s`", path);
    *target = xstrndup(buf, (size_t)l);
    return 0;
}

int bld_tree_open_file(const struct bld_tree *t, const struct bld_node *node, const char *path,
                       struct error *err)
{
    int fd = openat(t->fds[node->layer], path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `/%s`", path);
    return fd;
}

int bld_tree_read_file(const struct bld_tree *t, const char *path, char **data, size_t *len,
                       struct error *err)
{
    cleanup_free char *rp = NULL;
    if (bld_tree_resolve(t, path, true, &rp, err) < 0)
        return -1;
    struct bld_node node;
    if (bld_tree_lookup(t, rp, &node, err) < 0)
        return -1;
    if (!node.exists || !S_ISREG(node.st.st_mode)) {
        int code = node.exists ? EINVAL : ENOENT;
        bld_node_clear(&node);
        return error_code(err, code, "`%s`", path);
    }
    cleanup_close int fd = bld_tree_open_file(t, &node, rp, err);
    bld_node_clear(&node);
    if (fd < 0)
        return -1;
    return read_all_fd(fd, data, len, err);
}
