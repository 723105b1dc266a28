#include "run/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "run/cgroup.h"
#include "run/internal.h"

char *run_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return xasprintf("%s.%09ldZ", buf, ts.tv_nsec);
}

double run_time_parse(const char *s)
{
    if (!s)
        return -1;
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    double frac = 0;
    if (*rest == '.')
        frac = strtod(rest, NULL);
    return (double)timegm(&tm) + frac;
}

static char *containers_dir(const char *root)
{
    return xasprintf("%s/containers", root);
}

static int load_json(int dirfd, const char *name, json_t **out, struct error *err)
{
    cleanup_free char *data = NULL;
    size_t len;
    if (read_file_at(dirfd, name, &data, &len, err) < 0)
        return -1;
    json_error_t je;
    *out = json_loadb(data, len, 0, &je);
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return error_set(err, EINVAL, "parse `%s`: %s", name, je.text);
    }
    return 0;
}

/* A container that never started has no state.json: "created" is what
 * its absence says, so creating one writes a file fewer (each file's
 * block is allocated, and freed again at rm, synchronously on the
 * store's disk here; a run --rm made and replaced one for nothing). */
static int load_state(int dirfd, json_t **out, struct error *err)
{
    if (load_json(dirfd, "state.json", out, err) == 0)
        return 0;
    if (err->code != ENOENT)
        return -1;
    error_clear(err);
    *out = json_pack("{s:s}", "Status", "created");
    return 0;
}

/* state.json changes at every start and stop and is checked against the
 * live processes anyway: replaced atomically (temp + rename, so readers
 * never see half a file) but not fsynced, which would cost more than the
 * rest of a container start on this kind of disk. */
static int save_state_json(int dirfd, json_t *j, struct error *err)
{
    cleanup_free char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s)
        return error_set(err, ENOMEM, "serialise `state.json`");
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".state.json.%d", (int)getpid());
    cleanup_close int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_errno(err, "create `%s`", tmp);
    if (write_all(fd, s, strlen(s), err) < 0 || write_all(fd, "\n", 1, err) < 0)
        return -1;
    if (renameat(dirfd, tmp, dirfd, "state.json") < 0)
        return error_errno(err, "rename `%s` to `state.json`", tmp);
    return 0;
}

/* A file of a container directory still under its dot name: the rename of
 * the directory publishes it whole, so no temp file; no fsync either, as
 * a container does not outlive a crash of the machine (ps then shows it
 * exited), and four syncs cost milliseconds of every start. */
static int write_new_at(int dirfd, const char *name, const char *buf, size_t len,
                        struct error *err)
{
    cleanup_close int fd =
        openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_errno(err, "create `%s`", name);
    return write_all(fd, buf, len, err);
}

static int save_json(int dirfd, const char *name, json_t *j, struct error *err)
{
    cleanup_free char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s)
        return error_set(err, ENOMEM, "serialise `%s`", name);
    size_t n = strlen(s);
    s[n] = '\n';
    int r = write_new_at(dirfd, name, s, n + 1, err);
    s[n] = '\0';
    return r;
}

void run_ctr_free(struct run_ctr *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->dir);
    if (c->dirfd >= 0)
        close(c->dirfd);
    json_decref(c->config);
    json_decref(c->state);
    free(c);
}

/* with_state false: config.json only (c->state stays NULL), for the
 * lookups that read every container's name; the caller loads the state
 * of the one it keeps (ctr_load_state). */
