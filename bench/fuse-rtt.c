/*
 * bench/fuse-rtt: the FUSE null round trip on this machine, the price every
 * synchronous FUSE request pays before a filesystem does any work.
 *
 *     fuse-rtt MOUNTPOINT LOCAL-FILE
 *
 * A child process serves a filesystem that does nothing (libfuse3 low
 * level, one thread): a root directory holding one file, "f", whose entry
 * is cached for a day and whose attributes are never cached (timeout 0),
 * so every stat() of MOUNTPOINT/f is exactly one GETATTR round trip.  The
 * parent times such stat() calls, with the two processes pinned to two
 * different CPUs, then to one CPU, and the same calls on LOCAL-FILE (any
 * file on a local filesystem) for comparison.  It prints one line, in
 * microseconds per call, the mean of the fastest of TRIALS batches of CALLS
 * calls (a floor: the batches other processes slowed down are not it):
 *
 *     LOCAL SPLIT SAME
 *
 * SPLIT is "-" on a machine with one CPU.  The server counts the GETATTRs
 * of "f" and the program fails unless it saw one per stat(): the number
 * printed is a round trip, not a cache hit.
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { TRIALS = 11, CALLS = 2000, WARMUP = 200 };
enum { ROOT_INO = FUSE_ROOT_ID, FILE_INO = 2 };

static unsigned long file_getattrs;

static void null_stat(fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_mode = ino == ROOT_INO ? S_IFDIR | 0755 : S_IFREG | 0644;
    st->st_nlink = ino == ROOT_INO ? 2 : 1;
}

static void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;

    if (parent != ROOT_INO || strcmp(name, "f") != 0) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    memset(&e, 0, sizeof(e));
    e.ino = FILE_INO;
    e.entry_timeout = 86400.0; /* the path walk asks nothing */
    e.attr_timeout = 0.0;      /* every stat asks */
    null_stat(FILE_INO, &e.attr);
    fuse_reply_entry(req, &e);
}

static void null_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;

    (void)fi;
    if (ino != ROOT_INO && ino != FILE_INO) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (ino == FILE_INO)
        file_getattrs++;
    null_stat(ino, &st);
    fuse_reply_attr(req, &st, 0.0);
}

static const struct fuse_lowlevel_ops null_ops = {
    .lookup = null_lookup,
    .getattr = null_getattr,
};

/* The child: mount, say so on READY, serve until the parent unmounts,
 * then write the GETATTR count to READY. */
