/* -t: the pty is allocated inside the container's own devpts (so `tty`
 * and /dev/pts/N make sense there) and its master handed to the caller,
 * who relays it to its own terminal in raw mode and keeps the window size
 * in step (SIGWINCH).  The relay also copies a foreground run's output
 * to the container's log (struct run_tee), as `-d` does through its fds. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <pthread.h>
#include <termios.h>
#include <unistd.h>

#include "run/attach.h"
#include "run/internal.h"
#include "run/procview.h"

_Static_assert(sizeof(struct termios) <= sizeof(((struct run_tty_saved *)0)->state),
               "termios fits");

int run_pty_open_in_container(int *master, int *slave, struct error *err)
{
    int m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return error_errno(err, "open /dev/pts/ptmx");
    int unlock = 0, n = -1;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &n) < 0) {
        error_errno(err, "unlock the pty");
        close(m);
        return -1;
    }
    /* TIOCGPTPEER opens the peer without a path lookup */
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        char path[64];
        snprintf(path, sizeof path, "/dev/pts/%d", n);
        s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (s < 0) {
        error_errno(err, "open the pty peer");
        close(m);
        return -1;
    }
    *master = m;
    *slave = s;
    return 0;
}

void run_tty_copy_winsize(int from, int to)
{
    struct winsize ws;
    if (ioctl(from, TIOCGWINSZ, &ws) == 0)
        ioctl(to, TIOCSWINSZ, &ws);
}

void run_tty_raw(int fd, struct run_tty_saved *s)
{
    struct termios t;
    s->saved = false;
    if (!isatty(fd) || tcgetattr(fd, &t) < 0)
        return;
    memcpy(s->state, &t, sizeof t);
    s->fd = fd;
    s->saved = true;
    cfmakeraw(&t);
    tcsetattr(fd, TCSANOW, &t);
}

void run_tty_restore(struct run_tty_saved *s)
{
    if (!s->saved)
        return;
    struct termios t;
    memcpy(&t, s->state, sizeof t);
    tcsetattr(s->fd, TCSANOW, &t);
    s->saved = false;
}

static int write_all_fd(int to, const char *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd p = {.fd = to, .events = POLLOUT};
                poll(&p, 1, 100);
                continue;
            }
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* One read from `from`, written to `to`, (best effort) to `log` and to
 * the attached clients.  1: copied (or nothing ready), 0: end of input,
 * -1: `to` failed. */
static int copy_once(int from, int to, int log, struct run_attach *att)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0)
        return 0;
    /* the log first: what the process wrote is kept even when the
     * caller has stopped reading */
    if (log >= 0)
        write_all_fd(log, buf, (size_t)n);
    run_attach_broadcast(att, buf, (size_t)n);
    return write_all_fd(to, buf, (size_t)n) < 0 ? -1 : 1;
}

