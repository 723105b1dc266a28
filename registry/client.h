/* A client for one OCI distribution registry (libcurl).  It finds the
 * scheme (https, verified, by default; plain http only with tls_verify
 * off), answers the WWW-Authenticate challenge (basic, or bearer tokens
 * fetched from the realm and cached per scope) and retries 5xx answers and
 * dropped connections with backoff.  One client serves several threads:
 * each thread talks through its own struct reg_conn (one curl handle, so a
 * kept-alive connection is reused request after request). */
#ifndef STRATA_REGISTRY_CLIENT_H
#define STRATA_REGISTRY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Progress events for one blob (index = position in the transfer). */
enum reg_blob_state {
    REG_BLOB_START,    /* total known, nothing moved yet */
    REG_BLOB_PROGRESS, /* done bytes moved so far */
    REG_BLOB_EXISTS,   /* already there (local store or remote repository) */
    REG_BLOB_MOUNTED,  /* mounted from another repository, no bytes moved */
    REG_BLOB_DONE,     /* transferred and verified */
    REG_BLOB_RETRY,    /* connection dropped or 5xx; resuming from done */
    REG_BLOB_FAILED,
};
typedef void (*reg_progress_fn)(void *ud, size_t index, const char *digest,
                                enum reg_blob_state state, int64_t done, int64_t total);

struct reg_opts {
    bool tls_verify;        /* default true; false also allows plain http */
    const char *cert_dir;   /* certs.d layout: *.crt CAs, *.cert + *.key client */
    const char *username;   /* explicit credentials; else auth.json */
    const char *password;
    const char *auth_file;  /* NULL: reg_auth_file_path() */
    int parallel;           /* concurrent blob transfers (0: 3) */
    int64_t chunk_size;     /* push: PATCH chunks of this size; 0: one PUT */
    int retries;            /* attempts after the first (0: 4; <0: none) */
    reg_progress_fn progress;
    void *progress_ud;
};
/* Sets the defaults (tls_verify on). */
void reg_opts_init(struct reg_opts *o);

struct reg_client;
struct reg_conn;

/* Connects to registry (a normalised host[:port]) and pings /v2/ to learn
 * the scheme and the auth challenge. */
int reg_client_new(const char *registry, const struct reg_opts *o, struct reg_client **out,
                   struct error *err);
void reg_client_free(struct reg_client *c);
const struct reg_opts *reg_client_opts(const struct reg_client *c);
const char *reg_client_registry(const struct reg_client *c);
/* "https://host:port" or "http://host:port". */
const char *reg_client_base_url(const struct reg_client *c);

/* Checks that the client's credentials are accepted (login): a basic
 * realm must answer /v2/ with 200, a bearer realm must issue a token. */
int reg_client_check_login(struct reg_client *c, struct error *err);

/* Tags of a repository (follows the Link header's pagination); a
 * NULL-terminated malloc'd vector. */
int reg_tags_list(struct reg_client *c, const char *repository, char ***tags,
                  struct error *err);

#endif
