#!/bin/sh
# The image verbs on a store holding a busybox image: images, tag, inspect,
# rmi, prune, fsck, and corruption caught by fsck and by every read.
. "$STRATA_SRC/tests/lib.sh"

MK=$STRATA_HELPERS/mkimage
[ -x "$MK" ] || skip_all "mkimage helper not built"
command -v busybox >/dev/null || skip_all "busybox missing (TEST dependency busybox-static)"
S=$STRATA_ROOT

make_busybox_tar "$T/bb.tar"
digest=$("$MK" "$S" "$T/bb.tar" busybox)
ok $? "a one-layer busybox image"
layer="sha256:$(sha256sum "$T/bb.tar" | cut -d' ' -f1)"

run "$STRATA" images
is "$rc" 0 "images succeeds"
is "$(printf '%s\n' "$out" | head -1 | tr -s ' ')" "REPOSITORY TAG IMAGE ID CREATED SIZE" "images header"
like "$out" 'busybox +latest +[0-9a-f]{12} +.* ago +2\.1[0-9]MB' "busybox:latest row with id, age and size"
run "$STRATA" images --format json
like "$out" '"Repository": "busybox"' "images --format json"

"$STRATA" tag busybox localhost/bb:v1 extra
ok $? "tag with two new names"
run "$STRATA" images
like "$out" 'bb +v1 ' "bb:v1 listed (localhost/ dropped)"
like "$out" 'extra +latest ' "extra:latest listed"
is "$("$STRATA" inspect -f .Digest bb:v1)" "$digest" "the new name points at the same manifest"
run "$STRATA" tag busybox 'Bad:Name'
is "$rc" 1 "an invalid name is refused"

run "$STRATA" inspect busybox
is "$rc" 0 "inspect succeeds"
like "$out" '"Digest": "'"$digest"'"' "inspect shows the manifest digest"
like "$out" '"DiffID": "'"$layer"'"' "inspect shows the layer diff_id"
like "$out" '"UncompressedSize": [0-9]+' "inspect shows the uncompressed size"
is "$("$STRATA" inspect --format '{{.Config.Cmd}}' busybox)" '["/bin/sh"]' "--format picks .Config.Cmd"
is "$("$STRATA" inspect --format .Layers.0.Digest busybox)" "$layer" "--format follows array indexes"
id=$("$STRATA" inspect -f .Id busybox)
short=$(echo "$id" | cut -c8-19)
is "$("$STRATA" inspect -f .Digest "$short")" "$digest" "inspect by short image id"
run "$STRATA" inspect nosuchimage
is "$rc" 1 "inspect of an unknown name fails"
like "$out" 'nosuchimage' "and names it"

run "$STRATA" rmi bb:v1
is "$rc" 0 "rmi a name"
like "$out" 'Untagged: bb:v1' "rmi reports the untag"
run "$STRATA" images
ok $(printf '%s\n' "$out" | grep -q '^bb '; echo $((! $?))) "bb:v1 is gone from images"
run "$STRATA" rmi bb:v1
is "$rc" 1 "rmi of a missing name fails"

# prune: an orphan blob and a stale unpacked layer go, the image stays
printf 'orphan' > "$T/orphan"
orphan=$(sha256sum "$T/orphan" | cut -d' ' -f1)
cp "$T/orphan" "$S/blobs/sha256/$orphan"
mkdir -p "$S/layers/$(printf '%064d' 0)/etc" "$S/layers/${layer#sha256:}"
run "$STRATA" prune -v
is "$rc" 0 "prune succeeds"
ok $([ ! -e "$S/blobs/sha256/$orphan" ]; echo $?) "the orphan blob was removed"
ok $([ ! -e "$S/layers/$(printf '%064d' 0)" ]; echo $?) "the unused unpacked layer was removed"
ok $([ -d "$S/layers/${layer#sha256:}" ]; echo $?) "the image's unpacked layer was kept"
ok $([ -e "$S/blobs/sha256/${layer#sha256:}" ]; echo $?) "the image's layer blob was kept"
run "$STRATA" fsck
is "$rc" 0 "fsck of a healthy store"

