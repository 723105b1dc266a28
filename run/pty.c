/* -t: the pty is allocated inside the container's own devpts (so `tty`
 * and /dev/pts/N make sense there) and its master handed to the caller,
 * who relays it to its own terminal in raw mode and keeps the window size
 * in step (SIGWINCH). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "run/internal.h"

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

static int copy_once(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0)
        return 0;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
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
        off += w;
    }
    return 1;
}

int run_relay_loop(struct run_relay *r, struct error *err)
{
    int in_fd = r->in_fd;
    bool master_open = r->master >= 0;
    for (;;) {
        struct pollfd p[4];
        int n = 0;
        p[n++] = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = r->sigfd, .events = POLLIN};
        int im = -1, ii = -1;
        if (master_open) {
            im = n;
            p[n++] = (struct pollfd){.fd = r->master, .events = POLLIN};
        }
        if (in_fd >= 0 && master_open) {
            ii = n;
            p[n++] = (struct pollfd){.fd = in_fd, .events = POLLIN};
        }
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return error_errno(err, "poll");
        }
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
            if (copy_once(r->master, r->out_fd) <= 0)
                master_open = false;
        }
        if (ii >= 0 && (p[ii].revents & (POLLIN | POLLHUP | POLLERR))) {
            int c = copy_once(in_fd, r->master);
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
        if (p[0].revents & POLLIN)
            break;
    }
    /* the process is gone: whatever it wrote last is still in the pty */
    if (master_open) {
        int fl = fcntl(r->master, F_GETFL);
        fcntl(r->master, F_SETFL, fl | O_NONBLOCK);
        for (int i = 0; i < 1000; i++) {
            struct pollfd p = {.fd = r->master, .events = POLLIN};
            if (poll(&p, 1, 50) <= 0 || copy_once(r->master, r->out_fd) <= 0)
                break;
        }
    }
    return 0;
}
