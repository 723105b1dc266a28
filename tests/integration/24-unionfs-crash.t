#!/bin/sh
# kill -9 of the strata-unionfs daemon while it copies up a 1 GiB lower
# file; after a remount the file shows the old content or the new, never a
# partial copy, and work/tmp leftovers are cleaned.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v cc >/dev/null || skip_all "no C compiler for the helper"

L=$T/l U=$T/u W=$T/w M=$T/m
mkdir -p "$L" "$U" "$W" "$M"
# 1 GiB of written (not sparse) data, marked at both ends
printf HEAD >"$L/big"
dd if=/dev/zero bs=1M count=1024 seek=0 oflag=append conv=notrunc of="$L/big" status=none
printf TAIL >>"$L/big"
size=$(stat -c %s "$L/big")
opts="lowerdir=$L,upperdir=$U,workdir=$W"

start_daemon() {
    "$STRATA_UNIONFS" -f -o "$opts" "$M" 2>"$T/daemon.err" &
    daemon=$!
    for _ in $(seq 100); do
        grep -q " $M fuse" /proc/mounts && return 0
        sleep 0.05
    done
    return 1
}
at_cleanup "fusermount3 -u -z '$M' 2>/dev/null || umount -l '$M' 2>/dev/null"
ufs_helper dtypes "$T" >/dev/null # build the helper before timing anything

for delay in 0.2 0.6; do
    start_daemon
    ok $? "daemon up (kill after ${delay}s)"
    ufs_helper append "$M/big" NEW >"$T/append.out" 2>&1 &
    writer=$!
    sleep "$delay"
    mid=$(ls -A "$W/tmp" 2>/dev/null | wc -l)
    kill -9 "$daemon"
    wait "$daemon" 2>/dev/null
    wait "$writer" 2>/dev/null
    diag "killed after ${delay}s: $mid copy-up temp file(s) in work/tmp, writer said $(cat "$T/append.out")"
    fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M"

    start_daemon
    ok $? "remount after kill -9"
    got=$(stat -c %s "$M/big")
    tail=$(tail -c 7 "$M/big")
    if [ "$got" = "$size" ]; then
        is "$(tail -c 4 "$M/big")" TAIL "old content, complete"
    else
        is "$got:$tail" "$((size + 3)):TAILNEW" "new content, complete"
    fi
    is "$(head -c 4 "$M/big")" HEAD "the start of the file is intact"
    if [ -e "$U/big" ]; then
        is "$(stat -c %s "$U/big")" "$got" "the upper copy is whole"
    else
        pass "no upper copy: the lower shows through"
    fi
    is "$(ls -A "$W/tmp" | wc -l)" 0 "remount cleaned work/tmp"
    kill "$daemon"
    wait "$daemon" 2>/dev/null
    fusermount3 -u -z "$M" 2>/dev/null
    rm -rf "$U/big" "$U/.wh.big"
done

done_testing
