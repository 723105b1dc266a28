#include "cmd/diff_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <unistd.h>

#include "cmd/imageutil.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

void dtab_init(struct dtab *t, size_t n_cols, const char *const *header)
{
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols;
    dtab_row(t, header);
}

void dtab_row(struct dtab *t, const char *const *cells)
{
    if (t->n_rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xrealloc(t->cells, t->cap * t->n_cols * sizeof *t->cells);
    }
    for (size_t c = 0; c < t->n_cols; c++)
        t->cells[t->n_rows * t->n_cols + c] = xstrdup(cells[c] ? cells[c] : "");
    t->n_rows++;
}

void dtab_print(const struct dtab *t, FILE *out)
{
    cleanup_free size_t *w = xcalloc(t->n_cols, sizeof *w);
    for (size_t r = 0; r < t->n_rows; r++)
        for (size_t c = 0; c < t->n_cols; c++) {
            size_t len = strlen(t->cells[r * t->n_cols + c]);
            if (len > w[c])
                w[c] = len;
        }
    for (size_t r = 0; r < t->n_rows; r++) {
        /* no padding after the last non-empty cell: no trailing blanks */
        size_t last = t->n_cols;
        while (last > 1 && !t->cells[r * t->n_cols + last - 1][0])
            last--;
        for (size_t c = 0; c < last; c++) {
            const char *cell = t->cells[r * t->n_cols + c];
            if (c + 1 == last)
                fprintf(out, "%s\n", cell);
            else
                fprintf(out, "%-*s   ", (int)w[c], cell);
        }
    }
}

void dtab_clear(struct dtab *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

const char *diff_human_size(int64_t bytes, char buf[32])
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1000;
        u++;
    }
    snprintf(buf, 32, "%.4g%s", v, units[u]);
    return buf;
}

const char *diff_human_ago(time_t then, time_t now, char buf[64])
{
    if (then <= 0) {
        snprintf(buf, 64, "N/A");
        return buf;
    }
    double s = difftime(now, then);
    if (s < 0)
        s = 0;
    long m = (long)(s / 60), h = (long)(s / 3600);
    if (s < 1)
        snprintf(buf, 64, "Less than a second ago");
    else if (s < 60)
        snprintf(buf, 64, "%ld second%s ago", (long)s, (long)s == 1 ? "" : "s");
    else if (m == 1)
        snprintf(buf, 64, "About a minute ago");
    else if (m < 60)
        snprintf(buf, 64, "%ld minutes ago", m);
    else if (h == 1)
        snprintf(buf, 64, "About an hour ago");
    else if (h < 48)
        snprintf(buf, 64, "%ld hours ago", h);
    else if (h < 24 * 7 * 2)
        snprintf(buf, 64, "%ld days ago", h / 24);
    else if (h < 24 * 30 * 2)
        snprintf(buf, 64, "%ld weeks ago", h / 24 / 7);
    else if (h < 24 * 365 * 2)
        snprintf(buf, 64, "%ld months ago", h / 24 / 30);
    else
        snprintf(buf, 64, "%ld years ago", h / 24 / 365);
    return buf;
}

int64_t diff_parse_bytes(const char *s)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1},         {"b", 1},           {"k", 1e3},       {"kb", 1e3},
        {"m", 1e6},      {"mb", 1e6},        {"g", 1e9},       {"gb", 1e9},
        {"t", 1e12},     {"tb", 1e12},       {"kib", 1024.0},  {"mib", 1048576.0},
        {"gib", 1073741824.0}, {"tib", 1099511627776.0},
    };
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < ARRAY_SIZE(units); i++)
        if (!strcasecmp(end, units[i].unit))
            return (int64_t)(v * units[i].mult + 0.5);
    return -1;
}

int diff_parse_bool(const char *s)
{
    if (!s)
        return 1;
    if (*s == '=')
        s++;
    if (!strcmp(s, "true") || !strcmp(s, "1") || !*s)
        return 1;
    if (!strcmp(s, "false") || !strcmp(s, "0"))
        return 0;
    return -1;
}

