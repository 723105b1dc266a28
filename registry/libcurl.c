#define REG_LIBCURL_NO_MACROS
#include "registry/libcurl.h"

#include <pthread.h>
#include <stddef.h>

#include "common/dl.h"

#ifndef REG_LIBCURL_SONAME
#define REG_LIBCURL_SONAME "libcurl.so.4"
#endif

static struct reg_libcurl table;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
#define REG_LIBCURL_SYM(name) {#name, offsetof(struct reg_libcurl, name)},
    static const struct dl_sym syms[] = {REG_LIBCURL_FUNCS(REG_LIBCURL_SYM)};
#undef REG_LIBCURL_SYM
    dl_table_load(REG_LIBCURL_SONAME, syms, sizeof syms / sizeof syms[0], &table);
}

const struct reg_libcurl *reg_libcurl(void)
{
    pthread_once(&once, load);
    return &table;
}
