#include "builder/build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "builder/cache.h"
#include "builder/copy.h"
#include "builder/fetch.h"
#include "builder/ignore.h"
#include "builder/image.h"
#include "builder/parse.h"
#include "builder/plan.h"
#include "builder/tree.h"
#include "builder/vars.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/image.h"
#include "format/index.h"
#include "format/layer_cache.h"
#include "format/layer_write.h"
#include "run/container.h"
/* unionfs lands in parallel: until it does, RUN fails in run_container
 * with a clear message and there is no upper to flatten */
#if __has_include("unionfs/unionfs.h")
#include "unionfs/unionfs.h"
#define HAVE_UNIONFS 1
#endif

static size_t strv_len(char **v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

struct stage_state {
    bool built;
    struct bld_image img;
    struct fmt_descriptor *layers; /* with diff_id */
    size_t n_layers;
    char key[FMT_DIGEST_MAX]; /* cache chain */
    struct bld_env args;
    struct pending_layer *pending; /* the last layer step's blob, still being written */
};

/* A layer step's upper being written as a blob by a child process while
 * the next step runs on top of it (the upper is that step's top lower).
 * Joined before anything needs its digest: the next layer step's result,
 * a cache hit, the end of the stage. */
struct pending_layer {
    pid_t pid;
    char *upper;
    char *result;   /* the child's JSON: descriptor + diff_id, or error */
    char key[FMT_DIGEST_MAX];
    char *where;    /* "FILE:LINE: TEXT" of the step, for errors */
};

struct build {
    const struct bld_options *o;
    struct bld_file *file;
    struct bld_plan *plan;
    struct stage_state *st;
    int ctx_fd;
    struct bld_tree ctx_tree;
    struct bld_ignore *ignore;
    char *work;       /* STORE/tmp/build-XXXXXX */
    unsigned seq;     /* upper/work dir counter */
    size_t step;      /* STEP n */
    int64_t now;      /* the date written into the image */
    bool rootless;
    bool tty;           /* progress lines (off in a parallel stage's process) */
    const char *prefix; /* "[stage] " on every line of a parallel stage, or NULL */
    int run_stdout, run_stderr; /* RUN's output (a parallel stage's: its prefixing pipes) */
    struct bld_result *res;
};

/* STRATA_BUILD_TRACE=1: where a build's time goes, phase by phase, on
 * stderr (for bench/build and for people asking why a build is slow). */
static double trace_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void trace(const char *phase, double since)
{
    static int on = -1;
    if (on < 0)
        on = getenv("STRATA_BUILD_TRACE") && *getenv("STRATA_BUILD_TRACE") == '1';
    if (on)
        fprintf(stderr, "trace: %-22s %8.3fs\n", phase, trace_now() - since);
}

static void say(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct build *b, const char *fmt, ...)
{
    if (!b->o->out)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (b->prefix) {
        /* one write per line, so parallel stages' lines never mix */
        char line[4096];
        int n = snprintf(line, sizeof line, "%s", b->prefix);
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        fputs(line, b->o->out);
    } else {
        vfprintf(b->o->out, fmt, ap);
    }
    va_end(ap);
    fflush(b->o->out);
}

static void layers_free(struct fmt_descriptor *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fmt_descriptor_clear(&l[i]);
    free(l);
}

static void layers_push(struct stage_state *s, const struct fmt_descriptor *d)
{
    s->layers = xrealloc(s->layers, (s->n_layers + 1) * sizeof *s->layers);
    memset(&s->layers[s->n_layers], 0, sizeof *s->layers);
    fmt_descriptor_copy(&s->layers[s->n_layers], d);
    s->n_layers++;
}

/* Unpacked directories of layers, top first (as union lowers). */
static int layer_dirs(struct build *b, const struct fmt_descriptor *layers, size_t n,
                      char ***out, struct error *err)
{
    char **dirs = xcalloc(n + 1, sizeof *dirs);
    for (size_t i = 0; i < n; i++) {
        const struct fmt_descriptor *d = &layers[n - 1 - i];
        if (fmt_layer_cache_get(b->o->store, d->digest, d->diff_id, &dirs[i], err) < 0) {
            strv_free(dirs);
            return error_prefix(err, "unpack layer %s", d->diff_id);
        }
    }
    *out = dirs;
    return 0;
}

/* A fresh upper (and work) directory for one step. */
static void new_upper(struct build *b, char **upper, char **work)
{
    b->seq++;
    *upper = xasprintf("%s/upper-%u", b->work, b->seq);
    *work = xasprintf("%s/work-%u", b->work, b->seq);
}

static int make_dirs(const char *upper, const char *work, struct error *err)
{
    if (mkdir(upper, 0755) < 0)
        return error_errno(err, "mkdir `%s`", upper);
    if (work && mkdir(work, 0700) < 0)
        return error_errno(err, "mkdir `%s`", work);
    return 0;
}

static void history(struct build *b, struct stage_state *s, const char *created_by, bool empty);

static json_t *layer_to_json(const struct fmt_descriptor *d)
{
    json_t *l = fmt_descriptor_to_json(d);
    json_object_set_new(l, "diff_id", json_string(d->diff_id));
    json_object_set_new(l, "uncompressed_size", json_integer(d->uncompressed_size));
    return l;
}

static int layer_from_json(json_t *v, struct fmt_descriptor *d, struct error *err)
{
    memset(d, 0, sizeof *d);
    if (fmt_descriptor_from_json(v, "layer", d, err) < 0)
        return -1;
    d->diff_id = xstrdup(json_string_value(json_object_get(v, "diff_id")) ?: "");
    d->uncompressed_size = json_integer_value(json_object_get(v, "uncompressed_size"));
    return 0;
}

/* The child's side: blob written, upper synced (the parent renames it into
 * layers/ later), result file written; the exit status is 0 or 1. */
static int commit_child(struct build *b, const char *upper, const char *result)
{
    struct error err = {0};
    struct fmt_descriptor desc = {0};
    int rc = -1;
    cleanup_close int fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        error_errno(&err, "open `%s`", upper);
    } else {
        struct fmt_layer_write_opts wo;
        fmt_layer_write_opts_init(&wo);
        wo.compression = b->o->compression;
        wo.source_date_epoch = b->o->timestamp;
        wo.override_stat = true;
        struct fmt_layer_info info;
        double t0 = trace_now();
        rc = fmt_layer_write_tree_blob(b->o->store, fd, "new layer", &wo, &info, &err);
        trace("layer write (child)", t0);
        if (rc == 0) {
            fmt_layer_info_descriptor(&info, &desc);
            /* the upper is published under layers/ by a rename: its files
             * must be on disk first */
            if (syncfs(fd) < 0)
                rc = error_errno(&err, "sync `%s`", upper);
        }
    }
    json_t *j = rc == 0 ? json_pack("{s:b, s:o}", "ok", 1, "layer", layer_to_json(&desc))
                        : json_pack("{s:b, s:i, s:s}", "ok", 0, "code", err.code, "msg", err.msg);
    fmt_descriptor_clear(&desc);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct error e2 = {0};
    int wrc = atomic_write_at(AT_FDCWD, result, text, strlen(text), 0600, &e2);
    free(text);
    return rc == 0 && wrc == 0 ? 0 : 1;
}

