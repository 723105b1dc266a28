#!/bin/sh
# Containers over time, as root and rootless: -d and logs, ps (also after
# kill -9 of `strata run`), exec in the same namespaces with only fds 0-2,
# stop with the stop signal then KILL, kill, rm, inspect.
. "$STRATA_SRC/tests/lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
R=$T/rootfs
make_busybox_rootfs "$R"
chmod -R a+rX "$R"

suite() {
    m=$1
    if [ "$m" = user ]; then X=as_user; else X=; fi
    s() { $X "$STRATA" "$@"; }
    at_cleanup "$X $STRATA rm -f ${m}_web ${m}_k9 ${m}_st ${m}_f >/dev/null 2>&1"

    run s run -d --name ${m}_web --rootfs "$R" sh -c 'echo to-out; echo to-err >&2; exec sleep 30'
    is "$rc" 0 "$m: run -d succeeds"
    like "$out" '^[0-9a-f]{64}$' "$m: run -d prints the id"
    id=$out
    run s ps
    like "$out" "${m}_web" "$m: ps lists the running container"
    like "$out" "Up " "$m: ... as up"
    logs_done() { s logs ${m}_web | grep -q to-err; }
    wait_for logs_done
    run s logs ${m}_web
    like "$(echo $out)" "to-out to-err" "$m: logs has stdout and stderr"
    run s inspect --format '{{.State.Status}}' ${m}_web
    is "$out" running "$m: inspect State.Status running"

    run s exec ${m}_web sh -c 'cat /proc/1/comm; readlink /proc/1/ns/pid; readlink /proc/self/ns/pid'
    set -- $out
    is "$1" sleep "$m: exec sees the container's PID 1"
    is "${2:-x}" "${3:-y}" "$m: exec is in the same PID namespace"
    run s exec ${m}_web sh -c 'ls -l /proc/1/fd | grep -c -- "->"; ls /proc/1/fd | tr "\n" " "'
    is "$(echo $out)" "3 0 1 2" "$m: only fds 0-2 reach the process"
    run s exec ${m}_web sh -c 'sleep 2 & sleep 0.5; ls -l /proc/$!/fd | grep -c -- "->"'
    is "$out" 3 "$m: only fds 0-2 reach an exec'd process"
    run s exec -e X=1 -w /tmp ${m}_web sh -c 'echo $X $(pwd) $(hostname)'
    is "$out" "1 /tmp $(echo $id | cut -c1-12)" "$m: exec -e -w, the container's hostname"
    run s exec ${m}_web sh -c 'exit 7'
    is "$rc" 7 "$m: exec exits with the command's status"
    run s exec ${m}_web sh -c 'grep NoNewPrivs /proc/self/status'
    like "$out" "NoNewPrivs:.1" "$m: exec'd processes have no_new_privs"
    # signals ignored by exec's caller are the default again in the process
    out=$(trap '' USR1 PIPE; s exec ${m}_web grep SigIgn /proc/self/status 2>&1)
    like "$out" "SigIgn:.0000000000000000" "$m: exec resets the signals its caller ignored"
    # -t: the process gets a pty of the container's (the forked path)
    run s exec -t ${m}_web sh -c 'tty; exit 4' </dev/null
    is "$rc" 4 "$m: exec -t exits with the command's status"
    like "$out" "^/dev/pts/[0-9]" "$m: exec -t gives the process a terminal"
    run s exec ${m}_web /no/such/program
    is "$rc" 127 "$m: exec of a missing program exits 127"
    like "$out" "no/such/program" "$m: ... and names it"

    run s rm ${m}_web
    ok $((rc == 0)) "$m: rm refuses a running container"
    run s kill -s TERM ${m}_web
    is "$rc" 0 "$m: kill -s TERM"
    run s kill ${m}_web
    is "$rc" 0 "$m: kill (KILL)"
    run s ps -a
    like "$out" "Exited \(137\).*${m}_web" "$m: ps -a: killed by KILL, exit 137"
    run s rm ${m}_web
    is "$rc" 0 "$m: rm"
    run s ps -a
    ok $(echo "$out" | grep -q ${m}_web; [ $? -ne 0 ]; echo $?) "$m: ... and it is gone"
    ok $(ls "$STRATA_ROOT/containers" 2>/dev/null | grep -q "$id"; [ $? -ne 0 ]; echo $?) \
        "$m: ... with its directory"

    # stop: the stop signal (caught here), no KILL needed
    s run -d --name ${m}_st --rootfs "$R" sh -c 'trap "exit 5" TERM; while :; do sleep 0.1; done' >/dev/null
    run s stop -t 5 ${m}_st
    is "$rc" 0 "$m: stop"
    run s inspect --format '{{.State.ExitCode}}' ${m}_st
    is "$out" 5 "$m: stop sent SIGTERM first"
    s rm ${m}_st >/dev/null
    # stop: PID 1 ignores TERM, so KILL after the timeout
    s run -d --name ${m}_st --rootfs "$R" sleep 30 >/dev/null
    run s stop -t 0.3 ${m}_st
    run s inspect --format '{{.State.ExitCode}}' ${m}_st
    is "$out" 137 "$m: stop falls back to KILL"
    s rm ${m}_st >/dev/null

    # kill -9 of the foreground `strata run`: never shown as running
    mkdir -p "$T/pids"; chmod 777 "$T/pids"; rm -f "$T/pids/k9"
    $X sh -c '"$0" run --name "$1" --rootfs "$2" sleep 30 & echo $! > "$3"; wait' \
        "$STRATA" ${m}_k9 "$R" "$T/pids/k9" &
    k9_up() { s ps | grep -q ${m}_k9; }
    wait_for k9_up
    ok $? "$m: foreground container shows in ps"
    kill -9 "$(cat "$T/pids/k9")"
    ok $? "$m: kill -9 of strata run"
    wait
    run s ps
    ok $(echo "$out" | grep -q ${m}_k9; [ $? -ne 0 ]; echo $?) "$m: ps after kill -9 of strata run"
    run s ps -a
    like "$out" "Exited.*${m}_k9" "$m: ps -a shows it exited"
    run s inspect --format '{{.State.Running}}' ${m}_k9
    is "$out" false "$m: inspect agrees"
    k9id=$(s inspect --format '{{.Id}}' ${m}_k9)
    s rm ${m}_k9 >/dev/null
    ok $(ls -d /sys/fs/cgroup/*/strata/$k9id /sys/fs/cgroup/strata/$k9id 2>/dev/null | grep -q .; [ $? -ne 0 ]; echo $?) \
        "$m: rm removes the cgroup its dead owner left"

    # logs -f follows until the container ends
    s run -d --name ${m}_f --rootfs "$R" sh -c 'echo one; sleep 0.5; echo two' >/dev/null
    run s logs -f ${m}_f
    is "$(echo $out)" "one two" "$m: logs -f follows to the end"
    s rm ${m}_f >/dev/null

    run s run --rm --name ${m}_rm --rootfs "$R" true
    run s ps -a
    ok $(echo "$out" | grep -q ${m}_rm; [ $? -ne 0 ]; echo $?) "$m: --rm removes the container"
    s run --name ${m}_dup --rootfs "$R" true >/dev/null 2>&1
    run s run --name ${m}_dup --rootfs "$R" true
    like "$out" "name .${m}_dup. is already in use" "$m: names are unique"
    # a name lookup reads config.json: a container whose state cannot be
    # read still holds its name, and is not found
    dir=$(s inspect --format '{{.Dir}}' ${m}_dup)
    cp "$dir/state.json" "$T/state.keep"
    at_cleanup "rm -rf '$dir'"
    printf '{' > "$dir/state.json"
    run s run --name ${m}_dup --rootfs "$R" true
    like "$out" "name .${m}_dup. is already in use" "$m: ... also one whose state is damaged"
    run s exec ${m}_dup true
    like "$out" "no such container .${m}_dup." "$m: ... which is not found"
    cp "$T/state.keep" "$dir/state.json"
    # a container that never started has no state.json: it is "created"
    nid=$(printf '%064d' 7)
    ndir=$(dirname "$dir")/$nid
    mkdir "$ndir" "$ndir/upper" "$ndir/work"
    jq --arg id "$nid" --arg n "${m}_new" '.Id = $id | .Name = $n' "$dir/config.json" > "$ndir/config.json"
    [ "$m" = user ] && chown -R "$TEST_UID:$TEST_GID" "$ndir"
    at_cleanup "rm -rf '$ndir'"
    run s ps -a
    like "$out" "Created +${m}_new" "$m: a container without state.json lists as created"
    run s inspect --format '{{.State.Status}}' ${m}_new
    is "$out" created "$m: ... and inspects as created"
    run s rm ${m}_new
    ok $([ "$rc" -eq 0 ] && [ ! -e "$ndir" ]; echo $?) "$m: ... and is removed by rm"
    s rm ${m}_dup >/dev/null
}

suite root
suite user
done_testing
