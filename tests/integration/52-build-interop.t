#!/bin/sh
# A built image leaves strata and is read by the tools people use: `strata
# save` → `podman load` and `skopeo inspect` show the config fields the
# Containerfile set (no RUN, so no container is needed).
. "$STRATA_SRC/tests/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || skip_all "python3 missing (TEST dependency)"
command -v skopeo >/dev/null || skip_all "skopeo missing (TEST dependency)"
"$STRATA" build --help >/dev/null 2>&1 || skip_all "strata build not built"
"$STRATA" save --help >/dev/null 2>&1 || skip_all "strata save not built yet"
"$STRATA" import --help >/dev/null 2>&1 || skip_all "strata import not built yet"

make_busybox_tar "$T/bb.tar" || skip_all "cannot make a busybox rootfs"
"$STRATA" import "$T/bb.tar" busybox >/dev/null
ok $? "busybox imported"

C=$T/ctx
mkdir -p "$C"
echo payload > "$C/payload"
cat > "$C/Containerfile" <<'EOF2'
FROM busybox
ENV ANSWER=42 PATH=/usr/local/bin:/usr/bin:/bin
COPY payload /opt/payload
WORKDIR /opt
USER app
EXPOSE 8080/tcp
LABEL org.example.k=v
VOLUME /data
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /opt/payload"]
EOF2
id=$("$STRATA" build -q -t interop:1 --timestamp 1700000000 "$C")
like "$id" '^[0-9a-f]{64}$' "built"

"$STRATA" save -o "$T/img.tar" interop:1
ok $? "strata save"

check_fields() { # check_fields LABEL JSON-FROM-SKOPEO-INSPECT-CONFIG
    printf '%s' "$2" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
c = d.get("config", {})
print("|".join([
    ",".join(e for e in c.get("Env", []) if e.startswith("ANSWER")),
    c.get("WorkingDir", ""), c.get("User", ""),
    ",".join(sorted(c.get("ExposedPorts", {}))),
    c.get("Labels", {}).get("org.example.k", ""),
    ",".join(sorted(c.get("Volumes", {}))),
    c.get("StopSignal", ""),
    json.dumps(c.get("Entrypoint")), json.dumps(c.get("Cmd")),
    d.get("created", ""),
    str(len(d.get("rootfs", {}).get("diff_ids", []))),
    d["history"][-1]["created_by"],
]))'
}
want='ANSWER=42|/opt|app|8080/tcp|v|/data|SIGQUIT|["/bin/sh", "-c"]|["cat /opt/payload"]|2023-11-14T22:13:20Z|2|CMD ["cat /opt/payload"]'

run skopeo inspect --config "oci-archive:$T/img.tar"
is "$rc" 0 "skopeo inspect --config oci-archive:SAVED"
is "$(check_fields oci "$out")" "$want" "skopeo sees every config field"
run skopeo inspect --config "docker-archive:$T/img.tar"
is "$rc" 0 "skopeo inspect --config docker-archive:SAVED"
is "$(check_fields docker "$out")" "$want" "same fields through the docker-archive view"
run skopeo inspect --config "oci:$STRATA_ROOT:interop:1"
is "$(check_fields store "$out")" "$want" "and straight from the store (an OCI layout)"
run skopeo inspect --raw "oci-archive:$T/img.tar"
is "$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')" \
    "sha256:$id" "the manifest skopeo reads points at strata's image id"

if command -v podman >/dev/null; then
    PR=$T/podman
    P="podman --root $PR/root --runroot $PR/run --storage-driver vfs"
    at_cleanup "$P rmi -af; rm -rf '$PR'"
    run $P load -i "$T/img.tar"
    is "$rc" 0 "podman load"
    [ "$rc" = 0 ] || diag "$out"
    run $P image inspect --format '{{.Id}} {{.Config.WorkingDir}} {{.Config.User}} {{index .Config.Labels "org.example.k"}} {{.Config.StopSignal}}' "$id"
    is "$out" "$id /opt app v SIGQUIT" "podman image inspect shows the same config"
else
    skip "podman missing"
    skip "podman missing"
fi
done_testing
