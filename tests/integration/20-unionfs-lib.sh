# Shared by the 2x-unionfs tests: building the C helper, mounting and
# unmounting strata-unionfs, and the POSIX battery run as root and rootless.
# Source after tests/lib.sh.

ufs_helper() {
    if [ ! -x "$T/ufs-helper" ]; then
        cc -O1 -o "$T/ufs-helper" "$STRATA_SRC/tests/integration/20-unionfs-helper.c" || return 1
    fi
    "$T/ufs-helper" "$@"
}

# A sanitized build (make SANITIZE=...) of the daemon reports here: the
# daemon's stderr is /dev/null once it has forked into the background.
ASAN_OPTIONS="log_path=$T/sanitizer${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
UBSAN_OPTIONS="log_path=$T/sanitizer${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS UBSAN_OPTIONS

# ufs_sanitizer_clean NAME: no daemon wrote a sanitizer report (leaks are
# reported when a daemon exits, shortly after its unmount)
ufs_sanitizer_clean() {
    sleep 0.5
    reports=$(cat "$T"/sanitizer* 2>/dev/null | head -40)
    is "$reports" "" "$1: no sanitizer reports from the daemon"
}

# ufs_mount MNT OPTIONS: strata-unionfs in the background, unmounted at exit.
ufs_mount() {
    "$STRATA_UNIONFS" -o "$2" "$1" || return 1
    at_cleanup "fusermount3 -u -z '$1' 2>/dev/null || umount -l '$1' 2>/dev/null"
}

ufs_umount() {
    fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null || fusermount3 -u -z "$1"
}

