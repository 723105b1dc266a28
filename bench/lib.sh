# Shared benchmark helpers.  Source from a bench script:
#     . "$(dirname "$0")/lib.sh"
# bench_minbase DIR-VAR : a Debian minbase root tree built once with mmdebstrap
#                         and cached in $STRATA_BENCH_CACHE (default /var/tmp/strata-bench)
# bench_time VAR CMD... : runs CMD once, stores wall seconds (float) in VAR
# bench_ratio A B       : prints A/B with two decimals
set -eu
: "${STRATA_SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${STRATA_BENCH_CACHE:=/var/tmp/strata-bench}"
STRATA=$STRATA_SRC/strata
STRATA_UNIONFS=$STRATA_SRC/strata-unionfs

bench_minbase() {
    _tree=$STRATA_BENCH_CACHE/minbase
    mkdir -p "$STRATA_BENCH_CACHE"
    (
        flock 9
        if [ ! -e "$_tree/.complete" ]; then
            rm -rf "$_tree"
            echo "bench: building a Debian minbase tree with mmdebstrap (about a minute)" >&2
            mmdebstrap --variant=minbase --mode=root bookworm "$_tree" >&2
            touch "$_tree/.complete"
        fi
    ) 9>"$STRATA_BENCH_CACHE/.lock"
    eval "$1=\$_tree"
}

bench_time() {
    _var=$1
    shift
    _s=$(date +%s.%N)
    "$@"
    _e=$(date +%s.%N)
    eval "$_var=$(echo "$_e - $_s" | bc -l)"
}

bench_ratio() {
    echo "scale=2; $1 / $2" | bc -l
}
