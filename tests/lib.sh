# Shared helpers for shell TAP tests.  Source it first:
#     . "$STRATA_SRC/tests/lib.sh"
# Gives: ok/not_ok/is/skip/diag, done_testing, a scratch dir $T removed on
# exit, at_cleanup CMD (run in reverse order on exit, even on failure),
# as_user CMD (run unprivileged), wait_for CMD, make_busybox_rootfs DIR,
# make_run_rootfs DIR, $STRATA.
set -u

: "${STRATA_SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${STRATA_BIN:=$STRATA_SRC/strata}"
: "${STRATA_UNIONFS:=$STRATA_SRC/strata-unionfs}"
: "${STRATA_HELPERS:=$STRATA_SRC/build/tests/helpers}"
STRATA=$STRATA_BIN
export STRATA_SRC STRATA_BIN STRATA_UNIONFS STRATA_HELPERS

_tap_n=0
_tap_fail=0
_cleanups=""

ok() {     # ok COND_STATUS NAME  -- use as: cmd; ok $? "name"
    _tap_n=$((_tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $_tap_n - $2"
    else
        echo "not ok $_tap_n - $2"
        _tap_fail=$((_tap_fail + 1))
    fi
}
pass() { ok 0 "$1"; }
fail() { ok 1 "$1"; }
diag() { printf '# %s\n' "$*"; }
is() {     # is GOT WANT NAME
    if [ "$1" = "$2" ]; then
        ok 0 "$3"
    else
        ok 1 "$3"
        diag "  got:  '$1'"
        diag "  want: '$2'"
    fi
}
like() {   # like GOT REGEX NAME (grep -E)
    if printf '%s' "$1" | grep -Eq -- "$2"; then
        ok 0 "$3"
    else
        ok 1 "$3"
        diag "  got:  '$1'"
        diag "  want match: '$2'"
    fi
}
skip() {   # skip REASON
    _tap_n=$((_tap_n + 1))
    echo "ok $_tap_n # skip $1"
}
skip_all() {
    echo "1..0 # skip $1"
    exit 0
}
done_testing() {
    echo "1..$_tap_n"
    [ "$_tap_fail" -eq 0 ]
}

# run CMD, capture stdout+stderr in $out and status in $rc
run() {
    out=$("$@" 2>&1)
    rc=$?
}

at_cleanup() { _cleanups="$*
$_cleanups"; }
_run_cleanups() {
    status=$?
    set +e
    printf '%s\n' "$_cleanups" | while IFS= read -r c; do
        [ -n "$c" ] && eval "$c" >/dev/null 2>&1
    done
    exit $status
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

T=$(mktemp -d /tmp/strata-test.XXXXXX)
chmod 0755 "$T"
at_cleanup "rm -rf '$T'"
export STRATA_ROOT="$T/store"

# Rootless tests run as this uid; FUSE needs /dev/fuse 0666 as on a normal distro.
TEST_UID=${STRATA_TEST_UID:-65534}
TEST_GID=${STRATA_TEST_GID:-65534}
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ]; then
    chmod 0666 /dev/fuse 2>/dev/null || true
fi

is_root() { [ "$(id -u)" -eq 0 ]; }

# as_user CMD...: run unprivileged with a HOME and store of its own under $T.
as_user() {
    if is_root; then
        mkdir -p "$T/home"
        chown "$TEST_UID:$TEST_GID" "$T/home"
        setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --clear-groups \
            env HOME="$T/home" XDG_DATA_HOME="$T/home/.local/share" \
            XDG_RUNTIME_DIR="$T/home/run" STRATA_ROOT="${USER_STRATA_ROOT:-$T/home/store}" "$@"
    else
        "$@"
    fi
}

# wait_for CMD...: polls CMD (output discarded) every 0.1 s for up to 10 s;
# its status says whether it ever succeeded.
wait_for() {
    _i=0
    while [ $_i -lt 100 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    return 1
}

# make_busybox_rootfs DIR: a tiny root filesystem from Debian's busybox-static.
make_busybox_rootfs() {
    "$STRATA_SRC/scripts/busybox-rootfs.sh" "$1"
}

# make_run_rootfs DIR: the busybox rootfs as `strata run --rootfs` tests use
# it: the empty /etc/hostname, hosts and resolv.conf images carry for the
# runtime to mount over (a rootless caller cannot create them in a rootfs it
# does not own), everything readable by the test user.
make_run_rootfs() {
    make_busybox_rootfs "$1" &&
        touch "$1/etc/hostname" "$1/etc/hosts" "$1/etc/resolv.conf" &&
        chmod -R a+rX "$1"
}

# make_busybox_tar FILE: the same rootfs as a tarball (numeric owners, root:root).
make_busybox_tar() {
    _d=$(mktemp -d "$T/bbroot.XXXXXX")
    "$STRATA_SRC/scripts/busybox-rootfs.sh" "$_d" "$1" || return 1
    rm -rf "$_d"
}