static int ctr_open_ex(const char *root, const char *id, bool with_state, struct run_ctr **out,
                       struct error *err)
{
    struct run_ctr *c = xzalloc(sizeof *c);
    c->id = xstrdup(id);
    c->dir = xasprintf("%s/containers/%s", root, id);
    c->dirfd = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->dirfd < 0) {
        int e = errno;
        run_ctr_free(c);
        return error_code(err, e, "container `%s`", id);
    }
    if (load_json(c->dirfd, "config.json", &c->config, err) < 0 ||
        (with_state && load_state(c->dirfd, &c->state, err) < 0)) {
        run_ctr_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

static int ctr_open(const char *root, const char *id, struct run_ctr **out, struct error *err)
{
    return ctr_open_ex(root, id, true, out, err);
}

int run_ctr_open_log(struct run_ctr *c, struct error *err)
{
    int fd = openat(c->dirfd, "log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return error_errno(err, "open `%s/log`", c->dir);
    return fd;
}

int run_ctr_reload(struct run_ctr *c, struct error *err)
{
    json_t *s = NULL;
    if (load_state(c->dirfd, &s, err) < 0)
        return -1;
    json_decref(c->state);
    c->state = s;
    return 0;
}

int run_ctr_save_state(struct run_ctr *c, struct error *err)
{
    return save_state_json(c->dirfd, c->state, err);
}

static char *random_hex(size_t bytes)
{
    unsigned char b[32];
    if (bytes > sizeof b)
        bytes = sizeof b;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, b, bytes) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)bytes) {
        srand((unsigned)(time(NULL) ^ getpid()));
        for (size_t i = 0; i < bytes; i++)
            b[i] = (unsigned char)rand();
    }
    char *s = xmalloc(bytes * 2 + 1);
    for (size_t i = 0; i < bytes; i++)
        sprintf(s + 2 * i, "%02x", b[i]);
    return s;
}

static const char *ctr_name(json_t *config)
{
    json_t *n = json_object_get(config, "Name");
    return json_is_string(n) ? json_string_value(n) : "";
}

static int ctr_list(const char *root, bool with_state, struct run_ctr ***out, size_t *n,
                    struct error *err)
{
    *out = NULL;
    *n = 0;
    cleanup_free char *cd = containers_dir(root);
    cleanup_dir DIR *d = opendir(cd);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return error_errno(err, "open `%s`", cd);
    }
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        struct run_ctr *c;
        struct error ignore = {0};
        /* a half-created or half-removed container is skipped */
        if (ctr_open_ex(root, e->d_name, with_state, &c, &ignore) < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        (*out)[(*n)++] = c;
    }
    /* oldest first */
    for (size_t i = 1; i < *n; i++) {
        for (size_t j = i; j > 0; j--) {
            const char *a = json_string_value(json_object_get((*out)[j - 1]->config, "Created"));
            const char *b = json_string_value(json_object_get((*out)[j]->config, "Created"));
            if (a && b && strcmp(a, b) > 0) {
                struct run_ctr *t = (*out)[j - 1];
                (*out)[j - 1] = (*out)[j];
                (*out)[j] = t;
            } else {
                break;
            }
        }
    }
    return 0;
}

int run_ctr_list(const char *root, struct run_ctr ***out, size_t *n, struct error *err)
{
    return ctr_list(root, true, out, n, err);
}

void run_ctr_list_free(struct run_ctr **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        run_ctr_free(v[i]);
    free(v);
}

int run_ctr_find(const char *root, const char *name, struct run_ctr **out, struct error *err)
{
    struct run_ctr **v;
    size_t n;
    if (!*name)
        return error_set(err, ENOENT, "no such container ``");
    /* a full id names its directory: no need to read every container */
    struct error ignore = {0};
    if (strlen(name) == 64 && strspn(name, "0123456789abcdef") == 64 &&
        ctr_open(root, name, out, &ignore) == 0)
        return 0;
    /* names are in config.json: the state is read for the match only */
    if (ctr_list(root, false, &v, &n, err) < 0)
        return -1;
    struct run_ctr *hit = NULL;
    size_t prefix_hits = 0;
    struct run_ctr *prefix = NULL;
    for (size_t i = 0; i < n && !hit; i++) {
        if (!strcmp(v[i]->id, name) || !strcmp(ctr_name(v[i]->config), name))
            hit = v[i];
        else if (!strncmp(v[i]->id, name, strlen(name))) {
            prefix_hits++;
            prefix = v[i];
        }
    }
    if (!hit && prefix_hits == 1)
        hit = prefix;
    int r = 0;
    if (hit && load_state(hit->dirfd, &hit->state, err) < 0) {
        /* removed meanwhile, or half written: as if never listed */
        r = error_set(err, ENOENT, "no such container `%s`", name);
    } else if (hit) {
        for (size_t i = 0; i < n; i++)
            if (v[i] == hit)
                v[i] = NULL;
        *out = hit;
    } else if (prefix_hits > 1) {
        r = error_set(err, EINVAL, "container id prefix `%s` is ambiguous", name);
    } else {
        r = error_set(err, ENOENT, "no such container `%s`", name);
    }
    run_ctr_list_free(v, n);
    return r;
}

