#include "cmd/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

static struct verb *verbs;

void verb_register(struct verb *v)
{
    /* keep the list sorted so `strata --help` reads alphabetically */
    struct verb **p = &verbs;
    while (*p && strcmp((*p)->name, v->name) < 0)
        p = &(*p)->next;
    v->next = *p;
    *p = v;
}

const struct verb *verb_find(const char *name)
{
    for (struct verb *v = verbs; v; v = v->next)
        if (!strcmp(v->name, name))
            return v;
    return NULL;
}

const struct verb *verb_first(void)
{
    return verbs;
}

int cli_getopt(const struct verb *v, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    static struct option *merged;
    static const struct option *merged_from;
    if (merged_from != longopts || !merged) {
        size_t n = 0;
        while (longopts && longopts[n].name)
            n++;
        free(merged);
        merged = xcalloc(n + 2, sizeof *merged);
        for (size_t i = 0; i < n; i++)
            merged[i] = longopts[i];
        merged[n] = (struct option){"help", no_argument, NULL, CLI_EXIT_HELP};
        merged_from = longopts;
    }
    /* ':' first so a missing argument is reported as ':' rather than '?' */
    char *opts = xasprintf("%s:%s", shortopts[0] == '+' ? "+" : "",
                           shortopts + (shortopts[0] == '+'));
    opterr = 0;
    int prev = optind;
    int c = getopt_long(argc, argv, opts, merged, NULL);
    free(opts);
    if (c == CLI_EXIT_HELP) {
        fputs(v->usage, stdout);
        return CLI_EXIT_HELP;
    }
    if (c == '?' || c == ':') {
        const char *arg = argv[optind - 1 >= prev ? optind - 1 : prev];
        if (optopt && c == '?')
            fprintf(stderr, "strata %s: unknown flag `-%c`\n", v->name, optopt);
        else if (c == '?')
            fprintf(stderr, "strata %s: unknown flag `%s`\n", v->name, arg);
        else if (optopt && optopt < 256)
            fprintf(stderr, "strata %s: flag `-%c` needs a value\n", v->name, optopt);
        else
            fprintf(stderr, "strata %s: flag `%s` needs a value\n", v->name, arg);
        fprintf(stderr, "try `strata %s --help`\n", v->name);
        return CLI_EXIT_USAGE;
    }
    return c;
}

int cli_exit_status(int c)
{
    return c == CLI_EXIT_HELP ? 0 : 2;
}

int cli_fail(const struct verb *v, const struct error *err)
{
    fprintf(stderr, "strata %s: %s\n", v->name, err->msg[0] ? err->msg : "failed");
    return 1;
}

int cli_usage_error(const struct verb *v, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "strata %s: ", v->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry `strata %s --help`\n", v->name);
    return 2;
}

bool cli_stdout_is_tty(void)
{
    return isatty(STDOUT_FILENO);
}
