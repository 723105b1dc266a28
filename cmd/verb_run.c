/* strata run: an image from the store (its layers under a fresh container
 * layer) as a container, in the foreground or detached (-d) under a
 * monitor process that owns it, its union mount, cgroup and log. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "format/image.h"
#include "format/layer_cache.h"
#include "format/store.h"
#include "run/attach.h"
#include "run/container.h"
#include "run/imgcfg.h"
#include "run/state.h"

struct list {
    char **v;
    size_t n;
};

static void list_add(struct list *l, const char *s)
{
    l->v = xrealloc(l->v, (l->n + 2) * sizeof *l->v);
    l->v[l->n++] = xstrdup(s);
    l->v[l->n] = NULL;
}

static void list_free(struct list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static const char *const *list_v(struct list *l)
{
    return l->n ? (const char *const *)l->v : NULL;
}

/* "64m", "1g", "512k", "1024" (bytes) */
static int parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    int64_t mul = 1;
    switch (*end) {
    case 'b': case 'B': case '\0': mul = 1; break;
    case 'k': case 'K': mul = 1024; break;
    case 'm': case 'M': mul = 1024 * 1024; break;
    case 'g': case 'G': mul = 1024LL * 1024 * 1024; break;
    case 't': case 'T': mul = 1024LL * 1024 * 1024 * 1024; break;
    default: return -1;
    }
    if (*end && end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]))
        return -1;
    *out = (int64_t)(v * (double)mul);
    return 0;
}

struct run_opts {
    bool rm, detach, interactive, tty, read_only, init, no_proc_view, seccomp_unconfined;
    const char *name, *workdir, *user, *hostname, *entrypoint, *rootfs, *cgroup_parent;
    enum run_network network;
    struct list env, env_files, volumes, tmpfs, cap_add, cap_drop;
    struct run_limits limits;
};

struct start_ctx {
    struct run_ctr *ctr;
    int notify_fd; /* -d: tells the waiting command the container started */
    bool removed;  /* --rm: done by on_exit, with this result */
    int remove_r;
    struct error remove_err;
};

/* --rm: the container goes while the union helper exits */
static void on_exit_rm(void *data)
{
    struct start_ctx *s = data;
    s->removed = true;
    s->remove_r = run_ctr_remove(s->ctr, &s->remove_err);
}

static void on_start(void *data, pid_t pid, const struct run_cgroup *cg)
{
    struct start_ctx *s = data;
    struct error err = {0};
    if (run_ctr_mark_running(s->ctr, pid, cg, &err) < 0)
        fprintf(stderr, "strata run: %s\n", err.msg);
    if (s->notify_fd >= 0) {
        if (write(s->notify_fd, "", 1) < 0) {
        }
        close(s->notify_fd);
        s->notify_fd = -1;
    }
}

/* Runs the container to its end and records how it ended.  Returns the
 * command's exit status. */
static int supervise(const struct verb *v, struct run_ctr *ctr, struct run_spec *spec,
                     bool rm, int notify_fd)
{
    struct start_ctx sc = {.ctr = ctr, .notify_fd = notify_fd};
    spec->on_start = on_start;
    spec->on_start_data = &sc;
    spec->on_exit = rm ? on_exit_rm : NULL;
    spec->on_exit_data = &sc;
    struct run_result res;
    struct error err = {0}, e2 = {0};
    int r = run_container_ex(spec, &res, &err);
    int status;
    if (r < 0) {
        status = res.exit_status > 0 ? res.exit_status : 125;
        if (!sc.removed)
            run_ctr_mark_exited(ctr, status, false, err.msg, &e2);
        if (sc.notify_fd >= 0) {
            /* -d: the waiting command prints it */
            if (write(sc.notify_fd, err.msg, strlen(err.msg)) < 0) {
            }
            close(sc.notify_fd);
        } else {
            cli_fail(v, &err);
        }
    } else {
        status = res.exit_status;
        /* --rm: the directory goes next, state.json with it */
        if (!rm && run_ctr_mark_exited(ctr, status, res.oom_killed, NULL, &e2) < 0)
            cli_fail(v, &e2);
    }
    if (rm && sc.removed && sc.remove_r < 0)
        cli_fail(v, &sc.remove_err);
    else if (rm && !sc.removed && run_ctr_remove(ctr, &e2) < 0)
        cli_fail(v, &e2);
    return status;
}

