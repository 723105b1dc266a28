#!/bin/sh
# Signals reaching a foreground `strata run`, as root and rootless: SIGINT,
# SIGTERM and SIGHUP are forwarded to the main process (which traps each,
# leaves a marker and exits with a code of its own), with and without
# --init; with -t, resizing the caller's terminal resizes the container's
# pty (SIGWINCH), with and without -i.
. "$STRATA_SRC/tests/lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
env --default-signal=INT true 2>/dev/null || skip_all "env --default-signal missing (coreutils < 8.31)"
PTY=$STRATA_HELPERS/pty_resize
[ -x "$PTY" ] || skip_all "helper $PTY not built (make unit-tests)"
R=$T/rootfs
make_run_rootfs "$R" || { diag "cannot build a busybox rootfs"; exit 1; }
M=$T/marks
mkdir -p "$M"
chmod 777 "$M"

# sig_run SIG CODE [--init]: a container that traps SIG, writes SIG to
# /m/marker and exits CODE; SIG is sent to `strata run` once the trap is
# set.  A shell's background job ignores SIGINT, and an ignored signal is
# never forwarded: env --default-signal gives it back its default, as an
# interactive shell's job would have it.
sig_run() {
    rm -f "$M/pid" "$M/ready" "$M/marker"
    $X sh -c 'echo $$ > "$0/pid"; exec env --default-signal=INT "$@"' "$M" \
        "$STRATA" run --rm ${3:-} -v "$M:/m" --rootfs "$R" \
        sh -c "trap 'echo $1 > /m/marker; exit $2' $1; touch /m/ready; while :; do sleep 0.1; done" &
    bg=$!
    if wait_for test -e "$M/ready"; then
        kill -"$1" "$(cat "$M/pid")"
    else
        diag "the container never got ready"
        kill -KILL "$(cat "$M/pid")" 2>/dev/null
    fi
    wait $bg
    rc=$?
}

suite() {
    m=$1
    if [ "$m" = user ]; then X=as_user; else X=; fi
    for init in "" --init; do
        w=${init:-"no init"}
        code=40
        for sig in INT TERM HUP; do
            code=$((code + 1))
            sig_run $sig $code $init
            is "$rc" $code "$m, $w: SIG$sig forwarded; the exit status is the trap's"
            is "$(cat "$M/marker" 2>/dev/null)" $sig "$m, $w: ... and the trap ran in the container"
        done
    done

    # a window resize of the caller's terminal reaches the container's pty
    for i in "" -i; do
        run $X "$PTY" 24 80 READY 50 132 "$STRATA" run --rm -t $i --rootfs "$R" \
            sh -c "trap 'echo now \$(stty size); exit 9' WINCH; echo was \$(stty size); echo READY; while :; do sleep 0.1; done"
        is "$rc" 9 "$m, -t${i:+ -i}: SIGWINCH reaches the container's process"
        like "$out" "was 24 80" "$m, -t${i:+ -i}: the first size is the caller's"
        like "$out" "now 50 132" "$m, -t${i:+ -i}: a resize of the caller's terminal resizes the container's"
    done
}

suite root
suite user
done_testing
