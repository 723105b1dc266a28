/* strata stop: the image's STOPSIGNAL (default SIGTERM), then SIGKILL
 * after the timeout; returns once the container has stopped. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cli.h"
#include "cmd/container_each.h"
#include "run/state.h"

/* A container that is not running is already stopped: that is success. */
static int stop_one(struct run_ctr *ct, const char *name, void *ctx, struct error *err)
{
    double timeout = *(double *)ctx;
    if (!run_ctr_is_running(ct))
        return 0;
    const char *ss = json_string_value(json_object_get(ct->config, "StopSignal"));
    int sig = ss ? run_signal_parse(ss) : SIGTERM;
    if (sig <= 0)
        sig = SIGTERM;
    /* a signal that cannot be sent means it exited meanwhile */
    struct error ignored = {0};
    if (run_ctr_signal(ct, sig, &ignored) != 0 || run_ctr_wait_stopped(ct, (int)(timeout * 1000)))
        return 0;
    run_ctr_signal(ct, SIGKILL, &ignored);
    run_ctr_wait_stopped(ct, 10000);
    return 0;
}

static int run_stop(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"time", required_argument, NULL, 't'},
        {0},
    };
    double timeout = 10;
    int c;
    while ((c = cli_getopt(v, argc, argv, "t:", opts)) != -1) {
        switch (c) {
        case 't': {
            char *end;
            timeout = strtod(optarg, &end);
            if (*end || timeout < 0)
                return cli_usage_error(v, "invalid timeout `%s`", optarg);
            break;
        }
        default: return cli_exit_status(c);
        }
    }
    return cli_each_container(cli, v, argc, argv, stop_one, &timeout);
}

STRATA_VERB(stop, "stop", "stop a container",
            "usage: strata stop [-t SECONDS] CONTAINER...\n"
            "\n"
            "Sends the image's STOPSIGNAL (default TERM), then KILL after SECONDS\n"
            "(default 10), and waits until the container has stopped.\n"
            "\n"
            "options:\n"
            "  -t, --time SECONDS   how long to wait before KILL\n",
            run_stop)
