#!/bin/sh
# Rootless id maps: a caller listed in /etc/subuid and /etc/subgid is mapped
# to root plus its subordinate range through newuidmap/newgidmap (so chown
# to other ids works inside, as with podman); a caller without ranges gets
# the single mapping.  Needs root to make a throwaway user and ranges; the
# user and the range lines are removed again, even on failure.
. "$STRATA_SRC/tests/lib.sh"

is_root || skip_all "needs root to create a test user with subordinate ranges"
command -v busybox >/dev/null || skip_all "busybox-static is not installed"
command -v newuidmap >/dev/null && command -v newgidmap >/dev/null ||
    skip_all "newuidmap/newgidmap missing (Debian's uidmap)"
command -v useradd >/dev/null || skip_all "useradd missing"

R=$T/rootfs
make_busybox_rootfs "$R"
mkdir -p "$R/scratch"
touch "$R/etc/hostname" "$R/etc/hosts" "$R/etc/resolv.conf"
chmod -R a+rX "$R"

# a name no other run of this test (or anyone) uses; the range well away
# from what useradd hands out by default (100000 + 65536*k)
NAME=strsub$$
START=$((700000000 + ($$ % 1000) * 65536))
for f in /etc/subuid /etc/subgid; do
    [ -e "$f" ] || { touch "$f"; at_cleanup "[ -s '$f' ] || rm -f '$f'"; }
    cp "$f" "$T/$(basename "$f").before"
done
remove_user() {
    userdel "$NAME" 2>/dev/null
    sed -i "/^$NAME:/d" /etc/subuid /etc/subgid
}
at_cleanup remove_user
# no automatic ranges: the test writes its own
useradd -M -d /nonexistent -s /usr/sbin/nologin -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$NAME"
ok $? "create the test user $NAME"
U=$(id -u "$NAME")
G=$(id -g "$NAME")
echo "$NAME:$START:65536" >> /etc/subuid
echo "$NAME:$START:65536" >> /etc/subgid

H=$T/subhome
mkdir -p "$H"
chown "$U:$G" "$H"
as_sub() {
    setpriv --reuid="$U" --regid="$G" --init-groups \
        env HOME="$H" XDG_RUNTIME_DIR="$H/run" STRATA_ROOT="$H/store" "$@"
}
r() { as_sub "$STRATA" run --rm --rootfs "$R" "$@"; }

run r sh -c 'cat /proc/self/uid_map'
is "$(echo $out)" "0 $U 1 1 $START 65536" "subuid: the caller is root inside, then the 65536 range"
run r sh -c 'cat /proc/self/gid_map'
is "$(echo $out)" "0 $G 1 1 $START 65536" "subgid: the caller's group is 0, then the 65536 range"
run r --tmpfs /scratch sh -c 'touch /scratch/f && chown 1000:1000 /scratch/f && stat -c %u:%g /scratch/f'
is "$out" "1000:1000" "subuid: chown 1000:1000 inside works and shows 1000"
run r -u app sh -c 'echo $(id -u):$(id -g)'
is "$out" "1000:1000" "subuid: -u app (uid 1000) is mapped"

# an image (union root): the owner lands on the host as START+999
run as_sub "$STRATA" import "$R" subbb
is "$rc" 0 "subuid: import an image"
run as_sub "$STRATA" run --name sub_c subbb sh -c 'touch /f && chown 1000:1000 /f && stat -c %u:%g /f'
at_cleanup "as_sub '$STRATA' rm -f sub_c"
is "$out" "1000:1000" "subuid: chown in an image's container layer"

# a caller without ranges: the single mapping, as before
run as_user "$STRATA" run --rm --rootfs "$R" cat /proc/self/uid_map
is "$(echo $out)" "0 $TEST_UID 1" "no ranges: a single mapping of the caller"
run as_user "$STRATA" run --rm --rootfs "$R" --tmpfs /scratch sh -c 'touch /scratch/f; chown 1000:1000 /scratch/f'
ok $((rc == 0)) "no ranges: chown to an unmapped id fails"

as_sub "$STRATA" rm -f sub_c >/dev/null 2>&1
remove_user
ok $(! id "$NAME" >/dev/null 2>&1; echo $?) "the test user is removed"
cmp -s /etc/subuid "$T/subuid.before" && cmp -s /etc/subgid "$T/subgid.before"
ok $? "/etc/subuid and /etc/subgid are as before"
done_testing