int run_ctr_create(const char *root, json_t *config, const char *image_digest,
                   struct run_ctr **out, struct error *err)
{
    cleanup_free char *cd = containers_dir(root);
    if (mkdir_p_at(AT_FDCWD, cd, 0700, err) < 0)
        return -1;
    cleanup_close int cdfd = open(cd, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cdfd < 0)
        return error_errno(err, "open `%s`", cd);
    /* names are unique: check and create under one lock */
    cleanup_close int lock = lock_file_at(cdfd, ".lock", true, err);
    if (lock < 0)
        return -1;
    cleanup_free char *id = random_hex(32);
    json_t *jn = json_object_get(config, "Name");
    if (!json_is_string(jn) || !*json_string_value(jn)) {
        cleanup_free char *gen = xasprintf("strata_%.8s", id);
        json_object_set_new(config, "Name", json_string(gen));
    } else {
        struct run_ctr **v;
        size_t n;
        if (ctr_list(root, false, &v, &n, err) < 0)
            return -1;
        bool taken = false;
        for (size_t i = 0; i < n; i++)
            taken |= !strcmp(ctr_name(v[i]->config), json_string_value(jn));
        run_ctr_list_free(v, n);
        if (taken)
            return error_set(err, EEXIST, "the container name `%s` is already in use",
                             json_string_value(jn));
    }
    cleanup_free char *now = run_time_now();
    json_object_set_new(config, "Id", json_string(id));
    json_object_set_new(config, "Created", json_string(now));

    /* built under a dot name, renamed into place when complete */
    cleanup_free char *tmp = xasprintf(".new-%s", id);
    if (mkdirat(cdfd, tmp, 0700) < 0)
        return error_errno(err, "mkdir `%s/%s`", cd, tmp);
    {
        cleanup_close int t = openat(cdfd, tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int r = t < 0 ? error_errno(err, "open `%s/%s`", cd, tmp) : 0;
        if (!r && (mkdirat(t, "upper", 0755) < 0 || mkdirat(t, "work", 0700) < 0))
            r = error_errno(err, "mkdir the container layer in `%s/%s`", cd, tmp);
        if (!r)
            r = save_json(t, "config.json", config, err);
        /* no state.json: "created" (load_state) */
        if (!r && image_digest) {
            cleanup_free char *line = xasprintf("%s\n", image_digest);
            r = write_new_at(t, "image", line, strlen(line), err);
        }
        if (r < 0 || renameat(cdfd, tmp, cdfd, id) < 0) {
            if (!r)
                error_errno(err, "rename `%s` into place", tmp);
            struct error ignore = {0};
            rm_rf_at(cdfd, tmp, &ignore);
            return -1;
        }
    }
    /* what was just written, not read back */
    struct run_ctr *c = xzalloc(sizeof *c);
    c->id = xstrdup(id);
    c->dir = xasprintf("%s/%s", cd, id);
    c->dirfd = openat(cdfd, id, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->dirfd < 0) {
        int e = errno;
        run_ctr_free(c);
        return error_code(err, e, "container `%s`", id);
    }
    c->config = json_incref(config);
    c->state = json_pack("{s:s}", "Status", "created");
    *out = c;
    return 0;
}

static long long jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static bool alive(pid_t pid, unsigned long long start)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return false;
    unsigned long long now = run_proc_starttime(pid);
    return now && now == start;
}

pid_t run_ctr_monitor(struct run_ctr *c)
{
    pid_t m = (pid_t)jint(c->state, "MonitorPid");
    return alive(m, (unsigned long long)jint(c->state, "MonitorStart")) ? m : 0;
}

const char *run_ctr_status(struct run_ctr *c)
{
    json_t *s = json_object_get(c->state, "Status");
    const char *st = json_is_string(s) ? json_string_value(s) : "created";
    if (!strcmp(st, "running") && !run_ctr_monitor(c))
        return "exited";
    if (!strcmp(st, "created") && json_object_get(c->state, "MonitorPid") && !run_ctr_monitor(c))
        return "exited";
    return st;
}

bool run_ctr_is_running(struct run_ctr *c)
{
    return !strcmp(run_ctr_status(c), "running");
}

