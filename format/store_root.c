#include "format/store_root.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

static char *absolute(const char *path, struct error *err)
{
    if (path[0] == '/')
        return xstrdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        error_errno(err, "getcwd");
        return NULL;
    }
    return xasprintf("%s/%s", cwd, path);
}

char *fmt_store_root_resolve(const char *explicit_root, struct error *err)
{
    if (explicit_root && *explicit_root)
        return absolute(explicit_root, err);
    const char *env = getenv("STRATA_ROOT");
    if (env && *env)
        return absolute(env, err);
    if (geteuid() == 0)
        return xstrdup("/var/lib/strata");
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/strata", xdg);
    const char *home = getenv("HOME");
    if (!home || home[0] != '/') {
        error_set(err, ENOENT, "cannot place the store: $HOME is not set; use --root");
        return NULL;
    }
    return xasprintf("%s/.local/share/strata", home);
}