/* -d: a monitor in its own session owns the container; the command waits
 * until it has started (or failed) and prints the id. */
static int detach(const struct verb *v, struct run_ctr *ctr, struct run_spec *spec, bool rm)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("strata run: pipe");
        return 125;
    }
    cleanup_free char *log = xasprintf("%s/log", ctr->dir);
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (logfd < 0) {
        fprintf(stderr, "strata run: open `%s`: %s\n", log, strerror(errno));
        return 125;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("strata run: fork");
        return 125;
    }
    if (pid == 0) {
        close(p[0]);
        setsid();
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd >= 0) {
            dup2(null_fd, 0);
            close(null_fd);
        }
        dup2(logfd, 1);
        dup2(logfd, 2);
        close(logfd);
        struct run_attach *att = NULL;
        if (spec->tty) {
            /* -d -t: `strata attach` reaches the pty (input with -i) */
            struct error e = {0};
            if (run_attach_listen(ctr->dirfd, spec->interactive, &att, &e) < 0) {
                if (write(p[1], e.msg, strlen(e.msg)) < 0) {
                }
                _exit(125);
            }
            spec->attach = att;
        }
        spec->stdin_fd = spec->stdout_fd = spec->stderr_fd = -1;
        spec->interactive = false;
        int st = supervise(v, ctr, spec, rm, p[1]);
        run_attach_free(att);
        return st;
    }
    close(logfd);
    close(p[1]);
    char msg[1100];
    ssize_t n = 0, r;
    while ((r = read(p[0], msg + n, sizeof msg - 1 - (size_t)n)) > 0 ||
           (r < 0 && errno == EINTR)) {
        if (r > 0)
            n += r;
    }
    close(p[0]);
    msg[n] = '\0';
    if (n == 1 && msg[0] == '\0') {
        printf("%s\n", ctr->id);
        return 0;
    }
    fprintf(stderr, "strata run: %s\n", n ? msg : "the container monitor died");
    return 125;
}