static void pending_free(struct pending_layer *p)
{
    if (!p)
        return;
    free(p->upper);
    free(p->result);
    free(p->where);
    free(p);
}

/* Waits for the stage's pending layer and makes it a layer of the stage:
 * descriptor, config diff_id, cache entry, the unpacked directory. */
static int commit_join(struct build *b, struct stage_state *s, struct error *err)
{
    struct pending_layer *p = s->pending;
    if (!p)
        return 0;
    s->pending = NULL;
    double t0 = trace_now();
    int status = 0;
    while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
        ;
    trace("wait for the commit", t0);
    cleanup_free char *data = NULL;
    size_t len = 0;
    json_t *j = NULL;
    int rc = -1;
    struct fmt_descriptor desc = {0};
    if (read_file_at(AT_FDCWD, p->result, &data, &len, err) < 0 ||
        !(j = json_loadb(data, len, 0, NULL))) {
        if (!j && data)
            error_set(err, 0, "commit the layer: a damaged result");
        error_prefix(err, "%s: commit the layer (status %d)", p->where, status);
        goto out;
    }
    if (!json_is_true(json_object_get(j, "ok"))) {
        error_set(err, (int)json_integer_value(json_object_get(j, "code")), "%s: %s", p->where,
                  json_string_value(json_object_get(j, "msg")) ?: "commit failed");
        goto out;
    }
    if (layer_from_json(json_object_get(j, "layer"), &desc, err) < 0)
        goto out;
    struct bld_cache_entry e = {.has_layer = true, .layer = desc};
    if (bld_cache_put(b->o->store, p->key, &e, err) < 0)
        goto out;
    layers_push(s, &desc);
    bld_image_add_layer(&s->img, desc.diff_id);
    say(b, "--> %.19s\n", desc.diff_id);
    /* kept as the unpacked layer, so no later union needs an unpack */
    struct error e2 = {0};
    if (!fmt_layer_cache_has(b->o->store, desc.diff_id)) {
        cleanup_free char *dst = fmt_layer_cache_path(b->o->store, desc.diff_id);
        cleanup_free char *parent = xstrdup(dst);
        char *slash = strrchr(parent, '/');
        if (slash)
            *slash = '\0';
        if (mkdir_p_at(AT_FDCWD, parent, 0700, &e2) == 0)
            (void)rename(p->upper, dst);
    }
    rm_rf_at(AT_FDCWD, p->upper, &e2);
    rc = 0;
out:
    fmt_descriptor_clear(&desc);
    json_decref(j);
    pending_free(p);
    return rc;
}

/* A failed build: waits for the writer without taking its layer. */
static void commit_discard(struct stage_state *s)
{
    struct pending_layer *p = s->pending;
    if (!p)
        return;
    s->pending = NULL;
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    pending_free(p);
}

/* Ends a layer step: the previous step's blob joined (its layer comes
 * first), this step's history added, and its upper handed to a child
 * process to write as a blob while the build goes on. */
static int commit_async(struct build *b, struct stage_state *s, const char *upper,
                        const char *key, const char *created_by, const struct bld_instr *in,
                        struct error *err)
{
    if (commit_join(b, s, err) < 0)
        return -1;
    struct pending_layer *p = xzalloc(sizeof *p);
    p->upper = xstrdup(upper);
    p->result = xasprintf("%s.commit.json", upper);
    memcpy(p->key, key, FMT_DIGEST_MAX);
    {
        struct error w = {0};
        bld_instr_error(&w, b->file, in, "x");
        size_t l = strlen(w.msg);
        p->where = xstrndup(w.msg, l > 3 ? l - 3 : l); /* without ": x" */
    }
    if (b->o->out)
        fflush(b->o->out);
    pid_t pid = fork();
    if (pid < 0) {
        pending_free(p);
        return error_errno(err, "fork the layer writer");
    }
    if (pid == 0)
        _exit(commit_child(b, upper, p->result));
    p->pid = pid;
    s->pending = p;
    history(b, s, created_by, false);
    return 0;
}

/* The union lowers for the next step: the pending layer's upper on top
 * of the stage's unpacked layers. */
static int stage_lowers(struct build *b, struct stage_state *s, char ***out, struct error *err)
{
    if (layer_dirs(b, s->layers, s->n_layers, out, err) < 0)
        return -1;
    if (s->pending) {
        size_t n = strv_len(*out);
        char **v = xcalloc(n + 2, sizeof *v);
        v[0] = xstrdup(s->pending->upper);
        memcpy(v + 1, *out, n * sizeof *v);
        free(*out);
        *out = v;
    }
    return 0;
}

/* FROM --platform: no emulation, so the base must already be for that
 * platform; FROM --platform=P scratch makes an image for P. */
static int check_platform(struct build *b, const struct bld_stage *stg,
                          const struct bld_instr *in, struct stage_state *s, struct error *err)
{
    if (!stg->platform)
        return 0;
    json_t *doc = s->img.doc;
    const char *os = json_string_value(json_object_get(doc, "os"));
    const char *arch = json_string_value(json_object_get(doc, "architecture"));
    const char *var = json_string_value(json_object_get(doc, "variant"));
    cleanup_free char *want = NULL;
    if (stg->base_stage < 0 && !strcasecmp(stg->base, "scratch")) {
        /* only for the normalized request */
        (void)bld_platform_match(stg->platform, "linux", "amd64", NULL, &want);
        char *sl = strchr(want, '/');
        if (strncmp(want, "linux", 5) || !sl || !sl[1])
            return bld_instr_error(err, b->file, in, "unsupported platform `%s` (want linux/ARCH)",
                                   stg->platform);
        char *sl2 = strchr(sl + 1, '/');
        if (sl2)
            *sl2 = '\0';
        json_object_set_new(doc, "architecture", json_string(sl + 1));
        if (sl2)
            json_object_set_new(doc, "variant", json_string(sl2 + 1));
        return 0;
    }
    if (bld_platform_match(stg->platform, os, arch, var, &want))
        return 0;
    return bld_instr_error(err, b->file, in,
                           "`%s` is %s/%s%s%s, not %s (--platform: strata builds without emulation)",
                           stg->base, os ? os : "?", arch ? arch : "?", var && *var ? "/" : "",
                           var && *var ? var : "", want);
}

static int stage_from_base(struct build *b, size_t si, struct error *err)
{
    const struct bld_stage *stg = &b->plan->stages[si];
    struct stage_state *s = &b->st[si];
    const struct bld_instr *in = &b->file->instrs[stg->first];
    bld_env_init(&s->args);
    if (stg->base_stage >= 0) {
        struct stage_state *from = &b->st[stg->base_stage];
        bld_image_copy(&s->img, &from->img);
        for (size_t i = 0; i < from->n_layers; i++)
            layers_push(s, &from->layers[i]);
        memcpy(s->key, from->key, sizeof s->key);
        return 0;
    }
    if (!strcasecmp(stg->base, "scratch")) {
        bld_image_scratch(&s->img);
        bld_cache_key("", "FROM scratch", NULL, s->key);
        return 0;
    }
    struct fmt_image *img = NULL;
    if (fmt_image_resolve(b->o->store, stg->base, &img, err) < 0) {
        if (err->code == ENOENT)
            return bld_instr_error(err, b->file, in,
                                   "image `%s` not found in the store (strata pull or strata import it)",
                                   stg->base);
        return bld_instr_prefix(err, b->file, in);
    }
    if (bld_image_from_json(img->config_raw, strlen(img->config_raw), &s->img, err) < 0) {
        fmt_image_free(img);
        return bld_instr_prefix(err, b->file, in);
    }
    for (size_t i = 0; i < img->manifest.n_layers; i++)
        layers_push(s, &img->manifest.layers[i]);
    /* Docker counts non-empty history entries against layers: pad an
     * imported base that has fewer entries than layers */
    json_t *hist = json_object_get(s->img.doc, "history");
    size_t nonempty = 0, idx;
    json_t *h;
    json_array_foreach(hist, idx, h)
        if (!json_is_true(json_object_get(h, "empty_layer")))
            nonempty++;
    for (; nonempty < s->n_layers; nonempty++)
        json_array_insert_new(hist, 0, json_pack("{s:s}", "created_by", "(base layer)"));
    bld_cache_key("", "FROM image", img->digest, s->key);
    fmt_image_free(img);
    return 0;
}

