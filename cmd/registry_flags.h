/* Flags push, pull and login share, with podman's names: --tls-verify,
 * --cert-dir, --authfile, --creds, --parallel, --retry.  A verb lists the
 * groups it takes in its option table and hands every option character to
 * registry_flag_apply() before its own switch. */
#ifndef STRATA_CMD_REGISTRY_FLAGS_H
#define STRATA_CMD_REGISTRY_FLAGS_H

#include "cmd/cli.h"
#include "registry/client.h"

enum {
    REG_FLAG_TLS = 1000,
    REG_FLAG_CERT_DIR,
    REG_FLAG_AUTHFILE,
    REG_FLAG_CREDS,
    REG_FLAG_PARALLEL,
    REG_FLAG_RETRY,
};

/* --tls-verify, --cert-dir, --authfile: every verb that talks to a registry */
#define REG_FLAGS_CONNECT                                                      \
    {"tls-verify", optional_argument, NULL, REG_FLAG_TLS},                     \
        {"cert-dir", required_argument, NULL, REG_FLAG_CERT_DIR},              \
        {"authfile", required_argument, NULL, REG_FLAG_AUTHFILE}
/* --creds, --parallel, --retry: the verbs that move images */
#define REG_FLAGS_TRANSFER                                                     \
    {"creds", required_argument, NULL, REG_FLAG_CREDS},                        \
        {"parallel", required_argument, NULL, REG_FLAG_PARALLEL},              \
        {"retry", required_argument, NULL, REG_FLAG_RETRY}

/* Applies option c (its value in arg) to o.  Returns 1 when c was a shared
 * flag, 0 when it is the verb's own, or CLI_EXIT_USAGE after naming a bad
 * value.  *user owns the user name --creds splits off (free it); user may
 * be NULL for a verb that does not list REG_FLAGS_TRANSFER. */
int registry_flag_apply(const struct verb *self, int c, const char *arg, struct reg_opts *o,
                        char **user);

#endif
