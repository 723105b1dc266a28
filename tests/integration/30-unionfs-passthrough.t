#!/bin/sh
# unionfs FUSE passthrough (Linux >= 6.9, root in the initial user
# namespace): reads, writes and mmap of open files go to the layer file
# without the daemon.  Shown by stopping the daemon (SIGSTOP) while a
# passthrough fd still reads and writes; then the data path's semantics
# (append, O_TRUNC, truncate, two O_APPEND writers, shared writable mmap,
# hard links), a writer or a chmod while a reader holds the lower file
# (the name moves to a new kernel inode, the reader keeps the old one),
# passthrough=off, and the rootless fallback (uid 65534 via fusermount3).
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

is_root || skip_all "needs root (passthrough needs CAP_SYS_ADMIN)"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"

# pt_mount DIR OPTIONS [as_user]: mounts DIR/m in the foreground with -d
# (its log in DIR/log, the pid in $pid), unmounted and killed at exit
pt_mount() {
    d=$1
    if [ "${3:-}" = as_user ]; then
        as_user "$STRATA_UNIONFS" -d -o "$2" "$d/m" 2>"$d/log" &
    else
        "$STRATA_UNIONFS" -d -o "$2" "$d/m" 2>"$d/log" &
    fi
    pid=$!
    at_cleanup "kill -CONT $pid; fusermount3 -u -z '$d/m' 2>/dev/null || umount -l '$d/m'; kill $pid"
    wait_for grep -q " $d/m fuse" /proc/mounts
}

pt_umount() {
    ufs_umount "$1/m"
    wait "$2" 2>/dev/null
}

D=$T/pt
mkdir -p "$D/l" "$D/u" "$D/w" "$D/m"
L=$D/l M=$D/m
seq 1 20000 >"$L/big"
echo lower >"$L/a"
echo lower >"$L/t"
echo abcdef >"$L/tr"
echo mmmmmmmmmmmm >"$L/mm"
echo held >"$L/held"
echo meta >"$L/meta"
echo h >"$L/hl1" && ln "$L/hl1" "$L/hl2"
echo k >"$L/hk1" && ln "$L/hk1" "$L/hk2"
echo kept >"$L/kept"
echo abcdef >"$L/tr2"
pt_mount "$D" "lowerdir=$L,upperdir=$D/u,workdir=$D/w"
ok $? "mount as root"
state=$(grep -o 'passthrough .*' "$D/log" | head -1)
case $state in
"passthrough off (the kernel does not offer it)") skip_all "kernel without FUSE passthrough" ;;
esac
is "$state" "passthrough on" "passthrough negotiated"

# the daemon stopped: an open passthrough fd still reads (no page cache
# holds this file: nothing was read through the mount yet).  A read that
# needs the daemon is killed; the guard wakes the daemon in any case.
# (A first close asks for FLUSH once: done before.  A write would wait:
# the kernel asks for security.capability before each.)
cat "$M/a" >/dev/null
exec 3<"$M/big"
kill -STOP "$pid"
(sleep 8 && kill -CONT "$pid") &
guard=$!
timeout -s KILL 4 dd bs=6 count=1 status=none <&3 >"$T/stopped-read"
st=$?
kill -CONT "$pid"
kill "$guard" 2>/dev/null
exec 3<&-
is "$st:$(cat "$T/stopped-read")" "0:1
2
3" "a read with the daemon stopped is served by the lower file"
echo up >"$M/up"
echo more >>"$M/up"
is "$(cat "$D/u/up")" "up
more" "writes go to the upper file"

# data path semantics
is "$(tail -1 "$M/big")" 20000 "read a lower file"
echo more >>"$M/a"
is "$(cat "$M/a")" "lower
more" "append to a lower file (copy-up, then passthrough)"
is "$(cat "$L/a")" lower "the lower is untouched"
: >"$M/t"
is "$(stat -c %s "$M/t"):$(cat "$L/t")" "0:lower" "O_TRUNC of a lower file"
truncate -s 3 "$M/tr"
is "$(cat "$M/tr")" abc "truncate"
exec 5>>"$M/two" 6>>"$M/two"
echo a >&5 && echo b >&6 && echo c >&5
exec 5>&- 6>&-
is "$(cat "$M/two" | tr '\n' ' ')" "a b c " "two O_APPEND writers append"
is "$(ufs_helper mmap "$M/mm")" ok "shared writable mmap of a lower file"
is "$(cat "$L/mm")" mmmmmmmmmmmm "mmap did not write the lower"
cat "$M/hl2" >/dev/null
echo more >>"$M/hl1"
is "$(cat "$M/hl2")" "h
more" "hard links: the other name reads what the first wrote"
is "$(grep -cE 'opcode: (READ|WRITE) ' "$D/log")" 0 "no READ or WRITE reached the daemon"

# a writer while a reader holds the lower: the kernel keeps one backing
# file per inode, and the writer's would be the lower itself, so the name
# gets a new kernel inode (the open is retried on it) with the same st_ino
exec 8<"$M/held"
ino0=$(stat -c %i "$M/held")
r=$(sh -c 'echo new >>"$1"' sh "$M/held" 2>&1)
is "$?:$r" "0:" "a writer while the lower is open for reading succeeds"
is "$(cat <&8)" held "the old reader reads the lower it opened"
is "$(cat "$M/held")" "held
new" "a new reader sees what was written"
is "$(cat "$L/held")" held "the lower is untouched"
is "$(stat -c %i "$M/held")" "$ino0" "st_ino is the same after the copy-up"
is "$(stat -L -c %i /dev/fd/8)" "$ino0" "... and through the old reader's fd"
echo more >>"$M/held"
is "$(cat "$M/held")" "held
new
more" "a second writer appends to the same upper file"
exec 8<&-
is "$(cat "$M/held")" "held
new
more" "after the old reader closed, the name still shows the upper"

