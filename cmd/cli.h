/* The strata command: a thin dispatcher.  Each verb lives in its own file
 * cmd/verb_NAME.c and registers itself with STRATA_VERB, so adding a verb
 * never touches a shared table. */
#ifndef STRATA_CMD_CLI_H
#define STRATA_CMD_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "common/error.h"

/* Global options, parsed before the verb. */
struct cli {
    const char *root; /* store root: --root, $STRATA_ROOT, or the default */
    const char *argv0;
};

struct verb {
    const char *name;
    const char *summary; /* one line for `strata --help` */
    const char *usage;   /* full text for `strata VERB --help` */
    int (*run)(struct cli *cli, const struct verb *self, int argc, char **argv);
    struct verb *next;
};

void verb_register(struct verb *v);
const struct verb *verb_find(const char *name);
const struct verb *verb_first(void);

#define STRATA_VERB(ident, name_, summary_, usage_, fn_)                       \
    static struct verb verb_##ident = {                                        \
        .name = name_, .summary = summary_, .usage = usage_, .run = fn_};      \
    __attribute__((constructor)) static void verb_register_##ident(void)       \
    {                                                                          \
        verb_register(&verb_##ident);                                          \
    }

/* getopt_long with strata's conventions: `--help` is always accepted, an
 * unknown flag or a missing argument is an error naming it.  Returns the
 * option character, -1 at the end, or CLI_EXIT_HELP / CLI_EXIT_USAGE, for
 * which the verb should `return cli_exit_status(c)`. */
enum { CLI_EXIT_HELP = -100, CLI_EXIT_USAGE = -101 };
int cli_getopt(const struct verb *v, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
int cli_exit_status(int c);

/* Prints "strata VERB: message" from err and returns 1 (the exit status). */
int cli_fail(const struct verb *v, const struct error *err);
/* Prints "strata VERB: <fmt>" and a hint to --help; returns 2. */
int cli_usage_error(const struct verb *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Is stdout a terminal (tables aligned, progress shown)? */
bool cli_stdout_is_tty(void);

#endif
