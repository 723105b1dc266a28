/* strata attach: this terminal to a detached container's pty (`run -d -t`),
 * until the container ends (exit with its status) or ctrl-p ctrl-q. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "common/cleanup.h"
#include "run/attach.h"
#include "run/state.h"

static int run_attach_verb(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {{0}};
    int c;
    while ((c = cli_getopt(v, argc, argv, "", opts)) != -1)
        return cli_exit_status(c);
    if (optind + 1 != argc)
        return cli_usage_error(v, "one container is required");
    struct error err = {0};
    struct run_ctr *ct = NULL;
    cleanup_close int sigfd = -1;
    int status = 125;
    if (run_ctr_find(cli->root, argv[optind], &ct, &err) < 0)
        goto fail;
    if (!run_ctr_is_running(ct)) {
        error_set(&err, EINVAL, "container `%s` is not running", argv[optind]);
        goto fail;
    }
    if (!json_is_true(json_object_get(ct->config, "Tty"))) {
        error_set(&err, EINVAL, "container `%s` has no terminal (start it with -d -t)",
                  argv[optind]);
        goto fail;
    }
    sigset_t winch, old;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    sigprocmask(SIG_BLOCK, &winch, &old);
    sigfd = signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
    bool detached = false;
    int r = run_attach_client(ct->dirfd, STDIN_FILENO, STDOUT_FILENO, sigfd, &detached, &err);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (r < 0)
        goto fail;
    if (detached) {
        status = 0;
        goto out;
    }
    /* the container ended: its status, once its owner has recorded it */
    run_ctr_wait_stopped(ct, 10000);
    json_t *code = json_object_get(ct->state, "ExitCode");
    status = json_is_integer(code) ? (int)json_integer_value(code) : 0;
    goto out;
fail:
    cli_fail(v, &err);
out:
    run_ctr_free(ct);
    return status;
}

STRATA_VERB(attach, "attach", "connect this terminal to a detached container's",
            "usage: strata attach CONTAINER\n"
            "\n"
            "Connects stdin and stdout to the terminal of a container started with\n"
            "`run -d -t` (input only when it was started with -i too), until the\n"
            "container exits (then exits with its status) or ctrl-p ctrl-q is typed,\n"
            "which detaches and leaves it running.\n",
            run_attach_verb)