int run_tee_open(struct run_tee *t, int log_fd, int out_fd, int err_fd, bool tty,
                 struct error *err)
{
    t->out_pipe[0] = t->out_pipe[1] = t->err_pipe[0] = t->err_pipe[1] = -1;
    t->out_fd = out_fd;
    t->err_fd = err_fd;
    t->log_fd = log_fd;
    if (tty)
        return 0;
    if (pipe2(t->out_pipe, O_CLOEXEC) < 0 || pipe2(t->err_pipe, O_CLOEXEC) < 0) {
        error_errno(err, "pipe for the container's output");
        run_tee_close(t);
        return -1;
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void run_tee_close_writers(struct run_tee *t)
{
    close_fd(&t->out_pipe[1]);
    close_fd(&t->err_pipe[1]);
}

void run_tee_close(struct run_tee *t)
{
    run_tee_close_writers(t);
    close_fd(&t->out_pipe[0]);
    close_fd(&t->err_pipe[0]);
}

/* Copies a pipe; at its end (or when the caller's side is gone) closes it. */
static void pump_pipe(int *fd, int to, int log)
{
    if (*fd >= 0 && copy_once(*fd, to, log, NULL) <= 0)
        close_fd(fd);
}

int run_relay_loop(struct run_relay *r, struct error *err)
{
    int in_fd = r->in_fd;
    bool master_open = r->master >= 0;
    int log = r->tee ? r->tee->log_fd : -1;
    int *outp = r->tee ? &r->tee->out_pipe[0] : NULL;
    int *errp = r->tee ? &r->tee->err_pipe[0] : NULL;
    /* a caller that stopped reading (a closed pipe) is an EPIPE here, not
     * the end of strata; a SIGPIPE raised meanwhile is taken below */
    sigset_t pipe_set, saved;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &saved);
    int ret = 0;
    for (;;) {
        struct pollfd p[7 + 9];
        int n = 0;
        p[n++] = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = r->sigfd, .events = POLLIN};
        int im = -1, ii = -1, io = -1, ie = -1;
        if (master_open) {
            im = n;
            p[n++] = (struct pollfd){.fd = r->master, .events = POLLIN};
        }
        if (in_fd >= 0 && master_open) {
            ii = n;
            p[n++] = (struct pollfd){.fd = in_fd, .events = POLLIN};
        }
        if (outp && *outp >= 0) {
            io = n;
            p[n++] = (struct pollfd){.fd = *outp, .events = POLLIN};
        }
        if (errp && *errp >= 0) {
            ie = n;
            p[n++] = (struct pollfd){.fd = *errp, .events = POLLIN};
        }
        int iv = -1;
        if (r->view) {
            iv = n;
            p[n++] = (struct pollfd){.fd = run_procview_fd(r->view), .events = POLLIN};
        }
        int ia = n;
        n += run_attach_pollfds(r->attach, p + n, 9);
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            ret = error_errno(err, "poll");
            break;
        }
        /* first: the container's readers of /proc wait on it */
        if (iv >= 0 && (p[iv].revents & POLLIN))
            run_procview_serve(r->view);
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(r->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if ((int)si.ssi_signo == SIGWINCH) {
                    if (r->master >= 0)
                        run_tty_copy_winsize(in_fd >= 0 ? in_fd : r->out_fd, r->master);
                    continue;
                }
                run_pidfd_send(r->pidfd, (int)si.ssi_signo);
            }
        }
        if (im >= 0 && (p[im].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (copy_once(r->master, r->out_fd, log, r->attach) <= 0)
                master_open = false;
        }
        run_attach_handle(r->attach, p + ia, n - ia, master_open ? r->master : -1);
        if (ii >= 0 && (p[ii].revents & (POLLIN | POLLHUP | POLLERR))) {
            int c = copy_once(in_fd, r->master, -1, NULL);
            if (c == 0) {
                /* end of input: an EOF character, as a terminal would send */
                const char eof = 4;
                if (write(r->master, &eof, 1) < 0) {
                }
                in_fd = -1;
            } else if (c < 0) {
                in_fd = -1;
            }
        }
        if (io >= 0 && (p[io].revents & (POLLIN | POLLHUP | POLLERR)))
            pump_pipe(outp, r->tee->out_fd, log);
        if (ie >= 0 && (p[ie].revents & (POLLIN | POLLHUP | POLLERR)))
            pump_pipe(errp, r->tee->err_fd, log);
        if (p[0].revents & POLLIN)
            break;
    }
    /* the process is gone: whatever it wrote last is still in the pty or
     * the pipes (a pipe a left-behind child still holds gives EAGAIN) */
    if (master_open) {
        int fl = fcntl(r->master, F_GETFL);
        fcntl(r->master, F_SETFL, fl | O_NONBLOCK);
        for (int i = 0; i < 1000; i++) {
            struct pollfd p = {.fd = r->master, .events = POLLIN};
            if (poll(&p, 1, 50) <= 0 || copy_once(r->master, r->out_fd, log, r->attach) <= 0)
                break;
        }
    }
    for (int k = 0; r->tee && k < 2; k++) {
        int *fd = k ? errp : outp;
        int to = k ? r->tee->err_fd : r->tee->out_fd;
        if (*fd < 0)
            continue;
        fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
        for (;;) {
            struct pollfd p = {.fd = *fd, .events = POLLIN};
            if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP)))
                break;
            if (copy_once(*fd, to, log, NULL) <= 0)
                break;
        }
    }
    struct timespec zero = {0};
    while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
        ;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return ret;
}
