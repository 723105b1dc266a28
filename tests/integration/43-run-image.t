#!/bin/sh
# strata run IMAGE, as root and rootless: the image's layers under a fresh
# container layer (unionfs), ENTRYPOINT x CMD as the Dockerfile reference's
# table says, the image's Env/WorkingDir/User/StopSignal, writes landing
# in the container's upper only, the `image` file for prune.
. "$STRATA_SRC/tests/lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
SETCFG=$STRATA_HELPERS/run_setcfg
R=$T/rootfs
make_busybox_rootfs "$R"
mkdir -p "$R/work"
echo original > "$R/etc/motd"
chmod -R a+rX "$R"

suite() {
    m=$1
    if [ "$m" = user ]; then X=as_user; store=$T/home/store; else X=; store=$STRATA_ROOT; fi
    s() { $X "$STRATA" "$@"; }
    cfg() { $X "$SETCFG" "$store" bb "$1" "$2"; }

    run s import "$R" bb
    is "$rc" 0 "$m: import a busybox image"
    run s run --rm bb
    like "$out" "no command specified" "$m: an image without CMD needs a command"

    cfg t:cmd '{"Cmd":["echo","exec-cmd"]}'
    cfg t:cmdsh '{"Cmd":["/bin/sh","-c","echo shell-cmd"]}'
    cfg t:ep '{"Entrypoint":["echo","ep"]}'
    cfg t:epcmd '{"Entrypoint":["echo","ep"],"Cmd":["c1","c2"]}'
    cfg t:epcmdsh '{"Entrypoint":["echo","ep"],"Cmd":["/bin/sh","-c","echo x"]}'
    cfg t:epsh '{"Entrypoint":["/bin/sh","-c","echo ep-shell $0"],"Cmd":["c1"]}'
    run s run --rm t:cmd;     is "$out" "exec-cmd" "$m: CMD exec form"
    run s run --rm t:cmdsh;   is "$out" "shell-cmd" "$m: CMD shell form"
    run s run --rm t:ep;      is "$out" "ep" "$m: ENTRYPOINT alone"
    run s run --rm t:epcmd;   is "$out" "ep c1 c2" "$m: ENTRYPOINT exec + CMD exec"
    run s run --rm t:epcmdsh; is "$out" "ep /bin/sh -c echo x" "$m: ENTRYPOINT exec + CMD shell"
    run s run --rm t:epsh;    is "$out" "ep-shell c1" "$m: ENTRYPOINT shell + CMD (CMD is only \$0)"
    run s run --rm t:epcmd a b; is "$out" "ep a b" "$m: arguments replace CMD"
    run s run --rm --entrypoint /bin/echo t:epcmd; is "$out" "" "$m: --entrypoint drops CMD"
    run s run --rm --entrypoint /bin/echo t:epcmd z; is "$out" "z" "$m: --entrypoint with arguments"

    cfg t:env '{"Env":["PATH=/bin","IMGVAR=img","OVER=image"],"WorkingDir":"/work","User":"'"$([ $m = root ] && echo app || echo root)"'"}'
    run s run --rm -e OVER=cli t:env sh -c 'echo $IMGVAR $OVER $(pwd) $(id -un)'
    is "$out" "img cli /work $([ $m = root ] && echo app || echo root)" \
        "$m: image Env (-e wins), WorkingDir, User"
    run s run --rm -u 0 -w / t:env sh -c 'echo $(pwd) $(id -u)'
    is "$out" "/ 0" "$m: -u and -w override the image's"

    run s run --name ${m}_w bb sh -c 'echo changed > /etc/motd; echo new > /newfile; rm /bin/vi; cat /etc/motd'
    is "$out" changed "$m: the container writes through the union"
    dir=$(ls -d "$store"/containers/*/ | while read d; do grep -q "\"${m}_w\"" "$d/config.json" && echo "$d"; done)
    is "$(cat "$dir/upper/etc/motd" 2>/dev/null)" changed "$m: the change is in the container's upper"
    ok $([ -e "$dir/upper/bin/.wh.vi" ]; echo $?) "$m: a removal is an OCI whiteout"
    ok $([ ! -e "$dir/upper/etc/hosts" ]; echo $?) "$m: no /etc/hosts placeholder left in the upper"
    is "$(cat "$store"/layers/*/etc/motd)" original "$m: the image layer is untouched"
    like "$(cat "$dir/image")" "^sha256:[0-9a-f]{64}$" "$m: the container records its image digest"
    run s run --rm bb cat /etc/motd
    is "$out" original "$m: a new container starts from the image again"
    s rm ${m}_w >/dev/null

    cfg t:stop '{"StopSignal":"SIGUSR1"}'
    s run -d --name ${m}_stop t:stop sh -c 'trap "exit 9" USR1; echo trapped; while :; do sleep 0.1; done' >/dev/null
    # the signal must find the trap set (PID 1 ignores what it does not handle)
    for i in $(seq 50); do s logs ${m}_stop 2>/dev/null | grep -q trapped && break; sleep 0.1; done
    run s stop -t 5 ${m}_stop
    run s inspect --format '{{.State.ExitCode}}' ${m}_stop
    is "$out" 9 "$m: stop sends the image's STOPSIGNAL"
    s rm ${m}_stop >/dev/null
}

suite root
mkdir -p "$T/home"; chown "$TEST_UID:$TEST_GID" "$T/home"
suite user
done_testing
