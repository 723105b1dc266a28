/* The attach socket of a detached container with a tty (`run -d -t`):
 * served by the monitor's relay, used by `strata attach`. */
#ifndef STRATA_RUN_ATTACH_H
#define STRATA_RUN_ATTACH_H

#include <poll.h>
#include <stdbool.h>

#include "common/error.h"

struct run_attach;

/* Listens on containers/<id>/attach (0600); `input`: clients may type
 * into the pty (the container was started with -i). */
int run_attach_listen(int ctr_dirfd, bool input, struct run_attach **out, struct error *err);
/* Closes every client (they see EOF) and removes the socket. */
void run_attach_free(struct run_attach *a);

/* For the relay: the fds to poll (the listener first), what to do when
 * they are ready, and the pty's output for every client. */
int run_attach_pollfds(struct run_attach *a, struct pollfd *p, int max);
void run_attach_handle(struct run_attach *a, const struct pollfd *p, int n, int master);
void run_attach_broadcast(struct run_attach *a, const void *buf, size_t n);

/* `strata attach`: relays in to the container and its output to out until
 * the container ends (returns 0) or ctrl-p ctrl-q is typed (0, *detached).
 * SIGWINCH read from sigfd (or -1) sends the new window size. */
int run_attach_client(int ctr_dirfd, int in, int out, int sigfd, bool *detached,
                      struct error *err);

#endif
