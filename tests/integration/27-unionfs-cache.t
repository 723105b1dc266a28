#!/bin/sh
# unionfs kernel caches: entries and attributes are cached for a day, so
# whatever a change does to other inodes than the one the kernel asked
# about must be invalidated.  Each check looks at a name the kernel has
# cached, makes a change through another name, and compares what the
# mount shows right away with what a fresh mount shows (inode numbers are
# per mount, so not compared).  As root, then as uid 65534 through
# fusermount3.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"

attrs() { stat -c '%h %Y %s' "$@" 2>&1 | tr '\n' ' '; }

caches() {
    mode=$1
    d=$T/$mode
    mkdir -p "$d/l/D/s1" "$d/l/D/s2" "$d/l/P" "$d/l/R/in" "$d/l/W" "$d/u" "$d/w" "$d/m"
    L=$d/l M=$d/m
    echo f >"$L/P/f"
    echo x >"$L/R/in/x"
    echo a >"$L/W/a" && echo b >"$L/W/b"
    echo h >"$L/A" && ln "$L/A" "$L/B"
    touch -d 2001-01-01T00:00:00 "$L/D" "$L/D/s1" "$L/P" "$L/R" "$L/W" "$L"
    opts="lowerdir=$L,upperdir=$d/u,workdir=$d/w"
    ufs_mount "$M" "$opts"
    ok $? "$mode: mount"

    # the kernel caches everything first
    attrs "$M" "$M/D" "$M/D/s1" "$M/P" "$M/R" "$M/A" "$M/B" >/dev/null
    cat "$M/B" "$M/R/in/x" >/dev/null
    ls "$M/W" >/dev/null

    # a change below a directory copies it up (now merged: nlink 1, and the
    # rename into it changed its mtime) without the kernel asking about it
    touch "$M/D/s1/new"
    chmod 600 "$M/P/f"
    now_d=$(attrs "$M/D" "$M/P")
    # copy-up through one name of a hard-link set: the other name sees it
    echo more >>"$M/A"
    is "$(cat "$M/B")" "h
more" "$mode: data written through A is read through B at once"
    is "$(stat -c %s:%h "$M/B")" "7:2" "$mode: B's size and link count at once"
    # a directory renamed away from a lower keeps what the kernel cached
    mv "$M/R" "$M/R2"
    is "$(cat "$M/R2/in/x" 2>&1)" x "$mode: a renamed lower dir's cached child reads"
    now_r=$(attrs "$M/R2" "$M/R2/in")
    test ! -e "$M/R"
    ok $? "$mode: the old name of the renamed dir is gone"
    # a whiteout in a lower-only directory whose listing was cached
    rm "$M/W/a"
    is "$(ls "$M/W" | tr '\n' ' ')" "b " "$mode: the cached listing drops a removed lower name"
    mkdir "$M/W/a"
    is "$(ls -A "$M/W/a" | wc -l):$(ls "$M/W" | tr '\n' ' ')" "0:a b " \
        "$mode: a dir made over the whiteout is listed and empty"

    ufs_umount "$M"
    ufs_mount "$M" "$opts"
    is "$now_d" "$(attrs "$M/D" "$M/P")" \
        "$mode: parents copied up for a child show at once what a fresh mount shows"
    is "$now_r" "$(attrs "$M/R2" "$M/R2/in")" "$mode: the renamed dir as a fresh mount shows it"
    is "$(cat "$M/B")" "h
more" "$mode: remount: B has the data"
    ufs_umount "$M"
    ufs_sanitizer_clean "$mode"
}

ufs_root_and_rootless caches
