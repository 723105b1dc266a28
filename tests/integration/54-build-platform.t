#!/bin/sh
# strata build: FROM --platform (the store image must match: no
# emulation; the error names FILE:LINE) and the predefined platform ARGs
# (TARGETPLATFORM, TARGETARCH, BUILDPLATFORM, ...).
. "$STRATA_SRC/tests/lib.sh"

. "$STRATA_SRC/tests/integration/50-build-lib.sh"

# FROM --platform and the platform ARGs -----------------------------------------
arch=$(cfg busybox 'd["Architecture"]')
cat > "$C/Plat" <<'EOF2'
ARG TARGETPLATFORM
FROM --platform=$BUILDPLATFORM busybox AS b
ARG TARGETARCH
ARG BUILDPLATFORM
LABEL arch=$TARGETARCH build=$BUILDPLATFORM
FROM --platform=${TARGETPLATFORM} b
ARG TARGETOS
LABEL os=$TARGETOS
EOF2
build -f "$C/Plat" -t plat "$C"
is "$rc" 0 "FROM --platform=\$BUILDPLATFORM / \${TARGETPLATFORM} builds"
[ "$rc" = 0 ] || diag "$out"
is "$(cfg plat 'c["Labels"]["arch"] + " " + c["Labels"]["build"] + " " + c["Labels"]["os"]')" \
    "$arch linux/$arch linux" "TARGETARCH, BUILDPLATFORM, TARGETOS predefined (after ARG in the stage)"
printf 'FROM --platform=linux/%s busybox\n' "$arch" > "$C/Plat2"
build -f "$C/Plat2" "$C"
is "$rc" 0 "FROM --platform=linux/$arch (the image's platform) builds"
other=s390x
[ "$arch" = s390x ] && other=amd64
printf '# a comment\nFROM --platform=linux/%s busybox\n' "$other" > "$C/Plat3"
build -f "$C/Plat3" "$C"
[ "$rc" -ne 0 ]; ok $? "FROM --platform of another architecture fails (no emulation)"
like "$out" "Plat3:2: FROM --platform=linux/$other busybox: .busybox. is linux/$arch, not linux/$other" \
    "the error names FILE:LINE and both platforms"
printf 'FROM --platform=linux/%s scratch\nCOPY pdata /\n' "$other" > "$C/Plat4"
build -f "$C/Plat4" -t plat4 "$C"
is "$rc" 0 "FROM --platform=OTHER scratch builds (nothing to run)"
is "$(cfg plat4 'd["Architecture"]')" "$other" "and the image is for that platform"

done_testing