pid_t run_ctr_pid(struct run_ctr *c)
{
    if (!run_ctr_is_running(c))
        return 0;
    pid_t p = (pid_t)jint(c->state, "Pid");
    return alive(p, (unsigned long long)jint(c->state, "PidStart")) ? p : 0;
}

/* Where the cgroup is, so other verbs need not place it again (the
 * caller's environment and own cgroup may differ from the run's). */
static void record_cgroup(json_t *state, const struct run_cgroup *cg)
{
    struct run_cgroup_dir d[RUN_CGROUP_MAX_DIRS];
    size_t n = run_cgroup_dirs(cg, d);
    json_t *paths = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(paths, d[i].hierarchy, json_string(d[i].path));
    json_object_set_new(state, "CgroupPaths", paths);
    json_object_set_new(state, "CgroupMode",
                        json_string(run_cgroup_mode_name(run_cgroup_get_mode(cg))));
    json_object_set_new(state, "CgroupPath", json_string(run_cgroup_rel_path(cg)));
}

int run_ctr_cgroup_open(struct run_ctr *c, struct run_cgroup **out, struct error *err)
{
    json_t *paths = json_object_get(c->state, "CgroupPaths");
    if (json_is_object(paths)) {
        struct run_cgroup_dir d[RUN_CGROUP_MAX_DIRS];
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(paths, k, v) {
            if (n < RUN_CGROUP_MAX_DIRS && json_is_string(v))
                d[n++] = (struct run_cgroup_dir){k, json_string_value(v)};
        }
        int mode = run_cgroup_mode_parse(json_string_value(json_object_get(c->state, "CgroupMode")));
        return run_cgroup_open_dirs(c->id, mode < 0 ? RUN_CGROUP_MODE_NONE : mode, d, n, out,
                                    err);
    }
    json_t *parent = json_object_get(c->config, "CgroupParent");
    return run_cgroup_open_in(c->id, json_is_string(parent) ? json_string_value(parent) : NULL,
                              out, err);
}

int run_ctr_mark_running(struct run_ctr *c, pid_t pid, const struct run_cgroup *cg,
                         struct error *err)
{
    cleanup_free char *now = run_time_now();
    if (cg)
        record_cgroup(c->state, cg);
    pid_t me = getpid();
    json_object_set_new(c->state, "Status", json_string("running"));
    json_object_set_new(c->state, "Pid", json_integer(pid));
    json_object_set_new(c->state, "PidStart", json_integer((json_int_t)run_proc_starttime(pid)));
    json_object_set_new(c->state, "MonitorPid", json_integer(me));
    json_object_set_new(c->state, "MonitorStart",
                        json_integer((json_int_t)run_proc_starttime(me)));
    json_object_set_new(c->state, "StartedAt", json_string(now));
    return run_ctr_save_state(c, err);
}

int run_ctr_mark_exited(struct run_ctr *c, int exit_code, bool oom_killed, const char *error,
                        struct error *err)
{
    cleanup_free char *now = run_time_now();
    json_object_set_new(c->state, "Status", json_string("exited"));
    json_object_set_new(c->state, "Pid", json_integer(0));
    json_object_set_new(c->state, "ExitCode", json_integer(exit_code));
    json_object_set_new(c->state, "OOMKilled", json_boolean(oom_killed));
    json_object_set_new(c->state, "FinishedAt", json_string(now));
    if (error)
        json_object_set_new(c->state, "Error", json_string(error));
    return run_ctr_save_state(c, err);
}

int run_ctr_signal(struct run_ctr *c, int sig, struct error *err)
{
    pid_t pid = run_ctr_pid(c);
    if (!pid)
        return error_set(err, EINVAL, "container `%s` is not running",
                         json_string_value(json_object_get(c->config, "Name")));
    cleanup_close int fd = run_pidfd_open(pid);
    if (fd < 0 || run_pidfd_send(fd, sig) < 0)
        return error_errno(err, "signal container process %d", (int)pid);
    return 0;
}

