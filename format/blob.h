/* Content-addressed blobs under blobs/sha256/.  Writes stream into a temp
 * file while hashing, are verified against the expected digest (if any),
 * fsynced and renamed into place: a crash never leaves a half blob.  Every
 * read verifies the digest; a mismatch is an error naming the blob. */
#ifndef STRATA_FORMAT_BLOB_H
#define STRATA_FORMAT_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "format/digest.h"
#include "format/store.h"

struct fmt_blob_writer;

int fmt_blob_writer_new(struct fmt_store *s, struct fmt_blob_writer **out, struct error *err);
int fmt_blob_writer_write(struct fmt_blob_writer *w, const void *buf, size_t len,
                          struct error *err);
/* Verifies against expected_digest when not NULL, publishes the blob and
 * returns its digest and size.  Frees w whether it succeeds or not. */
int fmt_blob_writer_commit(struct fmt_blob_writer *w, const char *expected_digest,
                           char digest[FMT_DIGEST_MAX], int64_t *size, struct error *err);
/* Drops the temp file; frees w.  NULL is fine. */
void fmt_blob_writer_abort(struct fmt_blob_writer *w);

int fmt_blob_put(struct fmt_store *s, const void *buf, size_t len,
                 char digest[FMT_DIGEST_MAX], struct error *err);
bool fmt_blob_exists(struct fmt_store *s, const char *digest);
/* The whole blob in memory (for manifests and configs), verified. */
int fmt_blob_get(struct fmt_store *s, const char *digest, char **data, size_t *len,
                 struct error *err);

/* Streaming verified read (for layers): fmt_blob_reader_read returns the
 * byte count, 0 at EOF after the digest matched, -1 on error (a digest
 * mismatch at EOF is an error naming the blob). */
struct fmt_blob_reader;
int fmt_blob_reader_open(struct fmt_store *s, const char *digest, struct fmt_blob_reader **out,
                         struct error *err);
ssize_t fmt_blob_reader_read(struct fmt_blob_reader *r, void *buf, size_t len,
                             struct error *err);
int64_t fmt_blob_reader_size(const struct fmt_blob_reader *r);
void fmt_blob_reader_close(struct fmt_blob_reader *r);

/* Reads the whole blob and checks its digest (fsck). */
int fmt_blob_verify(struct fmt_store *s, const char *digest, struct error *err);

#endif
