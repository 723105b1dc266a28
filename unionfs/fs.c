/* Filesystem setup: layers, work directory, root node, the FUSE session. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/xalloc.h"
#include "unionfs/internal.h"
#include "unionfs/ops.h"

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct ufs *fs = userdata;
    /* passthrough and the writeback cache exclude each other (the kernel
     * turns passthrough off); passthrough skips whole round trips */
    bool passthrough = ufs_pt_init(fs, conn);
    if (!passthrough && fs->has_upper && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
        conn->want |= FUSE_CAP_WRITEBACK_CACHE;
        fs->writeback = true;
    }
    unsigned want = FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                    FUSE_CAP_CACHE_SYMLINKS | FUSE_CAP_PARALLEL_DIROPS |
                    FUSE_CAP_ASYNC_DIO | FUSE_CAP_READDIRPLUS;
    conn->want |= want & conn->capable;
    fs->no_opendir = conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT;
    /* Always readdirplus: a container's tools list to stat (find, ls -l,
     * tar, package managers), and the AUTO policy sends a big directory's
     * later chunks as plain READDIR, which costs one LOOKUP per name. */
    conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
    /* FUSE_HANDLE_KILLPRIV_V2: we clear suid/sgid on write, truncate and
     * chown, so the kernel stops refreshing the mode (GETATTR) before a
     * chown and stops checking security.capability (GETXATTR) on every
     * write.  Only where our io sees the kill flags in the raw requests:
     * those are then never spliced in (passthrough moves the data anyway). */
    bool killpriv = ufs_pt_killpriv_init(fs);
    if (killpriv)
        conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
    if (fs->o.debug)
        fuse_log(FUSE_LOG_DEBUG, "strata-unionfs: killpriv %s\n", killpriv ? "on" : "off");
    /* locks stay in the kernel: no flock/getlk/setlk ops are defined */
    conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
    pthread_mutex_lock(&fs->init_lock);
    fs->init_done = true;
    pthread_cond_broadcast(&fs->init_cond);
    pthread_mutex_unlock(&fs->init_lock);
}

static struct fuse_lowlevel_ops build_ops(void)
{
    struct fuse_lowlevel_ops ops = {.init = op_init};
    ufs_ops_entry(&ops);
    ufs_ops_dir(&ops);
    ufs_ops_file(&ops);
    return ops;
}

static int open_layer(const char *path, struct ufs_layer *l, struct error *err)
{
    l->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (l->fd < 0)
        return error_errno(err, "open layer `%s`", path);
    struct stat st;
    if (fstat(l->fd, &st) < 0)
        return error_errno(err, "stat layer `%s`", path);
    l->dev = st.st_dev;
    return 0;
}

static struct ufs_idmap_range *dup_ranges(const struct ufs_idmap_range *r, size_t n)
{
    if (!n)
        return NULL;
    struct ufs_idmap_range *c = xcalloc(n, sizeof *c);
    memcpy(c, r, n * sizeof *c);
    return c;
}

/* Root whose user namespace maps more than one id can chown to anything the
 * container may ask for; root of a one-id rootless namespace cannot. */
static bool userns_maps_many(void)
{
    FILE *f = fopen("/proc/self/uid_map", "re");
    if (!f)
        return true;
    unsigned long inside, outside, count, total = 0;
    while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
        total += count;
    fclose(f);
    return total > 1;
}

