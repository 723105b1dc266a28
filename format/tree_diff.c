#include "format/tree_diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

static inline int path_byte(unsigned char c)
{
    /* '/' below every other byte; shift the rest up so the order is total */
    return c == 0 ? 0 : c == '/' ? 1 : (int)c + 1;
}

int fmt_path_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = path_byte((unsigned char)*a), cb = path_byte((unsigned char)*b);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (!ca)
            return 0;
    }
}

bool fmt_path_is_under(const char *path, const char *dir)
{
    if (!dir[0])
        return path[0] != '\0';
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && path[n] == '/';
}

void fmt_changes_clear(struct fmt_changes *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

static struct fmt_change *push_change(struct fmt_changes *c, char kind, const char *path)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    struct fmt_change *ch = &c->v[c->n++];
    memset(ch, 0, sizeof *ch);
    ch->kind = kind;
    ch->path = path;
    return ch;
}

void fmt_tree_clear(struct fmt_tree *t)
{
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

static int cmp_entry_idx(const void *pa, const void *pb, void *base)
{
    const struct fmt_layer_entry *entries = base;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    int c = fmt_path_cmp(entries[a].path, entries[b].path);
    if (c)
        return c;
    return a < b ? -1 : a > b;
}

static int cmp_str(const void *pa, const void *pb)
{
    return fmt_path_cmp(*(const char *const *)pa, *(const char *const *)pb);
}

static bool in_set(const char **set, size_t n, const char *path)
{
    return n && bsearch(&path, set, n, sizeof *set, cmp_str) != NULL;
}

/* Is path removed by the layer's whiteouts (path or an ancestor) or opaque
 * markers (a strict ancestor)? */
static bool removed_by(const char *path, const char **wh, size_t n_wh, const char **opq,
                       size_t n_opq)
{
    if (!n_wh && !n_opq)
        return false;
    cleanup_free char *buf = xstrdup(path);
    if (in_set(opq, n_opq, "") && path[0])
        return true;
    for (char *p = buf;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            bool self = saved == '\0';
            if (in_set(wh, n_wh, buf) || (!self && in_set(opq, n_opq, buf)))
                return true;
            *p = saved;
            if (self)
                return false;
        }
    }
}

static bool is_dir(const struct fmt_layer_entry *e)
{
    return e->type == FMT_ENTRY_DIR;
}

struct apply_state {
    enum fmt_apply_record record;
    struct fmt_changes *changes;
    const char *top_deleted; /* path of the last 'D' standing for a subtree */
};

static void record_removed(struct apply_state *st, const struct fmt_tree_node *n)
{
    if (st->record == FMT_RECORD_NONE || !st->changes)
        return;
    const struct fmt_layer_entry *e = n->entry;
    int64_t bytes = e->type == FMT_ENTRY_FILE ? e->size : 0;
    if (st->record == FMT_RECORD_EACH) {
        struct fmt_change *ch = push_change(st->changes, FMT_CHANGE_DELETED, e->path);
        ch->old_e = e;
        ch->size = bytes;
        /* each-mode entries are all individual: no subtree grouping */
        return;
    }
    if (st->top_deleted && fmt_path_is_under(e->path, st->top_deleted)) {
        /* the change pointer may move when the array grows: find it again */
        st->changes->v[st->changes->n - 1].size += bytes;
        return;
    }
    struct fmt_change *ch = push_change(st->changes, FMT_CHANGE_DELETED, e->path);
    ch->old_e = e;
    ch->size = bytes;
    st->top_deleted = e->path;
}

static void record_added(struct apply_state *st, const struct fmt_tree_node *n,
                         const struct fmt_tree_node *old)
{
    st->top_deleted = NULL;
    if (st->record == FMT_RECORD_NONE || !st->changes)
        return;
    const struct fmt_layer_entry *e = n->entry;
    if (!e->path[0])
        return; /* the root directory itself is not a change worth listing */
    struct fmt_change *ch =
        push_change(st->changes, old ? FMT_CHANGE_CHANGED : FMT_CHANGE_ADDED, e->path);
    ch->new_e = e;
    ch->old_e = old ? old->entry : NULL;
    ch->size = e->size;
    ch->old_size = old ? old->entry->size : 0;
}