static int parse_volume(const char *arg, struct run_volume *vol, struct error *err)
{
    cleanup_free char *copy = xstrdup(arg);
    char *parts[3] = {0};
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ":", &save); t && n < 3; t = strtok_r(NULL, ":", &save))
        parts[n++] = t;
    if (n < 2 || strtok_r(NULL, ":", &save))
        return error_set(err, EINVAL, "volume `%s`: want HOST:CONTAINER[:ro|rw]", arg);
    if (parts[1][0] != '/')
        return error_set(err, EINVAL, "volume `%s`: the container path must be absolute", arg);
    bool ro = false;
    if (n == 3) {
        for (char *save2 = NULL, *o = strtok_r(parts[2], ",", &save2); o;
             o = strtok_r(NULL, ",", &save2)) {
            if (!strcmp(o, "ro"))
                ro = true;
            else if (strcmp(o, "rw") && strcmp(o, "z") && strcmp(o, "Z"))
                return error_set(err, EINVAL, "volume `%s`: unknown option `%s`", arg, o);
        }
    }
    char *real = realpath(parts[0], NULL);
    if (!real)
        return error_errno(err, "volume source `%s`", parts[0]);
    vol->source = real;
    vol->target = xstrdup(parts[1]);
    vol->read_only = ro;
    return 0;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int run_run(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    enum {
        O_NAME = 1000, O_ENVFILE, O_TMPFS, O_CPUS, O_PIDS, O_NET, O_HOST, O_RO, O_INIT,
        O_EP, O_CAPADD, O_CAPDROP, O_ROOTFS, O_SWAP, O_CPUSET, O_NOPV, O_RM, O_SECOPT,
        O_CGPARENT,
    };
    static const struct option opts[] = {
        {"rm", no_argument, NULL, O_RM},
        {"detach", no_argument, NULL, 'd'},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"name", required_argument, NULL, O_NAME},
        {"env", required_argument, NULL, 'e'},
        {"env-file", required_argument, NULL, O_ENVFILE},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"volume", required_argument, NULL, 'v'},
        {"tmpfs", required_argument, NULL, O_TMPFS},
        {"memory", required_argument, NULL, 'm'},
        {"memory-swap", required_argument, NULL, O_SWAP},
        {"cpus", required_argument, NULL, O_CPUS},
        {"cpuset-cpus", required_argument, NULL, O_CPUSET},
        {"pids-limit", required_argument, NULL, O_PIDS},
        {"cgroup-parent", required_argument, NULL, O_CGPARENT},
        {"network", required_argument, NULL, O_NET},
        {"net", required_argument, NULL, O_NET},
        {"hostname", required_argument, NULL, O_HOST},
        {"read-only", no_argument, NULL, O_RO},
        {"init", no_argument, NULL, O_INIT},
        {"entrypoint", required_argument, NULL, O_EP},
        {"cap-add", required_argument, NULL, O_CAPADD},
        {"cap-drop", required_argument, NULL, O_CAPDROP},
        {"no-proc-view", no_argument, NULL, O_NOPV},
        {"security-opt", required_argument, NULL, O_SECOPT},
        {"rootfs", required_argument, NULL, O_ROOTFS}, /* internal: a plain directory */
        {0},
    };
    struct run_opts o = {.network = RUN_NET_NONE};
    int c;
    int status = 125;
    while ((c = cli_getopt(v, argc, argv, "+ditm:e:w:u:v:h:", opts)) != -1) {
        switch (c) {
        case O_RM: o.rm = true; break;
        case 'd': o.detach = true; break;
        case 'i': o.interactive = true; break;
        case 't': o.tty = true; break;
        case O_NAME: o.name = optarg; break;
        case 'e': list_add(&o.env, optarg); break;
        case O_ENVFILE: list_add(&o.env_files, optarg); break;
        case 'w': o.workdir = optarg; break;
        case 'u': o.user = optarg; break;
        case 'v': list_add(&o.volumes, optarg); break;
        case O_TMPFS: list_add(&o.tmpfs, optarg); break;
        case 'm':
            if (parse_size(optarg, &o.limits.memory) < 0 || o.limits.memory <= 0) {
                status = cli_usage_error(v, "invalid memory size `%s`", optarg);
                goto out;
            }
            break;
        case O_SWAP:
            if (!strcmp(optarg, "-1"))
                o.limits.memory_swap = -1;
            else if (parse_size(optarg, &o.limits.memory_swap) < 0) {
                status = cli_usage_error(v, "invalid memory-swap size `%s`", optarg);
                goto out;
            }
            break;
        case O_CPUS: {
            char *end;
            o.limits.cpus = strtod(optarg, &end);
            if (*end || o.limits.cpus <= 0) {
                status = cli_usage_error(v, "invalid --cpus `%s`", optarg);
                goto out;
            }
            break;
        }
        case O_CPUSET: o.limits.cpuset_cpus = optarg; break;
        case O_PIDS: {
            char *end;
            long long n = strtoll(optarg, &end, 10);
            if (*end || n == 0 || n < -1) {
                status = cli_usage_error(v, "invalid --pids-limit `%s`", optarg);
                goto out;
            }
            o.limits.pids = n > 0 ? n : 0;
            break;
        }
        case O_NET:
            if (!strcmp(optarg, "none"))
                o.network = RUN_NET_NONE;
            else if (!strcmp(optarg, "host"))
                o.network = RUN_NET_HOST;
            else {
                status = cli_usage_error(v, "unsupported network `%s` (none or host)", optarg);
                goto out;
            }
            break;
        case 'h':
        case O_HOST: o.hostname = optarg; break;
        case O_RO: o.read_only = true; break;
        case O_INIT: o.init = true; break;
        case O_EP: o.entrypoint = optarg; break;
        case O_CAPADD: list_add(&o.cap_add, optarg); break;
        case O_CAPDROP: list_add(&o.cap_drop, optarg); break;
        case O_NOPV: o.no_proc_view = true; break;
        case O_CGPARENT: o.cgroup_parent = optarg; break;
        case O_SECOPT:
            /* only the default filter or none; no custom profiles */
            if (strcmp(optarg, "seccomp=unconfined") && strcmp(optarg, "seccomp:unconfined")) {
                status = cli_usage_error(v, "unsupported --security-opt `%s` (only "
                                            "seccomp=unconfined)", optarg);
                goto out;
            }
            o.seccomp_unconfined = true;
            break;
        case O_ROOTFS: o.rootfs = optarg; break;
        default:
            status = cli_exit_status(c);
            goto out;
        }
    }
    if (!o.rootfs && optind >= argc) {
        status = cli_usage_error(v, "an image is required");
        goto out;
    }

    {
        struct error err = {0};
        struct fmt_store *store = NULL;
        struct fmt_image *img = NULL;
        struct run_ctr *ctr = NULL;
        char **cargv = NULL, **cenv = NULL, **lowers = NULL;
        size_t n_lowers = 0;
        struct run_volume *vols = NULL;
        struct run_tmpfs *tmpfs = NULL;
        cleanup_free char *rootfs_abs = NULL;
        char *upper = NULL, *work = NULL, *hostname_default = NULL, *seccomp_cache = NULL,
             *seccomp_save = NULL, *etc_lower = NULL;
        json_t *icfg = NULL;
        const char *image_name = o.rootfs ? NULL : argv[optind++];

        if (o.rootfs) {
            rootfs_abs = realpath(o.rootfs, NULL);
            if (!rootfs_abs) {
                error_errno(&err, "rootfs `%s`", o.rootfs);
                goto fail;
            }
        } else {
            if (fmt_store_open(cli->root, &store, &err) < 0)
                goto fail;
            if (fmt_image_resolve(store, image_name, &img, &err) < 0)
                goto fail;
            icfg = json_object_get(img->config, "config");
        }
        if (run_imgcfg_argv(icfg, o.entrypoint, argv + optind, (size_t)(argc - optind), &cargv,
                            &err) < 0 ||
            run_imgcfg_env(icfg, list_v(&o.env_files), list_v(&o.env), &cenv, &err) < 0)
            goto fail;
        const char *workdir = o.workdir ? o.workdir : run_imgcfg_string(icfg, "WorkingDir");
        const char *user = o.user ? o.user : run_imgcfg_string(icfg, "User");
        const char *stopsig = run_imgcfg_string(icfg, "StopSignal");
        if (workdir && workdir[0] != '/') {
            error_set(&err, EINVAL, "the working directory `%s` is not absolute", workdir);
            goto fail;
        }

        vols = xcalloc(o.volumes.n + 1, sizeof *vols);
        for (size_t i = 0; i < o.volumes.n; i++)
            if (parse_volume(o.volumes.v[i], &vols[i], &err) < 0)
                goto fail;
        tmpfs = xcalloc(o.tmpfs.n + 1, sizeof *tmpfs);
        for (size_t i = 0; i < o.tmpfs.n; i++) {
            char *t = o.tmpfs.v[i];
            char *colon = strchr(t, ':');
            if (colon)
                *colon = '\0';
            tmpfs[i].target = t;
            tmpfs[i].options = colon ? colon + 1 : NULL;
            if (t[0] != '/') {
                error_set(&err, EINVAL, "tmpfs target `%s` is not absolute", t);
                goto fail;
            }
        }

        json_t *cfg = json_pack("{s:s?, s:o, s:o, s:s?, s:s?, s:s?, s:b, s:b, s:b, s:b, s:b, s:s, "
                                "s:b, s:o, s:o, s:o}",
                                "Name", o.name, "Cmd", strv_json(cargv), "Env", strv_json(cenv),
                                "WorkingDir", workdir, "User", user, "StopSignal", stopsig,
                                "Tty", o.tty, "OpenStdin", o.interactive, "AutoRemove", o.rm,
                                "ReadOnly", o.read_only, "Init", o.init, "NetworkMode",
                                o.network == RUN_NET_HOST ? "host" : "none", "Rootless",
                                geteuid() != 0, "Volumes", strv_json(o.volumes.v), "CapAdd",
                                strv_json(o.cap_add.v), "CapDrop", strv_json(o.cap_drop.v));
        if (o.hostname)
            json_object_set_new(cfg, "Hostname", json_string(o.hostname));
        if (o.seccomp_unconfined)
            json_object_set_new(cfg, "SeccompUnconfined", json_true());
        /* the environment is only the flag's default: recorded, so that
         * nothing later reads it again ("": the default placement) */
        if (!o.cgroup_parent)
            o.cgroup_parent = getenv("STRATA_CGROUP_PARENT");
        if (!o.cgroup_parent)
            o.cgroup_parent = "";
        json_object_set_new(cfg, "CgroupParent", json_string(o.cgroup_parent));
        json_object_set_new(cfg, "Limits",
                            json_pack("{s:I, s:I, s:f, s:I, s:s?}", "Memory",
                                      (json_int_t)o.limits.memory, "MemorySwap",
                                      (json_int_t)o.limits.memory_swap, "Cpus", o.limits.cpus,
                                      "PidsLimit", (json_int_t)o.limits.pids, "CpusetCpus",
                                      o.limits.cpuset_cpus));
        if (img) {
            json_object_set_new(cfg, "Image", json_string(image_name));
            json_object_set_new(cfg, "ImageDigest", json_string(img->digest));
            json_object_set_new(cfg, "ImageId", json_string(img->id));
        } else {
            json_object_set_new(cfg, "Image", json_string(""));
            json_object_set_new(cfg, "Rootfs", json_string(rootfs_abs));
        }
        int cr = run_ctr_create(cli->root, cfg, img ? img->digest : NULL, &ctr, &err);
        json_decref(cfg);
        if (cr < 0)
            goto fail;

        if (img) {
            /* the layers, unpacked once and shared; lowers are top-first */
            n_lowers = img->manifest.n_layers;
            lowers = xcalloc(n_lowers + 1, sizeof *lowers);
            for (size_t i = 0; i < n_lowers; i++) {
                const struct fmt_descriptor *d = &img->manifest.layers[i];
                if (!d->diff_id) {
                    error_set(&err, EINVAL, "layer `%s` of `%s` has no diff_id", d->digest,
                              image_name);
                    goto fail_ctr;
                }
                if (fmt_layer_cache_get(store, d->digest, d->diff_id,
                                        &lowers[n_lowers - 1 - i], &err) < 0)
                    goto fail_ctr;
            }
        }

        struct run_spec spec;
        run_spec_init(&spec);
        upper = xasprintf("%s/upper", ctr->dir);
        work = xasprintf("%s/work", ctr->dir);
        hostname_default = xstrndup(ctr->id, 12);
        if (img && n_lowers) {
            spec.lowers = (const char *const *)lowers;
            spec.upper = upper;
            spec.work = work;
        } else if (img) {
            /* an image without layers: the (empty) container layer is the root */
            spec.rootfs = upper;
        } else {
            spec.rootfs = rootfs_abs;
        }
        spec.argv = cargv;
        spec.env = cenv;
        spec.cwd = workdir;
        spec.user = user;
        spec.hostname = o.hostname ? o.hostname : hostname_default;
        spec.network = o.network;
        spec.tty = o.tty;
        spec.interactive = o.interactive;
        spec.limits = o.limits;
        spec.volumes = vols;
        spec.n_volumes = o.volumes.n;
        spec.tmpfs = tmpfs;
        spec.n_tmpfs = o.tmpfs.n;
        spec.cap_add = list_v(&o.cap_add);
        spec.cap_drop = list_v(&o.cap_drop);
        spec.init = o.init;
        spec.read_only = o.read_only;
        spec.no_proc_view = o.no_proc_view;
        spec.seccomp_unconfined = o.seccomp_unconfined;
        /* STORE/containers/<id>/../../cache: the store's cache */
        seccomp_cache = xasprintf("%s/../../cache/seccomp", ctr->dir);
        spec.seccomp_cache = seccomp_cache;
        seccomp_save = xasprintf("%s/seccomp.bpf", ctr->dir);
        spec.seccomp_save = seccomp_save;
        etc_lower = xasprintf("%s/../../cache/run-etc", ctr->dir);
        spec.etc_lower = etc_lower;
        spec.id = ctr->id;
        spec.run_dir = ctr->dir;
        spec.cgroup_parent = o.cgroup_parent;

        if (store) {
            /* the monitor keeps no store handle it does not need */
            fmt_store_close(store);
            store = NULL;
        }
        if (o.detach)
            status = detach(v, ctr, &spec, o.rm);
        else {
            /* as podman: a kept container's output is in its log too */
            if (!o.rm && (spec.log_fd = run_ctr_open_log(ctr, &err)) < 0)
                goto fail_ctr;
            status = supervise(v, ctr, &spec, o.rm, -1);
            if (spec.log_fd >= 0)
                close(spec.log_fd);
        }
        goto done;

    fail_ctr: {
        struct error e2 = {0};
        run_ctr_mark_exited(ctr, 125, false, err.msg, &e2);
        if (o.rm)
            run_ctr_remove(ctr, &e2);
    }
    fail:
        status = 125;
        cli_fail(v, &err);
    done:
        free(upper);
        free(work);
        free(hostname_default);
        free(seccomp_cache);
        free(seccomp_save);
        free(etc_lower);
        run_ctr_free(ctr);
        for (size_t i = 0; vols && i < o.volumes.n; i++) {
            free((char *)vols[i].source);
            free((char *)vols[i].target);
        }
        free(vols);
        free(tmpfs);
        if (lowers) {
            for (size_t i = 0; i < n_lowers; i++)
                free(lowers[i]);
            free(lowers);
        }
        strv_free(cargv);
        strv_free(cenv);
        fmt_image_free(img);
        if (store)
            fmt_store_close(store);
    }
