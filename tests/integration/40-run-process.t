#!/bin/sh
# strata run, the process and its sandbox, as root and rootless (uid 65534):
# exit codes, signals, PID 1, -e/-w/-u, hostname, network isolation, stdin,
# pty, volumes (rw, :ro, a symlinked target), no_new_privs, capabilities,
# masked paths, --read-only, errors before exec.
. "$STRATA_SRC/tests/lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
R=$T/rootfs
make_run_rootfs "$R" || { diag "cannot build a busybox rootfs"; exit 1; }
mkdir -p "$T/hostdir"
ln -s "$T/hostdir" "$R/evil"        # an absolute link that names a host path

# Docker's default capability set
DEFAULT_BND=00000000a80425fb

suite() {   # suite MODE: "root" or "user"
    m=$1
    if [ "$m" = user ]; then X=as_user; else X=; fi
    r() { $X "$STRATA" run --rm --rootfs "$R" "$@"; }

    run r sh -c 'exit 3'
    is "$rc" 3 "$m: exit status is the process's"
    run r --init sh -c 'kill -9 $$'
    is "$rc" 137 "$m: killed by signal 9 gives 137"
    run r sh -c 'echo $$'
    is "$out" 1 "$m: the main process is PID 1"
    # signals ignored by run's caller are the default again in the process
    out=$(trap '' USR1 PIPE; r grep SigIgn /proc/self/status 2>&1)
    like "$out" "SigIgn:.0000000000000000" "$m: run resets the signals its caller ignored"
    out=$(trap '' USR1 PIPE; r --init grep SigIgn /proc/self/status 2>&1)
    like "$out" "SigIgn:.0000000000000000" "$m: ... with --init too"
    run r --init sh -c 'echo $$; cat /proc/1/comm'
    is "$(echo $out)" "2 strata-init" "$m: with --init a reaper is PID 1"
    # the reaper is strata code: it must not hand the strata binary (or
    # its memory) to the container (the /proc/PID/exe class of escape)
    run r --init sh -c 'cat /proc/1/exe >/dev/null 2>&1 && echo readable; echo x 2>/dev/null >/proc/1/exe && echo writable; ls -l /proc/1/exe 2>&1'
    ok $(! echo "$out" | grep -qE "readable|writable|strata"; echo $?) \
        "$m: PID 1 (strata's reaper) is not dumpable: /proc/1/exe is closed"
    run r --init sh -c 'sleep 0.2 & exec sleep 0.5'
    is "$rc" 0 "$m: --init reaps and exits with the main process"

    # SIGTERM and SIGHUP reaching strata run are forwarded
    for sig in TERM HUP; do
        run $X sh -c '"$0" run --rm --rootfs "$1" sh -c "trap \"exit 42\" $2; sleep 5 & wait" &
            p=$!; sleep 0.5; kill -$2 $p; wait $p' "$STRATA" "$R" $sig
        is "$rc" 42 "$m: SIG$sig is forwarded to the container"
    done

    run r -e FOO=bar -e HOME=/tmp -w /tmp/newdir sh -c 'echo "$FOO $HOME $(pwd)"'
    is "$out" "bar /tmp /tmp/newdir" "$m: -e and -w (created)"
    printf 'A=1\n# comment\nB=two words\n' > "$T/envfile"
    chmod a+r "$T/envfile"
    run r --env-file "$T/envfile" -e A=3 sh -c 'echo "$A|$B"'
    is "$out" "3|two words" "$m: --env-file, then -e wins"
    run r --entrypoint /bin/echo a b
    is "$out" "a b" "$m: --entrypoint"
    if [ "$m" = root ]; then
        run r -u app sh -c 'echo $(id -u):$(id -g) $HOME'
        is "$out" "1000:1000 /home/app" "$m: -u NAME resolved from the image's /etc/passwd"
        run r -u 1000:nogroup sh -c 'echo $(id -u):$(id -g)'
        is "$out" "1000:65534" "$m: -u UID:GROUP resolved from /etc/group"
    else
        run r -u 0:0 sh -c 'echo $(id -u):$(id -g)'
        is "$out" "0:0" "$m: -u 0:0 (the caller is root inside)"
        run r -u app true
        like "$out" "set[ug]id 1000.*not mapped" "$m: an unmapped user is a clear error"
    fi
    run r -u nosuchuser true
    like "$out" "unable to find user .nosuchuser." "$m: an unknown user is refused"

    run r --hostname box sh -c 'hostname; cat /etc/hostname; grep -c box /etc/hosts'
    is "$(echo $out)" "box box 1" "$m: --hostname, /etc/hostname, /etc/hosts"
    run r sh -c 'ip -o link | wc -l; ip -o link'
    n=$(echo "$out" | head -1)
    is "$n" 1 "$m: --network none has one interface"
    like "$out" "1: lo: <LOOPBACK,UP" "$m: ... lo, up"
    run r --network host sh -c 'ip -o link | wc -l'
    is "$out" "$(ip -o link | wc -l)" "$m: --network host sees the host's interfaces"
    ok $([ -s /etc/resolv.conf ] && r cat /etc/resolv.conf >/dev/null 2>&1; echo $?) \
        "$m: /etc/resolv.conf is provided"

    run $X sh -c 'echo hello | "$0" run --rm -i --rootfs "$1" cat' "$STRATA" "$R"
    is "$out" hello "$m: -i passes stdin"
    run $X sh -c 'echo hello | "$0" run --rm --rootfs "$1" cat' "$STRATA" "$R"
    is "$out" "" "$m: without -i stdin is /dev/null"
    if command -v script >/dev/null; then
        run $X script -qc "stty cols 91 rows 37; $STRATA run --rm -t --rootfs $R sh -c 'tty; stty size'" /dev/null
        like "$out" "/dev/pts/0" "$m: -t gives a pty inside the container's devpts"
        like "$out" "37 91" "$m: -t copies the window size"
    else
        skip "script(1) missing"; skip "script(1) missing"
    fi

    rm -rf "$T/vol"; mkdir -p "$T/vol"; chmod 777 "$T/vol"
    run r -v "$T/vol:/data" sh -c 'echo inside > /data/f'
    is "$(cat "$T/vol/f" 2>/dev/null)" inside "$m: a volume written inside is read on the host"
    run r -v "$T/vol:/data:ro" sh -c 'echo x > /data/g'
    ok $([ "$rc" -ne 0 ] && [ ! -e "$T/vol/g" ]; echo $?) "$m: a :ro volume refuses writes"
    run r -v "$T/vol:/evil" sh -c 'echo x > /evil/s'
    ok $([ -e "$T/vol/s" ] && [ ! -e "$T/hostdir/s" ]; echo $?) \
        "$m: a symlinked volume target stays inside the root"
    ok $(! grep -q "$T/hostdir" /proc/self/mountinfo; echo $?) "$m: ... and nothing is mounted on the host path"
    rm -rf "$R$T"   # what the link resolved to, created inside the root

    run r sh -c 'grep -E "^(NoNewPrivs|CapBnd)" /proc/self/status'
    like "$out" "NoNewPrivs:.1" "$m: no_new_privs is set"
    like "$out" "CapBnd:.$DEFAULT_BND" "$m: the bounding set is docker's default"
    run r --cap-drop CHOWN --cap-add NET_ADMIN sh -c 'grep CapBnd /proc/self/status'
    like "$out" "CapBnd:.00000000a80435fa" "$m: --cap-drop and --cap-add"
    run r -u 0 sh -c 'grep CapEff /proc/self/status'
    like "$out" "CapEff:.$DEFAULT_BND" "$m: root inside has the default set effective"

    run r sh -c 'wc -c < /proc/keys; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/domainname && echo written'
    is "$(echo $out | cut -d' ' -f1-2)" "0 0" "$m: /proc/keys and /proc/acpi masked"
    ok $(! echo "$out" | grep -q written; echo $?) "$m: /proc/sys read-only"
    run r sh -c 'touch /sys/x 2>&1; ls /dev'
    like "$out" "Read-only file system" "$m: /sys is read-only"
    like "$(echo $out)" "full.*mqueue.*null.*ptmx.*pts.*random.*shm.*tty.*urandom.*zero" \
        "$m: a minimal /dev"
    run r --read-only --tmpfs /scratch sh -c 'touch /x 2>&1; touch /scratch/y && echo ok'
    like "$out" "Read-only" "$m: --read-only root"
    like "$out" "ok" "$m: --tmpfs is writable"

    run r /no/such/program
    is "$rc" 127 "$m: a missing program exits 127"
    like "$out" "exec ./no/such/program." "$m: ... and the failing step is named"
    run r -v /no/such/dir:/x true
    is "$rc" 125 "$m: a failed setup exits 125"
    like "$out" "volume source ./no/such/dir." "$m: ... naming the volume"
}

suite root
suite user

R2=$T/rootfs2
make_busybox_rootfs "$R2"
run "$STRATA" run --rm --rootfs "$R2" cat /etc/hostname /etc/hosts
like "$out" "localhost" "etc files are mounted over placeholders made in the rootfs"
ok $([ ! -e "$R2/etc/hostname" ] && [ ! -e "$R2/etc/hosts" ]; echo $?) \
    "... which are removed again afterwards"
done_testing
