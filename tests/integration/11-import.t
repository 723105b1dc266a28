#!/bin/sh
# strata import: a busybox rootfs tarball (plain, gzip, zstd) and a
# directory become one-layer images; bad input is refused naming the file.
. "$STRATA_SRC/tests/lib.sh"

command -v busybox >/dev/null || skip_all "busybox-static is not installed"
make_busybox_tar "$T/bb.tar" || skip_all "cannot build a busybox tar"
want_diff=sha256:$(sha256sum < "$T/bb.tar" | cut -d' ' -f1)

diff_id_of() { "$STRATA" inspect "$1" | grep -A1 '"diff_ids"' | tail -1 | tr -d ' ",'; }
layer_mt_of() { "$STRATA" inspect "$1" | grep -m1 '"mediaType": "application/vnd.oci.image.layer' | tr -d ' ",' | cut -d: -f2; }

run "$STRATA" import "$T/bb.tar" bb:plain
ok $rc "import a plain tar"
like "$out" '^sha256:[0-9a-f]{64}$' "prints the image id"
is "$(diff_id_of bb:plain)" "$want_diff" "diff_id is the sha256 of the tar as given"
is "$(layer_mt_of bb:plain)" "application/vnd.oci.image.layer.v1.tar+gzip" "gzip layer by default"

gzip -c "$T/bb.tar" > "$T/bb.tar.gz"
run "$STRATA" import "$T/bb.tar.gz" bb:gz
ok $rc "import a gzip tarball (detected by content)"
is "$(diff_id_of bb:gz)" "$want_diff" "same diff_id from the gzip tarball"

zstd -q -c "$T/bb.tar" > "$T/bb.tar.zst"
run "$STRATA" import --compression zstd "$T/bb.tar.zst" bb:zst
ok $rc "import a zstd tarball into a zstd layer"
is "$(diff_id_of bb:zst)" "$want_diff" "same diff_id from the zstd tarball"
is "$(layer_mt_of bb:zst)" "application/vnd.oci.image.layer.v1.tar+zstd" "zstd media type"

run sh -c "cat '$T/bb.tar' | '$STRATA' import - bb:stdin"
ok $rc "import from standard input"

# every layer blob in the store decompresses to the same tar
for b in "$STRATA_ROOT"/blobs/sha256/*; do
    case $(head -c 4 "$b" | od -An -tx1 | tr -d ' \n') in
    1f8b*) d=$(gzip -dc < "$b" | sha256sum | cut -d' ' -f1) ;;
    28b52ffd) d=$(zstd -dc < "$b" | sha256sum | cut -d' ' -f1) ;;
    *) continue ;;
    esac
    is "sha256:$d" "$want_diff" "layer blob $(basename "$b" | cut -c1-12) decompresses (gzip/zstd tools) to the tar"
done

if command -v umoci >/dev/null && is_root; then
    run umoci unpack --image "$STRATA_ROOT:bb:plain" "$T/bundle"
    ok $rc "umoci unpacks the imported image"
    mkdir -p "$T/ref" && tar -C "$T/ref" -xf "$T/bb.tar"
    is "$(cd "$T/bundle/rootfs" && find . | sort | md5sum)" "$(cd "$T/ref" && find . | sort | md5sum)" \
        "umoci's rootfs has the same paths as the tarball"
else
    skip "umoci unpack needs umoci and root"
    skip "umoci unpack needs umoci and root"
fi

# a directory: reproducible under SOURCE_DATE_EPOCH even when mtimes differ
mkdir -p "$T/d1" "$T/d2"
tar -C "$T/d1" -xf "$T/bb.tar" && tar -C "$T/d2" -xf "$T/bb.tar"
touch -h -d '2030-01-01' "$T/d2/etc/passwd" "$T/d2/bin"
run env SOURCE_DATE_EPOCH=1000000000 "$STRATA" import "$T/d1" dir:one
ok $rc "import a directory"
run env SOURCE_DATE_EPOCH=1000000000 "$STRATA" import "$T/d2" dir:two
ok $rc "import a copy with other mtimes"
is "$(diff_id_of dir:two)" "$(diff_id_of dir:one)" "same diff_id under SOURCE_DATE_EPOCH"

# bad input is refused, naming the file
printf 'not a tarball at all\n' > "$T/junk.tar"
run "$STRATA" import "$T/junk.tar" bad:1
ok $((rc == 0)) "a non-tar file is refused"
like "$out" "junk.tar" "the error names the file"
head -c 3000 "$T/bb.tar.gz" > "$T/cut.tar.gz"
run "$STRATA" import "$T/cut.tar.gz" bad:2
ok $((rc == 0)) "a truncated gzip tarball is refused"
like "$out" "cut.tar.gz" "the error names the file"
run "$STRATA" import "$T/missing.tar" bad:3
ok $((rc == 0)) "a missing file is refused"
like "$out" "missing.tar" "the error names the file"
run "$STRATA" images
ok $(printf '%s' "$out" | grep -c '^bad ') "no image was made from bad input"

# rootless: a user's own store
if is_root; then
    chmod 0644 "$T/bb.tar"
    run as_user "$STRATA" import "$T/bb.tar" bb:user
    ok $rc "import as an unprivileged user"
else
    skip "rootless import is covered by running the suite unprivileged"
fi

done_testing
