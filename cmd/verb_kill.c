/* strata kill: a signal to running containers' main processes. */
#include <signal.h>
#include <stdio.h>

#include "cmd/cli.h"
#include "cmd/container_each.h"
#include "run/state.h"

static int kill_one(struct run_ctr *ct, const char *name, void *ctx, struct error *err)
{
    int sig = *(int *)ctx;
    if (run_ctr_signal(ct, sig, err) < 0)
        return -1;
    /* KILL cannot be caught: wait so `ps` right after is exact */
    if (sig == SIGKILL)
        run_ctr_wait_stopped(ct, 5000);
    return 0;
}

static int run_kill(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"signal", required_argument, NULL, 's'},
        {0},
    };
    int sig = SIGKILL;
    int c;
    while ((c = cli_getopt(v, argc, argv, "s:", opts)) != -1) {
        switch (c) {
        case 's':
            sig = run_signal_parse(optarg);
            if (sig <= 0)
                return cli_usage_error(v, "unknown signal `%s`", optarg);
            break;
        default: return cli_exit_status(c);
        }
    }
    return cli_each_container(cli, v, argc, argv, kill_one, &sig);
}

STRATA_VERB(kill, "kill", "send a signal to a container",
            "usage: strata kill [-s SIGNAL] CONTAINER...\n"
            "\n"
            "Sends SIGNAL (default KILL; a name like TERM or a number) to each\n"
            "container's main process.\n"
            "\n"
            "options:\n"
            "  -s, --signal SIG   the signal to send\n",
            run_kill)
