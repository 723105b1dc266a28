#include "format/layer_unpack.h"

#include "format/libarchive.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/layer_path.h"
#include "format/override_stat.h"
#include "format/whiteout.h"

#define XATTR_VALUE_MAX 65536 /* the kernel's XATTR_SIZE_MAX */

struct dir_meta {
    char *path;
    mode_t mode;
    bool has_mtime;
    struct timespec mtime;
};

struct unpacker {
    int root;
    bool rootless;
    const char *what;
    struct error *err;
    struct archive *a;
    struct archive_entry *e;
    const char *entry; /* raw name of the entry being unpacked, for errors */
    /* input: decompressed bytes are hashed as libarchive pulls them */
    struct fmt_decompressor *d;
    struct fmt_digester *diff;
    bool in_failed;
    unsigned char *inbuf;
    /* the last parent directory resolved: most entries share it */
    char *cached_parent;
    int cached_fd;
    struct dir_meta *dirs;
    size_t n_dirs, cap_dirs;
};

static la_ssize_t unpack_read(struct archive *a, void *ctx, const void **buf)
{
    struct unpacker *u = ctx;
    ssize_t n = fmt_decompressor_read(u->d, u->inbuf, 128 * 1024, u->err);
    if (n < 0) {
        u->in_failed = true;
        archive_set_error(a, EIO, "%s", u->err->msg);
        return -1;
    }
    fmt_digester_update(u->diff, u->inbuf, (size_t)n);
    *buf = u->inbuf;
    return n;
}

static int entry_err(struct unpacker *u, int code, const char *fmt, const char *detail)
{
    return error_set(u->err, code, "entry `%s`: %s%s%s", u->entry, fmt, detail ? ": " : "",
                     detail ? detail : "");
}

static int entry_errno(struct unpacker *u, const char *doing)
{
    int saved = errno;
    return error_set(u->err, saved, "entry `%s`: %s: %s", u->entry, doing, strerror(saved));
}

/* Why an openat2 beneath the root failed, in words naming the entry. */
static int resolve_err(struct unpacker *u, const char *what_path)
{
    int saved = errno;
    switch (saved) {
    case ELOOP:
        return error_set(u->err, saved, "entry `%s`: `%s` goes through a symlink (refused)",
                         u->entry, what_path);
    case EXDEV:
        return error_set(u->err, saved, "entry `%s`: `%s` escapes the layer (refused)",
                         u->entry, what_path);
    case ENOTDIR:
        return error_set(u->err, saved, "entry `%s`: a parent of `%s` is not a directory",
                         u->entry, what_path);
    default:
        return error_set(u->err, saved, "entry `%s`: resolve `%s`: %s", u->entry, what_path,
                         strerror(saved));
    }
}

static void invalidate_parent(struct unpacker *u)
{
    free(u->cached_parent);
    u->cached_parent = NULL;
    if (u->cached_fd >= 0)
        close(u->cached_fd);
    u->cached_fd = -1;
}

static int set_override(struct unpacker *u, int fd, uid_t uid, gid_t gid, mode_t mode,
                        dev_t rdev)
{
    struct fmt_override_stat o = {.uid = uid, .gid = gid, .mode = mode, .rdev = rdev,
                                  .has_type = true};
    if (fmt_override_stat_set(fd, &o, u->err) < 0)
        return error_prefix(u->err, "entry `%s`", u->entry);
    return 0;
}

/* A parent directory the tar did not list: root-owned 0755, as docker does. */
static int make_implicit_dir(struct unpacker *u, int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
        return entry_errno(u, "create parent directory");
    cleanup_close int fd = fmt_open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return resolve_err(u, name);
    if (u->rootless) {
        if (fchmod(fd, 0755) < 0)
            return entry_errno(u, "chmod parent directory");
        return set_override(u, fd, 0, 0, S_IFDIR | 0755, 0);
    }
    if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0755) < 0)
        return entry_errno(u, "set owner of parent directory");
    return 0;
}

/* An O_PATH fd on the directory `parent` ("." for the root), creating
 * missing components; the fd belongs to the cache (do not close it). */