static bool wait_pidfd(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

bool run_ctr_wait_stopped(struct run_ctr *c, int timeout_ms)
{
    bool gone = true;
    pid_t pid = run_ctr_pid(c);
    if (pid) {
        cleanup_close int fd = run_pidfd_open(pid);
        if (fd >= 0)
            gone = wait_pidfd(fd, timeout_ms);
    }
    if (!gone)
        return false;
    /* the owner writes the final state right after */
    pid_t m = run_ctr_monitor(c);
    if (m) {
        cleanup_close int fd = run_pidfd_open(m);
        if (fd >= 0)
            wait_pidfd(fd, 5000);
    }
    struct error ignore = {0};
    run_ctr_reload(c, &ignore);
    return true;
}

int run_ctr_remove(struct run_ctr *c, struct error *err)
{
    struct run_cgroup *cg = NULL;
    struct error e2 = {0};
    /* kept (and rm fails) while its cgroup cannot go, so that rm can be
     * run again; a record that names no cgroup of its own is ignored */
    if (run_ctr_cgroup_open(c, &cg, &e2) == 0 && run_cgroup_destroy(cg, &e2) < 0) {
        *err = e2;
        return error_prefix(err, "remove container `%s`", c->id);
    }
    /* renamed away first so a half-removed container never lists */
    cleanup_free char *parent = xstrdup(c->dir);
    char *slash = strrchr(parent, '/');
    *slash = '\0';
    cleanup_free char *gone = xasprintf("%s/.rm-%s", parent, c->id);
    if (rename(c->dir, gone) < 0)
        return error_errno(err, "remove container `%s`", c->id);
    return rm_rf_at(AT_FDCWD, gone, err);
}

json_t *run_ctr_inspect(struct run_ctr *c)
{
    json_t *cfg = c->config;
    json_t *st = json_deep_copy(c->state);
    const char *status = run_ctr_status(c);
    bool running = !strcmp(status, "running");
    json_object_set_new(st, "Status", json_string(status));
    json_object_set_new(st, "Running", json_boolean(running));
    if (!running) {
        json_object_set_new(st, "Pid", json_integer(0));
        if (!json_object_get(st, "ExitCode") && strcmp(status, "created"))
            json_object_set_new(st, "ExitCode", json_integer(-1));
    }
    if (!json_object_get(st, "ExitCode"))
        json_object_set_new(st, "ExitCode", json_integer(0));
    const char *recorded = json_string_value(json_object_get(c->state, "Status"));
    struct run_cgroup *cg = NULL;
    struct error e2 = {0};
    if (recorded && !strcmp(recorded, "running") && !running &&
        run_ctr_cgroup_open(c, &cg, &e2) == 0) {
        /* its monitor died before recording the end: the cgroup it left
         * (rm removes it) still counts an OOM kill */
        json_object_set_new(st, "OOMKilled", json_boolean(run_cgroup_oom_killed(cg)));
        run_cgroup_free(cg);
        cg = NULL;
    }
    if (!json_object_get(st, "OOMKilled"))
        json_object_set_new(st, "OOMKilled", json_false());
    json_object_del(st, "PidStart");
    json_object_del(st, "MonitorStart");
    json_t *o = json_object();
    json_object_set(o, "Id", json_object_get(cfg, "Id"));
    json_object_set(o, "Name", json_object_get(cfg, "Name"));
    json_object_set(o, "Created", json_object_get(cfg, "Created"));
    json_object_set_new(o, "Type", json_string("container"));
    json_object_set(o, "Path", json_array_size(json_object_get(cfg, "Cmd"))
                                   ? json_array_get(json_object_get(cfg, "Cmd"), 0)
                                   : json_null());
    json_object_set_new(o, "State", st);
    json_object_set(o, "Image", json_object_get(cfg, "ImageDigest") ? json_object_get(cfg, "ImageDigest") : json_null());
    json_object_set_new(o, "Config", json_deep_copy(cfg));
    json_object_set_new(o, "Dir", json_string(c->dir));
    /* podman's names: HostConfig.CgroupParent as asked for ("": the
     * default placement), State.CgroupPath below the hierarchy, and ours,
     * State.CgroupPaths, every directory */
    json_t *parent = json_object_get(cfg, "CgroupParent");
    json_object_set_new(o, "HostConfig",
                        json_pack("{s:s}", "CgroupParent",
                                  json_is_string(parent) ? json_string_value(parent) : ""));
    if (running && !json_object_get(st, "CgroupPaths") && run_ctr_cgroup_open(c, &cg, &e2) == 0) {
        /* recorded by an older strata: where it is found now */
        record_cgroup(st, cg);
        run_cgroup_free(cg);
    }
    return o;
}
