#include "format/override_stat.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

size_t fmt_override_stat_format(const struct fmt_override_stat *o,
                                char buf[FMT_OVERRIDE_STAT_MAX])
{
    char type[48];
    switch (o->mode & S_IFMT) {
    case S_IFDIR:
        strcpy(type, "dir");
        break;
    case S_IFLNK:
        strcpy(type, "symlink");
        break;
    case S_IFIFO:
        strcpy(type, "pipe");
        break;
    case S_IFSOCK:
        strcpy(type, "socket");
        break;
    case S_IFBLK:
        snprintf(type, sizeof type, "block-%u-%u", major(o->rdev), minor(o->rdev));
        break;
    case S_IFCHR:
        snprintf(type, sizeof type, "char-%u-%u", major(o->rdev), minor(o->rdev));
        break;
    default:
        strcpy(type, "file");
        break;
    }
    int n = snprintf(buf, FMT_OVERRIDE_STAT_MAX, "%u:%u:%04o:%s", (unsigned)o->uid,
                     (unsigned)o->gid, (unsigned)(o->mode & 07777), type);
    return (size_t)n;
}

static bool parse_uint(const char **p, const char *end, int base, unsigned long long max,
                       unsigned long long *out)
{
    const char *s = *p;
    unsigned long long v = 0;
    if (s == end)
        return false;
    for (; s < end && *s != ':' && *s != '-'; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else
            return false;
        if (d >= base)
            return false;
        v = v * (unsigned)base + (unsigned)d;
        if (v > max)
            return false;
    }
    if (s == *p)
        return false;
    *out = v;
    *p = s;
    return true;
}

static bool parse_dev(const char *s, const char *end, dev_t *rdev)
{
    unsigned long long ma, mi;
    if (!parse_uint(&s, end, 10, UINT32_MAX, &ma) || s == end || *s != '-')
        return false;
    s++;
    if (!parse_uint(&s, end, 10, UINT32_MAX, &mi))
        return false;
    /* containers/storage ignores further "-..." parts for forward compatibility */
    if (s != end && *s != '-')
        return false;
    *rdev = makedev((unsigned)ma, (unsigned)mi);
    return true;
}

static bool has_prefix(const char *s, const char *end, const char *prefix)
{
    size_t n = strlen(prefix);
    return (size_t)(end - s) >= n && !memcmp(s, prefix, n);
}

int fmt_override_stat_parse(const char *value, size_t len, struct fmt_override_stat *o,
                            struct error *err)
{
    const char *p = value, *end = value + len;
    while (end > p && (end[-1] == '\0' || end[-1] == '\n'))
        end--;
    unsigned long long uid, gid, mode;
    memset(o, 0, sizeof *o);
    if (!parse_uint(&p, end, 10, UINT32_MAX - 1, &uid) || p == end || *p++ != ':' ||
        !parse_uint(&p, end, 10, UINT32_MAX - 1, &gid) || p == end || *p++ != ':' ||
        !parse_uint(&p, end, 8, 0177777, &mode))
        goto bad;
    o->uid = (uid_t)uid;
    o->gid = (gid_t)gid;
    o->mode = (mode_t)(mode & 07777);
    if (p == end) {
        if (mode & S_IFMT) {
            o->mode |= (mode_t)(mode & S_IFMT);
            o->has_type = true;
        }
        return 0;
    }
    if (*p++ != ':')
        goto bad;
    o->has_type = true;
    if (has_prefix(p, end, "block-")) {
        o->mode |= S_IFBLK;
        if (!parse_dev(p + 6, end, &o->rdev))
            goto bad;
    } else if (has_prefix(p, end, "char-")) {
        o->mode |= S_IFCHR;
        if (!parse_dev(p + 5, end, &o->rdev))
            goto bad;
    } else if (has_prefix(p, end, "file")) {
        o->mode |= S_IFREG;
    } else if (has_prefix(p, end, "dir")) {
        o->mode |= S_IFDIR;
    } else if (has_prefix(p, end, "symlink")) {
        o->mode |= S_IFLNK;
    } else if (has_prefix(p, end, "pipe")) {
        o->mode |= S_IFIFO;
    } else if (has_prefix(p, end, "socket")) {
        o->mode |= S_IFSOCK;
    } else {
        goto bad;
    }
    return 0;
bad:
    return error_set(err, EINVAL, "malformed `%s` value `%.*s`", FMT_OVERRIDE_STAT_XATTR,
                     (int)(len > 80 ? 80 : len), value);
}

int fmt_override_stat_get(int fd, struct fmt_override_stat *o, struct error *err)
{
    char buf[FMT_OVERRIDE_STAT_MAX + 32];
    ssize_t n = fgetxattr(fd, FMT_OVERRIDE_STAT_XATTR, buf, sizeof buf);
    if (n < 0) {
        if (errno == ENODATA || errno == ENOTSUP)
            return 0;
        return error_errno(err, "read xattr `%s`", FMT_OVERRIDE_STAT_XATTR);
    }
    if (fmt_override_stat_parse(buf, (size_t)n, o, err) < 0)
        return -1;
    return 1;
}

int fmt_override_stat_set(int fd, const struct fmt_override_stat *o, struct error *err)
{
    char buf[FMT_OVERRIDE_STAT_MAX];
    size_t n = fmt_override_stat_format(o, buf);
    if (fsetxattr(fd, FMT_OVERRIDE_STAT_XATTR, buf, n, 0) < 0)
        return error_errno(err, "set xattr `%s`", FMT_OVERRIDE_STAT_XATTR);
    return 0;
}

void fmt_override_stat_apply(const struct fmt_override_stat *o, struct stat *st)
{
    st->st_uid = o->uid;
    st->st_gid = o->gid;
    if (o->has_type) {
        st->st_mode = o->mode;
        if (S_ISCHR(o->mode) || S_ISBLK(o->mode))
            st->st_rdev = o->rdev;
    } else {
        st->st_mode = (st->st_mode & S_IFMT) | (o->mode & 07777);
    }
}
