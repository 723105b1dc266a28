#include "format/whiteout.h"

#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "format/override_stat.h"

bool fmt_whiteout_is_opaque(const char *name)
{
    return !strcmp(name, FMT_WHITEOUT_OPAQUE);
}

const char *fmt_whiteout_target(const char *name)
{
    if (strncmp(name, FMT_WHITEOUT_PREFIX, 4) != 0)
        return NULL;
    if (!strncmp(name + 4, FMT_WHITEOUT_PREFIX, 4) || name[4] == '\0')
        return NULL;
    return name + 4;
}

bool fmt_whiteout_is_overlay_device(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && major(st->st_rdev) == 0 && minor(st->st_rdev) == 0;
}

static bool xattr_is_y(int fd, const char *name)
{
    char v[4];
    ssize_t n = fgetxattr(fd, name, v, sizeof v);
    return n == 1 && v[0] == 'y';
}

bool fmt_whiteout_dir_is_opaque(int fd)
{
    return xattr_is_y(fd, "trusted.overlay.opaque") || xattr_is_y(fd, "user.overlay.opaque") ||
           xattr_is_y(fd, "user.fuseoverlayfs.opaque");
}

bool fmt_whiteout_file_is_whiteout(int fd)
{
    char v[4];
    return fgetxattr(fd, "trusted.overlay.whiteout", v, sizeof v) >= 0 ||
           fgetxattr(fd, "user.overlay.whiteout", v, sizeof v) >= 0;
}

bool fmt_xattr_is_union_private(const char *name)
{
    return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13) ||
           !strncmp(name, "user.fuseoverlayfs.", 19) || !strncmp(name, "user.strata.", 12) ||
           !strcmp(name, FMT_OVERRIDE_STAT_XATTR);
}