like "$(grep -c 'error: -116' "$D/log")" '^[1-9]' "... the daemon answered that open ESTALE"

# the same through the other name of a lower hard link (both names are
# one kernel inode until the split)
cat "$M/hk2" >/dev/null
exec 8<"$M/hk1"
ino0=$(stat -c %i "$M/hk1")
echo new >>"$M/hk2"
ok $? "a writer through the other name of a held hard link"
is "$(cat <&8)" k "the old reader reads the lower"
is "$(cat "$M/hk1"):$(cat "$M/hk2")" "k
new:k
new" "both names show what was written"
is "$(stat -c %i "$M/hk1"):$(stat -c %i "$M/hk2")" "$ino0:$ino0" "both keep st_ino"
exec 8<&-

# a metadata copy-up while a reader holds the lower: the same split, no
# open to retry
exec 8<"$M/meta"
ino0=$(stat -c %i "$M/meta")
chmod 600 "$M/meta"
ok $? "chmod while a reader holds the lower"
is "$(cat "$M/meta")" meta "a reader after a metadata copy-up reads"
is "$(stat -c %a "$M/meta")" 600 "... the new mode"
is "$(stat -c %i "$M/meta")" "$ino0" "... the same st_ino"
is "$(cat <&8)" meta "the old reader still reads"
echo more >>"$M/meta"
is "$(cat "$M/meta")" "meta
more" "then a writer appends"
exec 8<&-

# the backing of a file read is kept for the node's life (a read-only fd
# of the daemon's, no ioctl per open) and released when the kernel
# forgets the inode; an fd open for writing is never kept (exec(2) of the
# file would fail ETXTBSY while it is)
kept_fds() { # FILE: the daemon's fds on FILE that are not O_PATH
    n=0
    for f in /proc/$pid/fd/*; do
        [ "$(readlink "$f")" = "$1" ] || continue
        fl=$(awk '/^flags:/ {print $2}' "/proc/$pid/fdinfo/${f##*/}")
        [ $((fl & 010000000)) -eq 0 ] && n=$((n + 1))
    done
    echo $n
}
is "$(kept_fds "$L/kept")" 0 "kept backing: none before the first open"
cat "$M/kept" "$M/kept" >/dev/null
is "$(kept_fds "$L/kept")" 1 "kept backing: one read-only fd after two opens were closed"
is "$(cat "$M/kept")" kept "kept backing: read again"
forgotten() { sync; echo 2 >/proc/sys/vm/drop_caches; [ "$(kept_fds "$L/kept")" = 0 ]; }
wait_for forgotten
ok $? "kept backing: released once the kernel forgot the inode"
is "$(cat "$M/kept")" kept "kept backing: a later open registers it again"
cat "$M/tr2" >/dev/null
truncate -s 2 "$M/tr2"
is "$(cat "$M/tr2")" ab "a kept backing of the lower is not used after a copy-up"
printf '#!/bin/sh\necho ran\n' >"$M/script"
chmod +x "$M/script"
is "$("$M/script" 2>&1)" ran "a file just written runs (no writable backing kept)"
cat "$M/script" >/dev/null
echo 'echo again' >>"$M/script"
is "$("$M/script" 2>&1)" "ran
again" "... and after a read and another write"
exec 8<&-
pt_umount "$D" "$pid"
ok $? "unmount"

# passthrough=off: the writeback cache path, as before
D2=$T/off
mkdir -p "$D2/u" "$D2/w" "$D2/m"
pt_mount "$D2" "lowerdir=$L,upperdir=$D2/u,workdir=$D2/w,passthrough=off"
is "$(grep -o 'passthrough .*' "$D2/log" | head -1)" "passthrough off (passthrough=off)" \
    "passthrough=off is honoured"
echo more >>"$D2/m/a"
is "$(cat "$D2/m/a")" "lower
more" "passthrough=off: append"
is "$(ufs_helper mmap "$D2/m/mm")" ok "passthrough=off: shared writable mmap"
pt_umount "$D2" "$pid"

# rootless: the backing ioctl needs CAP_SYS_ADMIN, so no passthrough
if command -v fusermount3 >/dev/null; then
    D3=$T/rl
    mkdir -p "$D3/l" "$D3/u" "$D3/w" "$D3/m"
    echo lower >"$D3/l/a"
    chown -R "$TEST_UID:$TEST_GID" "$D3"
    pt_mount "$D3" "lowerdir=$D3/l,upperdir=$D3/u,workdir=$D3/w" as_user
    ok $? "rootless mount"
    like "$(grep -o 'passthrough .*' "$D3/log" | head -1)" "off \(no CAP_SYS_ADMIN" \
        "rootless: no passthrough"
    as_user sh -c 'echo more >>"$1"' sh "$D3/m/a"
    is "$(as_user cat "$D3/m/a")" "lower
more" "rootless: append through the fallback"
    is "$(as_user cat "$D3/l/a")" lower "rootless: the lower is untouched"
    as_user fusermount3 -u "$D3/m"
    wait "$pid" 2>/dev/null
else
    skip "no fusermount3: rootless half not run"
fi
ufs_sanitizer_clean passthrough
done_testing
