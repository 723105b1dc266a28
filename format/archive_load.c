/* strata load: an oci-archive or docker-archive (legacy or Docker 25+) →
 * the store.  One pass over the tar: blobs stream straight into the store
 * (verified against their names when they have one), small files are kept
 * in memory for the metadata; then the metadata decides what was loaded. */
#include "format/libarchive.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/archive.h"
#include "format/blob.h"
#include "format/config.h"
#include "format/index.h"
#include "format/manifest.h"
#include "format/ref.h"

#define SMALL_FILE (1 << 20) /* metadata is smaller; layers go to the store */
#define MEMORY_CAP (64 << 20) /* past this, small members go to the store too */
#define CHUNK (1 << 16)

struct member {
    char *path;
    char *link;        /* symlink/hard link target (normalised path), else NULL */
    char *data;        /* small files: the content */
    size_t len;
    bool stored;       /* large files: already a blob */
    char digest[FMT_DIGEST_MAX];
    int compression;   /* from the first bytes */
};

struct loader {
    struct fmt_store *s;
    struct member *m;
    size_t n, cap;
    size_t in_memory; /* bytes of small members held; capped against hostile archives */
    fmt_loaded_fn loaded;
    void *ctx;
    struct error *err;
};

/* "./a//b/../c" → "a/c"; NULL when it climbs out of the archive. */
static char *normalize(const char *base_dir, const char *path)
{
    cleanup_free char *full = path[0] == '/' || !base_dir || !*base_dir
                                  ? xstrdup(path)
                                  : xasprintf("%s/%s", base_dir, path);
    char **parts = xcalloc(strlen(full) + 1, sizeof *parts);
    size_t np = 0;
    char *save = NULL;
    for (char *t = strtok_r(full, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, "."))
            continue;
        if (!strcmp(t, "..")) {
            if (np == 0) {
                free(parts);
                return NULL;
            }
            np--;
            continue;
        }
        parts[np++] = t;
    }
    size_t len = 1;
    for (size_t i = 0; i < np; i++)
        len += strlen(parts[i]) + 1;
    char *out = xzalloc(len);
    for (size_t i = 0; i < np; i++) {
        if (i)
            strcat(out, "/");
        strcat(out, parts[i]);
    }
    free(parts);
    return out;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
}

static struct member *find(struct loader *l, const char *path)
{
    for (int hops = 0; hops < 16 && path; hops++) {
        struct member *found = NULL;
        for (size_t i = l->n; i-- > 0;)
            if (!strcmp(l->m[i].path, path)) {
                found = &l->m[i];
                break;
            }
        if (!found || !found->link)
            return found;
        path = found->link;
    }
    return NULL;
}

static void members_free(struct loader *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->m[i].path);
        free(l->m[i].link);
        free(l->m[i].data);
    }
    free(l->m);
}

static int detect(const unsigned char *b, size_t n)
{
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return FMT_COMPRESSION_GZIP;
    if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
        return FMT_COMPRESSION_ZSTD;
    return FMT_COMPRESSION_NONE;
}

/* The digest a path under blobs/sha256/ claims, if it is one. */
static bool blob_name_digest(const char *path, char out[FMT_DIGEST_MAX])
{
    const char *p = strstr(path, "blobs/sha256/");
    if (!p || (p != path && p[-1] != '/'))
        return false;
    snprintf(out, FMT_DIGEST_MAX, "sha256:%.64s", p + 13);
    return fmt_digest_is_valid(out) && strlen(p + 13) == 64;
}

