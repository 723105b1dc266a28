#!/bin/sh
# strata build: ADD --checksum=sha256:HEX verifies a URL source (a
# mismatch names FILE:LINE and both digests); a local source or COPY is
# refused, as Docker refuses them.
. "$STRATA_SRC/tests/lib.sh"

. "$STRATA_SRC/tests/integration/50-build-lib.sh"

# ADD --checksum ------------------------------------------------------------------
mkdir -p "$T/www"
echo served > "$T/www/file.txt"
sum=sha256:$(sha256sum "$T/www/file.txt" | cut -d' ' -f1)
"$PY" - "$T/www" "$T/port" <<'PY' >/dev/null 2>&1 &
import http.server, socketserver, sys, os, functools
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
with socketserver.TCPServer(("127.0.0.1", 0), h) as s:
    open(sys.argv[2] + ".tmp", "w").write(str(s.server_address[1]))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    s.serve_forever()
PY
srv=$!
at_cleanup "kill $srv"
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$T/port" 2>/dev/null)
if [ -n "$port" ]; then
    url=http://127.0.0.1:$port/file.txt
    printf 'FROM busybox\nADD --checksum=%s %s /got\n' "$sum" "$url" > "$C/Sum"
    build -f "$C/Sum" -t sum "$C"
    is "$rc" 0 "ADD --checksum of a URL with the right digest builds"
    [ "$rc" = 0 ] || diag "$out"
    is "$(file sum /got)" "served" "and adds the file"
    bad=sha256:$(printf '%064d' 0)
    printf 'FROM busybox\nLABEL a=b\nADD --checksum=%s %s /got\n' "$bad" "$url" > "$C/Sum2"
    build -f "$C/Sum2" "$C"
    [ "$rc" -ne 0 ]; ok $? "a wrong --checksum fails the build"
    like "$out" "Sum2:3: ADD --checksum=.*checksum mismatch .*$bad.*$sum" \
        "the error names FILE:LINE and both digests"
else
    for n in 1 2 3 4; do skip "no local HTTP server"; done
fi
printf 'FROM busybox\nADD --checksum=%s pdata /pdata\n' "$sum" > "$C/Sum3"
build -f "$C/Sum3" "$C"
[ "$rc" -ne 0 ]; ok $? "ADD --checksum of a local file is refused (as Docker refuses it)"
like "$out" "Sum3:2: .*--checksum needs an http\(s\) source" "naming FILE:LINE"
printf 'FROM busybox\nCOPY --checksum=%s pdata /pdata\n' "$sum" > "$C/Sum4"
build -f "$C/Sum4" "$C"
[ "$rc" -ne 0 ]; ok $? "COPY --checksum is refused"

done_testing
