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

run env STRATA_ROOT="$store2" "$STRATA" push --tls-verify=false "$REG/test/bb:v1" "$REG/auto/bb:v1"
is "$rc" 0 "push a pulled image to another repository of its registry"
like "$out" '2 mounted' "its blobs are mounted from the repository it came from"
is "$(count_log '"PUT /v2/auto/bb/blobs/uploads/')" 0 "nothing is uploaded"

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

# a multi-platform index: pull picks this host's platform, or --platform's
if command -v skopeo >/dev/null; then
    mkdir -p "$T/multi/blobs/sha256"
    cp "$STRATA_ROOT"/blobs/sha256/* "$T/multi/blobs/sha256/"
    arm=$("$PYTHON" - "$T/multi" "$src_digest" <<'PY'
import hashlib, json, os, sys
root, digest = sys.argv[1], sys.argv[2]
def put(obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(os.path.join(root, "blobs/sha256", d[7:]), "wb").write(data)
    return d, len(data)
def get(d):
    return json.load(open(os.path.join(root, "blobs/sha256", d[7:])))
amd = get(digest)
cfg = get(amd["config"]["digest"])
cfg["architecture"], cfg["variant"] = "arm64", "v8"
cd, cl = put(cfg)
arm = dict(amd, config=dict(amd["config"], digest=cd, size=cl))
ad, al = put(arm)
amd_size = os.path.getsize(os.path.join(root, "blobs/sha256", digest[7:]))
mt = "application/vnd.oci.image.manifest.v1+json"
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": mt, "digest": digest, "size": amd_size, "platform": {"os": "linux", "architecture": "amd64"}},
    {"mediaType": mt, "digest": ad, "size": al, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}
xd, xl = put(idx)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": idx["mediaType"], "digest": xd, "size": xl,
    "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}, open(os.path.join(root, "index.json"), "w"))
open(os.path.join(root, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
print(ad)
PY
)
    run skopeo copy --all --dest-tls-verify=false "oci:$T/multi:multi" "docker://$REG/test/multi:1"
    is "$rc" 0 "skopeo pushes a two-platform index"
    [ "$rc" -eq 0 ] || diag "$out"
    if [ "$(uname -m)" = x86_64 ]; then
        run env STRATA_ROOT="$T/store6" "$STRATA" pull -q --tls-verify=false "$REG/test/multi:1"
        is "$out" "$src_digest" "from an index, pull takes linux/amd64 on this host"
    else
        skip "not an x86-64 host"
    fi
    run env STRATA_ROOT="$T/store6" "$STRATA" pull -q --platform linux/arm64/v8 --tls-verify=false "$REG/test/multi:1"
    is "$out" "$arm" "--platform linux/arm64/v8 takes the arm64 manifest"
    run env STRATA_ROOT="$T/store6" "$STRATA" pull --platform linux/s390x --tls-verify=false "$REG/test/multi:1"
    ok $((rc == 0)) "a platform the index lacks is an error"
    like "$out" 'linux/amd64, linux/arm64/v8' "that lists the platforms there are"
else
    skip "skopeo is not installed"
fi

# a pulled image runs
run env STRATA_ROOT="$store2" "$STRATA" run --rm "$REG/test/bb:v1" /bin/busybox echo pulled-and-running
if [ "$rc" -eq 0 ]; then
    is "$out" "pulled-and-running" "the pulled image runs with strata run"
elif printf '%s' "$out" | grep -q 'not built in yet'; then
    skip "strata run cannot run layered images yet: $out"
else
    like "$out" 'pulled-and-running' "the pulled image runs with strata run"
fi

# progress: bars on a terminal, plain lines otherwise
if command -v script >/dev/null; then
    run script -qec "env STRATA_ROOT='$T/store7' '$STRATA' pull --tls-verify=false '$REG/test/bb:v1'" /dev/null
    is "$rc" 0 "pull on a terminal"
    like "$out" "$(printf '\033')\\[2K.*\\[=+" "a terminal gets redrawn progress bars"
else
    skip "script(1) is not installed"
fi
run env STRATA_ROOT="$T/store8" "$STRATA" pull --tls-verify=false "$REG/test/bb:v1"
ok $(printf '%s' "$out" | grep -q "$(printf '\033')"; [ $? -ne 0 ]; echo $?) "a pipe gets no escape sequences"
like "$out" 'Copying blob [0-9a-f]{12} done' "a pipe gets one line per finished blob"
run env STRATA_ROOT="$T/store9" "$STRATA" pull -q --tls-verify=false "$REG/test/bb:v1"
is "$out" "$src_digest" "-q prints the digest alone"

run "$STRATA" pull --tls-verify=false "$REG/test/nothere:v1"
ok $((rc == 0)) "pulling a missing repository fails"
like "$out" 'nothere' "the error names it"

done_testing
