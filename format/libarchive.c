#define FMT_LIBARCHIVE_NO_MACROS
#include "format/libarchive.h"

#include <pthread.h>
#include <stddef.h>

#include "common/dl.h"

#ifndef FMT_LIBARCHIVE_SONAME
#define FMT_LIBARCHIVE_SONAME "libarchive.so.13"
#endif

static struct fmt_libarchive table;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
#define FMT_LIBARCHIVE_SYM(name) {#name, offsetof(struct fmt_libarchive, name)},
    static const struct dl_sym syms[] = {FMT_LIBARCHIVE_FUNCS(FMT_LIBARCHIVE_SYM)};
#undef FMT_LIBARCHIVE_SYM
    dl_table_load(FMT_LIBARCHIVE_SONAME, syms, sizeof syms / sizeof syms[0], &table);
}

const struct fmt_libarchive *fmt_libarchive(void)
{
    pthread_once(&once, load);
    return &table;
}
