#!/bin/sh
# unionfs suid/sgid/capability clearing.  The daemon negotiates
# FUSE_HANDLE_KILLPRIV_V2 (its io sees the raw requests) and clears the bits
# itself on the kernel's kill flags (write, truncate, O_TRUNC open, chown),
# so the kernel stops asking for the mode before a chown (GETATTR) and for
# security.capability before every write (GETXATTR).  As root (passthrough),
# as root with passthrough=off (writeback cache) and rootless (uid 65534 via
# fusermount3, override_stat): a write, a truncate and an O_TRUNC open by a
# user clear suid and group-exec sgid (through the mount and in the upper
# file or its override xattr), and as root so does a write through an fd opened before
# chmod u+s, a chown clears them, a write as root drops security.capability
# and keeps suid; and with killpriv on, those requests are gone.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"

# kp_mount DIR OPTIONS: DIR/m in the foreground with -d (log DIR/log, pid $pid)
kp_mount() {
    "$STRATA_UNIONFS" -f -d -o "$2" "$1/m" 2>"$1/log" &
    pid=$!
    at_cleanup "fusermount3 -u -z '$1/m' 2>/dev/null || umount -l '$1/m' 2>/dev/null; kill $pid 2>/dev/null"
    wait_for grep -q " $1/m fuse" /proc/mounts
}

# opcodes DIR MARK: the requests logged since line MARK, "NAME:count ..."
opcodes() {
    tail -n +"$(($2 + 1))" "$1/log" | grep -o 'opcode: [A-Z_]*' | sort | uniq -c |
        awk '{printf "%s:%s ", $3, $1}'
}

# mode_of MNT UPPER NAME: "mount-mode upper-mode" (the upper's override
# xattr's mode when there is one)
mode_of() {
    ov=$(getfattr --only-values -n user.containers.override_stat "$2/$3" 2>/dev/null)
    if [ -n "$ov" ]; then
        up=$(echo "$ov" | cut -d: -f3 | sed 's/^0*//')
    else
        up=$(stat -c %a "$2/$3")
    fi
    echo "$(stat -c %a "$1/$3") $up"
}

# as_writer CMD: a caller without CAP_FSETID (as root: uid $TEST_UID)
as_writer() {
    if is_root; then as_user sh -c "$1"; else sh -c "$1"; fi
}

killpriv() {
    mode=$1
    d=$T/$mode
    L=$d/l U=$d/u M=$d/m
    mkdir -p "$L" "$U" "$d/w" "$M"
    chmod 0755 "$d" "$L" "$U"
    for f in wsuid wsgid tsuid osuid csuid upw; do echo data >"$L/$f"; done
    opts=$(ufs_mode_opts "$mode" "lowerdir=$L,upperdir=$U,workdir=$d/w")
    kp_mount "$d" "$opts"
    ok $? "$mode: mount"
    state=$(grep -o 'killpriv o[nf]*' "$d/log" | head -1)
    # the modes are set through the mount (rootless: recorded in the xattr)
    chmod 4777 "$M/wsuid" "$M/tsuid" "$M/osuid" && chmod 2777 "$M/wsgid" && chmod 4755 "$M/csuid"
    ok $? "$mode: chmod u+s, g+s through the mount"

    as_writer "echo more >>'$M/wsuid'"
    is "$(mode_of "$M" "$U" wsuid)" "777 777" "$mode: a user's write clears suid (mount, upper)"
    as_writer "echo more >>'$M/wsgid'"
    is "$(mode_of "$M" "$U" wsgid)" "777 777" "$mode: a user's write clears group-exec sgid"
    as_writer "truncate -s 2 '$M/tsuid'"
    is "$(mode_of "$M" "$U" tsuid):$(cat "$M/tsuid")" "777 777:da" "$mode: a user's truncate clears suid"
    as_writer ": >'$M/osuid'"
    is "$(mode_of "$M" "$U" osuid):$(stat -c %s "$M/osuid")" "777 777:0" \
        "$mode: a user's O_TRUNC open clears suid"
    # a write to an upper file already open, then made suid
    echo new >"$M/upw" && chmod 4777 "$M/upw"
    as_writer "echo more >>'$M/upw'"
    is "$(mode_of "$M" "$U" upw)" "777 777" "$mode: a write to a copied-up suid file clears it"
    if is_root; then
        # a writer opened before the file was made suid (passthrough)
        echo pw >"$M/pw" && chown "$TEST_UID" "$M/pw"
        as_user sh -c "exec 3>>'$M/pw'; chmod 4777 '$M/pw'; echo more >&3"
        is "$(mode_of "$M" "$U" pw)" "777 777" "$mode: a write through an fd opened before chmod u+s clears it"
        chown 1:1 "$M/csuid"
        is "$(mode_of "$M" "$U" csuid)" "755 755" "$mode: chown clears suid"
        echo cap >"$M/cap"
        setcap cap_net_raw+ep "$M/cap"
        like "$(getcap "$M/cap")" "cap_net_raw" "$mode: security.capability set through the mount"
        echo more >>"$M/cap"
        is "$(getcap "$M/cap"):$(getfattr --only-values -n security.capability "$U/cap" 2>/dev/null)" ":" \
            "$mode: a write as root drops security.capability (mount, upper)"
        echo root >"$M/rsuid" && chmod 4755 "$M/rsuid" && echo more >>"$M/rsuid"
        is "$(mode_of "$M" "$U" rsuid)" "4755 4755" "$mode: a write as root (CAP_FSETID) keeps suid"
    else
        chown ":$(id -g)" "$M/csuid"
        is "$(mode_of "$M" "$U" csuid)" "755 755" "$mode: chown clears suid (override)"
    fi

    if [ "$state" = "killpriv on" ]; then
        # the requests the kernel no longer sends
        echo f >"$M/kf" && chmod 0666 "$M/kf" && stat "$M/kf" >/dev/null
        sleep 0.2
        mark=$(wc -l <"$d/log")
        if is_root; then chown 2:2 "$M/kf"; else chown ":$(id -g)" "$M/kf"; fi
        sleep 0.2
        is "$(opcodes "$d" "$mark")" "GETXATTR:1 SETATTR:1 " \
            "$mode: a chown asks no GETATTR (the kernel leaves the mode to us)"
        mark=$(wc -l <"$d/log")
        as_writer "exec 3>>'$M/kf'; echo a >&3; echo b >&3; echo c >&3"
        sleep 0.2
        is "$(opcodes "$d" "$mark" | grep -o 'GETXATTR:[0-9]*')" "GETXATTR:1" \
            "$mode: three writes, one security.capability check"
        mkdir "$T/tar-$mode" && echo t >"$T/tar-$mode/one" && tar -C "$T/tar-$mode" -cf "$T/$mode.tar" one
        mkdir "$M/untar" && stat "$M/untar" >/dev/null
        sleep 0.2
        mark=$(wc -l <"$d/log")
        tar -C "$M/untar" -xf "$T/$mode.tar"
        sleep 0.2
        got=$(opcodes "$d" "$mark")
        diag "untar of one file: $got"
        is "$(echo "$got" | grep -o 'GETATTR:[0-9]*')" "" \
            "$mode: untar of one file asks no GETATTR (tar's fchown did)"
    elif is_root && [ "$mode" = root ]; then
        like "$state" "killpriv o" "$mode: killpriv state logged"
    fi
    ufs_umount "$M"
    wait $pid 2>/dev/null
}

# as root with passthrough, as root without it, and rootless
ufs_root_and_rootless killpriv root nopt
