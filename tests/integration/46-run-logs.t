#!/bin/sh
# Logs of foreground runs, as root and rootless: like podman, `strata run`
# without --rm keeps what the container wrote (stdout and stderr, or the
# pty's output with -t) in its log while still passing it through, so
# `strata logs C` shows it afterwards; the caller's stdout and stderr stay
# apart, big outputs arrive whole, and a caller that stops reading gives
# the container EPIPE as if it wrote there itself.
. "$STRATA_SRC/tests/lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
PTY=$STRATA_HELPERS/pty_resize
R=$T/rootfs
make_run_rootfs "$R" || { diag "cannot build a busybox rootfs"; exit 1; }
mkdir -p "$T/o/root" "$T/o/user"
chown "$TEST_UID" "$T/o/user" 2>/dev/null

suite() {
    m=$1
    if [ "$m" = user ]; then X=as_user; else X=; fi
    s() { $X "$STRATA" "$@"; }
    at_cleanup "$X $STRATA rm -f ${m}_fg ${m}_tty ${m}_big ${m}_in"

    $X sh -c '"$0" run --name "$1" --rootfs "$2" sh -c "echo to-out; echo to-err >&2; exit 3" \
        >"$3/out" 2>"$3/err"' "$STRATA" ${m}_fg "$R" "$T/o/$m"
    is "$?" 3 "$m: a foreground run still exits with the process's status"
    is "$(cat "$T/o/$m/out")" to-out "$m: ... its stdout reaches the caller's stdout"
    is "$(cat "$T/o/$m/err")" to-err "$m: ... its stderr reaches the caller's stderr"
    run s logs ${m}_fg
    is "$(echo $out)" "to-out to-err" "$m: logs shows a foreground run's stdout and stderr"

    if [ -x "$PTY" ]; then
        run $X "$PTY" 24 80 never-resized 24 80 "$STRATA" run -t --name ${m}_tty --rootfs "$R" sh -c 'echo via-pty; tty'
        like "$out" via-pty "$m: -t output reaches the caller"
        run s logs ${m}_tty
        like "$out" "via-pty" "$m: logs shows a foreground -t run's output"
        like "$out" "/dev/pts/0" "$m: ... from the container's pty"
    else
        skip "pty_resize helper not built"; skip "pty_resize helper not built"; skip "pty_resize helper not built"
    fi

    $X sh -c '"$0" run --name "$1" --rootfs "$2" seq 1 200000 > "$3/big"' "$STRATA" ${m}_big "$R" "$T/o/$m"
    seq 1 200000 > "$T/want"
    ok $(cmp -s "$T/o/$m/big" "$T/want"; echo $?) "$m: a 1.3 MB output reaches the caller whole"
    s logs ${m}_big > "$T/o/$m/biglog"
    ok $(cmp -s "$T/o/$m/biglog" "$T/want"; echo $?) "$m: ... and the log has it whole"

    run $X sh -c 'echo typed | "$0" run -i --name "$1" --rootfs "$2" cat' "$STRATA" ${m}_in "$R"
    is "$out" typed "$m: -i still passes stdin"
    run s logs ${m}_in
    is "$out" typed "$m: ... and the log has what came back"

    # `yes | head -1`: the caller stops reading; the container must not
    # run on forever and strata must not die of it.  As PID 1, yes ignores
    # SIGPIPE (the kernel spares a namespace's init) and exits on EPIPE;
    # under --init it is killed by it, as outside a container
    for init in "" --init; do
        n=${m}_pipe${init:+_init}
        at_cleanup "$X $STRATA rm -f $n"
        run $X timeout 20 sh -c '"$0" run $1 --name "$2" --rootfs "$3" yes | head -1' \
            "$STRATA" "$init" $n "$R"
        like "$out" "^y" "$m${init:+, $init}: a reader that stops early gets its line, the run ends"
        want=1; [ -n "$init" ] && want=141
        is "$(s inspect --format '{{.State.Running}}' $n) $(s inspect --format '{{.State.ExitCode}}' $n)" \
            "false $want" "$m${init:+, $init}: ... the process saw EPIPE${init:+ (SIGPIPE)}"
    done

    run s run --rm --name ${m}_gone --rootfs "$R" echo x
    is "$out" x "$m: --rm runs still pass output through"
}

suite root
suite user
done_testing
