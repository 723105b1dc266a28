#include "cmd/container_each.h"

#include <getopt.h>
#include <stdio.h>

int cli_each_container(struct cli *cli, const struct verb *v, int argc, char **argv,
                       container_action_fn act, void *ctx)
{
    if (optind >= argc)
        return cli_usage_error(v, "a container is required");
    int status = 0;
    for (int i = optind; i < argc; i++) {
        struct error err = {0};
        struct run_ctr *ct = NULL;
        if (run_ctr_find(cli->root, argv[i], &ct, &err) < 0 || act(ct, argv[i], ctx, &err) < 0)
            status = cli_fail(v, &err);
        else
            printf("%s\n", argv[i]);
        run_ctr_free(ct);
    }
    return status;
}
