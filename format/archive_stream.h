/* A layer blob read back decompressed (gzip, zstd or none, detected from
 * the content), the blob's own digest verified at its end. */
#ifndef STRATA_FORMAT_ARCHIVE_STREAM_H
#define STRATA_FORMAT_ARCHIVE_STREAM_H

#include <sys/types.h>

#include "common/error.h"
#include "format/store.h"

struct fmt_unpacked_stream;
int fmt_unpacked_stream_open(struct fmt_store *s, const char *digest,
                             struct fmt_unpacked_stream **out, struct error *err);
/* Bytes read, 0 at the end (after the blob digest matched), -1 on error. */
ssize_t fmt_unpacked_stream_read(struct fmt_unpacked_stream *u, void *buf, size_t len,
                                 struct error *err);
void fmt_unpacked_stream_close(struct fmt_unpacked_stream *u);

#endif
