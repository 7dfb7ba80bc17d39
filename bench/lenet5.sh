#!/usr/bin/env bash
# Workloads 1 and 5 of the benchmarks: LeNet-5 training on Fashion-MNIST, batch 64, images per
# second over one epoch (the median of RUNS runs), cnn with 1 and 2 threads against PyTorch 1.13
# with 1 and 2 threads, NCHW and channels-last, in the same run; then the peak resident memory
# of each side's best setting.
#   bench/lenet5.sh [RUNS]        (default 3; needs make all, dataset-fashion-mnist, python3-torch)
# PyTorch runs with OpenBLAS held to one thread (its own threads fight PyTorch's here). Both use
# the OpenBLAS kernels that OPENBLAS_CORETYPE selects (unset: detected; printed below).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cnn=build/cnn
[ -x "$cnn" ] || { echo "build first: make all" >&2; exit 1; }
[ -x /usr/bin/time ] || apt-get install -y -q time >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cnn_rate() { # threads
    for _ in $(seq "$runs"); do
        "$cnn" train --model lenet5 --epochs 1 --batch 64 --opt adam --lr 0.001 --wd 0 --schedule constant --augment none --threads "$1" --force --out "$tmp/m.ckpt" 2>/dev/null |
            sed -n 's/^epoch .*(\([0-9]*\) img\/s)$/\1/p'
    done | median
}

torch_rate() { # threads, extra flags
    for _ in $(seq "$runs"); do
        OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_lenet5.py --epochs 1 --threads "$1" ${2:-} |
            sed -n 's/^epoch .*(\([0-9]*\) img\/s)$/\1/p'
    done | median
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $(date -u +%F)"
printf '%-34s %12s\n' "LeNet-5 training, batch 64" "images/s"
c1=$(cnn_rate 1); printf '%-34s %12s\n' "cnn, 1 thread" "$c1"
c2=$(cnn_rate 2); printf '%-34s %12s\n' "cnn, 2 threads" "$c2"
t1=$(torch_rate 1); printf '%-34s %12s\n' "PyTorch, 1 thread, NCHW" "$t1"
t2=$(torch_rate 2); printf '%-34s %12s\n' "PyTorch, 2 threads, NCHW" "$t2"
t3=$(torch_rate 1 --channels-last); printf '%-34s %12s\n' "PyTorch, 1 thread, channels-last" "$t3"
t4=$(torch_rate 2 --channels-last); printf '%-34s %12s\n' "PyTorch, 2 threads, channels-last" "$t4"
best_c=$(printf '%s\n' "$c1" "$c2" | sort -n | tail -1)
best_t=$(printf '%s\n' "$t1" "$t2" "$t3" "$t4" | sort -n | tail -1)
ct=1; [ "$best_c" = "$c2" ] && ct=2
awk -v c="$best_c" -v t="$best_t" 'BEGIN { printf "best cnn / best PyTorch: %.2fx\n", c / t }'

rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p'; }
rc=$(rss "$cnn" train --model lenet5 --epochs 1 --batch 64 --opt adam --lr 0.001 --wd 0 --schedule constant --augment none --threads "$ct" --force --out "$tmp/m.ckpt")
rt=$(OPENBLAS_NUM_THREADS=1 rss /usr/bin/python3 bench/torch_lenet5.py --epochs 1 --threads 1)
awk -v c="$rc" -v t="$rt" 'BEGIN { printf "peak memory (max RSS): cnn %.0f MiB, PyTorch %.0f MiB\n", c / 1024, t / 1024 }'