static int read_entry(struct loader *l, struct archive *a, struct archive_entry *e,
                      struct member *m)
{
    int64_t size = archive_entry_size(e);
    char named[FMT_DIGEST_MAX];
    bool has_name = blob_name_digest(m->path, named);
    if (size < 0)
        return error_set(l->err, EINVAL, "archive member `%s` has no size", m->path);
    if (size <= SMALL_FILE && l->in_memory + (size_t)size <= MEMORY_CAP) {
        l->in_memory += (size_t)size;
        m->data = xmalloc((size_t)size + 1);
        la_ssize_t n, got = 0;
        while ((n = archive_read_data(a, m->data + got, (size_t)(size - got))) > 0)
            got += n;
        if (n < 0 || got != size)
            return error_set(l->err, EINVAL, "archive member `%s`: %s", m->path,
                             n < 0 ? archive_error_string(a) : "truncated");
        m->data[size] = '\0';
        m->len = (size_t)size;
        fmt_digest_buffer(m->data, m->len, m->digest);
        m->compression = detect((unsigned char *)m->data, m->len);
        if (has_name && strcmp(named, m->digest) != 0)
            return error_set(l->err, EILSEQ,
                             "archive member `%s` is corrupt: its content hashes to `%s`",
                             m->path, m->digest);
        return 0;
    }
    struct fmt_blob_writer *w;
    if (fmt_blob_writer_new(l->s, &w, l->err) < 0)
        return -1;
    cleanup_free char *buf = xmalloc(CHUNK);
    la_ssize_t n;
    bool first = true;
    while ((n = archive_read_data(a, buf, CHUNK)) > 0) {
        if (first) {
            m->compression = detect((unsigned char *)buf, (size_t)n);
            first = false;
        }
        if (fmt_blob_writer_write(w, buf, (size_t)n, l->err) < 0) {
            fmt_blob_writer_abort(w);
            return -1;
        }
    }
    if (n < 0) {
        fmt_blob_writer_abort(w);
        return error_set(l->err, EINVAL, "archive member `%s`: %s", m->path,
                         archive_error_string(a));
    }
    if (fmt_blob_writer_commit(w, has_name ? named : NULL, m->digest, NULL, l->err) < 0)
        return error_prefix(l->err, "archive member `%s`", m->path);
    m->stored = true;
    return 0;
}

static int read_archive(struct loader *l, const char *path)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    const char *shown = path && strcmp(path, "-") ? path : "stdin";
    int ret = 0;
    if (archive_read_open_filename(a, path && strcmp(path, "-") ? path : NULL, CHUNK) !=
        ARCHIVE_OK) {
        ret = error_set(l->err, EINVAL, "open `%s`: %s", shown, archive_error_string(a));
        goto out;
    }
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        char *p = normalize(NULL, archive_entry_pathname(e));
        if (!p) {
            ret = error_set(l->err, EINVAL, "`%s`: member `%s` points outside the archive",
                            shown, archive_entry_pathname(e));
            goto out;
        }
        mode_t type = archive_entry_filetype(e);
        const char *hard = archive_entry_hardlink(e);
        if (type != AE_IFREG && type != AE_IFLNK && !hard) {
            free(p);
            continue;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 32;
            l->m = xrealloc(l->m, l->cap * sizeof *l->m);
        }
        struct member *m = &l->m[l->n++];
        memset(m, 0, sizeof *m);
        m->path = p;
        if (hard || type == AE_IFLNK) {
            cleanup_free char *dir = dir_of(p);
            m->link = hard ? normalize(NULL, hard) : normalize(dir, archive_entry_symlink(e));
            /* a link out of the archive resolves to nothing */
            if (!m->link)
                m->link = xstrdup("/");
        } else if (read_entry(l, a, e, m) < 0) {
            ret = error_prefix(l->err, "`%s`", shown);
            goto out;
        }
    }
    if (r != ARCHIVE_EOF)
        ret = error_set(l->err, EINVAL, "read `%s`: %s", shown, archive_error_string(a));
    if (ret == 0 && l->n == 0)
        ret = error_set(l->err, EINVAL, "`%s` is not a tar archive of an image", shown);
out:
    archive_read_free(a);
    return ret;
}

