/* unionfs internals shared by the op files.  Not for other modules.
 *
 * Layers: index 0 is the upper when there is one, then the lowers top to
 * bottom.  A node is one inode of the merged view; its st_ino is a
 * per-mount number handed out by the id map ((dev, ino) of any layer
 * object -> number), so hard links and copied-up files keep it.  Its FUSE
 * nodeid is that number too, except after a split (passthrough.c): a file
 * whose lower is held as a passthrough backing gets a node with a fresh
 * nodeid (a new kernel inode) for its name, and the old node lives on,
 * an orphan, for the opens of the old kernel inode.
 *
 * Locks, always taken in this order:
 *   fs->tree_lock (rwlock)  node->parent / node->name; rename takes it for
 *                           writing, copy-up (which walks parents) for reading
 *   node->lock (mutex)      the node's layer state (layer, fd, dfd, bottom);
 *                           parents before children
 *   fs->table_lock (mutex)  the node table, the id map, nlookup and refs
 * Reads and writes use the fd in fi->fh and take no lock at all. */
#ifndef STRATA_UNIONFS_INTERNAL_H
#define STRATA_UNIONFS_INTERNAL_H

#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <fuse_lowlevel.h>

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "unionfs/passthrough.h"
#include "unionfs/unionfs.h"

#define UFS_WH_PREFIX ".wh."
#define UFS_WH_PREFIX_LEN 4
#define UFS_OPQ ".wh..wh..opq"

struct ufs_layer {
    int fd;       /* O_RDONLY|O_DIRECTORY root of the layer */
    dev_t dev;
    /* copy-up from this lower to the upper: ways of copying data that
     * failed once as unsupported between the two are not tried again */
    atomic_bool no_reflink, no_cfr, no_sendfile;
};

struct ufs_dirlist;

struct ufs_node {
    struct ufs_node *hnext;   /* node table chain by nodeid (table_lock) */
    struct ufs_node *inext;   /* chain by ino (table_lock); orphans are not in it */
    uint64_t nodeid;          /* the kernel's name for it: ino, but after a split */
    uint64_t ino;             /* st_ino */
    bool orphan;              /* split off: found by nodeid only (set under lock) */
    uint64_t nlookup;         /* kernel references (table_lock) */
    uint64_t refs;            /* children naming us as parent (table_lock) */
    struct ufs_node *parent;  /* tree_lock */
    char *name;               /* tree_lock; NULL once unlinked */

    pthread_mutex_t lock;     /* protects everything below */
    mode_t type;              /* S_IFMT bits, fixed for life */
    int layer;                /* topmost layer holding the object */
    int fd;                   /* non-dirs: O_PATH of the topmost object; for a
                                 lower one -1 until needed: ufs_node_pfd */
    int lfd;                  /* non-dirs: O_PATH of the lower object after copy-up */
    int *dfd;                 /* dirs: per layer O_RDONLY dir fd or -1 */
    int bottom;               /* dirs: last layer merged in */
    char *lpath;              /* dirs: path of this dir in the lowers ("" = root) */
    bool index;               /* regular file whose data lives in work/index */
    dev_t odev;               /* lower identity of a hard-linked file */
    ino_t oino;
    nlink_t lower_nlink;
    struct ufs_dirlist *list; /* dirs: merged listing, made by the first readdir */
    struct ufs_pt_node pt;    /* regular files: kernel io mode (passthrough.c) */
    /* security.capability is known absent while layer is nocap_layer (-1:
     * not known): the kernel asks before a file's first write and at each
     * chown.  Learnt from a create or an ENODATA; every xattr change
     * through us bumps xgen and forgets it, a copy-up changes layer.  As
     * for overlayfs, nobody changes the upper behind the mount. */
    int nocap_layer;
    unsigned xgen;
};

struct ufs_idmap_entry;

struct ufs {
    struct ufs_options o;     /* strings owned by ufs (dup'ed) */
    struct ufs_idmap_range *uidmap, *gidmap;
    int n_layers;
    struct ufs_layer *layers;
    bool has_upper;
    int work_fd;              /* work/ (tmp/ and index/ under it) */
    int tmp_fd;
    int index_fd;
    bool privileged;          /* euid 0 in our user namespace: chown works */
    uid_t euid;
    gid_t egid;
    atomic_ullong tmp_counter;

