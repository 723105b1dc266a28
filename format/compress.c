#include "format/compress.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/xalloc.h"

/* pigz's numbers: 128 KiB of input per job, the previous 32 KiB (deflate's
 * whole window) as dictionary so parallel chunks compress as well as one
 * stream would. */
#define GZ_CHUNK (128 * 1024)
#define GZ_DICT (32 * 1024)
#define IO_BUF (128 * 1024)

enum fmt_compression fmt_compression_detect(const void *buf, size_t len)
{
    const unsigned char *b = buf;
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return FMT_COMPRESSION_GZIP;
    if (len >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
        return FMT_COMPRESSION_ZSTD;
    return FMT_COMPRESSION_NONE;
}

const char *fmt_compression_name(enum fmt_compression c)
{
    switch (c) {
    case FMT_COMPRESSION_GZIP:
        return "gzip";
    case FMT_COMPRESSION_ZSTD:
        return "zstd";
    default:
        return "none";
    }
}

int fmt_compression_parse(const char *name, enum fmt_compression *out, struct error *err)
{
    if (!strcmp(name, "gzip"))
        *out = FMT_COMPRESSION_GZIP;
    else if (!strcmp(name, "zstd"))
        *out = FMT_COMPRESSION_ZSTD;
    else if (!strcmp(name, "none") || !strcmp(name, "uncompressed"))
        *out = FMT_COMPRESSION_NONE;
    else
        return error_set(err, EINVAL, "unknown compression `%s` (gzip, zstd or none)", name);
    return 0;
}

ssize_t fmt_fd_source(void *ctx, void *buf, size_t len, struct error *err)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return error_errno(err, "read");
    }
}

/* ---- parallel gzip ---------------------------------------------------- */

struct gz_job {
    unsigned char *in;
    size_t in_len;
    unsigned char *dict;
    size_t dict_len;
    unsigned char *out;
    size_t out_len, out_cap;
    uLong crc;
    bool last;
    bool done;
    int zerr; /* zlib status when deflate failed, else Z_OK */
};

struct gz_pool {
    /* lock protects taken, done flags and stop; the main thread alone
     * moves head and tail (tail under the lock, workers read it). */
    pthread_mutex_t lock;
    pthread_cond_t work, finished;
    struct gz_job *jobs;
    size_t n_slots;
    uint64_t head;  /* next job to emit */
    uint64_t taken; /* next job a worker picks up */
    uint64_t tail;  /* next job to submit (the one being filled) */
    bool stop;
    pthread_t *threads;
    int n_threads;
    int level;
    uLong crc;
    uint64_t total_in;
};

static void gz_deflate(z_stream *z, struct gz_job *j)
{
    j->crc = crc32(0L, j->in, (uInt)j->in_len);
    j->zerr = deflateReset(z);
    if (j->zerr == Z_OK && j->dict_len)
        j->zerr = deflateSetDictionary(z, j->dict, (uInt)j->dict_len);
    if (j->zerr != Z_OK)
        return;
    z->next_in = j->in;
    z->avail_in = (uInt)j->in_len;
    j->out_len = 0;
    int flush = j->last ? Z_FINISH : Z_SYNC_FLUSH;
    for (;;) {
        if (j->out_cap - j->out_len < 64) {
            j->out_cap *= 2;
            j->out = xrealloc(j->out, j->out_cap);
        }
        z->next_out = j->out + j->out_len;
        z->avail_out = (uInt)(j->out_cap - j->out_len);
        int r = deflate(z, flush);
        j->out_len = j->out_cap - z->avail_out;
        if (r == Z_STREAM_END)
            break;
        if (r != Z_OK && r != Z_BUF_ERROR) {
            j->zerr = r;
            return;
        }
        if (!j->last && z->avail_in == 0 && z->avail_out != 0)
            break; /* sync flush complete */
    }
    j->zerr = Z_OK;
}

