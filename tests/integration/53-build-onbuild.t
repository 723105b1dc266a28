#!/bin/sh
# strata build: ONBUILD triggers run right after FROM in a child (COPY with
# the child's context, RUN, LABEL), are not inherited further; ONBUILD
# ONBUILD / FROM / MAINTAINER refused; a failing trigger names the FROM line.
. "$STRATA_SRC/tests/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || skip_all "python3 missing (TEST dependency)"
"$STRATA" build --help >/dev/null 2>&1 || skip_all "strata build not built"
make_busybox_tar "$T/bb.tar" || skip_all "cannot make a busybox rootfs"
"$STRATA" import "$T/bb.tar" busybox >/dev/null
ok $? "busybox base image in the store"
# RUN needs run/ and unionfs/ working here
can_run=0
[ -c /dev/fuse ] && "$STRATA" run --rm busybox true >/dev/null 2>&1 && can_run=1

build() { run "$STRATA" build "$@"; }
cfg() { # cfg IMAGE PYEXPR on `strata inspect` (d = the image, c = its Config)
    "$STRATA" inspect "$1" 2>/dev/null | "$PY" -c "
import json, sys
d = json.load(sys.stdin)[0]
c = d.get('Config') or {}
print($2)"
}
# file IMAGE PATH: a file of the image, read through umoci-free unpacking
file() {
    rm -rf "$T/x"
    mkdir -p "$T/x"
    "$STRATA" save -o "$T/x/img.tar" "$1" >/dev/null 2>&1 &&
        "$PY" - "$T/x/img.tar" "$2" <<'PY'
import json, sys, tarfile, gzip, io
tar = tarfile.open(sys.argv[1])
want = sys.argv[2].lstrip("/")
idx = json.load(tar.extractfile("index.json"))
man = json.load(tar.extractfile("blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
found = None
for l in man["layers"]:
    t = tarfile.open(fileobj=io.BytesIO(tar.extractfile("blobs/sha256/" + l["digest"][7:]).read()))
    for m in t.getmembers():
        n = m.name.lstrip("./")
        if n == want and m.isfile():
            found = t.extractfile(m).read().decode()
        base = n.rsplit("/", 1)
        if len(base) == 2 and base[1] == ".wh." + want.rsplit("/", 1)[-1]:
            found = None
sys.stdout.write(found if found is not None else "MISSING")
PY
}

C=$T/ctx
mkdir -p "$C"
echo parent-data > "$C/pdata"
echo child-data > "$C/cdata"

# ONBUILD -------------------------------------------------------------------
if [ "$can_run" = 1 ]; then run_trigger='ONBUILD RUN cat /trigger/cdata > /trigger/ran'; else run_trigger='ONBUILD ENV RAN=1'; fi
cat > "$C/Parent" <<EOF2
FROM busybox
COPY pdata /pdata
ONBUILD COPY cdata /trigger/cdata
$run_trigger
ONBUILD LABEL from.trigger=yes
EOF2
build -f "$C/Parent" -t parent "$C"
is "$rc" 0 "a parent image with ONBUILD COPY/RUN/LABEL builds"
is "$(cfg parent 'len(c.get("OnBuild") or [])')" "3" "its triggers are stored in the config"
is "$(file parent /trigger/cdata)" "MISSING" "the triggers did not run in the parent itself"

printf 'FROM parent\nLABEL child=1\n' > "$C/Child"
build -f "$C/Child" -t child "$C"
is "$rc" 0 "a child FROM the parent builds"
[ "$rc" = 0 ] || diag "$out"
like "$out" "ONBUILD COPY cdata /trigger/cdata" "the triggers are shown as they run"
is "$(file child /trigger/cdata)" "child-data" "ONBUILD COPY ran with the child's context"
if [ "$can_run" = 1 ]; then
    is "$(file child /trigger/ran)" "child-data" "ONBUILD RUN ran after the COPY trigger"
else
    skip "ONBUILD RUN needs strata run here"
fi
is "$(cfg child 'c["Labels"]["from.trigger"] + "," + c["Labels"]["child"]')" "yes,1" "trigger LABEL applied, then the child's own"
is "$(cfg child 'len(c.get("OnBuild") or [])')" "0" "triggers are not inherited by the child"
is "$(cfg child 'sum(1 for h in d["History"] if h.get("created_by","").startswith("COPY cdata"))')" "1" \
    "the trigger has its history entry"

printf 'FROM child\nLABEL grandchild=1\n' > "$C/Grand"
build -f "$C/Grand" -t grand "$C"
is "$rc" 0 "a grandchild builds"
unlike_trigger=$(printf '%s\n' "$out" | grep -c ONBUILD)
is "$unlike_trigger" "0" "no trigger runs in the grandchild"

for bad in 'ONBUILD ONBUILD RUN true' 'ONBUILD FROM busybox' 'ONBUILD MAINTAINER me'; do
    printf 'FROM busybox\n%s\n' "$bad" > "$C/Bad"
    build -f "$C/Bad" "$C"
    kw=$(echo "$bad" | cut -d' ' -f2)
    like "$out" "Bad:2: .*$kw is not allowed as an ONBUILD trigger" "$bad refused at FILE:LINE"
done

# a trigger that fails names the child's FROM line
printf 'FROM busybox\nONBUILD COPY no-such-file /x\n' > "$C/P2"
build -f "$C/P2" -t parent2 "$C"
printf 'ARG X=1\n\nFROM parent2\n' > "$C/C2"
build -f "$C/C2" "$C"
[ "$rc" -ne 0 ]; ok $? "a failing trigger fails the child build"
like "$out" "C2:3: COPY no-such-file /x: .*no-such-file" "and names the FROM line and the trigger"

done_testing
