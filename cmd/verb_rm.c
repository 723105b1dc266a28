/* strata rm: removes stopped containers (with -f, running ones after
 * killing them): their container layer, state and cgroup. */
#include <signal.h>
#include <stdio.h>

#include "cmd/cli.h"
#include "cmd/container_each.h"
#include "run/state.h"

static int rm_one(struct run_ctr *ct, const char *name, void *ctx, struct error *err)
{
    if (run_ctr_is_running(ct)) {
        if (!*(bool *)ctx)
            return error_set(err, 0, "container `%s` is running: stop it first or use -f", name);
        struct error ignored = {0};
        run_ctr_signal(ct, SIGKILL, &ignored);
        run_ctr_wait_stopped(ct, 10000);
    }
    return run_ctr_remove(ct, err);
}

static int run_rm(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {0},
    };
    bool force = false;
    int c;
    while ((c = cli_getopt(v, argc, argv, "f", opts)) != -1) {
        switch (c) {
        case 'f': force = true; break;
        default: return cli_exit_status(c);
        }
    }
    return cli_each_container(cli, v, argc, argv, rm_one, &force);
}

STRATA_VERB(rm, "rm", "remove containers",
            "usage: strata rm [-f] CONTAINER...\n"
            "\n"
            "Removes containers: their container layer, state and cgroup.\n"
            "\n"
            "options:\n"
            "  -f, --force   kill a running container first\n",
            run_rm)
