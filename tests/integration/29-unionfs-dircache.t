#!/bin/sh
# unionfs directory listings without OPENDIR: the daemon answers the first
# OPENDIR with ENOSYS, so the kernel sends no more OPENDIR or RELEASEDIR
# and caches every listing; each directory node keeps one listing with
# stable cookies.  Checks that the requests are gone, that a cached
# listing shows at once what a change through the mount did (in a lower
# dir, an upper dir and a merged one, both sides of a rename), and that
# rewinddir, telldir/seekdir and a stream older than a change stay right
# on a directory bigger than one getdents.  As root, then as uid 65534
# through fusermount3.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v cc >/dev/null || skip_all "no C compiler for the helper"

names() { ls -A "$1" | tr '\n' ' '; }

dircache() {
    mode=$1
    d=$T/$mode
    L=$d/l M=$d/m
    mkdir -p "$L/lo/sub" "$L/mg" "$L/big" "$d/u/mg" "$d/u/up" "$d/w" "$M"
    echo a >"$L/lo/a" && echo b >"$L/lo/b"
    echo l >"$L/mg/l" && echo u >"$d/u/mg/u"
    echo x >"$d/u/up/x"
    for i in $(seq 1 3000); do echo "$L/big/s$i"; done | xargs touch
    opts="lowerdir=$L,upperdir=$d/u,workdir=$d/w"

    # requests: -d logs each one the daemon gets
    "$STRATA_UNIONFS" -f -d -o "$opts" "$M" 2>"$d/log" &
    pid=$!
    at_cleanup "fusermount3 -u -z '$M' 2>/dev/null || umount -l '$M' 2>/dev/null"
    wait_for grep -q " $M fuse" /proc/mounts
    ok $? "$mode: mount (debug log)"
    ls -R "$M" >/dev/null && ls -R "$M" >/dev/null && find "$M" -ls >/dev/null
    is "$(grep -c 'opcode: OPENDIR' "$d/log")" 1 "$mode: one OPENDIR (answered ENOSYS) for every listing"
    is "$(grep -c 'opcode: RELEASEDIR' "$d/log")" 0 "$mode: no RELEASEDIR"
    n=$(grep -c 'opcode: READDIR' "$d/log")
    ls -R "$M" >/dev/null
    is "$(grep -c 'opcode: READDIR' "$d/log")" "$n" "$mode: listings read again come from the kernel's cache"

    # every listing is cached now; changes through the mount show at once
    is "$(names "$M/lo")" "a b sub " "$mode: lower dir listed"
    touch "$M/lo/c" && rm "$M/lo/a" && mkdir "$M/lo/d" && ln -s a "$M/lo/s"
    is "$(names "$M/lo")" "b c d s sub " "$mode: a cached lower listing shows creates and removals"
    rmdir "$M/lo/sub" && mkfifo "$M/lo/p"
    is "$(names "$M/lo")" "b c d p s " "$mode: rmdir and mkfifo show in the cached listing"
    touch "$M/up/y" && ln "$M/up/x" "$M/up/x2"
    is "$(names "$M/up")" "x x2 y " "$mode: an upper dir's cached listing shows create and link"
    mv "$M/mg/l" "$M/up/l" && mv "$M/up/y" "$M/mg/y"
    is "$(names "$M/mg")" "u y " "$mode: a merged dir's cached listing shows both renames"
    is "$(names "$M/up")" "l x x2 " "$mode: so does the other side"
    mv "$M/lo" "$M/mg/lo2"
    is "$(names "$M/mg")" "lo2 u y " "$mode: a renamed lower dir shows in its new parent"
    is "$(names "$M/mg/lo2")" "b c d p s " "$mode: and keeps its listing"
    test ! -e "$M/lo" && ! ls "$M" | grep -qx lo
    ok $? "$mode: and is gone from the old parent"
    mkdir "$M/mg/lo2/sub" && touch "$M/mg/lo2/sub/in"
    is "$(names "$M/mg/lo2/sub")" "in " "$mode: a dir made over a whiteout lists only its own names"

    # streams on a directory bigger than one getdents
    is "$(ufs_helper relist "$M/big")" ok "$mode: rewinddir, seekdir and an older stream across changes (lower dir)"
    mkdir "$M/ubig" && for i in $(seq 1 3000); do echo "$M/ubig/s$i"; done | xargs touch
    is "$(ufs_helper relist "$M/ubig")" ok "$mode: the same in an upper dir"
    is "$(ls "$M/big" | wc -l):$(ls "$M/ubig" | wc -l)" "3000:3000" "$mode: nothing left behind"
    is "$(ufs_helper churn "$M/big" 3000)" ok "$mode: readdir under churn on a big dir"

    ufs_umount "$M"
    wait $pid
    # what the cached listings showed is what a fresh mount shows
    ufs_mount "$M" "$opts"
    is "$(names "$M/mg"):$(names "$M/mg/lo2"):$(names "$M/up")" "lo2 u y :b c d p s sub :l x x2 " \
        "$mode: a fresh mount lists the same"
    ufs_umount "$M"
    ufs_sanitizer_clean "$mode"
}

ufs_root_and_rootless dircache