void diff_print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(j);
}

void diff_emit(bool json, json_t *arr, struct dtab *t)
{
    if (json) {
        diff_print_json(arr);
    } else {
        json_decref(arr);
        dtab_print(t, stdout);
    }
    dtab_clear(t);
}

char *diff_display_path(const char *path)
{
    return xasprintf("/%s", path);
}

int diff_image_open(struct fmt_store *s, const char *name, bool indexes, struct diff_image *di,
                    struct error *err)
{
    memset(di, 0, sizeof *di);
    if (fmt_image_resolve(s, name, &di->img, err) < 0)
        return -1;
    di->n = di->img->manifest.n_layers;
    di->ix = xcalloc(di->n + 1, sizeof *di->ix);
    di->ids = xcalloc(di->n + 1, sizeof *di->ids);
    di->layers = xcalloc(di->n + 1, sizeof *di->layers);
    for (size_t i = 0; i < di->n; i++) {
        const struct fmt_descriptor *l = &di->img->manifest.layers[i];
        di->ids[i] = l->diff_id ? l->diff_id : l->digest;
        di->layers[i] = &di->ix[i];
        if (indexes && fmt_layer_index_load(s, l, false, &di->ix[i], err) < 0) {
            diff_image_close(di);
            return -1;
        }
    }
    return 0;
}

struct fmt_store *diff_image_open_verb(struct cli *cli, const struct verb *v, const char *name,
                                       bool indexes, struct diff_image *di)
{
    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s)
        return NULL;
    struct error err = {0};
    if (diff_image_open(s, name, indexes, di, &err) < 0) {
        fmt_store_close(s);
        cli_fail(v, &err);
        return NULL;
    }
    return s;
}

struct digest_pool {
    struct fmt_store *s;
    struct diff_digest_job *jobs;
    size_t n;
    size_t next; /* protected by lock */
    pthread_mutex_t lock;
};

static void *digest_worker(void *arg)
{
    struct digest_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t k = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (k >= p->n)
            return NULL;
        struct diff_digest_job *j = &p->jobs[k];
        j->rc = fmt_layer_index_load(p->s, &j->di->img->manifest.layers[j->layer], true, &j->ix,
                                     &j->err);
    }
}

int diff_load_digests(struct fmt_store *s, struct diff_digest_job *jobs, size_t n,
                      struct error *err)
{
    struct digest_pool p = {.s = s, .jobs = jobs, .n = n, .lock = PTHREAD_MUTEX_INITIALIZER};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n_threads = cpus > 1 ? (size_t)cpus : 1;
    if (n_threads > n)
        n_threads = n;
    pthread_t *th = xcalloc(n_threads + 1, sizeof *th);
    size_t started = 0;
    for (size_t i = 1; i < n_threads; i++, started++)
        if (pthread_create(&th[i - 1], NULL, digest_worker, &p) != 0)
            break;
    digest_worker(&p); /* this thread works too */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);

    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        struct diff_digest_job *j = &jobs[k];
        if (j->rc < 0) {
            if (!rc)
                *err = j->err;
            rc = -1;
            continue;
        }
        /* rebinding reads the old entries: free them only afterwards */
        if (!rc && fmt_tree_rebind(j->tree, (uint32_t)j->layer, &j->ix, err) < 0)
            rc = -1;
        if (rc) {
            fmt_layer_index_clear(&j->ix);
            continue;
        }
        fmt_layer_index_clear(&j->di->ix[j->layer]);
        j->di->ix[j->layer] = j->ix;
        memset(&j->ix, 0, sizeof j->ix);
    }
    return rc;
}

void diff_image_close(struct diff_image *di)
{
    for (size_t i = 0; di->ix && i < di->n; i++)
        fmt_layer_index_clear(&di->ix[i]);
    free(di->ix);
    free(di->ids);
    free(di->layers);
    fmt_image_free(di->img);
    memset(di, 0, sizeof *di);
}