/* Puts member path into the store; expected (may be NULL) is checked. */
static int ensure_blob(struct loader *l, const char *path, const char *expected,
                       char digest[FMT_DIGEST_MAX], int *compression)
{
    struct member *m = find(l, path);
    if (!m)
        return error_set(l->err, ENOENT, "the archive has no `%s`", path);
    if (expected && strcmp(expected, m->digest) != 0)
        return error_set(l->err, EILSEQ, "archive member `%s` hashes to `%s`, expected `%s`",
                         path, m->digest, expected);
    if (!m->stored) {
        char got[FMT_DIGEST_MAX];
        if (fmt_blob_put(l->s, m->data, m->len, got, l->err) < 0)
            return -1;
        m->stored = true;
    }
    if (digest)
        memcpy(digest, m->digest, FMT_DIGEST_MAX);
    if (compression)
        *compression = m->compression;
    return 0;
}

static json_t *member_json(struct loader *l, const char *path)
{
    struct member *m = find(l, path);
    if (!m || (!m->data && !m->stored)) {
        error_set(l->err, ENOENT, "the archive has no `%s`", path);
        return NULL;
    }
    cleanup_free char *stored = NULL;
    size_t len = m->len;
    if (!m->data && fmt_blob_get(l->s, m->digest, &stored, &len, l->err) < 0)
        return NULL;
    json_error_t jerr;
    json_t *j = json_loadb(m->data ? m->data : stored, len, 0, &jerr);
    if (!j)
        error_set(l->err, EINVAL, "archive member `%s` is not valid JSON: %s", path, jerr.text);
    return j;
}

static char *blob_path(const char *digest)
{
    return xasprintf("blobs/sha256/%s", fmt_digest_hex(digest));
}

/* Copies a manifest or image index and everything it references. */
static int load_oci_tree(struct loader *l, const char *digest, int depth)
{
    if (depth > 8)
        return error_set(l->err, ELOOP, "image index nesting is too deep at `%s`", digest);
    cleanup_free char *path = blob_path(digest);
    if (ensure_blob(l, path, digest, NULL, NULL) < 0)
        return -1;
    json_t *j = member_json(l, path);
    if (!j)
        return -1;
    int ret = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "manifests"), i, e)
    {
        const char *d = json_string_value(json_object_get(e, "digest"));
        if (!fmt_digest_is_valid(d)) {
            ret = error_set(l->err, EINVAL, "image index `%s` has an invalid entry", digest);
            break;
        }
        if ((ret = load_oci_tree(l, d, depth + 1)) < 0)
            break;
    }
    const char *cfg = json_string_value(json_object_get(json_object_get(j, "config"), "digest"));
    if (ret == 0 && cfg) {
        cleanup_free char *cp = fmt_digest_is_valid(cfg) ? blob_path(cfg) : NULL;
        ret = cp ? ensure_blob(l, cp, cfg, NULL, NULL)
                 : error_set(l->err, EINVAL, "manifest `%s`: invalid config digest", digest);
    }
    json_array_foreach(json_object_get(j, "layers"), i, e)
    {
        if (ret < 0)
            break;
        const char *d = json_string_value(json_object_get(e, "digest"));
        if (!fmt_digest_is_valid(d)) {
            ret = error_set(l->err, EINVAL, "manifest `%s`: invalid layer digest", digest);
            break;
        }
        cleanup_free char *lp = blob_path(d);
        ret = ensure_blob(l, lp, d, NULL, NULL);
    }
    json_decref(j);
    return ret;
}

/* manifest.json RepoTags for the image whose config is cfg_digest. */
static json_t *docker_tags_for(json_t *dm, struct loader *l, const char *cfg_digest)
{
    size_t i;
    json_t *e;
    json_array_foreach(dm, i, e)
    {
        const char *cp = json_string_value(json_object_get(e, "Config"));
        struct member *m = cp ? find(l, cp) : NULL;
        if (m && !strcmp(m->digest, cfg_digest))
            return json_object_get(e, "RepoTags");
    }
    return NULL;
}

static int tag(struct loader *l, const char *ref, const struct fmt_descriptor *d)
{
    if (fmt_index_add(l->s, ref, d, l->err) < 0)
        return -1;
    if (l->loaded)
        l->loaded(l->ctx, d->digest, ref);
    return 0;
}

