/* Whiteouts: how a layer says "this path is deleted".
 *
 * In a layer tar (OCI image spec) and in strata's unpacked layers:
 *   DIR/.wh.NAME        NAME is deleted from the layers below
 *   DIR/.wh..wh..opq    DIR is opaque: nothing below shows through
 * In an upper dir written by kernel overlayfs (and so by tools that mimic it):
 *   a character device 0/0 named NAME           (a whiteout)
 *   a zero-size file with trusted.overlay.whiteout / user.overlay.whiteout
 *   a directory with trusted.overlay.opaque=y / user.overlay.opaque=y
 *   (fuse-overlayfs: user.fuseoverlayfs.opaque=y)
 * The layer writer turns the overlay forms into the OCI form. */
#ifndef STRATA_FORMAT_WHITEOUT_H
#define STRATA_FORMAT_WHITEOUT_H

#include <stdbool.h>
#include <sys/stat.h>

#define FMT_WHITEOUT_PREFIX ".wh."
#define FMT_WHITEOUT_OPAQUE ".wh..wh..opq"

/* A file name (one component) that is the opaque marker. */
bool fmt_whiteout_is_opaque(const char *name);
/* For ".wh.NAME" returns NAME; NULL for other names, for the opaque marker
 * and for other ".wh..wh." meta names. */
const char *fmt_whiteout_target(const char *name);

/* A 0/0 character device: overlayfs's whiteout. */
bool fmt_whiteout_is_overlay_device(const struct stat *st);
/* Does the directory open as fd carry an overlay opaque xattr set to "y"? */
bool fmt_whiteout_dir_is_opaque(int fd);
/* Does the regular file open as fd carry an overlay whiteout xattr
 * (overlayfs "xwhiteout", Linux 6.7+)? */
bool fmt_whiteout_file_is_whiteout(int fd);

/* xattrs that describe the union itself, never content: trusted.overlay.*,
 * user.overlay.*, user.fuseoverlayfs.*, user.strata.* (strata-unionfs's own
 * bookkeeping), and user.containers.override_stat
 * (consumed as metadata).  Not copied into layers, nor out of them. */
bool fmt_xattr_is_union_private(const char *name);

#endif