# a container keeps its image alive after rmi
mkdir -p "$S/containers/c1"
echo "$digest" > "$S/containers/c1/image"
run "$STRATA" rmi extra
is "$rc" 0 "rmi of one of two names of a container's image is fine"
run "$STRATA" rmi busybox
is "$rc" 1 "rmi of the last name of an image a container uses is refused"
like "$out" 'container `c1`' "and names the container"
run "$STRATA" rmi -f busybox
is "$rc" 0 "rmi -f removes it anyway"
"$STRATA" prune >/dev/null
ok $([ -e "$S/blobs/sha256/${digest#sha256:}" ]; echo $?) "prune keeps a container's image"
rm -rf "$S/containers/c1"
run "$STRATA" prune
like "$out" 'removed 3 blobs' "prune drops the image once nothing uses it"
run "$STRATA" images -q
is "$out" "" "no images left"

# corruption: a flipped byte is caught by fsck and by reads
digest=$("$MK" "$S" "$T/bb.tar" busybox)
cfg=$("$STRATA" inspect -f .Id busybox)
flip() {   # flip FILE OFFSET
    python3 -c "
import sys
f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^0x20])); f.close()" "$1" "$2"
}
chmod u+w "$S/blobs/sha256/${layer#sha256:}"
flip "$S/blobs/sha256/${layer#sha256:}" 100000
run "$STRATA" fsck
is "$rc" 1 "fsck fails on a flipped byte in a layer"
like "$out" "broken: .*${layer#sha256:}" "fsck names the broken layer blob"
run "$STRATA" save -o "$T/x.tar" busybox
is "$rc" 1 "save of an image with a corrupt layer fails"
like "$out" "${layer#sha256:}" "save names the corrupt blob"
ok $([ ! -e "$T/x.tar" ]; echo $?) "no half archive is left"
flip "$S/blobs/sha256/${layer#sha256:}" 100000
flip "$S/blobs/sha256/${cfg#sha256:}" 10
run "$STRATA" inspect busybox
is "$rc" 1 "inspect fails on a corrupt config"
like "$out" "${cfg#sha256:}" "inspect names the corrupt config blob"
run "$STRATA" fsck
like "$out" "broken: .*${cfg#sha256:}" "fsck names the corrupt config"

# prune of layers really unpacked by `strata run`, as root and rootless
prune_unpacked() {   # prune_unpacked STORE LABEL (runs via $AS)
    $AS env STRATA_ROOT="$1" "$MK" "$1" "$T/bb-user.tar" pl >/dev/null
    if ! $AS env STRATA_ROOT="$1" timeout 120 "$STRATA" run --rm pl true >/dev/null 2>&1; then
        skip "$2: strata run cannot run here"
        return
    fi
    ok $([ -d "$1/layers/${layer#sha256:}" ]; echo $?) "$2: run unpacked the layer"
    $AS env STRATA_ROOT="$1" "$STRATA" prune >/dev/null
    ok $([ -d "$1/layers/${layer#sha256:}" ]; echo $?) "$2: prune keeps a tagged image's layer"
    $AS env STRATA_ROOT="$1" "$STRATA" rmi pl >/dev/null
    run $AS env STRATA_ROOT="$1" "$STRATA" prune
    like "$out" '1 unpacked layers' "$2: prune removes the unpacked layer once untagged"
    ok $([ ! -e "$1/layers/${layer#sha256:}" ]; echo $?) "$2: and it is gone"
}
cp "$T/bb.tar" "$T/bb-user.tar" && chmod 0644 "$T/bb-user.tar"
if "$STRATA" run --help >/dev/null 2>&1; then
    AS= prune_unpacked "$T/prune-root" root
    if is_root; then
        mkdir -p "$T/home" && chown "$TEST_UID:$TEST_GID" "$T/home"
        AS=as_user prune_unpacked "$T/home/prune-user" rootless
    fi
else
    skip "strata run not available"
fi

# rootless: the default store under $XDG_DATA_HOME, created 0700
if is_root; then
    mkdir -p "$T/home" && chown "$TEST_UID:$TEST_GID" "$T/home"
    run as_user env -u STRATA_ROOT "$MK" "$T/home/.local/share/strata" "$T/bb-user.tar" ubb
    is "$rc" 0 "an unprivileged user makes an image in the default rootless store"
    run as_user env -u STRATA_ROOT "$STRATA" images
    like "$out" 'ubb +latest' "and lists it"
    is "$(stat -c %a "$T/home/.local/share/strata")" 700 "the rootless store is private"
    run as_user env -u STRATA_ROOT "$STRATA" fsck
    is "$rc" 0 "fsck as the user"
else
    skip "rootless store check needs root to switch users"
fi

done_testing
