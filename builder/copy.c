#include "builder/copy.h"

#include "format/libarchive.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/compress.h"
#include "format/layer_unpack.h"
#include "format/override_stat.h"

struct item {
    char *src;    /* resolved path in the source tree ("" = its root) */
    char *name;   /* the name under the parent item (children) or the source's basename */
    long parent;  /* parent item, -1 for a top-level source */
    struct stat st;
    int layer;    /* the source layer holding it */
    bool archive; /* ADD: a tar to extract */
    char *resolved; /* run(): where it went (directories) */
};

struct bld_copy_plan {
    const struct bld_copy_opts *o;
    struct item *items;
    size_t n;
    size_t n_top;
    bool preserve_owner; /* extracted archives keep their owners */
};

void bld_copy_plan_free(struct bld_copy_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].src);
        free(p->items[i].name);
        free(p->items[i].resolved);
    }
    free(p->items);
    free(p);
}

static char *join(const char *dir, const char *name)
{
    if (!*dir)
        return xstrdup(name);
    if (!*name)
        return xstrdup(dir);
    return xasprintf("%s/%s", dir, name);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Cleans path into "a/b" ("" for the root); `..` above the root is an
 * error when refuse_escape, else it stays at the root. */
static int clean_rel(const char *path, bool refuse_escape, char **out, struct error *err)
{
    cleanup_free char *dup = xstrdup(path);
    char **parts = xcalloc(strlen(path) + 1, sizeof *parts);
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(dup, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, "."))
            continue;
        if (!strcmp(t, "..")) {
            if (n == 0) {
                if (refuse_escape) {
                    free(parts);
                    return error_set(err, EPERM, "`%s` is outside the build context", path);
                }
                continue;
            }
            n--;
            continue;
        }
        parts[n++] = t;
    }
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(parts[i]) + 1;
    char *s = xmalloc(len);
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, "/");
        strcat(s, parts[i]);
    }
    free(parts);
    *out = s;
    return 0;
}

static bool has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static bool ignored(const struct bld_copy_opts *o, const char *rel)
{
    return o->ignore && *rel && bld_ignore_excluded(o->ignore, rel);
}

static void add_item(struct bld_copy_plan *p, const char *src, const char *name, long parent,
                     const struct bld_node *node)
{
    p->items = xrealloc(p->items, (p->n + 1) * sizeof *p->items);
    struct item *it = &p->items[p->n++];
    memset(it, 0, sizeof *it);
    it->src = xstrdup(src);
    it->name = xstrdup(name);
    it->parent = parent;
    it->st = node->st;
    it->layer = node->layer;
}

/* Adds the children of directory item `idx` (pre-order, sorted). */
static int walk_dir(struct bld_copy_plan *p, size_t idx, struct error *err)
{
    const struct bld_copy_opts *o = p->o;
    cleanup_free char *dir = xstrdup(p->items[idx].src);
    char **names = NULL;
    size_t n;
    struct bld_node dnode;
    if (bld_tree_lookup(o->src, dir, &dnode, err) < 0)
        return -1;
    if (bld_tree_list(o->src, dir, &names, &n, err) < 0) {
        bld_node_clear(&dnode);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        cleanup_free char *path = join(dir, names[i]);
        bool excluded = ignored(o, path);
        struct bld_node node;
        bld_tree_child(o->src, &dnode, dir, names[i], &node);
        if (!node.exists) {
            bld_node_clear(&node);
            continue;
        }
        if (excluded && !(S_ISDIR(node.st.st_mode) && bld_ignore_has_exceptions(o->ignore))) {
            bld_node_clear(&node);
            continue;
        }
        add_item(p, path, names[i], (long)idx, &node);
        bld_node_clear(&node);
        if (S_ISDIR(p->items[p->n - 1].st.st_mode))
            rc = walk_dir(p, p->n - 1, err);
    }
    strv_free(names);
    bld_node_clear(&dnode);
    return rc;
}