int ufs_fs_new(const struct ufs_options *o, struct ufs **out, struct error *err)
{
    if (!o->upper && !o->n_lowers)
        return error_set(err, EINVAL, "unionfs needs at least a lower or an upper directory");
    if (o->upper && !o->work)
        return error_set(err, EINVAL, "upper `%s` given without a work directory", o->upper);
    struct ufs *fs = xzalloc(sizeof *fs);
    fs->o = *o;
    fs->o.lowers = NULL;
    fs->o.upper = fs->o.work = NULL;
    fs->o.fuse_opts = o->fuse_opts ? xstrdup(o->fuse_opts) : NULL;
    fs->uidmap = dup_ranges(o->uidmap, o->n_uidmap);
    fs->gidmap = dup_ranges(o->gidmap, o->n_gidmap);
    fs->o.uidmap = fs->uidmap;
    fs->o.gidmap = fs->gidmap;
    fs->work_fd = fs->tmp_fd = fs->index_fd = -1;
    pthread_rwlock_init(&fs->tree_lock, NULL);
    pthread_mutex_init(&fs->table_lock, NULL);
    pthread_mutex_init(&fs->init_lock, NULL);
    pthread_cond_init(&fs->init_cond, NULL);
    ufs_pt_fs_init(&fs->pt);
    fs->euid = geteuid();
    fs->egid = getegid();
    fs->privileged = fs->euid == 0 && userns_maps_many();
    fs->next_ino = FUSE_ROOT_ID + 1;
    /* every inode the kernel holds keeps an fd open here (as libfuse's
     * passthrough_ll does): allow as many as the hard limit lets us */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    fs->has_upper = o->upper != NULL;
    fs->n_layers = (int)o->n_lowers + (fs->has_upper ? 1 : 0);
    fs->layers = xcalloc((size_t)fs->n_layers, sizeof *fs->layers);
    for (int i = 0; i < fs->n_layers; i++)
        fs->layers[i].fd = -1;
    *out = fs; /* ufs_fs_free cleans up a half-built fs */

    int li = 0;
    if (fs->has_upper && open_layer(o->upper, &fs->layers[li++], err) < 0)
        return -1;
    for (size_t i = 0; i < o->n_lowers; i++)
        if (open_layer(o->lowers[i], &fs->layers[li++], err) < 0)
            return -1;

    if (fs->has_upper) {
        if (mkdir_p_at(AT_FDCWD, o->work, 0700, err) < 0)
            return -1;
        fs->work_fd = open(o->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fs->work_fd < 0)
            return error_errno(err, "open work directory `%s`", o->work);
        struct stat ws;
        fstat(fs->work_fd, &ws);
        if (ws.st_dev != fs->layers[0].dev)
            return error_set(err, EXDEV, "work directory `%s` is not on the filesystem of upper `%s`",
                             o->work, o->upper);
        /* leftovers of a crash are half copies nobody can see: drop them */
        if (rm_rf_at(fs->work_fd, "tmp", err) < 0 ||
            mkdir_p_at(fs->work_fd, "tmp", 0700, err) < 0 ||
            mkdir_p_at(fs->work_fd, "index", 0700, err) < 0)
            return error_prefix(err, "prepare work directory `%s`", o->work);
        fs->tmp_fd = openat(fs->work_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fs->index_fd = openat(fs->work_fd, "index", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fs->tmp_fd < 0 || fs->index_fd < 0)
            return error_errno(err, "open work directory `%s`", o->work);
    }

    struct ufs_node *root = ufs_node_alloc(fs->n_layers);
    root->ino = FUSE_ROOT_ID;
    root->nodeid = FUSE_ROOT_ID;
    root->type = S_IFDIR;
    root->nlookup = 1;
    root->lpath = xstrdup("");
    root->dfd = xmalloc(sizeof(int) * (size_t)fs->n_layers);
    root->layer = 0;
    root->bottom = 0;
    fs->root = root;
    for (int i = 0; i < fs->n_layers; i++)
        root->dfd[i] = -1;
    for (int i = 0; i < fs->n_layers; i++) {
        root->dfd[i] = fcntl(fs->layers[i].fd, F_DUPFD_CLOEXEC, 0);
        root->bottom = i;
        if (ufs_dir_is_opaque(root->dfd[i]))
            break;
    }
    struct stat rst;
    fstat(root->dfd[0], &rst);
    ufs_id_get(fs, fs->layers[0].dev, rst.st_ino, FUSE_ROOT_ID);
    return 0;
}

void ufs_fs_free(struct ufs *fs)
{
    if (!fs)
        return;
    ufs_table_free(fs);
    for (int i = 0; i < fs->n_layers; i++)
        if (fs->layers[i].fd >= 0)
            close(fs->layers[i].fd);
    free(fs->layers);
    if (fs->work_fd >= 0)
        close(fs->work_fd);
    if (fs->tmp_fd >= 0)
        close(fs->tmp_fd);
    if (fs->index_fd >= 0)
        close(fs->index_fd);
    free((char *)fs->o.fuse_opts);
    free(fs->uidmap);
    free(fs->gidmap);
    pthread_rwlock_destroy(&fs->tree_lock);
    pthread_mutex_destroy(&fs->table_lock);
    pthread_mutex_destroy(&fs->init_lock);
    pthread_cond_destroy(&fs->init_cond);
    ufs_pt_fs_free(&fs->pt);
    free(fs);
}

int ufs_session_new(struct ufs *fs, const char *mountpoint, struct error *err)
{
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    fuse_opt_add_arg(&args, "strata-unionfs");
    if (fs->o.debug)
        fuse_opt_add_arg(&args, "-d");
    cleanup_free char *opts = xasprintf(
        "fsname=strata-unionfs,subtype=strata-unionfs,default_permissions%s%s%s%s",
        fs->privileged ? ",allow_other,suid,dev" : "", fs->has_upper ? "" : ",ro",
        fs->o.fuse_opts && *fs->o.fuse_opts ? "," : "", fs->o.fuse_opts ? fs->o.fuse_opts : "");
    fuse_opt_add_arg(&args, "-o");
    fuse_opt_add_arg(&args, opts);
    struct fuse_lowlevel_ops ops = build_ops();
    fs->se = fuse_session_new(&args, &ops, sizeof ops, fs);
    fuse_opt_free_args(&args);
    if (!fs->se)
        return error_set(err, EINVAL, "create fuse session for `%s` (options `%s`)", mountpoint,
                         opts);
    if (fuse_session_mount(fs->se, mountpoint) != 0) {
        fuse_session_destroy(fs->se);
        fs->se = NULL;
        return error_set(err, EIO, "mount fuse at `%s`", mountpoint);
    }
    /* before the kernel's INIT is read: without it, no passthrough */
    ufs_pt_session(fs);
    return 0;
}
