#!/bin/sh
# strata-unionfs as containers-storage's mount_program, for real: podman
# with a private storage root, overlay driver, mount_program pointing at a
# wrapper that records its command line and runs strata-unionfs.  Import a
# busybox tar, create and mount a container (no `podman run`: the sandbox's
# rlimits break it), read from the lower, write, delete and copy up through
# the mount, unmount, and check the container's diff dir, podman diff, and a
# commit of it mounted again.  As root (rootless podman needs subuids).
. "$STRATA_SRC/tests/lib.sh"

is_root || skip_all "needs root"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v podman >/dev/null || skip_all "no podman"

make_busybox_tar "$T/bb.tar" >/dev/null 2>&1 || skip_all "cannot make a busybox rootfs"

cat >"$T/mount_program" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$T/args"
exec "$STRATA_UNIONFS" "\$@"
EOF
chmod +x "$T/mount_program"

# everything podman keeps goes under $T; mounts under it are undone first
P="podman --root $T/root --runroot $T/run --tmpdir $T/tmp --events-backend none
   --cgroup-manager cgroupfs --storage-driver overlay
   --storage-opt overlay.mount_program=$T/mount_program"
export CONTAINERS_STORAGE_CONF="$T/storage.conf" CONTAINERS_CONF="$T/containers.conf"
cat >"$T/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$T/run"
graphroot = "$T/root"
[storage.options.overlay]
mount_program = "$T/mount_program"
EOF
: >"$T/containers.conf"
at_cleanup "rm -rf '$T/root' '$T/run' '$T/tmp'"
at_cleanup "grep -o ' $T/[^ ]*' /proc/mounts | sort -r | while read -r m; do umount -l \"\$m\"; done"
at_cleanup "$P rm -af; $P rmi -af"

# waits until MNT is no longer a mount (the daemon exits after unmount)
gone() {
    for _ in $(seq 50); do grep -q " $1 " /proc/mounts || return 0; sleep 0.1; done
    return 1
}

# MNT must be a strata-unionfs mount podman made under $T, else the test
# stops: nothing may ever write through an empty or foreign path
mounted_or_bail() {
    case $1 in
    "$T"/root/*/merged) grep -q " $1 fuse" /proc/mounts && return 0 ;;
    esac
    diag "$(cat "$T/err" 2>/dev/null)"
    fail "$2: no strata-unionfs mount under the test's storage ('$1'); stopping"
    done_testing
    exit 1
}

$P import "$T/bb.tar" localhost/strata-ufs-test:1 >"$T/out" 2>&1
ok $? "podman import of a busybox tar" || diag "$(cat "$T/out")"
cid=$($P create localhost/strata-ufs-test:1 /bin/sh 2>"$T/err")
ok $? "podman create" || diag "$(cat "$T/err")"
mnt=$($P mount "$cid" 2>"$T/err")
ok $? "podman mount" || diag "$(cat "$T/err")"
mounted_or_bail "$mnt" "podman mount"
like "$(cat "$T/args" 2>/dev/null)" "lowerdir=[^,]+,upperdir=[^,]+/diff,workdir=[^,]+/work" \
    "containers-storage ran the mount program with fuse-overlayfs's options"
like "$(grep " $mnt " /proc/mounts)" "fuse.strata-unionfs" "the container is mounted by strata-unionfs"

like "$(cat "$mnt/etc/passwd" 2>&1)" "^root:x:0:0:" "a lower file reads through the mount"
test -x "$mnt/bin/busybox"
ok $? "the lower's binaries are there"
echo hello >"$mnt/hello.txt" && echo extra >>"$mnt/etc/passwd" && rm "$mnt/bin/ls"
ok $? "write a new file, append to a lower file, delete a lower file"
diffs=$($P diff "$cid" 2>&1 | sort | tr '\n' ' ')
is "$diffs" "A /hello.txt C /bin C /etc C /etc/passwd D /bin/ls " "podman diff reads the upper (OCI whiteouts)"

$P umount "$cid" >"$T/out" 2>&1
ok $? "podman umount" || diag "$(cat "$T/out")"
gone "$mnt"
ok $? "the mount is gone"
diff=$($P inspect --format '{{.GraphDriver.Data.UpperDir}}' "$cid")
case $diff in "$T"/root/*/diff) ;; *) diff=$T/no-diff-dir ;; esac
is "$(cat "$diff/hello.txt" 2>&1)" hello "the new file landed in the container's diff dir"
is "$(tail -1 "$diff/etc/passwd" 2>&1)" extra "the copied-up file is in the diff dir"
test -e "$diff/bin/.wh.ls"
ok $? "the deletion is an OCI whiteout in the diff dir"

# the diff as a layer of a new image, mounted again
$P commit -q "$cid" localhost/strata-ufs-test:2 >"$T/out" 2>&1
ok $? "podman commit" || diag "$(cat "$T/out")"
cid2=$($P create localhost/strata-ufs-test:2 /bin/sh 2>"$T/err")
mnt2=$($P mount "$cid2" 2>"$T/err")
ok $? "mount a container of the committed image" || diag "$(cat "$T/err")"
mounted_or_bail "$mnt2" "mount of the committed image"
is "$(cat "$mnt2/hello.txt" 2>&1):$(tail -1 "$mnt2/etc/passwd"):$(test -e "$mnt2/bin/ls" && echo ls)" \
    "hello:extra:" "it shows the committed changes over two lowers"
$P umount "$cid2" >/dev/null 2>&1
gone "$mnt2"
ok $? "unmounted again"

$P rm "$cid" "$cid2" >"$T/out" 2>&1
ok $? "podman rm" || diag "$(cat "$T/out")"
test ! -e "$diff"
ok $? "the container's storage is gone"
$P rmi -af >/dev/null 2>&1
is "$(grep -c " $T/" /proc/mounts)" 0 "no mounts left under the test's storage"

done_testing
