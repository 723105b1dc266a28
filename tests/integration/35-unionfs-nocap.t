#!/bin/sh
# unionfs per-file work of a create (the untar workload): a node knows
# when it has no security.capability (made by a create through the mount,
# or answered so once) and the kernel's GETXATTR of it before a first write
# and at each chown costs no syscall; CREATE in a directory nothing merges
# below trusts O_EXCL; SETATTR replies reuse the stat taken for killpriv.
# Each check changes what such knowledge says, through the mount, and reads
# it back: setcap/setfattr after a create, after an absence was answered
# (lower file: copy-up), removal then a new set, through a hard link and
# after the kernel forgot the node; a create over a whiteout; a chown after
# utimes.  As root (passthrough), root with passthrough=off, and rootless
# (uid 65534 via fusermount3, where security.* cannot be set: the absence
# is answered and a refused set changes nothing).
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v getfattr >/dev/null || skip_all "no getfattr (attr)"

# cap F: the security.capability xattr of F as getfattr shows it (hex), or
# "none"
cap() {
    v=$(getfattr --absolute-names -e hex --only-values -n security.capability "$1" 2>/dev/null) ||
        v=none
    echo "$v"
}
xval() { getfattr --absolute-names --only-values -n user.t "$1" 2>/dev/null || echo none; }
# caps F: what getcap shows ("" when none)
caps() { getcap "$1" | sed 's/^[^ ]* //'; }

