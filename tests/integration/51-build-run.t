#!/bin/sh
# strata build with RUN (a container per step on a union of the layers),
# each CMD x ENTRYPOINT combination built then run, a failing RUN, RUN's
# network, multi-stage with RUN, and Containerfile.example end to end.
. "$STRATA_SRC/tests/lib.sh"

"$STRATA" build --help >/dev/null 2>&1 || skip_all "strata build not built"
"$STRATA" run --help >/dev/null 2>&1 || skip_all "strata run not built yet (RUN needs run/ and unionfs/)"
"$STRATA" import --help >/dev/null 2>&1 || skip_all "strata import not built yet"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"

make_busybox_tar "$T/bb.tar" || skip_all "cannot make a busybox rootfs"
"$STRATA" import "$T/bb.tar" busybox >/dev/null || skip_all "strata import failed"
# RUN is run/'s container on unionfs/'s mount: until both work, skip
probe=$("$STRATA" run --rm busybox true 2>&1) ||
    skip_all "strata run cannot run a layered image yet: $probe"
build() { run "$STRATA" build "$@"; }
crun() { run "$STRATA" run --rm "$@"; }

C=$T/ctx
mkdir -p "$C"
echo data > "$C/data"

# RUN basics --------------------------------------------------------------
cat > "$C/Containerfile" <<'EOF2'
FROM busybox
ARG FROMARG=argval
ENV FROMENV=envval
WORKDIR /work
COPY data .
RUN echo "run: $FROMENV $FROMARG $(pwd) $(id -u)" > /work/out && cat data >> /work/out
RUN ["/bin/sh", "-c", "echo exec form >> /work/out"]
RUN rm /work/data && rm -r /etc/group && mkdir -p /var/made && echo streamed-output
USER app
RUN id -un > /tmp/who
SHELL ["/bin/sh", "-e", "-c"]
RUN echo "$0 shell" > /tmp/shell-used
EOF2
build -t r1 --build-arg FROMARG=cli "$C"
is "$rc" 0 "build with RUN steps"
[ "$rc" = 0 ] || diag "$out"
like "$out" "streamed-output" "RUN output is shown"
crun r1 cat /work/out
is "$out" "run: envval cli /work 0
data
exec form" "RUN sees ENV, ARG (from --build-arg), WORKDIR and root"
crun r1 sh -c 'ls /work; [ -e /etc/group ] && echo group-present; ls -d /var/made'
is "$out" "out
/var/made" "deletions in RUN are whiteouts in the layer"
crun r1 cat /tmp/who
is "$out" "app" "USER applies to RUN"
crun r1 cat /tmp/shell-used
is "$out" "/bin/sh shell" "SHELL applies to RUN"
crun r1 sh -c 'echo ${FROMARG:-unset}'
is "$out" "unset" "ARG values are not kept in the image"
build -t r1 --build-arg FROMARG=cli "$C"
is "$(printf '%s\n' "$out" | grep -c CACHED)" "7" "unchanged rebuild: every RUN/COPY/WORKDIR cached"
build -t r1 --build-arg FROMARG=other "$C"
is "$(printf '%s\n' "$out" | grep -c CACHED)" "2" "another build-arg value misses at its first use (RUN), not before"

# failing RUN -----------------------------------------------------------------
printf 'FROM busybox\nENV A=1\nRUN echo before; exit 7\nRUN echo never\n' > "$C/Containerfile"
build "$C"
is "$rc" 7 "a failing RUN stops the build with its exit status"
like "$out" "Containerfile:3: RUN echo before; exit 7: step 3/4 failed: the command exited with status 7" \
    "and names FILE:LINE and the step"
case $out in *"STEP 4/4"*) fail "no step after the failure" ;; *) pass "no step after the failure" ;; esac

# network -----------------------------------------------------------------------
printf 'FROM busybox\nRUN grep -c : /proc/net/dev > /netdevs\n' > "$C/Containerfile"
build -t net-none --no-cache "$C"
crun net-none cat /netdevs
is "$out" "1" "RUN has only lo by default (--network none)"
host_devs=$(grep -c : /proc/net/dev)
build -t net-host --no-cache --network host "$C"
crun net-host cat /netdevs
is "$out" "$host_devs" "--network host gives RUN the host's interfaces"

