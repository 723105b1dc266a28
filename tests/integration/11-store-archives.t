#!/bin/sh
# save/load round trips, and interoperation with skopeo and umoci: the store
# is an OCI layout they read as is, and their archives load into strata.
. "$STRATA_SRC/tests/lib.sh"

MK=$STRATA_HELPERS/mkimage
[ -x "$MK" ] || skip_all "mkimage helper not built"
command -v busybox >/dev/null || skip_all "busybox missing (TEST dependency busybox-static)"
S=$STRATA_ROOT

mkdir -p "$T/src"
make_busybox_rootfs "$T/src"
printf 'hello\n' > "$T/src/etc/motd"
chmod 0640 "$T/src/etc/motd"
tar --numeric-owner --owner=0 --group=0 -C "$T/src" -cf "$T/bb.tar" .
# one file owned by someone else, to see owners survive
tar --numeric-owner --owner=1000 --group=1000 -C "$T/src" -rf "$T/bb.tar" ./etc/motd
digest=$("$MK" "$S" "$T/bb.tar" busybox)
ok $? "a one-layer busybox image"
id=$("$STRATA" inspect -f .Id busybox)
layers=$("$STRATA" inspect -f .Layers busybox)

# save (default: OCI layout + docker-archive in one tar) → load into an empty store
"$STRATA" save -o "$T/both.tar" busybox
ok $? "save"
members=$(tar tf "$T/both.tar")
like "$members" 'oci-layout' "the archive is an OCI layout"
like "$members" 'manifest.json' "and a docker-archive"
run env STRATA_ROOT="$T/s2" "$STRATA" load -i "$T/both.tar"
is "$rc" 0 "load into an empty store"
like "$out" 'Loaded image: busybox:latest' "load names the image"
is "$(STRATA_ROOT="$T/s2" "$STRATA" inspect -f .Digest busybox)" "$digest" "identical manifest digest"
is "$(STRATA_ROOT="$T/s2" "$STRATA" inspect -f .Id busybox)" "$id" "identical config digest"
is "$(STRATA_ROOT="$T/s2" "$STRATA" inspect -f .Layers busybox)" "$layers" "identical layers"
"$STRATA" save busybox | STRATA_ROOT="$T/s2b" "$STRATA" load >/dev/null
is "$(STRATA_ROOT="$T/s2b" "$STRATA" inspect -f .Digest busybox)" "$digest" "save | load through a pipe"

"$STRATA" save --format oci-archive -o "$T/oci.tar" busybox
STRATA_ROOT="$T/s3" "$STRATA" load -i "$T/oci.tar" >/dev/null
is "$(STRATA_ROOT="$T/s3" "$STRATA" inspect -f .Digest busybox)" "$digest" "oci-archive round trip keeps the digest"
"$STRATA" save --format docker-archive -o "$T/legacy.tar" busybox
like "$(tar tf "$T/legacy.tar")" '/layer.tar' "docker-archive has <id>/layer.tar"
STRATA_ROOT="$T/s4" "$STRATA" load -i "$T/legacy.tar" >/dev/null
is "$(STRATA_ROOT="$T/s4" "$STRATA" inspect -f .Id busybox)" "$id" "legacy docker-archive round trip keeps the image id"
is "$(STRATA_ROOT="$T/s4" "$STRATA" inspect -f .RootFS.diff_ids.0 busybox)" \
   "$("$STRATA" inspect -f .RootFS.diff_ids.0 busybox)" "and the diff_id"

# Docker 25+ writes ref.name as the bare tag and the full name in
# io.containerd.image.name; an archive without manifest.json RepoTags
# still gets the full name
mkdir -p "$T/d25" && tar -C "$T/d25" -xf "$T/both.tar"
python3 - "$T/d25" <<'PY'
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
idx["manifests"][0]["annotations"] = {"org.opencontainers.image.ref.name": "latest",
    "io.containerd.image.name": "docker.io/library/busybox:latest"}
json.dump(idx, open(d + "/index.json", "w"))
m = json.load(open(d + "/manifest.json"))
m[0]["RepoTags"] = []
json.dump(m, open(d + "/manifest.json", "w"))
PY
tar -C "$T/d25" -cf "$T/d25.tar" .
run env STRATA_ROOT="$T/s9" "$STRATA" load -i "$T/d25.tar"
like "$out" 'Loaded image: docker.io/library/busybox:latest' "a Docker 25 style archive loads under its containerd name"
is "$(STRATA_ROOT="$T/s9" "$STRATA" inspect -f .Digest docker.io/library/busybox)" "$digest" \
   "with the same digest"

run "$STRATA" images -q busybox:latest
is "$out" "$(echo "$id" | cut -c8-19)" "images REPOSITORY:TAG filters"

# the same round trip for an image made by `strata import` (gzip'd layer)
if "$STRATA" import --help >/dev/null 2>&1; then
    "$STRATA" import "$T/bb.tar" imported:1 >/dev/null
    ok $? "strata import of the busybox rootfs"
    idig=$("$STRATA" inspect -f .Digest imported:1)
    "$STRATA" save -o "$T/imp.tar" imported:1 &&
        STRATA_ROOT="$T/s7" "$STRATA" load -i "$T/imp.tar" >/dev/null
    ok $? "save and load it"
    is "$(STRATA_ROOT="$T/s7" "$STRATA" inspect -f .Digest imported:1)" "$idig" \
       "import → save → load keeps the manifest digest"
    is "$(STRATA_ROOT="$T/s7" "$STRATA" inspect -f .Layers imported:1)" \
       "$("$STRATA" inspect -f .Layers imported:1)" "and every layer digest"
    "$STRATA" save --format docker-archive -o "$T/imp-legacy.tar" imported:1 &&
        STRATA_ROOT="$T/s8" "$STRATA" load -i "$T/imp-legacy.tar" >/dev/null
    ok $? "a gzip'd layer goes out uncompressed in a legacy docker-archive and loads"
    is "$(STRATA_ROOT="$T/s8" "$STRATA" inspect -f .Id imported:1)" \
       "$("$STRATA" inspect -f .Id imported:1)" "with the same image id"
