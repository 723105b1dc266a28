/* Small helpers: /proc/self/fd reopening, whiteouts, ownership, xattr names. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unionfs/internal.h"

void ufs_proc_path(char *buf, size_t size, int fd)
{
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

int ufs_open_dir_beneath(int rootfd, const char *path)
{
    if (!*path)
        return fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH,
    };
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

DIR *ufs_opendir_at(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return d;
}

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

/* Set once a kernel refused the direct call: /proc paths from then on. */
static atomic_bool no_fchmodat2, no_utimens_empty;

/* chmod and utimensat of the object behind an O_PATH fd.  Linux 6.6+ takes
 * the fd itself (AT_EMPTY_PATH), which saves the walk through
 * /proc/self/fd/N; older kernels go through that path. */
int ufs_chmod_fd(int fd, mode_t mode)
{
    if (!atomic_load(&no_fchmodat2)) {
        if (syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno != ENOSYS && errno != EINVAL)
            return -1;
        atomic_store(&no_fchmodat2, true);
    }
    char path[64];
    ufs_proc_path(path, sizeof path, fd);
    return chmod(path, mode);
}

int ufs_utimens_fd(int fd, const struct timespec ts[2])
{
    if (!atomic_load(&no_utimens_empty)) {
        if (utimensat(fd, "", ts, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno != EINVAL && errno != ENOENT)
            return -1;
        atomic_store(&no_utimens_empty, true);
    }
    char path[64];
    ufs_proc_path(path, sizeof path, fd);
    return utimensat(AT_FDCWD, path, ts, 0);
}

/* Opens the object behind an O_PATH fd with real access flags. */
int ufs_reopen(int fd, int flags)
{
    char path[64];
    ufs_proc_path(path, sizeof path, fd);
    return open(path, (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
}

int ufs_make_whiteout(int dirfd, const char *name)
{
    char wh[NAME_MAX + 8];
    if (strlen(name) > NAME_MAX - UFS_WH_PREFIX_LEN)
        return ENAMETOOLONG;
    snprintf(wh, sizeof wh, UFS_WH_PREFIX "%s", name);
    int fd = openat(dirfd, wh, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

int ufs_unlink_whiteout(int dirfd, const char *name)
{
    char wh[NAME_MAX + 8];
    if (strlen(name) > NAME_MAX - UFS_WH_PREFIX_LEN)
        return 0;
    snprintf(wh, sizeof wh, UFS_WH_PREFIX "%s", name);
    if (unlinkat(dirfd, wh, 0) < 0 && errno != ENOENT)
        return errno;
    return 0;
}

/* Gives a new or chowned object its owner.  Where the kernel refuses
 * (rootless, id not mapped) the owner is recorded in the override xattr
 * when that mode is on, else the object keeps the daemon's ids.  mode is
 * the full st_mode the object should present. */
int ufs_set_owner(struct ufs *fs, int fd, bool is_link, int dirfd, const char *name,
                  uid_t uid, gid_t gid, mode_t mode)
{
    uid_t huid = ufs_uid_to_host(fs, uid);
    gid_t hgid = ufs_gid_to_host(fs, gid);
    struct ufs_override ov;
    bool had = fs->o.rootless_override && !is_link && ufs_override_get(fd, false, &ov) == 0;
    if (!had && huid == fs->euid && hgid == fs->egid)
        return 0;
    int r;
    if (is_link && dirfd >= 0)
        r = fchownat(dirfd, name, huid, hgid, AT_SYMLINK_NOFOLLOW);
    else
        r = fchownat(fd, "", huid, hgid, AT_EMPTY_PATH);
    if (r == 0 && !had)
        return 0;
    int saved = errno;
    if (!fs->o.rootless_override)
        return r == 0 ? 0 : saved;
    if (is_link)
        return 0; /* symlinks take no user.* xattrs; their owner hardly matters */
    ov.uid = huid;
    ov.gid = hgid;
    ov.mode = mode & (07777 | S_IFMT);
    ov.rdev = 0;
    if (!(S_ISCHR(mode) || S_ISBLK(mode)))
        ov.mode &= 07777;
    return ufs_override_set(fd, &ov);
}

bool ufs_xattr_hidden(struct ufs *fs, const char *name)
{
    if (!strncmp(name, "user.strata.", 12) || !strncmp(name, "trusted.overlay.", 16) ||
        !strncmp(name, "user.overlay.", 13))
        return true;
    return fs->o.rootless_override && !strcmp(name, UFS_XATTR_OVERRIDE);
}