# ufs_view DIR: names, types, sizes and contents of a tree, to compare views
ufs_view() {
    (cd "$1" && find . ! -type d -printf '%p %y %s\n' -o -type d -printf '%p d\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum)
}

# lower layers used by the battery; $1 = directory to build them in
ufs_make_lowers() {
    d=$1
    mkdir -p "$d/l1" "$d/l2" "$d/u" "$d/w" "$d/m"
    L1=$d/l1 L2=$d/l2 U=$d/u W=$d/w M=$d/m
    echo base >"$L2/base"
    echo keep >"$L2/keep"
    echo hidden >"$L2/wh_oci"
    : >"$L1/.wh.wh_oci"
    mkdir -p "$L2/opq" "$L1/opq" "$L2/opqx" "$L1/opqx"
    echo a >"$L2/opq/a"
    echo b >"$L2/opq/b"
    : >"$L1/opq/.wh..wh..opq"
    echo c >"$L1/opq/c"
    echo a >"$L2/opqx/a"
    echo c >"$L1/opqx/c"
    setfattr -n user.overlay.opaque -v y "$L1/opqx"
    mkdir -p "$L2/dir/sub" "$L1/dir"
    echo x >"$L2/dir/x"
    echo y >"$L2/dir/y"
    echo z >"$L2/dir/sub/z"
    echo w >"$L1/dir/w"
    echo over >"$L1/dir/y"
    echo h >"$L2/hl1"
    ln "$L2/hl1" "$L2/hl2"
    echo xf >"$L2/xf"
    chmod 640 "$L2/xf"
    setfattr -n user.test -v v1 "$L2/xf"
    touch -d 2001-01-01T00:00:00 "$L2/xf"
    cp -a "$L2/xf" "$L2/xf2"
    mkdir -p "$L2/tree/a/b/c" "$L2/tree/a/gone"
    echo deep >"$L2/tree/a/b/c/file"
    echo o >"$L2/tree/a/other"
    echo 0123456789 >"$L2/big"
    echo mmmmmmmmmmmm >"$L2/mm"
    mkdir -p "$L2/dir2"
    echo p >"$L2/dir2/p"
    mkdir -p "$L2/churn2"
    for i in $(seq 0 49); do : >"$L2/churn2/s$i"; done
    ln -s base "$L2/sl"
    echo one >"$L2/ex1"
}

# The battery: every POSIX point of the issue, through the mount at $M.
# $1 = root | userns (root of a user namespace mapping 65536 ids, the mount
# its own: chown is recorded in override_stat; the kernel refuses device
# mknod) | rootless (an unprivileged uid through fusermount3: the kernel
# itself refuses chown and device mknod).
ufs_battery() {
    mode=$1
    opts="lowerdir=$L1:$L2,upperdir=$U,workdir=$W"
    [ "$mode" != root ] && opts="$opts,rootless_override"
    ufs_mount "$M" "$opts"
    ok $? "$mode: mount lowerdir=L1:L2 upperdir workdir"

    is "$(ls "$M" | tr '\n' ' ')" \
        "base big churn2 dir dir2 ex1 hl1 hl2 keep mm opq opqx sl tree xf xf2 " \
        "$mode: merged root listing, .wh. whiteouts hide and are never shown"
    is "$(ls -A "$M/opq" | tr '\n' ' ')" "c " "$mode: .wh..wh..opq opaque dir hides lower entries"
    is "$(ls -A "$M/opqx" | tr '\n' ' ')" "c " "$mode: user.overlay.opaque dir hides lower entries"
    is "$(ls "$M/dir" | tr '\n' ' ')" "sub w x y " "$mode: directories merge across lowers"
    is "$(cat "$M/dir/y")" "over" "$mode: the top lower wins"
    is "$(ufs_helper dtypes "$M" | LC_ALL=C sort | tr '\n' ' ')" \
        "base:f big:f churn2:d dir2:d dir:d ex1:f hl1:f hl2:f keep:f mm:f opq:d opqx:d sl:l tree:d xf2:f xf:f " \
        "$mode: d_type is right"
    test ! -e "$M/wh_oci"
    ok $? "$mode: whited-out name does not resolve"
    getfattr -n user.overlay.opaque "$M/opqx" >/dev/null 2>&1
    ok $((!$?)) "$mode: overlay marker xattrs are not shown"

    # readdir under churn, in an upper dir and in a merged lower dir
    mkdir "$M/churn" && for i in $(seq 0 49); do : >"$M/churn/s$i"; done
    is "$(ufs_helper churn "$M/churn" 50)" ok "$mode: readdir under churn: no dups, no skips, seekdir"
    is "$(ufs_helper churn "$M/churn2" 50)" ok "$mode: readdir under churn in a merged lower dir"

    # copy-up keeps xattrs, mode and timestamps
    echo more >>"$M/xf"
    is "$(cat "$M/xf")" "xf
more" "$mode: append to a lower file"
    is "$(cat "$L2/xf")" "xf" "$mode: the lower is untouched"
    is "$(getfattr --only-values -n user.test "$M/xf" 2>/dev/null)" v1 "$mode: copy-up keeps xattrs"
    is "$(stat -c %a "$U/xf")" 640 "$mode: copy-up keeps the mode"
    setfattr -n user.new -v 1 "$M/xf2"
    is "$(stat -c %Y "$M/xf2")" "$(stat -c %Y "$L2/xf2")" "$mode: copy-up keeps mtime"
    is "$(stat -c %Y "$U/xf2")" "$(stat -c %Y "$L2/xf2")" "$mode: upper copy has the lower mtime"
    is "$(getfattr --only-values -n user.new "$M/xf2" 2>/dev/null)" 1 "$mode: setxattr on a lower file"
    setfattr -x user.new "$M/xf2"
    getfattr -n user.new "$M/xf2" >/dev/null 2>&1
    ok $((!$?)) "$mode: removexattr"
    like "$(getfattr -d "$M/xf2" 2>/dev/null)" 'user.test="v1"' "$mode: listxattr"

    # inode numbers: stable across copy-up, st_dev is the mount's
    ino=$(stat -c %i "$M/keep")
    chmod 600 "$M/keep"
    is "$(stat -c %i "$M/keep")" "$ino" "$mode: st_ino survives copy-up"
    is "$(stat -c %a "$M/keep")" 600 "$mode: chmod of a lower file"
    is "$(stat -c %d "$M/keep")" "$(stat -c %d "$M")" "$mode: st_dev is the mount's"
    is "$(ls -i "$M" | grep -v ' hl2$' | awk '{print $1}' | sort | uniq -d | wc -l)" 0 \
        "$mode: inode numbers are unique across layers"

    # open flags
    (set -C; echo x >"$M/base") 2>/dev/null
    ok $((!$?)) "$mode: O_EXCL on an existing lower file fails"
    : >"$M/big"
    is "$(stat -c %s "$M/big")" 0 "$mode: O_TRUNC of a lower file"
    is "$(cat "$L2/big")" 0123456789 "$mode: lower untouched by truncation"
    printf 'abcdef' >"$M/tr" && truncate -s 3 "$M/tr"
    is "$(cat "$M/tr")" abc "$mode: truncate"
    fallocate -l 1M "$M/fa"
    is "$(stat -c %s "$M/fa")" 1048576 "$mode: fallocate"
    sync "$M/fa"
    ok $? "$mode: fsync"
    r=$(ufs_helper tmpfile "$M")
    case $r in ok | EOPNOTSUPP) pass "$mode: O_TMPFILE works or says EOPNOTSUPP ($r)" ;;
    *) fail "$mode: O_TMPFILE: $r" ;; esac
    is "$(ufs_helper mmap "$M/mm")" ok "$mode: shared writable mmap of a lower file"
    is "$(cat "$L2/mm")" mmmmmmmmmmmm "$mode: mmap did not write the lower"
    is "$(ufs_helper locks "$M/base")" ok "$mode: flock and fcntl locks"
    like "$(stat -f -c %b "$M")" '^[0-9]+$' "$mode: statfs"
    test -r "$M/base" && test -w "$M/base"
    ok $? "$mode: access"

    # unlink, re-create, whiteouts in the upper
    rm "$M/base"
    test ! -e "$M/base" && test -e "$U/.wh.base"
    ok $? "$mode: unlink of a lower file leaves an OCI whiteout"
    echo new >"$M/base"
    is "$(cat "$M/base")" new "$mode: re-create over a whiteout"
    test ! -e "$U/.wh.base"
    ok $? "$mode: the whiteout goes away"

    # rmdir of a merged dir that looks empty
    rm "$M/dir2/p"
    rmdir "$M/dir2"
    ok $? "$mode: rmdir of a dir whose lower entries are whited out"
    mkdir "$M/dir2"
    is "$(ls -A "$M/dir2" | wc -l)" 0 "$mode: mkdir over it is empty (opaque)"
    rmdir "$M/dir" 2>/dev/null
    ok $((!$?)) "$mode: rmdir of a non-empty merged dir fails"

    # symlinks, hard links
    is "$(readlink "$M/sl")" base "$mode: readlink of a lower symlink"
    ln -s keep "$M/sl2" && is "$(readlink "$M/sl2")" keep "$mode: symlink"
    ln "$M/ex1" "$M/ex1link"
    is "$(stat -c %h "$M/ex1")" 2 "$mode: link of a lower file: nlink 2"
    is "$(stat -c %i "$M/ex1link")" "$(stat -c %i "$M/ex1")" "$mode: link shares the inode"

    # the hard-link case: both names of a lower set see the copy-up
    is "$(stat -c %i "$M/hl1")" "$(stat -c %i "$M/hl2")" "$mode: lower hard links share st_ino"
    echo more >>"$M/hl1"
    is "$(cat "$M/hl2")" "h
