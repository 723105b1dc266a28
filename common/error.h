/* Errors carried up the stack: a function that can fail returns <0 and fills
 * a struct error; only main() prints.  Modelled on crun's libcrun_error_t but
 * kept on the caller's stack so no allocation is needed to report OOM-free. */
#ifndef STRATA_COMMON_ERROR_H
#define STRATA_COMMON_ERROR_H

#include <stdarg.h>

struct error {
    int code;        /* errno value, or 0 when the failure is not a syscall's */
    char msg[1024];  /* lowercase, no trailing period, subject quoted */
};

/* Each setter returns -1 so callers can write `return error_set(err, ...);`. */
int error_set(struct error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like error_set with code = errno, appending ": strerror(errno)". */
int error_errno(struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same as error_errno but with an explicit errno (for FUSE-style positive codes). */
int error_code(struct error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends context: "doing X: <old message>".  Returns -1. */
int error_prefix(struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void error_clear(struct error *err);

#endif
