/* Test helper for the unionfs shell tests (compiled by them into $T): the
 * calls a shell cannot make.  Each subcommand prints "ok" or the errno
 * name and exits 0 on success. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(int r)
{
    if (r == 0) {
        puts("ok");
        return 0;
    }
    const char *name = strerrorname_np(errno);
    puts(name ? name : "error");
    return 1;
}

static int cmd_rename2(char **av)
{
    unsigned flags = 0;
    if (!strcmp(av[0], "noreplace"))
        flags = RENAME_NOREPLACE;
    else if (!strcmp(av[0], "exchange"))
        flags = RENAME_EXCHANGE;
    return report(renameat2(AT_FDCWD, av[1], AT_FDCWD, av[2], flags));
}

static int cmd_tmpfile(char **av)
{
    int fd = open(av[0], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (write(fd, "x", 1) != 1)
            return report(-1);
        close(fd);
    }
    return report(fd < 0 ? -1 : 0);
}

/* Shared writable mapping: write through it, msync, read back by read(2). */
static int cmd_mmap(char **av)
{
    int fd = open(av[0], O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return report(-1);
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return report(-1);
    memcpy(p, "MMAP", 4);
    if (msync(p, 4096, MS_SYNC) < 0)
        return report(-1);
    munmap(p, 4096);
    close(fd);
    char buf[5] = {0};
    fd = open(av[0], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, 4) != 4)
        return report(-1);
    close(fd);
    if (strcmp(buf, "MMAP")) {
        errno = EIO;
        return report(-1);
    }
    return report(0);
}

