#!/bin/sh
# Makes the `busybox` base image Containerfile.example builds FROM, out of
# what a fresh Debian machine has: the busybox-static package (installed by
# `make deps`).  Usage: scripts/example.sh [STRATA]  (default ./strata)
set -eu
STRATA=${1:-./strata}
root=$(mktemp -d "${TMPDIR:-/tmp}/strata-example.XXXXXX")
trap 'rm -rf "$root" "$root.tar"' EXIT INT TERM
"$(dirname "$0")/busybox-rootfs.sh" "$root" "$root.tar"
"$STRATA" import "$root.tar" busybox >/dev/null
echo "example.sh: imported busybox from $(command -v busybox)"
