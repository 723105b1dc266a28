/* pty_resize ROWS COLS TRIGGER NEWROWS NEWCOLS CMD [ARG...]
 *
 * Runs CMD as the session leader of a fresh pty sized ROWS x COLS and
 * copies what it writes to stdout.  The first time TRIGGER shows up in
 * that output, the pty is resized to NEWROWS x NEWCOLS, so the kernel
 * sends SIGWINCH to CMD (a terminal window being resized).  Exits with
 * CMD's status (128+N when killed by N); 124 after 30 s. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void on_alarm(int sig)
{
    (void)sig;
    _exit(124);
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: pty_resize ROWS COLS TRIGGER NEWROWS NEWCOLS CMD [ARG...]\n");
        return 2;
    }
    struct winsize ws = {.ws_row = (unsigned short)atoi(argv[1]),
                         .ws_col = (unsigned short)atoi(argv[2])};
    const char *trigger = argv[3];
    struct winsize nws = {.ws_row = (unsigned short)atoi(argv[4]),
                          .ws_col = (unsigned short)atoi(argv[5])};

    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
        perror("pty_resize: posix_openpt");
        return 2;
    }
    const char *name = ptsname(m);
    if (!name || ioctl(m, TIOCSWINSZ, &ws) < 0) {
        perror("pty_resize: ptsname");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("pty_resize: fork");
        return 2;
    }
    if (pid == 0) {
        setsid();
        int s = open(name, O_RDWR | O_CLOEXEC);
        if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0) {
            perror("pty_resize: open the pty");
            _exit(2);
        }
        for (int i = 0; i < 3; i++)
            dup2(s, i);
        execvp(argv[6], argv + 6);
        perror("pty_resize: exec");
        _exit(127);
    }
    signal(SIGALRM, on_alarm);
    alarm(30);

    size_t tl = strlen(trigger);
    char seen[4096] = "";
    size_t sl = 0;
    int fired = 0;
    char buf[4096];
    for (;;) {
        ssize_t n = read(m, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EIO: every holder of the pty's slave side is gone */
        if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
            return 2;
        if (fired)
            continue;
        /* keep the tail, so a trigger split between reads still matches */
        for (ssize_t i = 0; i < n; i++) {
            if (sl == sizeof seen - 1) {
                memmove(seen, seen + sl - tl, tl);
                sl = tl;
            }
            seen[sl++] = buf[i];
        }
        seen[sl] = '\0';
        if (strstr(seen, trigger)) {
            fired = 1;
            if (ioctl(m, TIOCSWINSZ, &nws) < 0) {
                perror("pty_resize: TIOCSWINSZ");
                return 2;
            }
        }
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 2;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
