/* Small process helpers: pidfds, start times (to tell a live process from
 * a recycled pid), signal names, wait statuses in shell terms. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "run/internal.h"

int run_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int run_pidfd_send(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

unsigned long long run_proc_starttime(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* the command name may hold spaces and parens: start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p += 2; /* field 3 */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

static const struct {
    const char *name;
    int sig;
} sigs[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},     {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},   {"ABRT", SIGABRT},   {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},   {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},   {"TERM", SIGTERM},   {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"STOP", SIGSTOP},   {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU},   {"URG", SIGURG},     {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},       {"PWR", SIGPWR},     {"SYS", SIGSYS},
};

int run_signal_parse(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*end)
        return v > 0 && v < NSIG ? (int)v : -1;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        if (!strcasecmp(s, sigs[i].name))
            return sigs[i].sig;
    return -1;
}

const char *run_signal_name(int sig)
{
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        if (sigs[i].sig == sig)
            return sigs[i].name;
    return "?";
}

int run_wait_status_to_exit(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return 255;
}

unsigned long long run_signals_ignored(void)
{
    unsigned long long ign = ~0ULL;
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ign;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    const char *l = strstr(buf, "\nSigIgn:");
    if (!l || sscanf(l + 8, "%llx", &ign) != 1)
        return ~0ULL;
    return ign;
}

/* Through the system call: the C library's sigaction refuses its own two
 * real-time signals (32 and 33), which `make`, for one, passes on
 * ignored. */
void run_signals_default(unsigned long long which)
{
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        unsigned long long mask;
    } dfl = {.handler = SIG_DFL};
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && (which & (1ULL << (sig - 1))))
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}
