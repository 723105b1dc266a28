#!/bin/sh
# Makes the `busybox` base image Containerfile.example builds FROM, out of
# what a fresh Debian machine has: the busybox-static package (installed by
# `make deps`).  Usage: scripts/example.sh [STRATA]  (default ./strata)
set -eu
STRATA=${1:-./strata}
bb=$(command -v busybox) || { echo "example.sh: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
if ! "$bb" --list >/dev/null 2>&1; then
    echo "example.sh: $bb is not a multi-call busybox (want busybox-static)" >&2
    exit 1
fi
root=$(mktemp -d "${TMPDIR:-/tmp}/strata-example.XXXXXX")
trap 'rm -rf "$root"' EXIT INT TERM
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev" \
    "$root/home/app"
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n' \
    > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n' > "$root/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$root.tar" .
trap 'rm -rf "$root" "$root.tar"' EXIT INT TERM
"$STRATA" import "$root.tar" busybox >/dev/null
echo "example.sh: imported busybox from $bb"
