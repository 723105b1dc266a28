/* strata-unionfs: the union filesystem as a mount program, with
 * fuse-overlayfs's command line so containers-storage can use it as
 * mount_program and mount.fuse3 can run it for `mount -t fuse.strata-unionfs`:
 *     strata-unionfs [-f] [-d] -o lowerdir=A:B,upperdir=U,workdir=W [SOURCE] MNT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "unionfs/internal.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: strata-unionfs [-f] [-d] -o lowerdir=A[:B...][,upperdir=U,workdir=W]"
               "[,volatile][,squash_to_root][,uidmapping=C:H:N][,gidmapping=C:H:N] [SOURCE] "
               "MOUNTPOINT\n"
               "       strata-unionfs --flatten -o lowerdir=...,upperdir=U,workdir=W\n");
}

/* As fuse-overlayfs: lowers unpacked rootless carry the override xattr on
 * their root, which turns the override mode on. */
static bool lowers_use_override(const struct ufs_options *o)
{
    for (size_t i = 0; i < o->n_lowers; i++)
        if (getxattr(o->lowers[i], UFS_XATTR_OVERRIDE, NULL, 0) >= 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    bool foreground = false, debug = false, flatten = false;
    cleanup_free char *optstr = xstrdup("");
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-f")) {
            foreground = true;
        } else if (!strcmp(a, "-d") || !strcmp(a, "--debug")) {
            debug = foreground = true;
        } else if (!strcmp(a, "--flatten")) {
            flatten = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-o") || !strncmp(a, "-o", 2)) {
            const char *v = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                usage(stderr);
                return 2;
            }
            char *n = xasprintf("%s%s%s", optstr, *optstr ? "," : "", v);
            free(optstr);
            optstr = n;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "strata-unionfs: unknown option `%s`\n", a);
            return 2;
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (npos == 0 && !flatten) {
        usage(stderr);
        return 2;
    }
    const char *mountpoint = npos ? pos[npos - 1] : NULL; /* mount.fuse3 passes SOURCE first */

    struct ufs_options o = {0};
    struct ufs_parsed_options *storage = NULL;
    struct error err = {0};
    struct ufs *fs = NULL;
    int rc = 1;
    if (ufs_options_parse(optstr, &o, &storage, &err) < 0)
        goto fail;
    if (flatten) {
        /* --flatten -o lowerdir=...,upperdir=...,workdir=...: make an
         * unmounted upper plain OCI (see ufs_upper_flatten) */
        if (ufs_upper_flatten(&o, &err) < 0)
            goto fail;
        ufs_options_free(storage);
        return 0;
    }
    o.debug = debug;
    if (!o.rootless_override && lowers_use_override(&o))
        o.rootless_override = true;
    if (ufs_fs_new(&o, &fs, &err) < 0 || ufs_session_new(fs, mountpoint, &err) < 0)
        goto fail;
    if (fuse_set_signal_handlers(fs->se) != 0) {
        error_set(&err, EIO, "install signal handlers");
        fuse_session_unmount(fs->se);
        goto fail;
    }
    /* forks (unless -f) only now, before any serving thread exists */
    if (fuse_daemonize(foreground) != 0) {
        error_set(&err, EIO, "daemonize");
        fuse_session_unmount(fs->se);
        goto fail;
    }
    rc = ufs_loop(fs, UFS_MAX_WORKERS) ? 1 : 0;
    fuse_remove_signal_handlers(fs->se);
    fuse_session_unmount(fs->se);
    fuse_session_destroy(fs->se);
    ufs_fs_free(fs);
    ufs_options_free(storage);
    return rc;
fail:
    fprintf(stderr, "strata-unionfs: %s\n", err.msg);
    if (fs && fs->se)
        fuse_session_destroy(fs->se);
    ufs_fs_free(fs);
    ufs_options_free(storage);
    return 1;
}