/* Is this regular file a tar archive (any compression libarchive knows)? */
static bool is_tar_archive(int fd)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    bool yes = false;
    int dfd = dup(fd);
    if (dfd >= 0 && archive_read_open_fd(a, dfd, 64 * 1024) == ARCHIVE_OK) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        yes = r == ARCHIVE_OK || r == ARCHIVE_WARN;
    }
    archive_read_free(a);
    if (dfd >= 0)
        close(dfd);
    lseek(fd, 0, SEEK_SET);
    return yes;
}

/* Expands one source argument (wildcards per element) into resolved paths. */
static int expand_source(struct bld_copy_plan *p, const char *arg, char ***out, size_t *n_out,
                         struct error *err)
{
    const struct bld_copy_opts *o = p->o;
    cleanup_free char *rel = NULL;
    if (clean_rel(arg, o->from_context, &rel, err) < 0)
        return -1;
    char **cur = xcalloc(2, sizeof *cur);
    cur[0] = xstrdup("");
    size_t n_cur = 1;
    cleanup_free char *dup = xstrdup(rel);
    char *save = NULL;
    for (char *c = strtok_r(dup, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        char **next = xcalloc(1, sizeof *next);
        size_t n_next = 0;
        for (size_t i = 0; i < n_cur; i++) {
            if (!has_glob(c)) {
                next = xrealloc(next, (n_next + 2) * sizeof *next);
                next[n_next++] = join(cur[i], c);
                next[n_next] = NULL;
                continue;
            }
            cleanup_free char *dir = NULL;
            struct error e2 = {0};
            if (bld_tree_resolve(o->src, cur[i], true, &dir, &e2) < 0)
                continue;
            char **names = NULL;
            size_t nn;
            if (bld_tree_list(o->src, dir, &names, &nn, &e2) < 0)
                continue;
            for (size_t k = 0; k < nn; k++) {
                if (fnmatch(c, names[k], 0) != 0)
                    continue;
                char *cand = join(dir, names[k]);
                if (ignored(o, cand)) {
                    free(cand);
                    continue;
                }
                next = xrealloc(next, (n_next + 2) * sizeof *next);
                next[n_next++] = cand;
                next[n_next] = NULL;
            }
            strv_free(names);
        }
        strv_free(cur);
        cur = next;
        n_cur = n_next;
    }
    *out = cur;
    *n_out = n_cur;
    return 0;
}

int bld_copy_plan_make(const struct bld_copy_opts *o, struct bld_copy_plan **out,
                       struct error *err)
{
    struct bld_copy_plan *p = xzalloc(sizeof *p);
    p->o = o;
    for (size_t s = 0; s < o->n_srcs; s++) {
        const char *arg = o->srcs[s];
        char **paths = NULL;
        size_t n;
        if (expand_source(p, arg, &paths, &n, err) < 0)
            goto fail;
        if (n == 0) {
            strv_free(paths);
            error_set(err, ENOENT, "no source files match `%s`", arg);
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            cleanup_free char *rp = NULL;
            struct bld_node node = {0};
            if (bld_tree_resolve(o->src, paths[i], true, &rp, err) < 0 ||
                bld_tree_lookup(o->src, rp, &node, err) < 0 || !node.exists || ignored(o, rp)) {
                bld_node_clear(&node);
                strv_free(paths);
                error_set(err, ENOENT, "source `%s` not found%s", arg,
                          o->from_context ? " in the build context" : "");
                goto fail;
            }
            add_item(p, rp, base_name(paths[i]), -1, &node);
            p->n_top++;
            bld_node_clear(&node);
            struct item *it = &p->items[p->n - 1];
            if (S_ISDIR(it->st.st_mode)) {
                if (walk_dir(p, p->n - 1, err) < 0) {
                    strv_free(paths);
                    goto fail;
                }
            } else if (o->add && o->from_context && S_ISREG(it->st.st_mode)) {
                struct bld_node nd;
                if (bld_tree_lookup(o->src, rp, &nd, err) < 0) {
                    strv_free(paths);
                    goto fail;
                }
                int fd = bld_tree_open_file(o->src, &nd, rp, err);
                bld_node_clear(&nd);
                if (fd < 0) {
                    strv_free(paths);
                    goto fail;
                }
                it->archive = is_tar_archive(fd);
                close(fd);
            } else if (!S_ISREG(it->st.st_mode) && !S_ISLNK(it->st.st_mode)) {
                strv_free(paths);
                error_set(err, EINVAL, "source `%s` is not a file or directory", arg);
                goto fail;
            }
        }
        strv_free(paths);
    }
    *out = p;
    return 0;
fail:
    bld_copy_plan_free(p);
    return -1;
}

int bld_copy_plan_digest(struct bld_copy_plan *p, char out[FMT_DIGEST_MAX], struct error *err)
{
    struct fmt_digester *d = fmt_digester_new();
    char buf[64 * 1024];
    int rc = 0;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        struct item *it = &p->items[i];
        char head[256];
        int hl = snprintf(head, sizeof head, "%ld\n%o\n%lld\n%d\n", it->parent,
                          (unsigned)it->st.st_mode, (long long)it->st.st_size, it->archive);
        fmt_digester_update(d, head, (size_t)hl);
        fmt_digester_update(d, it->name, strlen(it->name) + 1);
        struct bld_node node = {.layer = it->layer};
        if (S_ISLNK(it->st.st_mode)) {
            cleanup_free char *target = NULL;
            if (bld_tree_readlink(p->o->src, &node, it->src, &target, err) < 0) {
                rc = -1;
                break;
            }
            fmt_digester_update(d, target, strlen(target) + 1);
        } else if (S_ISREG(it->st.st_mode)) {
            int fd = bld_tree_open_file(p->o->src, &node, it->src, err);
            if (fd < 0) {
                rc = -1;
                break;
            }
            ssize_t r;
            while ((r = read(fd, buf, sizeof buf)) > 0)
                fmt_digester_update(d, buf, (size_t)r);
            if (r < 0)
                rc = error_errno(err, "read `%s`", it->src);
            close(fd);
        }
    }
    if (rc == 0)
        fmt_digester_final(d, out);
    fmt_digester_free(d);
    return rc;
}

