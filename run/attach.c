/* `run -d -t`: the monitor keeps the pty master and serves a unix socket,
 * containers/<id>/attach, that `strata attach` connects to.  Output from
 * the pty goes to the log and to every attached client as raw bytes;
 * clients send frames (type, 16-bit length, payload): 'd' is input for
 * the pty (taken only when the container was started with -i), 'w' is
 * a window size (rows, cols).  The detach keys (ctrl-p ctrl-q, as docker)
 * are the client's business: it just disconnects.
 *
 * The socket is bound through /proc/self/fd/N/attach so a long store path
 * never meets sun_path's 108-byte limit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "run/attach.h"
#include "run/internal.h"

#define MAX_CLIENTS 8
#define FRAME_MAX 4096

struct client {
    int fd;
    size_t have;
    unsigned char buf[3 + FRAME_MAX];
};

struct run_attach {
    int listen_fd;
    int dirfd;
    bool input;
    struct client clients[MAX_CLIENTS];
};

static int sock_addr(int dirfd, struct sockaddr_un *sa, struct error *err)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/attach", dirfd);
    if (n < 0 || (size_t)n >= sizeof sa->sun_path)
        return error_set(err, ENAMETOOLONG, "attach socket path");
    return 0;
}

int run_attach_listen(int ctr_dirfd, bool input, struct run_attach **out, struct error *err)
{
    struct run_attach *a = xcalloc(1, sizeof *a);
    a->input = input;
    a->listen_fd = -1;
    for (int i = 0; i < MAX_CLIENTS; i++)
        a->clients[i].fd = -1;
    a->dirfd = fcntl(ctr_dirfd, F_DUPFD_CLOEXEC, 3);
    if (a->dirfd < 0) {
        free(a);
        return error_errno(err, "attach: dup the container dir");
    }
    struct sockaddr_un sa;
    if (sock_addr(a->dirfd, &sa, err) < 0)
        goto fail;
    a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (a->listen_fd < 0) {
        error_errno(err, "attach: socket");
        goto fail;
    }
    unlinkat(a->dirfd, "attach", 0);
    /* only the owner may attach: the socket is made 0600 */
    mode_t old = umask(0077);
    int r = bind(a->listen_fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0 || listen(a->listen_fd, MAX_CLIENTS) < 0) {
        error_errno(err, "attach: listen on the container's attach socket");
        goto fail;
    }
    *out = a;
    return 0;
fail:
    run_attach_free(a);
    return -1;
}

void run_attach_free(struct run_attach *a)
{
    if (!a)
        return;
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (a->clients[i].fd >= 0)
            close(a->clients[i].fd);
    if (a->listen_fd >= 0) {
        close(a->listen_fd);
        unlinkat(a->dirfd, "attach", 0);
    }
    if (a->dirfd >= 0)
        close(a->dirfd);
    free(a);
}

int run_attach_pollfds(struct run_attach *a, struct pollfd *p, int max)
{
    int n = 0;
    if (!a || max < 1)
        return 0;
    p[n++] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
    for (int i = 0; i < MAX_CLIENTS && n < max; i++)
        if (a->clients[i].fd >= 0)
            p[n++] = (struct pollfd){.fd = a->clients[i].fd, .events = POLLIN};
    return n;
}

static void drop(struct client *c)
{
    close(c->fd);
    c->fd = -1;
    c->have = 0;
}

static void write_all_or_drop(struct client *c, const void *buf, size_t n)
{
    const char *b = buf;
    for (size_t off = 0; off < n && c->fd >= 0;) {
        ssize_t w = send(c->fd, b + off, n - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                /* a client that stops reading for long is let go */
                struct pollfd p = {.fd = c->fd, .events = POLLOUT};
                if (poll(&p, 1, 1000) <= 0)
                    drop(c);
                continue;
            }
            drop(c);
            return;
        }
        off += (size_t)w;
    }
}

void run_attach_broadcast(struct run_attach *a, const void *buf, size_t n)
{
    for (int i = 0; a && i < MAX_CLIENTS; i++)
        if (a->clients[i].fd >= 0)
            write_all_or_drop(&a->clients[i], buf, n);
}

/* Complete frames in c->buf: input to the pty, window sizes. */
static void frames(struct run_attach *a, struct client *c, int master)
{
    size_t off = 0;
    while (c->have - off >= 3) {
        unsigned char *f = c->buf + off;
        size_t len = (size_t)f[1] | (size_t)f[2] << 8;
        if (len > FRAME_MAX) {
            drop(c);
            return;
        }
        if (c->have - off < 3 + len)
            break;
        if (f[0] == 'd' && a->input && master >= 0) {
            for (size_t w = 0; w < len;) {
                ssize_t r = write(master, f + 3 + w, len - w);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    break;
                w += (size_t)r;
            }
        } else if (f[0] == 'w' && len == 4 && master >= 0) {
            struct winsize ws = {.ws_row = (unsigned short)(f[3] | f[4] << 8),
                                 .ws_col = (unsigned short)(f[5] | f[6] << 8)};
            ioctl(master, TIOCSWINSZ, &ws);
        }
        off += 3 + len;
    }
    memmove(c->buf, c->buf + off, c->have - off);
    c->have -= off;
}

