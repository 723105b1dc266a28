/* The in-process API: mount, serve from background threads, unmount. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/thread.h"
#include "common/xalloc.h"
#include "unionfs/internal.h"

struct ufs_mount {
    struct ufs *fs;
    pthread_t thread;
    int loop_result;
    dev_t dev;      /* st_dev of the mount: its fusectl connection number */
    char *mountpoint; /* with async_init: dev is looked up when needed */
};

static void *serve(void *arg)
{
    struct ufs_mount *m = arg;
    m->loop_result = ufs_loop(m->fs, UFS_MAX_WORKERS);
    /* a dead kernel connection ends the loop too: let waiters go */
    pthread_mutex_lock(&m->fs->init_lock);
    m->fs->init_done = true;
    pthread_cond_broadcast(&m->fs->init_cond);
    pthread_mutex_unlock(&m->fs->init_lock);
    return NULL;
}

/* Resolves the directory path `dir` ("etc", "a/b") from the root through
 * the merged view, every component a real directory of some layer (a
 * symlink or a missing one: NULL).  Returns the node with one reference. */
static struct ufs_node *placeholder_dir(struct ufs *fs, char *dir)
{
    struct ufs_node *d = fs->root;
    char *save = NULL;
    for (char *c = strtok_r(dir, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        struct ufs_entry e;
        struct ufs_node *n = NULL;
        int r = ufs_resolve(fs, d, c, &e);
        if (!r && e.layer >= 0 && S_ISDIR(e.st.st_mode))
            r = ufs_entry_to_node(fs, d, c, &e, &n);
        ufs_entry_release(fs, &e);
        if (d != fs->root)
            ufs_node_forget(fs, d, 1);
        if (r || !n)
            return NULL;
        d = n;
    }
    return d;
}

/* The empty files a runtime binds over (/etc/hostname, ...) made in the
 * upper before the kernel sees the mount, copying their directories up as
 * a copy-up would: done through the mount instead, each costs the
 * container a series of lookups, a copy-up and a create, all round trips
 * to these threads.  Best effort: a name some layer has, a whiteout, or a
 * directory that is not plainly there is left for the mount to handle. */
static void make_placeholders(struct ufs *fs, const char *const *paths)
{
    char *last_dir = NULL; /* paths sharing a directory resolve it once */
    struct ufs_node *d = NULL;
    for (size_t i = 0; fs->has_upper && paths && paths[i]; i++) {
        char *dir = xstrdup(paths[i]);
        char *slash = strrchr(dir, '/');
        const char *name = slash ? slash + 1 : paths[i];
        if (slash)
            *slash = '\0';
        else
            dir[0] = '\0'; /* the root */
        if (!last_dir || strcmp(last_dir, dir)) {
            if (d && d != fs->root)
                ufs_node_forget(fs, d, 1);
            free(last_dir);
            last_dir = xstrdup(dir);
            d = placeholder_dir(fs, dir);
        }
        struct ufs_entry e;
        bool free_name = false;
        if (d && *name && !ufs_name_reserved(name)) {
            free_name = ufs_resolve(fs, d, name, &e) == 0 && e.layer < 0 && !e.upper_whiteout;
            ufs_entry_release(fs, &e);
        }
        int pup = free_name ? ufs_upper_dir(fs, d) : -1;
        /* as a create from the container's root: the daemon's ids, 0644
         * under its umask, nothing to record */
        int fd = pup >= 0 ? openat(pup, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                   0644)
                          : -1;
        if (fd >= 0)
            close(fd);
        free(dir);
    }
    if (d && d != fs->root)
        ufs_node_forget(fs, d, 1);
    free(last_dir);
}

int ufs_mount_start(const struct ufs_options *o, const char *mountpoint,
                    struct ufs_mount **out, struct error *err)
{
    struct ufs *fs = NULL;
    if (ufs_fs_new(o, &fs, err) < 0) {
        ufs_fs_free(fs);
        return -1;
    }
    make_placeholders(fs, o->placeholders);
    if (ufs_session_new(fs, mountpoint, err) < 0) {
        ufs_fs_free(fs);
        return -1;
    }
    struct ufs_mount *m = xzalloc(sizeof *m);
    m->fs = fs;
    /* serving threads must not take the caller's signals */
    int r = thread_create_nosignals(&m->thread, serve, m);
    if (r) {
        fuse_session_unmount(fs->se);
        fuse_session_destroy(fs->se);
        ufs_fs_free(fs);
        free(m);
        return error_code(err, r, "start serving `%s`", mountpoint);
    }
    if (o->async_init) {
        /* the first request waits for INIT in the kernel */
        m->mountpoint = xstrdup(mountpoint);
        *out = m;
        return 0;
    }
    /* The kernel sends INIT as soon as the mount exists; the first access
     * would wait for it anyway, but callers that fork right away should
     * find a mount that answers. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&fs->init_lock);
    while (!fs->init_done)
        if (pthread_cond_timedwait(&fs->init_cond, &fs->init_lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&fs->init_lock);
    struct stat st;
    if (stat(mountpoint, &st) == 0)
        m->dev = st.st_dev;
    *out = m;
    return 0;
}

static bool join_for(struct ufs_mount *m, int seconds)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    return pthread_timedjoin_np(m->thread, NULL, &deadline) == 0;
}

int ufs_mount_stop(struct ufs_mount *m, struct error *err)
{
    if (!m)
        return 0;
    struct ufs *fs = m->fs;
    struct stat st;
    if (m->mountpoint && stat(m->mountpoint, &st) == 0)
        m->dev = st.st_dev;
    fuse_session_exit(fs->se);
    /* lazy unmount: the kernel ends the connection once it is unused, and
     * the pending read in each serving thread returns */
    fuse_session_unmount(fs->se);
    if (!join_for(m, 5)) {
        /* still busy: sever the connection (root only) so the threads end;
         * the processes still inside get ENOTCONN */
        char path[64];
        snprintf(path, sizeof path, "/sys/fs/fuse/connections/%u/abort", minor(m->dev));
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            (void)!write(fd, "1", 1);
            close(fd);
        }
        if (!join_for(m, 5)) {
            /* the threads still use fs and m: leak them rather than crash */
            pthread_detach(m->thread);
            return error_set(err, EBUSY, "unionfs mount still busy after unmount");
        }
    }
    fuse_session_destroy(fs->se);
    ufs_fs_free(fs);
    free(m->mountpoint);
    free(m);
    return 0;
}
