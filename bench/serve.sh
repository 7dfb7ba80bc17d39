#!/usr/bin/env bash
# The speed of cnn serve (docs/SERVE.md), measured from a client on this machine with curl:
#   - a LeNet-5 prediction round trip: POST a 28x28 PNG, the top-5 back (issue 18: < 50 ms);
#   - a ResNet-18 (224x224, torchvision's) Grad-CAM: GET .../explain?method=gradcam (< 1 s).
# Each is repeated; the median, the best and the worst are printed, with the host's CPU.
#   bench/serve.sh [BUILD_DIR] [REPEATS]
set -euo pipefail
build=${1:-build}
reps=${2:-30}
cd "$(dirname "$0")/.."
cnn=$(pwd)/$build/cnn
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
command -v curl >/dev/null || { echo "bench/serve.sh needs curl" >&2; exit 1; }

# Starts cnn serve MODEL [THREADS] on a free port, in this shell (so that the trap stops it);
# sets port.
serve() {
    local log="$tmp/serve${#pids[@]}.log"
    "$cnn" serve "$1" --port 0 --threads "${2:-1}" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log")
        [ -n "$port" ] && return
        sleep 0.1
    done
    echo "cnn serve did not start: $(cat "$log")" >&2
    exit 1
}

# Times `curl ARGS` reps times (seconds each, one per line) after one warm-up.
times() {
    curl -sf -o /dev/null "$@"
    for _ in $(seq "$reps"); do curl -sf -o /dev/null -w '%{time_total}\n' "$@"; done
}

# median best worst, in milliseconds
summary() { sort -g | awk '{ v[NR] = $1 * 1000 } END { printf "median %.1f ms, best %.1f, worst %.1f (%d runs)\n", v[int((NR + 1) / 2)], v[1], v[NR], NR }'; }

echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

"$cnn" train --model lenet5 --epochs 1 --limit 2000 --out "$tmp/lenet.ckpt" >/dev/null 2>&1
# A 28x28 grey PNG, as the page sends a drawing (written with Python's standard library).
python3 - "$tmp/digit.png" <<'PY'
import sys, zlib, struct
w = h = 28
raw = b''.join(b'\x00' + bytes((255 if 8 < x < 20 else 0) for x in range(w)) for _ in range(h))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
PY
serve "$tmp/lenet.ckpt"
printf 'LeNet-5, POST /api/images (28x28 PNG) -> top-5: '
times -X POST --data-binary "@$tmp/digit.png" "http://127.0.0.1:$port/api/images" | summary

"$cnn" export resnet18 --out "$tmp/r18.onnx" >/dev/null
for threads in 1 2; do
    serve "$tmp/r18.onnx" "$threads"
    id=$(curl -sf -X POST --data-binary "@$tmp/digit.png" "http://127.0.0.1:$port/api/images" |
        sed -n 's/.*"id": "\([0-9]*\)".*/\1/p')
    printf 'ResNet-18 224x224, %d thread(s), GET .../explain?method=gradcam: ' "$threads"
    times "http://127.0.0.1:$port/api/images/$id/explain?method=gradcam&class=1" | summary
    printf 'ResNet-18 224x224, %d thread(s), POST /api/images -> top-5: ' "$threads"
    times -X POST --data-binary "@$tmp/digit.png" "http://127.0.0.1:$port/api/images" | summary
done
