#!/bin/sh
# unionfs hard links: st_nlink and st_ino of every name of a hard-link set
# after unlink, link and rename, for sets that are only in a lower, sets
# copied up through one name (work/index), and sets made in the upper; the
# counts survive a remount and a flatten.  As root, then as uid 65534
# through fusermount3.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v cc >/dev/null || skip_all "no C compiler for the helper"

# nlink_ino NAME...: "nlink:ino" of each name, space separated
nlink_ino() {
    for f in "$@"; do printf '%s ' "$(stat -c %h:%i "$f" 2>&1)"; done
}

# same_set N NAME...: every name has nlink N and one inode number
same_set() {
    want=$1
    shift
    ino=$(stat -c %i "$1")
    exp=""
    for _ in "$@"; do exp="$exp$want:$ino "; done
    printf '%s|%s' "$(nlink_ino "$@")" "$exp"
}

check_set() { # check_set N DESC NAME...
    n=$1 desc=$2
    shift 2
    r=$(same_set "$n" "$@")
    is "${r%%|*}" "${r#*|}" "$desc"
}

hardlinks() {
    mode=$1
    d=$T/$mode
    mkdir -p "$d/l/sub" "$d/u" "$d/w" "$d/m"
    L=$d/l M=$d/m
    echo a >"$L/a" && ln "$L/a" "$L/b" && ln "$L/a" "$L/c"
    echo p >"$L/p" && ln "$L/p" "$L/q" && ln "$L/p" "$L/sub/r"
    echo s >"$L/s1" && ln "$L/s1" "$L/s2" && ln "$L/s1" "$L/s3"
    echo t >"$L/t1" && ln "$L/t1" "$L/t2"
    echo x >"$L/x1" && ln "$L/x1" "$L/x2"
    opts="lowerdir=$L,upperdir=$d/u,workdir=$d/w"
    ufs_mount "$M" "$opts"
    ok $? "$mode: mount"
    # the daemon knows a set by the name it first saw: not the one renamed
    stat "$M/s1" "$M/x2" >/dev/null

    # a set only in the lower: unlink one name
    check_set 3 "$mode: a lower 3-name set: nlink 3, one inode" "$M/a" "$M/b" "$M/c"
    ino_a=$(stat -c %i "$M/a")
    rm "$M/b"
    check_set 2 "$mode: unlink one lower name: the others say nlink 2" "$M/a" "$M/c"
    is "$(stat -c %i "$M/c")" "$ino_a" "$mode: and keep their inode number"
    touch "$M/c" # setattr: the attributes come fresh from the daemon
    check_set 2 "$mode: still nlink 2 as the daemon reports it" "$M/a" "$M/c"
    echo more >>"$M/a"
    is "$(cat "$M/c")" "a
more" "$mode: written through one name, read through the other"
    ln "$M/c" "$M/n"
    check_set 3 "$mode: link a new name: nlink 3 everywhere" "$M/a" "$M/c" "$M/n"
    is "$(stat -c %i "$M/n")" "$ino_a" "$mode: the new name shares the inode"
    is "$(stat -c %h "$L/a")" 3 "$mode: the lower set is untouched"

    # a set copied up through one name, then names removed
    echo more >>"$M/p"
    check_set 3 "$mode: copied up through one name: still nlink 3" "$M/p" "$M/q" "$M/sub/r"
    rm "$M/q"
    check_set 2 "$mode: unlink a lower name of a copied-up set" "$M/p" "$M/sub/r"
    rm "$M/p"
    check_set 1 "$mode: unlink the upper name: the last name says 1" "$M/sub/r"
    is "$(cat "$M/sub/r")" "p
more" "$mode: the last name has the data"

    # rename: a lower name moved, and a lower name replaced
    mv "$M/s2" "$M/s4"
    check_set 3 "$mode: rename of a lower name keeps nlink 3" "$M/s1" "$M/s3" "$M/s4"
    echo z >"$M/zz"
    mv "$M/zz" "$M/s3"
    check_set 2 "$mode: a lower name replaced by a rename: the others say 2" "$M/s1" "$M/s4"
    is "$(stat -c %h "$M/s3"):$(cat "$M/s3")" "1:z" "$mode: the replacing file is its own"
    is "$(ufs_helper rename2 plain "$M/t1" "$M/t2")" ok "$mode: rename(2) onto another name of the same set"
    check_set 2 "$mode: rename onto another name of the same set changes nothing" "$M/t1" "$M/t2"
    echo o >"$M/other"
    is "$(ufs_helper rename2 exchange "$M/x1" "$M/other")" ok "$mode: RENAME_EXCHANGE of a lower set name"
    check_set 2 "$mode: exchanged: the set is x2 and the name 'other'" "$M/x2" "$M/other"
    is "$(stat -c %h "$M/x1"):$(cat "$M/x1"):$(cat "$M/other")" "1:o:x" \
        "$mode: exchanged: x1 is the other file, 'other' has the set's data"

    # a set made in the upper
    echo u >"$M/u1" && ln "$M/u1" "$M/u2" && ln "$M/u1" "$M/u3"
    check_set 3 "$mode: an upper set" "$M/u1" "$M/u2" "$M/u3"
    rm "$M/u2"
    check_set 2 "$mode: unlink in an upper set" "$M/u1" "$M/u3"

    # what a fresh mount shows (no cached attributes)
    ufs_umount "$M"
    ufs_mount "$M" "$opts"
    check_set 3 "$mode: remount: the lower set with a new name" "$M/c" "$M/n" "$M/a"
    is "$(cat "$M/n")" "a
more" "$mode: remount: the new name has the data"
    check_set 1 "$mode: remount: the copied-up set" "$M/sub/r"
    check_set 2 "$mode: remount: the renamed set" "$M/s4" "$M/s1"
    check_set 2 "$mode: remount: the upper set" "$M/u3" "$M/u1"
    check_set 2 "$mode: remount: the exchanged set" "$M/other" "$M/x2"
    test ! -e "$M/b" && test ! -e "$M/q" && test ! -e "$M/s2"
    ok $? "$mode: remount: removed names stay removed"
    ufs_umount "$M"

    # a flattened upper keeps the counts right when mounted again
    "$STRATA_UNIONFS" --flatten -o "$opts"
    ok $? "$mode: flatten"
    ufs_mount "$M" "$opts"
    check_set 3 "$mode: after flatten: the lower set" "$M/a" "$M/c" "$M/n"
    check_set 2 "$mode: after flatten: the renamed set" "$M/s1" "$M/s4"
    ufs_umount "$M"
    ufs_sanitizer_clean "$mode"
}

ufs_root_and_rootless hardlinks
