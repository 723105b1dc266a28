/* strata exec: a command in a running container, in all its namespaces
 * and its cgroup, with the container's environment (plus -e). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/cgroup.h"
#include "run/exec.h"
#include "run/imgcfg.h"
#include "run/state.h"

static int run_exec_verb(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {0},
    };
    bool interactive = false, tty = false;
    const char *workdir = NULL, *user = NULL;
    const char **env = xcalloc((size_t)argc + 1, sizeof *env);
    size_t n_env = 0;
    int c;
    while ((c = cli_getopt(v, argc, argv, "+ite:w:u:", opts)) != -1) {
        switch (c) {
        case 'i': interactive = true; break;
        case 't': tty = true; break;
        case 'e': env[n_env++] = optarg; break;
        case 'w': workdir = optarg; break;
        case 'u': user = optarg; break;
        default:
            free(env);
            return cli_exit_status(c);
        }
    }
    if (optind + 2 > argc) {
        free(env);
        return cli_usage_error(v, "a container and a command are required");
    }
    struct error err = {0};
    struct run_ctr *ct = NULL;
    char **full_env = NULL, **cap_add = NULL, **cap_drop = NULL;
    struct run_cgroup *cg = NULL;
    cleanup_free char *seccomp_cache = NULL, *seccomp_file = NULL;
    int status = 126;
    if (run_ctr_find(cli->root, argv[optind], &ct, &err) < 0)
        goto fail;
    pid_t pid = run_ctr_pid(ct);
    if (!pid) {
        error_set(&err, EINVAL, "container `%s` is not running", argv[optind]);
        goto fail;
    }
    /* the container's own environment, then -e; a config holds "Env" */
    json_t *cfg = json_pack("{s:O}", "Env", json_object_get(ct->config, "Env"));
    int r = run_imgcfg_env(cfg, NULL, n_env ? env : NULL, &full_env, &err);
    json_decref(cfg);
    if (r < 0)
        goto fail;
    /* where run recorded it: not placed again from our environment */
    struct error e2 = {0};
    if (run_ctr_cgroup_open(ct, &cg, &e2) < 0 && e2.code != ENOENT) {
        err = e2;
        goto fail;
    }
    struct run_exec_spec s = {
        .pid = pid,
        .cgroup = cg,
        .argv = argv + optind + 1,
        .env = full_env,
        .cwd = workdir ? workdir : json_string_value(json_object_get(ct->config, "WorkingDir")),
        .user = user ? user : json_string_value(json_object_get(ct->config, "User")),
        .tty = tty,
        .interactive = interactive,
        .seccomp_unconfined = json_is_true(json_object_get(ct->config, "SeccompUnconfined")),
    };
    seccomp_cache = xasprintf("%s/../../cache/seccomp", ct->dir);
    s.seccomp_cache = seccomp_cache;
    seccomp_file = xasprintf("%s/seccomp.bpf", ct->dir);
    s.seccomp_file = seccomp_file;
    const char *keys[] = {"CapAdd", "CapDrop"};
    char ***dst[] = {&cap_add, &cap_drop};
    for (int k = 0; k < 2; k++) {
        json_t *a = json_object_get(ct->config, keys[k]);
        size_t n = json_array_size(a);
        *dst[k] = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            (*dst[k])[i] = xstrdup(json_string_value(json_array_get(a, i)) ?: "");
    }
    s.cap_add = (const char *const *)cap_add;
    s.cap_drop = (const char *const *)cap_drop;
    int st;
    if (run_exec(&s, &st, &err) < 0) {
        status = st > 0 ? st : 126;
        goto fail;
    }
    status = st;
    goto out;
fail:
    cli_fail(v, &err);
out:
    strv_free(full_env);
    strv_free(cap_add);
    strv_free(cap_drop);
    run_cgroup_free(cg);
    run_ctr_free(ct);
    free(env);
    return status;
}

STRATA_VERB(exec, "exec", "run a command in a running container",
            "usage: strata exec [-i] [-t] [-e K=V]... [-w DIR] [-u USER] CONTAINER CMD [ARG...]\n"
            "\n"
            "Runs CMD inside a running container: all its namespaces, its cgroup,\n"
            "its environment.  Exits with CMD's status.\n"
            "\n"
            "options:\n"
            "  -i, --interactive   keep stdin open\n"
            "  -t, --tty           allocate a pseudo-terminal\n"
            "  -e, --env K[=V]     set an environment variable\n"
            "  -w, --workdir DIR   working directory\n"
            "  -u, --user U[:G]    user\n",
            run_exec_verb)
