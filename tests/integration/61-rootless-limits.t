#!/bin/sh
# Rootless limits on cgroup v1 / hybrid through a delegated cgroup (issues 4
# and 8): as root we hand uid $TEST_UID a cgroup in the memory and cpu
# hierarchies (mkdir + chown -R, as systemd's Delegate= or an admin does),
# then, unprivileged, `strata run -m 256m --cpus 1` enforces the limits and
# the /proc view shows them -- the same checks as 60-procview's root ones:
#  - with STRATA_CGROUP_PARENT naming the delegated cgroup: MemTotal is
#    256 MiB, 0 < MemAvailable <= the limit, free -m, nproc, cpuinfo, stat
#    and the online mask show one CPU, MemAvailable falls as 64 MiB are
#    written to tmpfs, a memory hog at -m 64m is killed with 137, a
#    detached container's cgroup sits under the delegated one and goes
#    with `stop`;
#  - from inside the delegated cgroup (the caller's own, /proc/self/cgroup)
#    without the variable: the same limits;
#  - without delegation the plain refusal stays.
# The delegated cgroups are removed at the end, also on failure.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/60-procview-lib.sh"

is_root || skip_all "needs root to delegate a cgroup to uid $TEST_UID"
command -v busybox >/dev/null || skip_all "busybox-static is not installed"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -f /sys/fs/cgroup/memory/tasks ] && [ -f /sys/fs/cgroup/cpu/tasks ] ||
    skip_all "not a cgroup v1/hybrid machine with memory and cpu hierarchies"
R=$T/rootfs
make_busybox_rootfs "$R" || skip_all "cannot build a busybox rootfs"
chmod -R a+rX "$R"

D=strata-t61-$$
HIER="memory cpu"
# the delegation's undoing: kill what is left in it, then rmdir bottom-up
undelegate() {
    for h in $HIER; do
        [ -d /sys/fs/cgroup/$h/$D ] || continue
        find /sys/fs/cgroup/$h/$D -name cgroup.procs -exec cat {} + 2>/dev/null |
            xargs -r kill -9 2>/dev/null
        find /sys/fs/cgroup/$h/$D -depth -type d -exec rmdir {} + 2>/dev/null
    done
}
at_cleanup undelegate
for h in $HIER; do
    mkdir /sys/fs/cgroup/$h/$D && chown -R "$TEST_UID:$TEST_GID" /sys/fs/cgroup/$h/$D ||
        bail=1
done
[ -z "${bail:-}" ] || skip_all "cannot create a cgroup to delegate"

ur() { as_user env STRATA_CGROUP_PARENT=/$D "$STRATA" run "$@"; }

# ---- a configured parent (STRATA_CGROUP_PARENT) ----
run ur --rm --rootfs "$R" -m 256m --cpus 1 sh -c "$probe"
ok $rc "rootless, delegated v1 cgroup: run with -m 256m --cpus 1"
[ $rc -eq 0 ] || diag "$out"
is "$(val "$out" total)" 262144 "MemTotal is the 256m limit"
a=$(val "$out" avail)
[ -n "$a" ] && [ "$a" -gt 0 ] && [ "$a" -le 262144 ]
ok $? "0 < MemAvailable ($a kB) <= the limit"
is "$(val "$out" free_total)" 256 "free -m (sysinfo) shows 256 MiB"
is "$(val "$out" nproc)" 1 "nproc is 1 with --cpus 1"
is "$(val "$out" cpuinfo)" 1 "/proc/cpuinfo lists one processor"
is "$(val "$out" statcpus)" 1 "/proc/stat has one cpuN line"
like "$(val "$out" online)" '^[0-9]+$' "the online mask is a single cpu"

# an image: the union root's helper primes the view and the caller holds
# its mount to the end
as_user "$STRATA" import "$R" t61img >/dev/null 2>&1
run ur --rm -m 256m --cpus 1 t61img sh -c "$probe"
ok $rc "rootless image run with -m 256m --cpus 1"
is "$(val "$out" total)" 262144 "image: MemTotal is the 256m limit"
is "$(val "$out" nproc)" 1 "image: nproc is 1"

run ur --rm --rootfs "$R" -m 256m sh -c "$grow"
set -- $out
if [ $rc -eq 0 ] && [ $# -eq 2 ] && [ "$2" -le $(($1 - 60000)) ]; then
    pass "MemAvailable fell by the 64 MiB written to tmpfs ($1 -> $2 kB)"
else
    fail "MemAvailable fell by the 64 MiB written to tmpfs"
    diag "rc=$rc got: $out"
fi

run ur --rm --rootfs "$R" -m 64m --memory-swap 64m sh -c 'tail /dev/zero'
is "$rc" 137 "a memory hog at -m 64m is killed rootless: 137"

# a detached container: its cgroup is under the delegated one, and goes
N=t61-$$
run ur -d --name $N --rootfs "$R" -m 64m --cpus 0.5 sleep 60
ok $rc "rootless run -d with limits"
id=$(as_user "$STRATA" inspect --format '{{.Id}}' $N)
ok $([ -n "$id" ] && [ -d /sys/fs/cgroup/memory/$D/strata/"$id" ] &&
    [ -d /sys/fs/cgroup/cpu/$D/strata/"$id" ]; echo $?) \
    "its cgroup is <delegated>/strata/ID in memory and cpu"
is "$(cat /sys/fs/cgroup/cpu/$D/strata/"$id"/cpu.cfs_quota_us 2>/dev/null)" 50000 \
    "--cpus 0.5 is the quota"
run as_user timeout 30 "$STRATA" exec $N awk '/^MemTotal:/{print $2}' /proc/meminfo
is "$out" 65536 "exec in it reads MemTotal = the 64m limit (the monitor serves the view)"
# where the cgroup is was recorded at run: stop and rm need no variable
run as_user "$STRATA" stop -t 1 $N
ok $rc "stop it"
ok $([ ! -d /sys/fs/cgroup/memory/$D/strata/"$id" ] &&
    [ ! -d /sys/fs/cgroup/cpu/$D/strata/"$id" ]; echo $?) "its cgroup is gone"
as_user "$STRATA" rm -f $N >/dev/null 2>&1

# ---- the caller's own cgroup, delegated (no variable) ----
run as_user sh -c 'for h in '"$HIER"'; do echo $$ > /sys/fs/cgroup/$h/'"$D"'/cgroup.procs || exit 99; done
    exec "$0" run --rm --rootfs "$1" -m 256m --cpus 1 sh -c "$2"' "$STRATA" "$R" "$probe"
ok $rc "from inside the delegated cgroup: run with -m 256m --cpus 1"
[ $rc -eq 0 ] || diag "$out"
is "$(val "$out" total)" 262144 "... MemTotal is the limit"
is "$(val "$out" nproc)" 1 "... nproc is 1"

# ---- no delegation: refused, plainly ----
run as_user "$STRATA" run --rm --rootfs "$R" -m 64m true
is "$rc" 125 "without a delegated cgroup -m is refused"
like "$out" "cannot enforce --memory" "... saying so"
like "$out" "STRATA_CGROUP_PARENT" "... and how to delegate"

# nothing of ours is left under the delegated cgroups
left=$(find /sys/fs/cgroup/memory/$D /sys/fs/cgroup/cpu/$D -mindepth 2 -type d 2>/dev/null)
is "$left" "" "no container cgroup is left under the delegated ones"
done_testing