void run_attach_handle(struct run_attach *a, const struct pollfd *p, int n, int master)
{
    if (!a || n < 1)
        return;
    if (p[0].revents & POLLIN) {
        int fd;
        while ((fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
            int i = 0;
            while (i < MAX_CLIENTS && a->clients[i].fd >= 0)
                i++;
            if (i == MAX_CLIENTS) {
                close(fd);
                continue;
            }
            a->clients[i].fd = fd;
            a->clients[i].have = 0;
        }
    }
    for (int k = 1; k < n; k++) {
        if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        struct client *c = NULL;
        for (int i = 0; i < MAX_CLIENTS && !c; i++)
            if (a->clients[i].fd == p[k].fd)
                c = &a->clients[i];
        if (!c)
            continue;
        ssize_t r = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            drop(c);
            continue;
        }
        c->have += (size_t)r;
        frames(a, c, master);
    }
}

/* ---- the client: strata attach ---- */

static int send_frame(int sock, char type, const void *data, size_t len)
{
    unsigned char hdr[3] = {(unsigned char)type, (unsigned char)(len & 0xff),
                            (unsigned char)(len >> 8)};
    struct iovec iov[2] = {{hdr, 3}, {(void *)data, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    size_t want = 3 + len;
    ssize_t w;
    do
        w = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    /* a short send on a blocking stream socket only happens on error */
    return w == (ssize_t)want ? 0 : -1;
}

static void send_winsize(int sock, int tty)
{
    struct winsize ws;
    if (tty < 0 || ioctl(tty, TIOCGWINSZ, &ws) < 0)
        return;
    unsigned char b[4] = {(unsigned char)(ws.ws_row & 0xff), (unsigned char)(ws.ws_row >> 8),
                          (unsigned char)(ws.ws_col & 0xff), (unsigned char)(ws.ws_col >> 8)};
    send_frame(sock, 'w', b, sizeof b);
}

static int write_out(int fd, const char *b, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, b + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static int client_loop(int ctr_dirfd, int in, int out, int sigfd, bool *detached,
                       struct error *err);

int run_attach_client(int ctr_dirfd, int in, int out, int sigfd, bool *detached,
                      struct error *err)
{
    /* raw, as `run -it`: keys (ctrl-c too) go to the container's pty */
    struct run_tty_saved saved = {.fd = -1};
    run_tty_raw(in, &saved);
    int r = client_loop(ctr_dirfd, in, out, sigfd, detached, err);
    run_tty_restore(&saved);
    return r;
}

static int client_loop(int ctr_dirfd, int in, int out, int sigfd, bool *detached,
                       struct error *err)
{
    *detached = false;
    struct sockaddr_un sa;
    if (sock_addr(ctr_dirfd, &sa, err) < 0)
        return -1;
    cleanup_close int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return error_errno(err, "attach: socket");
    if (connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0)
        return error_errno(err, "attach: connect to the container (was it started with -d -t?)");
    int tty = isatty(in) ? in : isatty(out) ? out : -1;
    send_winsize(sock, tty);

    bool pending_p = false; /* a ctrl-p waiting to see whether ctrl-q follows */
    int in_fd = in;
    for (;;) {
        struct pollfd p[3];
        int n = 0;
        p[n++] = (struct pollfd){.fd = sock, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        if (in_fd >= 0)
            p[n++] = (struct pollfd){.fd = in_fd, .events = POLLIN};
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return error_errno(err, "attach: poll");
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[16384];
            ssize_t r = read(sock, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return 0; /* the container ended (or its monitor did) */
            if (write_out(out, buf, (size_t)r) < 0)
                return error_errno(err, "attach: write the output");
        }
        if (sigfd >= 0 && (p[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
                if ((int)si.ssi_signo == SIGWINCH)
                    send_winsize(sock, tty);
        }
        if (n == 3 && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[4096 + 1];
            ssize_t r = read(in_fd, buf + 1, sizeof buf - 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                /* end of input: keep showing output until the end */
                if (pending_p)
                    send_frame(sock, 'd', "\x10", 1);
                pending_p = false;
                in_fd = -1;
                continue;
            }
            /* ctrl-p ctrl-q detaches; a lone ctrl-p is passed on */
            char *s = buf + 1;
            size_t len = (size_t)r;
            if (pending_p) {
                if (s[0] == 0x11) {
                    *detached = true;
                    return 0;
                }
                *--s = 0x10;
                len++;
                pending_p = false;
            }
            for (size_t i = 0; i + 1 < len; i++) {
                if (s[i] == 0x10 && s[i + 1] == 0x11) {
                    if (i)
                        send_frame(sock, 'd', s, i);
                    *detached = true;
                    return 0;
                }
            }
            if (s[len - 1] == 0x10) {
                pending_p = true;
                len--;
            }
            if (len && send_frame(sock, 'd', s, len) < 0)
                return 0; /* the container went away */
        }
    }
}
