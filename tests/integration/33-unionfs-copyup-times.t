#!/bin/sh
# unionfs copy-up and the parent's times: a copy-up renames the copy into
# the parent's upper directory, which the daemon then puts back to the
# times it had (as kernel overlayfs does), so chmod, append or chown of a
# lower file leaves its directory's mtime as it was, in the kernel's cached
# view, in the upper and after a remount, also for the parents a deep
# copy-up brings up; a create, unlink or mkdir in that directory still
# changes it; and a copy-up's restore never puts back a time from before a
# create that raced it (copy-ups of big files run on a thread of their own
# beside the creates).  A copy-up also knows whether the copy has
# security.capability (the kernel asks before a first write): a copied
# capability shows, an absent one stays absent until set.  Copy-up data
# from lowers on two filesystems (the ways of copying that fail for a layer
# are not tried again for it), sparse or not, reads back the same.  As
# root, then as uid 65534 through fusermount3.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"

mt() { stat -c %y "$@" 2>&1 | tr '\n' ' '; }

copyup_times() {
    mode=$1
    d=$T/$mode
    mkdir -p "$d/l/D" "$d/l/N/sub" "$d/l/R" "$d/u" "$d/w" "$d/m"
    L=$d/l U=$d/u M=$d/m
    for f in a b c e h; do echo $f >"$L/D/$f"; done
    echo f >"$L/N/sub/f"
    echo g >"$L/R/g"
    mkdir "$L/C" && echo c >"$L/C/cf" && echo n >"$L/C/nf"
    mkdir "$L/MV" && echo q >"$L/MV/q" && echo r >"$L/MV/r"
    if is_root && command -v setcap >/dev/null; then setcap cap_net_raw+ep "$L/C/cf"; fi
    # bigger than the daemon's inline copy-up limit (sparse: quick to copy)
    for i in $(seq 0 199); do truncate -s 5M "$L/R/f$i"; done
    touch -d 2001-01-01T00:00:00 "$L/D" "$L/N/sub"
    touch -d 2002-02-02T00:00:00 "$L/N" "$L"
    opts="lowerdir=$L,upperdir=$U,workdir=$d/w"
    [ "$mode" != root ] && opts="$opts,rootless_override"
    ufs_mount "$M" "$opts"
    ok $? "$mode: mount"

    find "$M" -ls >/dev/null # everything cached by the kernel first
    root0=$(mt "$M") d0=$(mt "$M/D") n0=$(mt "$M/N" "$M/N/sub")
    like "$d0" "^2001-01-01 00:00:00" "$mode: the lower directory's mtime"

    chmod 600 "$M/D/a"
    is "$(mt "$M/D")" "$d0" "$mode: chmod of a lower file leaves its directory's mtime"
    is "$(mt "$M")" "$root0" "$mode: ... and the root's, which the directory was copied into"
    is "$(stat -c %h "$M/D")" 1 "$mode: the directory copied up shows at once that it is merged (nlink 1)"
    echo more >>"$M/D/b"
    is "$(mt "$M/D")" "$d0" "$mode: append to a lower file leaves its directory's mtime"
    if [ "$mode" = root ]; then
        chown 1234:5678 "$M/D/c"
    else
        chown "$(id -u):$(id -g)" "$M/D/c" # rootless: only to oneself
    fi
    is "$(mt "$M/D")" "$d0" "$mode: chown of a lower file leaves its directory's mtime"
    is "$(mt "$U/D")" "$d0" "$mode: the upper directory has that mtime too"
    chmod 600 "$M/N/sub/f"
    is "$(mt "$M/N" "$M/N/sub")" "$n0" "$mode: a copy-up two levels down leaves both parents' mtimes"
    is "$(cat "$M/D/b")" "b
more" "$mode: the appended file reads right"

    # changes of the directory's own entries still show
    old=2003-03-03T00:00:00
    touch "$M/D/new"
    t=$(mt "$M/D")
    [ "$t" != "$d0" ]
    ok $? "$mode: a create in the directory changes its mtime ($t)"
    touch -d $old "$M/D" && rm "$M/D/new"
    t=$(mt "$M/D")
    [ "${t#2003-03-03}" = "$t" ]
    ok $? "$mode: an unlink in it changes it ($t)"
    touch -d $old "$M/D" && rm "$M/D/e"
    t=$(mt "$M/D")
    [ "${t#2003-03-03}" = "$t" ]
    ok $? "$mode: an unlink of a lower name (a whiteout) changes it ($t)"
    touch -d $old "$M/D" && mkdir "$M/D/sd"
    t=$(mt "$M/D")
    [ "${t#2003-03-03}" = "$t" ]
    ok $? "$mode: a mkdir in it changes it ($t)"
    # a copy-up puts back the times set last, not older ones
    touch -d $old "$M/D"
    chmod 600 "$M/D/h"
    like "$(mt "$M/D")" "^2003-03-03 00:00:00" "$mode: a copy-up after a utimes of the directory keeps that utimes"
    like "$(mt "$U/D")" "^2003-03-03 00:00:00" "$mode: ... in the upper too"

    # a fresh mount agrees with what the kernel had cached
    view=$(stat -c '%h %y %s' "$M" "$M/D" "$M/N" "$M/N/sub" | tr '\n' ' ')
    ufs_umount "$M"
    ufs_mount "$M" "$opts"
    is "$(stat -c '%h %y %s' "$M" "$M/D" "$M/N" "$M/N/sub" | tr '\n' ' ')" "$view" \
        "$mode: a fresh mount shows the same link counts, mtimes and sizes"

    # a copy-up tells whether the copy has security.capability: the kernel
    # asks before a first write and at chown, and must get the copy's answer
    if is_root && command -v setcap >/dev/null; then
        chmod 600 "$M/C/cf" "$M/C/nf"
        like "$(getcap "$M/C/cf")" cap_net_raw "$mode: a lower file's capability after its copy-up"
        is "$(getfattr --only-values -n security.capability "$M/C/nf" 2>/dev/null || echo none)" none \
            "$mode: a lower file without one has none after its copy-up"
        setcap cap_chown+ep "$M/C/nf" && echo more >>"$M/C/cf"
        like "$(getcap "$M/C/nf")" cap_chown "$mode: ... and one set after it is seen"
        is "$(getcap "$M/C/cf")" "" "$mode: a write drops the copied capability"
    else
        skip "$mode: capabilities need root and setcap"
        skip "$mode: capabilities need root and setcap"
        skip "$mode: capabilities need root and setcap"
        skip "$mode: capabilities need root and setcap"
    fi

    # the copy-up reads a lower file by name where its lookup found it:
    # also once its node has an fd (read first), and after its directory
    # was renamed
    cat "$M/MV/q" >/dev/null
    mv "$M/MV" "$M/MV2"
    echo x >>"$M/MV2/q" && echo y >>"$M/MV2/r"
    is "$(cat "$M/MV2/q" "$M/MV2/r" | tr '\n' ' ')" "q x r y " \
        "$mode: copy-ups of files read before and of a renamed directory's files"

    # data from a lower on another filesystem (/dev/shm: no copy_file_range
    # to the upper, which is then not tried again for that layer) and from
    # one on the upper's, sparse and not: the same bytes, holes kept
    ufs_umount "$M"
    S=$(mktemp -d /dev/shm/strata-test-33.XXXXXX)
    at_cleanup "rm -rf '$S'"
    for l in "$S" "$d/l2"; do
        mkdir -p "$l"
        printf head >"$l/sp"
        dd if=/dev/urandom of="$l/sp" bs=4096 seek=256 count=3 conv=notrunc 2>/dev/null
        truncate -s 8M "$l/sp"
        head -c 300000 /dev/urandom >"$l/full"
        cp "$l/sp" "$l/sp2" && cp "$l/full" "$l/full2"
    done
    mv "$d/l2/sp" "$d/l2/tsp" && mv "$d/l2/full" "$d/l2/tfull"
    mv "$d/l2/sp2" "$d/l2/tsp2" && mv "$d/l2/full2" "$d/l2/tfull2"
    ufs_mount "$M" "lowerdir=$L:$S:$d/l2,upperdir=$U,workdir=$d/w${opts#*workdir=$d/w}"
    for f in sp full sp2 full2 tsp tfull tsp2 tfull2; do echo x >>"$M/$f"; done
    same=
    for f in sp full sp2 full2; do
        { cat "$S/$f"; echo x; } | cmp -s - "$U/$f" && same="$same $f"
        { cat "$d/l2/t$f"; echo x; } | cmp -s - "$U/t$f" && same="$same t$f"
    done
    is "$same" " sp tsp full tfull sp2 tsp2 full2 tfull2" \
        "$mode: copy-up data from lowers on two filesystems, sparse or not"
    is "$(du -k "$U/sp" "$U/tsp" | awk '$1 > 1024' | wc -l)" 0 "$mode: ... holes stay holes"

    # creates racing copy-ups into the same upper directory
    chmod 600 "$M/R/g" # R is in the upper now
    is "$(ufs_helper racetimes "$M/R" "$U/R" 200)" ok \
        "$mode: no copy-up restore puts the directory's mtime back over a racing create"
    ufs_umount "$M"
    ufs_sanitizer_clean "$mode"
}

ufs_root_and_rootless copyup_times
