/* libarchive, opened on first use (see common/dl.h for why): include this
 * instead of <archive.h>.  Calls keep libarchive's names; each name below
 * is a macro for the pointer in the table, typed from libarchive's own
 * prototypes, so a call is checked as a direct one would be.  A function
 * strata starts to use is added to FMT_LIBARCHIVE_FUNCS and given its
 * macro. */
#ifndef STRATA_FORMAT_LIBARCHIVE_H
#define STRATA_FORMAT_LIBARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

#define FMT_LIBARCHIVE_FUNCS(X) \
    X(archive_entry_clear) \
    X(archive_entry_filetype) \
    X(archive_entry_free) \
    X(archive_entry_gid) \
    X(archive_entry_hardlink) \
    X(archive_entry_mtime) \
    X(archive_entry_mtime_is_set) \
    X(archive_entry_mtime_nsec) \
    X(archive_entry_new) \
    X(archive_entry_pathname) \
    X(archive_entry_perm) \
    X(archive_entry_rdevmajor) \
    X(archive_entry_rdevminor) \
    X(archive_entry_set_filetype) \
    X(archive_entry_set_gid) \
    X(archive_entry_set_hardlink) \
    X(archive_entry_set_mode) \
    X(archive_entry_set_mtime) \
    X(archive_entry_set_pathname) \
    X(archive_entry_set_perm) \
    X(archive_entry_set_rdevmajor) \
    X(archive_entry_set_rdevminor) \
    X(archive_entry_set_size) \
    X(archive_entry_set_symlink) \
    X(archive_entry_set_uid) \
    X(archive_entry_size) \
    X(archive_entry_size_is_set) \
    X(archive_entry_symlink) \
    X(archive_entry_uid) \
    X(archive_entry_xattr_add_entry) \
    X(archive_entry_xattr_next) \
    X(archive_entry_xattr_reset) \
    X(archive_errno) \
    X(archive_error_string) \
    X(archive_filter_bytes) \
    X(archive_read_data) \
    X(archive_read_data_block) \
    X(archive_read_data_skip) \
    X(archive_read_free) \
    X(archive_read_new) \
    X(archive_read_next_header) \
    X(archive_read_open) \
    X(archive_read_open_fd) \
    X(archive_read_open_filename) \
    X(archive_read_support_filter_all) \
    X(archive_read_support_filter_gzip) \
    X(archive_read_support_filter_none) \
    X(archive_read_support_filter_zstd) \
    X(archive_read_support_format_gnutar) \
    X(archive_read_support_format_raw) \
    X(archive_read_support_format_tar) \
    X(archive_set_error) \
    X(archive_write_close) \
    X(archive_write_data) \
    X(archive_write_free) \
    X(archive_write_header) \
    X(archive_write_new) \
    X(archive_write_open2) \
    X(archive_write_open_fd) \
    X(archive_write_set_bytes_in_last_block) \
    X(archive_write_set_format_option) \
    X(archive_write_set_format_pax_restricted)

struct fmt_libarchive {
#define FMT_LIBARCHIVE_FIELD(name) __typeof__(name) *name;
    FMT_LIBARCHIVE_FUNCS(FMT_LIBARCHIVE_FIELD)
#undef FMT_LIBARCHIVE_FIELD
};

/* The table, loaded on the first call (thread-safe). */
const struct fmt_libarchive *fmt_libarchive(void);