/* ---- writing into the upper ---- */

static int open_beneath(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dirfd, *path ? path : ".", &how, sizeof how);
}

static int set_owner_mode(int fd, const char *what, const struct stat *want, uid_t uid, gid_t gid,
                          mode_t mode, bool rootless, struct error *err)
{
    if (rootless) {
        struct fmt_override_stat ov = {.uid = uid, .gid = gid,
                                       .mode = (want->st_mode & S_IFMT) | (mode & 07777),
                                       .has_type = true};
        if (fmt_override_stat_set(fd, &ov, err) < 0)
            return error_prefix(err, "`%s`", what);
        /* keep it usable by us on disk; the real mode is in the xattr */
        mode_t disk = (mode & 0777) | (S_ISDIR(want->st_mode) ? 0700 : 0600);
        if (fchmod(fd, disk) < 0)
            return error_errno(err, "chmod `%s`", what);
        return 0;
    }
    if (fchown(fd, uid, gid) < 0)
        return error_errno(err, "chown `%s`", what);
    if (fchmod(fd, mode & 07777) < 0)
        return error_errno(err, "chmod `%s`", what);
    return 0;
}

static void set_times(int fd, int64_t t, const struct stat *src)
{
    struct timespec ts[2];
    if (t >= 0) {
        ts[0].tv_sec = ts[1].tv_sec = (time_t)t;
        ts[0].tv_nsec = ts[1].tv_nsec = 0;
    } else {
        ts[0] = src->st_atim;
        ts[1] = src->st_mtim;
    }
    futimens(fd, ts);
}

/* Removes a whiteout for name in the upper dir; returns true when one was
 * there (the new entry must then hide what lies below). */
static bool drop_whiteout(int pfd, const char *name)
{
    cleanup_free char *wh = xasprintf(".wh.%s", name);
    return unlinkat(pfd, wh, 0) == 0;
}

