/* Minimal TAP producer for C unit tests (prove reads the output). */
#ifndef STRATA_TESTS_TAP_H
#define STRATA_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;

static inline void tap_plan(int n)
{
    printf("1..%d\n", n);
}

__attribute__((format(printf, 2, 3))) static inline int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_count++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (!cond)
        tap_failed++;
    return cond;
}

__attribute__((format(printf, 1, 2))) static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

__attribute__((format(printf, 1, 2))) static inline void tap_skip(const char *fmt, ...)
{
    va_list ap;
    tap_count++;
    printf("ok %d # skip ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

#define tap_is_int(got, want, name)                                                  \
    do {                                                                             \
        long long g_ = (long long)(got), w_ = (long long)(want);                     \
        if (!tap_ok(g_ == w_, "%s", name))                                           \
            tap_diag("  got %lld, want %lld", g_, w_);                               \
    } while (0)

#define tap_is_str(got, want, name)                                                  \
    do {                                                                             \
        const char *g_ = (got), *w_ = (want);                                        \
        if (!tap_ok(g_ && w_ && !strcmp(g_, w_), "%s", name))                        \
            tap_diag("  got '%s', want '%s'", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)

/* Ends the test: prints the plan when none was given up front. */
static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
