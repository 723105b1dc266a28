/* strata logout REGISTRY: forget the stored credentials for a registry. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cli.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "registry/auth.h"
#include "registry/ref.h"

static const char usage[] =
    "usage: strata logout [OPTIONS] REGISTRY\n"
    "       strata logout --all\n"
    "\n"
    "Removes the credentials strata login stored for REGISTRY from the auth file.\n"
    "\n"
    "options:\n"
    "  -a, --all               remove every registry's credentials\n"
    "      --authfile FILE     the auth file to edit\n";

enum { OPT_AUTHFILE = 256 };

static int run_logout(struct cli *cli, const struct verb *self, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"authfile", required_argument, NULL, OPT_AUTHFILE},
        {0},
    };
    const char *authfile = NULL;
    bool all = false;
    int c;
    while ((c = cli_getopt(self, argc, argv, "a", opts)) != -1) {
        switch (c) {
        case 'a':
            all = true;
            break;
        case OPT_AUTHFILE:
            authfile = optarg;
            break;
        default:
            return cli_exit_status(c);
        }
    }
    if (all ? argc - optind != 0 : argc - optind != 1)
        return cli_usage_error(self, all ? "--all takes no registry" : "expected one registry");
    struct error err = {0};
    cleanup_free char *path = authfile ? xstrdup(authfile) : reg_auth_file_path(&err);
    if (!path)
        return cli_fail(self, &err);
    if (all) {
        static const char empty[] = "{\n \"auths\": {}\n}\n";
        if (path_exists_at(AT_FDCWD, path) &&
            atomic_write_at(AT_FDCWD, path, empty, sizeof empty - 1, 0600, &err) < 0)
            return cli_fail(self, &err);
        printf("Removed login credentials for all registries\n");
        return 0;
    }
    cleanup_free char *registry = reg_registry_normalize(argv[optind], &err);
    if (!registry)
        return cli_fail(self, &err);
    int r = reg_auth_remove(path, registry, &err);
    if (r < 0)
        return cli_fail(self, &err);
    if (r == 0) {
        fprintf(stderr, "strata logout: not logged in to `%s`\n", registry);
        return 1;
    }
    printf("Removed login credentials for %s\n", registry);
    return 0;
}

STRATA_VERB(logout, "logout", "forget a registry's stored credentials", usage, run_logout)