    pthread_rwlock_t tree_lock;
    pthread_mutex_t table_lock;
    struct ufs_node **nodes;  /* hash by nodeid */
    struct ufs_node **inos;   /* hash by ino of the nodes that are not orphans */
    size_t n_nodes, nodes_cap;
    struct ufs_idmap_entry **ids;
    size_t n_ids, ids_cap;
    uint64_t next_ino;
    struct ufs_node *root;

    struct fuse_session *se;
    pthread_mutex_t init_lock;
    pthread_cond_t init_cond;
    bool init_done;
    bool writeback;           /* the kernel caches writes (O_APPEND is its job) */
    bool no_opendir;          /* the kernel opens dirs itself after an ENOSYS */
    struct ufs_pt_fs pt;      /* passthrough.c */
};

/* fs.c */
int ufs_fs_new(const struct ufs_options *o, struct ufs **out, struct error *err);
void ufs_fs_free(struct ufs *fs);
int ufs_session_new(struct ufs *fs, const char *mountpoint, struct error *err);

/* loop.c: serves fs->se until it ends (unmount, abort, fuse_session_exit
 * and a signal); 0 or an errno. */
int ufs_loop(struct ufs *fs, int max_workers);
#define UFS_MAX_WORKERS 16

/* table.c */
uint64_t ufs_id_get(struct ufs *fs, dev_t dev, ino_t ino, uint64_t want);
void ufs_id_alias(struct ufs *fs, dev_t dev, ino_t ino, uint64_t number);
void ufs_id_forget(struct ufs *fs, dev_t dev, ino_t ino);
/* Moves node under a new parent/name; caller holds tree_lock for writing. */
void ufs_node_move(struct ufs *fs, struct ufs_node *node, struct ufs_node *parent,
                   const char *name);
/* By nodeid (what the kernel names). */
struct ufs_node *ufs_node_find(struct ufs *fs, uint64_t nodeid);
/* The node that names and numbers lead to (never an orphan), by st_ino. */
struct ufs_node *ufs_node_find_ino(struct ufs *fs, uint64_t ino);
/* Inserts node (nlookup 1, nodeid = ino) or, when one with that ino
 * exists, bumps its nlookup, frees node and returns the existing one. */
struct ufs_node *ufs_node_insert(struct ufs *fs, struct ufs_node *node);
/* Split: fresh (filled by the caller, same ino, nlookup 0) takes old's
 * place for names and numbers under a new nodeid; old becomes an orphan
 * found by its nodeid only.  Caller holds tree_lock for writing and
 * old->lock; old loses its name. */
void ufs_node_split(struct ufs *fs, struct ufs_node *old, struct ufs_node *fresh);
void ufs_node_forget(struct ufs *fs, struct ufs_node *node, uint64_t n);
/* The O_PATH fd of non-dir n's topmost object, opened on first use (a
 * lookup or readdirplus does not open lower files); -1 with errno. */
int ufs_node_pfd(struct ufs *fs, struct ufs_node *n);
/* lstat of non-dir n's topmost object, without opening it when lazy; -1,
 * errno. */
int ufs_node_lstat(struct ufs *fs, struct ufs_node *n, struct stat *st);
/* Opens lower non-dir n for flags without an O_PATH fd first; -1, errno. */
int ufs_node_open(struct ufs *fs, struct ufs_node *n, int flags);
/* readlink(2) of symlink node n (one syscall for a lower one); -1, errno. */
ssize_t ufs_node_readlink(struct ufs *fs, struct ufs_node *n, char *buf, size_t size);
/* getxattr(2) of non-symlink n's topmost object without a /proc/self/fd
 * path where there is a way (a directory's fd, getxattrat(2) by name);
 * -1 with errno, ENOSYS: none here, go through the path. */
ssize_t ufs_node_getxattr(struct ufs *fs, struct ufs_node *n, const char *xname, void *buf,
                          size_t size);
void ufs_table_free(struct ufs *fs);
struct ufs_node *ufs_node_alloc(int n_layers);
/* Fetches the node for a nodeid that the kernel holds a reference to. */
static inline struct ufs_node *ufs_node_of(struct ufs *fs, fuse_ino_t ino)
{
    return ufs_node_find(fs, ino);
}

