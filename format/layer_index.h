/* A layer's table of contents, read from the tar headers as a stream (no
 * unpacking): one entry per tar member with whiteouts decoded.  Content
 * digests are computed only when asked (comparing two images needs them,
 * listing a layer does not).  Indexes are cached once per diff_id under
 * STORE/cache/layer-index/<hex>.json, so a layer is read at most once for
 * headers and once more for digests, whatever number of images share it. */
#ifndef STRATA_FORMAT_LAYER_INDEX_H
#define STRATA_FORMAT_LAYER_INDEX_H

#include "format/libarchive.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "format/digest.h"
#include "format/manifest.h"
#include "format/store.h"

enum fmt_entry_type {
    FMT_ENTRY_FILE,
    FMT_ENTRY_DIR,
    FMT_ENTRY_SYMLINK,
    FMT_ENTRY_HARDLINK,
    FMT_ENTRY_CHAR,
    FMT_ENTRY_BLOCK,
    FMT_ENTRY_FIFO,
    FMT_ENTRY_SOCKET,
    /* `dir/.wh.NAME`: path is dir/NAME, removed with all it contains */
    FMT_ENTRY_WHITEOUT,
    /* `dir/.wh..wh..opq`: path is dir; what lower layers put in it is hidden */
    FMT_ENTRY_OPAQUE,
};

struct fmt_layer_entry {
    char *path;   /* relative, no "./" or leading "/", no trailing "/" ("" = root) */
    char *link;   /* symlink target or hardlink target path; NULL otherwise */
    enum fmt_entry_type type;
    uint32_t mode; /* permission bits (07777) */
    uint32_t uid, gid;
    uint32_t devmajor, devminor;
    int64_t size;  /* content bytes for regular files, 0 for everything else */
    int64_t mtime; /* seconds since the epoch */
    char digest[FMT_DIGEST_MAX]; /* "sha256:..." of the content, "" if not computed */
};

struct fmt_layer_index {
    struct fmt_layer_entry *entries; /* in tar order */
    size_t n_entries;
    bool has_digests;   /* every regular file's digest is filled in */
    int64_t tar_size;   /* uncompressed tar bytes */
    int64_t file_bytes; /* sum of regular file sizes */
};

void fmt_layer_index_clear(struct fmt_layer_index *ix);
const char *fmt_entry_type_name(enum fmt_entry_type t); /* "file", "dir", ... */
int fmt_entry_type_from_name(const char *name);         /* -1 if unknown */
/* ls-style one-letter type ('-', 'd', 'l', 'h', 'c', 'b', 'p', 's', 'w', 'o'). */
char fmt_entry_type_char(enum fmt_entry_type t);

/* Normalises a tar member name into an entry path (malloc'd): strips "./"
 * and "/" prefixes, trailing "/", collapses "//" and "." components.
 * Returns NULL for names that escape the root ("..") . */
char *fmt_layer_path_normalize(const char *name);

/* Reads every header of an opened archive (any format/filter libarchive
 * knows).  `what` names the stream in errors. */
int fmt_layer_index_read_archive(struct archive *a, bool digests, const char *what,
                                 struct fmt_layer_index *out, struct error *err);
/* The same from a tar (optionally gzip/zstd-compressed) read from fd. */
int fmt_layer_index_read_fd(int fd, bool digests, const char *what,
                            struct fmt_layer_index *out, struct error *err);

/* A directory read as a layer (a container's upper dir): OCI whiteout
 * files, 0/0 character devices and "opaque" xattrs become whiteout and
 * opaque entries.  No digests. */
int fmt_layer_index_from_dir(int dirfd, const char *path, const char *what,
                             struct fmt_layer_index *out, struct error *err);

/* JSON form (the cache file's format). */
json_t *fmt_layer_index_to_json(const struct fmt_layer_index *ix);
int fmt_layer_index_from_json(json_t *j, const char *what, struct fmt_layer_index *out,
                              struct error *err);

/* Cache under <root_fd>/cache/layer-index/<diff_id hex>.json.  load returns
 * 1 when found (and, if need_digests, carrying digests), 0 when missing or
 * unusable, <0 on I/O errors. */
int fmt_layer_index_cache_load(int root_fd, const char *diff_id, bool need_digests,
                               struct fmt_layer_index *out, struct error *err);
int fmt_layer_index_cache_store(int root_fd, const char *diff_id,
                                const struct fmt_layer_index *ix, struct error *err);

/* The index of a layer in the store (descriptor with diff_id): cached, or
 * read from the blob (digest-verified to its end) and cached.  With
 * `digests`, a cached index without digests is rebuilt with them. */
int fmt_layer_index_load(struct fmt_store *s, const struct fmt_descriptor *layer, bool digests,
                         struct fmt_layer_index *out, struct error *err);

#endif