void fmt_tree_apply(struct fmt_tree *t, const struct fmt_layer_index *ix, uint32_t layer,
                    enum fmt_apply_record record, struct fmt_changes *changes)
{
    size_t n = ix->n_entries;
    cleanup_free uint32_t *order = xcalloc(n ? n : 1, sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    qsort_r(order, n, sizeof *order, cmp_entry_idx, ix->entries);

    /* split: removals (applied to lower layers only) and entries */
    cleanup_free const char **wh = xcalloc(n ? n : 1, sizeof *wh);
    cleanup_free const char **opq = xcalloc(n ? n : 1, sizeof *opq);
    cleanup_free uint32_t *ents = xcalloc(n ? n : 1, sizeof *ents);
    size_t n_wh = 0, n_opq = 0, n_ents = 0;
    for (size_t k = 0; k < n; k++) {
        const struct fmt_layer_entry *e = &ix->entries[order[k]];
        if (e->type == FMT_ENTRY_WHITEOUT)
            wh[n_wh++] = e->path;
        else if (e->type == FMT_ENTRY_OPAQUE)
            opq[n_opq++] = e->path;
        else if (n_ents && !strcmp(ix->entries[ents[n_ents - 1]].path, e->path))
            ents[n_ents - 1] = order[k]; /* the same path twice: the later wins */
        else
            ents[n_ents++] = order[k];
    }

    struct fmt_tree_node *out = xcalloc(t->n_nodes + n_ents + 1, sizeof *out);
    size_t o = 0, i = 0, j = 0;
    struct apply_state st = {.record = record, .changes = changes};
    const char *replaced_by_file = NULL; /* a non-dir entry hiding lower contents */

    while (i < t->n_nodes || j < n_ents) {
        const struct fmt_tree_node *low = i < t->n_nodes ? &t->nodes[i] : NULL;
        const struct fmt_layer_entry *up = j < n_ents ? &ix->entries[ents[j]] : NULL;
        int c = !low ? 1 : !up ? -1 : fmt_path_cmp(low->entry->path, up->path);
        if (c < 0) {
            if ((replaced_by_file && fmt_path_is_under(low->entry->path, replaced_by_file)) ||
                removed_by(low->entry->path, wh, n_wh, opq, n_opq))
                record_removed(&st, low);
            else
                out[o++] = *low;
            i++;
            continue;
        }
        struct fmt_tree_node node = {.entry = up, .layer = layer, .entry_idx = ents[j]};
        /* a lower node removed by this layer's whiteouts and re-created by
         * its entries (the opaque-directory pattern) is a change, not an add */
        record_added(&st, &node, c == 0 ? low : NULL);
        if (c == 0) {
            if (!is_dir(up) && is_dir(low->entry))
                replaced_by_file = up->path;
            i++;
        } else {
            replaced_by_file = NULL;
        }
        if (c == 0 && is_dir(up))
            replaced_by_file = NULL;
        out[o++] = node;
        j++;
    }
    free(t->nodes);
    t->nodes = out;
    t->n_nodes = o;
}

void fmt_tree_build(struct fmt_tree *t, const struct fmt_layer_index *const *layers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fmt_tree_apply(t, layers[i], (uint32_t)i, FMT_RECORD_NONE, NULL);
}

static int cmp_node_key(const void *key, const void *node)
{
    return fmt_path_cmp(key, ((const struct fmt_tree_node *)node)->entry->path);
}

const struct fmt_tree_node *fmt_tree_find(const struct fmt_tree *t, const char *path)
{
    if (!t->n_nodes)
        return NULL;
    return bsearch(path, t->nodes, t->n_nodes, sizeof *t->nodes, cmp_node_key);
}

int fmt_tree_rebind(struct fmt_tree *t, uint32_t layer, const struct fmt_layer_index *ix,
                    struct error *err)
{
    for (size_t i = 0; i < t->n_nodes; i++) {
        struct fmt_tree_node *nd = &t->nodes[i];
        if (nd->layer != layer)
            continue;
        if (nd->entry_idx >= ix->n_entries ||
            strcmp(ix->entries[nd->entry_idx].path, nd->entry->path) != 0)
            return error_set(err, EINVAL,
                             "layer %u: the new index does not list `%s` where the old one did",
                             layer, nd->entry->path);
        nd->entry = &ix->entries[nd->entry_idx];
    }
    return 0;
}

/* Are two nodes the same bytes without looking: the same entry of the same
 * layer content (equal diff_ids)? */
static bool same_source(const struct fmt_tree_node *a, const char *const *ids_a,
                        const struct fmt_tree_node *b, const char *const *ids_b)
{
    return a->entry_idx == b->entry_idx && ids_a[a->layer] && ids_b[b->layer] &&
           !strcmp(ids_a[a->layer], ids_b[b->layer]);
}

static unsigned meta_diff(const struct fmt_layer_entry *x, const struct fmt_layer_entry *y)
{
    unsigned what = 0;
    if (x->type != y->type)
        return FMT_DIFF_TYPE;
    if (x->mode != y->mode)
        what |= FMT_DIFF_MODE;
    if (x->uid != y->uid || x->gid != y->gid)
        what |= FMT_DIFF_OWNER;
    if ((x->link || y->link) && (!x->link || !y->link || strcmp(x->link, y->link)))
        what |= FMT_DIFF_LINK;
    if ((x->type == FMT_ENTRY_CHAR || x->type == FMT_ENTRY_BLOCK) &&
        (x->devmajor != y->devmajor || x->devminor != y->devminor))
        what |= FMT_DIFF_CONTENT;
    if (x->type == FMT_ENTRY_FILE && x->size != y->size)
        what |= FMT_DIFF_CONTENT;
    return what;
}

static bool needs_digest(const struct fmt_tree_node *a, const char *const *ids_a,
                         const struct fmt_tree_node *b, const char *const *ids_b)
{
    return a->entry->type == FMT_ENTRY_FILE && b->entry->type == FMT_ENTRY_FILE &&
           a->entry->size == b->entry->size && a->entry->size > 0 &&
           !same_source(a, ids_a, b, ids_b);
}

void fmt_tree_digest_needs(const struct fmt_tree *a, const char *const *ids_a,
                           const struct fmt_tree *b, const char *const *ids_b, bool *need_a,
                           bool *need_b)
{
    size_t i = 0, j = 0;
    while (i < a->n_nodes && j < b->n_nodes) {
        int c = fmt_path_cmp(a->nodes[i].entry->path, b->nodes[j].entry->path);
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            if (needs_digest(&a->nodes[i], ids_a, &b->nodes[j], ids_b)) {
                if (!a->nodes[i].entry->digest[0])
                    need_a[a->nodes[i].layer] = true;
                if (!b->nodes[j].entry->digest[0])
                    need_b[b->nodes[j].layer] = true;
            }
            i++;
            j++;
        }
    }
}

