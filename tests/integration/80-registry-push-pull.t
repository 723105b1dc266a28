#!/bin/sh
# push and pull against a real registry (Debian's docker-registry on
# 127.0.0.1): identical digests after a round trip, no re-upload on a second
# push, chunked uploads, cross-repository mounts, tag listing, and skopeo
# reading what strata wrote and the other way round.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/80-registry-lib.sh"
need_registry_tools

start_registry plain || skip_all "docker-registry did not start"
make_test_image bb:latest
ok $? "make a busybox image"
src_digest=$(manifest_digest "$STRATA_ROOT" bb:latest)
like "$src_digest" '^sha256:[0-9a-f]{64}$' "the image has a manifest digest"

run "$STRATA" push bb:latest "$REG/test/bb:v1"
ok $((rc == 0)) "push to a plain-http registry without --tls-verify=false is refused"
like "$out" "$REG" "the error names the registry"

run "$STRATA" push --tls-verify=false --digestfile "$T/pushed" bb:latest "$REG/test/bb:v1"
is "$rc" 0 "push succeeds"
[ "$rc" -eq 0 ] || diag "$out"
is "$(cat "$T/pushed" 2>/dev/null)" "$src_digest" "the registry has the local manifest digest"
uploads=$(count_log '"PUT /v2/test/bb/blobs/uploads/')
is "$uploads" 2 "the layer and the config were uploaded"

run "$STRATA" push --tls-verify=false bb:latest "$REG/test/bb:v1"
is "$rc" 0 "second push succeeds"
is "$(count_log '"PUT /v2/test/bb/blobs/uploads/')" "$uploads" "second push uploads no blob"
is "$(count_log '"POST /v2/test/bb/blobs/uploads/')" 2 "second push starts no upload"
like "$out" '0 blobs uploaded, 2 already there' "second push says so"

# pull into an empty store
store2=$T/store2
run env STRATA_ROOT="$store2" "$STRATA" pull -q --tls-verify=false "$REG/test/bb:v1"
is "$rc" 0 "pull into an empty store"
is "$out" "$src_digest" "pull prints the same manifest digest"
is "$(manifest_digest "$store2" "$REG/test/bb:v1")" "$src_digest" "index.json tags it REGISTRY/REPO:TAG"
is "$(blob_list "$store2")" "$(blob_list "$STRATA_ROOT")" "both stores hold the same blobs"
run env STRATA_ROOT="$store2" "$STRATA" fsck
is "$rc" 0 "the pulled store passes fsck"

run env STRATA_ROOT="$store2" "$STRATA" pull --tls-verify=false "$REG/test/bb@$src_digest"
is "$rc" 0 "pull by digest"
like "$out" '0 blobs fetched, 2 already present' "blobs in the store are not fetched again"

# chunked upload, cross-repository mount
run "$STRATA" push --tls-verify=false --chunk-size 64k bb:latest "$REG/test/chunked:v1"
is "$rc" 0 "chunked push"
ok $(( $(count_log '"PATCH /v2/test/chunked/blobs/uploads/') > 2 ? 0 : 1 )) "the layer went in several PATCH chunks"
run env STRATA_ROOT="$T/store3" "$STRATA" pull -q --tls-verify=false "$REG/test/chunked:v1"
is "$out" "$src_digest" "the chunked upload pulls back identical"

run "$STRATA" push --tls-verify=false --mount-from test/bb bb:latest "$REG/other/bb:v1"
is "$rc" 0 "push with --mount-from"
is "$(count_log '"PUT /v2/other/bb/blobs/uploads/')" 0 "mounted blobs are not uploaded"
like "$out" '2 mounted' "both blobs were mounted"

# tag listing
"$STRATA" push -q --tls-verify=false bb:latest "$REG/test/bb:v2" >/dev/null
run env STRATA_ROOT="$T/store4" "$STRATA" pull --all-tags --tls-verify=false "$REG/test/bb"
is "$rc" 0 "pull --all-tags"
like "$out" "Pulled $REG/test/bb:v1" "all tags: v1"
like "$out" "Pulled $REG/test/bb:v2" "all tags: v2"

# skopeo reads what strata pushed, strata reads what skopeo pushed
if command -v skopeo >/dev/null; then
    run skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/test/bb:v1"
    is "$out" "$src_digest" "skopeo sees strata's manifest digest"
    run skopeo copy --src-tls-verify=false "docker://$REG/test/bb:v1" "oci:$T/skopeo-out:bb"
    is "$rc" 0 "skopeo pulls what strata pushed"
    [ "$rc" -eq 0 ] || diag "$out"

    run skopeo copy --dest-tls-verify=false "oci:$STRATA_ROOT:bb:latest" "docker://$REG/fromskopeo/bb:s1"
    is "$rc" 0 "skopeo pushes from the strata store"
    [ "$rc" -eq 0 ] || diag "$out"
    sk_digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/fromskopeo/bb:s1")
    run env STRATA_ROOT="$T/store5" "$STRATA" pull -q --tls-verify=false "$REG/fromskopeo/bb:s1"
    is "$rc" 0 "strata pulls what skopeo pushed"
    is "$out" "$sk_digest" "with the digest skopeo reports"
    run env STRATA_ROOT="$T/store5" "$STRATA" fsck
    is "$rc" 0 "and the store passes fsck"
else
    skip "skopeo is not installed"
fi

run "$STRATA" pull --tls-verify=false "$REG/test/nothere:v1"
ok $((rc == 0)) "pulling a missing repository fails"
like "$out" 'nothere' "the error names it"

done_testing
