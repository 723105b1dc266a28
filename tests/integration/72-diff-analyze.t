#!/bin/sh
# strata analyze: dive's wasted bytes and efficiency on a wasteful image
# (a file deleted later, a directory deleted later, a file overwritten) and
# a lean one; --ci thresholds set the exit status.
. "$STRATA_SRC/tests/lib.sh"

MK=$STRATA_HELPERS/diff_mkimage
[ -x "$MK" ] || skip_all "diff_mkimage helper not built"
command -v python3 >/dev/null || skip_all "python3 missing (TEST dependency)"
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
mktar() { tar --numeric-owner --owner=0 --group=0 -C "$1" -cf "$2" .; }

mkdir -p "$T/l1/opt/cache" "$T/l1/etc" "$T/l2/opt" "$T/l3/etc" "$T/lean/app"
head -c 100000 /dev/zero > "$T/l1/opt/blob"
head -c 30000 /dev/zero > "$T/l1/opt/cache/one"
head -c 20000 /dev/zero > "$T/l1/opt/cache/two"
head -c 1000 /dev/zero > "$T/l1/etc/conf"
head -c 500 /dev/zero > "$T/l1/etc/keep"
mktar "$T/l1" "$T/l1.tar"
: > "$T/l2/opt/.wh.blob"
: > "$T/l2/opt/.wh.cache"
mktar "$T/l2" "$T/l2.tar"
head -c 1200 /dev/zero > "$T/l3/etc/conf"
mktar "$T/l3" "$T/l3.tar"
head -c 4000 /dev/zero > "$T/lean/app/bin"
mktar "$T/lean" "$T/lean.tar"

"$MK" waste:1 "$T/l1.tar" "$T/l2.tar" "$T/l3.tar" >/dev/null &&
    "$MK" lean:1 "$T/l1.tar" "$T/lean.tar" >/dev/null
ok $? "a wasteful and a lean image"

# wasted = blob 100000 + cache/one 30000 + cache/two 20000 + conf 1000+1200
# efficiency = (0+0+0+1000+500) / (100000+30000+20000+2200+500)
want_eff=$(python3 -c 'print("%.4f" % (1500/152700*100))')
run "$STRATA" analyze waste:1
is "$rc" 0 "analyze without --ci succeeds whatever the waste"
like "$out" "wasted bytes: +152200 " "wasted bytes as dive counts them"
like "$out" "efficiency: +$want_eff %" "efficiency = sum of smallest copies / sum of all copies"
rows=$(printf '%s\n' "$out" | sed -n '/^COUNT/,$p' | awk 'NR>1 {print $1, $NF}')
is "$rows" "2 /opt/blob
2 /opt/cache/one
2 /opt/cache/two
2 /etc/conf" "offenders, largest first"

run "$STRATA" analyze --format json --top 2 waste:1
is "$(printf '%s' "$out" | jq_py '
print(d["wasted_bytes"], round(d["efficiency"], 6), len(d["inefficiencies"]), d["inefficiencies"][0]["path"], d["inefficiencies"][0]["bytes"])')" \
    "152200 $(python3 -c 'print(round(1500/152700, 6))') 2 /opt/blob 100000" "JSON: waste, efficiency, --top"

run "$STRATA" analyze --ci waste:1
is "$rc" 1 "--ci fails on the wasteful image"
like "$out" 'FAIL: lowestEfficiency' "... naming the failed rule"
run "$STRATA" analyze --ci lean:1
is "$rc" 0 "--ci passes on the lean image"
like "$out" 'efficiency: +100\.0000 %' "the lean image is 100% efficient"
like "$out" 'result: PASS' "... and says so"

run "$STRATA" analyze --ci --lowest-efficiency 0 --highest-user-wasted-percent disabled \
    --highest-wasted-bytes 200kB waste:1
is "$rc" 0 "thresholds the image meets pass"
run "$STRATA" analyze --ci --lowest-efficiency 0 --highest-user-wasted-percent disabled \
    --highest-wasted-bytes 100kB waste:1
is "$rc" 1 "--highest-wasted-bytes below the waste fails"
like "$out" 'FAIL: highestWastedBytes' "... naming that rule"
run "$STRATA" analyze --ci --format json --lowest-efficiency 0 --highest-wasted-bytes 100kB waste:1
is "$rc:$(printf '%s' "$out" | jq_py 'print(d["pass"], d["rules"]["highestWastedBytes"])')" \
    "1:False fail" "JSON carries the CI verdict"
run "$STRATA" analyze --ci --lowest-efficiency 2 waste:1
is "$rc" 2 "an out-of-range threshold is a usage error"

done_testing
