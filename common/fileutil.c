#include "common/fileutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

int write_all(int fd, const void *buf, size_t len, struct error *err)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_errno(err, "write");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int read_all_fd(int fd, char **out, size_t *out_len, struct error *err)
{
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (cap - len < 2) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return error_errno(err, "read");
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len)
        *out_len = len;
    return 0;
}

int read_file_at(int dirfd, const char *path, char **out, size_t *out_len,
                 struct error *err)
{
    cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `%s`", path);
    if (read_all_fd(fd, out, out_len, err) < 0)
        return error_prefix(err, "read `%s`", path);
    return 0;
}

static char *dir_part(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

int fsync_dir_of(int dirfd, const char *path, struct error *err)
{
    cleanup_free char *dir = dir_part(path);
    cleanup_close int fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open directory `%s`", dir);
    if (fsync(fd) < 0 && errno != EINVAL)
        return error_errno(err, "fsync directory `%s`", dir);
    return 0;
}

int open_temp_at(int dirfd, const char *path, mode_t mode, char **tmp_name,
                 struct error *err)
{
    static unsigned counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        char *name = xasprintf("%s.tmp-%d-%u", path, (int)getpid(),
                               __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0) {
            *tmp_name = name;
            return fd;
        }
        int saved = errno;
        free(name);
        if (saved != EEXIST) {
            errno = saved;
            return error_errno(err, "create temporary file for `%s`", path);
        }
    }
    return error_set(err, EEXIST, "create temporary file for `%s`: too many collisions", path);
}

int commit_temp_at(int dirfd, int fd, const char *tmp_name, const char *path,
                   struct error *err)
{
    if (fsync(fd) < 0) {
        error_errno(err, "fsync `%s`", tmp_name);
        unlinkat(dirfd, tmp_name, 0);
        return -1;
    }
    if (renameat(dirfd, tmp_name, dirfd, path) < 0) {
        error_errno(err, "rename `%s` to `%s`", tmp_name, path);
        unlinkat(dirfd, tmp_name, 0);
        return -1;
    }
    return fsync_dir_of(dirfd, path, err);
}

int atomic_write_at(int dirfd, const char *path, const void *buf, size_t len,
                    mode_t mode, struct error *err)
{
    cleanup_free char *tmp = NULL;
    cleanup_close int fd = open_temp_at(dirfd, path, mode, &tmp, err);
    if (fd < 0)
        return -1;
    if (fchmod(fd, mode) < 0) { /* undo the umask: the caller asked for mode */
        error_errno(err, "chmod `%s`", tmp);
        unlinkat(dirfd, tmp, 0);
        return -1;
    }
    if (write_all(fd, buf, len, err) < 0) {
        error_prefix(err, "write `%s`", tmp);
        unlinkat(dirfd, tmp, 0);
        return -1;
    }
    return commit_temp_at(dirfd, fd, tmp, path, err);
}

int mkdir_p_at(int dirfd, const char *path, mode_t mode, struct error *err)
{
    cleanup_free char *copy = xstrdup(path);
    for (char *p = copy + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdirat(dirfd, copy, mode) < 0 && errno != EEXIST)
            return error_errno(err, "mkdir `%s`", copy);
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (fstatat(dirfd, path, &st, 0) < 0)
        return error_errno(err, "stat `%s`", path);
    if (!S_ISDIR(st.st_mode))
        return error_set(err, ENOTDIR, "`%s` exists and is not a directory", path);
    return 0;
}

static int rm_rf_children(int fd, const char *path, struct error *err)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return error_errno(err, "opendir `%s`", path);
    }
    struct dirent *de;
    int ret = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno == ENOENT)
            continue;
        if (errno != EISDIR && errno != EPERM) {
            ret = error_errno(err, "remove `%s/%s`", path, de->d_name);
            break;
        }
        int child = openat(dirfd(d), de->d_name,
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child < 0) {
            ret = error_errno(err, "remove `%s/%s`", path, de->d_name);
            break;
        }
        cleanup_free char *sub = xasprintf("%s/%s", path, de->d_name);
        if (rm_rf_children(child, sub, err) < 0) {
            ret = -1;
            break;
        }
        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
            ret = error_errno(err, "rmdir `%s`", sub);
            break;
        }
    }
    closedir(d);
    return ret;
}

int rm_rf_at(int dirfd, const char *path, struct error *err)
{
    if (unlinkat(dirfd, path, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return error_errno(err, "remove `%s`", path);
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, "open `%s`", path);
    if (rm_rf_children(fd, path, err) < 0)
        return -1;
    if (unlinkat(dirfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return error_errno(err, "rmdir `%s`", path);
    return 0;
}

int lock_file_at(int dirfd, const char *path, bool exclusive, struct error *err)
{
    int fd = openat(dirfd, path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_errno(err, "open lock `%s`", path);
    while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
        if (errno == EINTR)
            continue;
        error_errno(err, "lock `%s`", path);
        close(fd);
        return -1;
    }
    return fd;
}

bool path_exists_at(int dirfd, const char *path)
{
    struct stat st;
    return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}
