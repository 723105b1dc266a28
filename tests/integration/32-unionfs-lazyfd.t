#!/bin/sh
# unionfs lazy fds: a lookup or readdirplus of a lower file opens nothing,
# its node opens the lower object where the lookup found it when first
# needed.  Each check changes that place through the mount (unlink, rename
# over, rename of the parent, removal of another hard link, copy-up) after
# the name was looked up and before the node's fd is needed.  As root,
# then as uid 65534 through fusermount3 (rootless the override xattr is
# read at lookup, so the fd is opened then: the same answers).
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v getfattr >/dev/null || skip_all "no getfattr (attr)"

xval() { getfattr --absolute-names --only-values -n user.t "$1" 2>&1; }

lazy() {
    mode=$1
    d=$T/$mode
    mkdir -p "$d/l/D" "$d/u" "$d/w" "$d/m"
    L=$d/l M=$d/m
    for f in x y v; do
        echo $f >"$L/$f"
        setfattr -n user.t -v $f "$L/$f" || skip_all "no user xattrs in $T"
    done
    echo f >"$L/D/f"
    echo h >"$L/ha" && ln "$L/ha" "$L/hb"
    ufs_mount "$M" "lowerdir=$L,upperdir=$d/u,workdir=$d/w"
    ok $? "$mode: mount"
    find "$M" -ls >/dev/null # every name looked up, nothing opened (ls -l would
    # ask for xattrs, which opens)

    exec 8<"$M/x"
    rm "$M/x"
    is "$(xval /dev/fd/8)" x "$mode: an open lower file unlinked: its node still finds the lower"
    is "$(cat <&8)" x "$mode: ... and reads it"
    exec 8<&-

    exec 8<"$M/y"
    echo new >"$M/n" && mv "$M/n" "$M/y"
    is "$(xval /dev/fd/8)" y "$mode: an open lower file renamed over: the same"
    is "$(cat "$M/y")" new "$mode: ... the name shows the new file"
    exec 8<&-

    mv "$M/D" "$M/E"
    is "$(cat "$M/E/f")" f "$mode: a file of a lower dir renamed after the lookup opens"

    rm "$M/ha"
    is "$(cat "$M/hb")" h "$mode: a hard link looked up, then its other name removed"

    chmod 600 "$M/v"
    is "$(stat -c %a "$M/v"):$(cat "$M/v"):$(xval "$M/v")" "600:v:v" \
        "$mode: copy-up (chmod) of a lower file never opened keeps data and xattrs"
    ufs_umount "$M"
    ufs_sanitizer_clean "$mode"
}

ufs_root_and_rootless lazy
