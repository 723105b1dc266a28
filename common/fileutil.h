/* File helpers shared by every module: whole-file reads, atomic writes,
 * recursive mkdir/remove, advisory locks.  All take a directory fd first
 * (AT_FDCWD for the cwd) and a path second, as the *at() calls do. */
#ifndef STRATA_COMMON_FILEUTIL_H
#define STRATA_COMMON_FILEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* Writes all of buf, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len, struct error *err);
/* Reads until EOF into a malloc'd, NUL-terminated buffer. */
int read_all_fd(int fd, char **out, size_t *out_len, struct error *err);
int read_file_at(int dirfd, const char *path, char **out, size_t *out_len,
                 struct error *err);

/* temp file in the same directory + fsync + rename + fsync(dir): readers
 * see the old content or the new, never a half-written file. */
int atomic_write_at(int dirfd, const char *path, const void *buf, size_t len,
                    mode_t mode, struct error *err);

/* Opens a fresh temp file next to `path` (O_TMPFILE is avoided so the name
 * survives for rename); returns the fd and the temp name in *tmp_name. */
int open_temp_at(int dirfd, const char *path, mode_t mode, char **tmp_name,
                 struct error *err);
/* fsyncs fd, renames tmp_name over path and fsyncs the directory. */
int commit_temp_at(int dirfd, int fd, const char *tmp_name, const char *path,
                   struct error *err);

int fsync_dir_of(int dirfd, const char *path, struct error *err);

/* mkdir -p; existing directories are fine. */
int mkdir_p_at(int dirfd, const char *path, mode_t mode, struct error *err);
/* rm -rf without following symlinks; a missing path is not an error. */
int rm_rf_at(int dirfd, const char *path, struct error *err);

/* Advisory whole-file lock (flock) on dirfd/path, created if missing.
 * Returns the fd holding the lock; close it to release. */
int lock_file_at(int dirfd, const char *path, bool exclusive, struct error *err);

bool path_exists_at(int dirfd, const char *path);

#endif
