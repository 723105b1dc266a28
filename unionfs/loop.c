/* The serving loop: multi-threaded, but a request the kernel hands us is
 * answered by the thread that read it whenever that is quick.
 *
 * libfuse's loop keeps every idle thread blocked in read(2) on /dev/fuse
 * and the kernel wakes the one that waited longest, so a client doing one
 * request at a time (find, tar, a compiler opening headers) is served by
 * a different, cold thread each time: on a small VM that was 40% more
 * context switches and twice the daemon CPU of a single thread.  Here one
 * thread at a time holds the reader role; it serves what it read itself
 * and reads again, so a sequential client talks to one hot thread.
 *
 * Requests that may take long (fsync, rename, rmdir, link, and open,
 * setattr or xattr changes that copy a big lower file up) first hand the
 * role to another thread, so others are served meanwhile.  And
 * since any request can block (cold disk, a kernel lock held by a client
 * that waits for another request), one idle thread watches: when the role
 * holder has been serving the same request for a whole WATCH_MS it takes
 * the role over.  The watcher sleeps untimed once nothing happens. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "common/thread.h"
#include "common/xalloc.h"
#include "unionfs/internal.h"

#define WATCH_MS 50
#define BIG_COPY_UP (4 << 20)

struct worker {
    struct worker *next;
    pthread_t tid;
    struct loop *l;
    struct fuse_buf buf;
};

struct loop {
    struct ufs *fs;
    struct fuse_session *se;
    pthread_mutex_t lock;    /* everything below */
    pthread_cond_t turn;     /* the role is free (idle threads wait here) */
    pthread_cond_t watch;    /* the watcher waits here */
    struct worker *owner;    /* holder of the reader role, NULL if free */
    bool busy;               /* the owner is serving inline, not reading */
    uint64_t seq;            /* requests served inline so far */
    int idle;                /* threads waiting on turn */
    bool watching;           /* an idle thread watches the owner */
    bool watcher_asleep;     /* ... untimed, as nothing happened lately */
    bool stop;
    int n_workers, max_workers;
    struct worker *workers;
    int error;
    sem_t finish;            /* posted when a worker sees the session end */
};

/* Would a copy-up of nodeid move much data?  Small copy-ups (most of a
 * rootfs: append to a config file, chmod) are served inline: handing the
 * reader role over costs a thread switch, which is most of their time. */
static bool big_copy_up(struct ufs *fs, uint64_t nodeid)
{
    /* the kernel holds a reference to nodeid while its request is out */
    struct ufs_node *n = ufs_node_find(fs, nodeid);
    return n && ufs_copy_up_big(fs, n, BIG_COPY_UP);
}

/* May serving this request take long (so others should not wait)? */
static bool may_block(struct ufs *fs, const struct fuse_buf *buf)
{
    ufs_copy_up_hint_clear(); /* what big_copy_up learns is for this request only */
    if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(struct fuse_in_header))
        return true;
    const struct fuse_in_header *in = buf->mem;
    switch (in->opcode) {
    case FUSE_FSYNC:
    case FUSE_FSYNCDIR:
    case FUSE_FALLOCATE:
    case FUSE_COPY_FILE_RANGE:
    case FUSE_RENAME:
    case FUSE_RENAME2:
    case FUSE_RMDIR:
    case FUSE_LINK:
    case FUSE_SETLKW:
    case FUSE_IOCTL:
    case FUSE_POLL:
        return true;
    case FUSE_OPEN: {
        if (buf->size < sizeof *in + sizeof(struct fuse_open_in))
            return true;
        const struct fuse_open_in *arg = (const void *)(in + 1);
        if ((arg->flags & O_ACCMODE) == O_RDONLY && !(arg->flags & O_TRUNC))
            return false;
        return big_copy_up(fs, in->nodeid);
    }
    case FUSE_SETATTR:
    case FUSE_SETXATTR:
    case FUSE_REMOVEXATTR:
        return big_copy_up(fs, in->nodeid);
    default:
        return false;
    }
}

static void start_worker(struct loop *l);

/* Waits (lock held) until the role may be free.  The first idle thread
 * becomes the watcher; the others just wait for a handoff. */
