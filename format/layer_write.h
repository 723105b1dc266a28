/* The layer writer: a directory tree (a container's upper dir, or any tree)
 * → a compressed PAX tar, in one pass that also yields the diff_id (sha256
 * of the tar), the compressed digest and both sizes.
 *
 * The tar is reproducible: entries sorted by name (byte order, depth
 * first), numeric uid/gid only, whole-second mtimes, no atime/ctime,
 * xattrs of regular files and directories sorted by name (security.selinux
 * and the union's own xattrs left out; symlinks and devices carry none),
 * sockets skipped, hard links by dev/ino, overlay whiteouts converted to
 * `.wh.` files (see whiteout.h).  With a SOURCE_DATE_EPOCH, mtimes later
 * than it are clamped to it, so copies of a tree made at different times
 * give identical digests. */
#ifndef STRATA_FORMAT_LAYER_WRITE_H
#define STRATA_FORMAT_LAYER_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "format/compress.h"
#include "format/digest.h"
#include "format/manifest.h"
#include "format/store.h"

struct fmt_layer_write_opts {
    enum fmt_compression compression;
    int level;                 /* <= 0: the compressor's default */
    int threads;               /* <= 0: every online CPU */
    int64_t source_date_epoch; /* -1: none (the verbs read $SOURCE_DATE_EPOCH) */
    /* Take uid/gid/mode (and device type) from user.containers.override_stat
     * when present: the tree is a rootless upper or a rootless unpack. */
    bool override_stat;
    /* Emit a "./" entry for the tree's root directory itself (rootfs
     * tarballs have one; a container diff does not). */
    bool include_root;
};

/* gzip, default level, all CPUs, no epoch, override_stat on, no root entry. */
void fmt_layer_write_opts_init(struct fmt_layer_write_opts *o);

struct fmt_layer_info {
    char diff_id[FMT_DIGEST_MAX]; /* sha256 of the uncompressed tar */
    char digest[FMT_DIGEST_MAX];  /* sha256 of the bytes written */
    int64_t diff_size;            /* uncompressed tar size */
    int64_t size;                 /* compressed size */
    enum fmt_compression compression;
    const char *media_type;       /* OCI layer media type (static) */
};

/* Writes the tree under dirfd to sink.  `what` names the tree in errors. */
int fmt_layer_write_tree(int dirfd, const char *what, const struct fmt_layer_write_opts *o,
                         fmt_sink_fn sink, void *sink_ctx, struct fmt_layer_info *info,
                         struct error *err);
/* Same, into a new blob of the store (verified and committed). */
int fmt_layer_write_tree_blob(struct fmt_store *s, int dirfd, const char *what,
                              const struct fmt_layer_write_opts *o,
                              struct fmt_layer_info *info, struct error *err);

/* A tar stream (plain, gzip or zstd, detected by content) → a layer
 * compressed as o asks: for `strata import` and the builder's ADD.  The tar
 * is parsed as it passes, so a non-tar, a corrupt tar or one with `..`
 * entries is refused; the bytes are not rewritten (the diff_id is the
 * digest of the tar as given).  Only compression, level and threads of o
 * are used. */
int fmt_layer_recompress(fmt_source_fn source, void *source_ctx, const char *what,
                         const struct fmt_layer_write_opts *o, fmt_sink_fn sink,
                         void *sink_ctx, struct fmt_layer_info *info, struct error *err);
int fmt_layer_recompress_blob(struct fmt_store *s, fmt_source_fn source, void *source_ctx,
                              const char *what, const struct fmt_layer_write_opts *o,
                              struct fmt_layer_info *info, struct error *err);

/* A layer descriptor for a manifest (media type, digest, size, diff_id,
 * uncompressed size); clear it with fmt_descriptor_clear. */
void fmt_layer_info_descriptor(const struct fmt_layer_info *info, struct fmt_descriptor *d);

#endif
