#!/bin/sh
# O_TMPFILE on a unionfs mount.  Linux 6.18 sends FUSE_TMPFILE, but
# libfuse 3.14 has no tmpfile op: it answers ENOSYS, and the kernel turns
# that into EOPNOTSUPP for this and every later O_TMPFILE open of the
# mount.  EOPNOTSUPP is the error programs expect from a filesystem without
# O_TMPFILE, and they fall back to a named file they unlink: glibc's
# tmpfile(3) (checked with /tmp being the mount in a private mount
# namespace) and Python's tempfile.TemporaryFile.  The fallback leaves
# nothing behind in the upper.  As root, then as uid 65534 through
# fusermount3 (without the mount namespace part).
. "$STRATA_SRC/tests/lib.sh"
. "$STRATA_SRC/tests/integration/20-unionfs-lib.sh"

[ -c /dev/fuse ] || skip_all "no /dev/fuse"
[ -x "$STRATA_UNIONFS" ] || skip_all "strata-unionfs not built"
command -v cc >/dev/null || skip_all "no C compiler for the helper"

cat >"$T/tmpf.c" <<'EOF'
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "otmpfile")) {
        /* open(DIR, O_TMPFILE): the errno's name, or "ok" */
        int fd = open(argv[2], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        const char *e = fd < 0 ? strerrorname_np(errno) : "ok";
        puts(e ? e : "error");
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "tmpfile")) {
        /* glibc's tmpfile(3) in P_tmpdir: write, read back */
        FILE *f = tmpfile();
        char buf[16] = {0};
        if (!f || fputs("payload", f) < 0 || fflush(f) || fseek(f, 0, SEEK_SET) ||
            !fgets(buf, sizeof buf, f)) {
            printf("error %s\n", strerrorname_np(errno));
            return 1;
        }
        puts(strcmp(buf, "payload") ? "mismatch" : "ok");
        return 0;
    }
    return 2;
}
EOF
cc -o "$T/tmpf" "$T/tmpf.c" || skip_all "cannot build the helper"
chmod 755 "$T" "$T/tmpf"

tmpfiles() {
    mode=$1
    d=$T/$mode
    mkdir -p "$d/l/sub" "$d/u" "$d/w" "$d/m"
    M=$d/m
    ufs_mount "$M" "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w"
    ok $? "$mode: mount"

    is "$("$T/tmpf" otmpfile "$M")" EOPNOTSUPP "$mode: open(O_TMPFILE) says EOPNOTSUPP"
    is "$("$T/tmpf" otmpfile "$M/sub")" EOPNOTSUPP "$mode: and again, in a lower dir"
    if command -v python3 >/dev/null; then
        r=$(python3 -c 'import sys, tempfile
with tempfile.TemporaryFile(dir=sys.argv[1]) as f:
    f.write(b"payload"); f.seek(0); print(f.read().decode())' "$M/sub" 2>&1)
        is "$r" payload "$mode: Python's TemporaryFile falls back to a named, unlinked file"
    else
        skip "no python3"
    fi
    if [ "$mode" = root ] && command -v unshare >/dev/null; then
        # the helper is under /tmp too: held open, run through its fd
        r=$(unshare -m sh -c 'exec 3<"$2" && mount --make-rprivate / &&
            mount --bind "$1" /tmp && /proc/self/fd/3 tmpfile' sh "$M/sub" "$T/tmpf" 2>&1)
        is "$r" ok "$mode: glibc's tmpfile(3) works with /tmp on the mount"
    else
        skip "glibc tmpfile(3) needs a private mount namespace (root)"
    fi
    is "$(find "$d/u" -mindepth 1 ! -path "$d/u/sub" | wc -l)" 0 \
        "$mode: the fallbacks leave nothing in the upper"
    ufs_umount "$M"
    ufs_sanitizer_clean "$mode"
}

ufs_root_and_rootless tmpfiles