static int get_parent(struct unpacker *u, const char *parent)
{
    if (u->cached_parent && !strcmp(u->cached_parent, parent))
        return u->cached_fd;
    invalidate_parent(u);
    int fd = fmt_open_beneath(u->root, parent, O_PATH | O_DIRECTORY, 0);
    if (fd < 0 && errno == ENOENT) {
        /* walk down, creating what is missing, still never following a symlink */
        cleanup_free char *copy = xstrdup(parent);
        fd = fcntl(u->root, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return entry_errno(u, "dup");
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
            int next = fmt_open_beneath(fd, c, O_PATH | O_DIRECTORY, 0);
            if (next < 0 && errno == ENOENT) {
                if (make_implicit_dir(u, fd, c) < 0) {
                    close(fd);
                    return -1;
                }
                next = fmt_open_beneath(fd, c, O_PATH | O_DIRECTORY, 0);
            }
            if (next < 0) {
                resolve_err(u, parent);
                close(fd);
                return -1;
            }
            close(fd);
            fd = next;
        }
    } else if (fd < 0) {
        return resolve_err(u, parent);
    }
    u->cached_parent = xstrdup(parent);
    u->cached_fd = fd;
    return fd;
}

static bool xattr_wanted(struct unpacker *u, const char *name)
{
    if (fmt_xattr_is_union_private(name) || !strcmp(name, "security.selinux"))
        return false;
    /* an unprivileged process can only set user.* xattrs */
    return !u->rootless || !strncmp(name, "user.", 5);
}

static int apply_xattrs(struct unpacker *u, int fd)
{
    const char *name;
    const void *value;
    size_t size;
    archive_entry_xattr_reset(u->e);
    while (archive_entry_xattr_next(u->e, &name, &value, &size) == ARCHIVE_OK) {
        if (size > XATTR_VALUE_MAX)
            return entry_err(u, E2BIG, "xattr value over 64 KiB (refused)", name);
        if (!xattr_wanted(u, name))
            continue;
        if (fsetxattr(fd, name, value, size, 0) < 0) {
            if (errno == ENOTSUP || (u->rootless && errno == EPERM))
                continue; /* the filesystem (or an unprivileged caller) cannot keep it */
            int saved = errno;
            return error_set(u->err, saved, "entry `%s`: set xattr `%s`: %s", u->entry, name,
                             strerror(saved));
        }
    }
    return 0;
}

static void entry_mtime(struct unpacker *u, struct timespec ts[2], bool *has)
{
    *has = archive_entry_mtime_is_set(u->e);
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_sec = archive_entry_mtime(u->e);
    ts[1].tv_nsec = archive_entry_mtime_nsec(u->e);
    if (!*has)
        ts[1].tv_nsec = UTIME_OMIT;
}

/* Sets owner and mode on a regular file or directory fd. */
static int apply_owner_mode(struct unpacker *u, int fd, mode_t type, mode_t perm, dev_t rdev,
                            bool defer_mode)
{
    uid_t uid = (uid_t)archive_entry_uid(u->e);
    gid_t gid = (gid_t)archive_entry_gid(u->e);
    if (u->rootless) {
        if (!defer_mode && fchmod(fd, (perm & 0777) | (type == S_IFDIR ? 0700 : 0600)) < 0)
            return entry_errno(u, "chmod");
        return set_override(u, fd, uid, gid, type | perm, rdev);
    }
    if (fchown(fd, uid, gid) < 0)
        return entry_errno(u, "chown");
    /* after chown, which clears setuid/setgid */
    if (!defer_mode && fchmod(fd, perm) < 0)
        return entry_errno(u, "chmod");
    return 0;
}

static int write_data(struct unpacker *u, int fd)
{
    const void *buf;
    size_t size;
    la_int64_t offset;
    for (;;) {
        int r = archive_read_data_block(u->a, &buf, &size, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            if (u->in_failed)
                return error_prefix(u->err, "entry `%s`", u->entry);
            return entry_err(u, EIO, "read data", archive_error_string(u->a));
        }
        const char *p = buf;
        while (size > 0) {
            ssize_t n = pwrite(fd, p, size, offset);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return entry_errno(u, "write");
            }
            p += n;
            size -= (size_t)n;
            offset += n;
        }
    }
    /* sparse files end in a hole: the size comes from the header */
    if (archive_entry_size_is_set(u->e) && ftruncate(fd, archive_entry_size(u->e)) < 0)
        return entry_errno(u, "truncate");
    return 0;
}