static int cmd_locks(char **av)
{
    int fd = open(av[0], O_RDWR | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
        return report(-1);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    if (fcntl(fd, F_SETLK, &fl) < 0)
        return report(-1);
    /* a second open file description must see the flock */
    int fd2 = open(av[0], O_RDWR | O_CLOEXEC);
    if (flock(fd2, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
        errno = EIO;
        return report(-1);
    }
    close(fd2);
    close(fd);
    return report(0);
}

/* readdir of DIR while a child creates and unlinks other names: every
 * stable entry s* is seen exactly once per pass, no name twice, and
 * seekdir to a telldir cookie resumes at the same entry. */
static int cmd_churn(char **av)
{
    const char *dir = av[0];
    int stable = atoi(av[1]);
    pid_t pid = fork();
    if (pid == 0) {
        char path[4096];
        for (unsigned i = 0;; i++) {
            snprintf(path, sizeof path, "%s/c%u", dir, i % 200);
            if (i % 400 < 200) {
                int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
                if (fd >= 0)
                    close(fd);
            } else {
                unlink(path);
            }
        }
    }
    int bad = 0;
    for (int pass = 0; pass < 20 && !bad; pass++) {
        DIR *d = opendir(dir);
        if (!d) {
            bad = 1;
            break;
        }
        char **names = calloc(100000, sizeof *names);
        long *pos = calloc(100000, sizeof *pos);
        int n = 0, seen_stable = 0;
        struct dirent *de;
        for (;;) {
            long here = telldir(d);
            if (!(de = readdir(d)))
                break;
            for (int k = 0; k < n; k++)
                if (!strcmp(names[k], de->d_name)) {
                    fprintf(stderr, "duplicate %s in pass %d\n", de->d_name, pass);
                    bad = 1;
                }
            if (de->d_name[0] == 's')
                seen_stable++;
            pos[n] = here;
            names[n++] = strdup(de->d_name);
            if (n >= 99999)
                break;
        }
        if (seen_stable != stable) {
            fprintf(stderr, "pass %d saw %d of %d stable entries\n", pass, seen_stable, stable);
            bad = 1;
        }
        if (n > 2) {
            int k = n / 2;
            seekdir(d, pos[k]);
            de = readdir(d);
            if (!de || strcmp(de->d_name, names[k])) {
                fprintf(stderr, "seekdir: got %s, want %s\n", de ? de->d_name : "(end)", names[k]);
                bad = 1;
            }
        }
        closedir(d);
        for (int k = 0; k < n; k++)
            free(names[k]);
        free(names);
        free(pos);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    errno = EIO;
    return report(bad ? -1 : 0);
}

/* Reads all of d from where it is; names[] gets the names, pos[] the
 * telldir before each.  Returns the count. */
static int read_rest(DIR *d, char **names, long *pos, int max)
{
    int n = 0;
    struct dirent *de;
    for (;;) {
        long here = telldir(d);
        if (!(de = readdir(d)) || n == max)
            break;
        if (pos)
            pos[n] = here;
        names[n++] = strdup(de->d_name);
    }
    return n;
}

static int has_name(char **names, int n, const char *name)
{
    int c = 0;
    for (int k = 0; k < n; k++)
        c += !strcmp(names[k], name);
    return c;
}

static void touch_at(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
}

static void unlink_at(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* Listings of DIR (which holds at least 4 entries) as names come and go
 * through the mount: rewinddir sees the change, a telldir cookie taken
 * before the change still seeks to its entry, and a stream opened before
 * the change reads on without repeating or losing a name. */
static int cmd_relist(char **av)
{
    const char *dir = av[0];
    enum { MAX = 10000 };
    char **a = calloc(MAX, sizeof *a), **b = calloc(MAX, sizeof *b);
    long *pos = calloc(MAX, sizeof *pos);
    int bad = 0;
    DIR *d = opendir(dir);
    if (!d)
        return report(-1);
    int na = read_rest(d, a, pos, MAX);
    touch_at(dir, "r_new");
    rewinddir(d);
    int nb = read_rest(d, b, NULL, MAX);
    if (has_name(b, nb, "r_new") != 1 || nb != na + 1) {
        fprintf(stderr, "rewinddir: %d names (had %d), r_new %d times\n", nb, na,
                has_name(b, nb, "r_new"));
        bad = 1;
    }
    unlink_at(dir, "r_new");
    rewinddir(d);
    nb = read_rest(d, b, NULL, MAX);
    if (has_name(b, nb, "r_new") || nb != na) {
        fprintf(stderr, "rewinddir after unlink: %d names (had %d)\n", nb, na);
        bad = 1;
    }
    /* a cookie from before a change still finds its entry */
    touch_at(dir, "r_new2");
    const char *gone = a[0][0] == '.' ? a[na - 1] : a[0];
    unlink_at(dir, gone);
    int k = na / 2;
    if (!strcmp(a[k], ".") || !strcmp(a[k], ".."))
        k = na - 2;
    seekdir(d, pos[k]);
    struct dirent *de = readdir(d);
    if (!de || strcmp(de->d_name, a[k])) {
        fprintf(stderr, "seekdir after a change: got %s, want %s\n", de ? de->d_name : "(end)",
                a[k]);
        bad = 1;
    }
    closedir(d);
    /* a stream that started before a change reads on: no name twice */
    DIR *d1 = opendir(dir);
    errno = 0;
    struct dirent *first = d1 ? readdir(d1) : NULL;
    char *first_name = first ? strdup(first->d_name) : NULL;
    touch_at(dir, "r_new3");
    DIR *d2 = opendir(dir);
    nb = d2 ? read_rest(d2, b, NULL, MAX) : 0;
    if (has_name(b, nb, "r_new3") != 1 || has_name(b, nb, "r_new2") != 1) {
        fprintf(stderr, "a new stream misses r_new3 or r_new2\n");
        bad = 1;
    }
    int nc = d1 ? read_rest(d1, b, NULL, MAX) : 0;
    if (!first_name || has_name(b, nc, first_name) || has_name(b, nc, "r_new2") != 1) {
        fprintf(stderr, "the older stream repeated %s or lost r_new2\n",
                first_name ? first_name : "(none)");
        bad = 1;
    }
    for (int i = 0; i < nc; i++)
        if (has_name(b, nc, b[i]) != 1) {
            fprintf(stderr, "the older stream repeated %s\n", b[i]);
            bad = 1;
        }
    if (d1)
        closedir(d1);
    if (d2)
        closedir(d2);
    unlink_at(dir, "r_new2");
    unlink_at(dir, "r_new3");
    touch_at(dir, gone);
    errno = EIO;
    return report(bad ? -1 : 0);
}

/* Prints d_type letters of DIR's entries as "name:type" sorted by the shell. */
static int cmd_dtypes(char **av)
{
    DIR *d = opendir(av[0]);
    if (!d)
        return report(-1);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        const char *t = de->d_type == DT_DIR ? "d" : de->d_type == DT_REG ? "f"
                      : de->d_type == DT_LNK ? "l" : de->d_type == DT_FIFO ? "p"
                      : de->d_type == DT_CHR ? "c" : de->d_type == DT_SOCK ? "s" : "?";
        printf("%s:%s\n", de->d_name, t);
    }
    closedir(d);
    return 0;
}

/* Opens FILE for appending, then holds it open until killed (used to
 * trigger a copy-up the test kills the daemon during). */
static int cmd_append(char **av)
{
    int fd = open(av[0], O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return report(-1);
    if (write(fd, av[1], strlen(av[1])) < 0)
        return report(-1);
    close(fd);
    return report(0);
}

/* userns HOSTID CMD...: runs CMD as root of a new user (and mount)
 * namespace mapping 65536 ids to HOSTID+ (the caller must be root). */
static int cmd_userns(int argc, char **av)
{
    int go[2];
    if (argc < 2 || pipe(go) < 0)
        return 2;
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
            _exit(report(-1) + 126);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(125);
        /* no exec since unshare: still all capabilities in the namespace */
        if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            _exit(report(-1) + 126);
        execvp(av[1], av + 1);
        _exit(127);
    }
    close(go[0]);
    char path[64], map[64];
    snprintf(map, sizeof map, "0 %s 65536\n", av[0]);
    const char *files[] = {"uid_map", "gid_map"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, files[i]);
        /* retry until the child has unshared */
        int done = 0;
        for (int t = 0; t < 100 && !done; t++) {
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd >= 0 && write(fd, map, strlen(map)) == (ssize_t)strlen(map))
                done = 1;
            if (fd >= 0)
                close(fd);
            if (!done)
                usleep(20000);
        }
        if (!done) {
            kill(pid, SIGKILL);
            return 3;
        }
    }
    if (write(go[1], "g", 1) != 1)
        return 3;
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* racetimes DIR UPPER N: N times, chmod DIR/fI (a lower file, big enough
 * that the daemon copies it up on a thread of its own: the copy-up
 * restores the times of the upper directory) from one thread while this
 * one creates files in DIR until the chmod returns.  After each create,
 * the upper directory's mtime must not be older than the new file's: a
 * restore must never put back a time from before a create. */
static atomic_int race_done;

static void *race_chmod(void *arg)
{
    chmod(arg, 0600);
    atomic_store(&race_done, 1);
    return NULL;
}

static int cmd_racetimes(char **av)
{
    int n = atoi(av[2]);
    for (int i = 0; i < n; i++) {
        char f[4096], nw[4096], unw[4096];
        snprintf(f, sizeof f, "%s/f%d", av[0], i);
        pthread_t t;
        atomic_store(&race_done, 0);
        if (pthread_create(&t, NULL, race_chmod, f))
            return report(-1);
        int bad = -1;
        for (int j = 0; !atomic_load(&race_done) && bad < 0; j++) {
            snprintf(nw, sizeof nw, "%s/new%d-%d", av[0], i, j);
            snprintf(unw, sizeof unw, "%s/new%d-%d", av[1], i, j);
            int fd = open(nw, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (fd < 0)
                return report(-1);
            close(fd);
            struct stat d, c;
            if (stat(av[1], &d) < 0 || stat(unw, &c) < 0)
                return report(-1);
            if (d.st_mtim.tv_sec < c.st_mtim.tv_sec ||
                (d.st_mtim.tv_sec == c.st_mtim.tv_sec && d.st_mtim.tv_nsec < c.st_mtim.tv_nsec))
                bad = j;
        }
        pthread_join(t, NULL);
        if (bad >= 0) {
            printf("mtime put back over create %d of round %d\n", bad, i);
            return 1;
        }
    }
    return report(0);
}

static int cmd_mksock(char **av)
{
    return report(mknod(av[0], S_IFSOCK | 0644, 0));
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int nargs;
        int (*fn)(char **);
    } cmds[] = {
        {"rename2", 3, cmd_rename2}, {"tmpfile", 1, cmd_tmpfile}, {"mmap", 1, cmd_mmap},
        {"locks", 1, cmd_locks},     {"churn", 2, cmd_churn},     {"dtypes", 1, cmd_dtypes},
        {"append", 2, cmd_append},   {"mksock", 1, cmd_mksock},   {"relist", 1, cmd_relist},
        {"racetimes", 3, cmd_racetimes},
    };
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "userns"))
        return cmd_userns(argc - 2, argv + 2);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            if (argc - 2 != cmds[i].nargs)
                return 2;
            return cmds[i].fn(argv + 2);
        }
    return 2;
}