static int load_oci(struct loader *l)
{
    json_t *index = member_json(l, "index.json");
    if (!index)
        return -1;
    json_t *dm = find(l, "manifest.json") ? member_json(l, "manifest.json") : NULL;
    int ret = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(index, "manifests"), i, e)
    {
        struct fmt_descriptor d;
        char what[64];
        snprintf(what, sizeof what, "index.json entry %zu", i);
        if ((ret = fmt_descriptor_from_json(e, what, &d, l->err)) < 0)
            break;
        if ((ret = load_oci_tree(l, d.digest, 0)) < 0) {
            fmt_descriptor_clear(&d);
            break;
        }
        /* the entry's annotations carry the old name; index_add writes the new */
        json_decref(d.annotations);
        d.annotations = NULL;
        json_t *ann = json_object_get(e, "annotations");
        const char *names[2] = {
            json_string_value(json_object_get(ann, "io.containerd.image.name")),
            json_string_value(json_object_get(ann, FMT_ANNOTATION_REF_NAME)),
        };
        json_t *tags = NULL;
        if (dm && fmt_media_type_is_manifest(d.media_type)) {
            cleanup_free char *path = blob_path(d.digest);
            json_t *man = member_json(l, path);
            const char *cfg =
                json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
            if (cfg)
                tags = docker_tags_for(dm, l, cfg);
            json_decref(man);
        }
        int tagged = 0;
        size_t k;
        json_t *t;
        json_array_foreach(tags, k, t)
        {
            if (ret == 0 && json_string_value(t)) {
                ret = tag(l, json_string_value(t), &d);
                tagged++;
            }
        }
        for (int n = 0; n < 2 && !tagged && ret == 0; n++) {
            struct error ignored;
            cleanup_free char *norm = names[n] ? fmt_ref_normalize(names[n], &ignored) : NULL;
            if (norm) {
                ret = tag(l, norm, &d);
                tagged++;
            }
        }
        if (!tagged && ret == 0)
            ret = tag(l, NULL, &d);
        fmt_descriptor_clear(&d);
        if (ret < 0)
            break;
    }
    json_decref(index);
    json_decref(dm);
    return ret;
}

