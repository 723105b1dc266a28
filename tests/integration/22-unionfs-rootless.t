#!/bin/sh
# unionfs rootless: the POSIX battery as uid 65534, mounted through the
# setuid fusermount3 (no user namespace), override_stat on: lowers carrying
# user.containers.override_stat present their recorded owner, mode and type;
# chmod is recorded.  (chown/mknod by container root: 23-unionfs-userns.t)
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v cc >/dev/null || skip_all "no C compiler for the helper"
if is_root && [ -z "${UFS_CHILD:-}" ]; then
    # the whole test runs unprivileged; its TAP stream is ours
    as_user env UFS_CHILD=1 sh "$0"
    exit $?
fi
command -v fusermount3 >/dev/null || skip_all "no fusermount3"

ufs_make_lowers "$T/a"
ufs_battery rootless

# lowers unpacked rootless: ownership and mode from the xattr
d=$T/o
mkdir -p "$d/l" "$d/u" "$d/w" "$d/m"
echo s >"$d/l/suid"
setfattr -n user.containers.override_stat -v "0:0:04755:file" "$d/l/suid"
mkdir "$d/l/rootdir"
setfattr -n user.containers.override_stat -v "0:0:0700:dir" "$d/l/rootdir"
: >"$d/l/tty"
setfattr -n user.containers.override_stat -v "0:5:0620:char-136-0" "$d/l/tty"
ufs_mount "$d/m" "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w,rootless_override"
is "$(stat -c %u:%g:%a "$d/m/suid")" 0:0:4755 "override_stat presents owner and setuid mode"
is "$(stat -c %u:%g:%a:%F "$d/m/rootdir")" "0:0:700:directory" "override_stat on a directory"
is "$(stat -c '%u:%g:%a:%F:%t,%T' "$d/m/tty")" "0:5:620:character special file:88,0" \
    "override_stat presents a device"
getfattr -n user.containers.override_stat "$d/m/suid" >/dev/null 2>&1
ok $((!$?)) "the override xattr itself is hidden"
mkdir "$d/m/newdir" && chmod 0500 "$d/m/newdir"
like "$(getfattr --only-values -n user.containers.override_stat "$d/u/newdir" 2>/dev/null)" \
    "^[0-9]+:[0-9]+:0?500:dir" "chmod is recorded in the upper's xattr"
is "$(stat -c %a "$d/m/newdir")" 500 "chmod 0500 of a new dir is presented"
is "$(stat -c %a "$d/u/newdir")" 700 "the real dir keeps owner access for the daemon"
ufs_umount "$d/m"

# strata-unionfs finds override mode on its own when a lower root has the xattr
setfattr -n user.containers.override_stat -v "0:0:0755:dir" "$d/l"
ufs_mount "$d/m" "lowerdir=$d/l"
is "$(stat -c %u:%g:%a "$d/m/suid")" 0:0:4755 "override mode auto-detected from the lower root"
ufs_umount "$d/m"

done_testing