static int stage_from(struct build *b, size_t si, struct error *err)
{
    if (stage_from_base(b, si, err) < 0)
        return -1;
    const struct bld_stage *stg = &b->plan->stages[si];
    return check_platform(b, stg, &b->file->instrs[stg->first], &b->st[si], err);
}

static void history(struct build *b, struct stage_state *s, const char *created_by, bool empty)
{
    bld_image_add_history(&s->img, b->now, created_by, empty);
}

/* RUN's environment: the image's ENV, then the ARGs in scope that ENV
 * does not override. */
static char **run_env(const struct stage_state *s)
{
    size_t n = s->img.env.n + s->args.n;
    char **v = xcalloc(n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < s->img.env.n; i++)
        v[k++] = xasprintf("%s=%s", s->img.env.names[i],
                           s->img.env.values[i] ? s->img.env.values[i] : "");
    for (size_t i = 0; i < s->args.n; i++) {
        if (!s->args.values[i] || bld_env_find(&s->img.env, s->args.names[i]) >= 0)
            continue;
        v[k++] = xasprintf("%s=%s", s->args.names[i], s->args.values[i]);
    }
    return v;
}

/* Looks the step up in the cache; 1 = hit (layer pushed, history added). */
static int try_cache(struct build *b, struct stage_state *s, const char *key,
                     const char *created_by, struct error *err)
{
    if (b->o->no_cache)
        return 0;
    struct bld_cache_entry e;
    int r = bld_cache_get(b->o->store, key, &e, err);
    if (r <= 0)
        return r;
    if (e.has_layer) {
        if (commit_join(b, s, err) < 0) {
            bld_cache_entry_clear(&e);
            return -1;
        }
        layers_push(s, &e.layer);
        bld_image_add_layer(&s->img, e.layer.diff_id);
    }
    history(b, s, created_by, !e.has_layer);
    bld_cache_entry_clear(&e);
    say(b, "--> CACHED\n");
    return 1;
}

/* Chains the step's key from the parent's, the step's text and what else
 * decides its layer's bytes (identity: the COPY sources' digest, or NULL;
 * the compression and the timestamp), then looks it up: 1 = cache hit. */
static int chain_and_try_cache(struct build *b, struct stage_state *s, const char *identity,
                               const char *created_by, char key[FMT_DIGEST_MAX],
                               struct error *err)
{
    cleanup_free char *extra =
        xasprintf("%s%scompression=%d timestamp=%lld", identity ? identity : "",
                  identity ? " " : "", b->o->compression, (long long)b->o->timestamp);
    bld_cache_key(s->key, created_by, extra, key);
    memcpy(s->key, key, FMT_DIGEST_MAX);
    return try_cache(b, s, key, created_by, err);
}

static int finish_layer_step(struct build *b, struct stage_state *s, const char *key,
                             const char *created_by, const struct fmt_descriptor *desc,
                             struct error *err)
{
    struct bld_cache_entry e = {.has_layer = desc != NULL};
    if (desc)
        e.layer = *desc;
    if (bld_cache_put(b->o->store, key, &e, err) < 0)
        return -1;
    if (desc) {
        layers_push(s, desc);
        bld_image_add_layer(&s->img, desc->diff_id);
        say(b, "--> %.19s\n", desc->diff_id);
    }
    history(b, s, created_by, desc == NULL);
    return 0;
}

#ifdef HAVE_UNIONFS
/* Does any directory of the upper carry unionfs's redirect xattr?  Only
 * directories are looked at: the upper holds just what RUN changed.
 * 1 yes, 0 no, -1 unreadable. */
static int has_redirect_at(int dfd, int depth)
{
    if (fgetxattr(dfd, UFS_XATTR_REDIRECT, NULL, 0) >= 0)
        return 1;
    if (depth > 256)
        return -1;
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int c = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c < 0) {
            rc = -1;
            break;
        }
        rc = has_redirect_at(c, depth + 1);
        close(c);
    }
    closedir(d);
    return rc;
}

static int has_redirect(const char *upper)
{
    cleanup_close int fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -1 : has_redirect_at(fd, 0);
}
#endif

static int step_run(struct build *b, struct stage_state *s, const struct bld_instr *in,
                    struct error *err)
{
    static const char *const allowed[] = {"network", NULL};
    if (bld_instr_check_flags(b->file, in, allowed, err) < 0)
        return -1;
    const char *net = bld_instr_flag(in, "network", NULL);
    bool host = b->o->network_host;
    if (net && !strcmp(net, "host"))
        host = true;
    else if (net && strcmp(net, "none") && strcmp(net, "default"))
        return bld_instr_error(err, b->file, in, "unknown --network `%s`", net);
    if (!in->json && !*in->args)
        return bld_instr_error(err, b->file, in, "RUN needs a command");
    cleanup_strv char **argv = bld_command_argv(&s->img, in);
    /* created_by as Docker writes it: the build args in scope first */
    size_t cap = 64;
    for (char **a = argv; *a; a++)
        cap += strlen(*a) + 1;
    size_t n_args = 0;
    for (size_t i = 0; i < s->args.n; i++)
        if (s->args.values[i]) {
            cap += strlen(s->args.names[i]) + strlen(s->args.values[i]) + 2;
            n_args++;
        }
    cleanup_free char *cb = xmalloc(cap);
    strcpy(cb, "RUN ");
    if (n_args) {
        sprintf(cb + strlen(cb), "|%zu ", n_args);
        for (size_t i = 0; i < s->args.n; i++)
            if (s->args.values[i])
                sprintf(cb + strlen(cb), "%s=%s ", s->args.names[i], s->args.values[i]);
    }
    for (char **a = argv; *a; a++) {
        strcat(cb, *a);
        if (a[1])
            strcat(cb, " ");
    }
    char key[FMT_DIGEST_MAX];
    int r = chain_and_try_cache(b, s, NULL, cb, key, err);
    if (r != 0)
        return r < 0 ? -1 : 0;

