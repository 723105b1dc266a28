#!/bin/sh
# The /proc view (issue 8): a busybox container run with -m 256m --cpus 1
# sees MemTotal = 256 MiB, MemAvailable within it, one CPU in nproc,
# /proc/cpuinfo, /proc/stat and the online mask, and MemAvailable falls as
# a process inside fills 64 MiB of tmpfs; without limits (or with
# --no-proc-view) the host's numbers pass through.  The same rootless: where
# this machine cannot enforce limits for an unprivileged user (cgroup v1 or
# hybrid), `strata run -m` must fail saying so, and the host's values
# pass through.  busybox `free` reads sysinfo(2), which the view answers
# through a seccomp notify filter.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/60-procview-lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
"$STRATA" run --help >/dev/null 2>&1 || skip_all "strata run is not available"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
R=$T/rootfs
make_busybox_rootfs "$R" || skip_all "cannot build a busybox rootfs"
chmod -R a+rX "$R"
bb() { "$STRATA" run --rm --rootfs "$R" "$@"; }
bb_user() { as_user "$STRATA" run --rm --rootfs "$R" "$@"; }

host_kb() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
host_total=$(host_kb MemTotal)
host_online=$(cat /sys/devices/system/cpu/online)
host_ncpu=$(grep -c '^processor' /proc/cpuinfo)

check_limited() { # WHO OUTPUT
    is "$(val "$2" total)" 262144 "$1: MemTotal is the 256m limit"
    a=$(val "$2" avail)
    [ -n "$a" ] && [ "$a" -gt 0 ] && [ "$a" -le 262144 ]
    ok $? "$1: 0 < MemAvailable ($a kB) <= the limit"
    is "$(val "$2" free_total)" 256 "$1: free -m shows 256 MiB"
    is "$(val "$2" nproc)" 1 "$1: nproc is 1 with --cpus 1"
    is "$(val "$2" cpuinfo)" 1 "$1: /proc/cpuinfo lists one processor"
    is "$(val "$2" statcpus)" 1 "$1: /proc/stat has one cpuN line"
    like "$(val "$2" online)" '^[0-9]+$' "$1: the online mask is a single cpu"
    u=$(val "$2" uptime)
    [ -n "$u" ] && [ "$u" -lt 60 ]
    ok $? "$1: /proc/uptime counts from the container's start ($u s)"
}

check_host() { # WHO OUTPUT
    is "$(val "$2" total)" "$host_total" "$1: MemTotal is the host's"
    is "$(val "$2" online)" "$host_online" "$1: the online mask is the host's"
    is "$(val "$2" cpuinfo)" "$host_ncpu" "$1: /proc/cpuinfo lists the host's processors"
}

check_grow() { # WHO OUTPUT
    set -- "$1" $2
    if [ $# -eq 3 ] && [ "$3" -le $(($2 - 60000)) ]; then
        pass "$1: MemAvailable fell by the 64 MiB written to tmpfs ($2 -> $3 kB)"
    else
        fail "$1: MemAvailable fell by the 64 MiB written to tmpfs"
        diag "got: $*"
    fi
}

# ---- root ----
if is_root; then
    run bb -m 256m --cpus 1 sh -c "$probe"
    ok $rc "root: run with -m 256m --cpus 1"
    [ $rc -eq 0 ] || diag "$out"
    check_limited root "$out"
    run bb -m 256m sh -c "$grow"
    ok $rc "root: fill tmpfs inside a 256m container"
    check_grow root "$out"

    # an image: the union root's helper primes the view, the caller
    # holds its mount until the container is gone
    "$STRATA" import "$R" t60img >/dev/null 2>&1
    run "$STRATA" run --rm -m 256m --cpus 1 t60img sh -c "$probe"
    ok $rc "root: image run with -m 256m --cpus 1"
    check_limited "root, image" "$out"

    run bb sh -c "$probe"
    ok $rc "root: run without limits"
    check_host "root, no limits" "$out"
    is "$(val "$out" nproc)" "$(nproc)" "root, no limits: nproc is the host's"

    run bb --no-proc-view -m 256m --cpus 1 sh -c "$probe"
    ok $rc "root: run with --no-proc-view"
    check_host "root, --no-proc-view" "$out"

    # glibc and Debian's tools (the host's /usr, read-only): python3's
    # os.cpu_count() and getconf read the online mask, coreutils nproc the
    # affinity, procps free /proc/meminfo
    if [ -x /usr/bin/python3 ] && [ -x /usr/bin/free ] && [ -x /usr/bin/getconf ]; then
        mkdir -p "$R/usr"
        [ -e "$R/lib" ] || ln -s usr/lib "$R/lib"
        [ -e "$R/lib64" ] || ln -s usr/lib64 "$R/lib64"
        run bb -v /usr:/usr:ro -m 256m --cpus 1 /usr/bin/sh -c \
            '/usr/bin/python3 -c "import os; print(os.cpu_count(), len(os.sched_getaffinity(0)))"
             /usr/bin/nproc; /usr/bin/getconf _NPROCESSORS_ONLN
             /usr/bin/free -m | /bin/awk "/^Mem:/{print \$2}"'
        is "$(echo $out)" "1 1 1 1 256" "root: python3 cpu_count/affinity, coreutils nproc, getconf, procps free agree"
    else
        skip "Debian readers: python3, procps free or getconf missing on the host"
    fi

    run bb -m 256m --cpus 1 --cpuset-cpus 0 cat /sys/devices/system/cpu/online
    is "$out" 0 "root: --cpuset-cpus 0 shows cpu 0 online"
    run bb -m 512m --memory-swap 512m awk '/^SwapTotal:/{print $2}' /proc/meminfo
    is "$out" 0 "root: --memory-swap equal to -m: no swap in meminfo"

    # detached: the monitor serves the view while it waits for the
    # container, so a process exec'd into it reads the limit too
    N=t60-$$
    at_cleanup "\"$STRATA\" rm -f $N"
    run "$STRATA" run -d --name $N --rootfs "$R" -m 128m --cpus 1 sleep 60
    ok $rc "root: run -d with limits"
    run timeout 30 "$STRATA" exec $N awk '/^MemTotal:/{print $2}' /proc/meminfo
    is "$out" 131072 "root, -d: exec reads MemTotal = the 128m limit from the view"
    run timeout 30 "$STRATA" exec $N cat /sys/devices/system/cpu/online
    like "$out" '^[0-9]+$' "root, -d: and a single cpu online"
    "$STRATA" rm -f $N >/dev/null 2>&1
else
    skip "root checks: not root"
fi

# ---- rootless ----
if is_root; then
    run bb_user -m 256m --cpus 1 sh -c "$probe"
    if [ $rc -eq 0 ]; then
        # a delegated cgroup v2 subtree: limits hold rootless too
        pass "rootless: run with -m 256m --cpus 1 (delegated cgroup)"
        check_limited rootless "$out"
        run bb_user -m 256m sh -c "$grow"
        check_grow rootless "$out"
    else
        # cgroup v1 / hybrid: the hierarchies are root's
        is "$rc" 125 "rootless: -m cannot be enforced here: the container does not start"
        like "$out" 'cannot enforce --memory' "rootless: and the error says so plainly"
        diag "$out"
    fi
    run bb_user sh -c "$probe"
    ok $rc "rootless: run without limits"
    [ $rc -eq 0 ] || diag "$out"
    check_host "rootless, no limits" "$out"
    is "$(val "$out" nproc)" "$(nproc)" "rootless, no limits: nproc is the host's"
else
    skip "rootless checks need root to switch users"
fi

done_testing