/* resolve.c: what a name in a merged directory is. */
struct ufs_entry {
    int layer;                /* topmost layer of the object, -1 = none */
    struct stat st;           /* stat of the topmost object */
    int fd;                   /* O_PATH (non-dir) or dir fd of the topmost */
    int *dfd;                 /* dirs: per-layer dir fds (n_layers) */
    int bottom;
    bool lower;               /* some lower layer has the name (visible) */
    bool upper;               /* the name exists in the upper dir itself */
    bool upper_whiteout;      /* the upper has .wh.NAME (name hidden) */
    bool index;               /* data comes from work/index */
    nlink_t lower_nlink;      /* links of the lower original */
    dev_t odev;               /* identity of the lower original */
    ino_t oino;
    char *redirect;           /* dirs: upper redirect xattr */
    bool created;             /* made by this request: no security.capability */
};
void ufs_entry_release(struct ufs *fs, struct ufs_entry *e);
/* Resolves name in dir node d.  Returns 0 (e->layer -1 if absent) or errno. */
int ufs_resolve(struct ufs *fs, struct ufs_node *d, const char *name,
                struct ufs_entry *e);
/* Entry for a name this mount just created in upper dir pup: only the
 * upper matters, the lowers cannot show it (it was not visible before). */
int ufs_resolve_new(struct ufs *fs, int pup, const char *name, struct ufs_entry *e);
/* Turns a resolved entry into a node with a kernel reference. */
int ufs_entry_to_node(struct ufs *fs, struct ufs_node *parent, const char *name,
                      struct ufs_entry *e, struct ufs_node **out);
bool ufs_is_whiteout_stat(const struct stat *st);
bool ufs_dir_is_opaque(int dirfd);
bool ufs_name_reserved(const char *name);

/* attr.c: what stat the kernel sees. */
int ufs_node_stat(struct ufs *fs, struct ufs_node *n, struct stat *st);
void ufs_present_stat(struct ufs *fs, struct ufs_node *n, int fd, struct stat *st);
uid_t ufs_uid_to_host(struct ufs *fs, uid_t uid);
gid_t ufs_gid_to_host(struct ufs *fs, gid_t gid);
double ufs_timeout(struct ufs *fs, struct ufs_node *n);

/* override_stat.c: containers-storage's "uid:gid:mode[:type]" xattr. */
struct ufs_override {
    uid_t uid;
    gid_t gid;
    mode_t mode;   /* permission bits plus S_IFMT when a type was given */
    dev_t rdev;
};
int ufs_override_parse(const char *s, size_t len, struct ufs_override *ov);
int ufs_override_format(const struct ufs_override *ov, char *buf, size_t size);
/* Reads the xattr of the object behind an fd; opath: the fd is known to
 * be O_PATH (f*xattr would only fail), so /proc/self/fd at once.  0, or -1. */
int ufs_override_get(int fd, bool opath, struct ufs_override *ov);
int ufs_override_set(int fd, const struct ufs_override *ov);

/* copyup.c */
/* Makes sure node (and its parents) exist in the upper.  Returns errno. */
int ufs_copy_up(struct ufs *fs, struct ufs_node *n, bool with_data);
int ufs_copy_meta(struct ufs *fs, int src_fd, int dst_fd, const struct stat *st,
                  bool is_link, int dst_dir, const char *dst_name);
int ufs_tmp_name(struct ufs *fs, char *buf, size_t size);
/* Same, for callers already holding tree_lock (rename). */
int ufs_copy_up_held(struct ufs *fs, struct ufs_node *n, bool with_data);
/* Upper dir fd of a directory node (copying it up), or -errno. */
int ufs_upper_dir(struct ufs *fs, struct ufs_node *d);
int ufs_upper_dir_held(struct ufs *fs, struct ufs_node *d);
/* Would a copy-up of n move more than limit bytes?  Asked by the loop
 * before it serves a request; the stat is kept for this thread's copy-up
 * of n in the same request (ufs_copy_up_hint_clear before each request). */
