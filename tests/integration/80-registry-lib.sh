# Shared by the 8x-registry tests (sourced after tests/lib.sh): a real
# docker-registry on 127.0.0.1 with a random free port, a test image, and
# a small python3 fake registry for the faults a real one never makes.

need_registry_tools() {
    command -v docker-registry >/dev/null || skip_all "docker-registry is not installed"
    command -v python3 >/dev/null || skip_all "python3 is not installed"
    command -v curl >/dev/null || skip_all "curl is not installed"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry NAME [EXTRA_YAML_FILE]: sets REG (127.0.0.1:PORT) and
# REG_LOG; the registry is killed on exit.  https when EXTRA sets tls.
start_registry() {
    _name=$1
    _dir=$T/registry-$_name
    mkdir -p "$_dir/data"
    _port=$(free_port)
    {
        printf 'version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n'
        printf 'storage:\n  filesystem:\n    rootdirectory: %s\n' "$_dir/data"
        printf 'http:\n  addr: 127.0.0.1:%s\n' "$_port"
        [ -n "${2:-}" ] && cat "$2"
    } > "$_dir/config.yml"
    REG_LOG=$_dir/log
    docker-registry serve "$_dir/config.yml" > "$REG_LOG" 2>&1 &
    _pid=$!
    at_cleanup "kill $_pid; wait $_pid"
    REG=127.0.0.1:$_port
    # up when it answers anything on /v2/ (401 with auth, TLS errors with -k off)
    _i=0
    while ! curl -ks -o /dev/null "http://$REG/v2/" && ! curl -ks -o /dev/null "https://$REG/v2/"; do
        _i=$((_i + 1))
        if [ $_i -gt 100 ] || ! kill -0 $_pid 2>/dev/null; then
            diag "registry did not start:"
            sed 's/^/#   /' "$REG_LOG"
            return 1
        fi
        sleep 0.1
    done
}

# make_test_image REF: a busybox image in $STRATA_ROOT (strata import when
# it exists, else the mkimage test helper).
make_test_image() {
    [ -e "$T/bb.tar" ] || make_busybox_tar "$T/bb.tar" || return 1
    if "$STRATA" import --help >/dev/null 2>&1; then
        "$STRATA" import "$T/bb.tar" "$1" >/dev/null
    else
        "$STRATA_HELPERS/mkimage" "$STRATA_ROOT" "$T/bb.tar" "$1" >/dev/null
    fi
}

# manifest_digest STORE REF: the digest index.json has for REF.
manifest_digest() {
    python3 - "$1" "$2" <<'PY'
import json, sys
idx = json.load(open(sys.argv[1] + "/index.json"))
for m in idx.get("manifests", []):
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == sys.argv[2]:
        print(m["digest"])
PY
}

# blob_list STORE: the sorted blob names of a store.
blob_list() {
    ls "$1/blobs/sha256" | grep -v '^\.' | sort | tr '\n' ' '
}

# count_log PATTERN: lines of the registry's access log matching PATTERN.
count_log() {
    grep -c -- "$1" "$REG_LOG" || true
}
