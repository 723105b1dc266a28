/* Builds small layer tars in memory for the diff/analyze unit tests. */
#ifndef STRATA_TESTS_DIFF_TAR_H
#define STRATA_TESTS_DIFF_TAR_H

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/layer_index.h"

struct test_tar {
    struct archive *a;
    char *buf;
    size_t cap, used;
};

static inline void tt_open(struct test_tar *t)
{
    t->cap = 1 << 20;
    t->buf = malloc(t->cap);
    t->used = 0;
    t->a = archive_write_new();
    archive_write_set_format_pax_restricted(t->a);
    archive_write_open_memory(t->a, t->buf, t->cap, &t->used);
}

/* type: 'f' file (content), 'd' dir, 'l' symlink (content = target),
 * 'h' hardlink (content = target), 'c' char device 0/0. */
static inline void tt_add(struct test_tar *t, char type, const char *path, const char *content,
                          unsigned mode, unsigned uid)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, uid);
    archive_entry_set_mtime(e, 1700000000, 0);
    switch (type) {
    case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
    case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, content);
        break;
    case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, content);
        break;
    case 'c':
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdevmajor(e, 0);
        archive_entry_set_rdevminor(e, 0);
        break;
    default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, (la_int64_t)strlen(content));
        break;
    }
    archive_entry_set_perm(e, mode);
    archive_write_header(t->a, e);
    if (type == 'f')
        archive_write_data(t->a, content, strlen(content));
    archive_entry_free(e);
}

/* Closes the tar and indexes it. */
static inline int tt_index(struct test_tar *t, int digests, struct fmt_layer_index *ix)
{
    archive_write_close(t->a);
    archive_write_free(t->a);
    struct archive *r = archive_read_new();
    archive_read_support_format_tar(r);
    archive_read_support_filter_none(r);
    archive_read_open_memory(r, t->buf, t->used);
    struct error err = {0};
    int rc = fmt_layer_index_read_archive(r, digests, "test tar", ix, &err);
    if (rc < 0)
        printf("# index: %s\n", err.msg);
    archive_read_free(r);
    free(t->buf);
    return rc;
}

#endif
