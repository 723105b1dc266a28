/* containers-storage's user.containers.override_stat, through format/'s
 * parser and formatter; here only the access through O_PATH fds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "format/override_stat.h"
#include "unionfs/internal.h"

int ufs_override_parse(const char *s, size_t len, struct ufs_override *ov)
{
    struct fmt_override_stat f;
    struct error err;
    if (fmt_override_stat_parse(s, len, &f, &err) < 0)
        return -1;
    ov->uid = f.uid;
    ov->gid = f.gid;
    ov->mode = f.has_type ? f.mode : (f.mode & 07777);
    ov->rdev = f.rdev;
    return 0;
}

int ufs_override_format(const struct ufs_override *ov, char *buf, size_t size)
{
    char tmp[FMT_OVERRIDE_STAT_MAX];
    struct fmt_override_stat f = {.uid = ov->uid, .gid = ov->gid, .mode = ov->mode,
                                  .rdev = ov->rdev, .has_type = (ov->mode & S_IFMT) != 0};
    size_t n = fmt_override_stat_format(&f, tmp);
    if (n + 1 > size)
        return -1;
    memcpy(buf, tmp, n + 1);
    return (int)n;
}

/* O_PATH fds refuse f*xattr: go through /proc/self/fd, which reaches the
 * same inode. */
int ufs_override_get(int fd, bool opath, struct ufs_override *ov)
{
    char v[128];
    ssize_t r = opath ? -1 : fgetxattr(fd, UFS_XATTR_OVERRIDE, v, sizeof v);
    if (opath || (r < 0 && errno == EBADF)) {
        char path[64];
        ufs_proc_path(path, sizeof path, fd);
        r = getxattr(path, UFS_XATTR_OVERRIDE, v, sizeof v);
    }
    if (r <= 0)
        return -1;
    return ufs_override_parse(v, (size_t)r, ov);
}

int ufs_override_set(int fd, const struct ufs_override *in)
{
    /* the stored form always names a type: default to the real one */
    struct ufs_override copy = *in, *ov = &copy;
    struct stat st;
    if (!(ov->mode & S_IFMT)) {
        if (fstat(fd, &st) < 0)
            return errno;
        ov->mode |= st.st_mode & S_IFMT;
    }
    char v[128];
    int n = ufs_override_format(ov, v, sizeof v);
    if (n < 0)
        return EINVAL;
    if (fsetxattr(fd, UFS_XATTR_OVERRIDE, v, (size_t)n, 0) == 0)
        return 0;
    if (errno != EBADF)
        return errno;
    char path[64];
    ufs_proc_path(path, sizeof path, fd);
    return setxattr(path, UFS_XATTR_OVERRIDE, v, (size_t)n, 0) == 0 ? 0 : errno;
}
