/* strata: global options, then dispatch to the verb named on the command line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "format/store_root.h"

#ifndef STRATA_VERSION
#define STRATA_VERSION "0.0.0-dev"
#endif

static void print_help(FILE *out)
{
    fprintf(out, "usage: strata [--root DIR] VERB [ARGS...]\n"
                 "       strata --version\n\n"
                 "A rootless container toolchain on an OCI image layout store.\n\n"
                 "options:\n"
                 "  --root DIR   the store (default: $STRATA_ROOT, /var/lib/strata as root,\n"
                 "               $XDG_DATA_HOME/strata otherwise)\n\n"
                 "verbs:\n");
    for (const struct verb *v = verb_first(); v; v = v->next)
        fprintf(out, "  %-10s %s\n", v->name, v->summary);
    fprintf(out, "\n`strata VERB --help` describes each verb.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"root", required_argument, NULL, 'r'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cli cli = {.argv0 = argv[0]};
    const char *root = NULL;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            root = optarg;
            break;
        case 'V':
            printf("strata version %s\n", STRATA_VERSION);
            return 0;
        case 'h':
            print_help(stdout);
            return 0;
        default:
            fprintf(stderr, "strata: unknown flag `%s`\ntry `strata --help`\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind >= argc) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[optind];
    const struct verb *v = verb_find(name);
    if (!v) {
        fprintf(stderr, "strata: unknown verb `%s`\ntry `strata --help`\n", name);
        return 2;
    }

    struct error err = {0};
    char *resolved = fmt_store_root_resolve(root, &err);
    if (!resolved) {
        fprintf(stderr, "strata: %s\n", err.msg);
        return 1;
    }
    cli.root = resolved;

    /* verbs parse their own options from their own argv[0] */
    argc -= optind;
    argv += optind;
    optind = 1;
    int status = v->run(&cli, v, argc, argv);
    free(resolved);
    return status;
}