out:
    list_free(&o.env);
    list_free(&o.env_files);
    list_free(&o.volumes);
    list_free(&o.tmpfs);
    list_free(&o.cap_add);
    list_free(&o.cap_drop);
    return status;
}

STRATA_VERB(run, "run", "run a command in a new container",
            "usage: strata run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
            "\n"
            "Runs IMAGE's entrypoint/command (or COMMAND) in a new container: the\n"
            "image's layers under a fresh container layer, in new namespaces, under\n"
            "cgroup limits.  Exits with the command's status (128+N when killed by\n"
            "signal N); 125 when the container could not be started.\n"
            "\n"
            "options:\n"
            "  --rm                  remove the container when it exits\n"
            "  -d, --detach          run in the background and print the container id\n"
            "                        (with -t, `strata attach` reaches its terminal)\n"
            "  -i, --interactive     keep stdin open\n"
            "  -t, --tty             allocate a pseudo-terminal\n"
            "  --name NAME           name the container\n"
            "  -e, --env K[=V]       set an environment variable (bare K: from here)\n"
            "  --env-file FILE       read K=V lines\n"
            "  -w, --workdir DIR     working directory inside the container\n"
            "  -u, --user U[:G]      user (name or uid) and group\n"
            "  -v, --volume H:C[:ro] bind-mount host path H at C\n"
            "  --tmpfs PATH[:OPTS]   mount a tmpfs at PATH\n"
            "  -m, --memory SIZE     memory limit (e.g. 64m)\n"
            "  --memory-swap SIZE    memory+swap limit (-1: unlimited swap)\n"
            "  --cpus N              CPU quota (e.g. 0.5)\n"
            "  --cpuset-cpus LIST    CPUs allowed (e.g. 0-1)\n"
            "  --pids-limit N        maximum number of tasks\n"
            "  --cgroup-parent PATH  put the container's cgroup under PATH, the same\n"
            "                        in every hierarchy; it must exist (delegated when\n"
            "                        rootless); default $STRATA_CGROUP_PARENT\n"
            "  --network none|host   networking (default none: only lo)\n"
            "  --hostname NAME       the container's hostname\n"
            "  --read-only           mount the root read-only\n"
            "  --init                run a reaper as PID 1\n"
            "  --entrypoint CMD      override the image's entrypoint\n"
            "  --cap-add CAP         add a capability (or ALL)\n"
            "  --cap-drop CAP        drop a capability (or ALL)\n"
            "  --no-proc-view        do not show the limits in /proc\n"
            "  --security-opt seccomp=unconfined\n"
            "                        no default seccomp filter\n",
            run_run)
