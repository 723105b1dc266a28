/* The layer unpacker: a layer (tar, gzip or zstd, detected by content) →
 * a directory usable as a union lower.  Whiteouts stay `.wh.` files.
 *
 * libarchive only parses the stream; every file is created here with *at()
 * calls relative to the target directory, parents resolved with openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a hostile layer cannot touch
 * anything outside the target.  Refused, with an error naming the entry:
 * `..` components, paths (or hard-link targets) that go through a symlink,
 * hard links to missing or outside paths, names longer than PATH_MAX or with
 * a component over NAME_MAX, xattr values over 64 KiB, malformed headers.
 * A leading "/" is stripped (see layer_path.h).
 *
 * As root: real owners, modes, xattrs, device nodes.  Rootless: files are
 * owned by the caller and kept readable and writable by it (dirs u+rwx,
 * files u+rw, no setuid/setgid bits on disk); the real uid:gid:mode, and
 * the type and numbers of device nodes (which become empty regular files),
 * are kept in user.containers.override_stat (override_stat.h).  Fifos stay
 * fifos (they cannot carry user xattrs; their owner is lost), symlinks keep
 * the caller as owner, only user.* xattrs can be kept.
 * xattrs are set on regular files and directories only (symlinks and
 * device nodes carry none, in either mode); security.selinux and the
 * union's own xattrs (whiteout.h) in a layer are ignored. */
#ifndef STRATA_FORMAT_LAYER_UNPACK_H
#define STRATA_FORMAT_LAYER_UNPACK_H

#include "common/error.h"
#include "format/compress.h"
#include "format/digest.h"

struct fmt_layer_unpack_opts {
    /* -1: rootless unless this is real root (euid 0 with the whole uid range
     * mapped, i.e. not root in a user namespace); 0: root; 1: rootless */
    int rootless;
    const char *expected_diff_id; /* when set, a different diff_id is an error */
};

/* Unpacks into the (empty or partially filled) directory target_dirfd.
 * `what` names the layer in errors.  diff_id (may be NULL) receives the
 * sha256 of the uncompressed tar.  On error the target holds a partial
 * tree: the caller removes it. */
int fmt_layer_unpack(fmt_source_fn source, void *source_ctx, const char *what,
                     int target_dirfd, const struct fmt_layer_unpack_opts *o,
                     char diff_id[FMT_DIGEST_MAX], struct error *err);

#endif
