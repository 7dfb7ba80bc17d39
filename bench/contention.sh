#!/usr/bin/env bash
# Threads under contention: LeNet-5 training on Fashion-MNIST (20,000 images, batch 64, one
# epoch, PyTorch's twin settings as in bench/lenet5.sh) with --threads 1 and 2, on a quiet
# machine and while a busy loop holds one of the two cores (taskset -c 1). Runs are
# interleaved; each cell is the median of RUNS runs, in images per second. libcnn's threads are
# its own pool (src/core/workers.c); when it used OpenMP, SETTINGS also named libgomp's wait
# policies (docs/BENCHMARKS.md has that table): give them as extra "name|VAR=value" arguments
# to measure a build that links libgomp again.
#   bench/contention.sh [RUNS [SETTING...]]   (default 3; needs make all, dataset-fashion-mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift $(( $# > 0 ? 1 : 0 ))
cnn=$PWD/build/cnn
[ -x "$cnn" ] || { echo "build first: make all" >&2; exit 1; }
tmp=$(mktemp -d)
busy=
trap '[ -n "$busy" ] && kill "$busy" 2>/dev/null; rm -rf "$tmp"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

rate() { # threads, then environment assignments
    local t=$1; shift
    env "$@" "$cnn" train --model lenet5 --epochs 1 --limit 20000 --val 0 --batch 64 --opt adam \
        --lr 0.001 --wd 0 --schedule constant --augment none --threads "$t" --force \
        --out "$tmp/m.ckpt" 2>/dev/null | sed -n 's/^epoch .*(\([0-9]*\) img\/s)$/\1/p'
}

settings=("libcnn|" "$@")
table() { # title
    declare -A got
    for r in $(seq "$runs"); do
        for s in "${settings[@]}"; do
            name=${s%%|*}; envs=${s#*|}
            for t in 1 2; do got["$name/$t"]+="$(rate "$t" $envs) "; done
        done
    done
    printf '%-28s %12s %12s %8s\n' "$1" "1 thread" "2 threads" "2 / 1"
    for s in "${settings[@]}"; do
        name=${s%%|*}
        one=$(tr ' ' '\n' <<<"${got[$name/1]}" | grep . | median)
        two=$(tr ' ' '\n' <<<"${got[$name/2]}" | grep . | median)
        awk -v n="$name" -v a="$one" -v b="$two" 'BEGIN { printf "%-28s %12d %12d %8.2f\n", n, a, b, b / a }'
    done
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no), $(date -u +%F)"
table "quiet"
taskset -c 1 sh -c 'while :; do :; done' &
busy=$!
sleep 1
table "busy loop on core 1"