int fmt_tree_compare(const struct fmt_tree *a, const char *const *ids_a,
                     const struct fmt_tree *b, const char *const *ids_b,
                     struct fmt_changes *out, struct error *err)
{
    size_t i = 0, j = 0;
    while (i < a->n_nodes || j < b->n_nodes) {
        const struct fmt_tree_node *x = i < a->n_nodes ? &a->nodes[i] : NULL;
        const struct fmt_tree_node *y = j < b->n_nodes ? &b->nodes[j] : NULL;
        int c = !x ? 1 : !y ? -1 : fmt_path_cmp(x->entry->path, y->entry->path);
        if (c < 0) {
            if (x->entry->path[0]) {
                struct fmt_change *ch = push_change(out, FMT_CHANGE_DELETED, x->entry->path);
                ch->old_e = x->entry;
                ch->size = x->entry->size;
            }
            i++;
            continue;
        }
        if (c > 0) {
            if (y->entry->path[0]) {
                struct fmt_change *ch = push_change(out, FMT_CHANGE_ADDED, y->entry->path);
                ch->new_e = y->entry;
                ch->size = y->entry->size;
            }
            j++;
            continue;
        }
        i++;
        j++;
        if (same_source(x, ids_a, y, ids_b))
            continue;
        unsigned what = meta_diff(x->entry, y->entry);
        if (needs_digest(x, ids_a, y, ids_b)) {
            if (!x->entry->digest[0] || !y->entry->digest[0])
                return error_set(err, EINVAL, "`%s`: content digest not loaded",
                                 x->entry->path);
            if (strcmp(x->entry->digest, y->entry->digest) != 0)
                what |= FMT_DIFF_CONTENT;
        }
        if (!what || !x->entry->path[0])
            continue;
        struct fmt_change *ch = push_change(out, FMT_CHANGE_CHANGED, x->entry->path);
        ch->what = what;
        ch->old_e = x->entry;
        ch->new_e = y->entry;
        ch->size = y->entry->size;
        ch->old_size = x->entry->size;
    }
    return 0;
}

const char *fmt_diff_what_string(unsigned what, char *buf, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {FMT_DIFF_TYPE, "type"},   {FMT_DIFF_CONTENT, "content"}, {FMT_DIFF_MODE, "mode"},
        {FMT_DIFF_OWNER, "owner"}, {FMT_DIFF_LINK, "link"},
    };
    size_t o = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
        if (!(what & names[k].bit))
            continue;
        int w = snprintf(buf + o, len - o, "%s%s", o ? "," : "", names[k].name);
        if (w < 0 || (size_t)w >= len - o)
            break;
        o += (size_t)w;
    }
    return buf;
}
