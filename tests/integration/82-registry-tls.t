#!/bin/sh
# TLS: a registry with a self-signed certificate is refused by default
# (verification on), accepted with --cert-dir holding its CA (podman's
# certs.d layout), and with --tls-verify=false.
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/80-registry-lib.sh"
need_registry_tools
command -v openssl >/dev/null || skip_all "openssl is not installed"

mkdir -p "$T/certs"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$T/certs/server.key" -out "$T/certs/server.crt" >/dev/null 2>&1
ok $? "make a self-signed certificate"
cat > "$T/tls.yml" <<EOF2
  tls:
    certificate: $T/certs/server.crt
    key: $T/certs/server.key
EOF2
start_registry tls "$T/tls.yml" || skip_all "docker-registry did not start"
make_test_image bb:latest
ok $? "make a busybox image"
digest=$(manifest_digest "$STRATA_ROOT" bb:latest)

run "$STRATA" push bb:latest "$REG/tls/bb:v1"
ok $((rc == 0)) "push to a self-signed registry is refused by default"
like "$out" 'certificate' "the error is about the certificate"

mkdir -p "$T/certs.d/$REG"
cp "$T/certs/server.crt" "$T/certs.d/$REG/ca.crt"
run "$STRATA" push --cert-dir "$T/certs.d/$REG" bb:latest "$REG/tls/bb:v1"
is "$rc" 0 "push with --cert-dir holding the CA"
[ "$rc" -eq 0 ] || diag "$out"

run env STRATA_ROOT="$T/store2" "$STRATA" pull "$REG/tls/bb:v1"
ok $((rc == 0)) "pull without the CA is refused"
ok $(find "$T/store2/blobs/sha256" -type f 2>/dev/null | grep -q .; [ $? -ne 0 ]; echo $?) "and fetched nothing"
run env STRATA_ROOT="$T/store2" "$STRATA" pull -q --cert-dir "$T/certs.d/$REG" "$REG/tls/bb:v1"
is "$rc" 0 "pull with --cert-dir"
is "$out" "$digest" "the pulled image is the pushed one"

run env STRATA_ROOT="$T/store3" "$STRATA" pull -q --tls-verify=false "$REG/tls/bb:v1"
is "$rc" 0 "pull with --tls-verify=false"
is "$out" "$digest" "same image without verification"

# a CA the server's certificate does not chain to is still refused
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other" \
    -keyout "$T/other.key" -out "$T/other.crt" >/dev/null 2>&1
mkdir -p "$T/wrong.d"
cp "$T/other.crt" "$T/wrong.d/ca.crt"
run env STRATA_ROOT="$T/store4" "$STRATA" pull --cert-dir "$T/wrong.d" "$REG/tls/bb:v1"
ok $((rc == 0)) "a --cert-dir with another CA is refused"

run "$STRATA" pull --cert-dir "$T/nonexistent" "$REG/tls/bb:v1"
ok $((rc == 0)) "a missing --cert-dir is an error"
like "$out" 'nonexistent' "that names the directory"

# client certificates: a second registry that wants one signed by its CA
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=client-ca" \
    -keyout "$T/certs/client-ca.key" -out "$T/certs/client-ca.crt" >/dev/null 2>&1 &&
openssl req -newkey rsa:2048 -nodes -subj "/CN=strata" \
    -keyout "$T/certs/client.key" -out "$T/certs/client.csr" >/dev/null 2>&1 &&
openssl x509 -req -in "$T/certs/client.csr" -CA "$T/certs/client-ca.crt" \
    -CAkey "$T/certs/client-ca.key" -CAcreateserial -days 2 -out "$T/certs/client.cert" >/dev/null 2>&1
ok $? "make a client CA and a client certificate"
cat > "$T/mtls.yml" <<EOF2
  tls:
    certificate: $T/certs/server.crt
    key: $T/certs/server.key
    clientcas:
      - $T/certs/client-ca.crt
EOF2
start_registry mtls "$T/mtls.yml" || skip_all "docker-registry did not start"
mkdir -p "$T/mtls.d"
cp "$T/certs/server.crt" "$T/mtls.d/ca.crt"
run "$STRATA" push --cert-dir "$T/mtls.d" bb:latest "$REG/mtls/bb:v1"
ok $((rc == 0)) "without a client certificate the mTLS registry refuses"
cp "$T/certs/client.cert" "$T/certs/client.key" "$T/mtls.d/"
run "$STRATA" push --cert-dir "$T/mtls.d" bb:latest "$REG/mtls/bb:v1"
is "$rc" 0 "with client.cert and client.key in --cert-dir it accepts"
[ "$rc" -eq 0 ] || diag "$out"
rm "$T/mtls.d/client.key"
run "$STRATA" push --cert-dir "$T/mtls.d" bb:latest "$REG/mtls/bb:v1"
ok $((rc == 0)) "a client certificate without its key is an error"
like "$out" 'client.key' "that names the missing key"

done_testing