#ifndef FMT_LIBARCHIVE_NO_MACROS
#define archive_entry_clear (fmt_libarchive()->archive_entry_clear)
#define archive_entry_filetype (fmt_libarchive()->archive_entry_filetype)
#define archive_entry_free (fmt_libarchive()->archive_entry_free)
#define archive_entry_gid (fmt_libarchive()->archive_entry_gid)
#define archive_entry_hardlink (fmt_libarchive()->archive_entry_hardlink)
#define archive_entry_mtime (fmt_libarchive()->archive_entry_mtime)
#define archive_entry_mtime_is_set (fmt_libarchive()->archive_entry_mtime_is_set)
#define archive_entry_mtime_nsec (fmt_libarchive()->archive_entry_mtime_nsec)
#define archive_entry_new (fmt_libarchive()->archive_entry_new)
#define archive_entry_pathname (fmt_libarchive()->archive_entry_pathname)
#define archive_entry_perm (fmt_libarchive()->archive_entry_perm)
#define archive_entry_rdevmajor (fmt_libarchive()->archive_entry_rdevmajor)
#define archive_entry_rdevminor (fmt_libarchive()->archive_entry_rdevminor)
#define archive_entry_set_filetype (fmt_libarchive()->archive_entry_set_filetype)
#define archive_entry_set_gid (fmt_libarchive()->archive_entry_set_gid)
#define archive_entry_set_hardlink (fmt_libarchive()->archive_entry_set_hardlink)
#define archive_entry_set_mode (fmt_libarchive()->archive_entry_set_mode)
#define archive_entry_set_mtime (fmt_libarchive()->archive_entry_set_mtime)
#define archive_entry_set_pathname (fmt_libarchive()->archive_entry_set_pathname)
#define archive_entry_set_perm (fmt_libarchive()->archive_entry_set_perm)
#define archive_entry_set_rdevmajor (fmt_libarchive()->archive_entry_set_rdevmajor)
#define archive_entry_set_rdevminor (fmt_libarchive()->archive_entry_set_rdevminor)
#define archive_entry_set_size (fmt_libarchive()->archive_entry_set_size)
#define archive_entry_set_symlink (fmt_libarchive()->archive_entry_set_symlink)
#define archive_entry_set_uid (fmt_libarchive()->archive_entry_set_uid)
#define archive_entry_size (fmt_libarchive()->archive_entry_size)
#define archive_entry_size_is_set (fmt_libarchive()->archive_entry_size_is_set)
#define archive_entry_symlink (fmt_libarchive()->archive_entry_symlink)
#define archive_entry_uid (fmt_libarchive()->archive_entry_uid)
#define archive_entry_xattr_add_entry (fmt_libarchive()->archive_entry_xattr_add_entry)
#define archive_entry_xattr_next (fmt_libarchive()->archive_entry_xattr_next)
#define archive_entry_xattr_reset (fmt_libarchive()->archive_entry_xattr_reset)
#define archive_errno (fmt_libarchive()->archive_errno)
#define archive_error_string (fmt_libarchive()->archive_error_string)
#define archive_filter_bytes (fmt_libarchive()->archive_filter_bytes)
#define archive_read_data (fmt_libarchive()->archive_read_data)
#define archive_read_data_block (fmt_libarchive()->archive_read_data_block)
#define archive_read_data_skip (fmt_libarchive()->archive_read_data_skip)
#define archive_read_free (fmt_libarchive()->archive_read_free)
#define archive_read_new (fmt_libarchive()->archive_read_new)
#define archive_read_next_header (fmt_libarchive()->archive_read_next_header)
#define archive_read_open (fmt_libarchive()->archive_read_open)
#define archive_read_open_fd (fmt_libarchive()->archive_read_open_fd)
#define archive_read_open_filename (fmt_libarchive()->archive_read_open_filename)
#define archive_read_support_filter_all (fmt_libarchive()->archive_read_support_filter_all)
#define archive_read_support_filter_gzip (fmt_libarchive()->archive_read_support_filter_gzip)
#define archive_read_support_filter_none (fmt_libarchive()->archive_read_support_filter_none)
#define archive_read_support_filter_zstd (fmt_libarchive()->archive_read_support_filter_zstd)
#define archive_read_support_format_gnutar (fmt_libarchive()->archive_read_support_format_gnutar)
#define archive_read_support_format_raw (fmt_libarchive()->archive_read_support_format_raw)
#define archive_read_support_format_tar (fmt_libarchive()->archive_read_support_format_tar)
#define archive_set_error (fmt_libarchive()->archive_set_error)
#define archive_write_close (fmt_libarchive()->archive_write_close)
#define archive_write_data (fmt_libarchive()->archive_write_data)
#define archive_write_free (fmt_libarchive()->archive_write_free)
#define archive_write_header (fmt_libarchive()->archive_write_header)
#define archive_write_new (fmt_libarchive()->archive_write_new)
#define archive_write_open2 (fmt_libarchive()->archive_write_open2)
#define archive_write_open_fd (fmt_libarchive()->archive_write_open_fd)
#define archive_write_set_bytes_in_last_block (fmt_libarchive()->archive_write_set_bytes_in_last_block)
#define archive_write_set_format_option (fmt_libarchive()->archive_write_set_format_option)
#define archive_write_set_format_pax_restricted (fmt_libarchive()->archive_write_set_format_pax_restricted)
#endif

#endif
