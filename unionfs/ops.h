/* The FUSE op tables, split by file; fs.c assembles them. */
#ifndef STRATA_UNIONFS_OPS_H
#define STRATA_UNIONFS_OPS_H

#include "unionfs/internal.h"

void ufs_ops_entry(struct fuse_lowlevel_ops *ops);
void ufs_ops_dir(struct fuse_lowlevel_ops *ops);
void ufs_ops_file(struct fuse_lowlevel_ops *ops);

int ufs_fill_entry(struct ufs *fs, struct ufs_node *n, struct fuse_entry_param *e);
void ufs_fill_entry_st(struct ufs *fs, struct ufs_node *n, const struct stat *st,
                       struct fuse_entry_param *e);
int ufs_lookup_reply(fuse_req_t req, struct ufs *fs, struct ufs_node *p, const char *name);
/* Replies with the entry of a name just created in p's upper dir pup. */
int ufs_new_entry_reply(fuse_req_t req, struct ufs *fs, struct ufs_node *p, int pup,
                        const char *name);
int ufs_node_fd(struct ufs *fs, struct ufs_node *n, bool *is_dir);
/* Gives a just-created object the requesting process's ids (and, in
 * override mode, records ids/mode the real file cannot carry). */
int ufs_new_owner(fuse_req_t req, struct ufs *fs, int dirfd, const char *name, mode_t mode,
                  dev_t rdev);

/* Killpriv (ufs_pt_req_kill): drops suid, and sgid when group-exec, from
 * regular file n (in the upper) as the kernel does on a write, truncate or
 * chown by a caller without CAP_FSETID.  errno; *changed when it did;
 * else st (if not NULL) gets the node's stat, which it took. */
int ufs_kill_suidgid(struct ufs *fs, struct ufs_node *n, bool *changed, struct stat *st);
/* Same, from a request whose reply carries no attributes: the kernel's
 * cached mode is invalidated when it changed. */
void ufs_kill_suidgid_notify(struct ufs *fs, struct ufs_node *n);

#endif