static void *gz_worker(void *arg)
{
    struct gz_pool *p = arg;
    z_stream z = {0};
    /* raw deflate (-15): the gzip framing is written once, around all chunks */
    int init = deflateInit2(&z, p->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->taken == p->tail)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->taken == p->tail)
            break;
        struct gz_job *j = &p->jobs[p->taken++ % p->n_slots];
        pthread_mutex_unlock(&p->lock);
        if (init == Z_OK)
            gz_deflate(&z, j);
        else
            j->zerr = init;
        pthread_mutex_lock(&p->lock);
        j->done = true;
        pthread_cond_broadcast(&p->finished);
    }
    pthread_mutex_unlock(&p->lock);
    if (init == Z_OK)
        deflateEnd(&z);
    return NULL;
}

struct fmt_compressor {
    enum fmt_compression kind;
    fmt_sink_fn sink;
    void *sink_ctx;
    bool failed, finished;
    /* gzip */
    struct gz_pool *gz;
    /* zstd */
    ZSTD_CCtx *zc;
    unsigned char *zout;
    size_t zout_cap;
};

static int gz_emit(struct fmt_compressor *c, struct gz_job *j, struct error *err)
{
    struct gz_pool *p = c->gz;
    if (j->zerr != Z_OK)
        return error_set(err, EIO, "gzip: deflate failed (zlib error %d)", j->zerr);
    if (c->sink(c->sink_ctx, j->out, j->out_len, err) < 0)
        return -1;
    p->crc = crc32_combine(p->crc, j->crc, (z_off_t)j->in_len);
    p->total_in += j->in_len;
    if (j->last) {
        unsigned char trailer[8];
        uint32_t crc = (uint32_t)p->crc, isize = (uint32_t)p->total_in;
        for (int i = 0; i < 4; i++) {
            trailer[i] = (unsigned char)(crc >> (8 * i));
            trailer[4 + i] = (unsigned char)(isize >> (8 * i));
        }
        return c->sink(c->sink_ctx, trailer, sizeof trailer, err);
    }
    return 0;
}

/* Emits finished jobs in order; with `wait_for` set, blocks until the job
 * numbered wait_for - 1 has been emitted. */
static int gz_drain(struct fmt_compressor *c, uint64_t wait_for, struct error *err)
{
    struct gz_pool *p = c->gz;
    while (p->head < p->tail) {
        struct gz_job *j = &p->jobs[p->head % p->n_slots];
        pthread_mutex_lock(&p->lock);
        if (p->head < wait_for)
            while (!j->done)
                pthread_cond_wait(&p->finished, &p->lock);
        bool done = j->done;
        pthread_mutex_unlock(&p->lock);
        if (!done)
            break;
        j->done = false;
        p->head++;
        if (gz_emit(c, j, err) < 0)
            return -1;
    }
    return 0;
}

static int gz_submit(struct fmt_compressor *c, bool last, struct error *err)
{
    struct gz_pool *p = c->gz;
    struct gz_job *j = &p->jobs[p->tail % p->n_slots];
    j->last = last;
    j->dict_len = 0;
    if (p->tail > 0) {
        /* the previous slot is not reused before this job has been taken */
        struct gz_job *prev = &p->jobs[(p->tail - 1) % p->n_slots];
        size_t n = prev->in_len < GZ_DICT ? prev->in_len : GZ_DICT;
        memcpy(j->dict, prev->in + prev->in_len - n, n);
        j->dict_len = n;
    }
    pthread_mutex_lock(&p->lock);
    p->tail++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
    /* Keep one slot back: the slot being filled next must be emitted, and
     * the slot before it must stay intact for the dictionary copy. */
    uint64_t need = p->tail + 2 > p->n_slots ? p->tail + 2 - p->n_slots : 0;
    if (gz_drain(c, need, err) < 0)
        return -1;
    p->jobs[p->tail % p->n_slots].in_len = 0;
    return 0;
}

static void gz_pool_stop(struct gz_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    p->n_threads = 0;
}

static void gz_pool_free(struct gz_pool *p)
{
    if (!p)
        return;
    gz_pool_stop(p);
    for (size_t i = 0; i < p->n_slots; i++) {
        free(p->jobs[i].in);
        free(p->jobs[i].dict);
        free(p->jobs[i].out);
    }
    free(p->jobs);
    free(p->threads);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->finished);
    free(p);
}

