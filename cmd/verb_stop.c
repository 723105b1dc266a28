/* strata stop: the image's STOPSIGNAL (default SIGTERM), then SIGKILL
 * after the timeout; returns once the container has stopped. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cli.h"
#include "run/state.h"

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
            const char *ss = json_string_value(json_object_get(ct->config, "StopSignal"));
            int sig = ss ? run_signal_parse(ss) : SIGTERM;
            if (sig <= 0)
                sig = SIGTERM;
            if (run_ctr_signal(ct, sig, &err) == 0 &&
                !run_ctr_wait_stopped(ct, (int)(timeout * 1000))) {
                struct error e2 = {0};
                run_ctr_signal(ct, SIGKILL, &e2);
                run_ctr_wait_stopped(ct, 10000);
            }
        }
        printf("%s\n", argv[i]);
        run_ctr_free(ct);
    }
    return status;
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