else
    skip "strata import not available"
fi

# hostile archives: a member climbing out, a layer symlinked out of the archive
python3 - "$T" <<'PY'
import io, sys, tarfile
t = sys.argv[1]
def add(tf, name, data):
    ti = tarfile.TarInfo(name); ti.size = len(data); tf.addfile(ti, io.BytesIO(data))
with tarfile.open(t + "/evil1.tar", "w") as tf:
    add(tf, "../../escape", b"x")
    add(tf, "manifest.json", b"[]")
with tarfile.open(t + "/evil2.tar", "w") as tf:
    add(tf, "cfg.json", b'{"rootfs":{"type":"layers","diff_ids":["sha256:' + b"0" * 64 + b'"]}}')
    add(tf, "manifest.json", b'[{"Config":"cfg.json","RepoTags":["evil:1"],"Layers":["l/layer.tar"]}]')
    ln = tarfile.TarInfo("l/layer.tar"); ln.type = tarfile.SYMTYPE; ln.linkname = "../../../etc/passwd"
    tf.addfile(ln)
PY
run env STRATA_ROOT="$T/evil" "$STRATA" load -i "$T/evil1.tar"
is "$rc" 1 "a member path climbing out of the archive is refused"
like "$out" 'escape' "and named"
run env STRATA_ROOT="$T/evil" "$STRATA" load -i "$T/evil2.tar"
is "$rc" 1 "a layer symlinked out of the archive is refused"
like "$out" 'l/layer.tar' "and named"
run env STRATA_ROOT="$T/evil" "$STRATA" images -q
is "$out" "" "nothing was loaded"

run "$STRATA" load -i "$T/bb.tar"
is "$rc" 1 "loading a plain rootfs tar is refused"
like "$out" 'neither an OCI layout' "with a reason"

if ! command -v skopeo >/dev/null; then
    skip "skopeo missing (TEST dependency)"
else
    run skopeo inspect "oci:$S:busybox:latest"
    is "$rc" 0 "skopeo inspect oci:STORE:busybox:latest"
    like "$out" "$digest" "skopeo sees the same manifest digest"
    run skopeo copy "oci:$S:busybox:latest" "docker-archive:$T/sk-da.tar:busybox:latest"
    is "$rc" 0 "skopeo copy oci:STORE → docker-archive"
    run skopeo copy "oci:$S:busybox:latest" "oci-archive:$T/sk-oci.tar:busybox:latest"
    is "$rc" 0 "skopeo copy oci:STORE → oci-archive (gzip layers)"
    run env STRATA_ROOT="$T/s5" "$STRATA" load -i "$T/sk-da.tar"
    is "$rc" 0 "strata load of skopeo's docker-archive"
    is "$(STRATA_ROOT="$T/s5" "$STRATA" inspect -f .Id docker.io/library/busybox)" "$id" \
       "same image id"
    run env STRATA_ROOT="$T/s6" "$STRATA" load -i "$T/sk-oci.tar"
    is "$rc" 0 "strata load of skopeo's oci-archive"
    is "$(STRATA_ROOT="$T/s6" "$STRATA" inspect -f .Id busybox)" "$id" "same image id"
    like "$(STRATA_ROOT="$T/s6" "$STRATA" inspect -f .Layers.0.MediaType busybox)" 'gzip' \
         "its layer stayed gzip'd"
    run env STRATA_ROOT="$T/s6" "$STRATA" fsck
    is "$rc" 0 "the loaded store is healthy"
    run skopeo copy "docker-archive:$T/both.tar" "oci:$T/sk-from-both:x"
    is "$rc" 0 "skopeo reads strata's default archive as a docker-archive"
    run skopeo copy "oci-archive:$T/both.tar:busybox:latest" "oci:$T/sk-from-both2:x"
    is "$rc" 0 "and as an oci-archive"
    run skopeo copy "docker-archive:$T/legacy.tar" "oci:$T/sk-from-legacy:x"
    is "$rc" 0 "and reads strata's legacy docker-archive"
fi

if ! command -v umoci >/dev/null; then
    skip "umoci missing (TEST dependency)"
elif ! is_root; then
    skip "umoci unpack keeps owners only as root"
else
    listing() { (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %l\n' | sort); }
    listing "$T/src" | sed 's|^\(./etc/motd [^ ]* [^ ]*\) 0:0|\1 1000:1000|' > "$T/want"
    names="busybox:latest"
    "$STRATA" inspect imported:1 >/dev/null 2>&1 && names="$names imported:1"
    for name in $names; do
        rm -rf "$T/bundle"
        run umoci unpack --image "$S:$name" "$T/bundle"
        is "$rc" 0 "umoci unpack --image STORE:$name"
        listing "$T/bundle/rootfs" > "$T/got"
        run diff "$T/want" "$T/got"
        is "$rc" 0 "$name: same paths, types, modes and owners as the source tree"
        [ "$rc" -eq 0 ] || diag "$out"
        run diff -r --no-dereference "$T/src" "$T/bundle/rootfs"
        is "$rc" 0 "$name: same contents"
    done
fi

done_testing
