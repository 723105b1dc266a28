#include "format/analyze.h"

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/tree_diff.h"

struct copy {
    const char *path;
    int64_t size;
};

static int cmp_copy(const void *pa, const void *pb)
{
    return fmt_path_cmp(((const struct copy *)pa)->path, ((const struct copy *)pb)->path);
}

static int cmp_item(const void *pa, const void *pb)
{
    const struct fmt_waste_item *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return fmt_path_cmp(a->path, b->path);
}

void fmt_analysis_clear(struct fmt_analysis *a)
{
    free(a->items);
    memset(a, 0, sizeof *a);
}

void fmt_analyze(const struct fmt_layer_index *const *layers, size_t n, struct fmt_analysis *out)
{
    memset(out, 0, sizeof *out);
    struct fmt_tree tree = {0};
    struct copy *copies = NULL;
    size_t n_copies = 0, cap = 0;

    for (size_t l = 0; l < n; l++) {
        struct fmt_changes ch = {0};
        fmt_tree_apply(&tree, layers[l], (uint32_t)l, FMT_RECORD_EACH, &ch);
        for (size_t k = 0; k < ch.n; k++) {
            const struct fmt_change *c = &ch.v[k];
            const struct fmt_layer_entry *e = c->kind == FMT_CHANGE_DELETED ? c->old_e : c->new_e;
            if (e->type == FMT_ENTRY_DIR)
                continue; /* directories hold no bytes: dive skips non-leaves */
            if (n_copies == cap) {
                cap = cap ? cap * 2 : 256;
                copies = xrealloc(copies, cap * sizeof *copies);
            }
            copies[n_copies].path = c->path;
            copies[n_copies].size = c->kind == FMT_CHANGE_DELETED ? 0 : e->size;
            n_copies++;
        }
        fmt_changes_clear(&ch);
        out->image_bytes += layers[l]->file_bytes;
        if (l > 0)
            out->user_bytes += layers[l]->file_bytes;
    }
    fmt_tree_clear(&tree);

    qsort(copies, n_copies, sizeof *copies, cmp_copy);
    int64_t sum_min = 0, sum_cum = 0;
    size_t items_cap = 0;
    for (size_t i = 0; i < n_copies;) {
        size_t j = i;
        int64_t cum = 0, min = copies[i].size;
        for (; j < n_copies && !strcmp(copies[j].path, copies[i].path); j++) {
            cum += copies[j].size;
            if (copies[j].size < min)
                min = copies[j].size;
        }
        sum_cum += cum;
        sum_min += min;
        if (j - i >= 2) {
            out->wasted_bytes += cum;
            if (out->n_items == items_cap) {
                items_cap = items_cap ? items_cap * 2 : 32;
                out->items = xrealloc(out->items, items_cap * sizeof *out->items);
            }
            out->items[out->n_items++] =
                (struct fmt_waste_item){.path = copies[i].path, .copies = (uint32_t)(j - i),
                                        .bytes = cum};
        }
        i = j;
    }
    free(copies);
    out->efficiency = sum_cum ? (double)sum_min / (double)sum_cum : 1.0;
    out->user_wasted_fraction = out->user_bytes ? (double)out->wasted_bytes / (double)out->user_bytes : 0;
    if (out->n_items)
        qsort(out->items, out->n_items, sizeof *out->items, cmp_item);
}
