#!/bin/sh
# The default seccomp filter, as root and rootless: the calls Docker's
# default profile keeps from a container fail with EPERM (clone3 with
# ENOSYS), ordinary programs work, --cap-add SYS_ADMIN relaxes what Docker
# relaxes, --security-opt seccomp=unconfined removes it, `exec` gets the
# container's choice (the filter kept at run, checked), and the /proc
# view's sysinfo notify filter still answers on top of it.
# tests/helpers/syscall_probe makes calls that without a filter succeed or
# fail with another errno, so EPERM is the filter's doing.
. "$STRATA_SRC/tests/lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
PROBE=$STRATA_HELPERS/syscall_probe
[ -x "$PROBE" ] || skip_all "helper $PROBE not built (make unit-tests)"
R=$T/rootfs
make_busybox_rootfs "$R"
touch "$R/etc/hostname" "$R/etc/hosts" "$R/etc/resolv.conf"
# the probe is a dynamic program: the host's libraries, read-only
mkdir -p "$R/usr/lib" "$R/usr/lib64" "$R/probe" "$R/mnt"
[ -e "$R/lib" ] || ln -s usr/lib "$R/lib"
[ -e "$R/lib64" ] || ln -s usr/lib64 "$R/lib64"
chmod -R a+rX "$R"
LIBS="-v /usr/lib:/usr/lib:ro -v $STRATA_HELPERS:/probe:ro"
[ -d /usr/lib64 ] && LIBS="$LIBS -v /usr/lib64:/usr/lib64:ro"

DENIED="keyctl add_key umount2 clone_newuser unshare_user perf_event_open personality_norandom"

# probe_is OUT NAME WANT TEST-NAME
probe_is() {
    is "$(printf '%s\n' "$1" | sed -n "s/^$2=//p")" "$3" "$4"
}

suite() {
    m=$1
    if [ "$m" = user ]; then X=as_user; store=$T/home/store; else X=; store=$STRATA_ROOT; fi
    r() { $X "$STRATA" run --rm $LIBS --rootfs "$R" "$@"; }
    at_cleanup "$X $STRATA rm -f ${m}_sc ${m}_unc ${m}_adm"

    run r sh -c 'grep "^Seccomp:" /proc/self/status; echo hello; ls / >/dev/null && echo listed'
    like "$out" "Seccomp:.2" "$m: every container runs under a seccomp filter"
    like "$(echo $out)" "hello listed" "$m: ... and ordinary programs work"

    run r /probe/syscall_probe
    probe=$out
    for c in $DENIED; do
        probe_is "$probe" $c EPERM "$m: default: $c fails with EPERM"
    done
    probe_is "$probe" clone3 ENOSYS "$m: default: clone3 says ENOSYS (the C library falls back to clone)"
    for c in getpid clone_plain personality_query personality_linux32; do
        probe_is "$probe" $c OK "$m: default: $c is allowed"
    done
    ls "$store/cache/seccomp/"seccomp-*.bpf >/dev/null 2>&1
    ok $? "$m: the compiled filter is cached in the store"

    run r sh -c 'unshare -U true 2>&1; echo "unshare=$?"; mount -t tmpfs none /mnt 2>&1; echo "mount=$?"'
    like "$out" "unshare=[1-9]" "$m: busybox unshare -U fails"
    like "$out" "Operation not permitted" "$m: ... with EPERM"
    like "$out" "mount=[1-9]" "$m: busybox mount fails"

    # --cap-add SYS_ADMIN: the namespace and mount calls open up, the
    # keyring stays closed
    run r --cap-add SYS_ADMIN /probe/syscall_probe
    probe_is "$out" umount2 E22 "$m: SYS_ADMIN: umount2 reaches the kernel (EINVAL for the bad flag)"
    probe_is "$out" unshare_user OK "$m: SYS_ADMIN: unshare(CLONE_NEWUSER) is allowed"
    probe_is "$out" keyctl EPERM "$m: SYS_ADMIN: keyctl is still refused"
    if [ "$m" = root ]; then
        run r --cap-add SYS_ADMIN sh -c 'mount -t tmpfs none /mnt && echo mounted'
        is "$out" mounted "$m: SYS_ADMIN: mount works"
    fi

    run r --security-opt seccomp=unconfined /probe/syscall_probe
    probe=$out
    probe_is "$probe" keyctl OK "$m: unconfined: keyctl works"
    probe_is "$probe" add_key OK "$m: unconfined: add_key works"
    probe_is "$probe" unshare_user OK "$m: unconfined: unshare(CLONE_NEWUSER) works"
    probe_is "$probe" clone_newuser OK "$m: unconfined: clone(CLONE_NEWUSER) works"
    probe_is "$probe" umount2 E22 "$m: unconfined: umount2 reaches the kernel"
    probe_is "$probe" personality_norandom OK "$m: unconfined: any personality"
    run r --security-opt seccomp=unconfined sh -c 'grep "^Seccomp:" /proc/self/status; unshare -U true && echo unshared'
    like "$out" "Seccomp:.0" "$m: unconfined: no filter"
    like "$out" unshared "$m: unconfined: busybox unshare -U works"
    run r --security-opt seccomp=/some/profile.json true
    like "$out" "unsupported --security-opt" "$m: a custom profile is refused plainly"

    # exec: the container's filter, or none when it runs unconfined
    $X "$STRATA" run -d --name ${m}_sc $LIBS --rootfs "$R" sleep 30 >/dev/null
    $X "$STRATA" run -d --name ${m}_unc --security-opt seccomp=unconfined $LIBS --rootfs "$R" sleep 30 >/dev/null
    run $X "$STRATA" exec ${m}_sc /probe/syscall_probe
    probe_is "$out" keyctl EPERM "$m: exec gets the default filter"
    run $X "$STRATA" exec ${m}_unc /probe/syscall_probe
    probe_is "$out" keyctl OK "$m: exec into an unconfined container is unconfined"
    # the filter run compiled is kept with the container and exec loads
    # that one: given the filter of a SYS_ADMIN container (copied, never
    # written through: the file is a hard link to the cache entry), exec
    # lets umount2 reach the kernel; a damaged one is refused, named
    dir=$($X "$STRATA" inspect --format '{{.Dir}}' ${m}_sc)
    $X "$STRATA" run -d --name ${m}_adm --cap-add SYS_ADMIN $LIBS --rootfs "$R" sleep 30 >/dev/null
    adm=$($X "$STRATA" inspect --format '{{.Dir}}' ${m}_adm)
    ok $([ -s "$dir/seccomp.bpf" ] && [ -s "$adm/seccomp.bpf" ]; echo $?) \
        "$m: run keeps the container's filter in its directory"
    cp "$dir/seccomp.bpf" "$T/sc.keep"
    cp "$adm/seccomp.bpf" "$dir/.sc.new" && mv "$dir/.sc.new" "$dir/seccomp.bpf"
    run $X "$STRATA" exec ${m}_sc /probe/syscall_probe
    probe_is "$out" umount2 E22 "$m: exec loads the filter kept at run (not one made again)"
    probe_is "$out" keyctl EPERM "$m: ... which still refuses keyctl"
    head -c 3000 "$T/sc.keep" > "$dir/.sc.new" && mv "$dir/.sc.new" "$dir/seccomp.bpf"
    run $X "$STRATA" exec ${m}_sc sh -c 'echo ran'
    ok $([ "$rc" -ne 0 ] && ! printf '%s' "$out" | grep -q ran; echo $?) \
        "$m: exec refuses a damaged kept filter"
    like "$out" "filter \`$dir/seccomp.bpf\` is damaged" "$m: ... and names the file"
    mv "$T/sc.keep" "$dir/seccomp.bpf"
    run $X "$STRATA" exec ${m}_sc /probe/syscall_probe
    probe_is "$out" umount2 EPERM "$m: the container's own filter again"
    $X "$STRATA" rm -f ${m}_sc ${m}_unc ${m}_adm >/dev/null 2>&1

    # a damaged cache entry is compiled again, never loaded
    for f in "$store/cache/seccomp/"seccomp-*.bpf; do printf 'xyz' > "$f"; done
    run r /probe/syscall_probe
    probe_is "$out" keyctl EPERM "$m: a damaged cached filter is rebuilt"
}