# CMD x ENTRYPOINT, built then run ---------------------------------------------
combo() { # combo NAME WANT INSTRUCTIONS...
    name=$1 want=$2
    shift 2
    printf 'FROM busybox\n' > "$C/Containerfile"
    for i in "$@"; do printf '%s\n' "$i" >> "$C/Containerfile"; done
    build -t "$name" "$C"
    crun "$name"
    is "$out" "$want" "$name: $*"
}
combo ce-exec-exec "E C" 'ENTRYPOINT ["echo", "E"]' 'CMD ["C"]'
combo ce-exec-shell "E /bin/sh -c C" 'ENTRYPOINT ["echo", "E"]' 'CMD C'
combo ce-exec-none "E" 'ENTRYPOINT ["echo", "E"]'
combo ce-shell-exec "E" 'ENTRYPOINT echo E' 'CMD ["C"]'
combo ce-shell-shell "E" 'ENTRYPOINT echo E' 'CMD C'
combo ce-shell-none "E" 'ENTRYPOINT echo E'
combo ce-none-exec "C" 'CMD ["echo", "C"]'
combo ce-none-shell "C /root" 'CMD echo C $HOME'
printf 'FROM ce-none-exec\nENTRYPOINT ["echo", "E"]\n' > "$C/Containerfile"
build -t ce-inherit "$C"
crun ce-inherit
is "$out" "E" "an ENTRYPOINT resets the CMD inherited from the base"
crun ce-exec-exec X Y
is "$out" "E X Y" "run arguments replace CMD after the ENTRYPOINT"

# multi-stage with RUN ------------------------------------------------------------
cat > "$C/Containerfile" <<'EOF2'
FROM busybox AS build
RUN mkdir /out && echo compiled > /out/artifact
FROM busybox
COPY --from=build /out/artifact /artifact
CMD ["cat", "/artifact"]
EOF2
build -t ms "$C"
crun ms
is "$out" "compiled" "COPY --from a stage built with RUN"

# Containerfile.example, as README runs it ---------------------------------------
rm -rf "$T/store2"
out=$(cd "$STRATA_SRC" && STRATA_ROOT=$T/store2 ./scripts/example.sh "$STRATA" 2>&1 &&
    STRATA_ROOT=$T/store2 "$STRATA" build -q -f Containerfile.example -t example . 2>&1 &&
    STRATA_ROOT=$T/store2 "$STRATA" run --rm example 2>&1)
is "$?" 0 "scripts/example.sh, build Containerfile.example, run it"
like "$out" "hello from strata" "the example greets"
like "$out" "as app in /srv" "as the USER in the WORKDIR it set"

# rootless: RUN in a user namespace, the layer keeps root as the owner --------
if is_root && command -v setpriv >/dev/null; then
    mkdir -p "$T/rl"
    printf 'FROM busybox\nRUN echo hi > /hi && id -u > /uid && mkdir -p /x/y\nCOPY Containerfile /cf\nRUN rm /cf\n' \
        > "$T/rl/Containerfile"
    chmod -R a+rX "$T/rl" "$T/bb.tar"
    chmod a+rx "$T"
    as_user "$STRATA" import "$T/bb.tar" busybox >/dev/null
    out=$(as_user "$STRATA" build -t rl "$T/rl" 2>&1)
    is "$?" 0 "rootless build with RUN (uid $TEST_UID)"
    out=$(as_user "$STRATA" run --rm rl sh -c 'cat /hi /uid; stat -c "%u:%g" /hi; ls -d /x/y; [ -e /cf ] || echo cf-gone' 2>&1)
    is "$out" "hi
0
0:0
/x/y
cf-gone" "rootless RUN ran as root in the image, deletion is a whiteout"
else
    skip "rootless build needs root to switch to uid $TEST_UID"
    skip "rootless build needs root to switch to uid $TEST_UID"
fi

done_testing
