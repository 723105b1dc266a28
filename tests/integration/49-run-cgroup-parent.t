#!/bin/sh
# Where a container's cgroup is, recorded at run time (issue 4): `run
# --cgroup-parent P` (or STRATA_CGROUP_PARENT=P, the flag's default) puts it
# under P, and exec, rm and inspect find it from the container's state, not
# from their own environment:
#  - as root and rootless (a cgroup delegated to uid $TEST_UID by chown):
#    exec WITHOUT the variable joins the container's cgroup (its
#    /proc/self/cgroup is PID 1's), inspect shows HostConfig.CgroupParent,
#    State.CgroupPath and State.CgroupPaths, and once the container's
#    monitor is killed (so nothing tears the cgroup down) rm without the
#    variable removes it;
#  - a parent that does not exist, or that the user may not write, is an
#    error naming the path;
#  - state written before the paths were recorded still works (found where
#    the variable says, as before).
# Only cgroups this test makes (strata-t49-PID*) are touched, and removed at
# the end, also on failure.
. "$STRATA_SRC/tests/lib.sh"

is_root || skip_all "needs root to make (and delegate) cgroups"
command -v busybox >/dev/null || skip_all "busybox-static is not installed"
[ -f /sys/fs/cgroup/memory/tasks ] ||
    skip_all "not a cgroup v1/hybrid machine with a memory hierarchy"
R=$T/rootfs
make_run_rootfs "$R" || { diag "cannot build a busybox rootfs"; exit 1; }

P=strata-t49-$$
HIER=memory
[ -f /sys/fs/cgroup/unified/cgroup.controllers ] && HIER="$HIER unified"
# kill what is left in our cgroups, then rmdir bottom-up
uncgroup() {
    for h in $HIER; do
        for d in /sys/fs/cgroup/$h/$P /sys/fs/cgroup/$h/$P-u /sys/fs/cgroup/$h/$P-ro; do
            [ -d "$d" ] || continue
            find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
    done
}
at_cleanup uncgroup
for h in $HIER; do
    mkdir /sys/fs/cgroup/$h/$P || bail=1
done
# rootless: the memory hierarchy only (a v2 tracker under a root-owned
# common ancestor cannot be joined; v1 tracks then)
mkdir /sys/fs/cgroup/memory/$P-u && chown -R "$TEST_UID:$TEST_GID" /sys/fs/cgroup/memory/$P-u ||
    bail=1
mkdir /sys/fs/cgroup/memory/$P-ro || bail=1
[ -z "${bail:-}" ] || skip_all "cannot create cgroups under /sys/fs/cgroup"

NE="env -u STRATA_CGROUP_PARENT"
# the monitor goes (kill -9): the container dies with it (PDEATHSIG), but
# nothing removes the cgroup, which is rm's job then.  kill_monitor "X" NAME
kill_monitor() {
    _m=$($1 "$STRATA" inspect --format '{{.State.MonitorPid}}' "$2")
    [ -n "$_m" ] && [ "$_m" -gt 0 ] && kill -9 "$_m"
    _i=0
    while [ $_i -lt 100 ]; do
        $1 "$STRATA" ps -a | grep "$2" | grep -q Exited && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    return 1
}
at_cleanup "$NE '$STRATA' rm -f $P-old"

