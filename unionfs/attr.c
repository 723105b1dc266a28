/* The attributes the kernel sees: the topmost object's stat with the
 * mount's inode number, the containers-storage ownership override, id
 * mapping and squashing applied. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "unionfs/internal.h"

static unsigned map_id(const struct ufs_idmap_range *m, size_t n, unsigned id, bool to_host)
{
    if (!n)
        return id;
    for (size_t i = 0; i < n; i++) {
        unsigned from = to_host ? m[i].container : m[i].host;
        unsigned to = to_host ? m[i].host : m[i].container;
        if (id >= from && id - from < m[i].count)
            return to + (id - from);
    }
    return 65534; /* the overflow id, as the kernel shows unmapped ids */
}

uid_t ufs_uid_to_host(struct ufs *fs, uid_t uid)
{
    return map_id(fs->o.uidmap, fs->o.n_uidmap, uid, true);
}

gid_t ufs_gid_to_host(struct ufs *fs, gid_t gid)
{
    return map_id(fs->o.gidmap, fs->o.n_gidmap, gid, true);
}

void ufs_present_stat(struct ufs *fs, struct ufs_node *n, int fd, struct stat *st)
{
    if (fs->o.rootless_override && !S_ISLNK(st->st_mode)) {
        struct ufs_override ov;
        /* a non-directory node's fd is O_PATH */
        if (ufs_override_get(fd, n && !n->dfd, &ov) == 0) {
            st->st_uid = ov.uid;
            st->st_gid = ov.gid;
            mode_t type = (ov.mode & S_IFMT) ? (ov.mode & S_IFMT) : (st->st_mode & S_IFMT);
            st->st_mode = type | (ov.mode & 07777);
            if (S_ISCHR(type) || S_ISBLK(type))
                st->st_rdev = ov.rdev;
        }
    }
    st->st_uid = map_id(fs->o.uidmap, fs->o.n_uidmap, st->st_uid, false);
    st->st_gid = map_id(fs->o.gidmap, fs->o.n_gidmap, st->st_gid, false);
    if (fs->o.squash_to_root) {
        st->st_uid = 0;
        st->st_gid = 0;
    }
    if (n) {
        st->st_ino = n->ino;
        if (n->dfd) {
            /* A merged directory's link count cannot be known without
             * listing every layer; 1 tells find(1) not to trust it, as
             * kernel overlayfs does. */
            int layers = 0;
            for (int i = n->layer; i <= n->bottom; i++)
                layers += n->dfd[i] >= 0;
            if (layers > 1)
                st->st_nlink = 1;
        } else if (S_ISREG(n->type) && (n->index || (n->layer == 0 && st->st_nlink > 1))) {
            /* A copied-up lower hard-link set: one link of the inode is
             * work/index's, and the lower names still shown count as
             * links of it too (the inode's xattr keeps their number; an
             * upper name reached first has no n->index, hence the look). */
            char path[64], v[32];
            ufs_proc_path(path, sizeof path, fd);
            ssize_t len = getxattr(path, UFS_XATTR_LOWER_LINKS, v, sizeof v - 1);
            nlink_t up = st->st_nlink > 1 ? st->st_nlink - 1 : 0;
            if (len > 0) {
                v[len] = 0;
                st->st_nlink = up + (nlink_t)strtoull(v, NULL, 10);
            } else if (n->index) {
                /* an index made before the count was kept */
                st->st_nlink = up + (n->lower_nlink > 1 ? n->lower_nlink - 1 : 0);
            }
        }
    }
}

int ufs_node_stat(struct ufs *fs, struct ufs_node *n, struct stat *st)
{
    pthread_mutex_lock(&n->lock);
    int fd = n->dfd ? n->dfd[n->layer] : ufs_node_pfd(fs, n);
    int r = fstat(fd, st);
    int saved = errno;
    if (r == 0)
        ufs_present_stat(fs, n, fd, st);
    pthread_mutex_unlock(&n->lock);
    return r < 0 ? saved : 0;
}

/* Every change goes through this mount, and the kernel keeps its own
 * caches coherent with the replies to those changes; lowers never change.
 * So entries and attributes are cached for a day. */
double ufs_timeout(struct ufs *fs, struct ufs_node *n)
{
    (void)fs;
    (void)n;
    return 86400.0;
}