static int do_regular(struct unpacker *u, int pfd, const char *base, mode_t type, mode_t perm)
{
    cleanup_close int fd =
        openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return entry_errno(u, "create");
    dev_t rdev = 0;
    if (type == S_IFREG) {
        if (write_data(u, fd) < 0)
            return -1;
    } else {
        /* rootless device node: an empty file standing in for it */
        rdev = makedev(archive_entry_rdevmajor(u->e), archive_entry_rdevminor(u->e));
    }
    if (apply_owner_mode(u, fd, type, perm, rdev, false) < 0 || apply_xattrs(u, fd) < 0)
        return -1;
    struct timespec ts[2];
    bool has;
    entry_mtime(u, ts, &has);
    if (has && futimens(fd, ts) < 0)
        return entry_errno(u, "set mtime");
    return 0;
}

static int do_dir(struct unpacker *u, int pfd, const char *base, const char *path,
                  mode_t perm)
{
    if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST)
        return entry_errno(u, "mkdir");
    cleanup_close int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return entry_errno(u, "open directory");
    if (apply_owner_mode(u, fd, S_IFDIR, perm, 0, true) < 0 || apply_xattrs(u, fd) < 0)
        return -1;
    /* mode and mtime last: creating children changes the mtime, and a
     * read-only directory must stay writable until its children exist */
    if (u->n_dirs == u->cap_dirs) {
        u->cap_dirs = u->cap_dirs ? u->cap_dirs * 2 : 64;
        u->dirs = xrealloc(u->dirs, u->cap_dirs * sizeof *u->dirs);
    }
    struct dir_meta *m = &u->dirs[u->n_dirs++];
    struct timespec ts[2];
    entry_mtime(u, ts, &m->has_mtime);
    m->path = xstrdup(path);
    m->mode = perm;
    m->mtime = ts[1];
    return 0;
}

