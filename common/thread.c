#include "common/thread.h"

#include <signal.h>

int thread_create_nosignals(pthread_t *tid, void *(*fn)(void *), void *arg)
{
    /* a new thread inherits the creator's mask: block all around the create */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(tid, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}