static int gz_start(struct fmt_compressor *c, int level, int threads, struct error *err)
{
    struct gz_pool *p = xzalloc(sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->finished, NULL);
    p->level = level;
    p->crc = crc32(0L, Z_NULL, 0);
    p->n_slots = (size_t)threads * 2 + 3;
    p->jobs = xcalloc(p->n_slots, sizeof *p->jobs);
    for (size_t i = 0; i < p->n_slots; i++) {
        p->jobs[i].in = xmalloc(GZ_CHUNK);
        p->jobs[i].dict = xmalloc(GZ_DICT);
        p->jobs[i].out_cap = deflateBound(NULL, GZ_CHUNK) + 64;
        p->jobs[i].out = xmalloc(p->jobs[i].out_cap);
    }
    p->threads = xcalloc((size_t)threads, sizeof *p->threads);
    c->gz = p;
    for (int i = 0; i < threads; i++) {
        int r = pthread_create(&p->threads[i], NULL, gz_worker, p);
        if (r != 0)
            return error_code(err, r, "gzip: start worker thread");
        p->n_threads++;
    }
    /* gzip header: no name, mtime 0 (reproducible), OS unix */
    unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    hdr[8] = level >= 9 ? 2 : level == 1 ? 4 : 0;
    return c->sink(c->sink_ctx, hdr, sizeof hdr, err);
}