static int do_special(struct unpacker *u, int pfd, const char *base, mode_t type, mode_t perm)
{
    dev_t rdev = makedev(archive_entry_rdevmajor(u->e), archive_entry_rdevminor(u->e));
    int r = type == S_IFIFO ? mkfifoat(pfd, base, 0600) : mknodat(pfd, base, type | 0600, rdev);
    if (r < 0)
        return entry_errno(u, type == S_IFIFO ? "mkfifo" : "mknod");
    if (!u->rootless && fchownat(pfd, base, (uid_t)archive_entry_uid(u->e),
                                 (gid_t)archive_entry_gid(u->e), AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(u, "chown");
    /* base was just created by us and is not a symlink */
    if (fchmodat(pfd, base, u->rootless ? (perm & 0777) | 0600 : perm, 0) < 0)
        return entry_errno(u, "chmod");
    struct timespec ts[2];
    bool has;
    entry_mtime(u, ts, &has);
    if (has && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(u, "set mtime");
    return 0;
}

static int do_symlink(struct unpacker *u, int pfd, const char *base)
{
    const char *target = archive_entry_symlink(u->e);
    if (!target || !*target)
        return entry_err(u, EINVAL, "symlink without a target", NULL);
    if (strlen(target) >= PATH_MAX)
        return entry_err(u, ENAMETOOLONG, "symlink target longer than PATH_MAX (refused)",
                         NULL);
    /* the target is only data: nothing here or later follows it */
    if (symlinkat(target, pfd, base) < 0)
        return entry_errno(u, "symlink");
    if (!u->rootless && fchownat(pfd, base, (uid_t)archive_entry_uid(u->e),
                                 (gid_t)archive_entry_gid(u->e), AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(u, "chown");
    struct timespec ts[2];
    bool has;
    entry_mtime(u, ts, &has);
    if (has && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(u, "set mtime");
    return 0;
}

static void split(char *path, const char **parent, const char **base)
{
    char *slash = strrchr(path, '/');
    if (!slash) {
        *parent = ".";
        *base = path;
    } else {
        *slash = '\0';
        *parent = path;
        *base = slash + 1;
    }
}

static int do_hardlink(struct unpacker *u, int pfd, const char *base)
{
    cleanup_free char *target = NULL;
    if (fmt_layer_path_clean(archive_entry_hardlink(u->e), &target, u->err) < 0)
        return error_prefix(u->err, "hard link `%s`", u->entry);
    if (!strcmp(target, "."))
        return entry_err(u, EPERM, "hard link to the layer root (refused)", NULL);
    const char *tparent, *tbase;
    split(target, &tparent, &tbase);
    cleanup_close int tfd = fmt_open_beneath(u->root, tparent, O_PATH | O_DIRECTORY, 0);
    if (tfd < 0) {
        if (errno == ENOENT)
            return entry_err(u, ENOENT, "hard link target is not in the layer",
                             archive_entry_hardlink(u->e));
        return resolve_err(u, archive_entry_hardlink(u->e));
    }
    struct stat st;
    if (fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_err(u, ENOENT, "hard link target is not in the layer",
                         archive_entry_hardlink(u->e));
    if (S_ISDIR(st.st_mode))
        return entry_err(u, EPERM, "hard link to a directory (refused)",
                         archive_entry_hardlink(u->e));
    /* flags 0: a link to a symlink links the symlink itself, never its target */
    if (linkat(tfd, tbase, pfd, base, 0) < 0)
        return entry_errno(u, "link");
    return 0;
}

static int unpack_entry(struct unpacker *u)
{
    struct archive_entry *e = u->e;
    u->entry = archive_entry_pathname(e);
    if (!u->entry)
        return error_set(u->err, EINVAL, "entry with no name");
    cleanup_free char *path = NULL;
    if (fmt_layer_path_clean(u->entry, &path, u->err) < 0)
        return -1;
    mode_t type = archive_entry_filetype(e);
    mode_t perm = archive_entry_perm(e) & 07777;
    bool hardlink = archive_entry_hardlink(e) != NULL;

    if (!strcmp(path, ".")) {
        if (hardlink || type != AE_IFDIR)
            return entry_err(u, EINVAL, "the layer root must be a directory", NULL);
        return do_dir(u, u->root, ".", ".", perm);
    }
    switch (type) {
    case AE_IFREG: case AE_IFDIR: case AE_IFLNK: case AE_IFCHR: case AE_IFBLK: case AE_IFIFO:
        break;
    case AE_IFSOCK:
        return 0; /* tar cannot carry sockets meaningfully; skip like tar does */
    default:
        if (!hardlink)
            return entry_err(u, EINVAL, "unsupported entry type", NULL);
    }

    cleanup_free char *copy = xstrdup(path);
    const char *parent, *base;
    split(copy, &parent, &base);
    int pfd = get_parent(u, parent);
    if (pfd < 0)
        return -1;

    /* a later entry replaces an earlier one (tar semantics), never
     * through it: the old one is unlinked, the new one created O_EXCL */
    struct stat ex;
    if (fstatat(pfd, base, &ex, AT_SYMLINK_NOFOLLOW) == 0) {
        bool new_dir = !hardlink && type == AE_IFDIR;
        if (S_ISDIR(ex.st_mode) && new_dir) {
            /* merge: keep the children, refresh the metadata */
        } else if (S_ISDIR(ex.st_mode)) {
            if (unlinkat(pfd, base, AT_REMOVEDIR) < 0) {
                if (errno == ENOTEMPTY || errno == EEXIST)
                    return entry_err(u, ENOTEMPTY, "replaces a non-empty directory", NULL);
                return entry_errno(u, "remove the directory it replaces");
            }
            invalidate_parent(u);
            pfd = get_parent(u, parent);
            if (pfd < 0)
                return -1;
        } else if (unlinkat(pfd, base, 0) < 0) {
            return entry_errno(u, "remove the file it replaces");
        }
    } else if (errno != ENOENT) {
        return entry_errno(u, "stat");
    }

    if (hardlink)
        return do_hardlink(u, pfd, base);
    switch (type) {
    case AE_IFREG:
        return do_regular(u, pfd, base, S_IFREG, perm);
    case AE_IFDIR:
        return do_dir(u, pfd, base, path, perm);
    case AE_IFLNK:
        return do_symlink(u, pfd, base);
    case AE_IFCHR:
    case AE_IFBLK:
        if (u->rootless)
            return do_regular(u, pfd, base, type, perm);
        return do_special(u, pfd, base, type, perm);
    default: /* AE_IFIFO */
        return do_special(u, pfd, base, S_IFIFO, perm);
    }
}

static int finish_dirs(struct unpacker *u)
{
    for (size_t i = 0; i < u->n_dirs; i++) {
        struct dir_meta *m = &u->dirs[i];
        cleanup_close int fd = !strcmp(m->path, ".")
            ? openat(u->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            : fmt_open_beneath(u->root, m->path, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0) {
            if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
                continue; /* replaced by a later entry */
            return error_errno(u->err, "reopen directory `%s`", m->path);
        }
        mode_t mode = u->rootless ? (m->mode & 0777) | 0700 : m->mode;
        if (fchmod(fd, mode) < 0)
            return error_errno(u->err, "chmod directory `%s`", m->path);
        struct timespec ts[2] = {{0, UTIME_OMIT}, m->mtime};
        if (m->has_mtime && futimens(fd, ts) < 0)
            return error_errno(u->err, "set mtime of directory `%s`", m->path);
    }
    return 0;
}

/* Real root: euid 0 in the initial user namespace (all ids mapped).  Root
 * inside a user namespace cannot chown to unmapped ids, so it unpacks the
 * rootless way. */
static bool can_chown_anything(void)
{
    if (geteuid() != 0)
        return false;
    cleanup_fclose FILE *f = fopen("/proc/self/uid_map", "re");
    unsigned long inside, outside, count;
    if (!f)
        return true; /* no /proc: assume the initial namespace */
    if (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) != 3)
        return false;
    return inside == 0 && outside == 0 && count == 4294967295UL;
}

int fmt_layer_unpack(fmt_source_fn source, void *source_ctx, const char *what,
                     int target_dirfd, const struct fmt_layer_unpack_opts *o,
                     char diff_id[FMT_DIGEST_MAX], struct error *err)
{
    struct unpacker u = {
        .root = target_dirfd,
        .rootless = o && o->rootless >= 0 ? o->rootless != 0 : !can_chown_anything(),
        .what = what,
        .err = err,
        .cached_fd = -1,
    };
    cleanup_free char *last = NULL;
    int ret = -1;
    u.diff = fmt_digester_new();
    u.inbuf = xmalloc(128 * 1024);
    if (fmt_decompressor_new(source, source_ctx, what, &u.d, err) < 0)
        goto out;
    u.a = archive_read_new();
    archive_read_support_format_tar(u.a);
    if (archive_read_open(u.a, &u, NULL, unpack_read, NULL) != ARCHIVE_OK) {
        if (!u.in_failed)
            error_set(err, EINVAL, "not a tar archive: %s", archive_error_string(u.a));
        goto out;
    }
    for (;;) {
        int r = archive_read_next_header(u.a, &u.e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            if (!u.in_failed) {
                if (last)
                    error_set(err, EINVAL, "bad tar header after entry `%s`: %s", last,
                              archive_error_string(u.a));
                else
                    error_set(err, EINVAL, "not a tar archive: %s", archive_error_string(u.a));
            }
            goto out;
        }
        if (unpack_entry(&u) < 0)
            goto out;
        free(last);
        last = xstrdup(archive_entry_pathname(u.e));
    }
    /* the rest of the stream (end blocks, padding) is part of the diff_id */
    for (;;) {
        const void *buf;
        la_ssize_t n = unpack_read(u.a, &u, &buf);
        if (n < 0)
            goto out;
        if (n == 0)
            break;
    }
    char got[FMT_DIGEST_MAX];
    fmt_digester_final(u.diff, got);
    if (o && o->expected_diff_id && strcmp(o->expected_diff_id, got) != 0) {
        error_set(err, EILSEQ, "diff_id mismatch: expected `%s`, got `%s`",
                  o->expected_diff_id, got);
        goto out;
    }
    if (finish_dirs(&u) < 0)
        goto out;
    if (diff_id)
        memcpy(diff_id, got, FMT_DIGEST_MAX);
    ret = 0;
out:
    if (ret < 0)
        error_prefix(err, "unpack layer `%s`", what);
    invalidate_parent(&u);
    for (size_t i = 0; i < u.n_dirs; i++)
        free(u.dirs[i].path);
    free(u.dirs);
    if (u.a)
        archive_read_free(u.a);
    fmt_decompressor_free(u.d);
    fmt_digester_free(u.diff);
    free(u.inbuf);
    return ret;
}
