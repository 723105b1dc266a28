#!/bin/sh
# strata build: ONBUILD triggers run right after FROM in a child (COPY with
# the child's context, RUN, LABEL), are not inherited further; ONBUILD
# ONBUILD / FROM / MAINTAINER refused; a failing trigger names the FROM line.
. "$STRATA_SRC/tests/lib.sh"

. "$STRATA_SRC/tests/integration/50-build-lib.sh"

# ONBUILD -------------------------------------------------------------------
if [ "$can_run" = 1 ]; then run_trigger='ONBUILD RUN cat /trigger/cdata > /trigger/ran'; else run_trigger='ONBUILD ENV RAN=1'; fi
cat > "$C/Parent" <<EOF2
FROM busybox
COPY pdata /pdata
ONBUILD COPY cdata /trigger/cdata
$run_trigger
ONBUILD LABEL from.trigger=yes
EOF2
build -f "$C/Parent" -t parent "$C"
is "$rc" 0 "a parent image with ONBUILD COPY/RUN/LABEL builds"
is "$(cfg parent 'len(c.get("OnBuild") or [])')" "3" "its triggers are stored in the config"
is "$(file parent /trigger/cdata)" "MISSING" "the triggers did not run in the parent itself"

printf 'FROM parent\nLABEL child=1\n' > "$C/Child"
build -f "$C/Child" -t child "$C"
is "$rc" 0 "a child FROM the parent builds"
[ "$rc" = 0 ] || diag "$out"
like "$out" "ONBUILD COPY cdata /trigger/cdata" "the triggers are shown as they run"
is "$(file child /trigger/cdata)" "child-data" "ONBUILD COPY ran with the child's context"
if [ "$can_run" = 1 ]; then
    is "$(file child /trigger/ran)" "child-data" "ONBUILD RUN ran after the COPY trigger"
else
    skip "ONBUILD RUN needs strata run here"
fi
is "$(cfg child 'c["Labels"]["from.trigger"] + "," + c["Labels"]["child"]')" "yes,1" "trigger LABEL applied, then the child's own"
is "$(cfg child 'len(c.get("OnBuild") or [])')" "0" "triggers are not inherited by the child"
is "$(cfg child 'sum(1 for h in d["History"] if h.get("created_by","").startswith("COPY cdata"))')" "1" \
    "the trigger has its history entry"

printf 'FROM child\nLABEL grandchild=1\n' > "$C/Grand"
build -f "$C/Grand" -t grand "$C"
is "$rc" 0 "a grandchild builds"
unlike_trigger=$(printf '%s\n' "$out" | grep -c ONBUILD)
is "$unlike_trigger" "0" "no trigger runs in the grandchild"

for bad in 'ONBUILD ONBUILD RUN true' 'ONBUILD FROM busybox' 'ONBUILD MAINTAINER me'; do
    printf 'FROM busybox\n%s\n' "$bad" > "$C/Bad"
    build -f "$C/Bad" "$C"
    kw=$(echo "$bad" | cut -d' ' -f2)
    like "$out" "Bad:2: .*$kw is not allowed as an ONBUILD trigger" "$bad refused at FILE:LINE"
done

# a trigger that fails names the child's FROM line
printf 'FROM busybox\nONBUILD COPY no-such-file /x\n' > "$C/P2"
build -f "$C/P2" -t parent2 "$C"
printf 'ARG X=1\n\nFROM parent2\n' > "$C/C2"
build -f "$C/C2" "$C"
[ "$rc" -ne 0 ]; ok $? "a failing trigger fails the child build"
like "$out" "C2:3: COPY no-such-file /x: .*no-such-file" "and names the FROM line and the trigger"

done_testing
