/* strata analyze IMAGE: wasted space as dive measures it (see
 * format/analyze.h for the formula), the largest offenders, and dive's CI
 * rules setting the exit status. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/diff_util.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/analyze.h"

static const char usage[] =
    "usage: strata analyze [OPTIONS] IMAGE\n\n"
    "Measures wasted space as dive does: every path written (or removed) by\n"
    "more than one layer wastes the sum of its copies' sizes; efficiency is\n"
    "the sum over all paths of their smallest copy divided by the sum of all\n"
    "copies.  Files under a directory a later layer deletes count as deleted.\n\n"
    "options:\n"
    "  --top N                     list the N largest offenders (default 20, 0: all)\n"
    "  --format FORMAT             `table` (default) or `json`\n"
    "  --ci                        check the rules below; exit 1 if one fails\n"
    "  --lowest-efficiency R       fail below this efficiency, 0..1 (default 0.9)\n"
    "  --highest-wasted-bytes B    fail above this many wasted bytes (20MB, 1GiB, ...;\n"
    "                              default disabled)\n"
    "  --highest-user-wasted-percent R\n"
    "                              fail when wasted bytes exceed this fraction of\n"
    "                              the non-base layers' bytes (default 0.1)\n"
    "  a rule given `disabled` is skipped.\n";

static int parse_ratio(const char *s, double *out)
{
    if (!strcmp(s, "disabled")) {
        *out = -1;
        return 0;
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0 || v > 1)
        return -1;
    *out = v;
    return 0;
}

static int run_analyze(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"top", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {"ci", no_argument, NULL, 'c'},
        {"lowest-efficiency", required_argument, NULL, 'e'},
        {"highest-wasted-bytes", required_argument, NULL, 'w'},
        {"highest-user-wasted-percent", required_argument, NULL, 'u'},
        {0},
    };
    bool json = false, ci = false;
    long top = 20;
    double lowest_eff = 0.9, highest_user = 0.1;
    int64_t highest_wasted = -1;
    int c;
    while ((c = cli_getopt(v, argc, argv, "", opts)) != -1) {
        char *end;
        switch (c) {
        case 't':
            top = strtol(optarg, &end, 10);
            if (*end || end == optarg || top < 0)
                return cli_usage_error(v, "`--top` takes a count, not `%s`", optarg);
            break;
        case 'f':
            if (!strcmp(optarg, "json"))
                json = true;
            else if (strcmp(optarg, "table"))
                return cli_usage_error(v, "unknown format `%s` (table or json)", optarg);
            break;
        case 'c':
            ci = true;
            break;
        case 'e':
            if (parse_ratio(optarg, &lowest_eff) < 0)
                return cli_usage_error(v, "`--lowest-efficiency` takes 0..1, not `%s`", optarg);
            break;
        case 'u':
            if (parse_ratio(optarg, &highest_user) < 0)
                return cli_usage_error(v, "`--highest-user-wasted-percent` takes 0..1, not `%s`",
                                       optarg);
            break;
        case 'w':
            highest_wasted = strcmp(optarg, "disabled") ? diff_parse_bytes(optarg) : -1;
            if (highest_wasted < 0 && strcmp(optarg, "disabled"))
                return cli_usage_error(v, "`--highest-wasted-bytes` takes a size, not `%s`",
                                       optarg);
            break;
        default:
            return cli_exit_status(c);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(v, "expected one IMAGE");

    struct diff_image di;
    struct fmt_store *s = diff_image_open_verb(cli, v, argv[optind], true, &di);
    if (!s)
        return 1;
    struct fmt_analysis an;
    fmt_analyze(di.layers, di.n, &an);

    /* dive's rules: efficiency below the floor, or waste above a ceiling */
    struct {
        const char *name;
        bool enabled, pass;
        char detail[128];
    } rules[3] = {{.name = "lowestEfficiency"},
                   {.name = "highestWastedBytes"},
                   {.name = "highestUserWastedPercent"}};
    rules[0].enabled = lowest_eff >= 0;
    rules[0].pass = !rules[0].enabled || an.efficiency >= lowest_eff;
    snprintf(rules[0].detail, sizeof rules[0].detail, "efficiency %.4f, lowest allowed %.4f",
             an.efficiency, lowest_eff);
    rules[1].enabled = highest_wasted >= 0;
    rules[1].pass = !rules[1].enabled || an.wasted_bytes <= highest_wasted;
    snprintf(rules[1].detail, sizeof rules[1].detail,
             "wasted %" PRId64 " bytes, highest allowed %" PRId64, an.wasted_bytes,
             highest_wasted);
    rules[2].enabled = highest_user >= 0;
    rules[2].pass = !rules[2].enabled || an.user_wasted_fraction <= highest_user;
    snprintf(rules[2].detail, sizeof rules[2].detail,
             "user wasted %.4f, highest allowed %.4f", an.user_wasted_fraction, highest_user);
    bool pass = true;
    for (size_t i = 0; ci && i < 3; i++)
        pass = pass && rules[i].pass;

    size_t shown = top == 0 || (size_t)top > an.n_items ? an.n_items : (size_t)top;
    if (json) {
        json_t *items = json_array();
        for (size_t i = 0; i < shown; i++) {
            cleanup_free char *p = diff_display_path(an.items[i].path);
            json_array_append_new(items, json_pack("{s:s, s:i, s:I}", "path", p, "count",
                                                   (int)an.items[i].copies, "bytes",
                                                   (json_int_t)an.items[i].bytes));
        }
        json_t *o = json_pack("{s:s, s:f, s:I, s:I, s:I, s:f, s:o}", "image", argv[optind],
                              "efficiency", an.efficiency, "wasted_bytes",
                              (json_int_t)an.wasted_bytes, "size_bytes",
                              (json_int_t)an.image_bytes, "user_size_bytes",
                              (json_int_t)an.user_bytes, "user_wasted_percent",
                              an.user_wasted_fraction, "inefficiencies", items);
        if (ci) {
            json_t *r = json_object();
            for (size_t i = 0; i < 3; i++)
                json_object_set_new(r, rules[i].name,
                                    json_string(!rules[i].enabled ? "skip"
                                                : rules[i].pass   ? "pass"
                                                                  : "fail"));
            json_object_set_new(o, "rules", r);
            json_object_set_new(o, "pass", json_boolean(pass));
        }
        diff_print_json(o);
    } else {
        char b1[32], b2[32], b3[32];
        printf("image:               %s\n", argv[optind]);
        printf("layers:              %zu\n", di.n);
        printf("total size:          %s\n", diff_human_size(an.image_bytes, b1));
        printf("efficiency:          %.4f %%\n", an.efficiency * 100);
        printf("wasted bytes:        %" PRId64 " (%s)\n", an.wasted_bytes,
               diff_human_size(an.wasted_bytes, b2));
        printf("user wasted percent: %.4f %% of %s\n", an.user_wasted_fraction * 100,
               diff_human_size(an.user_bytes, b3));
        if (shown) {
            printf("\n");
            struct dtab t;
            dtab_init(&t, 3, (const char *const[]){"COUNT", "TOTAL SPACE", "PATH"});
            for (size_t i = 0; i < shown; i++) {
                char count[16], size[32];
                snprintf(count, sizeof count, "%u", an.items[i].copies);
                diff_human_size(an.items[i].bytes, size);
                cleanup_free char *p = diff_display_path(an.items[i].path);
                dtab_row(&t, (const char *const[]){count, size, p});
            }
            dtab_print(&t, stdout);
            dtab_clear(&t);
        }
        if (ci) {
            printf("\n");
            for (size_t i = 0; i < 3; i++)
                printf("%s: %s: %s\n",
                       !rules[i].enabled ? "SKIP" : rules[i].pass ? "PASS" : "FAIL",
                       rules[i].name, rules[i].enabled ? rules[i].detail : "rule disabled");
            printf("result: %s\n", pass ? "PASS" : "FAIL");
        }
    }
    fmt_analysis_clear(&an);
    diff_image_close(&di);
    fmt_store_close(s);
    return pass ? 0 : 1;
}

STRATA_VERB(analyze, "analyze", "measure the wasted space in an image's layers", usage,
            run_analyze)
