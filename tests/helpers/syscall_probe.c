/* syscall_probe: makes a few system calls a container's seccomp filter
 * decides on and prints one "name=RESULT" line each (OK, or the errno's
 * name).  The calls are chosen so that, without a filter, they succeed or
 * fail with something other than EPERM even without capabilities (a bad
 * flag or argument is checked first), so an EPERM is the filter's. */
#include <errno.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r)
{
    if (r >= 0)
        printf("%s=OK\n", name);
    else if (errno == EPERM)
        printf("%s=EPERM\n", name);
    else if (errno == ENOSYS)
        printf("%s=ENOSYS\n", name);
    else
        printf("%s=E%d\n", name, errno);
}

/* a raw clone with only the given flags; the child exits at once */
static long try_clone(unsigned long flags)
{
    long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    report("getpid", syscall(SYS_getpid));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1));
    report("add_key", syscall(SYS_add_key, "user", "strata-probe", "x", 1,
                              KEY_SPEC_PROCESS_KEYRING));
    /* a bad flag is refused (EINVAL) before any capability check */
    report("umount2", umount2("/", 0x7ffffff0));
    /* before unshare: once in an unmapped user namespace, a nested one is
     * refused for another reason */
    report("clone_newuser", try_clone(CLONE_NEWUSER));
    report("unshare_user", unshare(CLONE_NEWUSER));
    report("clone_plain", try_clone(0));
    report("clone3", syscall(SYS_clone3, NULL, 0));
    /* a NULL attribute is EFAULT before anything else */
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    report("personality_query", personality(0xffffffff));
    long cur = personality(0xffffffff);
    report("personality_linux32", personality(PER_LINUX32));
    personality((unsigned long)cur);
    report("personality_norandom", personality(ADDR_NO_RANDOMIZE));
    personality((unsigned long)cur);
    return 0;
}