more" "$mode: the other name sees data written through the first"
    is "$(stat -c %i "$M/hl1")" "$(stat -c %i "$M/hl2")" "$mode: still one inode after copy-up"
    is "$(stat -c %h "$M/hl2")" 2 "$mode: st_nlink stays 2"

    # rename, renameat2
    is "$(ufs_helper rename2 noreplace "$M/ex1" "$M/keep")" EEXIST "$mode: RENAME_NOREPLACE"
    echo two >"$M/ex2"
    is "$(ufs_helper rename2 exchange "$M/xf" "$M/ex2")" ok "$mode: RENAME_EXCHANGE lower<->upper"
    is "$(cat "$M/xf")" two "$mode: exchange: first name has the second's data"
    is "$(head -1 "$M/ex2")" xf "$mode: exchange: second name has the first's data"
    mv "$M/keep" "$M/keep.moved"
    test ! -e "$M/keep" && is "$(stat -c %i "$M/keep.moved")" "$ino" "$mode: rename of a file keeps st_ino"

    # directory rename from a lower: populated, nested, whiteouts kept
    rm "$M/tree/a/other"
    rmdir "$M/tree/a/gone"
    mv "$M/tree" "$M/tree2"
    ok $? "$mode: rename of a lower directory (no EXDEV)"
    is "$(cat "$M/tree2/a/b/c/file" 2>&1)" deep "$mode: renamed tree keeps its contents"
    is "$(ls "$M/tree2/a" | tr '\n' ' ')" "b " "$mode: renamed tree keeps its whiteouts"
    test ! -e "$M/tree"
    ok $? "$mode: old name is gone"
    mv "$M/tree2/a/b" "$M/bmoved"
    is "$(cat "$M/bmoved/c/file" 2>&1)" deep "$mode: nested dir moved out of a renamed dir"
    mkdir "$M/tree"
    is "$(ls -A "$M/tree" | wc -l)" 0 "$mode: new dir at the old name is empty"
    is "$(ufs_helper rename2 exchange "$M/dir" "$M/tree2")" ok "$mode: RENAME_EXCHANGE of two dirs"
    is "$(ls "$M/tree2" | tr '\n' ' ')" "sub w x y " "$mode: exchanged dir keeps lower contents"

    # special files
    mkfifo "$M/fifo" && test -p "$M/fifo"
    ok $? "$mode: mkfifo"
    is "$(ufs_helper mksock "$M/sock")" ok "$mode: mknod a socket"
    owner=1234:5678
    if [ "$mode" = root ]; then
        mknod "$M/null" c 1 3
        is "$(stat -c '%F %t,%T' "$M/null" 2>&1)" "character special file 1,3" "$mode: mknod a char device"
    else
        mknod "$M/null" c 1 3 2>/dev/null
        ok $((!$?)) "$mode: the kernel refuses mknod of a device (no CAP_MKNOD)"
    fi
    if [ "$mode" = rootless ]; then
        owner=$(stat -c %u:%g "$M/hl2")
        chown 1234:5678 "$M/hl2" 2>/dev/null
        ok $((!$?)) "$mode: the kernel refuses chown (no CAP_CHOWN)"
    else
        chown 1234:5678 "$M/hl2"
        is "$(stat -c %u:%g "$M/hl2")" 1234:5678 "$mode: chown of a lower file"
    fi
    touch -d 2010-10-10T10:10:10 "$M/ex1"
    is "$(date -u -d @"$(stat -c %Y "$M/ex1")" +%Y)" 2010 "$mode: utimensat"

    # everything survives a remount
    ufs_umount "$M"
    ok $? "$mode: unmount"
    ufs_mount "$M" "$opts"
    is "$(cat "$M/bmoved/c/file" 2>&1) $(ls "$M/tree2" "$M/dir" 2>&1 | tr '\n' ' ')" \
        "deep $M/dir: a  $M/tree2: sub w x y " "$mode: remount: renamed dirs keep contents"
    is "$(cat "$M/hl2")" "h
