#include "cmd/registry_flags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "registry/progress.h"

int registry_flag_apply(const struct verb *self, int c, const char *arg, struct reg_opts *o,
                        char **user)
{
    switch (c) {
    case REG_FLAG_TLS:
        if (reg_parse_bool(arg, &o->tls_verify) < 0) {
            cli_usage_error(self, "--tls-verify takes true or false, not `%s`", arg);
            return CLI_EXIT_USAGE;
        }
        return 1;
    case REG_FLAG_CERT_DIR:
        o->cert_dir = arg;
        return 1;
    case REG_FLAG_AUTHFILE:
        o->auth_file = arg;
        return 1;
    case REG_FLAG_CREDS: {
        if (!user)
            return 0;
        const char *colon = strchr(arg, ':');
        free(*user);
        *user = colon ? xstrndup(arg, (size_t)(colon - arg)) : xstrdup(arg);
        o->username = *user;
        o->password = colon ? colon + 1 : "";
        return 1;
    }
    case REG_FLAG_PARALLEL:
        o->parallel = atoi(arg);
        if (o->parallel < 1) {
            cli_usage_error(self, "--parallel needs a positive number");
            return CLI_EXIT_USAGE;
        }
        return 1;
    case REG_FLAG_RETRY:
        o->retries = atoi(arg);
        if (o->retries == 0) /* "no retries": the client reads 0 as its default */
            o->retries = -1;
        return 1;
    default:
        return 0;
    }
}
