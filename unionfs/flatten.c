/* ufs_upper_flatten: turns an (unmounted) upper into plain OCI.  A
 * directory renamed away from its lower place carries a redirect to where
 * its lower contents are; OCI has no such thing, so those contents (the
 * merged view of every lower at the redirect path, lower whiteouts and the
 * upper's own whiteouts respected) are copied into it and it becomes
 * opaque.  Upper subdirectories of it that merged with the lowers at the old
 * place are handled the same way, recursively. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "unionfs/internal.h"

static bool exists_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int copy_file(struct ufs *fs, int sdir, int ddir, const char *name, const struct stat *st)
{
    if (S_ISREG(st->st_mode)) {
        cleanup_close int src = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        cleanup_close int dst =
            openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (src < 0 || dst < 0)
            return errno;
        for (off_t off = 0; off < st->st_size;) {
            ssize_t n = copy_file_range(src, NULL, dst, NULL, (size_t)(st->st_size - off), 0);
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                return n < 0 ? errno : EIO;
            }
            off += n;
        }
        return ufs_copy_meta(fs, src, dst, st, false, -1, NULL);
    }
    if (S_ISLNK(st->st_mode)) {
        char target[PATH_MAX + 1];
        ssize_t len = readlinkat(sdir, name, target, PATH_MAX);
        if (len < 0)
            return errno;
        target[len] = 0;
        if (symlinkat(target, ddir, name) < 0)
            return errno;
        return ufs_copy_meta(fs, -1, -1, st, true, ddir, name);
    }
    if (mknodat(ddir, name, st->st_mode & (S_IFMT | 0600), st->st_rdev) < 0)
        return errno;
    cleanup_close int fd = openat(ddir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno;
    if (fs->privileged && fchownat(fd, "", st->st_uid, st->st_gid, AT_EMPTY_PATH) < 0)
        return errno;
    if (fchmodat(ddir, name, st->st_mode & 07777, 0) < 0)
        return errno;
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    return utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
}

static int make_opaque(int dfd)
{
    int fd = openat(dfd, UFS_OPQ, O_WRONLY | O_CREAT | O_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    close(fd);
    fremovexattr(dfd, UFS_XATTR_REDIRECT);
    return 0;
}

/* Fills upper dir dfd with the lowers' merged contents at lpath, from
 * lowers 1..last (an opaque ancestor hides the ones below). */
static int materialize(struct ufs *fs, int dfd, const char *lpath, int last)
{
    int r = 0;
    /* the lowers this directory spans: down to the first opaque one */
    int stop = last;
    for (int i = 1; i <= last; i++) {
        cleanup_close int fd = ufs_open_dir_beneath(fs->layers[i].fd, lpath);
        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd < 0 || ufs_dir_is_opaque(fd)) {
            stop = fd < 0 ? i - 1 : i;
            break;
        }
    }
    for (int i = 1; i <= stop && !r; i++) {
        cleanup_close int lfd = ufs_open_dir_beneath(fs->layers[i].fd, lpath);
        if (lfd < 0) {
            if (errno == ENOENT)
                continue;
            break; /* not a directory in this layer: hides the rest */
        }
        DIR *d = ufs_opendir_at(lfd);
        if (!d)
            return errno;
        struct dirent *de;
        while (!r && (de = readdir(d))) {
            const char *name = de->d_name;
            if (!strcmp(name, ".") || !strcmp(name, ".."))
                continue;
            if (!strncmp(name, UFS_WH_PREFIX, UFS_WH_PREFIX_LEN)) {
                /* a lower whiteout hides the layers below: carry it up */
                if (strcmp(name, UFS_OPQ) && !exists_at(dfd, name) &&
                    !exists_at(dfd, name + UFS_WH_PREFIX_LEN))
                    r = ufs_make_whiteout(dfd, name + UFS_WH_PREFIX_LEN);
                continue;
            }
            struct stat st;
            if (fstatat(lfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                r = errno;
                break;
            }
            if (ufs_is_whiteout_stat(&st)) {
                if (!exists_at(dfd, name))
                    r = ufs_make_whiteout(dfd, name);
                continue;
            }
            if (ufs_has_whiteout(dfd, name))
                continue; /* removed in the upper (or by a higher lower) */
            cleanup_free char *sub = *lpath ? xasprintf("%s/%s", lpath, name) : xstrdup(name);
            struct stat ust;
            if (fstatat(dfd, name, &ust, AT_SYMLINK_NOFOLLOW) == 0) {
                if (!S_ISDIR(ust.st_mode) || !S_ISDIR(st.st_mode))
                    continue; /* the upper (or a higher layer) wins */
                cleanup_close int ufd =
                    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (ufd < 0) {
                    r = errno;
                    break;
                }
                if (ufs_dir_is_opaque(ufd))
                    continue;
                char redir[8];
                if (fgetxattr(ufd, UFS_XATTR_REDIRECT, redir, sizeof redir) >= 0)
                    continue; /* handled on its own by the walk */
                r = materialize(fs, ufd, sub, stop);
                continue;
            }
            if (S_ISDIR(st.st_mode)) {
                if (mkdirat(dfd, name, 0700) < 0) {
                    r = errno;
                    break;
                }
                cleanup_close int src = openat(lfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                cleanup_close int dst =
                    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (src < 0 || dst < 0) {
                    r = errno;
                    break;
                }
                r = materialize(fs, dst, sub, stop);
                if (!r)
                    r = ufs_copy_meta(fs, src, dst, &st, false, -1, NULL);
            } else {
                r = copy_file(fs, lfd, dfd, name, &st);
            }
        }
        closedir(d);
    }
    if (!r)
        r = make_opaque(dfd);
    return r;
}

static int walk(struct ufs *fs, int dfd)
{
    DIR *d = ufs_opendir_at(dfd);
    if (!d)
        return errno;
    /* collect first: materializing adds entries while we list */
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r) {
            cleanup_close int sub =
                openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                r = errno;
            } else {
                char buf[4096];
                ssize_t len = fgetxattr(sub, UFS_XATTR_REDIRECT, buf, sizeof buf - 1);
                if (len > 0) {
                    buf[len] = 0;
                    const char *p = buf;
                    while (*p == '/')
                        p++;
                    r = materialize(fs, sub, p, fs->n_layers - 1);
                }
                if (!r)
                    r = walk(fs, sub);
            }
        }
        free(names[i]);
    }
    free(names);
    return r;
}

