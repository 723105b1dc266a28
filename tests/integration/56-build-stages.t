#!/bin/sh
# strata build: independent stages build at the same time.  Two stages
# meet over the host network: each RUN sends to the other's port and
# waits for the other's message, so the build cannot succeed when the
# stages run one after the other (each then gives up after its retries).
# Their lines are prefixed with the stage name; cache and errors still hold.
. "$STRATA_SRC/tests/lib.sh"

"$STRATA" build --help >/dev/null 2>&1 || skip_all "strata build not built"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ "$(nproc)" -ge 2 ] || skip_all "one CPU: stages are built one after the other"
make_busybox_tar "$T/bb.tar" || skip_all "cannot make a busybox rootfs"
"$STRATA" import "$T/bb.tar" busybox >/dev/null || skip_all "strata import failed"
probe=$("$STRATA" run --rm busybox true 2>&1) || skip_all "strata run cannot run here: $probe"
build() { run "$STRATA" build "$@"; }

C=$T/ctx
mkdir -p "$C"
# two free-looking ports from this test's pid, below the kernel's
# ephemeral range (32768 up), so no outgoing connection holds them
pa=$((20000 + $$ % 12000))
pb=$((pa + 1))
# meet ME PEER NAME: listen on ME, send NAME to PEER until it answers,
# then wait for the peer's message; gives up after 600 tries (a minute,
# for a slow sanitizer build; run one after the other they never meet)
cat > "$C/meet.sh" <<'EOF2'
me=$1 peer=$2 name=$3
nc -l -p "$me" > /got & l=$!
i=0
until echo "$name" | nc 127.0.0.1 "$peer" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 600 ] || { kill $l; echo "$name: no peer"; exit 1; }; sleep 0.1
done
i=0
until [ -s /got ]; do
    i=$((i + 1)); [ $i -lt 600 ] || { kill $l; echo "$name: no message"; exit 1; }; sleep 0.1
done
kill $l 2>/dev/null
echo "$name got $(cat /got)"
EOF2
cat > "$C/Containerfile" <<EOF2
FROM busybox AS a
COPY meet.sh /
RUN --network=host sh /meet.sh $pa $pb from-a
FROM busybox AS b
COPY meet.sh /
RUN --network=host sh /meet.sh $pb $pa from-b
FROM busybox
COPY --from=a /got /a-got
COPY --from=b /got /b-got
EOF2
build -t stages "$C"
is "$rc" 0 "two independent stages that must run at the same time build"
[ "$rc" = 0 ] || diag "$out" >&2 # on stderr: prove shows it without -v
out2=$("$STRATA" run --rm stages cat /a-got /b-got 2>&1)
is "$out2" "from-b
from-a" "each stage got the other's message"
like "$out" "\[a\] STEP 3/9: RUN --network=host sh /meet.sh" "stage a's lines are prefixed"
like "$out" "\[b\] from-b got from-a" "RUN output of stage b is prefixed"
is "$(printf '%s\n' "$out" | grep -c '^STEP [789]/9')" "3" "the final stage's lines are not prefixed"

build -t stages "$C"
is "$rc" 0 "rebuild"
is "$(printf '%s\n' "$out" | grep -c 'CACHED')" "6" "every layer step of every stage cached"
build -t stages --timestamp 1 "$C"
id1=$("$STRATA" inspect stages | grep '"Id"' | head -1)
"$STRATA" rmi stages >/dev/null 2>&1
build -t stages --timestamp 1 "$C"
id2=$("$STRATA" inspect stages | grep '"Id"' | head -1)
is "$id2" "$id1" "the same image from the cache"

# a failing stage while another runs: the build fails and names the line
cat > "$C/Containerfile" <<'EOF2'
FROM busybox AS ok
RUN echo fine > /fine
FROM busybox AS bad
RUN echo about to fail; exit 3
FROM busybox
COPY --from=ok /fine /fine
COPY --from=bad /etc/passwd /p
EOF2
build "$C"
is "$rc" 3 "a failing RUN in a parallel stage fails the build with its status"
like "$out" "Containerfile:4: RUN echo about to fail; exit 3: step 4/7 failed: the command exited with status 3" \
    "and names FILE:LINE and the step"
like "$out" "\[bad\] about to fail" "its output was shown, prefixed"

# the order of the final output is stable: stage lines come before COMMIT
build -t stages2 --target ok "$C"
is "$rc" 0 "--target a stage with a sibling: only that stage runs"
is "$(printf '%s\n' "$out" | grep -c '^\[')" "0" "one stage at a time: no prefixes"

done_testing
