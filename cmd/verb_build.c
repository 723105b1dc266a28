/* strata build: a Containerfile → an image in the store (builder/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build.h"
#include "cmd/cli.h"
#include "cmd/imageutil.h"
#include "common/cleanup.h"
#include "common/xalloc.h"
#include "format/compress.h"
#include "format/ref.h"

static int parse_epoch(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int run_build(struct cli *cli, const struct verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"tag", required_argument, NULL, 't'},
        {"build-arg", required_argument, NULL, 'a'},
        {"target", required_argument, NULL, 'T'},
        {"no-cache", no_argument, NULL, 'n'},
        {"network", required_argument, NULL, 'N'},
        {"compression", required_argument, NULL, 'c'},
        {"timestamp", required_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {0},
    };
    struct bld_options o = {.timestamp = -1, .run_stdout = -1, .run_stderr = -1,
                            .compression = FMT_COMPRESSION_GZIP};
    struct bld_env args;
    bld_env_init(&args);
    cleanup_free char **tags = xcalloc((size_t)argc + 1, sizeof *tags);
    size_t n_tags = 0;
    bool quiet = false, have_ts = false;
    struct error err = {0};
    int c, status = 0;
    const char *ts_env = getenv("SOURCE_DATE_EPOCH");
    while ((c = cli_getopt(v, argc, argv, "f:t:q", opts)) != -1) {
        switch (c) {
        case 'f':
            o.file = optarg;
            break;
        case 't': {
            char *norm = fmt_ref_normalize(optarg, &err);
            if (!norm) {
                bld_env_clear(&args);
                return cli_fail(v, &err);
            }
            free(norm);
            tags[n_tags++] = optarg;
            break;
        }
        case 'a': {
            const char *eq = strchr(optarg, '=');
            if (eq) {
                bld_env_set_pair(&args, optarg);
            } else {
                /* `--build-arg NAME` takes the value from the environment */
                const char *val = getenv(optarg);
                if (val)
                    bld_env_set(&args, optarg, val);
            }
            break;
        }
        case 'T':
            o.target = optarg;
            break;
        case 'n':
            o.no_cache = true;
            break;
        case 'N':
            if (!strcmp(optarg, "host"))
                o.network_host = true;
            else if (strcmp(optarg, "none")) {
                bld_env_clear(&args);
                return cli_usage_error(v, "--network must be none or host, not `%s`", optarg);
            }
            break;
        case 'c':
            if (!strcmp(optarg, "gzip"))
                o.compression = FMT_COMPRESSION_GZIP;
            else if (!strcmp(optarg, "zstd"))
                o.compression = FMT_COMPRESSION_ZSTD;
            else {
                bld_env_clear(&args);
                return cli_usage_error(v, "--compression must be gzip or zstd, not `%s`", optarg);
            }
            break;
        case 's':
            if (parse_epoch(optarg, &o.timestamp) < 0) {
                bld_env_clear(&args);
                return cli_usage_error(v, "--timestamp wants seconds since the epoch, not `%s`",
                                       optarg);
            }
            have_ts = true;
            break;
        case 'q':
            quiet = true;
            break;
        default:
            bld_env_clear(&args);
            return cli_exit_status(c);
        }
    }
    if (!have_ts && ts_env && *ts_env && parse_epoch(ts_env, &o.timestamp) < 0) {
        bld_env_clear(&args);
        return cli_usage_error(v, "SOURCE_DATE_EPOCH must be seconds since the epoch, not `%s`",
                               ts_env);
    }
    if (argc - optind != 1) {
        bld_env_clear(&args);
        return cli_usage_error(v, "need exactly one build context directory");
    }
    o.context = argv[optind];
    o.tags = (const char *const *)tags;
    o.build_args = &args;
    o.out = quiet ? NULL : stdout;
    o.tty = !quiet && cli_stdout_is_tty();
    if (quiet)
        o.run_stdout = STDERR_FILENO; /* keep stdout for the id alone */

    struct fmt_store *s = imgutil_open_store(cli, v);
    if (!s) {
        bld_env_clear(&args);
        return 1;
    }
    o.store = s;
    struct bld_result res;
    if (bld_build(&o, &res, &err) < 0) {
        status = cli_fail(v, &err);
        if (res.run_status > 0)
            status = res.run_status;
    } else {
        for (char **u = res.unused_args; u && *u; u++)
            fprintf(stderr, "strata build: warning: build arg `%s` was not consumed\n", *u);
        printf("%s\n", fmt_digest_hex(res.image_id));
    }
    bld_result_clear(&res);
    fmt_store_close(s);
    bld_env_clear(&args);
    return status;
}

STRATA_VERB(build, "build", "build an image from a Containerfile",
            "usage: strata build [OPTIONS] CONTEXT\n"
            "\n"
            "Builds the Containerfile (else Dockerfile) in the CONTEXT directory into\n"
            "an image in the store and prints its id.\n"
            "\n"
            "options:\n"
            "  -f, --file FILE          the Containerfile (default CONTEXT/Containerfile,\n"
            "                           then CONTEXT/Dockerfile)\n"
            "  -t, --tag NAME[:TAG]     name the image (repeatable)\n"
            "      --build-arg K=V      set an ARG (repeatable; K alone takes $K)\n"
            "      --target STAGE       build up to this stage only\n"
            "      --no-cache           ignore the build cache\n"
            "      --network none|host  RUN's network (default none)\n"
            "      --compression gzip|zstd  layer compression (default gzip)\n"
            "      --timestamp EPOCH    date everything EPOCH and clamp file times to it\n"
            "                           (default $SOURCE_DATE_EPOCH): reproducible images\n"
            "  -q, --quiet              print only the image id\n",
            run_build)
