#!/bin/sh
# Makes a tiny root filesystem from Debian's busybox-static:
#     scripts/busybox-rootfs.sh DIR [TARBALL]
# DIR gets /bin/busybox, a symlink per applet, /etc/passwd and /etc/group
# (root, nobody, app:1000) and the usual empty mount points.  With TARBALL,
# the tree is also packed as a tar with numeric root ownership.  Used by
# scripts/example.sh and by the tests (tests/lib.sh).
set -eu
dir=$1
bb=$(command -v busybox) || { echo "busybox-rootfs: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
if ! "$bb" --list >/dev/null 2>&1; then
    echo "busybox-rootfs: $bb is not a multi-call busybox (want busybox-static)" >&2
    exit 1
fi
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root" "$dir/proc" "$dir/sys" "$dir/dev" \
    "$dir/home/app"
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
# one process for ~400 links: a fork per applet costs seconds on a busy machine
"$bb" --list | grep -vx busybox | (cd "$dir/bin" && xargs perl -e 'for (@ARGV) { unlink $_; symlink "busybox", $_ or die "symlink $_: $!\n" }')
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n' \
    > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n' > "$dir/etc/group"
if [ $# -ge 2 ]; then
    tar --numeric-owner --owner=0 --group=0 -C "$dir" -cf "$2" .
fi