    cleanup_strv char **lowers = NULL;
    double t0 = trace_now();
    if (stage_lowers(b, s, &lowers, err) < 0)
        return bld_instr_prefix(err, b->file, in);
    trace("unpack lowers", t0);
    cleanup_free char *upper = NULL, *work = NULL;
    new_upper(b, &upper, &work);
    if (make_dirs(upper, work, err) < 0)
        return -1;
    cleanup_strv char **env = run_env(s);
    struct run_spec spec;
    run_spec_init(&spec);
    spec.lowers = (const char *const *)lowers;
    spec.upper = upper;
    spec.work = work;
    spec.argv = argv;
    spec.env = env;
    spec.cwd = bld_image_workdir(&s->img);
    spec.user = *bld_image_user(&s->img) ? bld_image_user(&s->img) : NULL;
    spec.network = host ? RUN_NET_HOST : RUN_NET_NONE;
    spec.stdout_fd = b->run_stdout;
    spec.stderr_fd = b->run_stderr;
    /* the compiled default seccomp filter, shared with strata run */
    cleanup_free char *seccomp_cache = xasprintf("%s/cache/seccomp", b->o->store->root);
    spec.seccomp_cache = seccomp_cache;
    int status = 0;
    t0 = trace_now();
    if (run_container(&spec, &status, err) < 0)
        return bld_instr_prefix(err, b->file, in);
    trace("run container", t0);
    if (status != 0) {
        b->res->run_status = status;
        return bld_instr_error(err, b->file, in, "step %zu/%zu failed: the command exited with status %d",
                               b->step, b->plan->n_steps, status);
    }
    /* a renamed lower directory lives in the upper as a redirect: make the
     * upper plain OCI before it becomes a layer */
    size_t n_lowers = 0;
    while (lowers[n_lowers])
        n_lowers++;
#ifdef HAVE_UNIONFS
    struct ufs_options uo = {.lowers = (const char **)lowers, .n_lowers = n_lowers, .upper = upper,
                             .work = work, .rootless_override = b->rootless};
    t0 = trace_now();
    int frc = ufs_upper_flatten(&uo, err);
    trace("flatten", t0);
    if (frc < 0) {
        /* an unionfs without flattening yet: fine unless RUN renamed a
         * lower directory (its upper then holds a redirect) */
        int has = err->code == ENOSYS ? has_redirect(upper) : 1;
        if (has != 0)
            return bld_instr_prefix(err, b->file, in);
        error_clear(err);
    }
#else
    (void)n_lowers;
#endif
    struct error e2 = {0};
    t0 = trace_now();
    rm_rf_at(AT_FDCWD, work, &e2);
    trace("rm work", t0);
    return commit_async(b, s, upper, key, cb, in, err);
}

/* The sources' root for COPY --from: an earlier stage or an image. */
static int from_source(struct build *b, size_t si, const struct bld_instr *in, const char *ref,
                       char ***dirs, char **identity, struct error *err)
{
    long k = bld_plan_find_stage(b->plan, ref, si);
    struct fmt_descriptor *layers;
    size_t n;
    struct fmt_image *img = NULL;
    if (k >= 0) {
        layers = b->st[k].layers;
        n = b->st[k].n_layers;
    } else {
        if (fmt_image_resolve(b->o->store, ref, &img, err) < 0)
            return bld_instr_error(err, b->file, in,
                                   "--from `%s` is neither a stage nor an image in the store", ref);
        layers = img->manifest.layers;
        n = img->manifest.n_layers;
    }
    /* layers are content-addressed: their diff_ids identify the sources */
    size_t cap = 16;
    for (size_t i = 0; i < n; i++)
        cap += strlen(layers[i].diff_id) + 1;
    char *id = xmalloc(cap);
    strcpy(id, "from:");
    for (size_t i = 0; i < n; i++) {
        strcat(id, layers[i].diff_id);
        strcat(id, ",");
    }
    *identity = id;
    int rc = dirs ? layer_dirs(b, layers, n, dirs, err) : 0;
    fmt_image_free(img);
    return rc;
}

static int file_digest(const char *path, char out[FMT_DIGEST_MAX], struct error *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return error_errno(err, "open `%s`", path);
    struct fmt_digester *d = fmt_digester_new();
    char buf[65536];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        fmt_digester_update(d, buf, (size_t)r);
    int saved = errno;
    fmt_digester_final(d, out);
    fmt_digester_free(d);
    if (r < 0) {
        errno = saved;
        return error_errno(err, "read `%s`", path);
    }
    return 0;
}

static int step_copy(struct build *b, size_t si, struct stage_state *s, const struct bld_instr *in,
                     struct error *err)
{
    bool add = !strcmp(in->cmd, "add");
    static const char *const allowed_copy[] = {"from", "chown", "chmod", "link", NULL};
    /* --link is accepted: strata's result is the same, only BuildKit's
     * layer rebasing differs */
    static const char *const allowed_add[] = {"chown", "chmod", "link", "checksum", NULL};
    if (bld_instr_check_flags(b->file, in, add ? allowed_add : allowed_copy, err) < 0)
        return -1;
    struct bld_scope sc = {.env = &s->img.env, .args = &s->args};
    cleanup_strv char **words = NULL;
    size_t n = 0;
    if (in->json) {
        words = xcalloc(in->n_json + 1, sizeof *words);
        for (size_t i = 0; i < in->n_json; i++)
            if (bld_expand_word(in->json[i], b->file->escape, &sc, &words[i], err) < 0)
                return bld_instr_prefix(err, b->file, in);
        n = in->n_json;
    } else if (bld_expand_words(in->args, b->file->escape, &sc, &words, &n, err) < 0) {
        return bld_instr_prefix(err, b->file, in);
    }
    if (n < 2)
        return bld_instr_error(err, b->file, in, "%s needs at least one source and a destination",
                               add ? "ADD" : "COPY");
    /* flags are expanded too (--chown=$UID) */
    cleanup_free char *from = NULL, *chown_s = NULL, *chmod_s = NULL;
    const char *f;
    if ((f = bld_instr_flag(in, "from", NULL)) &&
        bld_expand_word(f, b->file->escape, &sc, &from, err) < 0)
        return bld_instr_prefix(err, b->file, in);
    if ((f = bld_instr_flag(in, "chown", NULL)) &&
        bld_expand_word(f, b->file->escape, &sc, &chown_s, err) < 0)
        return bld_instr_prefix(err, b->file, in);
    if ((f = bld_instr_flag(in, "chmod", NULL)) &&
        bld_expand_word(f, b->file->escape, &sc, &chmod_s, err) < 0)
        return bld_instr_prefix(err, b->file, in);

    const char *dest_arg = words[n - 1];
    cleanup_free char *dest = dest_arg[0] == '/'
                                  ? xstrdup(dest_arg)
                                  : xasprintf("%s/%s", bld_image_workdir(&s->img), dest_arg);
    struct bld_copy_opts co = {.srcs = words, .n_srcs = n - 1, .dest = dest, .add = add,
                               .timestamp = b->o->timestamp, .rootless = b->rootless};
    if (chmod_s && bld_parse_chmod(chmod_s, &co.mode, err) < 0)
        return bld_instr_prefix(err, b->file, in);
    co.chmod = chmod_s != NULL;
    co.chown = chown_s != NULL;

