#!/usr/bin/env bash
# libcnn.so exports exactly the functions include/cnn.h declares (the version script that
# scripts/exports.sh makes from the header): every exported symbol is declared there and starts
# with cnn_, every declared function is exported, a few known public functions are, and the
# library's internal cnn_ functions (cnn_alloc, cnn_error, ...) are not. With GCC, the names
# that scripts/exports.sh reads from the header are checked against the compiler's own list of
# the header's declarations (-aux-info).
#   tests/test_symbols.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAILED: $*" >&2; failed=1; }

so=$build/libcnn.so
[ -e "$so" ] || { echo "FAILED: no $so (make BUILD=$build first)" >&2; exit 1; }
nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/exported"
scripts/exports.sh --names include/cnn.h > "$tmp/declared"
nm --defined-only -g "$build/libcnn.a" 2>/dev/null | awk 'NF == 3 && $3 ~ /^cnn_/ { print $3 }' |
    sort -u | comm -23 - "$tmp/declared" > "$tmp/internal"
echo "$(wc -l < "$tmp/exported") symbols exported, $(wc -l < "$tmp/declared") functions declared" \
     "in include/cnn.h, $(wc -l < "$tmp/internal") internal cnn_ symbols in libcnn.a"

bad=$(grep -v '^cnn_' "$tmp/exported" || true)
[ -z "$bad" ] || fail "exported without the cnn_ prefix:" $bad
bad=$(comm -23 "$tmp/exported" "$tmp/declared")
[ -z "$bad" ] || fail "exported but not declared in include/cnn.h:" $bad
bad=$(comm -13 "$tmp/exported" "$tmp/declared")
[ -z "$bad" ] || fail "declared in include/cnn.h but not exported (not defined?):" $bad

for f in cnn_version cnn_status_str cnn_net_new cnn_net_free cnn_add cnn_net_prepare \
         cnn_net_forward cnn_net_backward cnn_net_last_error cnn_net_load cnn_classify_file; do
    grep -qx "$f" "$tmp/exported" || fail "$f is not exported"
done
# The library has internal functions with the prefix: they must exist (else this test checks
# nothing) and stay local.
for f in cnn_alloc cnn_error; do
    grep -qx "$f" "$tmp/internal" || fail "$f is not an internal function of libcnn.a any more:" \
        "name another one here"
    grep -qx "$f" "$tmp/exported" && fail "the internal $f is exported"
done

# The header's functions as the compiler sees them, when it is GCC.
cc=${CC:-cc}
echo '#include "cnn.h"' > "$tmp/decl.c"
if "$cc" -Iinclude -aux-info "$tmp/aux" -fsyntax-only "$tmp/decl.c" 2>/dev/null; then
    grep -F 'include/cnn.h:' "$tmp/aux" | sed -n 's/.*[ *]\([A-Za-z_][A-Za-z0-9_]*\) (.*/\1/p' |
        sort -u > "$tmp/gcc"
    [ -s "$tmp/gcc" ] || fail "$cc -aux-info listed no function of include/cnn.h"
    diff "$tmp/gcc" "$tmp/declared" > "$tmp/diff" ||
        fail "scripts/exports.sh and $cc disagree on the functions of include/cnn.h" \
            "(< $cc, > exports.sh):" "$(cat "$tmp/diff")"
else
    echo "(not checked against the compiler: $cc has no -aux-info)"
fi

[ $failed -eq 0 ] || exit 1
echo "symbols: ok"
