/* strata ps: containers, running ones only unless -a.  The status comes
 * from the liveness check (run_ctr_status), never from the file alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/state.h"

static void human_duration(double secs, char *buf, size_t len)
{
    if (secs < 1)
        snprintf(buf, len, "Less than a second");
    else if (secs < 60)
        snprintf(buf, len, "%d seconds", (int)secs);
    else if (secs < 3600)
        snprintf(buf, len, "%d minutes", (int)(secs / 60));
    else if (secs < 48 * 3600)
        snprintf(buf, len, "%d hours", (int)(secs / 3600));
    else
        snprintf(buf, len, "%d days", (int)(secs / 86400));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *command_of(json_t *cfg)
{
    json_t *cmd = json_object_get(cfg, "Cmd");
    size_t cap = 256, n = 0;
    char *s = xzalloc(cap);
    size_t i;
    json_t *x;
    json_array_foreach(cmd, i, x) {
        const char *w = json_string_value(x);
        if (!w)
            continue;
        size_t wl = strlen(w);
        if (n + wl + 2 >= cap) {
            cap = (n + wl + 2) * 2;
            s = xrealloc(s, cap);
        }
        if (n)
            s[n++] = ' ';
        memcpy(s + n, w, wl);
        n += wl;
        s[n] = '\0';
    }
    return s;
}

static int run_ps(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"no-trunc", no_argument, NULL, 'T'},
        {0},
    };
    bool all = false, quiet = false, no_trunc = false;
    int c;
    while ((c = cli_getopt(v, argc, argv, "aq", opts)) != -1) {
        switch (c) {
        case 'a': all = true; break;
        case 'q': quiet = true; break;
        case 'T': no_trunc = true; break;
        default: return cli_exit_status(c);
        }
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument `%s`", argv[optind]);
    struct error err = {0};
    struct run_ctr **list;
    size_t n;
    if (run_ctr_list(cli->root, &list, &n, &err) < 0)
        return cli_fail(v, &err);
    if (!quiet)
        printf("%-12s  %-20s  %-22s  %-16s  %-28s  %s\n", "CONTAINER ID", "IMAGE", "COMMAND",
               "CREATED", "STATUS", "NAMES");
    double now = now_s();
    for (size_t i = n; i-- > 0;) {
        struct run_ctr *ct = list[i];
        const char *st = run_ctr_status(ct);
        bool running = !strcmp(st, "running");
        if (!all && !running)
            continue;
        if (quiet) {
            printf("%.*s\n", no_trunc ? 64 : 12, ct->id);
            continue;
        }
        char status[64], ago[64], dur[48];
        if (running) {
            double started = run_time_parse(json_string_value(json_object_get(ct->state, "StartedAt")));
            human_duration(started > 0 ? now - started : 0, dur, sizeof dur);
            snprintf(status, sizeof status, "Up %s", dur);
        } else if (!strcmp(st, "exited")) {
            json_t *ec = json_object_get(ct->state, "ExitCode");
            double fin = run_time_parse(json_string_value(json_object_get(ct->state, "FinishedAt")));
            if (json_is_integer(ec) && fin > 0) {
                human_duration(now - fin, dur, sizeof dur);
                snprintf(status, sizeof status, "Exited (%lld) %s ago", (long long)json_integer_value(ec), dur);
            } else {
                /* its monitor died without recording an end */
                snprintf(status, sizeof status, "Exited (unknown)");
            }
        } else {
            snprintf(status, sizeof status, "Created");
        }
        double created = run_time_parse(json_string_value(json_object_get(ct->config, "Created")));
        imgutil_human_ago(created > 0 ? (time_t)created : -1, ago, sizeof ago);
        cleanup_free char *cmd = command_of(ct->config);
        const char *image = json_string_value(json_object_get(ct->config, "Image"));
        if (!image || !*image)
            image = "(rootfs)";
        char cmdq[32];
        if (!no_trunc && strlen(cmd) > 19)
            snprintf(cmdq, sizeof cmdq, "\"%.16s...\"", cmd);
        else
            snprintf(cmdq, sizeof cmdq, "\"%.28s\"", cmd);
        printf("%-12.12s  %-20s  %-22s  %-16s  %-28s  %s\n", ct->id, image, cmdq, ago, status,
               json_string_value(json_object_get(ct->config, "Name")));
    }
    run_ctr_list_free(list, n);
    return 0;
}

STRATA_VERB(ps, "ps", "list containers",
            "usage: strata ps [-a] [-q] [--no-trunc]\n"
            "\n"
            "Lists running containers (all with -a).  A container whose owning\n"
            "process is gone is shown as exited, whatever its state file says.\n"
            "\n"
            "options:\n"
            "  -a, --all      include containers that are not running\n"
            "  -q, --quiet    only ids\n"
            "  --no-trunc     full ids and commands\n",
            run_ps)
