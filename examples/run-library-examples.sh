#!/usr/bin/env bash
# The two programs of docs/LIBRARY.md, built by make and run by make test: train_lenet5 trains
# LeNet-5 on Fashion-MNIST for one epoch with the trainer, classify reads its checkpoint and
# names the ankle boot of examples/data/ankle_boot.png (Fashion-MNIST test image 0). Then the
# code shown in docs/LIBRARY.md is checked to be these files, line for line.
#   examples/run-library-examples.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$build/examples/train_lenet5" 1 "$tmp/lenet5.ckpt"
out=$("$build/examples/classify" "$tmp/lenet5.ckpt" examples/data/ankle_boot.png)
echo "$out"
head -1 <<<"$out" | grep -q "^1\. Ankle boot" || { echo "FAILED: the boot is not the first class" >&2; exit 1; }
if "$build/examples/classify" "$tmp/lenet5.ckpt" "$tmp/missing.png" 2>"$tmp/err"; then
    echo "FAILED: a missing image was not an error" >&2; exit 1
fi
grep -q "missing.png" "$tmp/err" || { echo "FAILED: the error does not name the file" >&2; exit 1; }

# docs/LIBRARY.md shows each program in a ```c block preceded by a line naming its file.
for f in train_lenet5.c classify.c; do
    awk -v f="examples/$f" 'index($0, "<!-- " f " -->") { on = 1; next }
        on && /^```c$/ { inside = 1; next } inside && /^```$/ { exit } inside { print }' \
        docs/LIBRARY.md > "$tmp/shown.c"
    diff -u "examples/$f" "$tmp/shown.c" || { echo "FAILED: docs/LIBRARY.md shows another $f" >&2; exit 1; }
done
echo "library examples: ok"
