#!/bin/sh
# `strata diff IMAGE1 IMAGE2`: two images on the same base differing in one
# file's content, one's mode, one symlink's target and one file's owner;
# a file with equal content in different layers is recognised by digest,
# and only layers that need it are hashed.
. "$STRATA_SRC/tests/lib.sh"

MK=$STRATA_HELPERS/diff_mkimage
[ -x "$MK" ] || skip_all "diff_mkimage helper not built"
command -v python3 >/dev/null || skip_all "python3 missing (TEST dependency)"
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
mktar() { tar --numeric-owner --owner=0 --group=0 -C "$1" -cf "$2" .; }

mkdir -p "$T/base/usr/lib" "$T/a/etc" "$T/b/etc"
head -c 5000 /dev/urandom > "$T/base/usr/lib/big"
printf base > "$T/base/usr/lib/small"
mktar "$T/base" "$T/base.tar"
for side in a b; do
    printf '#!/bin/sh\n' > "$T/$side/etc/script"
    printf 'same bytes' > "$T/$side/etc/same"
    printf 'owned' > "$T/$side/etc/owned"
done
printf 'content A' > "$T/a/etc/content"
printf 'content B' > "$T/b/etc/content"
chmod 0644 "$T/a/etc/script"
chmod 0755 "$T/b/etc/script"
ln -s target-a "$T/a/etc/link"
ln -s target-b "$T/b/etc/link"
printf 'only in A' > "$T/a/etc/gone"
printf 'only in B!' > "$T/b/etc/new"
mktar "$T/a" "$T/a.tar"
tar --numeric-owner --owner=0 --group=0 --exclude=./etc/owned -C "$T/b" -cf "$T/b.tar" .
tar --numeric-owner --owner=1000 --group=1000 -C "$T/b" -rf "$T/b.tar" ./etc/owned

"$MK" img:a "$T/base.tar" "$T/a.tar" >/dev/null && "$MK" img:b "$T/base.tar" "$T/b.tar" >/dev/null
ok $? "two images on one base"

run "$STRATA" diff img:a img:b
is "$rc" 0 "diff IMAGE1 IMAGE2 succeeds"
rows=$(printf '%s\n' "$out" | awk 'NR>1' | sed 's/   */|/g')
is "$rows" "C|9B|9B|content|/etc/content
D|9B|/etc/gone
C|0B|0B|link|/etc/link
A|10B|/etc/new
C|5B|5B|owner|/etc/owned
C|10B|10B|mode|/etc/script" "table: content, removed, link target, added, owner, mode"
is "$(printf '%s\n' "$out" | head -1 | tr -s ' ')" "CHANGE SIZE OLD SIZE WHAT PATH" "table header"

run "$STRATA" diff --format json img:a img:b
is "$(printf '%s' "$out" | jq_py '
for c in d: print(c["kind"], c["path"], c["type"], c["size"], ",".join(c.get("what", [])))')" \
"C /etc/content file 9 content
D /etc/gone file 9 
C /etc/link symlink 0 link
A /etc/new file 10 
C /etc/owned file 5 owner
C /etc/script file 10 mode" "JSON: the same changes, with what changed"

# digests: the shared base never needs them; the two top layers do
digests() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['digests'])" \
    "$STRATA_ROOT/cache/layer-index/$(sha256sum "$1" | cut -c1-64).json"; }
is "$(digests "$T/base.tar")" False "the shared base layer was not hashed"
is "$(digests "$T/a.tar") $(digests "$T/b.tar")" "True True" \
    "the differing layers' file digests are cached in their indexes"

run "$STRATA" diff img:a img:a
is "$rc:$out" "0:CHANGE   SIZE   OLD SIZE   WHAT   PATH" "an image equals itself"

# a regular file replaced by a directory is a type change
mkdir -p "$T/c/etc/content"
mktar "$T/c" "$T/c.tar"
"$MK" img:c "$T/base.tar" "$T/a.tar" "$T/c.tar" >/dev/null
run "$STRATA" diff img:a img:c
like "$out" 'C +- +type +/etc/content' "type change"

# a corrupt layer blob is reported, not indexed
rm -rf "$STRATA_ROOT/cache/layer-index"
hex=$(sha256sum "$T/a.tar" | cut -c1-64)
chmod u+w "$STRATA_ROOT/blobs/sha256/$hex" 2>/dev/null
printf 'X' | dd of="$STRATA_ROOT/blobs/sha256/$hex" bs=1 seek=700 conv=notrunc 2>/dev/null
run "$STRATA" diff img:a img:b
ok $((rc == 0)) "a corrupt layer fails the diff"
like "$out" "$hex" "... naming the blob"

done_testing