static void wait_turn(struct loop *l, struct worker *w)
{
    if (l->watching) {
        l->idle++;
        pthread_cond_wait(&l->turn, &l->lock);
        l->idle--;
        return;
    }
    l->watching = true;
    uint64_t seen = l->seq;
    bool timed = true;
    while (!l->stop && l->owner && l->owner != w) {
        if (!timed) {
            /* woken by the next request served inline */
            l->watcher_asleep = true;
            pthread_cond_wait(&l->watch, &l->lock);
            l->watcher_asleep = false;
            seen = l->seq;
            timed = true;
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += WATCH_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&l->watch, &l->lock, &ts) != ETIMEDOUT)
            continue;
        if (l->stop || !l->owner)
            break;
        if (l->seq == seen && l->busy) {
            /* one request for a whole period: serve the others */
            l->owner = w;
            break;
        }
        timed = l->seq != seen; /* quiet: sleep untimed until work comes */
        seen = l->seq;
    }
    l->watching = false;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct loop *l = w->l;
    /* threads start cancellable: one cancelled in wait_turn's condition
     * wait would end holding l->lock and hang every other worker */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_mutex_lock(&l->lock);
    while (!l->stop && !fuse_session_exited(l->se)) {
        if (l->owner && l->owner != w) {
            wait_turn(l, w);
            continue;
        }
        l->owner = w;
        l->busy = false;
        pthread_mutex_unlock(&l->lock);
        /* the only point where the loop's end may cancel us */
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        int res = fuse_session_receive_buf(l->se, &w->buf);
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        pthread_mutex_lock(&l->lock);
        if (res == -EINTR || res == -EAGAIN) {
            if (l->owner == w)
                l->owner = NULL;
            continue;
        }
        if (res <= 0) {
            /* 0: unmounted or aborted (libfuse has ended the session) */
            if (res < 0)
                l->error = -res;
            break;
        }
        bool handoff = may_block(l->fs, &w->buf);
        if (l->owner != w) {
            handoff = false; /* the watcher took the role meanwhile */
        } else if (handoff) {
            l->owner = NULL;
            if (l->idle)
                pthread_cond_signal(&l->turn);
            else if (l->watching)
                pthread_cond_signal(&l->watch);
            else if (l->n_workers < l->max_workers)
                start_worker(l);
        } else {
            l->busy = true;
            l->seq++;
            if (l->watcher_asleep) {
                l->watcher_asleep = false;
                pthread_cond_signal(&l->watch);
            }
        }
        pthread_mutex_unlock(&l->lock);
        fuse_session_process_buf(l->se, &w->buf);
        pthread_mutex_lock(&l->lock);
        if (l->owner == w) {
            l->owner = NULL; /* and take it again right away */
            l->busy = false;
        }
    }
    l->stop = true;
    pthread_cond_broadcast(&l->turn);
    pthread_cond_broadcast(&l->watch);
    pthread_mutex_unlock(&l->lock);
    sem_post(&l->finish);
    return NULL;
}

/* Lock held.  Workers take no signals: those go to the caller's thread. */
static void start_worker(struct loop *l)
{
    struct worker *w = xzalloc(sizeof *w);
    w->l = l;
    int r = thread_create_nosignals(&w->tid, work, w);
    if (r) {
        free(w);
        return;
    }
    w->next = l->workers;
    l->workers = w;
    l->n_workers++;
}

int ufs_loop(struct ufs *fs, int max_workers)
{
    struct loop l = {.fs = fs, .se = fs->se, .max_workers = max_workers < 2 ? 2 : max_workers};
    pthread_mutex_init(&l.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l.turn, &ca);
    pthread_cond_init(&l.watch, &ca);
    pthread_condattr_destroy(&ca);
    sem_init(&l.finish, 0, 0);

    /* one to read, one to watch it */
    pthread_mutex_lock(&l.lock);
    start_worker(&l);
    start_worker(&l);
    bool none = l.n_workers == 0;
    pthread_mutex_unlock(&l.lock);
    if (none)
        l.error = EAGAIN;

    /* signals (SIGTERM, SIGINT: fuse_set_signal_handlers) interrupt this */
    while (!none && !fuse_session_exited(fs->se)) {
        sem_wait(&l.finish);
        pthread_mutex_lock(&l.lock);
        bool stopped = l.stop;
        pthread_mutex_unlock(&l.lock);
        if (stopped)
            break;
    }
    pthread_mutex_lock(&l.lock);
    l.stop = true;
    pthread_cond_broadcast(&l.turn);
    pthread_cond_broadcast(&l.watch);
    pthread_mutex_unlock(&l.lock);
    for (struct worker *w = l.workers; w; w = w->next)
        pthread_cancel(w->tid); /* acts only in receive: see work() */
    while (l.workers) {
        struct worker *w = l.workers;
        l.workers = w->next;
        pthread_join(w->tid, NULL);
        free(w->buf.mem);
        free(w);
    }
    sem_destroy(&l.finish);
    pthread_cond_destroy(&l.turn);
    pthread_cond_destroy(&l.watch);
    pthread_mutex_destroy(&l.lock);
    return l.error;
}
