#!/bin/sh
# strata build: FROM --platform (the store image must match: no
# emulation; the error names FILE:LINE) and the predefined platform ARGs
# (TARGETPLATFORM, TARGETARCH, BUILDPLATFORM, ...).
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

# FROM --platform and the platform ARGs -----------------------------------------
arch=$(cfg busybox 'd["Architecture"]')
cat > "$C/Plat" <<'EOF2'
ARG TARGETPLATFORM
FROM --platform=$BUILDPLATFORM busybox AS b
ARG TARGETARCH
ARG BUILDPLATFORM
LABEL arch=$TARGETARCH build=$BUILDPLATFORM
FROM --platform=${TARGETPLATFORM} b
ARG TARGETOS
LABEL os=$TARGETOS
EOF2
build -f "$C/Plat" -t plat "$C"
is "$rc" 0 "FROM --platform=\$BUILDPLATFORM / \${TARGETPLATFORM} builds"
[ "$rc" = 0 ] || diag "$out"
is "$(cfg plat 'c["Labels"]["arch"] + " " + c["Labels"]["build"] + " " + c["Labels"]["os"]')" \
    "$arch linux/$arch linux" "TARGETARCH, BUILDPLATFORM, TARGETOS predefined (after ARG in the stage)"
printf 'FROM --platform=linux/%s busybox\n' "$arch" > "$C/Plat2"
build -f "$C/Plat2" "$C"
is "$rc" 0 "FROM --platform=linux/$arch (the image's platform) builds"
other=s390x
[ "$arch" = s390x ] && other=amd64
printf '# a comment\nFROM --platform=linux/%s busybox\n' "$other" > "$C/Plat3"
build -f "$C/Plat3" "$C"
[ "$rc" -ne 0 ]; ok $? "FROM --platform of another architecture fails (no emulation)"
like "$out" "Plat3:2: FROM --platform=linux/$other busybox: .busybox. is linux/$arch, not linux/$other" \
    "the error names FILE:LINE and both platforms"
printf 'FROM --platform=linux/%s scratch\nCOPY pdata /\n' "$other" > "$C/Plat4"
build -f "$C/Plat4" -t plat4 "$C"
is "$rc" 0 "FROM --platform=OTHER scratch builds (nothing to run)"
is "$(cfg plat4 'd["Architecture"]')" "$other" "and the image is for that platform"

done_testing