nocap() {
    mode=$1
    d=$T/$mode
    L=$d/l U=$d/u M=$d/m
    mkdir -p "$L/D" "$U" "$d/w" "$M"
    chmod 0755 "$d" "$L" "$U"
    echo lower >"$L/lf"
    echo gone >"$L/D/wh"
    echo withcap >"$L/lc"
    mkdir "$L/E" && echo e >"$L/E/x" && setfattr -n user.t -v lx "$L/E/x"
    echo p >"$U/pre"
    setfattr -n user.t -v u "$U/pre" || skip_all "no user xattrs in $T"
    echo withcap >"$U/upc"
    if is_root && command -v setcap >/dev/null; then
        setcap cap_net_raw+ep "$L/lc" && setcap cap_net_raw+ep "$U/upc"
    fi
    opts=$(ufs_mode_opts "$mode" "lowerdir=$L,upperdir=$U,workdir=$d/w")
    ufs_mount "$M" "$opts"
    ok $? "$mode: mount"

    mkdir "$M/new" && echo a >"$M/new/f"
    is "$(cap "$M/new/f")" none "$mode: a file created through the mount has no security.capability"
    echo b >>"$M/new/f"
    is "$(cat "$M/new/f")" "a
b" "$mode: ... and is written"

    # a create over a whiteout in a merged directory: the whiteout goes
    rm "$M/D/wh" && echo back >"$M/D/wh"
    is "$(cat "$M/D/wh"):$(ls -A "$U/D" | tr '\n' ' ')" "back:wh " \
        "$mode: a create over a whiteout shows the new file and drops the whiteout"
    set -C
    ! (echo x >"$M/new/f") 2>/dev/null
    ok $? "$mode: an exclusive create of an existing name fails"
    set +C

    # xattrs of upper objects are read by name in the parent (getxattrat)
    # or through a directory's fd: a file the mount did not create, after
    # a rename, after the name its node knew is gone, a directory
    is "$(xval "$M/pre")" u "$mode: an upper file's xattr"
    mv "$M/pre" "$M/pre2"
    is "$(xval "$M/pre2")" u "$mode: ... after a rename"
    ln "$M/pre2" "$M/pre3" && rm "$M/pre2"
    is "$(xval "$M/pre3")" u "$mode: ... through a hard link after the first name went"
    echo other >"$M/pre2"
    is "$(xval "$M/pre2")" "none" "$mode: a new file at the old name has none"
    setfattr -n user.t -v dv "$M/new"
    is "$(xval "$M/new")" dv "$mode: a directory's xattr"
    # a lower file's by its lookup's place, before and after that moves
    is "$(xval "$M/E/x")" lx "$mode: a lower file's xattr"
    mv "$M/E" "$M/F"
    is "$(xval "$M/F/x")" lx "$mode: ... after its directory was renamed"
    mv "$M/F/x" "$M/F/y"
    is "$(xval "$M/F/y")" lx "$mode: ... after it was renamed (copied up)"

    # the SETATTR reply: a chown after utimes keeps the times
    touch -m -d @1000000000 "$M/new/f"
    if is_root; then chown 2:3 "$M/new/f"; else chown ":$(id -g)" "$M/new/f"; fi
    want=$(is_root && echo "2:3" || echo "$(id -u):$(id -g)")
    is "$(stat -c '%Y %u:%g' "$M/new/f")" "1000000000 $want" "$mode: a chown after utimes: times and owner"

    if ! is_root || ! command -v setcap >/dev/null; then
        ! setfattr -n security.capability -v 0x01 "$M/new/f" 2>/dev/null
        ok $? "$mode: security.capability cannot be set here"
        is "$(cap "$M/new/f")" none "$mode: ... and stays absent"
        is "$(cap "$M/lf")" none "$mode: a lower file without one"
        ufs_umount "$M"
        ufs_sanitizer_clean "$mode"
        return
    fi

    setcap cap_net_raw+ep "$M/new/f"
    like "$(caps "$M/new/f")" "cap_net_raw" "$mode: setcap on a file created through the mount is seen"
    like "$(caps "$U/new/f")" "cap_net_raw" "$mode: ... in the upper too"
    setcap -r "$M/new/f"
    is "$(cap "$M/new/f")" none "$mode: setcap -r: gone"
    setcap cap_sys_time+ep "$M/new/f"
    like "$(caps "$M/new/f")" "cap_sys_time" "$mode: set again after a removal"

    like "$(caps "$M/upc")" "cap_net_raw" "$mode: an upper file with one the mount did not create"

    # an absence answered for a lower file, then a copy-up and a set
    is "$(cap "$M/lf")" none "$mode: a lower file without one"
    setcap cap_net_raw+ep "$M/lf"
    like "$(caps "$M/lf")" "cap_net_raw" "$mode: setcap on it (copy-up) is seen"
    like "$(caps "$M/lc")" "cap_net_raw" "$mode: a lower file with one shows it"

    # a hard link of a created file: one node, one answer
    echo h >"$M/new/h" && ln "$M/new/h" "$M/new/h2"
    is "$(cap "$M/new/h2")" none "$mode: a hard link of a created file: none"
    setcap cap_chown+ep "$M/new/h2"
    like "$(caps "$M/new/h")" "cap_chown" "$mode: setcap through one name is seen through the other"
    echo h >"$M/new/k" && setcap cap_chown+ep "$M/new/k"
    sync && echo 2 >/proc/sys/vm/drop_caches
    ln "$M/new/k" "$M/new/k2"
    like "$(caps "$M/new/k2")" "cap_chown" "$mode: a link made after the kernel forgot the node shows it"
    mv "$M/new/k2" "$M/new/k3"
    like "$(caps "$M/new/k3")" "cap_chown" "$mode: ... and after a rename"

    # a write as root drops it (the kernel, on the upper) and says so
    echo more >>"$M/new/k3"
    is "$(cap "$M/new/k"):$(cap "$U/new/k")" "none:none" "$mode: a write drops it (mount, upper)"
    setcap cap_net_raw+ep "$M/new/k"
    like "$(caps "$M/new/k3")" "cap_net_raw" "$mode: set again after the write dropped it"

    # a reader of a created file keeps it open while it changes
    echo r1 >"$M/new/r"
    exec 8<"$M/new/r"
    chmod 600 "$M/new/r" && echo r2 >>"$M/new/r"
    is "$(cat <&8)" "r1
r2" "$mode: a reader of a created file sees a write after a chmod"
    exec 8<&-
    ufs_umount "$M"
    ufs_sanitizer_clean "$mode"
}

ufs_root_and_rootless nocap root nopt