    /* URLs (ADD only): fetched into a scratch context of their own */
    cleanup_free char *url_dir = NULL;
    struct bld_tree url_tree = {0};
    bool any_url = false, any_local = false;
    for (size_t i = 0; i + 1 < n; i++) {
        bool u = !strncmp(words[i], "http://", 7) || !strncmp(words[i], "https://", 8);
        any_url |= u;
        any_local |= !u;
    }
    if (any_url && !add)
        return bld_instr_error(err, b->file, in, "COPY cannot fetch URLs; use ADD");
    if (any_url && any_local)
        return bld_instr_error(err, b->file, in, "ADD cannot mix URLs and local sources");
    /* --checksum as BuildKit has it: one http(s) source only (a local
     * source is refused, as Docker refuses it); checked before fetching */
    cleanup_free char *checksum = NULL;
    if ((f = bld_instr_flag(in, "checksum", NULL))) {
        if (bld_expand_word(f, b->file->escape, &sc, &checksum, err) < 0)
            return bld_instr_prefix(err, b->file, in);
        if (n != 2)
            return bld_instr_error(err, b->file, in, "--checksum needs exactly one source");
        if (!any_url)
            return bld_instr_error(err, b->file, in,
                                   "--checksum needs an http(s) source: Docker refuses it for local files too");
        if (!fmt_digest_is_valid(checksum))
            return bld_instr_error(err, b->file, in,
                                   "--checksum `%s` is not sha256:<64 lowercase hex digits>", checksum);
    }

    char key[FMT_DIGEST_MAX];
    cleanup_free char *identity = NULL;
    char content[FMT_DIGEST_MAX] = "";
    struct bld_copy_plan *plan = NULL;
    struct bld_tree from_tree = {0};
    cleanup_strv char **from_dirs = NULL;
    int rc = -1;
    cleanup_free char *cb = NULL;
    {
        size_t cap = 32 + strlen(dest_arg);
        for (size_t i = 0; i < n; i++)
            cap += strlen(words[i]) + 1;
        cap += (from ? strlen(from) : 0) + (chown_s ? strlen(chown_s) : 0) +
               (chmod_s ? strlen(chmod_s) : 0) + (checksum ? strlen(checksum) : 0) + 60;
        cb = xmalloc(cap);
        strcpy(cb, add ? "ADD" : "COPY");
        if (from)
            sprintf(cb + strlen(cb), " --from=%s", from);
        if (chown_s)
            sprintf(cb + strlen(cb), " --chown=%s", chown_s);
        if (chmod_s)
            sprintf(cb + strlen(cb), " --chmod=%s", chmod_s);
        if (checksum)
            sprintf(cb + strlen(cb), " --checksum=%s", checksum);
        for (size_t i = 0; i < n; i++) {
            strcat(cb, " ");
            strcat(cb, words[i]);
        }
    }
    if (any_url) {
        url_dir = xasprintf("%s/url-%u", b->work, ++b->seq);
        if (mkdir(url_dir, 0700) < 0)
            return error_errno(err, "mkdir `%s`", url_dir);
        for (size_t i = 0; i + 1 < n; i++) {
            char *local = NULL;
            if (bld_fetch_url(words[i], url_dir, &local, err) < 0)
                return bld_instr_prefix(err, b->file, in);
            if (checksum) {
                char got[FMT_DIGEST_MAX];
                cleanup_free char *lp = xasprintf("%s/%s", url_dir, local);
                int drc = file_digest(lp, got, err);
                if (drc < 0 || strcmp(got, checksum)) {
                    free(local);
                    if (drc < 0)
                        return bld_instr_prefix(err, b->file, in);
                    return bld_instr_error(err, b->file, in,
                                           "checksum mismatch for `%s`: --checksum says %s, the download is %s",
                                           words[i], checksum, got);
                }
            }
            free(words[i]);
            words[i] = local; /* the file's name inside url_dir */
        }
        const char *d[] = {url_dir};
        if (bld_tree_open(&url_tree, d, 1, err) < 0)
            return -1;
        url_tree.plain = true;
        co.src = &url_tree;
        co.from_context = true;
        co.add = false; /* remote archives are not extracted, as Docker does */
    } else if (from) {
        if (from_source(b, si, in, from, &from_dirs, &identity, err) < 0)
            return -1;
        if (bld_tree_open(&from_tree, (const char *const *)from_dirs, strv_len(from_dirs), err) < 0)
            return -1;
        co.src = &from_tree;
    } else {
        co.src = &b->ctx_tree;
        co.ignore = b->ignore;
        co.from_context = true;
    }
    double t0 = trace_now();
    if (bld_copy_plan_make(&co, &plan, err) < 0) {
        bld_instr_prefix(err, b->file, in);
        goto out;
    }
    if (!from) {
        if (bld_copy_plan_digest(plan, content, err) < 0) {
            bld_instr_prefix(err, b->file, in);
            goto out;
        }
        identity = xasprintf("content:%s", content);
    }
    trace("copy plan+digest", t0);
    int r = chain_and_try_cache(b, s, identity, cb, key, err);
    if (r != 0) {
        rc = r < 0 ? -1 : 0;
        goto out;
    }
    {
        cleanup_strv char **lowers = NULL;
        t0 = trace_now();
        if (stage_lowers(b, s, &lowers, err) < 0) {
            bld_instr_prefix(err, b->file, in);
            goto out;
        }
        cleanup_free char *upper = NULL, *work = NULL;
        new_upper(b, &upper, &work);
        if (make_dirs(upper, NULL, err) < 0)
            goto out;
        size_t nl = strv_len(lowers);
        const char **all = xcalloc(nl + 2, sizeof *all);
        all[0] = upper;
        for (size_t i = 0; i < nl; i++)
            all[i + 1] = lowers[i];
        struct bld_tree image = {0};
        int orc = bld_tree_open(&image, all, nl + 1, err);
        free(all);
        if (orc < 0)
            goto out;
        if (chown_s && bld_parse_chown(&image, chown_s, &co.uid, &co.gid, err) < 0) {
            bld_tree_close(&image);
            bld_instr_prefix(err, b->file, in);
            goto out;
        }
        cleanup_close int ufd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        orc = ufd < 0 ? error_errno(err, "open `%s`", upper)
                      : bld_copy_plan_run(plan, &image, ufd, err);
        trace("copy run", t0);
        bld_tree_close(&image);
        if (orc < 0) {
            bld_instr_prefix(err, b->file, in);
            goto out;
        }
        rc = commit_async(b, s, upper, key, cb, in, err);
    }
out:
    bld_copy_plan_free(plan);
    bld_tree_close(&from_tree);
    bld_tree_close(&url_tree);
    return rc;
}