/* A lower hard-link set copied up through one name lives in work/index;
 * the other names reached it only through the mount.  Each such name that
 * the merged view still shows from the lower is linked into the upper. */
static int link_up_name(struct ufs *fs, const char *path)
{
    cleanup_free char *copy = xstrdup(path);
    struct ufs_node *stack[PATH_MAX / 2];
    int depth = 0, r = 0;
    struct ufs_node *cur = fs->root;
    char *save = NULL, *comp = strtok_r(copy, "/", &save);
    while (comp) {
        char *next = strtok_r(NULL, "/", &save);
        struct ufs_entry e;
        r = ufs_resolve(fs, cur, comp, &e);
        if (r || e.layer < 0) {
            ufs_entry_release(fs, &e);
            break;
        }
        if (!next) {
            bool need = e.index && !e.upper;
            char key[64];
            snprintf(key, sizeof key, "%llx-%llx", (unsigned long long)e.odev,
                     (unsigned long long)e.oino);
            ufs_entry_release(fs, &e);
            if (need) {
                int pup = ufs_upper_dir(fs, cur);
                if (pup < 0)
                    r = -pup;
                else if (linkat(fs->index_fd, key, pup, comp, 0) < 0 && errno != EEXIST)
                    r = errno;
            }
            break;
        }
        if (!S_ISDIR(e.st.st_mode) || depth == (int)ARRAY_SIZE(stack)) {
            ufs_entry_release(fs, &e);
            break;
        }
        struct ufs_node *n;
        ufs_entry_to_node(fs, cur, comp, &e, &n);
        ufs_entry_release(fs, &e);
        stack[depth++] = n;
        cur = n;
        comp = next;
    }
    while (depth > 0)
        ufs_node_forget(fs, stack[--depth], 1);
    return r;
}

static int scan_links(struct ufs *fs, int layer, int dfd, const char *path)
{
    DIR *d = ufs_opendir_at(dfd);
    if (!d)
        return errno;
    int r = 0;
    struct dirent *de;
    while (!r && (de = readdir(d))) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..") ||
            !strncmp(name, UFS_WH_PREFIX, UFS_WH_PREFIX_LEN))
            continue;
        cleanup_free char *sub = *path ? xasprintf("%s/%s", path, name) : xstrdup(name);
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            cleanup_close int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0)
                r = scan_links(fs, layer, fd, sub);
        } else if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
            char key[64];
            snprintf(key, sizeof key, "%llx-%llx", (unsigned long long)fs->layers[layer].dev,
                     (unsigned long long)st.st_ino);
            if (exists_at(fs->index_fd, key))
                r = link_up_name(fs, sub);
        }
    }
    closedir(d);
    return r;
}

/* Once every lower name still shown is linked into the upper, the index
 * links and their counts have no use left: the upper names are the set. */
static int drop_index(struct ufs *fs)
{
    DIR *d = ufs_opendir_at(fs->index_fd);
    if (!d)
        return errno;
    int r = 0;
    struct dirent *de;
    while (!r && (de = readdir(d))) {
        if (de->d_type != DT_REG)
            continue;
        cleanup_close int f = openat(fs->index_fd, de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (f < 0)
            continue;
        char path[64];
        ufs_proc_path(path, sizeof path, f);
        if (removexattr(path, UFS_XATTR_LOWER_LINKS) < 0 && errno != ENODATA &&
            errno != ENOTSUP)
            r = errno;
        else if (unlinkat(fs->index_fd, de->d_name, 0) < 0)
            r = errno;
    }
    closedir(d);
    return r;
}

static bool index_empty(struct ufs *fs)
{
    DIR *d = ufs_opendir_at(fs->index_fd);
    if (!d)
        return true;
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)))
        empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    return empty;
}

int ufs_upper_flatten(const struct ufs_options *o, struct error *err)
{
    if (!o->upper)
        return error_set(err, EINVAL, "flatten needs an upper directory");
    struct ufs *fs = NULL;
    int r = ufs_fs_new(o, &fs, err);
    if (r == 0) {
        r = walk(fs, fs->layers[0].fd);
        for (int i = 1; !r && i < fs->n_layers && !index_empty(fs); i++)
            r = scan_links(fs, i, fs->layers[i].fd, "");
        if (!r)
            r = drop_index(fs);
        if (r)
            r = error_code(err, r, "flatten upper `%s`", o->upper);
    }
    ufs_fs_free(fs);
    return r;
}
