/* Threads that never take the process's signals: signals stay with the
 * thread that waits for them (a signalfd, sigwait or the main loop). */
#ifndef STRATA_COMMON_THREAD_H
#define STRATA_COMMON_THREAD_H

#include <pthread.h>

/* pthread_create with every signal blocked in the new thread; returns its
 * error number (0 on success), as pthread_create does. */
int thread_create_nosignals(pthread_t *tid, void *(*fn)(void *), void *arg);

#endif
