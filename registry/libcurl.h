/* libcurl, opened on first use (see common/dl.h for why): include this
 * instead of <curl/curl.h>.  Calls keep libcurl's names; each name below is
 * a macro for the pointer in the table, typed from libcurl's prototypes.
 * curl's type-checking wrappers are macros over these same names, so they
 * are turned off (and curl_easy_setopt's argument-count macro replaced). */
#ifndef STRATA_REGISTRY_LIBCURL_H
#define STRATA_REGISTRY_LIBCURL_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#define REG_LIBCURL_FUNCS(X) \
    X(curl_easy_cleanup) \
    X(curl_easy_escape) \
    X(curl_easy_init) \
    X(curl_easy_perform) \
    X(curl_easy_reset) \
    X(curl_easy_setopt) \
    X(curl_easy_strerror) \
    X(curl_free) \
    X(curl_global_init) \
    X(curl_slist_append) \
    X(curl_slist_free_all)

struct reg_libcurl {
#define REG_LIBCURL_FIELD(name) __typeof__(name) *name;
    REG_LIBCURL_FUNCS(REG_LIBCURL_FIELD)
#undef REG_LIBCURL_FIELD
};

/* The table, loaded on the first call (thread-safe). */
const struct reg_libcurl *reg_libcurl(void);

#ifndef REG_LIBCURL_NO_MACROS
#undef curl_easy_setopt
#define curl_easy_cleanup (reg_libcurl()->curl_easy_cleanup)
#define curl_easy_escape (reg_libcurl()->curl_easy_escape)
#define curl_easy_init (reg_libcurl()->curl_easy_init)
#define curl_easy_perform (reg_libcurl()->curl_easy_perform)
#define curl_easy_reset (reg_libcurl()->curl_easy_reset)
#define curl_easy_setopt (reg_libcurl()->curl_easy_setopt)
#define curl_easy_strerror (reg_libcurl()->curl_easy_strerror)
#define curl_free (reg_libcurl()->curl_free)
#define curl_global_init (reg_libcurl()->curl_global_init)
#define curl_slist_append (reg_libcurl()->curl_slist_append)
#define curl_slist_free_all (reg_libcurl()->curl_slist_free_all)
#endif

#endif
