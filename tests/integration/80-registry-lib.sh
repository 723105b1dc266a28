# Shared by the 8x-registry tests (sourced after tests/lib.sh): a real
# docker-registry on 127.0.0.1 with a random free port, a test image, and
# a small python3 fake registry for the faults a real one never makes.

# Debian's python3 first: a pyenv shim in $PATH costs a second per start
if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi

need_registry_tools() {
    command -v docker-registry >/dev/null || skip_all "docker-registry is not installed"
    command -v "$PYTHON" >/dev/null || skip_all "python3 is not installed"
    command -v curl >/dev/null || skip_all "curl is not installed"
}

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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
    # docker-registry reads REGISTRY_* variables as configuration: keep
    # REGISTRY_AUTH_FILE (ours, for strata) away from it
    env -u REGISTRY_AUTH_FILE docker-registry serve "$_dir/config.yml" > "$REG_LOG" 2>&1 &
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
    "$PYTHON" - "$1" "$2" <<'PY'
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

# start_fake_registry LAYOUT [--corrupt] [--drop N] [--err503 N] [--bearer USER:PASS]:
# serves the OCI layout LAYOUT read-only as any repository.  --corrupt flips
# a byte of the largest blob, --drop N cuts the first N GETs of it at the
# blob's middle, --err503 N answers its first N GETs with 503,
# --bearer wants a token from its /token realm (basic USER:PASS).  Sets
# FAKE (127.0.0.1:PORT) and FAKE_LOG (one "METHOD PATH RANGE AUTH" line per
# request).
start_fake_registry() {
    cat > "$T/fake-registry.py" <<'PY'
import base64, hashlib, json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

layout, portfile, logfile = sys.argv[1:4]
opts = sys.argv[4:]
corrupt = "--corrupt" in opts
drops = int(opts[opts.index("--drop") + 1]) if "--drop" in opts else 0
errors503 = int(opts[opts.index("--err503") + 1]) if "--err503" in opts else 0
bearer = opts[opts.index("--bearer") + 1] if "--bearer" in opts else None
blobdir = os.path.join(layout, "blobs", "sha256")
target = max(os.listdir(blobdir), key=lambda n: os.path.getsize(os.path.join(blobdir, n)))
lock = threading.Lock()
TOKEN = "tok-" + hashlib.sha256(os.urandom(8)).hexdigest()[:16]

def blob(hexd):
    with open(os.path.join(blobdir, hexd), "rb") as f:
        data = f.read()
    if corrupt and hexd == target:
        data = bytes([data[0] ^ 0xff]) + data[1:]
    return data

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def log(self):
        auth = self.headers.get("Authorization", "-").split(" ")[0]
        with lock, open(logfile, "a") as f:
            f.write("%s %s %s %s\n" % (self.command, self.path, self.headers.get("Range", "-"), auth))
    def send(self, code, body=b"", ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def authorized(self):
        if not bearer:
            return True
        if self.headers.get("Authorization") == "Bearer " + TOKEN:
            return True
        port = self.server.server_address[1]
        self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}',
                  extra=[("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:%d/token",service="fake"' % port)])
        return False
    def do_HEAD(self):
        self.do_GET()
    def do_GET(self):
        global drops, errors503
        self.log()
        p = self.path.split("?")[0]
        if p == "/token":
            want = "Basic " + base64.b64encode(bearer.encode()).decode()
            if self.headers.get("Authorization") != want:
                return self.send(401, b'{"errors":[{"code":"DENIED"}]}')
            return self.send(200, json.dumps({"token": TOKEN}).encode())
        if not self.authorized():
            return
        if p == "/v2/":
            return self.send(200, b"{}")
        parts = p.split("/")
        if len(parts) >= 5 and parts[-2] == "manifests":
            ref = parts[-1]
            idx = json.load(open(os.path.join(layout, "index.json")))
            for m in idx["manifests"]:
                name = m.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
                if m["digest"] == ref or name.endswith(":" + ref) or len(idx["manifests"]) == 1:
                    data = blob(m["digest"][7:])
                    return self.send(200, data, m["mediaType"],
                                     [("Docker-Content-Digest", m["digest"])])
            return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        if len(parts) >= 5 and parts[-2] == "blobs":
            hexd = parts[-1][7:]
            if not os.path.exists(os.path.join(blobdir, hexd)):
                return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            data = blob(hexd)
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
            code = 206 if start else 200
            body = data[start:]
            extra = [("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))] if start else []
            if self.command == "GET" and hexd == target and errors503 > 0:
                errors503 -= 1
                return self.send(503, b'{"errors":[{"code":"UNAVAILABLE"}]}')
            if self.command == "GET" and hexd == target and drops > 0:
                drops -= 1
                self.send_response(code)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                # cut at the middle of the whole blob: a resumed request
                # that starts past it gets nothing before the drop
                self.wfile.write(body[: max(0, len(data) // 2 - start)])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            return self.send(code, body, "application/octet-stream", extra)
        self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
    _layout=$1
    shift
    FAKE_LOG=$T/fake-$$-$(date +%s%N).log
    : > "$FAKE_LOG"
    rm -f "$T/fake.port"
    "$PYTHON" "$T/fake-registry.py" "$_layout" "$T/fake.port" "$FAKE_LOG" "$@" 2>"$T/fake.err" &
    _fpid=$!
    at_cleanup "kill $_fpid"
    _i=0
    while [ ! -s "$T/fake.port" ]; do
        _i=$((_i + 1))
        if [ $_i -gt 100 ] || ! kill -0 $_fpid 2>/dev/null; then
            diag "fake registry did not start:"
            sed 's/^/#   /' "$T/fake.err"
            return 1
        fi
        sleep 0.05
    done
    FAKE=127.0.0.1:$(cat "$T/fake.port")
    FAKE_PID=$_fpid
}

stop_fake_registry() {
    kill "$FAKE_PID" 2>/dev/null
    wait "$FAKE_PID" 2>/dev/null
}
