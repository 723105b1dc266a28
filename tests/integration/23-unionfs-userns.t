#!/bin/sh
# unionfs in a user namespace, as rootless containers run it: the test runs
# as root of a new user namespace mapping 65536 ids (host 200000+, no
# privilege outside), the kernel FUSE mount is the namespace's own, and
# chown by container root is recorded in user.containers.override_stat in
# the upper and presented back.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v cc >/dev/null || skip_all "no C compiler for the helper"
if [ -z "${UFS_CHILD:-}" ]; then
    is_root || skip_all "needs root to set up the user namespace's id map"
    command -v unshare >/dev/null || skip_all "no unshare"
    # a mapping written before the first unshare'd exec would be lost: the
    # helper unshares, has its parent write the maps, then becomes the
    # namespace's root (host uid 200000) and runs this test again
    ufs_helper userns 200000 env UFS_CHILD=1 HOME=/tmp sh "$0"
    rc=$?
    [ $rc -eq 3 ] && skip_all "cannot map ids into a user namespace"
    exit $rc
fi

ufs_make_lowers "$T/a"
ufs_battery userns

d=$T/o
mkdir -p "$d/l" "$d/u" "$d/w" "$d/m"
echo s >"$d/l/suid"
setfattr -n user.containers.override_stat -v "0:0:04755:file" "$d/l/suid"
ufs_mount "$d/m" "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w,rootless_override"
is "$(stat -c %u:%g:%a "$d/m/suid")" 0:0:4755 "override_stat presents the lower's owner and mode"
chown 33:44 "$d/m/suid"
like "$(getfattr --only-values -n user.containers.override_stat "$d/u/suid" 2>/dev/null)" \
    "^33:44:0?[0-7]*755:file" "chown by container root is recorded in the upper's xattr"
is "$(stat -c %u:%g "$d/m/suid")" 33:44 "and presented"
is "$(stat -c %u "$d/u/suid")" 0 "the real file keeps the namespace root's owner"
chmod 0750 "$d/m/suid"
like "$(getfattr --only-values -n user.containers.override_stat "$d/u/suid" 2>/dev/null)" \
    "^33:44:0?750:file" "chmod is recorded too"
ufs_umount "$d/m"

done_testing