static int load_docker_image(struct loader *l, json_t *entry, size_t idx)
{
    const char *cfg_path = json_string_value(json_object_get(entry, "Config"));
    json_t *lpaths = json_object_get(entry, "Layers");
    if (!cfg_path || !json_is_array(lpaths))
        return error_set(l->err, EINVAL, "manifest.json entry %zu lacks Config or Layers", idx);
    cleanup_free char *cfg_norm = normalize(NULL, cfg_path);
    struct fmt_descriptor cdesc = {.media_type = FMT_MT_CONFIG, .uncompressed_size = -1};
    if (!cfg_norm || ensure_blob(l, cfg_norm, NULL, cdesc.digest, NULL) < 0)
        return cfg_norm ? -1 : error_set(l->err, EINVAL, "bad Config path `%s`", cfg_path);
    cleanup_free char *cdata = NULL;
    size_t clen = 0;
    json_t *cfg;
    if (fmt_blob_get(l->s, cdesc.digest, &cdata, &clen, l->err) < 0 ||
        fmt_config_parse(cdata, clen, &cfg, l->err) < 0)
        return error_prefix(l->err, "config `%s`", cfg_path);
    cdesc.size = (int64_t)clen;
    size_t n = json_array_size(lpaths);
    int ret = 0;
    if (fmt_config_diff_id_count(cfg) != n)
        ret = error_set(l->err, EINVAL, "config `%s` lists %zu diff_ids for %zu layers",
                        cfg_path, fmt_config_diff_id_count(cfg), n);
    struct fmt_descriptor *layers = xcalloc(n + 1, sizeof *layers);
    for (size_t i = 0; i < n && ret == 0; i++) {
        struct fmt_descriptor *d = &layers[i];
        const char *lp = json_string_value(json_array_get(lpaths, i));
        cleanup_free char *norm = lp ? normalize(NULL, lp) : NULL;
        int comp = 0;
        if (!norm) {
            ret = error_set(l->err, EINVAL, "bad layer path in manifest.json entry %zu", idx);
            break;
        }
        if ((ret = ensure_blob(l, norm, NULL, d->digest, &comp)) < 0)
            break;
        d->media_type = xstrdup(fmt_layer_media_type(comp));
        d->diff_id = xstrdup(fmt_config_diff_id(cfg, i));
        d->uncompressed_size = -1;
        char got[FMT_DIGEST_MAX];
        int64_t usize = -1;
        /* a layer must match its diff_id, compressed or not */
        if (comp == FMT_COMPRESSION_NONE) {
            snprintf(got, sizeof got, "%s", d->digest);
        } else if ((ret = fmt_layer_blob_diff_id(l->s, d->digest, got, &usize, l->err)) < 0) {
            break;
        }
        if (strcmp(got, d->diff_id) != 0) {
            ret = error_set(l->err, EILSEQ, "layer `%s` does not match its diff_id `%s`", lp,
                            d->diff_id);
            break;
        }
        d->uncompressed_size = usize;
    }
    /* sizes of stored (large) members come from the blob file */
    for (size_t i = 0; i < n && ret == 0; i++) {
        struct fmt_blob_reader *r;
        if ((ret = fmt_blob_reader_open(l->s, layers[i].digest, &r, l->err)) < 0)
            break;
        layers[i].size = fmt_blob_reader_size(r);
        fmt_blob_reader_close(r);
    }
    json_t *tags = json_object_get(entry, "RepoTags");
    char digest[FMT_DIGEST_MAX];
    if (ret == 0) {
        const char *first = json_string_value(json_array_get(tags, 0));
        ret = fmt_image_commit_manifest(l->s, &cdesc, layers, n, first, digest, l->err);
        if (ret == 0 && l->loaded)
            l->loaded(l->ctx, digest, first);
    }
    for (size_t k = 1; ret == 0 && k < json_array_size(tags); k++) {
        struct fmt_image *img = NULL;
        struct fmt_descriptor md = {.media_type = FMT_MT_MANIFEST};
        snprintf(md.digest, sizeof md.digest, "%s", digest);
        if ((ret = fmt_image_resolve(l->s, digest, &img, l->err)) == 0) {
            md.size = img->manifest_size;
            ret = tag(l, json_string_value(json_array_get(tags, k)), &md);
        }
        fmt_image_free(img);
    }
    for (size_t i = 0; i < n; i++)
        fmt_descriptor_clear(&layers[i]);
    free(layers);
    json_decref(cfg);
    return ret;
}

static int load_docker(struct loader *l)
{
    json_t *dm = member_json(l, "manifest.json");
    if (!dm)
        return -1;
    int ret = 0;
    if (!json_is_array(dm))
        ret = error_set(l->err, EINVAL, "manifest.json is not a JSON array");
    size_t i;
    json_t *e;
    json_array_foreach(dm, i, e)
    {
        if (ret < 0 || (ret = load_docker_image(l, e, i)) < 0)
            break;
    }
    json_decref(dm);
    return ret;
}

int fmt_archive_load(struct fmt_store *s, const char *path, fmt_loaded_fn loaded, void *ctx,
                     struct error *err)
{
    struct loader l = {.s = s, .loaded = loaded, .ctx = ctx, .err = err};
    int ret = read_archive(&l, path);
    if (ret == 0) {
        if (find(&l, "index.json") && find(&l, "oci-layout"))
            ret = load_oci(&l);
        else if (find(&l, "manifest.json"))
            ret = load_docker(&l);
        else
            ret = error_set(err, EINVAL,
                            "`%s` is neither an OCI layout (index.json) nor a docker archive "
                            "(manifest.json)",
                            path ? path : "stdin");
    }
    members_free(&l);
    return ret;
}
