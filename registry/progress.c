#include "registry/progress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/xalloc.h"

struct line {
    char digest[16]; /* the 12 hex digits users see in podman's output */
    enum reg_blob_state state;
    int64_t done, total;
};

struct reg_progress_ui {
    FILE *out;
    bool tty, quiet;
    pthread_mutex_t lock; /* protects lines and the cursor position on out */
    struct line *lines;
    size_t n;       /* lines[] indexed by the transfer's blob index */
    size_t drawn;   /* lines on screen below the first one we drew */
    struct timespec last_draw;
};

struct reg_progress_ui *reg_progress_ui_new(FILE *out, bool tty, bool quiet)
{
    struct reg_progress_ui *ui = xzalloc(sizeof *ui);
    ui->out = out;
    ui->tty = tty;
    ui->quiet = quiet;
    pthread_mutex_init(&ui->lock, NULL);
    return ui;
}

void reg_progress_ui_free(struct reg_progress_ui *ui)
{
    if (!ui)
        return;
    if (ui->tty && ui->drawn) /* end the last bar line */
        fputc('\n', ui->out);
    pthread_mutex_destroy(&ui->lock);
    free(ui->lines);
    free(ui);
}

static void human(char *buf, size_t len, int64_t n)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

static const char *state_word(enum reg_blob_state s)
{
    switch (s) {
    case REG_BLOB_START:
        return "starting";
    case REG_BLOB_PROGRESS:
        return "copying";
    case REG_BLOB_EXISTS:
        return "already exists";
    case REG_BLOB_MOUNTED:
        return "mounted";
    case REG_BLOB_DONE:
        return "done";
    case REG_BLOB_RETRY:
        return "retrying";
    case REG_BLOB_FAILED:
        return "failed";
    }
    return "";
}

static void draw_line(struct reg_progress_ui *ui, const struct line *l)
{
    char done[32], total[32];
    human(done, sizeof done, l->done);
    human(total, sizeof total, l->total);
    char bar[31];
    int width = 30;
    int fill = l->total > 0 ? (int)(l->done * width / l->total) : 0;
    if (fill > width)
        fill = width;
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = '\0';
    if (fill == width)
        bar[width - 1] = '=';
    fprintf(ui->out, "\r\033[2KBlob %s [%s] %s / %s %s", l->digest, bar, done, total,
            state_word(l->state));
}

void reg_progress_ui_event(void *ud, size_t index, const char *digest,
                           enum reg_blob_state state, int64_t done, int64_t total)
{
    struct reg_progress_ui *ui = ud;
    if (!ui || ui->quiet)
        return;
    pthread_mutex_lock(&ui->lock);
    if (index >= ui->n) {
        ui->lines = xrealloc(ui->lines, (index + 1) * sizeof *ui->lines);
        memset(ui->lines + ui->n, 0, (index + 1 - ui->n) * sizeof *ui->lines);
        ui->n = index + 1;
    }
    struct line *l = &ui->lines[index];
    const char *hex = strchr(digest, ':');
    snprintf(l->digest, sizeof l->digest, "%.12s", hex ? hex + 1 : digest);
    enum reg_blob_state prev = l->state;
    l->state = state;
    l->done = done;
    l->total = total;

    if (!ui->tty) {
        char size[32];
        human(size, sizeof size, total);
        if (state == REG_BLOB_START)
            fprintf(ui->out, "Copying blob %s (%s)\n", l->digest, size);
        else if (state == REG_BLOB_RETRY)
            fprintf(ui->out, "Copying blob %s: connection lost, resuming at %lld bytes\n",
                    l->digest, (long long)done);
        else if (state != REG_BLOB_PROGRESS)
            fprintf(ui->out, "Copying blob %s %s\n", l->digest, state_word(state));
        fflush(ui->out);
        pthread_mutex_unlock(&ui->lock);
        return;
    }

    /* throttle byte-count redraws to ~10 per second */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - ui->last_draw.tv_sec) * 1000 +
              (now.tv_nsec - ui->last_draw.tv_nsec) / 1000000;
    if (state == REG_BLOB_PROGRESS && prev == REG_BLOB_PROGRESS && ms < 100 &&
        index < ui->drawn) {
        pthread_mutex_unlock(&ui->lock);
        return;
    }
    ui->last_draw = now;
    /* lines are drawn in index order; new ones are appended below */
    while (ui->drawn <= index) {
        if (ui->drawn)
            fputc('\n', ui->out);
        draw_line(ui, &ui->lines[ui->drawn]);
        ui->drawn++;
    }
    size_t up = ui->drawn - 1 - index;
    if (up)
        fprintf(ui->out, "\033[%zuA", up);
    draw_line(ui, l);
    if (up)
        fprintf(ui->out, "\033[%zuB", up);
    fflush(ui->out);
    pthread_mutex_unlock(&ui->lock);
}

int reg_parse_bool(const char *s, bool *out)
{
    if (!s || !strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no")) {
        *out = false;
        return 0;
    }
    return -1;
}

int64_t reg_parse_size(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0)
        return -1;
    long long mul = 1;
    switch (*end) {
    case '\0':
        break;
    case 'k': case 'K':
        mul = 1LL << 10;
        end++;
        break;
    case 'm': case 'M':
        mul = 1LL << 20;
        end++;
        break;
    case 'g': case 'G':
        mul = 1LL << 30;
        end++;
        break;
    default:
        return -1;
    }
    if (*end == 'i' || *end == 'B' || *end == 'b')
        end += (*end == 'i') + (end[*end == 'i'] == 'B' || end[*end == 'i'] == 'b');
    if (*end)
        return -1;
    return (int64_t)(v * mul);
}
