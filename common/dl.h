/* Libraries only some verbs need (libarchive, libcurl) are opened with
 * dlopen on first use instead of being linked: linked, they and what they
 * pull in (libxml2, ICU, GnuTLS, Kerberos, LDAP, ...) are loaded and
 * relocated by every `strata` start, which was most of the time of a short
 * `strata run` or `strata exec`.  Each library has one typed table of the
 * functions strata calls (format/libarchive.h, registry/libcurl.h), filled
 * once by dl_table_load. */
#ifndef STRATA_COMMON_DL_H
#define STRATA_COMMON_DL_H

#include <stddef.h>

struct dl_sym {
    const char *name;
    size_t offset; /* of the function pointer in the table */
};

/* Opens soname and fills table (one pointer per sym).  A library that
 * cannot be opened, or lacks a symbol, is a broken installation, as a
 * missing DT_NEEDED library would be: the message names it and the process
 * exits with 127, the status the dynamic loader uses. */
void dl_table_load(const char *soname, const struct dl_sym *syms, size_t n, void *table);

#endif
