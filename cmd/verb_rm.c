/* strata rm: removes stopped containers (with -f, running ones after
 * killing them): their container layer, state and cgroup. */
#include <signal.h>
#include <stdio.h>

#include "cmd/cli.h"
#include "run/state.h"

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
    if (optind >= argc)
        return cli_usage_error(v, "a container is required");
    int status = 0;
    for (int i = optind; i < argc; i++) {
        struct error err = {0};
        struct run_ctr *ct = NULL;
        if (run_ctr_find(cli->root, argv[i], &ct, &err) < 0) {
            status = cli_fail(v, &err);
            continue;
        }
        if (run_ctr_is_running(ct)) {
            if (!force) {
                error_set(&err, 0, "container `%s` is running: stop it first or use -f",
                          argv[i]);
                status = cli_fail(v, &err);
                run_ctr_free(ct);
                continue;
            }
            struct error e2 = {0};
            run_ctr_signal(ct, SIGKILL, &e2);
            run_ctr_wait_stopped(ct, 10000);
        }
        if (run_ctr_remove(ct, &err) < 0)
            status = cli_fail(v, &err);
        else
            printf("%s\n", argv[i]);
        run_ctr_free(ct);
    }
    return status;
}

STRATA_VERB(rm, "rm", "remove containers",
            "usage: strata rm [-f] CONTAINER...\n"
            "\n"
            "Removes containers: their container layer, state and cgroup.\n"
            "\n"
            "options:\n"
            "  -f, --force   kill a running container first\n",
            run_rm)