static int step_workdir(struct build *b, struct stage_state *s, const struct bld_instr *in,
                        struct error *err)
{
    struct bld_scope sc = {.env = &s->img.env, .args = &s->args};
    cleanup_free char *cb = NULL;
    if (bld_image_apply(&s->img, b->file, in, &sc, &cb, err) < 0)
        return -1;
    char key[FMT_DIGEST_MAX];
    int r = chain_and_try_cache(b, s, NULL, cb, key, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    /* the directory is created when the image lacks it: that is a layer */
    cleanup_strv char **lowers = NULL;
    if (stage_lowers(b, s, &lowers, err) < 0)
        return bld_instr_prefix(err, b->file, in);
    cleanup_free char *upper = NULL, *work = NULL;
    new_upper(b, &upper, &work);
    if (make_dirs(upper, NULL, err) < 0)
        return -1;
    size_t nl = strv_len(lowers);
    const char **all = xcalloc(nl + 2, sizeof *all);
    all[0] = upper;
    for (size_t i = 0; i < nl; i++)
        all[i + 1] = lowers[i];
    struct bld_tree image = {0};
    int rc = bld_tree_open(&image, all, nl + 1, err);
    free(all);
    if (rc < 0)
        return -1;
    cleanup_free char *rd = NULL;
    struct bld_node node = {0};
    const char *wd = bld_image_workdir(&s->img);
    rc = bld_tree_resolve(&image, wd, true, &rd, err);
    if (rc == 0)
        rc = bld_tree_lookup(&image, rd, &node, err);
    bool exists = rc == 0 && node.exists;
    bld_node_clear(&node);
    if (rc == 0 && exists) {
        bld_tree_close(&image);
        struct error e2 = {0};
        rm_rf_at(AT_FDCWD, upper, &e2);
        return finish_layer_step(b, s, key, cb, NULL, err);
    }
    cleanup_close int ufd = -1;
    if (rc == 0) {
        ufd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = ufd < 0 ? error_errno(err, "open `%s`", upper)
                     : bld_upper_mkdirs(&image, ufd, rd, 0, 0, b->o->timestamp, b->rootless, err);
    }
    bld_tree_close(&image);
    if (rc < 0)
        return bld_instr_prefix(err, b->file, in);
    return commit_async(b, s, upper, key, cb, in, err);
}

/* One instruction of a stage (a line of the file or an ONBUILD trigger). */
static int run_instr(struct build *b, size_t si, const struct bld_instr *in, struct error *err)
{
    struct stage_state *s = &b->st[si];
    const struct bld_file *f = b->file;
    struct bld_scope sc = {.env = &s->img.env, .args = &s->args};
    int rc;
    if (!strcmp(in->cmd, "run")) {
        rc = step_run(b, s, in, err);
    } else if (!strcmp(in->cmd, "copy") || !strcmp(in->cmd, "add")) {
        rc = step_copy(b, si, s, in, err);
    } else if (!strcmp(in->cmd, "workdir")) {
        rc = step_workdir(b, s, in, err);
    } else if (!strcmp(in->cmd, "arg")) {
        /* Not part of the key chain: as Docker does, a new value misses
         * at its first use (every RUN, whose key has the ARG values,
         * and any instruction that expands it), not at the ARG line. */
        rc = bld_args_declare(&b->plan->args, f, in, &sc, false, &s->args, err);
        if (rc == 0) {
            cleanup_free char *hist = xasprintf("ARG %s", in->args);
            history(b, s, hist, true);
        }
    } else if (!strcmp(in->cmd, "from")) {
        rc = bld_instr_error(err, f, in, "unexpected FROM");
    } else {
        cleanup_free char *cb = NULL;
        rc = bld_image_apply(&s->img, f, in, &sc, &cb, err);
        if (rc == 0) {
            bld_cache_key(s->key, cb, NULL, s->key);
            history(b, s, cb, true);
        }
    }
    return rc;
}

/* Docker's ONBUILD: the base's triggers run right after FROM, in order,
 * as if written there; they are not passed on to this image's children.
 * Errors name the FROM line that brought them in. */
static int run_onbuild(struct build *b, size_t si, struct error *err)
{
    struct stage_state *s = &b->st[si];
    const struct bld_instr *from = &b->file->instrs[b->plan->stages[si].first];
    json_t *cfg = json_object_get(s->img.doc, "config");
    json_t *ob = json_object_get(cfg, "OnBuild");
    if (!json_is_array(ob) || json_array_size(ob) == 0) {
        if (ob)
            json_object_del(cfg, "OnBuild");
        return 0;
    }
    json_incref(ob);
    json_object_del(cfg, "OnBuild");
    int rc = 0;
    size_t i;
    json_t *t;
    json_array_foreach(ob, i, t) {
        const char *text = json_string_value(t);
        if (!text)
            continue;
        struct bld_file *tf = NULL;
        if (bld_parse(b->file->path, text, strlen(text), &tf, err) < 0) {
            rc = bld_instr_error(err, b->file, from, "ONBUILD trigger `%s`: %s", text, err->msg);
            break;
        }
        tf->escape = b->file->escape;
        for (size_t k = 0; k < tf->n_instrs && rc == 0; k++) {
            struct bld_instr *in = &tf->instrs[k];
            in->line = from->line;
            if (!strcmp(in->cmd, "onbuild") || !strcmp(in->cmd, "from") ||
                !strcmp(in->cmd, "maintainer")) {
                rc = bld_instr_error(err, b->file, in, "not allowed as an ONBUILD trigger");
                break;
            }
            say(b, "--> ONBUILD %s\n", in->text);
            rc = run_instr(b, si, in, err);
        }
        bld_file_free(tf);
        if (rc < 0)
            break;
    }
    json_decref(ob);
    return rc;
}

static int run_stage(struct build *b, size_t si, struct error *err)
{
    const struct bld_stage *stg = &b->plan->stages[si];
    struct stage_state *s = &b->st[si];
    const struct bld_file *f = b->file;
    /* STEP numbers follow the file, whichever order stages run in */
    b->step = 0;
    for (size_t k = 0; k < si; k++)
        if (b->plan->stages[k].needed)
            b->step += b->plan->stages[k].end - b->plan->stages[k].first;
    b->step++;
    say(b, "STEP %zu/%zu: %s\n", b->step, b->plan->n_steps, f->instrs[stg->first].text);
    if (stage_from(b, si, err) < 0 || run_onbuild(b, si, err) < 0)
        return -1;
    for (size_t i = stg->first + 1; i < stg->end; i++) {
        const struct bld_instr *in = &f->instrs[i];
        b->step++;
        say(b, "STEP %zu/%zu: %s\n", b->step, b->plan->n_steps, in->text);
        if (run_instr(b, si, in, err) < 0)
            return -1;
    }
    if (commit_join(b, s, err) < 0)
        return -1;
    s->built = true;
    return 0;
}

/* ---- independent stages in parallel ----
 * A stage whose FROM and COPY --from stages are built is ready.  When
 * more than one is ready, each runs in a process of its own (fork: the
 * runtime, the store and the cache are already safe across processes,
 * and no thread has to share the build's state), at most one per core;
 * its lines are prefixed "[NAME] " and its result (image config, layers,
 * cache key, consumed build args, or the error) comes back as a JSON
 * file.  One ready stage with nothing running builds in this process, as
 * a plain linear build always does. */

struct prefixer {
    int rfd, wfd;
    const char *prefix;
    pthread_t thread;
};

/* Copies RUN's output to wfd a line at a time, each behind the prefix. */
static void *prefix_lines(void *arg)
{
    struct prefixer *p = arg;
    size_t plen = strlen(p->prefix), cap = 8192, n = 0;
    char *buf = xmalloc(cap);
    char chunk[4096];
    ssize_t r;
    for (;;) {
        r = read(p->rfd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            if (n == 0) {
                while (cap < plen + 2)
                    cap *= 2;
                buf = xrealloc(buf, cap);
                memcpy(buf, p->prefix, plen);
                n = plen;
            }
            if (n + 2 > cap) {
                cap *= 2;
                buf = xrealloc(buf, cap);
            }
            buf[n++] = chunk[i];
            if (chunk[i] == '\n') {
                struct error e = {0};
                (void)write_all(p->wfd, buf, n, &e);
                n = 0;
            }
        }
    }
    if (n > plen) {
        buf[n++] = '\n';
        struct error e = {0};
        (void)write_all(p->wfd, buf, n, &e);
    }
    free(buf);
    return NULL;
}

static int prefixer_start(struct prefixer *p, int target, const char *prefix, int *write_end)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    p->rfd = fds[0];
    p->wfd = target;
    p->prefix = prefix;
    if (pthread_create(&p->thread, NULL, prefix_lines, p) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    *write_end = fds[1];
    return 0;
}

static char *stage_label(const struct bld_plan *p, size_t si)
{
    return p->stages[si].name ? xasprintf("[%s] ", p->stages[si].name)
                              : xasprintf("[stage %zu] ", si);
}

static char *stage_result_path(const struct build *b, size_t si)
{
    return xasprintf("%s/stage-%zu.json", b->work, si);
}

/* In the stage's process: builds it and writes the result file. */
static int stage_child(struct build *b, size_t si)
{
    cleanup_free char *label = stage_label(b->plan, si);
    cleanup_free char *work = xasprintf("%s/s%zu", b->work, si);
    struct error err = {0};
    char *parent_work = b->work;
    b->prefix = label;
    b->tty = false;
    struct prefixer po = {0}, pe = {0};
    int wo = -1, we = -1;
    if (prefixer_start(&po, b->o->run_stdout >= 0 ? b->o->run_stdout : STDOUT_FILENO, label, &wo) == 0)
        b->run_stdout = wo;
    if (prefixer_start(&pe, b->o->run_stderr >= 0 ? b->o->run_stderr : STDERR_FILENO, label, &we) == 0)
        b->run_stderr = we;
    int rc = mkdir(work, 0700) < 0 ? error_errno(&err, "mkdir `%s`", work) : 0;
    if (rc == 0) {
        b->work = work;
        rc = run_stage(b, si, &err);
        commit_discard(&b->st[si]);
        b->work = parent_work;
    }
    if (wo >= 0) {
        close(wo);
        pthread_join(po.thread, NULL);
    }
    if (we >= 0) {
        close(we);
        pthread_join(pe.thread, NULL);
    }
    struct stage_state *s = &b->st[si];
    json_t *j = json_pack("{s:b, s:i, s:s, s:i}", "ok", rc == 0, "code", err.code, "msg", err.msg,
                          "run_status", b->res->run_status);
    json_t *used = json_array();
    for (size_t i = 0; b->o->build_args && i < b->o->build_args->n; i++)
        if (b->plan->args.used[i])
            json_array_append_new(used, json_integer((json_int_t)i));
    json_object_set_new(j, "used", used);
    if (rc == 0) {
        json_object_set_new(j, "key", json_string(s->key));
        json_object_set(j, "config", s->img.doc);
        json_t *layers = json_array();
        for (size_t i = 0; i < s->n_layers; i++) {
            json_t *l = fmt_descriptor_to_json(&s->layers[i]);
            json_object_set_new(l, "diff_id", json_string(s->layers[i].diff_id));
            json_object_set_new(l, "uncompressed_size", json_integer(s->layers[i].uncompressed_size));
            json_array_append_new(layers, l);
        }
        json_object_set_new(j, "layers", layers);
    }
    cleanup_free char *path = stage_result_path(b, si);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct error e2 = {0};
    int wrc = atomic_write_at(AT_FDCWD, path, text, strlen(text), 0600, &e2);
    free(text);
    if (b->o->out)
        fflush(b->o->out);
    return rc == 0 && wrc == 0 ? 0 : 1;
}

/* In the parent: takes a finished stage's result in. */
static int stage_adopt(struct build *b, size_t si, int status, struct error *err)
{
    cleanup_free char *path = stage_result_path(b, si);
    cleanup_free char *data = NULL;
    size_t len;
    if (read_file_at(AT_FDCWD, path, &data, &len, err) < 0) {
        cleanup_free char *label = stage_label(b->plan, si);
        return error_set(err, 0, "stage %s ended (wait status %d) without a result", label, status);
    }
    json_t *j = json_loadb(data, len, 0, NULL);
    if (!json_is_object(j))
        return error_set(err, 0, "`%s`: not a stage result", path);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "used"), i, v) {
        json_int_t k = json_integer_value(v);
        if (b->o->build_args && k >= 0 && (size_t)k < b->o->build_args->n)
            b->plan->args.used[k] = true;
    }
    int rc = 0;
    char *cfg = NULL;
    if (!json_is_true(json_object_get(j, "ok"))) {
        int rs = (int)json_integer_value(json_object_get(j, "run_status"));
        if (rs)
            b->res->run_status = rs;
        rc = error_set(err, (int)json_integer_value(json_object_get(j, "code")), "%s",
                       json_string_value(json_object_get(j, "msg")) ?: "stage failed");
        goto done;
    }
    struct stage_state *s = &b->st[si];
    cfg = json_dumps(json_object_get(j, "config"), JSON_COMPACT);
    if (!cfg || bld_image_from_json(cfg, strlen(cfg), &s->img, err) < 0) {
        rc = cfg ? -1 : error_set(err, 0, "`%s`: no config", path);
        goto done;
    }
    snprintf(s->key, sizeof s->key, "%s", json_string_value(json_object_get(j, "key")) ?: "");
    json_array_foreach(json_object_get(j, "layers"), i, v) {
        struct fmt_descriptor d = {0};
        if (fmt_descriptor_from_json(v, "stage layer", &d, err) < 0) {
            rc = -1;
            goto done;
        }
        d.diff_id = xstrdup(json_string_value(json_object_get(v, "diff_id")) ?: "");
        d.uncompressed_size = json_integer_value(json_object_get(v, "uncompressed_size"));
        layers_push(s, &d);
        fmt_descriptor_clear(&d);
    }
    s->built = true;
