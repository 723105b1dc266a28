/* FUSE passthrough (Linux >= 6.9): reads, writes and mmap of an open
 * regular file go from the kernel straight to the layer file behind it.
 *
 * libfuse 3.14 and its <linux/fuse.h> speak protocol 7.38, which predates
 * passthrough (7.40), so the few 7.40 bits are defined here, the INIT
 * reply is patched on its way out and open replies get their backing id
 * the same way (passthrough.c: a custom io on the session fd).
 *
 * The kernel keeps one backing file per inode while any passthrough open
 * of it exists, and refuses (EIO) an open that is not passthrough or names
 * another backing meanwhile; struct ufs_pt_node mirrors that state so every
 * open is answered in a way the kernel accepts. */
#ifndef STRATA_UNIONFS_PASSTHROUGH_H
#define STRATA_UNIONFS_PASSTHROUGH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

/* protocol 7.40 (include/uapi/linux/fuse.h) */
#define UFS_FUSE_PASSTHROUGH_FLAGS2 (1u << (37 - 32)) /* FUSE_PASSTHROUGH */
#define UFS_FOPEN_PASSTHROUGH (1u << 7)
struct ufs_fuse_backing_map {
    int32_t fd;
    uint32_t flags;
    uint64_t padding;
};
#define UFS_FUSE_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct ufs_fuse_backing_map)
#define UFS_FUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* Per node, under node->lock: the kernel inode's io mode as we made it.
 * A backing registered from our own read-only fd (fd >= 0) is kept while
 * the node lives, so later opens cost no ioctl; readers share that fd. */
struct ufs_pt_node {
    int id;           /* registered backing id, 0 = none */
    uint32_t refs;    /* opens answered with FOPEN_PASSTHROUGH and id */
    uint32_t cached;  /* opens answered without it (page cache mode) */
    dev_t dev;        /* the backing object */
    ino_t ino;
    int fd;           /* kept: O_RDONLY fd behind id (-1: id is an open's) */
    int layer;        /* kept: n->layer when registered (n->fd changes with it) */
    bool refused;     /* the kernel would not stack on this file */
    bool top;         /* id's file is the node's upper object (which a layer-0
                         node keeps for life): writes may reach it */
};

/* Per mount (struct ufs), set up by ufs_pt_session and the INIT exchange. */
struct ufs_pt_fs {
    int fuse_fd;          /* the session's /dev/fuse fd (backing ioctls) */
    bool io;              /* our io hooks are installed: passthrough may go */
    bool kernel;          /* the kernel's INIT offered FUSE_PASSTHROUGH */
    uint64_t init_unique; /* that INIT request, to find its reply */
    uint32_t depth;       /* max_stack_depth we announce */
    _Atomic bool on;      /* negotiated */
    bool kernel_killpriv; /* the kernel's INIT offered FUSE_HANDLE_KILLPRIV_V2 */
    _Atomic bool killpriv; /* negotiated: we clear suid/sgid (ufs_pt_req_kill) */
    _Atomic bool broken;  /* registering a backing was refused: stop trying */
};

struct ufs;
struct ufs_node;
struct fuse_conn_info;
struct fuse_file_info;
struct stat;

void ufs_pt_fs_init(struct ufs_pt_fs *p);
void ufs_pt_fs_free(struct ufs_pt_fs *p);
/* After fuse_session_mount: routes the session's io through us.  0 or an
 * errno (then the mount works without passthrough). */
int ufs_pt_session(struct ufs *fs);
/* From the init op: true when passthrough will be negotiated (then the
 * writeback cache must stay off: the kernel refuses both). */
bool ufs_pt_init(struct ufs *fs, struct fuse_conn_info *conn);
/* A reader's open of regular file node n answered from the node's kept
 * backing (registered on first use): fi->fh is the shared fd, tagged, and
 * the reply is armed.  false: not possible, take the usual way. */
bool ufs_pt_open_shared(struct ufs *fs, struct ufs_node *n, struct fuse_file_info *fi);
/* Once fd is open for fi->flags on regular file node n (st: its stat, or
 * NULL to take it; top: fd is n's upper object, opened while n was in the
 * upper): chooses
 * passthrough, shared backing or page cache for this open, tags fi->fh
 * (its low 32 bits stay the fd) and arms this thread's next open reply
 * with the flags and backing id.  0 or an errno; ESTALE: a writer met
 * opens of the lower (the caller splits n, the kernel retries). */
int ufs_pt_open(struct ufs *fs, struct ufs_node *n, int fd, struct fuse_file_info *fi,
                const struct stat *st, bool top);
/* Before a copy-up of regular file n (open for writing, setattr): when
 * passthrough opens hold n's lower as their backing, n's name and st_ino
 * go to a new node *out with a new nodeid and n stays, an orphan, for
 * those opens (see passthrough.c); with notify the kernel's entry for the
 * name is invalidated (never from a request during which the kernel holds
 * the parent's lock: CREATE).  *out NULL when nothing was split.  0 or an
 * errno. */
int ufs_pt_split(struct ufs *fs, struct ufs_node *n, bool notify, struct ufs_node **out);
/* From the init op, after ufs_pt_init: true when FUSE_HANDLE_KILLPRIV_V2
 * will be negotiated (with passthrough only: our io must see the raw
 * requests, whose kill flags libfuse 3.14 drops, so requests are then
 * never spliced in). */
bool ufs_pt_killpriv_init(struct ufs *fs);
/* Whether the request this thread is serving carries the kernel's
 * FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID or FUSE_OPEN_KILL_SUIDGID. */
bool ufs_pt_req_kill(void);
/* After fuse_reply_open/create (or instead of it): disarms. */
void ufs_pt_reply_done(void);
/* The open ends (release, or its reply never reached the opener).
 * Returns whether the fd in fh is the open's own (the caller closes it),
 * false for the node's shared one. */
bool ufs_pt_release(struct ufs *fs, uint64_t ino, uint64_t fh);
/* The node is freed: its kept backing goes (live: the session still runs,
 * else the kernel dropped the ids with the connection). */
void ufs_pt_node_free(struct ufs *fs, struct ufs_node *n, bool live);

#endif
