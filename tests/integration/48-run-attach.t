#!/bin/sh
# `run -d -it` and `strata attach`, as root and rootless: the detached
# monitor keeps the pty, logs its output and serves containers/<id>/attach;
# attach types into the container and shows its output, ctrl-p ctrl-q
# detaches and leaves it running, a later attach exits with the container's
# status; the window size follows the attaching terminal (and its resizes);
# attach to a container without a terminal, or not running, is refused.
. "$STRATA_SRC/tests/lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
PTY=$STRATA_HELPERS/pty_resize
R=$T/rootfs
make_run_rootfs "$R" || { diag "cannot build a busybox rootfs"; exit 1; }

suite() {
    m=$1
    if [ "$m" = user ]; then X=as_user; else X=; fi
    s() { $X "$STRATA" "$@"; }
    C=${m}_att
    at_cleanup "$X $STRATA rm -f $C ${m}_win ${m}_notty"

    run s run -d -it --name $C --rootfs "$R" sh
    is "$rc" 0 "$m: run -d -it is accepted"
    like "$out" '^[0-9a-f]{64}$' "$m: ... and prints the id"
    in_log() { s logs $C | grep -q "$1"; }

    # type a command, wait until its answer is in the log, then detach
    run $X sh -c '{ printf "echo hello-\$((6*7))\n"; i=0; until "$0" logs "$1" | grep -q hello-42 || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done; printf "\020\021"; } |
        timeout 20 "$0" attach "$1"' "$STRATA" $C
    is "$rc" 0 "$m: ctrl-p ctrl-q detaches with status 0"
    like "$out" "hello-42" "$m: attach shows the container's answer to what it typed"
    run s inspect --format '{{.State.Status}}' $C
    is "$out" running "$m: ... and the container is still running"
    ok $(in_log hello-42; echo $?) "$m: the pty's output is in the log"

    # the container's exit ends attach with its status
    run $X sh -c 'printf "exit 5\n" | timeout 20 "$0" attach "$1"' "$STRATA" $C
    is "$rc" 5 "$m: attach exits with the container's status"
    run s inspect --format '{{.State.Status}}' $C
    is "$out" exited "$m: ... which has exited"
    run s attach $C
    like "$out" "not running" "$m: attach to a stopped container is refused"

    # a lone ctrl-p is typed as is (a reader without line editing shows it)
    s run -d -it --name ${m}_ctlp --rootfs "$R" sh -c 'head -c 3 | od -c | head -1; exit 6' >/dev/null
    at_cleanup "$X $STRATA rm -f ${m}_ctlp"
    run $X sh -c 'printf "a\020b\n" | timeout 20 "$0" attach "$1"' "$STRATA" ${m}_ctlp
    is "$rc" 6 "$m: (the reader exits 6)"
    like "$out" "a +020 +b" "$m: a ctrl-p not followed by ctrl-q reaches the container"
    s rm -f ${m}_ctlp >/dev/null

    # the window size is the attaching terminal's, and follows its resizes;
    # a non-interactive shell, so no job control moves the foreground away
    # from the trap; it waits for a line, so attach is there before READY
    s run -d -it --name ${m}_win --rootfs "$R" \
        sh -c 'read x; trap "stty size; exit 9" WINCH; stty size; echo READY; while :; do sleep 0.1; done' >/dev/null
    if [ -x "$PTY" ]; then
        run $X "$PTY" 33 111 READY 44 122 sh -c 'printf "go\n" | "$0" attach "$1"' "$STRATA" ${m}_win
        is "$rc" 9 "$m: a resize while attached reaches the container (SIGWINCH)"
        like "$out" "33 111" "$m: the container's pty takes the attaching terminal's size"
        like "$out" "44 122" "$m: ... and its new size after a resize"
    else
        skip "pty_resize helper not built"; skip "pty_resize helper not built"; skip "pty_resize helper not built"
    fi

    s run -d --name ${m}_notty --rootfs "$R" sleep 30 >/dev/null
    run s attach ${m}_notty
    like "$out" "has no terminal" "$m: attach needs a container started with -t"
    s rm -f $C ${m}_win ${m}_notty >/dev/null
}

suite root
suite user
done_testing
