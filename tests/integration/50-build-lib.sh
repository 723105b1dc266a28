# Shared by the build tests: a busybox base image in the store, `build`,
# `cfg` (a Python expression over `strata inspect`) and `file` (a file of an
# image, read from `strata save`'s layers).  Sets can_run=1 when RUN works
# here (run/ and unionfs/), and makes the context dir $C with two small
# files (pdata, cdata).  Source after tests/lib.sh.
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
