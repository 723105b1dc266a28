#!/bin/sh
# cgroup limits through strata run: a memory hog is OOM-killed at -m 64m
# (exit 137, inspect says OOMKilled), a fork bomb stops at --pids-limit 50,
# --cpus 0.5 is the CFS quota the container sees; a container joins only
# the hierarchies its limits need (memory and cpu for -m --cpus, plus the
# v2 tree that tracks its processes), and its cgroup is removed afterwards.
# Only this test's own containers' cgroups are looked at: other tests may
# run containers meanwhile.  Rootless on a layout without a delegated
# cgroup, a limit is refused plainly instead of ignored.
. "$STRATA_SRC/tests/lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
R=$T/rootfs
make_busybox_rootfs "$R"
chmod -R a+rX "$R"

# the cgroup directories of container ID, wherever they are
cgroups_of() { ls -d /sys/fs/cgroup/*/strata/"$1" /sys/fs/cgroup/strata/"$1" 2>/dev/null; }
cid() { "$STRATA" inspect --format '{{.Id}}' "$1"; }
N=lim$$

if is_root && [ -d /sys/fs/cgroup ]; then
    # tail buffers an endless line: it grows until the limit stops it
    run "$STRATA" run --name $N-hog --rootfs "$R" -m 64m --memory-swap 64m sh -c 'tail /dev/zero'
    is "$rc" 137 "a memory hog at -m 64m is killed: 137"
    run "$STRATA" inspect --format '{{.State.OOMKilled}}' $N-hog
    is "$out" true "inspect says OOMKilled"
    id=$(cid $N-hog)
    "$STRATA" rm $N-hog >/dev/null
    is "$(cgroups_of "$id")" "" "the hog's cgroup is gone"

    # a detached container with -m and --cpus: which hierarchies it joined
    at_cleanup "'$STRATA' rm -f $N-d"
    run "$STRATA" run -d --name $N-d --rootfs "$R" -m 64m --cpus 0.5 sleep 60
    ok $rc "run -d -m 64m --cpus 0.5"
    id=$(cid $N-d)
    if [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/unified ]; then
        joined=$(cgroups_of "$id" | sed 's|^/sys/fs/cgroup/||; s|/strata/.*||' | sort | tr '\n' ' ')
        is "$joined" "$(for h in cpu memory unified; do echo $h; done | sort | tr '\n' ' ')" \
            "hybrid: -m --cpus joins memory, cpu and the v2 tree only"
    else
        skip "joined hierarchies: not the hybrid layout"
    fi
    run "$STRATA" ps
    like "$out" "$N-d" "ps lists the running container"
    run "$STRATA" stop -t 1 $N-d
    ok $rc "stop the container"
    is "$(cgroups_of "$id")" "" "stop: its cgroup is gone"
    "$STRATA" rm $N-d >/dev/null

    # a subshell forks 100 sleeps against a limit of 50 (and dies when
    # fork fails); the shell then reports with builtins only
    run "$STRATA" run --rm --rootfs "$R" --pids-limit 50 sh -c '
        (i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done) 2>/dev/null
        f=/sys/fs/cgroup/pids/pids.max; [ -e $f ] || f=/sys/fs/cgroup/pids.max
        read max < $f; g=${f%.max}.current; read cur < $g
        echo "$max $cur"'
    set -- $out
    is "${1:-}" 50 "--pids-limit 50 is the pids.max the container sees"
    ok $([ "${2:-99}" -le 50 ] && [ "${2:-0}" -ge 40 ]; echo $?) \
        "a fork bomb stops at 50 tasks (${2:-?} running)"

    run "$STRATA" run --rm --rootfs "$R" --cpus 0.5 sh -c '
        if [ -e /sys/fs/cgroup/cpu.max ]; then cat /sys/fs/cgroup/cpu.max
        else echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us); fi'
    is "$out" "50000 100000" "--cpus 0.5 is visible as the quota"
    run "$STRATA" run --name $N-v --rootfs "$R" --cpus 1 -m 256m sh -c 'nproc; dd if=/proc/meminfo bs=64k 2>/dev/null | grep MemTotal'
    like "$(echo $out)" "^1 MemTotal: +262144 kB" "the /proc view shows the limits"
    id=$(cid $N-v)
    "$STRATA" rm $N-v >/dev/null
    is "$(cgroups_of "$id")" "" "no cgroup is left behind"
else
    skip "not root: the root cgroup tests need root"
fi

# rootless: where the caller cannot write a cgroup, limits are refused
run as_user "$STRATA" run --rm --rootfs "$R" -m 64m true
if [ "$rc" -eq 0 ]; then
    pass "rootless -m works here (a delegated cgroup v2 tree)"
    run as_user "$STRATA" run --rm --rootfs "$R" -m 64m --memory-swap 64m sh -c 'tail /dev/zero'
    is "$rc" 137 "rootless: a memory hog is killed"
else
    is "$rc" 125 "rootless -m without a writable cgroup is refused"
    like "$out" "cannot enforce --memory" "... saying so plainly"
fi
run as_user "$STRATA" run --rm --rootfs "$R" true
is "$rc" 0 "rootless without limits runs"
done_testing
