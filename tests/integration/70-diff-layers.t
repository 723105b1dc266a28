#!/bin/sh
# strata history and `strata diff IMAGE`: a base layer, then a layer that
# adds, changes and deletes files (a whiteout of a file, of a directory,
# and an opaque directory re-populated), checked in table and JSON form.
. "$STRATA_SRC/tests/lib.sh"

MK=$STRATA_HELPERS/diff_mkimage
[ -x "$MK" ] || skip_all "diff_mkimage helper not built"
command -v python3 >/dev/null || skip_all "python3 missing (TEST dependency)"
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

mktar() { tar --numeric-owner --owner=0 --group=0 -C "$1" -cf "$2" .; }
mkdir -p "$T/l1/etc" "$T/l1/var/cache" "$T/l1/opt" "$T/l2/etc" "$T/l2/var" "$T/l2/opt"
printf keep > "$T/l1/etc/keep"
printf old > "$T/l1/etc/change"
printf 12345 > "$T/l1/etc/remove"
head -c 1000 /dev/zero > "$T/l1/var/cache/a"
head -c 2000 /dev/zero > "$T/l1/var/cache/b"
printf x > "$T/l1/opt/x"
printf yy > "$T/l1/opt/y"
mktar "$T/l1" "$T/l1.tar"
printf 'new!' > "$T/l2/etc/change"
printf added > "$T/l2/etc/added"
: > "$T/l2/etc/.wh.remove"
: > "$T/l2/var/.wh.cache"
: > "$T/l2/opt/.wh..wh..opq"
printf YYY > "$T/l2/opt/y"
mktar "$T/l2" "$T/l2.tar"

SOURCE_DATE_EPOCH=1700000000 "$MK" layers:1 "$T/l1.tar=ADD base" "@ENV A=b" \
    "$T/l2.tar=RUN change things" >/dev/null
ok $? "test image committed"

# history ---------------------------------------------------------------
run "$STRATA" history layers:1
is "$rc" 0 "history succeeds"
is "$(printf '%s\n' "$out" | head -1 | tr -s ' ')" "IMAGE CREATED CREATED BY SIZE COMMENT" \
    "history header"
is "$(printf '%s\n' "$out" | awk 'NR>1' | sed 's/   */|/g' | cut -d'|' -f3)" \
"RUN change things
ENV A=b
ADD base" "history rows newest first"
like "$(printf '%s\n' "$out" | sed -n 3p)" '^<missing> ' "an empty layer has no layer id"
like "$(printf '%s\n' "$out" | sed -n 2p)" 'ago' "CREATED is relative"
run "$STRATA" history -H=false layers:1
like "$out" '2023-11-14T22:13:20Z' "-H=false prints the raw date"
l2size=$(stat -c %s "$T/l2.tar")
like "$(printf '%s\n' "$out" | sed -n 2p)" " $l2size( |\$)" "-H=false prints the layer size in bytes"
run "$STRATA" history --format json layers:1
is "$rc" 0 "history --format json succeeds"
is "$(printf '%s' "$out" | jq_py 'print(len(d), d[0]["created_by"], d[0]["size"], d[1]["empty_layer"], d[2]["created_by"])')" \
    "3 RUN change things $l2size True ADD base" "history JSON: rows, order, size, empty layer"
long=$(printf 'RUN %060d' 0)
"$MK" layers:long "$T/l1.tar=$long" >/dev/null
run "$STRATA" history layers:long
like "$out" 'RUN 0+\.\.\.' "long CREATED BY truncated"
run "$STRATA" history --no-trunc layers:long
like "$out" "$long" "--no-trunc keeps it whole"

# diff IMAGE ------------------------------------------------------------
run "$STRATA" diff layers:1
is "$rc" 0 "diff IMAGE succeeds"
rows=$(printf '%s\n' "$out" | awk 'NR>1 && $1==1 {print $2, $3, $4}')
is "$rows" "C - /etc
A 5B /etc/added
C 4B /etc/change
D 5B /etc/remove
C - /opt
D 1B /opt/x
C 3B /opt/y
C - /var
D 3kB /var/cache" "layer 1: adds, changes, deletes (whiteouts and the opaque /opt)"
is "$(printf '%s\n' "$out" | awk 'NR>1 && $1==0' | wc -l)" 11 "layer 0: every path added"

run "$STRATA" diff --layer 1 --format json layers:1
is "$rc" 0 "diff --layer 1 --format json"
is "$(printf '%s' "$out" | jq_py '
print(len(d), d[0]["layer"])
for c in d[0]["changes"]: print(c["kind"], c["path"], c["type"], c["size"])')" \
"1 1
C /etc dir 0
A /etc/added file 5
C /etc/change file 4
D /etc/remove file 5
C /opt dir 0
D /opt/x file 1
C /opt/y file 3
C /var dir 0
D /var/cache dir 3000" "JSON lists the same changes with exact sizes"
run "$STRATA" diff --layer 5 layers:1
ok $((rc == 0)) "a missing layer number is an error"
run "$STRATA" diff no-such-image
ok $((rc == 0)) "an unknown image is an error"
like "$out" 'no-such-image' "... naming it"

# the index is cached per diff_id and reused
ls "$STRATA_ROOT/cache/layer-index/"*.json >/dev/null 2>&1
ok $? "layer indexes cached under cache/layer-index"
is "$(ls "$STRATA_ROOT/cache/layer-index" | wc -l)" 2 "one cache file per layer (shared layers once)"

# a gzip layer whose manifest does not record the uncompressed size:
# inspect measures it through the layer index
gzip -c "$T/l2.tar" > "$T/l2.tar.gz"
"$STRATA_HELPERS/mkimage" "$STRATA_ROOT" "$T/l2.tar.gz" gz:1 "sha256:$(sha256sum "$T/l2.tar" | cut -c1-64)" >/dev/null
run "$STRATA" inspect --format .Layers gz:1
is "$(printf '%s' "$out" | jq_py 'print(d[0]["Size"], d[0]["UncompressedSize"])')" \
    "$(stat -c %s "$T/l2.tar.gz") $l2size" "inspect: compressed and uncompressed sizes"
run "$STRATA" diff --layer 0 --format json gz:1
is "$(printf '%s' "$out" | jq_py 'print(sorted(c["kind"] + c["path"] for c in d[0]["changes"] if c["type"] != "dir"))')" \
    "['A/etc/added', 'A/etc/change', 'A/opt/y']" \
    "a gzip base layer: whiteouts with nothing below delete nothing"

# rootless: a user's own store
chmod 0755 "$T"
USER_STRATA_ROOT="$T/home/store" as_user "$MK" mine:1 "$T/l1.tar" "$T/l2.tar" >/dev/null
ok $? "rootless: image committed to the user's store"
out=$(USER_STRATA_ROOT="$T/home/store" as_user "$STRATA" diff --layer 1 mine:1 2>&1)
like "$out" 'D +3kB +/var/cache' "rootless: diff works on the user's store"

done_testing