int bld_upper_mkdirs(const struct bld_tree *image, int upper_fd, const char *path, uid_t uid,
                     gid_t gid, int64_t timestamp, bool rootless, struct error *err)
{
    cleanup_free char *dup = xstrdup(path);
    cleanup_free char *prefix = xstrdup("");
    char *save = NULL;
    for (char *c = strtok_r(dup, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        char *np = join(prefix, c);
        cleanup_free char *parent = prefix;
        prefix = np;
        struct stat st;
        cleanup_close int pfd = open_beneath(upper_fd, parent, O_RDONLY | O_DIRECTORY);
        if (pfd < 0)
            return error_errno(err, "open `/%s` in the new layer", parent);
        if (fstatat(pfd, c, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (S_ISDIR(st.st_mode))
                continue;
            return error_code(err, ENOTDIR, "`/%s`", prefix);
        }
        struct bld_node node;
        if (bld_tree_lookup(image, prefix, &node, err) < 0)
            return -1;
        if (node.exists && !S_ISDIR(node.st.st_mode)) {
            bld_node_clear(&node);
            return error_code(err, ENOTDIR, "`/%s`", prefix);
        }
        struct stat meta;
        memset(&meta, 0, sizeof meta);
        if (node.exists) {
            meta = node.st; /* copy up the lower directory's metadata */
        } else {
            meta.st_mode = S_IFDIR | 0755;
            meta.st_uid = uid;
            meta.st_gid = gid;
            meta.st_mtim.tv_sec = timestamp >= 0 ? timestamp : time(NULL);
        }
        bld_node_clear(&node);
        if (timestamp >= 0 && meta.st_mtim.tv_sec > timestamp)
            meta.st_mtim.tv_sec = timestamp;
        meta.st_atim = meta.st_mtim;
        bool was_whiteout = drop_whiteout(pfd, c);
        if (mkdirat(pfd, c, 0700) < 0)
            return error_errno(err, "mkdir `/%s`", prefix);
        cleanup_close int fd = openat(pfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return error_errno(err, "open `/%s`", prefix);
        if (was_whiteout) {
            int o = openat(fd, ".wh..wh..opq", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (o >= 0)
                close(o);
        }
        if (set_owner_mode(fd, prefix, &meta, meta.st_uid, meta.st_gid, meta.st_mode, rootless,
                           err) < 0)
            return -1;
        set_times(fd, -1, &meta);
    }
    return 0;
}

static int copy_data(int in, int out, const char *what, struct error *err)
{
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return error_errno(err, "copy `%s`", what);
        break;
    }
    char buf[128 * 1024];
    ssize_t r;
    while ((r = read(in, buf, sizeof buf)) > 0)
        if (write_all(out, buf, (size_t)r, err) < 0)
            return -1;
    if (r < 0)
        return error_errno(err, "read `%s`", what);
    return 0;
}

struct owner {
    uid_t uid;
    gid_t gid;
};

static struct owner owner_for(const struct bld_copy_plan *p, const struct item *it)
{
    const struct bld_copy_opts *o = p->o;
    if (o->chown)
        return (struct owner){o->uid, o->gid};
    if (p->preserve_owner)
        return (struct owner){it->st.st_uid, it->st.st_gid};
    return (struct owner){0, 0};
}

static mode_t mode_for(const struct bld_copy_plan *p, const struct item *it)
{
    if (p->o->chmod)
        return p->o->mode;
    return it->st.st_mode & 07777;
}

/* Writes a non-directory item at path (relative to the upper; its parent exists). */
static int write_entry(struct bld_copy_plan *p, const struct item *it, int upper_fd,
                       const char *path, struct error *err)
{
    const struct bld_copy_opts *o = p->o;
    cleanup_free char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *name = slash ? slash + 1 : path;
    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    cleanup_close int pfd = open_beneath(upper_fd, dir, O_RDONLY | O_DIRECTORY);
    if (pfd < 0)
        return error_errno(err, "open `/%s` in the new layer", dir);
    drop_whiteout(pfd, name);
    struct stat cur;
    if (fstatat(pfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(cur.st_mode)) {
            if (rm_rf_at(pfd, name, err) < 0)
                return -1;
        } else if (unlinkat(pfd, name, 0) < 0) {
            return error_errno(err, "replace `/%s`", path);
        }
    }
    struct owner ow = owner_for(p, it);
    struct bld_node src = {.layer = it->layer};
    if (S_ISLNK(it->st.st_mode)) {
        cleanup_free char *target = NULL;
        if (bld_tree_readlink(o->src, &src, it->src, &target, err) < 0)
            return -1;
        if (symlinkat(target, pfd, name) < 0)
            return error_errno(err, "symlink `/%s`", path);
        if (!o->rootless && fchownat(pfd, name, ow.uid, ow.gid, AT_SYMLINK_NOFOLLOW) < 0)
            return error_errno(err, "chown `/%s`", path);
        struct timespec ts[2] = {it->st.st_atim, it->st.st_mtim};
        if (o->timestamp >= 0) {
            ts[0].tv_sec = ts[1].tv_sec = (time_t)o->timestamp;
            ts[0].tv_nsec = ts[1].tv_nsec = 0;
        }
        utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
        return 0;
    }
    if (!S_ISREG(it->st.st_mode))
        return error_set(err, EINVAL, "`%s`: only files, directories and symlinks can be copied",
                         it->src);
    cleanup_close int in = bld_tree_open_file(o->src, &src, it->src, err);
    if (in < 0)
        return -1;
    cleanup_close int out = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                   0600);
    if (out < 0)
        return error_errno(err, "create `/%s`", path);
    if (copy_data(in, out, it->src, err) < 0)
        return -1;
    struct stat want = {.st_mode = S_IFREG};
    if (set_owner_mode(out, path, &want, ow.uid, ow.gid, mode_for(p, it), o->rootless, err) < 0)
        return -1;
    set_times(out, o->timestamp, &it->st);
    return 0;
}

/* A directory item (not top-level) at path: created with the source's
 * mode and the COPY owner, or its metadata updated when it exists. */
static int write_dir(struct bld_copy_plan *p, const struct item *it, const struct bld_tree *image,
                     int upper_fd, const char *path, struct error *err)
{
    const struct bld_copy_opts *o = p->o;
    struct owner ow = owner_for(p, it);
    /* parents (and a lower copy of the directory itself) first */
    if (bld_upper_mkdirs(image, upper_fd, path, ow.uid, ow.gid, o->timestamp, o->rootless, err) < 0)
        return -1;
    cleanup_close int fd = open_beneath(upper_fd, path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return error_errno(err, "open `/%s` in the new layer", path);
    struct stat want = {.st_mode = S_IFDIR};
    if (set_owner_mode(fd, path, &want, ow.uid, ow.gid, mode_for(p, it), o->rootless, err) < 0)
        return -1;
    set_times(fd, o->timestamp, &it->st);
    return 0;
}

static int extract_archive(struct bld_copy_plan *p, const struct item *it,
                           const struct bld_tree *image, int upper_fd, const char *dest_dir,
                           struct error *err);

int bld_copy_plan_run(struct bld_copy_plan *p, const struct bld_tree *image, int upper_fd,
                      struct error *err)
{
    const struct bld_copy_opts *o = p->o;
    cleanup_free char *dest = NULL;
    if (clean_rel(o->dest, false, &dest, err) < 0)
        return -1;
    size_t dl = strlen(o->dest);
    bool dest_is_dir = (dl > 0 && o->dest[dl - 1] == '/') || p->n_top > 1;
    bool any_glob = false;
    for (size_t s = 0; s < o->n_srcs; s++)
        any_glob |= has_glob(o->srcs[s]);
    (void)any_glob;
    if (!dest_is_dir) {
        cleanup_free char *rd = NULL;
        struct error e2 = {0};
        struct bld_node node = {0};
        if (bld_tree_resolve(image, dest, true, &rd, &e2) == 0 &&
            bld_tree_lookup(image, rd, &node, &e2) == 0 && node.exists &&
            S_ISDIR(node.st.st_mode))
            dest_is_dir = true;
        bld_node_clear(&node);
    }
    if (p->n_top > 1 && dl > 0 && o->dest[dl - 1] != '/' && !dest_is_dir)
        return error_set(err, EINVAL, "with several sources the destination `%s` must end in /",
                         o->dest);
    uid_t uid = o->chown ? o->uid : 0;
    gid_t gid = o->chown ? o->gid : 0;

    for (size_t i = 0; i < p->n; i++) {
        struct item *it = &p->items[i];
        if (it->parent < 0) {
            if (S_ISDIR(it->st.st_mode) || it->archive) {
                /* a directory's contents (or an archive's) go into dest */
                cleanup_free char *rd = NULL;
                if (bld_tree_resolve(image, dest, true, &rd, err) < 0 ||
                    bld_upper_mkdirs(image, upper_fd, rd, uid, gid, o->timestamp, o->rootless,
                                     err) < 0)
                    return error_prefix(err, "destination `%s`", o->dest);
                it->resolved = xstrdup(rd);
                if (it->archive && extract_archive(p, it, image, upper_fd, rd, err) < 0)
                    return -1;
                continue;
            }
            cleanup_free char *target_dir = NULL, *name = NULL;
            if (dest_is_dir) {
                target_dir = xstrdup(dest);
                name = xstrdup(it->name);
            } else {
                char *slash = strrchr(dest, '/');
                target_dir = slash ? xstrndup(dest, (size_t)(slash - dest)) : xstrdup("");
                name = xstrdup(slash ? slash + 1 : dest);
                if (!*name)
                    return error_set(err, EINVAL, "destination `%s` names no file", o->dest);
            }
            cleanup_free char *rd = NULL;
            if (bld_tree_resolve(image, target_dir, true, &rd, err) < 0 ||
                bld_upper_mkdirs(image, upper_fd, rd, uid, gid, o->timestamp, o->rootless, err) < 0)
                return error_prefix(err, "destination `%s`", o->dest);
            cleanup_free char *path = join(rd, name);
            if (write_entry(p, it, upper_fd, path, err) < 0)
                return -1;
            continue;
        }
        const char *pdir = p->items[it->parent].resolved;
        if (!pdir)
            continue; /* parent failed to resolve; cannot happen after errors return */
        cleanup_free char *path = join(pdir, it->name);
        if (S_ISDIR(it->st.st_mode)) {
            /* the image may have a symlink here (/bin -> usr/bin): follow it */
            struct bld_node node;
            if (bld_tree_lookup(image, path, &node, err) < 0)
                return -1;
            bool link = node.exists && S_ISLNK(node.st.st_mode);
            bld_node_clear(&node);
            if (link) {
                cleanup_free char *rd = NULL;
                if (bld_tree_resolve(image, path, true, &rd, err) < 0 ||
                    bld_upper_mkdirs(image, upper_fd, rd, uid, gid, o->timestamp, o->rootless,
                                     err) < 0)
                    return -1;
                it->resolved = TAKE_PTR(rd);
                continue;
            }
            if (write_dir(p, it, image, upper_fd, path, err) < 0)
                return -1;
            it->resolved = TAKE_PTR(path);
            continue;
        }
        if (write_entry(p, it, upper_fd, path, err) < 0)
            return -1;
    }
    return 0;
}

/* ADD: the archive is unpacked (format/'s safe unpacker) into a scratch
 * directory beside the upper, then merged into dest keeping its owners. */
static int extract_archive(struct bld_copy_plan *p, const struct item *it,
                           const struct bld_tree *image, int upper_fd, const char *dest_dir,
                           struct error *err)
{
    const struct bld_copy_opts *o = p->o;
    char tmpl[] = "/tmp/strata-add.XXXXXX";
    if (!mkdtemp(tmpl))
        return error_errno(err, "mkdtemp");
    int rc = -1;
    struct bld_tree t = {0};
    struct bld_copy_plan *sub = NULL;
    cleanup_free char *d = xasprintf("/%s/", dest_dir);
    cleanup_close int tfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct bld_node node = {.layer = it->layer};
    cleanup_close int in = bld_tree_open_file(o->src, &node, it->src, err);
    if (tfd < 0 || in < 0) {
        if (tfd < 0)
            error_errno(err, "open `%s`", tmpl);
        goto out;
    }
    struct fmt_layer_unpack_opts uo = {.rootless = o->rootless ? 1 : 0};
    if (fmt_layer_unpack(fmt_fd_source, &in, it->src, tfd, &uo, NULL, err) < 0) {
        error_prefix(err, "extract `%s`", it->src);
        goto out;
    }
    const char *dirs[] = {tmpl};
    if (bld_tree_open(&t, dirs, 1, err) < 0)
        goto out;
    char *srcs[] = {(char *)"/", NULL};
    struct bld_copy_opts so = {.src = &t, .srcs = srcs, .n_srcs = 1, .dest = d,
                               .timestamp = o->timestamp, .rootless = o->rootless};
    if (bld_copy_plan_make(&so, &sub, err) < 0)
        goto out;
    sub->preserve_owner = true;
    rc = bld_copy_plan_run(sub, image, upper_fd, err);
out:
    bld_copy_plan_free(sub);
    bld_tree_close(&t);
    struct error e2 = {0};
    rm_rf_at(AT_FDCWD, tmpl, &e2);
    return rc;
}

/* ---- --chown / --chmod ---- */

static bool all_digits(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

/* Looks name up in an /etc/passwd- or /etc/group-style file: field 3 (id). */
static int lookup_id(const struct bld_tree *image, const char *file, const char *name,
                     unsigned long *id, struct error *err)
{
    cleanup_free char *data = NULL;
    size_t len;
    if (!image || bld_tree_read_file(image, file, &data, &len, err) < 0)
        return error_set(err, ENOENT, "cannot resolve `%s`: no %s in the image", name, file);
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = {0};
        char *s2 = NULL;
        size_t k = 0;
        for (char *t = strtok_r(line, ":", &s2); t && k < 4; t = strtok_r(NULL, ":", &s2))
            f[k++] = t;
        if (k >= 3 && !strcmp(f[0], name) && all_digits(f[2])) {
            *id = strtoul(f[2], NULL, 10);
            return 0;
        }
    }
    return error_set(err, ENOENT, "`%s` not found in %s", name, file);
}

int bld_parse_chown(const struct bld_tree *image, const char *spec, uid_t *uid, gid_t *gid,
                    struct error *err)
{
    cleanup_free char *dup = xstrdup(spec);
    char *colon = strchr(dup, ':');
    if (colon)
        *colon = '\0';
    const char *u = dup, *g = colon ? colon + 1 : NULL;
    if (!*u || (g && !*g))
        return error_set(err, EINVAL, "invalid --chown `%s`", spec);
    unsigned long id;
    if (all_digits(u))
        id = strtoul(u, NULL, 10);
    else if (lookup_id(image, "/etc/passwd", u, &id, err) < 0)
        return -1;
    *uid = (uid_t)id;
    if (!g) {
        *gid = (gid_t)id;
        return 0;
    }
    if (all_digits(g))
        id = strtoul(g, NULL, 10);
    else if (lookup_id(image, "/etc/group", g, &id, err) < 0)
        return -1;
    *gid = (gid_t)id;
    return 0;
}

int bld_parse_chmod(const char *spec, mode_t *mode, struct error *err)
{
    char *end;
    unsigned long m = strtoul(spec, &end, 8);
    if (!*spec || *end || m > 07777)
        return error_set(err, EINVAL, "invalid --chmod `%s` (want octal, e.g. 0755)", spec);
    *mode = (mode_t)m;
    return 0;
}