more" "$mode: remount: the hard-link set still shares the data"
    is "$(stat -c %u:%g "$M/hl2")" "$owner" "$mode: remount: ownership kept"
    is "$(ls "$M" | grep -c '^\.wh\.')" 0 "$mode: remount: no whiteouts shown"
    test ! -e "$M/base.wh" && test ! -e "$M/keep"
    ok $? "$mode: remount: removed names stay removed"
    view=$(ufs_view "$M")
    ufs_umount "$M"

    # flattened, the upper alone (as the top lower) shows the same tree
    "$STRATA_UNIONFS" --flatten -o "$opts"
    ok $? "$mode: flatten the upper (redirects become plain OCI)"
    is "$(getfattr -R -d -m user.strata "$U" 2>/dev/null)" "" "$mode: no redirect xattrs left"
    ufs_mount "$M" "lowerdir=$U:$L1:$L2"
    after=$(ufs_view "$M")
    is "$after" "$view" "$mode: flattened upper over the lowers shows the same tree" >"$T/view.tap"
    head -1 "$T/view.tap"
    ufs_umount "$M"
    ufs_sanitizer_clean "$mode"
}

# ufs_mode_opts MODE OPTS: OPTS with what a mode of ufs_root_and_rootless
# adds (rootless: the override xattr; nopt: passthrough off)
ufs_mode_opts() {
    case $1 in
    rootless) echo "$2,rootless_override" ;;
    nopt) echo "$2,passthrough=off" ;;
    *) echo "$2" ;;
    esac
}

# ufs_root_and_rootless FN [MODE...]: the whole test, both halves.  As root
# it runs `FN MODE` for each root MODE (default: root), then this script
# again as uid $TEST_UID (UFS_CHILD=1, mounting through fusermount3), whose
# `FN rootless` TAP lines are renumbered into ours.  Ends the test.
ufs_root_and_rootless() {
    fn=$1
    shift
    if [ -n "${UFS_CHILD:-}" ]; then
        "$fn" rootless
        done_testing
        exit $?
    fi
    is_root || skip_all "needs root (the rootless half runs as uid $TEST_UID)"
    [ $# -gt 0 ] || set -- root
    for mode; do
        "$fn" "$mode"
    done
    if command -v fusermount3 >/dev/null; then
        as_user env UFS_CHILD=1 sh "$0" >"$T/rootless.tap" 2>&1
        ok $? "rootless half (uid $TEST_UID) passes"
        while IFS= read -r line; do
            case $line in
            "ok "*"# skip"*) skip "${line#*# skip }" ;;
            "ok "*) pass "${line#ok * - }" ;;
            "not ok "*) fail "${line#not ok * - }" ;;
            "#"*) echo "$line" ;;
            esac
        done <"$T/rootless.tap"
    else
        skip "no fusermount3: rootless half not run"
    fi
    done_testing
    exit $?
}