static int gz_write(struct fmt_compressor *c, const unsigned char *buf, size_t len,
                    struct error *err)
{
    struct gz_pool *p = c->gz;
    while (len > 0) {
        struct gz_job *j = &p->jobs[p->tail % p->n_slots];
        size_t n = GZ_CHUNK - j->in_len;
        if (n > len)
            n = len;
        memcpy(j->in + j->in_len, buf, n);
        j->in_len += n;
        buf += n;
        len -= n;
        if (j->in_len == GZ_CHUNK && gz_submit(c, false, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- zstd ---------------------------------------------------------------- */

static int zstd_check(size_t r, struct error *err)
{
    if (ZSTD_isError(r))
        return error_set(err, EIO, "zstd: %s", ZSTD_getErrorName(r));
    return 0;
}

static int zstd_start(struct fmt_compressor *c, int level, int threads, struct error *err)
{
    c->zc = ZSTD_createCCtx();
    if (!c->zc)
        return error_set(err, ENOMEM, "zstd: cannot create a compression context");
    c->zout_cap = ZSTD_CStreamOutSize();
    c->zout = xmalloc(c->zout_cap);
    if (zstd_check(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel, level), err) < 0 ||
        zstd_check(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_checksumFlag, 1), err) < 0)
        return -1;
    /* Any nbWorkers >= 1 gives the same bytes (zstd >= 1.5), so digests do
     * not depend on the machine's core count.  A libzstd built without
     * threads refuses: then compress on this thread. */
    size_t r = ZSTD_CCtx_setParameter(c->zc, ZSTD_c_nbWorkers, threads);
    (void)r;
    return 0;
}

static int zstd_run(struct fmt_compressor *c, const void *buf, size_t len,
                    ZSTD_EndDirective mode, struct error *err)
{
    ZSTD_inBuffer in = {buf, len, 0};
    for (;;) {
        ZSTD_outBuffer out = {c->zout, c->zout_cap, 0};
        size_t r = ZSTD_compressStream2(c->zc, &out, &in, mode);
        if (zstd_check(r, err) < 0)
            return -1;
        if (out.pos && c->sink(c->sink_ctx, c->zout, out.pos, err) < 0)
            return -1;
        if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size)
            return 0;
    }
}

/* ---- compressor API ------------------------------------------------------ */

int fmt_compressor_new(enum fmt_compression kind, int level, int threads, fmt_sink_fn sink,
                       void *sink_ctx, struct fmt_compressor **out, struct error *err)
{
    struct fmt_compressor *c = xzalloc(sizeof *c);
    c->kind = kind;
    c->sink = sink;
    c->sink_ctx = sink_ctx;
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > 64)
        threads = 64;
    int r = 0;
    if (kind == FMT_COMPRESSION_GZIP)
        r = gz_start(c, level > 0 ? (level > 9 ? 9 : level) : 6, threads, err);
    else if (kind == FMT_COMPRESSION_ZSTD)
        r = zstd_start(c, level > 0 ? level : 3, threads, err);
    if (r < 0) {
        fmt_compressor_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int fmt_compressor_write(struct fmt_compressor *c, const void *buf, size_t len,
                         struct error *err)
{
    if (c->failed || c->finished)
        return error_set(err, EINVAL, "%s: write after the stream failed or ended",
                         fmt_compression_name(c->kind));
    int r;
    if (len == 0)
        return 0;
    if (c->kind == FMT_COMPRESSION_GZIP)
        r = gz_write(c, buf, len, err);
    else if (c->kind == FMT_COMPRESSION_ZSTD)
        r = zstd_run(c, buf, len, ZSTD_e_continue, err);
    else
        r = c->sink(c->sink_ctx, buf, len, err);
    if (r < 0)
        c->failed = true;
    return r;
}

int fmt_compressor_finish(struct fmt_compressor *c, struct error *err)
{
    if (c->failed || c->finished)
        return error_set(err, EINVAL, "%s: finish after the stream failed or ended",
                         fmt_compression_name(c->kind));
    c->finished = true;
    int r = 0;
    if (c->kind == FMT_COMPRESSION_GZIP) {
        r = gz_submit(c, true, err);
        if (r == 0)
            r = gz_drain(c, c->gz->tail, err);
    } else if (c->kind == FMT_COMPRESSION_ZSTD) {
        r = zstd_run(c, NULL, 0, ZSTD_e_end, err);
    }
    if (r < 0)
        c->failed = true;
    return r;
}

void fmt_compressor_free(struct fmt_compressor *c)
{
    if (!c)
        return;
    gz_pool_free(c->gz);
    ZSTD_freeCCtx(c->zc);
    free(c->zout);
    free(c);
}

/* ---- decompressor -------------------------------------------------------- */

struct fmt_decompressor {
    enum fmt_compression kind;
    fmt_source_fn source;
    void *source_ctx;
    char *what;
    unsigned char *in;
    size_t in_pos, in_len;
    bool eof;    /* the source said end of input */
    bool done;   /* the decompressed stream ended cleanly */
    z_stream z;
    bool z_init;
    ZSTD_DCtx *zd;
    size_t zd_last; /* last ZSTD_decompressStream result: 0 = frame complete */
};

static int dec_fill(struct fmt_decompressor *d, struct error *err)
{
    if (d->in_pos < d->in_len || d->eof)
        return 0;
    ssize_t n = d->source(d->source_ctx, d->in, IO_BUF, err);
    if (n < 0)
        return error_prefix(err, "read `%s`", d->what);
    d->in_pos = 0;
    d->in_len = (size_t)n;
    if (n == 0)
        d->eof = true;
    return 0;
}

int fmt_decompressor_new(fmt_source_fn source, void *source_ctx, const char *what,
                         struct fmt_decompressor **out, struct error *err)
{
    struct fmt_decompressor *d = xzalloc(sizeof *d);
    d->source = source;
    d->source_ctx = source_ctx;
    d->what = xstrdup(what);
    d->in = xmalloc(IO_BUF);
    /* gather enough bytes to see the magic */
    while (d->in_len < 4 && !d->eof) {
        ssize_t n = source(source_ctx, d->in + d->in_len, IO_BUF - d->in_len, err);
        if (n < 0) {
            error_prefix(err, "read `%s`", what);
            fmt_decompressor_free(d);
            return -1;
        }
        if (n == 0)
            d->eof = true;
        d->in_len += (size_t)n;
    }
    d->kind = fmt_compression_detect(d->in, d->in_len);
    if (d->kind == FMT_COMPRESSION_GZIP) {
        if (inflateInit2(&d->z, 15 + 16) != Z_OK) {
            fmt_decompressor_free(d);
            return error_set(err, ENOMEM, "gzip: cannot initialise inflate");
        }
        d->z_init = true;
    } else if (d->kind == FMT_COMPRESSION_ZSTD) {
        d->zd = ZSTD_createDCtx();
        if (!d->zd) {
            fmt_decompressor_free(d);
            return error_set(err, ENOMEM, "zstd: cannot create a decompression context");
        }
        d->zd_last = 0;
    }
    *out = d;
    return 0;
}

enum fmt_compression fmt_decompressor_kind(const struct fmt_decompressor *d)
{
    return d->kind;
}

static ssize_t dec_gzip(struct fmt_decompressor *d, void *buf, size_t len, struct error *err)
{
    for (;;) {
        if (d->done)
            return 0;
        if (dec_fill(d, err) < 0)
            return -1;
        if (d->in_pos == d->in_len && d->eof)
            return error_set(err, EIO, "`%s`: gzip stream is truncated", d->what);
        d->z.next_in = d->in + d->in_pos;
        d->z.avail_in = (uInt)(d->in_len - d->in_pos);
        d->z.next_out = buf;
        d->z.avail_out = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
        int r = inflate(&d->z, Z_NO_FLUSH);
        d->in_pos = d->in_len - d->z.avail_in;
        size_t produced = (size_t)((unsigned char *)d->z.next_out - (unsigned char *)buf);
        if (r == Z_STREAM_END) {
            /* another member may follow (concatenated gzip is one stream) */
            if (dec_fill(d, err) < 0)
                return -1;
            if (d->in_pos == d->in_len && d->eof)
                d->done = true;
            else if (d->in_len - d->in_pos >= 2 && d->in[d->in_pos] == 0x1f &&
                     d->in[d->in_pos + 1] == 0x8b)
                inflateReset(&d->z);
            else
                return error_set(err, EIO, "`%s`: trailing garbage after the gzip stream",
                                 d->what);
        } else if (r != Z_OK && r != Z_BUF_ERROR) {
            return error_set(err, EIO, "`%s`: corrupt gzip data (%s)", d->what,
                             d->z.msg ? d->z.msg : "zlib error");
        }
        if (produced)
            return (ssize_t)produced;
    }
}

static ssize_t dec_zstd(struct fmt_decompressor *d, void *buf, size_t len, struct error *err)
{
    for (;;) {
        if (dec_fill(d, err) < 0)
            return -1;
        if (d->in_pos == d->in_len && d->eof) {
            if (d->zd_last != 0)
                return error_set(err, EIO, "`%s`: zstd stream is truncated", d->what);
            return 0;
        }
        ZSTD_inBuffer in = {d->in, d->in_len, d->in_pos};
        ZSTD_outBuffer out = {buf, len, 0};
        size_t r = ZSTD_decompressStream(d->zd, &out, &in);
        d->in_pos = in.pos;
        if (ZSTD_isError(r))
            return error_set(err, EIO, "`%s`: corrupt zstd data (%s)", d->what,
                             ZSTD_getErrorName(r));
        d->zd_last = r;
        if (out.pos)
            return (ssize_t)out.pos;
    }
}

ssize_t fmt_decompressor_read(struct fmt_decompressor *d, void *buf, size_t len,
                              struct error *err)
{
    if (len == 0)
        return 0;
    if (d->kind == FMT_COMPRESSION_GZIP)
        return dec_gzip(d, buf, len, err);
    if (d->kind == FMT_COMPRESSION_ZSTD)
        return dec_zstd(d, buf, len, err);
    if (d->in_pos < d->in_len) {
        size_t n = d->in_len - d->in_pos;
        if (n > len)
            n = len;
        memcpy(buf, d->in + d->in_pos, n);
        d->in_pos += n;
        return (ssize_t)n;
    }
    if (d->eof)
        return 0;
    ssize_t n = d->source(d->source_ctx, buf, len, err);
    if (n < 0)
        return error_prefix(err, "read `%s`", d->what);
    if (n == 0)
        d->eof = true;
    return n;
}

void fmt_decompressor_free(struct fmt_decompressor *d)
{
    if (!d)
        return;
    if (d->z_init)
        inflateEnd(&d->z);
    ZSTD_freeDCtx(d->zd);
    free(d->in);
    free(d->what);
    free(d);
}