bool ufs_copy_up_big(struct ufs *fs, struct ufs_node *n, off_t limit);
void ufs_copy_up_hint_clear(void);
/* Every change to the entries of an upper directory (create, unlink,
 * whiteouts; rename excepted, it holds tree_lock for writing) and to its
 * times happens between these, on the directory's node: a copy-up into
 * the directory puts its times back after its rename, and this keeps
 * another change from falling in between.  A leaf lock: take no other
 * lock inside, call no copy-up. */
void ufs_dir_change_begin(struct ufs_node *d);
void ufs_dir_change_end(struct ufs_node *d);

/* copyup.c: a lower hard-link set copied up lives in work/index; the
 * inode's xattr counts the names still shown from the lower. */
#define UFS_XATTR_LOWER_LINKS "user.strata.lower_links"
/* One lower name of node n's set leaves the view (unlink, replaced by a
 * rename, or turned into an upper name).  Returns errno. */
int ufs_lower_link_gone(struct ufs *fs, struct ufs_node *n);

/* util.c */
void ufs_proc_path(char *buf, size_t size, int fd);
int ufs_reopen(int fd, int flags);
/* chmod/utimensat of the object behind an (O_PATH) fd; -1 with errno. */
int ufs_chmod_fd(int fd, mode_t mode);
int ufs_utimens_fd(int fd, const struct timespec ts[2]);
/* The directory at path below layer root rootfd ("" = the root itself),
 * resolved without following any symlink, so a lower can never send us
 * outside itself.  -1 with errno on failure. */
int ufs_open_dir_beneath(int rootfd, const char *path);
/* A DIR stream on a duplicate of directory fd dfd (dfd stays open and
 * keeps its offset); NULL with errno on failure. */
DIR *ufs_opendir_at(int dfd);
/* Creates the OCI whiteout .wh.NAME in upper dir fd.  Returns errno. */
int ufs_make_whiteout(int dirfd, const char *name);
int ufs_unlink_whiteout(int dirfd, const char *name);
bool ufs_has_whiteout(int dirfd, const char *name);
int ufs_set_owner(struct ufs *fs, int fd, bool is_link, int dirfd, const char *name,
                  uid_t uid, gid_t gid, mode_t mode);
bool ufs_xattr_hidden(struct ufs *fs, const char *name);

/* readdir.c */
struct ufs_dirent {
    char *name;
    uint64_t ino;
    unsigned char type;
    uint64_t off;             /* dirlist: the entry's cookie (d_off) */
};
struct ufs_dir_snapshot {
    struct ufs_dirent *ents;
    size_t n, cap;
};
/* Lists the merged directory made of dfd[top..bottom]; whiteouts, opaque
 * markers and hidden names are left out.  with_ids fills ino from the id
 * map (readdir), else ino is 0 (emptiness checks). */
int ufs_dir_list(struct ufs *fs, const int *dfd, int top, int bottom,
                 struct ufs_dir_snapshot *s, bool with_ids);
void ufs_dir_snapshot_free(struct ufs_dir_snapshot *s);

/* A directory node's merged listing, shared by every reader (OPENDIR is
 * not sent, so there is no per-open state).  Each name gets a cookie when
 * first seen and keeps it while it stays; cookies only grow, so a reader
 * at any cookie neither repeats nor skips a name that stays. */
struct ufs_dirlist {
    pthread_mutex_t lock;     /* everything below; taken before d->lock */
    struct ufs_dirent *ents;  /* by increasing off */
    size_t n, cap;
    uint64_t next_off;
    bool built;
    bool read_once;           /* the node's dir fds were read: rewind them */
};
/* d's listing, made on first use. */
struct ufs_dirlist *ufs_dirlist_of(struct ufs_node *d);
void ufs_dirlist_free(struct ufs_dirlist *l);
/* Re-reads the layers of d (caller holds l->lock): names gone are dropped,
 * names new get the next cookies, the others keep theirs.  Returns errno. */
int ufs_dirlist_refresh(struct ufs *fs, struct ufs_node *d, struct ufs_dirlist *l);
/* Index of the first entry whose cookie is above off. */
size_t ufs_dirlist_seek(const struct ufs_dirlist *l, uint64_t off);

#endif
