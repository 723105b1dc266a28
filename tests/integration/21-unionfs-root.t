#!/bin/sh
# unionfs as root: the POSIX battery, kernel-overlay whiteouts and markers
# (0/0 char devices, trusted.overlay.opaque), trusted.* and
# security.capability xattrs, ownership, read-only mounts, mount.fuse3.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

is_root || skip_all "needs root"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v cc >/dev/null || skip_all "no C compiler for the helper"

ufs_make_lowers "$T/a"
ufs_battery root

# kernel overlayfs forms in a lower: 0/0 char device whiteout, trusted.overlay.opaque
d=$T/k
mkdir -p "$d/l1/o" "$d/l2/o" "$d/u" "$d/w" "$d/m"
echo gone >"$d/l2/devwh"
mknod "$d/l1/devwh" c 0 0
echo a >"$d/l2/o/a"
echo b >"$d/l1/o/b"
setfattr -n trusted.overlay.opaque -v y "$d/l1/o"
echo own >"$d/l2/owned"
chown 1000:1001 "$d/l2/owned"
echo cap >"$d/l2/capf"
setcap cap_net_raw+ep "$d/l2/capf"
ufs_mount "$d/m" "lowerdir=$d/l1:$d/l2,upperdir=$d/u,workdir=$d/w"
test ! -e "$d/m/devwh" && ! ls "$d/m" | grep -q devwh
ok $? "0/0 character device whiteout hides the name"
is "$(ls "$d/m/o")" b "trusted.overlay.opaque hides lower entries"
is "$(stat -c %u:%g "$d/m/owned")" 1000:1001 "ownership of lower files is shown"
chmod 604 "$d/m/owned"
is "$(stat -c %u:%g:%a "$d/u/owned")" 1000:1001:604 "copy-up keeps the owner"
setfattr -n trusted.t -v tv "$d/m/owned"
is "$(getfattr --only-values -n trusted.t "$d/m/owned" 2>/dev/null)" tv "trusted.* xattr as root"
like "$(getcap "$d/m/capf")" "cap_net_raw[=+]ep" "security.capability visible"
setfattr -n user.x -v 1 "$d/m/capf"
like "$(getcap "$d/u/capf")" "cap_net_raw[=+]ep" "copy-up keeps security.capability"
setcap cap_chown+ep "$d/m/owned"
like "$(getcap "$d/m/owned")" "cap_chown[=+]ep" "set security.capability through the mount"
su nobody -s /bin/sh -c "cat '$d/m/owned'" >/dev/null 2>&1
ok $? "other users can read (allow_other, default_permissions)"
su nobody -s /bin/sh -c "echo x >>'$d/m/owned'" 2>/dev/null
ok $((!$?)) "permissions are enforced for other users"
ufs_umount "$d/m"

# id presentation options
ufs_mount "$d/m" "lowerdir=$d/l1:$d/l2,squash_to_root"
is "$(stat -c %u:%g "$d/m/owned")" 0:0 "squash_to_root shows every file as 0:0"
ufs_umount "$d/m"
ufs_mount "$d/m" "lowerdir=$d/l1:$d/l2,uidmapping=0:1000:2,gidmapping=0:1000:2"
is "$(stat -c %u:%g "$d/m/owned")" 0:1 "uidmapping/gidmapping map stored ids into the mount"
ufs_umount "$d/m"

# directory link counts: a merged dir says 1 (unknown, as overlayfs), a
# single-layer one has its real count
mkdir -p "$d/l1/mg/a" "$d/l2/mg/b" "$d/l2/solo/s1" "$d/l2/solo/s2"
ufs_mount "$d/m" "lowerdir=$d/l1:$d/l2"
is "$(stat -c %h "$d/m/mg")" 1 "merged directory nlink is 1"
is "$(stat -c %h "$d/m/o")" 2 "an opaque directory is not merged: real nlink"
is "$(stat -c %h "$d/m/solo")" 4 "single-layer directory nlink counts its subdirs"
ufs_umount "$d/m"

# forget is honoured: once the kernel drops its inodes, the daemon closes
# the fds it held for them
mkdir -p "$d/many"
for i in $(seq 1 300); do : >"$d/many/f$i"; done
"$STRATA_UNIONFS" -f -o "lowerdir=$d/many" "$d/m" &
fpid=$!
at_cleanup "umount -l '$d/m' 2>/dev/null"
for _ in $(seq 100); do grep -q " $d/m fuse" /proc/mounts && break; sleep 0.05; done
ls -l "$d/m" >/dev/null
held=$(ls "/proc/$fpid/fd" | wc -l)
sync
echo 2 >/proc/sys/vm/drop_caches
sleep 0.5
after=$(ls "/proc/$fpid/fd" | wc -l)
ok $((!(held >= 300 && after < 100))) "forget releases nodes ($held fds after a walk, $after after the kernel dropped its inodes)"
umount "$d/m"
wait $fpid

# no upper: read-only
ufs_mount "$d/m" "lowerdir=$d/l1:$d/l2"
is "$(cat "$d/m/o/b")" b "read-only mount reads"
run touch "$d/m/new"
like "$out" "Read-only file system" "read-only mount refuses writes with EROFS"
ufs_umount "$d/m"

# mount(8) through mount.fuse3: `-t fuse` with the program's full path, and
# `-t fuse.strata-unionfs`, for which mount(8) searches its own fixed PATH
# (/usr/local/sbin first): a symlink there for the test if none exists
if command -v mount.fuse3 >/dev/null; then
    mount -t fuse -o "lowerdir=$d/l1:$d/l2,upperdir=$d/u,workdir=$d/w" \
        "$STRATA_UNIONFS#strata" "$d/m"
    ok $? "mount -t fuse PROGRAM#source (mount.fuse3)"
    at_cleanup "umount -l '$d/m' 2>/dev/null"
    is "$(cat "$d/m/o/b" 2>&1)" b "mount.fuse3 mount serves the union"
    umount "$d/m"
    link=/usr/local/sbin/strata-unionfs
    if [ ! -e "$link" ] && mkdir -p /usr/local/sbin && ln -s "$STRATA_UNIONFS" "$link"; then
        at_cleanup "rm -f '$link'"
        mount -t fuse.strata-unionfs -o "lowerdir=$d/l1:$d/l2,upperdir=$d/u,workdir=$d/w" \
            strata "$d/m"
        ok $? "mount -t fuse.strata-unionfs"
        like "$(grep " $d/m " /proc/mounts)" "fuse.strata-unionfs" "listed as fuse.strata-unionfs"
        is "$(cat "$d/m/o/b" 2>&1)" b "it serves the union"
        umount "$d/m"
        ok $? "umount"
        rm -f "$link"
    else
        skip "$link exists: not replacing an installed strata-unionfs"
    fi
else
    skip "mount.fuse3 not installed"
fi

done_testing
