#include "format/layer_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/xalloc.h"

int fmt_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = resolve,
    };
    int fd;
    do
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    while (fd < 0 && errno == EINTR);
    return fd;
}

int fmt_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
    return fmt_openat2(dirfd, path, flags, mode,
                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

int fmt_layer_path_clean(const char *name, char **out, struct error *err)
{
    if (!name || !*name)
        return error_set(err, EINVAL, "entry with an empty name");
    size_t len = strlen(name);
    if (len >= PATH_MAX)
        return error_set(err, ENAMETOOLONG, "entry `%.64s...`: name is %zu bytes long (max %d)",
                         name, len, PATH_MAX - 1);
    char *res = xmalloc(len + 2);
    size_t n = 0;
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t clen = (size_t)(p - start);
        if (clen == 0 || (clen == 1 && start[0] == '.'))
            continue;
        if (clen == 2 && start[0] == '.' && start[1] == '.') {
            free(res);
            return error_set(err, EPERM, "entry `%s`: `..` in a layer path is refused", name);
        }
        if (clen > NAME_MAX) {
            free(res);
            return error_set(err, ENAMETOOLONG, "entry `%.64s...`: a path component is longer "
                             "than %d bytes", name, NAME_MAX);
        }
        if (n)
            res[n++] = '/';
        memcpy(res + n, start, clen);
        n += clen;
    }
    if (n == 0)
        res[n++] = '.';
    res[n] = '\0';
    *out = res;
    return 0;
}
