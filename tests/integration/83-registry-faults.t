#!/bin/sh
# Faults a real registry does not make, from a small python3 fake: a
# corrupted blob is rejected and never enters the store; a connection
# dropped mid-blob is resumed with a Range request; a pull that gives up
# resumes later without fetching again the blobs it already verified; 503s
# are retried.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/80-registry-lib.sh"
need_registry_tools

make_test_image bb:latest
ok $? "make a busybox image"
digest=$(manifest_digest "$STRATA_ROOT" bb:latest)
layer=$("$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1]+"/blobs/sha256/"+sys.argv[2][7:])); print(m["layers"][0]["digest"]); print(m["config"]["digest"])' "$STRATA_ROOT" "$digest")
config=$(echo "$layer" | sed -n 2p)
layer=$(echo "$layer" | sed -n 1p)
like "$layer" '^sha256:' "the image has a layer"

# a corrupted layer
start_fake_registry "$STRATA_ROOT" --corrupt || skip_all "fake registry did not start"
s1=$T/s1
run env STRATA_ROOT="$s1" "$STRATA" pull --tls-verify=false "$FAKE/x/bb:latest"
ok $((rc == 0)) "a corrupted blob fails the pull"
like "$out" "digest mismatch.*$layer" "the error names the blob and the mismatch"
ok $([ ! -e "$s1/blobs/sha256/${layer#sha256:}" ]; echo $?) "the corrupted blob is not in the store"
is "$(ls -A "$s1/blobs/sha256" | grep -c '^\.')" 0 "no temp file is left behind"
is "$(manifest_digest "$s1" "$FAKE/x/bb:latest")" "" "the image is not tagged"
ok $([ ! -e "$s1/blobs/sha256/${digest#sha256:}" ]; echo $?) "its manifest is not stored"
run env STRATA_ROOT="$s1" "$STRATA" fsck
is "$rc" 0 "the store stays consistent"
stop_fake_registry

# a connection dropped halfway through the layer, once
start_fake_registry "$STRATA_ROOT" --drop 1 || skip_all "fake registry did not start"
s2=$T/s2
run env STRATA_ROOT="$s2" "$STRATA" pull --tls-verify=false "$FAKE/x/bb:latest"
is "$rc" 0 "a pull survives a dropped connection"
[ "$rc" -eq 0 ] || diag "$out"
like "$out" 'resuming at [1-9]' "it says it resumes"
ok $(grep -q "^GET /v2/x/bb/blobs/$layer bytes=[1-9][0-9]*-" "$FAKE_LOG"; echo $?) "the second request asks for the rest with Range"
is "$(manifest_digest "$s2" "$FAKE/x/bb:latest")" "$digest" "the resumed pull has the right image"
run env STRATA_ROOT="$s2" "$STRATA" fsck
is "$rc" 0 "and every blob verifies"
stop_fake_registry

# a pull that gives up midway, then resumes in a second run
start_fake_registry "$STRATA_ROOT" --drop 100 || skip_all "fake registry did not start"
s3=$T/s3
run env STRATA_ROOT="$s3" "$STRATA" pull --retry 1 --tls-verify=false "$FAKE/x/bb:latest"
ok $((rc == 0)) "a pull whose connection keeps dropping gives up"
ok $([ -e "$s3/blobs/sha256/${config#sha256:}" ]; echo $?) "the config blob it verified is kept"
ok $([ ! -e "$s3/blobs/sha256/${layer#sha256:}" ]; echo $?) "the half layer is not"
stop_fake_registry
start_fake_registry "$STRATA_ROOT" || skip_all "fake registry did not start"
run env STRATA_ROOT="$s3" "$STRATA" pull --tls-verify=false "$FAKE/x/bb:latest"
is "$rc" 0 "the second pull completes"
like "$out" '1 blobs fetched, 1 already present' "it fetched only what was missing"
is "$(grep -c "blobs/$config" "$FAKE_LOG")" 0 "the verified config was not fetched again"
is "$(manifest_digest "$s3" "$FAKE/x/bb:latest")" "$digest" "the image is complete"
stop_fake_registry

# 503s are retried with backoff
start_fake_registry "$STRATA_ROOT" --err503 2 || skip_all "fake registry did not start"
run env STRATA_ROOT="$T/s4" "$STRATA" pull -q --tls-verify=false "$FAKE/x/bb:latest"
is "$rc" 0 "a pull survives two 503 answers"
is "$out" "$digest" "with the right image"
is "$(grep -c "^GET /v2/x/bb/blobs/$layer" "$FAKE_LOG")" 3 "the layer was asked for three times"
stop_fake_registry

# a blob damaged on disk is never completed on the registry
start_registry faults || skip_all "docker-registry did not start"
cp -a "$STRATA_ROOT" "$T/bad"
"$PYTHON" - "$T/bad/blobs/sha256/${layer#sha256:}" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100)
    b = f.read(1)
    f.seek(100)
    f.write(bytes([b[0] ^ 0xff]))
PY
run env STRATA_ROOT="$T/bad" "$STRATA" push --tls-verify=false bb:latest "$REG/bad/bb:v1"
ok $((rc == 0)) "pushing an image whose layer is damaged on disk fails"
like "$out" "$layer" "the error names the damaged blob"
is "$(curl -s -o /dev/null -w '%{http_code}' -I "http://$REG/v2/bad/bb/blobs/$layer")" 404 "the registry did not get the damaged layer"
is "$(curl -s -o /dev/null -w '%{http_code}' -I "http://$REG/v2/bad/bb/manifests/v1")" 404 "nor the manifest"

done_testing
