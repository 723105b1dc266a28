/* Shared helpers for the layer codec tests: in-memory sinks and sources,
 * scratch trees, tars built with libarchive. */
#ifndef STRATA_TESTS_LAYER_UTIL_H
#define STRATA_TESTS_LAYER_UTIL_H

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/xalloc.h"

struct membuf {
    unsigned char *p;
    size_t len, cap, pos;
};

static inline int mem_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
    (void)err;
    struct membuf *m = ctx;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2 + 4096;
        m->p = xrealloc(m->p, m->cap);
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static inline ssize_t mem_source(void *ctx, void *buf, size_t len, struct error *err)
{
    (void)err;
    struct membuf *m = ctx;
    size_t n = m->len - m->pos;
    if (n > len)
        n = len;
    /* hand out odd-sized pieces so readers cope with short reads */
    if (n > 7777)
        n = 7777;
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static inline void membuf_free(struct membuf *m)
{
    free(m->p);
    memset(m, 0, sizeof *m);
}

static inline void write_file(int dirfd, const char *path, const char *content, mode_t mode)
{
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        abort();
    if (write(fd, content, strlen(content)) != (ssize_t)strlen(content))
        abort();
    fchmod(fd, mode);
    close(fd);
}

static inline char *read_text(int dirfd, const char *path)
{
    char *buf = NULL;
    struct error err = {0};
    if (read_file_at(dirfd, path, &buf, NULL, &err) < 0)
        return NULL;
    return buf;
}

/* A tar under construction in memory. */
struct tarbuf {
    struct archive *a;
    struct membuf out;
};

static inline la_ssize_t tarbuf_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
    (void)a;
    struct error err;
    mem_sink(ctx, buf, len, &err);
    return (la_ssize_t)len;
}

static inline void tar_begin(struct tarbuf *t)
{
    memset(t, 0, sizeof *t);
    t->a = archive_write_new();
    archive_write_set_format_pax_restricted(t->a);
    archive_write_open2(t->a, &t->out, NULL, tarbuf_write, NULL, NULL);
}

/* type: 'f' file, 'd' dir, 'l' symlink (arg = target), 'h' hard link (arg = target) */
static inline void tar_add(struct tarbuf *t, char type, const char *name, const char *arg)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_mtime(e, 1000000000, 0);
    switch (type) {
    case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        break;
    case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_perm(e, 0777);
        archive_entry_set_symlink(e, arg);
        break;
    case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_hardlink(e, arg);
        break;
    default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, arg ? (la_int64_t)strlen(arg) : 0);
        break;
    }
    archive_write_header(t->a, e);
    if (type == 'f' && arg)
        archive_write_data(t->a, arg, strlen(arg));
    archive_entry_free(e);
}

static inline void tar_end(struct tarbuf *t)
{
    if (!t->a)
        return;
    archive_write_close(t->a);
    archive_write_free(t->a);
    t->a = NULL;
}

#endif
