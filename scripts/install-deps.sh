#!/bin/sh
# Installs every Debian package strata's build, tests and benchmarks need.
# One list, one place: `make deps` and .ci/run both call this script.
set -eu

BUILD="build-essential pkg-config libfuse3-dev fuse3 libarchive-dev zlib1g-dev libssl-dev
libzstd-dev libjansson-dev libcap-dev libcurl4-openssl-dev libseccomp-dev"
TEST="busybox-static skopeo umoci uidmap attr acl util-linux iproute2 procps
python3 zstd gzip tar file docker-registry apache2-utils openssl curl podman"
BENCH="bc python3 time fuse-overlayfs crun runc bubblewrap buildah mmdebstrap hyperfine"

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

pkgs="$BUILD $TEST"
case "${1:-}" in
    --with-bench) pkgs="$pkgs $BENCH" ;;
    "") ;;
    *) echo "install-deps: unknown option '$1'" >&2; exit 2 ;;
esac

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $pkgs
