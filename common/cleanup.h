/* Scope-bound cleanup (systemd's _cleanup_, crun's cleanup_*): declare with
 * the attribute and the resource is released on every return path.  When
 * ownership moves, TAKE_PTR / TAKE_FD clear the variable so it is not freed. */
#ifndef STRATA_COMMON_CLEANUP_H
#define STRATA_COMMON_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
    free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void cleanup_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static inline void cleanup_closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

/* A NULL-terminated vector of malloc'd strings. */
static inline void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static inline void cleanup_strvp(char ***v)
{
    strv_free(*v);
}

#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(cleanup_fclosep)))
#define cleanup_dir __attribute__((cleanup(cleanup_closedirp)))
#define cleanup_strv __attribute__((cleanup(cleanup_strvp)))

#define TAKE_PTR(p)                                                            \
    ({                                                                         \
        __typeof__(p) take_ptr_tmp_ = (p);                                     \
        (p) = NULL;                                                            \
        take_ptr_tmp_;                                                         \
    })

#define TAKE_FD(fd)                                                            \
    ({                                                                         \
        int take_fd_tmp_ = (fd);                                               \
        (fd) = -1;                                                             \
        take_fd_tmp_;                                                          \
    })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
