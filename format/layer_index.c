#include "format/layer_index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/whiteout.h"


static const struct {
    const char *name;
    char c;
} type_names[] = {
    [FMT_ENTRY_FILE] = {"file", '-'},         [FMT_ENTRY_DIR] = {"dir", 'd'},
    [FMT_ENTRY_SYMLINK] = {"symlink", 'l'},   [FMT_ENTRY_HARDLINK] = {"hardlink", 'h'},
    [FMT_ENTRY_CHAR] = {"char", 'c'},         [FMT_ENTRY_BLOCK] = {"block", 'b'},
    [FMT_ENTRY_FIFO] = {"fifo", 'p'},         [FMT_ENTRY_SOCKET] = {"socket", 's'},
    [FMT_ENTRY_WHITEOUT] = {"whiteout", 'w'}, [FMT_ENTRY_OPAQUE] = {"opaque", 'o'},
};

const char *fmt_entry_type_name(enum fmt_entry_type t)
{
    return (unsigned)t < ARRAY_SIZE(type_names) ? type_names[t].name : "unknown";
}

char fmt_entry_type_char(enum fmt_entry_type t)
{
    return (unsigned)t < ARRAY_SIZE(type_names) ? type_names[t].c : '?';
}

int fmt_entry_type_from_name(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
        if (!strcmp(type_names[i].name, name))
            return (int)i;
    return -1;
}

void fmt_layer_index_clear(struct fmt_layer_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n_entries; i++) {
        free(ix->entries[i].path);
        free(ix->entries[i].link);
    }
    free(ix->entries);
    memset(ix, 0, sizeof *ix);
}

char *fmt_layer_path_normalize(const char *name)
{
    size_t len = strlen(name);
    char *out = xmalloc(len + 1);
    size_t o = 0;
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 0)
            break;
        if (n == 1 && p[0] == '.') {
            /* "." components carry no information */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            /* a layer may not name anything outside its root */
            free(out);
            return NULL;
        } else {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p = end;
    }
    out[o] = '\0';
    return out;
}

static struct fmt_layer_entry *push_entry(struct fmt_layer_index *ix, size_t *cap)
{
    if (ix->n_entries == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        ix->entries = xrealloc(ix->entries, *cap * sizeof *ix->entries);
    }
    struct fmt_layer_entry *e = &ix->entries[ix->n_entries++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Splits a normalised path into its directory ("" at the top) and base. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static char *join_dir(const char *path, const char *base, const char *newbase)
{
    size_t dirlen = (size_t)(base - path);
    return xasprintf("%.*s%s", (int)dirlen, path, newbase);
}

static int hash_content(struct archive *a, struct fmt_layer_entry *e, const char *what,
                        struct error *err)
{
    struct fmt_digester *d = fmt_digester_new();
    char buf[64 * 1024];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
        fmt_digester_update(d, buf, (size_t)n);
    if (n < 0) {
        fmt_digester_free(d);
        return error_set(err, EIO, "read `%s` in %s: %s", e->path, what,
                         archive_error_string(a));
    }
    fmt_digester_final(d, e->digest);
    fmt_digester_free(d);
    return 0;
}

static int entry_type_of(struct archive_entry *ae)
{
    if (archive_entry_hardlink(ae))
        return FMT_ENTRY_HARDLINK;
    switch (archive_entry_filetype(ae)) {
    case AE_IFREG:
        return FMT_ENTRY_FILE;
    case AE_IFDIR:
        return FMT_ENTRY_DIR;
    case AE_IFLNK:
        return FMT_ENTRY_SYMLINK;
    case AE_IFCHR:
        return FMT_ENTRY_CHAR;
    case AE_IFBLK:
        return FMT_ENTRY_BLOCK;
    case AE_IFIFO:
        return FMT_ENTRY_FIFO;
    case AE_IFSOCK:
        return FMT_ENTRY_SOCKET;
    default:
        return -1;
    }
}

int fmt_layer_index_read_archive(struct archive *a, bool digests, const char *what,
                                 struct fmt_layer_index *out, struct error *err)
{
    struct fmt_layer_index ix = {.has_digests = digests};
    size_t cap = 0;
    struct archive_entry *ae;
    int r;

    while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(ae);
        cleanup_free char *path = fmt_layer_path_normalize(name ? name : "");
        if (!path) {
            fmt_layer_index_clear(&ix);
            return error_set(err, EINVAL, "entry `%s` in %s escapes the layer root", name,
                             what);
        }
        int type = entry_type_of(ae);
        if (type < 0) {
            fmt_layer_index_clear(&ix);
            return error_set(err, EINVAL, "entry `%s` in %s has an unknown file type", path,
                             what);
        }
        const char *base = base_name(path);
        const char *target = fmt_whiteout_target(base);
        if (!target && !fmt_whiteout_is_opaque(base) &&
            !strncmp(base, FMT_WHITEOUT_PREFIX, strlen(FMT_WHITEOUT_PREFIX)))
            continue; /* other `.wh..wh.` names are aufs bookkeeping, not content */
        struct fmt_layer_entry *e = push_entry(&ix, &cap);
        if (fmt_whiteout_is_opaque(base)) {
            e->type = FMT_ENTRY_OPAQUE;
            e->path = base == path ? xstrdup("") : xstrndup(path, (size_t)(base - path - 1));
        } else if (target) {
            e->type = FMT_ENTRY_WHITEOUT;
            e->path = join_dir(path, base, target);
        } else {
            e->type = (enum fmt_entry_type)type;
            e->path = TAKE_PTR(path);
        }
        if (e->type != FMT_ENTRY_WHITEOUT && e->type != FMT_ENTRY_OPAQUE) {
            e->mode = archive_entry_perm(ae) & 07777;
            e->uid = (uint32_t)archive_entry_uid(ae);
            e->gid = (uint32_t)archive_entry_gid(ae);
            e->mtime = archive_entry_mtime(ae);
        }
        if (e->type == FMT_ENTRY_HARDLINK) {
            e->link = fmt_layer_path_normalize(archive_entry_hardlink(ae));
            if (!e->link)
                e->link = xstrdup("");
        } else if (e->type == FMT_ENTRY_SYMLINK) {
            const char *t = archive_entry_symlink(ae);
            e->link = xstrdup(t ? t : "");
        } else if (e->type == FMT_ENTRY_CHAR || e->type == FMT_ENTRY_BLOCK) {
            e->devmajor = (uint32_t)archive_entry_rdevmajor(ae);
            e->devminor = (uint32_t)archive_entry_rdevminor(ae);
        }
        if (e->type == FMT_ENTRY_FILE) {
            e->size = archive_entry_size(ae);
            ix.file_bytes += e->size;
            if (digests && hash_content(a, e, what, err) < 0) {
                fmt_layer_index_clear(&ix);
                return -1;
            }
        }
        /* without digests the data is skipped by the next header call */
    }
    if (r != ARCHIVE_EOF) {
        error_set(err, EIO, "read %s: %s", what, archive_error_string(a));
        fmt_layer_index_clear(&ix);
        return -1;
    }
    ix.tar_size = archive_filter_bytes(a, 0);
    *out = ix;
    return 0;
}

static void cleanup_archivep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}

int fmt_layer_index_read_fd(int fd, bool digests, const char *what,
                            struct fmt_layer_index *out, struct error *err)
{
    __attribute__((cleanup(cleanup_archivep))) struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_none(a);
    if (archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK)
        return error_set(err, EIO, "open %s: %s", what, archive_error_string(a));
    return fmt_layer_index_read_archive(a, digests, what, out, err);
}
