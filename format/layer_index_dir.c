/* A directory read as a layer: a container's upper dir, whose whiteouts
 * are OCI files (`.wh.NAME`, `.wh..wh..opq`) or overlay-style (0/0 char
 * devices, an "opaque" xattr on the directory).  Applying the result to the
 * image's tree gives the container's changes, the same way a layer's are. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/layer_index.h"
#include "format/whiteout.h"

struct walk {
    struct fmt_layer_index *ix;
    size_t cap;
    const char *what;
};

static struct fmt_layer_entry *push(struct walk *w)
{
    struct fmt_layer_index *ix = w->ix;
    if (ix->n_entries == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        ix->entries = xrealloc(ix->entries, w->cap * sizeof *ix->entries);
    }
    struct fmt_layer_entry *e = &ix->entries[ix->n_entries++];
    memset(e, 0, sizeof *e);
    return e;
}

/* A zero-size regular file carrying overlayfs's whiteout xattr. */
static bool file_is_xwhiteout(int dfd, const char *name, const struct stat *st)
{
    if (!S_ISREG(st->st_mode) || st->st_size != 0)
        return false;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool wh = fmt_whiteout_file_is_whiteout(fd);
    close(fd);
    return wh;
}

static char *child_path(const char *dir, const char *name)
{
    return dir[0] ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

static int walk_dir(struct walk *w, int dfd, const char *rel, struct error *err)
{
    if (fmt_whiteout_dir_is_opaque(dfd)) {
        struct fmt_layer_entry *e = push(w);
        e->type = FMT_ENTRY_OPAQUE;
        e->path = xstrdup(rel);
    }
    int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0)
        return error_errno(err, "read `%s` in %s", rel[0] ? rel : "/", w->what);
    cleanup_dir DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return error_errno(err, "read `%s` in %s", rel[0] ? rel : "/", w->what);
    }
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        cleanup_free char *path = child_path(rel, name);
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return error_errno(err, "stat `%s` in %s", path, w->what);
        if (fmt_whiteout_is_opaque(name)) {
            struct fmt_layer_entry *e = push(w);
            e->type = FMT_ENTRY_OPAQUE;
            e->path = xstrdup(rel);
            continue;
        }
        const char *target = fmt_whiteout_target(name);
        if (target) {
            struct fmt_layer_entry *e = push(w);
            e->type = FMT_ENTRY_WHITEOUT;
            e->path = child_path(rel, target);
            continue;
        }
        if (!strncmp(name, FMT_WHITEOUT_PREFIX, strlen(FMT_WHITEOUT_PREFIX)))
            continue; /* the union's own bookkeeping */
        if (fmt_whiteout_is_overlay_device(&st) || file_is_xwhiteout(dfd, name, &st)) {
            struct fmt_layer_entry *e = push(w);
            e->type = FMT_ENTRY_WHITEOUT;
            e->path = TAKE_PTR(path);
            continue;
        }
        struct fmt_layer_entry *e = push(w);
        e->path = xstrdup(path);
        e->mode = st.st_mode & 07777;
        e->uid = st.st_uid;
        e->gid = st.st_gid;
        e->mtime = st.st_mtim.tv_sec;
        switch (st.st_mode & S_IFMT) {
        case S_IFREG:
            e->type = FMT_ENTRY_FILE;
            e->size = st.st_size;
            w->ix->file_bytes += st.st_size;
            break;
        case S_IFDIR:
            e->type = FMT_ENTRY_DIR;
            break;
        case S_IFLNK: {
            e->type = FMT_ENTRY_SYMLINK;
            char buf[4096];
            ssize_t n = readlinkat(dfd, name, buf, sizeof buf - 1);
            if (n < 0)
                return error_errno(err, "readlink `%s` in %s", path, w->what);
            buf[n] = '\0';
            e->link = xstrdup(buf);
            break;
        }
        case S_IFCHR:
        case S_IFBLK:
            e->type = S_ISCHR(st.st_mode) ? FMT_ENTRY_CHAR : FMT_ENTRY_BLOCK;
            e->devmajor = major(st.st_rdev);
            e->devminor = minor(st.st_rdev);
            break;
        case S_IFIFO:
            e->type = FMT_ENTRY_FIFO;
            break;
        default:
            e->type = FMT_ENTRY_SOCKET;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            cleanup_close int sub =
                openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                return error_errno(err, "open `%s` in %s", path, w->what);
            if (walk_dir(w, sub, path, err) < 0)
                return -1;
        }
    }
    if (errno)
        return error_errno(err, "read `%s` in %s", rel[0] ? rel : "/", w->what);
    return 0;
}

int fmt_layer_index_from_dir(int dirfd, const char *path, const char *what,
                             struct fmt_layer_index *out, struct error *err)
{
    cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open %s", what);
    struct fmt_layer_index ix = {0};
    struct walk w = {.ix = &ix, .what = what};
    if (walk_dir(&w, fd, "", err) < 0) {
        fmt_layer_index_clear(&ix);
        return -1;
    }
    *out = ix;
    return 0;
}
