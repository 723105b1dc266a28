/* Allocation that aborts on OOM, so running out of memory is never an error
 * path callers must handle (git's xmalloc, crun's xmalloc). */
#ifndef STRATA_COMMON_XALLOC_H
#define STRATA_COMMON_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xzalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