suite root
suite user

# the /proc view's sysinfo trap goes in front of the default filter (one
# program): sysinfo is answered by the view, the denials still hold; the
# kept filter has no trap, so an exec'd process gets the host's sysinfo
# (not ENOSYS); unconfined, the trap is a small filter of its own
if run "$STRATA" run --rm -m 64m --rootfs "$R" true && [ "$rc" -eq 0 ]; then
    run "$STRATA" run --rm -m 64m $LIBS --rootfs "$R" sh -c 'free | sed -n 2p; grep Seccomp_filters /proc/self/status; /probe/syscall_probe'
    like "$out" "Mem: +65536 " "root, -m 64m: sysinfo (busybox free) answered by the /proc view"
    like "$out" "Seccomp_filters:.1" "root, -m 64m: ... under one filter"
    probe_is "$out" keyctl EPERM "root, -m 64m: ... which still refuses keyctl"
    probe_is "$out" umount2 EPERM "root, -m 64m: ... and umount2"
    run "$STRATA" run --rm -m 64m --security-opt seccomp=unconfined --rootfs "$R" sh -c 'free | sed -n 2p; grep Seccomp_filters /proc/self/status'
    like "$out" "Mem: +65536 " "root, -m 64m, unconfined: sysinfo answered by the /proc view"
    like "$out" "Seccomp_filters:.1" "root, -m 64m, unconfined: ... under its small filter alone"
    "$STRATA" run -d --name pv_sc -m 64m $LIBS --rootfs "$R" sleep 30 >/dev/null
    at_cleanup "$STRATA rm -f pv_sc"
    run "$STRATA" exec pv_sc sh -c 'free | sed -n 2p; /probe/syscall_probe'
    ok $([ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q "^Mem:" &&
         ! printf '%s\n' "$out" | grep -q "Mem: *65536 "; echo $?) \
        "root, -m 64m: exec'd sysinfo gets the host's answer (the kept filter has no trap)"
    probe_is "$out" keyctl EPERM "root, -m 64m: exec'd process still refuses keyctl"
    "$STRATA" rm -f pv_sc >/dev/null 2>&1
else
    for i in 1 2 3 4 5 6 7 8; do skip "memory limits cannot be enforced here"; done
fi
done_testing
