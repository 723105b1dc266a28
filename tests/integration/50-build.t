#!/bin/sh
# strata build without RUN (no container needed): every metadata
# instruction into the config and history, COPY/ADD semantics, multi-stage
# with COPY --from and --target, build args, .containerignore, the cache,
# reproducibility, -q/-f/--compression, and the errors naming FILE:LINE.
. "$STRATA_SRC/tests/lib.sh"

# Debian's python3 (a pyenv shim in PATH costs seconds per call)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || skip_all "python3 missing (TEST dependency)"
command -v umoci >/dev/null || skip_all "umoci missing (TEST dependency)"
command -v busybox >/dev/null || skip_all "busybox-static missing (TEST dependency)"
"$STRATA" build --help >/dev/null 2>&1 || skip_all "strata build not built"

jq_py() { "$PY" -c "import json,sys; d=json.load(sys.stdin); $1"; }
cfg() { # cfg IMAGE PYEXPR: evaluates PYEXPR on the image config document
    "$PY" - "$STRATA_ROOT" "$1" "$2" <<'PY'
import json, sys
root, ref, expr = sys.argv[1:4]
idx = json.load(open(root + "/index.json"))
want = ref if ":" in ref else ref + ":latest"
for m in idx["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == want:
        man = json.load(open(root + "/blobs/sha256/" + m["digest"][7:]))
        d = json.load(open(root + "/blobs/sha256/" + man["config"]["digest"][7:]))
        c = d.get("config", {})
        print(eval(expr))
        break
else:
    print("NO-IMAGE")
PY
}
# unpack IMAGE DIR: the image's root filesystem (umoci, as another OCI tool)
unpack() {
    rm -rf "$2"
    umoci unpack --image "$STRATA_ROOT:$1:latest" "$2" >/dev/null 2>&1
}
build() { run "$STRATA" build "$@"; }

# a busybox base image in the store
make_busybox_tar "$T/bb.tar" || skip_all "cannot make a busybox rootfs"
if "$STRATA" import --help >/dev/null 2>&1; then
    "$STRATA" import "$T/bb.tar" busybox >/dev/null
else
    "$STRATA_HELPERS/mkimage" "$STRATA_ROOT" "$T/bb.tar" busybox:latest >/dev/null
fi
ok $? "busybox base image in the store"

C=$T/ctx
mkdir -p "$C/dir/sub" "$C/other"
echo hello > "$C/hello.txt"
echo a > "$C/dir/a"
echo b > "$C/dir/sub/b"
ln -s a "$C/dir/link"
echo 1 > "$C/f1.conf"
echo 2 > "$C/f2.conf"
echo x > "$C/other/x"
chmod 0751 "$C/dir/sub"

# metadata instructions ------------------------------------------------
cat > "$C/Containerfile" <<'EOF2'
# a comment
ARG BASE=busybox
FROM $BASE AS final
ARG VERSION=1.0
ENV APP=/app \
    MODE="prod mode"
ENV LEGACY legacy value
LABEL org.example.version=$VERSION "quoted key"="v w"
EXPOSE 80 53/udp
VOLUME ["/data"]
VOLUME /logs /cache
USER 1000:1000
WORKDIR $APP
WORKDIR sub
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost
SHELL ["/bin/sh", "-e", "-c"]
ENTRYPOINT ["/bin/echo"]
CMD echo $MODE
maintainer someone
EOF2
build -t meta "$C"
is "$rc" 0 "build with every metadata instruction succeeds"
like "$out" 'STEP 1/17: FROM [$]BASE AS final' "STEP n/m lines"
like "$out" "STEP 17/17: maintainer someone" "last step shown as written"
is "$(cfg meta '[e for e in c["Env"] if not e.startswith("PATH=")]')" "['APP=/app', 'MODE=prod mode', 'LEGACY=legacy value']" "Env"
is "$(cfg meta 'sorted(c["Labels"].items())')" "[('org.example.version', '1.0'), ('quoted key', 'v w')]" "Labels with ARG expansion"
is "$(cfg meta 'sorted(c["ExposedPorts"])')" "['53/udp', '80/tcp']" "ExposedPorts"
is "$(cfg meta 'sorted(c["Volumes"])')" "['/cache', '/data', '/logs']" "Volumes"
is "$(cfg meta 'c["User"]')" "1000:1000" "User"
is "$(cfg meta 'c["WorkingDir"]')" "/app/sub" "WorkingDir (relative joins)"
is "$(cfg meta 'c["StopSignal"]')" "SIGINT" "StopSignal"
is "$(cfg meta 'sorted(c["Healthcheck"].items())')" "[('Interval', 30000000000), ('Retries', 3), ('Test', ['CMD-SHELL', 'wget -q localhost'])]" "Healthcheck"
is "$(cfg meta 'c["Shell"]')" "['/bin/sh', '-e', '-c']" "Shell"
is "$(cfg meta 'c["Entrypoint"]')" "['/bin/echo']" "Entrypoint"
is "$(cfg meta 'c["Cmd"]')" "['/bin/sh', '-e', '-c', 'echo \$MODE']" "shell-form Cmd uses SHELL, unexpanded"
is "$(cfg meta 'd["author"]')" "someone" "MAINTAINER is the author"
is "$(cfg meta '[h["created_by"] for h in d["history"]][-3:]')" \
    "['ENTRYPOINT [\"/bin/echo\"]', 'CMD [\"/bin/sh\",\"-e\",\"-c\",\"echo \$MODE\"]', 'MAINTAINER someone']" "history created_by"
is "$(cfg meta 'sum(1 for h in d["history"] if not h.get("empty_layer"))')" \
   "$(cfg meta 'len(d["rootfs"]["diff_ids"])')" "non-empty history entries match the layers"
is "$(cfg meta '[h.get("empty_layer") for h in d["history"] if h["created_by"].startswith("ENV")]')" "[True, True]" "ENV is an empty layer"
is "$(cfg meta '[h.get("empty_layer", False) for h in d["history"] if h["created_by"].startswith("WORKDIR")]')" "[False, False]" "WORKDIR creating a directory is a layer"
unpack meta "$T/u"
[ -d "$T/u/rootfs/app/sub" ]; ok $? "WORKDIR created the directory"

# COPY semantics --------------------------------------------------------
cat > "$C/Containerfile" <<'EOF2'
FROM busybox
COPY hello.txt /file-renamed
COPY hello.txt /newdir/
COPY dir /copied
COPY dir/ /copied2/
COPY *.conf /confs/
COPY f?.conf other /mixed/
COPY --chown=app:app --chmod=0640 hello.txt /deep/missing/parents/h
COPY --chown=1234 dir /owned/
WORKDIR /work
COPY hello.txt rel
COPY ["hello.txt", "/json form/"]
EOF2
build -t copy "$C"
is "$rc" 0 "COPY build succeeds"
[ "$rc" = 0 ] || diag "$out"
unpack copy "$T/u"
R=$T/u/rootfs
is "$(cat "$R/file-renamed")" "hello" "file to a path without trailing slash is renamed"
is "$(cat "$R/newdir/hello.txt")" "hello" "trailing slash: into the directory"
is "$(cat "$R/copied/a") $(cat "$R/copied/sub/b")" "a b" "a directory copies its contents"
[ ! -e "$R/copied/dir" ]; ok $? "not the directory itself"
is "$(readlink "$R/copied/link")" "a" "symlinks inside a directory stay symlinks"
is "$(stat -c %a "$R/copied/sub")" "751" "directory modes kept"
is "$(cat "$R/copied2/sub/b")" "b" "trailing slash source"
is "$(ls "$R/confs" | tr '\n' ' ')" "f1.conf f2.conf " "wildcard"
is "$(ls "$R/mixed" | tr '\n' ' ')" "f1.conf f2.conf x " "wildcard plus a directory's contents"
is "$(stat -c '%u:%g %a' "$R/deep/missing/parents/h")" "1000:1000 640" "--chown names from the image, --chmod"
is "$(stat -c '%u:%g %a' "$R/deep/missing")" "1000:1000 755" "missing parents created (owned per --chown)"
is "$(stat -c '%u:%g' "$R/owned/sub/b")" "1234:1234" "--chown uid alone: gid = uid"
is "$(stat -c '%u:%g' "$R/copied/a")" "0:0" "COPY makes files root-owned"
is "$(cat "$R/work/rel")" "hello" "relative destination joins WORKDIR"
is "$(cat "$R/json form/hello.txt")" "hello" "JSON form with a space"
is "$(stat -c %a "$R/tmp")" "1777" "untouched directories keep their mode"

# destinations through the image's symlinks (usrmerge: /lib -> usr/lib)
U=$T/um
mkdir -p "$U/base/usr/lib" "$U/tree/lib"
ln -s usr/lib "$U/base/lib"
echo old > "$U/base/usr/lib/existing"
echo new > "$U/tree/lib/new"
echo z > "$U/z"
printf 'FROM busybox\nCOPY base/ /\nCOPY z /lib/\nCOPY tree/ /\n' > "$U/Containerfile"
build -t usrmerge "$U"
is "$rc" 0 "COPY through a symlinked directory"
unpack usrmerge "$T/u"
is "$(readlink "$T/u/rootfs/lib")" "usr/lib" "the image's symlink is kept"
is "$(ls "$T/u/rootfs/usr/lib" | tr '\n' ' ')" "existing new z " "files land where the symlink points"

# context escapes
mkdir -p "$T/outside"
echo secret > "$T/outside/secret"
ln -s "$T/outside/secret" "$C/abs-link"
ln -s ../../outside/secret "$C/rel-link"
printf 'FROM busybox\nCOPY abs-link /a\n' > "$T/Cf.abs"
build -f "$T/Cf.abs" -t esc "$C"
unpack esc "$T/u"
[ "$(cat "$T/u/rootfs/a" 2>/dev/null)" != secret ]; ok $? "absolute symlink does not leave the context"
printf 'FROM busybox\nCOPY rel-link /a\n' > "$T/Cf.rel"
build -f "$T/Cf.rel" -t esc2 "$C"
unpack esc2 "$T/u"
[ "$(cat "$T/u/rootfs/a" 2>/dev/null)" != secret ]; ok $? "relative symlink does not leave the context"
rm "$C/abs-link" "$C/rel-link"

# ADD -------------------------------------------------------------------
mkdir -p "$T/tarsrc/pkg"
echo inside > "$T/tarsrc/pkg/file"
tar --numeric-owner --owner=42 --group=43 -C "$T/tarsrc" -czf "$C/pkg.tgz.bin" pkg
cat > "$C/Containerfile" <<'EOF2'
FROM busybox
ADD pkg.tgz.bin /opt/
ADD hello.txt /plain/
EOF2
build -t add "$C"
is "$rc" 0 "ADD build succeeds"
unpack add "$T/u"
is "$(cat "$T/u/rootfs/opt/pkg/file" 2>/dev/null)" "inside" "ADD extracts a local tar (detected by content, not name)"
is "$(stat -c '%u:%g' "$T/u/rootfs/opt/pkg/file" 2>/dev/null)" "42:43" "extracted files keep the archive's owners"
is "$(cat "$T/u/rootfs/plain/hello.txt")" "hello" "ADD of a plain file copies it"
printf 'FROM busybox\nADD http://strata-no-such-host.invalid/x.tar /x\n' > "$T/Cf.url"
build -f "$T/Cf.url" "$C"
isnt_zero=$rc
[ "$isnt_zero" -ne 0 ]; ok $? "ADD of an unreachable URL fails"
like "$out" "Cf.url:2: ADD http://strata-no-such-host.invalid/x.tar /x: fetch \`http://strata-no-such-host.invalid/x.tar\`" "and says which URL at FILE:LINE"

# multi-stage, --target, build args -------------------------------------
cat > "$C/Containerfile" <<'EOF2'
ARG GREETING=hello
FROM busybox AS first
ARG GREETING
ENV G=$GREETING
COPY hello.txt /from-first
FROM first AS second
COPY --from=first /from-first /again
FROM scratch AS unused
COPY no-such-file /
FROM busybox
ARG WHO=nobody
COPY --from=second /again /final
COPY --from=0 /from-first /by-index
COPY --from=busybox /etc/passwd /from-image
LABEL who=$WHO greet=$GREETING
EOF2
build -t multi --build-arg WHO=tester --build-arg UNUSED=1 "$C"
is "$rc" 0 "multi-stage build succeeds (the broken unused stage is skipped)"
like "$out" "build arg .UNUSED. was not consumed" "unused build arg warned about"
unpack multi "$T/u"
is "$(cat "$T/u/rootfs/final") $(cat "$T/u/rootfs/by-index")" "hello hello" "COPY --from a stage by name and by index"
cmp -s "$T/u/rootfs/from-image" "$T/u/rootfs/etc/passwd"; ok $? "COPY --from an image in the store"
is "$(cfg multi 'c["Labels"]["who"]')" "tester" "--build-arg overrides the ARG default"
is "$(cfg multi 'c["Labels"]["greet"]')" "" "global ARG not visible without re-declaration"
build -t tgt --target first "$C"
is "$rc" 0 "--target builds an earlier stage"
is "$(printf '%s\n' "$out" | grep -c '^STEP')" "4" "only the steps the target needs"
is "$(cfg tgt 'c["Env"][-1]')" "G=hello" "global ARG re-declared in the stage"
build -t tgt2 --target first --build-arg GREETING=bonjour "$C"
is "$(cfg tgt2 'c["Env"][-1]')" "G=bonjour" "--build-arg reaches a re-declared global ARG"

# .containerignore ------------------------------------------------------
mkdir -p "$T/ic/keep" "$T/ic/skip/deep"
echo k > "$T/ic/keep/k"; echo s > "$T/ic/skip/s"; echo d > "$T/ic/skip/deep/d"
echo l > "$T/ic/a.log"; echo i > "$T/ic/important.log"
printf 'FROM busybox\nCOPY . /ctx/\n' > "$T/ic/Containerfile"
printf '*.log\n!important.log\nskip\n!skip/deep\n' > "$T/ic/.containerignore"
build -t ign "$T/ic"
is "$rc" 0 "build with .containerignore"
unpack ign "$T/u"
is "$(cd "$T/u/rootfs/ctx" && find . -type f | sort | tr '\n' ' ')" \
   "./.containerignore ./Containerfile ./important.log ./keep/k ./skip/deep/d " ".containerignore patterns, ** and ! exceptions"

# cache -----------------------------------------------------------------
mkdir -p "$T/cc"
echo one > "$T/cc/one"; echo two > "$T/cc/two"
printf 'FROM busybox\nCOPY one /one\nENV X=1\nCOPY two /two\n' > "$T/cc/Containerfile"
build -t c1 "$T/cc"
is "$(printf '%s\n' "$out" | grep -c CACHED)" "0" "first build: nothing cached"
build -t c1 "$T/cc"
is "$(printf '%s\n' "$out" | grep -c CACHED)" "2" "unchanged rebuild: every layer CACHED"
touch -d '2001-01-01' "$T/cc/one"
build -t c1 "$T/cc"
is "$(printf '%s\n' "$out" | grep -c CACHED)" "2" "an mtime change alone keeps the cache"
echo TWO > "$T/cc/two"
build -t c1 "$T/cc"
is "$(printf '%s\n' "$out" | grep -A1 'COPY one' | grep -c CACHED) $(printf '%s\n' "$out" | grep -A1 'COPY two' | grep -c CACHED)" \
   "1 0" "changing a source invalidates that step only"
chmod 0700 "$T/cc/one"
build -t c1 "$T/cc"
is "$(printf '%s\n' "$out" | grep -c CACHED)" "0" "a mode change invalidates that step and the ones after"
build -t c1 --no-cache "$T/cc"
is "$(printf '%s\n' "$out" | grep -c CACHED)" "0" "--no-cache"
printf 'FROM busybox\nCOPY one /one\nENV X=2\nCOPY two /two\n' > "$T/cc/Containerfile"
build -t c1 "$T/cc"
is "$(printf '%s\n' "$out" | grep -c CACHED)" "1" "changed ENV invalidates the later steps"

# reproducibility -------------------------------------------------------
mkdir -p "$T/r1/d" "$T/r2/d"
for r in r1 r2; do
    echo content > "$T/$r/d/file"
    printf 'FROM busybox\nCOPY d /d\nENV A=b\nCMD ["sh"]\n' > "$T/$r/Containerfile"
done
touch -d '2030-01-01' "$T/r1/d/file" "$T/r1/d"
touch -d '2031-06-01' "$T/r2/d/file" "$T/r2/d"
id1=$("$STRATA" build -q --timestamp 1700000000 "$T/r1")
id2=$("$STRATA" build -q --no-cache --timestamp 1700000000 "$T/r2")
like "$id1" '^[0-9a-f]{64}$' "-q prints only the image id"
is "$id2" "$id1" "--timestamp: same image from two checkouts with different mtimes"
id3=$(SOURCE_DATE_EPOCH=1700000000 "$STRATA" build -q --no-cache "$T/r2")
is "$id3" "$id1" "SOURCE_DATE_EPOCH works like --timestamp"
id4=$("$STRATA" build -q --timestamp 1700000001 "$T/r1")
[ "$id4" != "$id1" ]; ok $? "another timestamp, another image"

# -f, Dockerfile default, --compression -----------------------------------
mkdir -p "$T/df"
printf 'FROM busybox\nLABEL from=dockerfile\n' > "$T/df/Dockerfile"
build -t df "$T/df"
is "$(cfg df 'c["Labels"]["from"]')" "dockerfile" "Dockerfile used when no Containerfile"
printf 'FROM busybox\nLABEL from=containerfile\n' > "$T/df/Containerfile"
build -t df "$T/df"
is "$(cfg df 'c["Labels"]["from"]')" "containerfile" "Containerfile preferred"
printf 'FROM busybox\nLABEL from=dash-f\n' > "$T/custom"
build -t df -t df:two -f "$T/custom" "$T/df"
is "$(cfg df:two 'c["Labels"]["from"]')" "dash-f" "-f and several -t"
printf 'FROM busybox\nCOPY Dockerfile /z\n' > "$T/df/Containerfile"
build -t zs --compression zstd "$T/df"
is "$rc" 0 "--compression zstd"
mt=$("$PY" - "$STRATA_ROOT" <<'PY'
import json, sys
root = sys.argv[1]
for m in json.load(open(root + "/index.json"))["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "zs:latest":
        print(json.load(open(root + "/blobs/sha256/" + m["digest"][7:]))["layers"][-1]["mediaType"])
PY
)
is "$mt" "application/vnd.oci.image.layer.v1.tar+zstd" "zstd layer media type"

# errors naming FILE:LINE -----------------------------------------------
mkdir -p "$T/err"
printf 'FROM busybox\n\nFROBNICATE all\n' > "$T/err/Containerfile"
build "$T/err"
[ "$rc" -ne 0 ] && like "$out" "Containerfile:3: FROBNICATE all: unknown instruction .FROBNICATE." "unknown instruction names FILE:LINE"
printf 'FROM busybox\nCOPY missing.txt /x\n' > "$T/err/Containerfile"
build "$T/err"
[ "$rc" -ne 0 ] && like "$out" "Containerfile:2: COPY missing.txt /x: source .missing.txt. not found" "missing source names FILE:LINE"
mkdir -p "$T/err/sub"
printf 'FROM busybox\nENV A=1\nCOPY ../x /x\n' > "$T/err/sub/Containerfile"
echo x > "$T/err/x"
build "$T/err/sub"
[ "$rc" -ne 0 ] && like "$out" "Containerfile:3: COPY ../x /x: .\\.\\./x. is outside the build context" "COPY ../x names FILE:LINE"
printf 'FROM no-such-image\n' > "$T/err/Containerfile"
build "$T/err"
[ "$rc" -ne 0 ] && like "$out" "Containerfile:1: FROM no-such-image: image .no-such-image. not found" "missing base image"
printf 'FROM busybox\nCOPY --bogus=1 a /b\n' > "$T/err/Containerfile"
build "$T/err"
[ "$rc" -ne 0 ] && like "$out" "Containerfile:2: .*unknown flag .--bogus." "unknown flag"
printf 'FROM busybox\nEXPOSE 70000\n' > "$T/err/Containerfile"
build "$T/err"
[ "$rc" -ne 0 ] && like "$out" "Containerfile:2: EXPOSE 70000: invalid port" "bad EXPOSE"
build --target nope "$T/df"
[ "$rc" -ne 0 ] && like "$out" "target stage .nope. not found" "unknown --target"
build "$T/nonexistent-dir"
[ "$rc" -ne 0 ]; ok $? "missing context fails"
build --compression lz4 "$T/df"
is "$rc" 2 "bad --compression is a usage error"

# rootless: owners go to user.containers.override_stat, the layer has them --
if is_root && command -v setpriv >/dev/null; then
    mkdir -p "$T/rl/d"
    echo rl > "$T/rl/d/f"
    printf 'FROM busybox\nCOPY --chown=5:6 d /d/\nCOPY d/f /etc/f2\nWORKDIR /w\n' > "$T/rl/Containerfile"
    chmod -R a+rX "$T/rl" "$T/bb.tar"
    chmod a+rx "$T"
    as_user "$STRATA" import "$T/bb.tar" busybox >/dev/null
    out=$(as_user "$STRATA" build -t rl "$T/rl" 2>&1)
    is "$?" 0 "rootless build (uid $TEST_UID)"
    listing=$("$PY" - "$T/home/store" <<'PY'
import json, sys, tarfile
root = sys.argv[1]
for m in json.load(open(root + "/index.json"))["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "rl:latest":
        man = json.load(open(root + "/blobs/sha256/" + m["digest"][7:]))
        for l in man["layers"][1:]:
            with tarfile.open(root + "/blobs/sha256/" + l["digest"][7:]) as t:
                for e in t.getmembers():
                    print("%s %d:%d %o" % (e.name.rstrip("/"), e.uid, e.gid, e.mode))
PY
)
    is "$(printf '%s\n' "$listing" | tr '\n' ',')" "d 5:6 755,d/f 5:6 644,etc 0:0 755,etc/f2 0:0 644,w 0:0 755," \
        "rootless layers carry --chown owners and root for the rest"
else
    skip "rootless build needs root to switch to uid $TEST_UID"
    skip "rootless build needs root to switch to uid $TEST_UID"
fi

done_testing