static int serve(const char *mnt, int ready)
{
    char *argv[] = {"fuse-rtt", "-o", "fsname=fuse-rtt,subtype=fuse-rtt", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    struct fuse_session *se;
    int rc = 1;

    se = fuse_session_new(&args, &null_ops, sizeof(null_ops), NULL);
    if (se == NULL)
        return 1;
    if (fuse_session_mount(se, mnt) == 0) {
        if (write(ready, "m", 1) == 1 && fuse_session_loop(se) == 0)
            rc = 0;
        fuse_session_unmount(se);
    }
    fuse_session_destroy(se);
    if (rc == 0 && write(ready, &file_getattrs, sizeof(file_getattrs)) != sizeof(file_getattrs))
        rc = 1;
    return rc;
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* the fastest of TRIALS batches of CALLS fstatat(dir, name): µs per call;
 * -1 if a stat fails */
static double time_stats(int dir, const char *name, unsigned long *calls)
{
    double best = -1;
    struct stat st;

    for (int i = 0; i < WARMUP; i++)
        if (fstatat(dir, name, &st, 0) < 0)
            return -1;
    for (int t = 0; t < TRIALS; t++) {
        double start = now_us();

        for (int i = 0; i < CALLS; i++)
            if (fstatat(dir, name, &st, 0) < 0)
                return -1;
        double us = (now_us() - start) / CALLS;

        if (best < 0 || us < best)
            best = us;
    }
    *calls += WARMUP + (unsigned long)TRIALS * CALLS;
    return best;
}

static int pin(pid_t pid, int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(pid, sizeof(set), &set);
}

/* the local reference: stat() of PATH by name in its directory */
static double time_local(const char *path)
{
    char *d = strdup(path), *b = strdup(path);
    unsigned long calls = 0;
    double us = -1;
    int dir;

    dir = open(dirname(d), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        us = time_stats(dir, basename(b), &calls);
        close(dir);
    }
    free(d);
    free(b);
    return us;
}

/* The client: SPLIT (when there are two CPUs) and SAME through the mount
 * the child serves; counts its calls in *CALLS.  0 or -1. */
static int time_fuse(const char *mnt, pid_t child, const int *cpus, int ncpus, double *split,
                     double *same, unsigned long *calls)
{
    int dir = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (dir < 0)
        return -1;
    *split = -1;
    if (ncpus == 2 && (pin(0, cpus[0]) < 0 || pin(child, cpus[1]) < 0 ||
                       (*split = time_stats(dir, "f", calls)) < 0))
        goto fail;
    if (pin(0, cpus[0]) < 0 || pin(child, cpus[0]) < 0 ||
        (*same = time_stats(dir, "f", calls)) < 0)
        goto fail;
    close(dir);
    return 0;
fail:
    close(dir);
    return -1;
}

int main(int argc, char **argv)
{
    unsigned long calls = 0, served = 0;
    double local, split = -1, same = -1;
    int cpus[2], ncpus = 0, p[2], status, rc;
    cpu_set_t mine;
    pid_t child;
    char c;

    if (argc != 3) {
        fprintf(stderr, "usage: fuse-rtt MOUNTPOINT LOCAL-FILE\n");
        return 2;
    }
    if (sched_getaffinity(0, sizeof(mine), &mine) < 0) {
        perror("fuse-rtt: sched_getaffinity");
        return 1;
    }
    for (int i = 0; i < CPU_SETSIZE && ncpus < 2; i++)
        if (CPU_ISSET(i, &mine))
            cpus[ncpus++] = i;
    if (pin(0, cpus[0]) < 0 || (local = time_local(argv[2])) < 0) {
        fprintf(stderr, "fuse-rtt: stat `%s`: %s\n", argv[2], strerror(errno));
        return 1;
    }

    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("fuse-rtt: pipe");
        return 1;
    }
    child = fork();
    if (child < 0) {
        perror("fuse-rtt: fork");
        return 1;
    }
    if (child == 0) {
        close(p[0]);
        _exit(serve(argv[1], p[1]));
    }
    close(p[1]);
    if (read(p[0], &c, 1) != 1) {
        fprintf(stderr, "fuse-rtt: the server did not mount `%s`\n", argv[1]);
        waitpid(child, NULL, 0);
        return 1;
    }
    rc = time_fuse(argv[1], child, cpus, ncpus, &split, &same, &calls);
    if (rc < 0)
        fprintf(stderr, "fuse-rtt: stat through `%s`: %s\n", argv[1], strerror(errno));
    /* the unmount ends the server's loop; it then sends its count */
    if (umount2(argv[1], 0) < 0 && umount2(argv[1], MNT_DETACH) < 0) {
        perror("fuse-rtt: umount");
        kill(child, SIGTERM);
        rc = -1;
    }
    if (read(p[0], &served, sizeof(served)) != sizeof(served))
        served = 0;
    if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fuse-rtt: the server failed\n");
        return 1;
    }
    if (rc < 0)
        return 1;
    if (served != calls) {
        fprintf(stderr, "fuse-rtt: %lu stat() calls made %lu GETATTR round trips\n", calls,
                served);
        return 1;
    }
    if (split < 0)
        printf("%.2f - %.2f\n", local, same);
    else
        printf("%.2f %.2f %.2f\n", local, split, same);
    return 0;
}
