/* Layer compression: gzip and zstd, streaming both ways.
 *
 * Compression runs on worker threads so committing a layer is not bound by
 * one core: zstd through libzstd's own workers (ZSTD_c_nbWorkers), gzip the
 * way pigz does it with zlib (fixed 128 KiB chunks deflated in parallel, each
 * primed with the previous 32 KiB as dictionary and ended with a sync flush,
 * so the pieces join into one ordinary gzip member).  The chunking never
 * depends on the thread count, so the output bytes, and so the digests, are
 * the same on every machine.
 *
 * Decompression detects the format from the content (magic bytes), never
 * from a file name or media type. */
#ifndef STRATA_FORMAT_COMPRESS_H
#define STRATA_FORMAT_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"
#include "format/manifest.h" /* enum fmt_compression */

/* Where compressed (or decompressed) bytes go / come from. */
typedef int (*fmt_sink_fn)(void *ctx, const void *buf, size_t len, struct error *err);
/* Returns the byte count, 0 at end of input, -1 on error. */
typedef ssize_t (*fmt_source_fn)(void *ctx, void *buf, size_t len, struct error *err);

/* From the first bytes of a stream: gzip (1f 8b), zstd (28 b5 2f fd), else none. */
enum fmt_compression fmt_compression_detect(const void *buf, size_t len);
const char *fmt_compression_name(enum fmt_compression c); /* "gzip", "zstd", "none" */
/* "gzip", "zstd", "none"/"uncompressed"; -1 (err filled) if unknown. */
int fmt_compression_parse(const char *name, enum fmt_compression *out, struct error *err);

struct fmt_compressor;
/* level <= 0 picks the default (gzip 6, zstd 3, like the gzip and zstd
 * commands); threads <= 0 uses every online CPU. */
int fmt_compressor_new(enum fmt_compression c, int level, int threads, fmt_sink_fn sink,
                       void *sink_ctx, struct fmt_compressor **out, struct error *err);
int fmt_compressor_write(struct fmt_compressor *c, const void *buf, size_t len,
                         struct error *err);
/* Flushes everything and ends the stream; the compressor is then spent. */
int fmt_compressor_finish(struct fmt_compressor *c, struct error *err);
void fmt_compressor_free(struct fmt_compressor *c); /* NULL is fine */

struct fmt_decompressor;
/* Reads the first bytes from source to detect the format.  `what` names the
 * input in errors (a file name, a blob digest). */
int fmt_decompressor_new(fmt_source_fn source, void *source_ctx, const char *what,
                         struct fmt_decompressor **out, struct error *err);
enum fmt_compression fmt_decompressor_kind(const struct fmt_decompressor *d);
/* Decompressed bytes: count, 0 at the end, -1 on error (corrupt input,
 * truncated stream, trailing garbage). */
ssize_t fmt_decompressor_read(struct fmt_decompressor *d, void *buf, size_t len,
                              struct error *err);
void fmt_decompressor_free(struct fmt_decompressor *d); /* NULL is fine */

/* A source reading a file descriptor (ctx is a pointer to the int fd). */
ssize_t fmt_fd_source(void *ctx, void *buf, size_t len, struct error *err);

#endif
