#!/bin/sh
# The strata command itself: --version, --help, every verb's --help, and
# errors that name the unknown verb or flag with a non-zero status.
. "$STRATA_SRC/tests/lib.sh"

run "$STRATA" --version
is "$rc" 0 "--version succeeds"
like "$out" '^strata version ' "--version prints the version"

run "$STRATA" --help
is "$rc" 0 "--help succeeds"
like "$out" 'usage: strata' "--help prints usage"

run "$STRATA"
ok $((rc == 0)) "no verb is an error"

run "$STRATA" frobnicate
is "$rc" 2 "unknown verb exits 2"
like "$out" 'unknown verb `frobnicate`' "unknown verb is named"

run "$STRATA" --bogus-global images
is "$rc" 2 "unknown global flag exits 2"
like "$out" '`--bogus-global`' "unknown global flag is named"

verbs=$("$STRATA" --help | sed -n '/^verbs:/,/^$/p' | awk 'NR>1 && NF {print $1}')
for v in $verbs; do
    run "$STRATA" "$v" --help
    is "$rc" 0 "strata $v --help succeeds"
    like "$out" "$v" "strata $v --help describes $v"
    run "$STRATA" "$v" --no-such-flag
    ok $((rc == 0)) "strata $v rejects an unknown flag"
    like "$out" 'no-such-flag' "strata $v names the unknown flag"
done

done_testing
