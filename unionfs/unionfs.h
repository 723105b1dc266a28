/* unionfs: a FUSE3 union filesystem (read-only lowers + one writable upper),
 * usable in-process by run/ and builder/ and as the strata-unionfs program.
 *
 * The upper directory uses OCI whiteouts (`.wh.NAME` files and the
 * `.wh..wh..opq` opaque marker), so format/ can tar it straight into a
 * layer.  Lowers may also use the kernel overlayfs forms (0/0 character
 * devices, trusted.overlay.opaque / user.overlay.opaque = "y").
 *
 * One extension is not OCI: a directory renamed away from where the lowers
 * have it is stored in the upper as a new directory carrying the xattr
 * UFS_XATTR_REDIRECT = "/old/path" (its lower contents are found there) and
 * a whiteout at the old name.  Before tarring an upper into a layer call
 * ufs_upper_flatten() (unmounted), which copies the redirected lower
 * contents into the upper so it becomes plain OCI. */
#ifndef STRATA_UNIONFS_UNIONFS_H
#define STRATA_UNIONFS_UNIONFS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

#define UFS_XATTR_REDIRECT "user.strata.redirect"
#define UFS_XATTR_OVERRIDE "user.containers.override_stat"

/* One contiguous id range of a uidmapping/gidmapping option, fuse-overlayfs
 * style: ids [container, container+count) in the mount are stored as
 * [host, host+count) in the layers. */
struct ufs_idmap_range {
    unsigned container, host, count;
};

struct ufs_options {
    const char **lowers;  /* leftmost = top, as overlayfs' lowerdir */
    size_t n_lowers;      /* at least one lower, or an upper */
    const char *upper;    /* NULL = read-only mount (EROFS on writes) */
    const char *work;     /* required with upper; same filesystem as upper */
    bool rootless_override; /* present/record user.containers.override_stat */
    bool volatile_mode;   /* skip fsync requests */
    bool squash_to_root;  /* every file appears owned by 0:0 */
    const struct ufs_idmap_range *uidmap; /* NULL = identity */
    size_t n_uidmap;
    const struct ufs_idmap_range *gidmap;
    size_t n_gidmap;
    const char *fuse_opts; /* extra -o options for the kernel mount, or NULL */
    bool debug;            /* libfuse request tracing on stderr */
    /* fsync every copy-up before it is renamed into place.  Without it a
     * copy-up is still atomic against a crash of the daemon (kill -9), and
     * as durable against power loss as the container's own fsync calls
     * make it (fuse-overlayfs' behaviour); with it, as kernel overlayfs. */
    bool durable_copyup;
    /* ufs_mount_start only: paths ("etc/hostname", NULL-terminated) made
     * as empty files in the upper before mounting when no layer has them,
     * their directories copied up; mount points a runtime binds over */
    const char *const *placeholders;
    /* never FUSE passthrough (for comparisons): as root on Linux >= 6.9
     * reads and writes of open files otherwise skip the daemon */
    bool no_passthrough;
    /* ufs_mount_start only: return once the mount exists, before the
     * kernel's INIT is answered (the first request waits for it) */
    bool async_init;
};

struct ufs_mount;

/* Mounts at mountpoint and serves requests from background threads of this
 * process; returns once the mount answers.  Works as root, inside a user
 * namespace that owns the mount namespace, or (otherwise) via fusermount3.
 * The caller may fork() afterwards: children only use the mount, they never
 * touch the serving threads. */
int ufs_mount_start(const struct ufs_options *o, const char *mountpoint,
                    struct ufs_mount **out, struct error *err);

/* Unmounts (lazily if busy), joins the threads and frees m.  NULL is a no-op. */
int ufs_mount_stop(struct ufs_mount *m, struct error *err);

/* Rewrites an unmounted upper so it is plain OCI: every redirected
 * directory gets its lower contents copied in (whiteouts respected) and is
 * made opaque; the redirect xattr is removed. */
int ufs_upper_flatten(const struct ufs_options *o, struct error *err);

/* Parses "lowerdir=A:B,upperdir=U,workdir=W,volatile,..." (fuse-overlayfs
 * option names) into o; unknown options the kernel understands are kept in
 * o->fuse_opts.  Strings in o point into *storage, freed with
 * ufs_options_free(). */
struct ufs_parsed_options;
int ufs_options_parse(const char *optstr, struct ufs_options *o,
                      struct ufs_parsed_options **storage, struct error *err);
void ufs_options_free(struct ufs_parsed_options *storage);

#endif