done:
    free(cfg);
    json_decref(j);
    return rc;
}

static bool stage_ready(const struct build *b, size_t si)
{
    const struct bld_stage *st = &b->plan->stages[si];
    if (!st->needed || b->st[si].built)
        return false;
    if (st->base_stage >= 0 && !b->st[st->base_stage].built)
        return false;
    for (size_t d = 0; d < st->n_deps; d++)
        if (!b->st[st->deps[d]].built)
            return false;
    return true;
}

/* Builds, in this process, the first ready stage no child has taken (a
 * taken one has a pid: running, or -1 once done). */
static int build_first_ready_here(struct build *b, size_t n, const pid_t *pid,
                                  struct error *err)
{
    for (size_t si = 0; si < n; si++)
        if (stage_ready(b, si) && !pid[si])
            return run_stage(b, si, err);
    return 0;
}

static size_t build_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (size_t)n;
}

static int run_stages(struct build *b, struct error *err)
{
    size_t n = b->plan->n_stages, jobs = build_jobs();
    pid_t *pid = xcalloc(n, sizeof *pid);
    int *pidfd = xcalloc(n, sizeof *pidfd);
    size_t running = 0;
    bool failed = false;
    long failed_stage = -1;
    struct error first = {0};
    for (;;) {
        size_t ready = 0;
        for (size_t si = 0; si < n; si++)
            ready += stage_ready(b, si) && !pid[si];
        if (!failed && ready == 1 && running == 0) {
            /* nothing else can run now: build it here */
            if (build_first_ready_here(b, n, pid, err) < 0) {
                free(pid);
                free(pidfd);
                return -1;
            }
            continue;
        }
        for (size_t si = 0; !failed && si < n && running < jobs && jobs > 1; si++) {
            if (!stage_ready(b, si) || pid[si])
                continue;
            if (b->o->out)
                fflush(b->o->out);
            fflush(stdout);
            fflush(stderr);
            pid_t p = fork();
            if (p < 0) {
                error_errno(&first, "fork a process for a build stage");
                failed = true;
                break;
            }
            if (p == 0)
                _exit(stage_child(b, si));
            pid[si] = p;
            pidfd[si] = (int)syscall(SYS_pidfd_open, p, 0);
            running++;
        }
        if (running == 0) {
            if (failed || ready == 0)
                break;
            if (jobs <= 1) {
                /* one core: stage after stage, in file order */
                if (build_first_ready_here(b, n, pid, err) < 0) {
                    free(pid);
                    free(pidfd);
                    return -1;
                }
                continue;
            }
        }
        /* wait for one of the stage processes */
        struct pollfd *pfd = xcalloc(n, sizeof *pfd);
        size_t *idx = xcalloc(n, sizeof *idx);
        size_t np = 0;
        for (size_t si = 0; si < n; si++)
            if (pid[si] > 0) {
                pfd[np].fd = pidfd[si];
                pfd[np].events = POLLIN;
                idx[np++] = si;
            }
        if (poll(pfd, np, -1) < 0 && errno != EINTR) {
            free(pfd);
            free(idx);
            break;
        }
        for (size_t k = 0; k < np; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP)) && pfd[k].fd >= 0)
                continue;
            size_t si = idx[k];
            int status = 0;
            while (waitpid(pid[si], &status, 0) < 0 && errno == EINTR)
                ;
            close(pidfd[si]);
            pid[si] = -1; /* done, never again */
            running--;
            struct error e = {0};
            if (stage_adopt(b, si, status, &e) < 0) {
                /* the earliest failing stage's error is the one reported */
                if (!failed || (long)si < failed_stage) {
                    first = e;
                    failed_stage = (long)si;
                }
                failed = true;
            }
        }
        free(pfd);
        free(idx);
    }
    free(pid);
    free(pidfd);
    if (failed) {
        *err = first;
        return -1;
    }
    if (!b->st[b->plan->target].built)
        return error_set(err, 0, "internal error: stage %zu was not built", b->plan->target);
    return 0;
}

