#!/usr/bin/env bash
# The slow ONNX checks against PyTorch, in both directions (not part of make test: PyTorch is
# not a dependency of cnn; make check-onnx-slow runs this).
#   tests/test_onnx_slow.sh BUILD_DIR OUTDIR
#
# PyTorch to cnn: tests/ref/onnx_big.py exports torchvision's resnet18, googlenet and
# densenet121 with torch.onnx and compares `cnn infer` on the .onnx files with PyTorch
# (files in OUTDIR/big; its Markdown table is printed as it is).
#
# cnn to PyTorch: networks cnn exports, run by tests/ref/onnx_to_torch.py (an ONNX interpreter
# on torch.nn.functional) and compared with `cnn infer`:
#   lenet5, vgg_small  trained one epoch on 6000 (2000) Fashion-MNIST images, exported from the
#               checkpoint, on 8 test images (pixel / 255, as the data set gives them, without the
#               checkpoint's normalisation: infer without --preprocess takes the raw input,
#               and the ONNX graph does not normalise either);
#   resnet20, small_unet, segnet (3x32x32): zoo models with fresh weights, cnn infer reading
#               the exported .onnx, on 4 random normal inputs; segnet's MaxPool Indices and
#               MaxUnpool are what PyTorch cannot export.
# Prints a Markdown table (model, input, direction, max abs and relative errors, seconds of
# cnn and of the interpreter, pass or fail) and exits 1 on any failure. Needs Debian's
# python3-torch, python3-torchvision, python3-onnx and Fashion-MNIST (dataset-fashion-mnist).
set -euo pipefail
build=${1:-build}
outdir=${2:-$build/onnx-slow}
cd "$(dirname "$0")/.."
cnn=$build/cnn
py=/usr/bin/python3
fashion=/usr/share/datasets/fashion-mnist
fail() { echo "FAILED: $*" >&2; exit 1; }
# The seconds since $1 (an $EPOCHREALTIME).
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

[ -x "$cnn" ] || fail "$cnn is missing (make BUILD=$build)"
msg=$("$py" -c 'import numpy, onnx, torch, torchvision' 2>&1) ||
    fail "$py cannot import numpy, onnx, torch and torchvision (apt-get install python3-onnx" \
        "python3-torch python3-torchvision): $msg"
[ -e "$fashion/t10k-images-idx3-ubyte.gz" ] || [ -e "$fashion/t10k-images-idx3-ubyte" ] ||
    fail "no Fashion-MNIST in $fashion (scripts/install-deps.sh --data installs it)"
mkdir -p "$outdir"
start_all=$EPOCHREALTIME
failed=()

# --- PyTorch to cnn: torchvision's big models -------------------------------------------------
echo "PyTorch -> cnn: tests/ref/onnx_big.py (10-30 s) ..." >&2
start=$EPOCHREALTIME
if big=$("$py" tests/ref/onnx_big.py "$cnn" "$outdir/big"); then :; else
    failed+=("onnx_big.py (exit $?)")
fi
big_seconds=$(since "$start")

