#!/usr/bin/env bash
# What cnn export writes passes ONNX's own checker: every zoo model (cnn models) is exported at
# the smallest of 32x32, 64x64, 96x96, 128x128 and 224x224 that builds (1 channel for lenet5,
# vgg_small, small_unet and unet, 3 for the others), then a definition file with every layer
# type, and each file goes through onnx.checker.check_model(onnx.load(FILE), full_check=True)
# (the structure, then shape inference in strict mode against the shapes the file declares),
# with Debian's /usr/bin/python3 and python3-onnx. Prints one line per model: its name, input,
# the file's bytes and the seconds taken (export and check); exits 1 naming each model that
# failed with the checker's (or cnn's) message.
#   tests/test_onnx_checker.sh BUILD_DIR
# The files of the big models are 100-250 MB: only one is on disk at a time, in a temporary
# folder removed on exit. A deeper member of a family whose layers and blocks are those of a
# smaller one (tests/zoo_families.txt: vgg13/16/19 of vgg11, their _bn forms of vgg11_bn,
# resnet34 of resnet18, resnet101/152 of resnet50, densenet169/201 of densenet121) is left out,
# saying so: it only repeats the blocks, and exporting and checking them took half of this
# script's 200 s. CNN_ONNX_CHECK_ALL=1 checks them too. CNN_TEST_LIGHT=1 (the sanitizer pass)
# exports only the zoo models under 5 million parameters, as tests/test_onnx.c round-trips them.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
cnn=$build/cnn
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

[ -x "$cnn" ] || fail "$cnn is missing (make BUILD=$build)"
[ -x "$py" ] || fail "$py is missing (scripts/install-deps.sh installs it with python3-onnx)"
msg=$("$py" -c 'import onnx' 2>&1) ||
    fail "python3-onnx is missing (scripts/install-deps.sh installs it): $msg"
light=0
case ${CNN_TEST_LIGHT:-} in '' | 0) ;; *) light=1 ;; esac
all=0
case ${CNN_ONNX_CHECK_ALL:-} in '' | 0) ;; *) all=1 ;; esac

# family NAME: the smaller zoo model whose layers and blocks NAME repeats, or nothing
# (tests/zoo_families.txt).
family() {
    awk -v m="$1" '$1 == m && !/^#/ { print $2 }' tests/zoo_families.txt
}

# check FILE: the checker's verdict; on failure its message (one line) is on stdout.
check() {
    "$py" - "$1" <<'EOF'
import sys
import onnx
try:
    onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)
except Exception as e:  # ValidationError, InferenceError, a damaged file: all are failures
    print(("%s: %s" % (type(e).__name__, e)).replace("\n", " "))
    sys.exit(1)
EOF
}

failures=()
# export_and_check NAME INPUT EXPORT_ARGS...: one line, NAME INPUT BYTES SECONDS ok|FAILED.
export_and_check() {
    local name=$1 input=$2 out start status=ok bytes=0 msg=""
    shift 2
    out=$tmp/$(basename "$name").onnx
    start=$EPOCHREALTIME
    if ! msg=$("$cnn" export "$@" --out "$out" 2>&1 >/dev/null); then
        status=FAILED
    else
        bytes=$(stat -c %s "$out")
        msg=$(check "$out") || status=FAILED
    fi
    rm -f "$out"
    printf '%-20s %-9s %11d bytes %6.1fs  %s\n' "$name" "$input" "$bytes" \
        "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$status"
    if [ "$status" != ok ]; then
        echo "  $msg"
        failures+=("$name ($input): $msg")
    fi
}

models=$("$cnn" models | awk '{ print $1 }')
[ -n "$models" ] || fail "$cnn models lists no model"
for name in $models; do
    base=$(family "$name")
    if [ "$all" = 0 ] && [ -n "$base" ]; then
        grep -qx -- "$base" <<<"$models" || fail "$name's family model $base is not in the zoo"
        printf '%-20s not exported (the blocks of %s; CNN_ONNX_CHECK_ALL=1 checks it)\n' \
            "$name" "$base"
        continue
    fi
    case $name in lenet5 | vgg_small | small_unet | unet) c=1 ;; *) c=3 ;; esac
    input=""
    for s in 32 64 96 128 224; do
        if summary=$("$cnn" summary "$name" --input "${c}x${s}x${s}" --json 2>&1); then
            input=${c}x${s}x${s}; break
        fi
    done
    if [ -z "$input" ]; then
        echo "$name: no size builds: $summary"
        failures+=("$name: no size builds: $summary"); continue
    fi
    params=$(sed -n '1s/^{"params": \([0-9]*\),.*/\1/p' <<<"$summary")
    if [ "$light" = 1 ] && [ "${params:-0}" -gt 5000000 ]; then
        printf '%-20s %-9s not exported (CNN_TEST_LIGHT=1, %d parameters)\n' "$name" "$input" \
            "$params"
        continue
    fi
    export_and_check "$name" "$input" "$name" --input "$input"
done

# Every layer type in one network: a 2-D branch and a 1-D one (a second input), merged flat.
# Keep one of each type `cnn layers` lists; the check after the file says which is missing.
def=$tmp/all_layers.net
cat > "$def" <<'EOF'
x = input shape=3x31x31
c1 = conv2d out=8 kernel=3 padding=same
bn = batchnorm eps=0.001
r = relu
p = max_pool2d kernel=2 ceil_mode=1                    # 8x16x16: the last window is partial
lr = leaky_relu slope=0.1
u = max_unpool2d(lr, p)                                # 8x31x31, from p's indices
a = avg_pool2d kernel=3 stride=2 padding=1 count_include_pad=0
l2 = l2_pool2d kernel=2                                # 8x8x8
ct = conv_transpose2d out=8 kernel=3 stride=2 padding=1 output_padding=1   # 8x16x16
up = upsample(l2) scale=2
cat = concat(ct, up)                                   # 16x16x16
e = elu alpha=0.5
d = dropout p=0.3
c2 = conv2d(a) out=16 kernel=3 padding=1x0:2 groups=8 bias=0    # asymmetric, grouped
c3 = conv2d out=16 kernel=2x1 padding=1:0x0            # 16x16x16
s = add(d, c3, cat)
sg = sigmoid
am = adaptive_max_pool2d out=4
aa = adaptive_avg_pool2d(s) out=4
m = add(am, aa)
mn = mean(m, am, aa)                                   # an ensemble's average: Mean
t = tanh
sm = softmax
g = global_avg_pool
gm = global_max_pool(sm)
fl = flatten(t)
q = input shape=4x20
k = conv1d out=8 kernel=3 padding=causal dilation=2
kt = tanh
kg = global_avg_pool
f = concat(g, gm, fl, kg)
fc = dense out=10
out = softmax
EOF
known=$("$cnn" layers | sed -n 's/^\([a-z0-9_]*\): .*/\1/p')
used=$(sed -n 's/^[^#=]*= *\([a-z0-9_]*\).*/\1/p' "$def")
for type in $known; do
    grep -qx -- "$type" <<<"$used" ||
        fail "layer type $type is not in this script's definition file: add it"
done
export_and_check all_layers.net "2 inputs" "$def"

# The fused forms (cnn_net_fuse): convolutions and sums with act=relu become Conv/Add + Relu.
export_and_check resnet20_fused 1x28x28 resnet20 --input 1x28x28 --fuse
export_and_check vgg_small_fused 1x28x28 vgg_small --input 1x28x28 --fuse

if [ ${#failures[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "all passed (onnx $("$py" -c 'import onnx; print(onnx.__version__)'))"