for m in root user; do
    if [ $m = user ]; then
        X=as_user PAR=/$P-u NOPV=--no-proc-view
    else
        X= PAR=/$P NOPV=
    fi
    N=$P-$m
    at_cleanup "$X $NE '$STRATA' rm -f $N-a $N-b $N-c"

    # ---- --cgroup-parent, then exec without the variable ----
    run $X $NE "$STRATA" run -d --name $N-a --cgroup-parent $PAR $NOPV --rootfs "$R" -m 64m \
        sleep 60
    ok $rc "$m: run -d --cgroup-parent $PAR -m 64m"
    [ $rc -eq 0 ] || diag "$out"
    id=$($X $NE "$STRATA" inspect --format '{{.Id}}' $N-a)
    dir=/sys/fs/cgroup/memory$PAR/strata/$id
    ok $([ -n "$id" ] && [ -d "$dir" ]; echo $?) "$m: its cgroup is <parent>/strata/ID"
    run $X $NE "$STRATA" exec $N-a sh -c 'cat /proc/self/cgroup; echo =; cat /proc/1/cgroup'
    self=$(printf '%s\n' "$out" | sed '/^=$/,$d')
    one=$(printf '%s\n' "$out" | sed '1,/^=$/d')
    ok $([ $rc -eq 0 ] && [ -n "$self" ] && [ "$self" = "$one" ]; echo $?) \
        "$m: exec without the variable joins the container's cgroup"
    [ "$self" = "$one" ] || diag "exec: $self" "PID 1: $one"
    run $X $NE "$STRATA" inspect --format '{{.HostConfig.CgroupParent}}' $N-a
    is "$out" "$PAR" "$m: inspect shows HostConfig.CgroupParent"
    run $X $NE "$STRATA" inspect --format '{{.State.CgroupPaths.memory}}' $N-a
    is "$out" "$dir" "$m: inspect shows State.CgroupPaths"
    run $X $NE "$STRATA" inspect --format '{{.State.CgroupPath}}' $N-a
    is "$out" "$PAR/strata/$id" "$m: inspect shows State.CgroupPath"
    run $X $NE "$STRATA" stop -t 1 $N-a
    ok $([ $rc -eq 0 ] && [ ! -d "$dir" ]; echo $?) "$m: stop without the variable: the cgroup is gone"
    $X $NE "$STRATA" rm $N-a >/dev/null 2>&1

    # ---- no limits: still a cgroup under the parent (rootless: a v1 one) ----
    run $X $NE "$STRATA" run -d --name $N-c --cgroup-parent $PAR $NOPV --rootfs "$R" sleep 60
    ok $rc "$m: run -d --cgroup-parent $PAR without limits"
    id=$($X $NE "$STRATA" inspect --format '{{.Id}}' $N-c)
    run $X $NE "$STRATA" inspect --format '{{.State.CgroupPath}}' $N-c
    is "$out" "$PAR/strata/$id" "$m: ... its cgroup is under the parent"
    run $X $NE "$STRATA" exec $N-c sh -c 'cat /proc/self/cgroup; echo =; cat /proc/1/cgroup'
    self=$(printf '%s\n' "$out" | sed '/^=$/,$d')
    one=$(printf '%s\n' "$out" | sed '1,/^=$/d')
    ok $([ $rc -eq 0 ] && [ -n "$self" ] && [ "$self" = "$one" ]; echo $?) "$m: ... and exec joins it"
    run $X $NE "$STRATA" rm -f $N-c
    left=$(ls -d /sys/fs/cgroup/*$PAR/strata/$id 2>/dev/null)
    ok $([ $rc -eq 0 ] && [ -z "$left" ]; echo $?) "$m: ... rm -f removes it"

    # ---- the variable at run time, rm without it ----
    run $X env STRATA_CGROUP_PARENT=$PAR "$STRATA" run -d --name $N-b $NOPV --rootfs "$R" -m 64m \
        sleep 60
    ok $rc "$m: run -d with STRATA_CGROUP_PARENT=$PAR"
    id=$($X $NE "$STRATA" inspect --format '{{.Id}}' $N-b)
    dir=/sys/fs/cgroup/memory$PAR/strata/$id
    run $X $NE "$STRATA" exec $N-b sh -c 'cat /proc/self/cgroup; echo =; cat /proc/1/cgroup'
    self=$(printf '%s\n' "$out" | sed '/^=$/,$d')
    one=$(printf '%s\n' "$out" | sed '1,/^=$/d')
    ok $([ $rc -eq 0 ] && [ -n "$self" ] && [ "$self" = "$one" ]; echo $?) \
        "$m: the variable at run time, exec without it joins"
    kill_monitor "$X $NE" $N-b
    ok $([ -n "$id" ] && [ -d "$dir" ]; echo $?) "$m: its monitor killed, the cgroup is left"
    run $X $NE "$STRATA" rm $N-b
    ok $rc "$m: rm without the variable"
    [ $rc -eq 0 ] || diag "$out"
    ok $([ ! -d "$dir" ]; echo $?) "$m: ... removes the cgroup"
done

# ---- the OOM check reads the recorded cgroup: a child is OOM-killed, the
# monitor dies before recording the end; inspect still says OOMKilled ----
run $NE "$STRATA" run -d --name $P-oom --cgroup-parent /$P --rootfs "$R" -m 32m --memory-swap 32m \
    sh -c 'tail /dev/zero; sleep 60'
ok $rc "run -d a container whose child hits -m 32m"
at_cleanup "$NE '$STRATA' rm -f $P-oom"
id=$($NE "$STRATA" inspect --format '{{.Id}}' $P-oom)
wait_for sh -c 'grep -q "^oom_kill [1-9]" "$0"/memory.oom_control' "/sys/fs/cgroup/memory/$P/strata/$id"
ok $? "... the child was OOM-killed"
kill_monitor "$NE" $P-oom
run $NE "$STRATA" inspect --format '{{.State.OOMKilled}}' $P-oom
is "$out" true "its monitor gone, inspect reads OOMKilled from the recorded cgroup"
run $NE "$STRATA" rm $P-oom
ok $([ $rc -eq 0 ] && [ ! -d /sys/fs/cgroup/memory/$P/strata/$id ]; echo $?) "... and rm removes it"

# ---- bad parents: errors naming the path ----
run $NE "$STRATA" run --rm --cgroup-parent /$P-missing --rootfs "$R" true
is "$rc" 125 "a parent that does not exist is refused"
like "$out" "cgroup/[a-z]+/$P-missing\` does not exist" "... naming the path"
run $NE "$STRATA" run --rm --cgroup-parent /$P-missing --rootfs "$R" -m 64m true
like "$out" "memory/$P-missing\` does not exist" "... also where a limit needs it"
run as_user $NE "$STRATA" run --rm --cgroup-parent /$P-ro --no-proc-view --rootfs "$R" -m 64m true
is "$rc" 125 "rootless: a parent not delegated to the user is refused"
like "$out" "memory/$P-ro\` is not writable by uid $TEST_UID" "... naming the path"
run $NE "$STRATA" run --rm --cgroup-parent "$P" --rootfs "$R" true
like "$out" "cgroup parent \`$P\` must be an absolute" "a relative parent is refused"

# ---- state from before the paths were recorded: the variable, as before ----
if command -v jq >/dev/null; then
    run env STRATA_CGROUP_PARENT=/$P "$STRATA" run -d --name $P-old --rootfs "$R" -m 64m sleep 60
    ok $rc "run -d with the variable (to age its state)"
    id=$($NE "$STRATA" inspect --format '{{.Id}}' $P-old)
    c=$STRATA_ROOT/containers/$id
    jq 'del(.CgroupPaths, .CgroupMode, .CgroupPath)' "$c/state.json" >"$c/.s" &&
        mv "$c/.s" "$c/state.json" &&
        jq 'del(.CgroupParent)' "$c/config.json" >"$c/.c" && mv "$c/.c" "$c/config.json"
    ok $? "its state and config without the cgroup fields"
    run env STRATA_CGROUP_PARENT=/$P "$STRATA" exec $P-old sh -c 'cat /proc/self/cgroup; echo =; cat /proc/1/cgroup'
    self=$(printf '%s\n' "$out" | sed '/^=$/,$d')
    one=$(printf '%s\n' "$out" | sed '1,/^=$/d')
    ok $([ $rc -eq 0 ] && [ -n "$self" ] && [ "$self" = "$one" ]; echo $?) \
        "old state: exec with the variable still joins"
    run env STRATA_CGROUP_PARENT=/$P "$STRATA" inspect --format '{{.State.CgroupPaths.memory}}' $P-old
    is "$out" "/sys/fs/cgroup/memory/$P/strata/$id" "old state: inspect finds the cgroup"
    kill_monitor "$NE" $P-old
    run env STRATA_CGROUP_PARENT=/$P "$STRATA" rm $P-old
    ok $([ $rc -eq 0 ] && [ ! -d /sys/fs/cgroup/memory/$P/strata/$id ]; echo $?) \
        "old state: rm with the variable removes the cgroup"
else
    skip "old state: jq is not installed"
fi

left=$(find /sys/fs/cgroup/memory/$P /sys/fs/cgroup/memory/$P-u -mindepth 2 -type d 2>/dev/null)
is "$left" "" "no container cgroup is left under ours"
done_testing