# --- cnn to PyTorch ----------------------------------------------------------------------------
rows=()
# row MODEL INPUT DIRECTION ABS REL CNN_S TORCH_S RESULT
row() { rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s |' "$@")"); }
# step NAME CMD...: runs CMD, its output in $log; on failure records the failure of NAME with
# the last line CMD printed and returns 1.
step() {
    local name=$1; shift
    if log=$("$@" 2>&1); then return 0; fi
    note="$name failed: $(tail -n 1 <<<"$log")"
    return 1
}

# An input .npy: `mkinput fashion N OUT` (the first N test images, pixel / 255, N x 1x28x28) or
# `mkinput random CxHxW N SEED OUT` (standard normal values), float32.
mkinput() {
    FASHION=$fashion "$py" - "$@" <<'EOF'
import gzip, os, sys
import numpy as np
a = sys.argv[1:]
if a[0] == "fashion":
    n, out = int(a[1]), a[2]
    path = os.environ["FASHION"] + "/t10k-images-idx3-ubyte"
    try:
        f = gzip.open(path + ".gz", "rb")
    except FileNotFoundError:
        f = open(path, "rb")
    with f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != 0x803:
        sys.exit("%s: not an IDX file of bytes" % path)
    count, h, w = (int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(3))
    x = np.frombuffer(raw, np.uint8, n * h * w, 16).reshape(n, 1, h, w)
    x = x.astype(np.float32) / np.float32(255)
else:
    shape, n, seed, out = [int(v) for v in a[1].split("x")], int(a[2]), int(a[3]), a[4]
    x = np.random.default_rng(seed).standard_normal((n, *shape), dtype=np.float32)
np.save(out, np.ascontiguousarray(x, dtype=np.float32))
EOF
}

# compare MODEL INPUT DIRECTION ONNX IN.npy MODEL_FOR_INFER: cnn infer MODEL_FOR_INFER on IN.npy,
# then onnx_to_torch.py ONNX on the same input against cnn's output; one table row.
compare() {
    local model=$1 input=$2 dir=$3 onnx=$4 xin=$5 src=$6 ycnn=$outdir/$1.cnn.npy start t_cnn out
    local rc abs rel t_torch
    start=$EPOCHREALTIME
    if ! step "cnn infer" "$cnn" infer "$src" --input "$xin" --output "$ycnn"; then
        row "$model" "$input" "$dir" - - - - "FAIL: $note"; failed+=("$model"); return
    fi
    t_cnn=$(since "$start")
    start=$EPOCHREALTIME
    out=$("$py" tests/ref/onnx_to_torch.py "$onnx" "$xin" "$ycnn" \
        --save "$outdir/$model.torch.npy" 2>&1) && rc=0 || rc=$?
    t_torch=$(since "$start")
    abs=$(sed -n 's/.* max abs err \([^ ]*\) .*/\1/p' <<<"$out")
    rel=$(sed -n 's/.* max rel err \([^ ]*\) .*/\1/p' <<<"$out")
    if [ "$rc" -eq 0 ]; then
        row "$model" "$input" "$dir" "${abs:--}" "${rel:--}" "$t_cnn" "$t_torch" pass
    else
        row "$model" "$input" "$dir" "${abs:--}" "${rel:--}" "$t_cnn" "$t_torch" \
            "FAIL: $(tail -n 1 <<<"$out")"
        failed+=("$model")
    fi
}

echo "cnn -> PyTorch: lenet5 and vgg_small (trained 1 epoch), resnet20, small_unet, segnet ..." >&2
# Trained briefly: weights that are not an initialisation (and batch norm statistics that are
# not 0 and 1: vgg_small), exported from the checkpoint.
trained() { # MODEL LIMIT
    local model=$1 ckpt=$outdir/$1.ckpt start=$EPOCHREALTIME
    if step train "$cnn" train --model "$model" --data fashion-mnist --epochs 1 --limit "$2" \
            --seed 1 --out "$ckpt" --force &&
        step export "$cnn" export "$ckpt" --out "$outdir/$model.onnx" &&
        step input mkinput fashion 8 "$outdir/$model.in.npy"; then
        echo "  $model trained and exported in $(since "$start") s" >&2
        compare "$model" "8 x 1x28x28" "cnn ckpt -> ONNX -> torch" "$outdir/$model.onnx" \
            "$outdir/$model.in.npy" "$ckpt"
    else
        row "$model" "8 x 1x28x28" "cnn ckpt -> ONNX -> torch" - - - - "FAIL: $note"
        failed+=("$model")
    fi
}
trained lenet5 6000
trained vgg_small 2000

# Zoo models with fresh weights: cnn infer reads the .onnx, as the interpreter does.
for spec in resnet20:3x32x32 small_unet:1x28x28 segnet:3x32x32; do
    model=${spec%%:*} input=${spec#*:}
    onnx=$outdir/$model.onnx xin=$outdir/$model.in.npy
    if step export "$cnn" export "$model" --input "$input" --out "$onnx" &&
        step input mkinput random "$input" 4 7 "$xin"; then
        compare "$model" "4 x $input" "cnn zoo -> ONNX -> torch" "$onnx" "$xin" "$onnx"
    else
        row "$model" "4 x $input" "cnn zoo -> ONNX -> torch" - - - - "FAIL: $note"
        failed+=("$model")
    fi
done

echo "## PyTorch -> ONNX -> cnn (tests/ref/onnx_big.py, $big_seconds s)"
echo
echo "$big"
echo
echo "## cnn -> ONNX -> PyTorch (tests/ref/onnx_to_torch.py)"
echo
echo "| model | input | direction | max abs err | max rel err | cnn s | torch s | result |"
echo "|---|---|---|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
echo
echo "criterion |cnn - torch| <= 1e-5 + 1e-4 |torch|; $(since "$start_all") s in all;" \
    "files in $outdir"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all passed"
