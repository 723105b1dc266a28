/* The `user.containers.override_stat` xattr (containers/storage, read by
 * fuse-overlayfs): a rootless unpack cannot chown or mknod, so the file is
 * owned by the caller and its real owner, mode and type live here.
 *
 * Format, as containers/storage's idtools writes it:
 *     "UID:GID:MODE:TYPE"   e.g. "0:0:0755:dir", "0:5:0620:char-136-0"
 * UID and GID decimal, MODE octal permission bits with setuid/setgid/sticky
 * (at least 4 digits), TYPE one of file, dir, symlink, pipe, socket,
 * block-MAJOR-MINOR, char-MAJOR-MINOR.  Readers also accept the older
 * 3-field form "UID:GID:MODE" (type from the file itself), and a MODE that
 * carries S_IFMT bits (e.g. "040755") when no TYPE is given. */
#ifndef STRATA_FORMAT_OVERRIDE_STAT_H
#define STRATA_FORMAT_OVERRIDE_STAT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/error.h"

#define FMT_OVERRIDE_STAT_XATTR "user.containers.override_stat"
#define FMT_OVERRIDE_STAT_MAX 96 /* longest formatted value, with NUL */

struct fmt_override_stat {
    uid_t uid;
    gid_t gid;
    mode_t mode;   /* permission bits (07777) | file type (S_IFMT) when has_type */
    dev_t rdev;    /* devices only */
    bool has_type; /* false: the 3-field form, keep the file's own type */
};

/* Writes the 4-field form; returns its length. */
size_t fmt_override_stat_format(const struct fmt_override_stat *o,
                                char buf[FMT_OVERRIDE_STAT_MAX]);
int fmt_override_stat_parse(const char *value, size_t len, struct fmt_override_stat *o,
                            struct error *err);

/* Reads the xattr through fd (a regular file or directory; symlinks and
 * devices cannot carry user.* xattrs).  Returns 1 and fills o when present,
 * 0 when absent (or the filesystem has no user xattrs), -1 on a malformed
 * value or an I/O error. */
int fmt_override_stat_get(int fd, struct fmt_override_stat *o, struct error *err);
int fmt_override_stat_set(int fd, const struct fmt_override_stat *o, struct error *err);

/* Overlays o on st: owner, permission bits, and type/rdev when o has them. */
void fmt_override_stat_apply(const struct fmt_override_stat *o, struct stat *st);

#endif