static int commit_image(struct build *b, struct stage_state *s, struct error *err)
{
    bld_image_set_created(&s->img, b->now);
    const char *const *tags = b->o->tags;
    bool tagged = tags && tags[0];
    for (size_t i = 0; i == 0 || (tagged && tags[i]); i++) {
        if (fmt_image_commit(b->o->store, s->img.doc, s->layers, s->n_layers,
                             tagged ? tags[i] : NULL, b->res->manifest_digest, err) < 0)
            return error_prefix(err, "commit the image");
        if (!tagged)
            break;
    }
    struct fmt_image *img = NULL;
    if (fmt_image_resolve(b->o->store, b->res->manifest_digest, &img, err) < 0)
        return error_prefix(err, "read back the new image");
    memcpy(b->res->image_id, img->id, sizeof img->id);
    fmt_image_free(img);
    return 0;
}

static int find_file(const char *context, const char *file, char **path, char **display,
                     struct error *err)
{
    if (file) {
        *path = xstrdup(file);
        *display = xstrdup(file);
        return 0;
    }
    static const char *const names[] = {"Containerfile", "Dockerfile"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *p = xasprintf("%s/%s", context, names[i]);
        if (access(p, F_OK) == 0) {
            *path = p;
            *display = xstrdup(names[i]);
            return 0;
        }
        free(p);
    }
    return error_set(err, ENOENT, "no Containerfile or Dockerfile in `%s` (use -f)", context);
}

void bld_result_clear(struct bld_result *res)
{
    strv_free(res->unused_args);
    res->unused_args = NULL;
}

int bld_build(const struct bld_options *o, struct bld_result *res, struct error *err)
{
    memset(res, 0, sizeof *res);
    struct build b = {.o = o, .ctx_fd = -1, .res = res, .tty = o->tty,
                      .run_stdout = o->run_stdout, .run_stderr = o->run_stderr};
    b.rootless = geteuid() != 0;
    b.now = o->timestamp >= 0 ? o->timestamp : (int64_t)time(NULL);
    int rc = -1;
    cleanup_free char *path = NULL, *display = NULL;
    if (find_file(o->context, o->file, &path, &display, err) < 0)
        return -1;
    if (bld_parse_file(path, display, &b.file, err) < 0)
        return -1;
    if (bld_plan_make(b.file, o->build_args, o->target, &b.plan, err) < 0)
        goto out;
    b.ctx_fd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b.ctx_fd < 0) {
        error_errno(err, "open the build context `%s`", o->context);
        goto out;
    }
    const char *ctx_dirs[] = {o->context};
    if (bld_tree_open(&b.ctx_tree, ctx_dirs, 1, err) < 0)
        goto out;
    b.ctx_tree.plain = true;
    if (bld_ignore_load(b.ctx_fd, &b.ignore, err) < 0)
        goto out;
    if (mkdir_p_at(o->store->root_fd, "tmp", 0700, err) < 0)
        goto out;
    b.work = xasprintf("%s/tmp/build-XXXXXX", o->store->root);
    if (!mkdtemp(b.work)) {
        error_errno(err, "create a build directory in `%s/tmp`", o->store->root);
        free(b.work);
        b.work = NULL;
        goto out;
    }
    b.st = xcalloc(b.plan->n_stages, sizeof *b.st);
    if (run_stages(&b, err) < 0)
        goto out;
    say(&b, "COMMIT%s%s\n", o->tags && o->tags[0] ? " " : "", o->tags && o->tags[0] ? o->tags[0] : "");
    if (commit_image(&b, &b.st[b.plan->target], err) < 0)
        goto out;
    /* --build-args no ARG asked for: the caller warns, as Docker does */
    if (o->build_args) {
        res->unused_args = xcalloc(o->build_args->n + 1, sizeof *res->unused_args);
        size_t k = 0;
        for (size_t i = 0; i < o->build_args->n; i++)
            if (!b.plan->args.used[i])
                res->unused_args[k++] = xstrdup(o->build_args->names[i]);
    }
    rc = 0;
out:
    if (b.work) {
        struct error e2 = {0};
        rm_rf_at(AT_FDCWD, b.work, &e2);
        free(b.work);
    }
    if (b.st) {
        for (size_t si = 0; si < b.plan->n_stages; si++)
            commit_discard(&b.st[si]);
        for (size_t si = 0; si < b.plan->n_stages; si++) {
            bld_image_clear(&b.st[si].img);
            layers_free(b.st[si].layers, b.st[si].n_layers);
            bld_env_clear(&b.st[si].args);
        }
        free(b.st);
    }
    bld_ignore_free(b.ignore);
    bld_tree_close(&b.ctx_tree);
    if (b.ctx_fd >= 0)
        close(b.ctx_fd);
    bld_plan_free(b.plan);
    bld_file_free(b.file);
    return rc;
}
