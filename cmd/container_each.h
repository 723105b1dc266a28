/* The loop kill, rm and stop share: every CONTAINER argument from optind on
 * is looked up and handed to act; its name is printed when act succeeds (as
 * docker does), a failure is reported and the loop goes on. */
#ifndef STRATA_CMD_CONTAINER_EACH_H
#define STRATA_CMD_CONTAINER_EACH_H

#include "cmd/cli.h"
#include "run/state.h"

typedef int (*container_action_fn)(struct run_ctr *ct, const char *name, void *ctx,
                                   struct error *err);

/* Returns the verb's exit status: 2 when no container is named, 1 when any failed. */
int cli_each_container(struct cli *cli, const struct verb *v, int argc, char **argv,
                       container_action_fn act, void *ctx);

#endif
