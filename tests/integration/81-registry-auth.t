#!/bin/sh
# Registry auth: docker-registry with htpasswd basic auth refuses a push and
# a pull before `strata login` and accepts them after; credentials land in
# auth.json with mode 0600 and `logout` removes them.  The bearer-token flow
# (WWW-Authenticate challenge, token from the realm) against a fake registry.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/80-registry-lib.sh"
need_registry_tools
command -v htpasswd >/dev/null || skip_all "htpasswd (apache2-utils) is not installed"

export REGISTRY_AUTH_FILE="$T/auth/auth.json"
htpasswd -Bbn alice 's3cret pass' > "$T/htpasswd"
cat > "$T/auth.yml" <<EOF2
auth:
  htpasswd:
    realm: strata-test
    path: $T/htpasswd
EOF2
start_registry basic "$T/auth.yml" || skip_all "docker-registry did not start"
make_test_image bb:latest
ok $? "make a busybox image"

run "$STRATA" push --tls-verify=false bb:latest "$REG/secure/bb:v1"
ok $((rc == 0)) "push without login is refused"
like "$out" 'authentication required|login' "the error says to log in"

run "$STRATA" login --tls-verify=false -u alice -p wrong "$REG"
ok $((rc == 0)) "login with a wrong password fails"
like "$out" 'refused' "and says the password was refused"
ok $([ ! -e "$REGISTRY_AUTH_FILE" ] || ! grep -q "$REG" "$REGISTRY_AUTH_FILE"; echo $?) "nothing is stored for a failed login"

run sh -c "printf 's3cret pass\n' | '$STRATA' login --tls-verify=false -u alice --password-stdin '$REG'"
is "$rc" 0 "login with --password-stdin"
like "$out" 'Login Succeeded' "login reports success"
is "$(stat -c %a "$REGISTRY_AUTH_FILE")" 600 "auth.json is mode 0600"
is "$("$PYTHON" -c 'import json,sys,base64; print(base64.b64decode(json.load(open(sys.argv[1]))["auths"][sys.argv[2]]["auth"]).decode())' "$REGISTRY_AUTH_FILE" "$REG")" \
   "alice:s3cret pass" "auth.json holds base64(user:password) under the registry"

run "$STRATA" push --tls-verify=false bb:latest "$REG/secure/bb:v1"
is "$rc" 0 "push after login"
run env STRATA_ROOT="$T/store2" "$STRATA" pull -q --tls-verify=false "$REG/secure/bb:v1"
is "$rc" 0 "pull after login"
is "$out" "$(manifest_digest "$STRATA_ROOT" bb:latest)" "pulled the pushed image"

if command -v skopeo >/dev/null; then
    run skopeo inspect --tls-verify=false --authfile "$REGISTRY_AUTH_FILE" --format '{{.Digest}}' "docker://$REG/secure/bb:v1"
    is "$rc" 0 "skopeo accepts strata's auth.json"
else
    skip "skopeo is not installed"
fi

run "$STRATA" logout "$REG"
is "$rc" 0 "logout"
run env STRATA_ROOT="$T/store3" "$STRATA" pull --tls-verify=false "$REG/secure/bb:v1"
ok $((rc == 0)) "pull after logout is refused again"
run "$STRATA" logout "$REG"
ok $((rc == 0)) "logout twice says it was not logged in"

run env STRATA_ROOT="$T/store3" "$STRATA" pull -q --tls-verify=false --creds "alice:s3cret pass" "$REG/secure/bb:v1"
is "$rc" 0 "--creds works without a stored login"

# rootless: the default auth file is podman's $XDG_RUNTIME_DIR/containers/auth.json
if is_root; then
    run as_user env -u REGISTRY_AUTH_FILE "$STRATA" login --tls-verify=false -u alice -p "s3cret pass" "$REG"
    is "$rc" 0 "rootless login"
    [ "$rc" -eq 0 ] || diag "$out"
    uf=$T/home/run/containers/auth.json
    is "$(stat -c '%u %a' "$uf" 2>/dev/null)" "$TEST_UID 600" "it writes \$XDG_RUNTIME_DIR/containers/auth.json, 0600, owned by the user"
    run as_user env -u REGISTRY_AUTH_FILE "$STRATA" pull -q --tls-verify=false "$REG/secure/bb:v1"
    is "$rc" 0 "rootless pull with the stored login"
    is "$out" "$(manifest_digest "$STRATA_ROOT" bb:latest)" "into the user's own store"
    run as_user env -u REGISTRY_AUTH_FILE "$STRATA" logout "$REG"
    is "$rc" 0 "rootless logout"
else
    skip "rootless login: needs root to switch to uid $TEST_UID"
fi

# bearer tokens: a fake registry whose realm hands out a token for basic creds
start_fake_registry "$STRATA_ROOT" --bearer bob:tokenpw || skip_all "fake registry did not start"
run env STRATA_ROOT="$T/store4" "$STRATA" pull --tls-verify=false "$FAKE/any/bb:latest"
ok $((rc == 0)) "bearer realm: pull without credentials is refused"
run "$STRATA" login --tls-verify=false -u bob -p tokenpw "$FAKE"
is "$rc" 0 "bearer realm: login gets a token"
run env STRATA_ROOT="$T/store4" "$STRATA" pull -q --tls-verify=false "$FAKE/any/bb:latest"
is "$rc" 0 "bearer realm: pull after login"
is "$out" "$(manifest_digest "$STRATA_ROOT" bb:latest)" "bearer realm: the right image"
ok $(grep -q '^GET /token' "$FAKE_LOG"; echo $?) "a token was fetched from the realm"
ok $(grep -q 'blobs/sha256:.* Bearer$' "$FAKE_LOG"; echo $?) "blobs were fetched with the bearer token"

done_testing
