/* strata logs: a container's stdout and stderr, from its log (kept by -d
 * and by foreground runs without --rm). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/state.h"

static int copy_out(int fd)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            off += w;
        }
    }
    return n < 0 ? -1 : 0;
}

static int run_logs(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {0},
    };
    bool follow = false;
    int c;
    while ((c = cli_getopt(v, argc, argv, "f", opts)) != -1) {
        switch (c) {
        case 'f': follow = true; break;
        default: return cli_exit_status(c);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(v, "one container is required");
    struct error err = {0};
    struct run_ctr *ct;
    if (run_ctr_find(cli->root, argv[optind], &ct, &err) < 0)
        return cli_fail(v, &err);
    cleanup_free char *path = xasprintf("%s/log", ct->dir);
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        error_errno(&err, "open `%s`", path);
        run_ctr_free(ct);
        return cli_fail(v, &err);
    }
    int status = 0;
    if (fd >= 0 && copy_out(fd) < 0)
        status = 1;
    /* follow while the owner lives, then take what it wrote last */
    while (follow && fd >= 0 && status == 0 && run_ctr_monitor(ct)) {
        poll(NULL, 0, 100);
        if (copy_out(fd) < 0)
            status = 1;
    }
    if (follow && fd >= 0 && copy_out(fd) < 0)
        status = 1;
    run_ctr_free(ct);
    return status;
}

STRATA_VERB(logs, "logs", "show a container's output",
            "usage: strata logs [-f] CONTAINER\n"
            "\n"
            "Prints what a container wrote to stdout and stderr (detached, or in the\n"
            "foreground without --rm).\n"
            "\n"
            "options:\n"
            "  -f, --follow   keep printing new output until the container stops\n",
            run_logs)
