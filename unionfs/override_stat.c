/* containers-storage's user.containers.override_stat: "UID:GID:MODE" with
 * MODE in octal (permission and setuid/setgid/sticky bits), optionally
 * followed by ":TYPE" where TYPE is file, dir, symlink, pipe, socket,
 * block-MAJOR-MINOR or char-MAJOR-MINOR.  Kept small on purpose: when
 * format/override_stat.h lands on main this file switches to it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "unionfs/internal.h"

static int parse_uint(const char **p, int base, unsigned long *out)
{
    char *end;
    errno = 0;
    if (**p < '0' || **p > '9')
        return -1;
    *out = strtoul(*p, &end, base);
    if (errno || end == *p)
        return -1;
    *p = end;
    return 0;
}

int ufs_override_parse(const char *s, size_t len, struct ufs_override *ov)
{
    char buf[128];
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    const char *p = buf;
    unsigned long uid, gid, mode;
    if (parse_uint(&p, 10, &uid) < 0 || *p++ != ':' || parse_uint(&p, 10, &gid) < 0 ||
        *p++ != ':' || parse_uint(&p, 8, &mode) < 0)
        return -1;
    if (mode & ~07777UL)
        return -1;
    memset(ov, 0, sizeof *ov);
    ov->uid = (uid_t)uid;
    ov->gid = (gid_t)gid;
    ov->mode = (mode_t)mode;
    if (!*p)
        return 0;
    if (*p++ != ':')
        return -1;
    unsigned long ma = 0, mi = 0;
    if (!strcmp(p, "file"))
        ov->mode |= S_IFREG;
    else if (!strcmp(p, "dir"))
        ov->mode |= S_IFDIR;
    else if (!strcmp(p, "symlink"))
        ov->mode |= S_IFLNK;
    else if (!strcmp(p, "pipe"))
        ov->mode |= S_IFIFO;
    else if (!strcmp(p, "socket"))
        ov->mode |= S_IFSOCK;
    else if (!strncmp(p, "block-", 6) || !strncmp(p, "char-", 5)) {
        bool blk = p[0] == 'b';
        p += blk ? 6 : 5;
        if (parse_uint(&p, 10, &ma) < 0 || *p++ != '-' || parse_uint(&p, 10, &mi) < 0 || *p)
            return -1;
        ov->mode |= blk ? S_IFBLK : S_IFCHR;
        ov->rdev = makedev(ma, mi);
    } else
        return -1;
    return 0;
}

int ufs_override_format(const struct ufs_override *ov, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%u:%u:0%o", (unsigned)ov->uid, (unsigned)ov->gid,
                     (unsigned)(ov->mode & 07777));
    if (n < 0 || (size_t)n >= size)
        return -1;
    const char *type = NULL;
    switch (ov->mode & S_IFMT) {
    case 0: break;
    case S_IFREG: type = "file"; break;
    case S_IFDIR: type = "dir"; break;
    case S_IFLNK: type = "symlink"; break;
    case S_IFIFO: type = "pipe"; break;
    case S_IFSOCK: type = "socket"; break;
    case S_IFBLK:
    case S_IFCHR: {
        int m = snprintf(buf + n, size - (size_t)n, ":%s-%u-%u",
                         S_ISBLK(ov->mode) ? "block" : "char", major(ov->rdev), minor(ov->rdev));
        return m < 0 || (size_t)m >= size - (size_t)n ? -1 : n + m;
    }
    }
    if (type) {
        int m = snprintf(buf + n, size - (size_t)n, ":%s", type);
        if (m < 0 || (size_t)m >= size - (size_t)n)
            return -1;
        n += m;
    }
    return n;
}

/* O_PATH fds refuse f*xattr: go through /proc/self/fd, which reaches the
 * same inode. */
int ufs_override_get(int fd, bool is_link, struct ufs_override *ov)
{
    char v[128];
    ssize_t r;
    if (is_link)
        return -1;
    r = fgetxattr(fd, UFS_XATTR_OVERRIDE, v, sizeof v);
    if (r < 0 && errno == EBADF) {
        char path[64];
        ufs_proc_path(path, sizeof path, fd);
        r = getxattr(path, UFS_XATTR_OVERRIDE, v, sizeof v);
    }
    if (r <= 0)
        return -1;
    return ufs_override_parse(v, (size_t)r, ov);
}

int ufs_override_set(int fd, const struct ufs_override *ov)
{
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
