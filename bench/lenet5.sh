#!/usr/bin/env bash
# Workloads 1 and 5 of the benchmarks: LeNet-5 training on Fashion-MNIST, batch 64, images per
# second over one epoch (the median of RUNS rounds, each running every setting once), cnn with 1
# and 2 threads against PyTorch 1.13 with 1 and 2 threads, NCHW and channels-last, in the same
# run; then the peak resident memory of each side's best setting.
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

# One epoch of one setting: its images/s.
cnn_rate() { # threads
    "$cnn" train --model lenet5 --epochs 1 --batch 64 --opt adam --lr 0.001 --wd 0 --schedule constant --augment none --threads "$1" --force --out "$tmp/m.ckpt" 2>/dev/null |
        sed -n 's/^epoch .*(\([0-9]*\) img\/s)$/\1/p'
}

torch_rate() { # threads, extra flags
    # shellcheck disable=SC2086  # no flags: no word
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_lenet5.py --epochs 1 --threads "$1" ${2:-} |
        sed -n 's/^epoch .*(\([0-9]*\) img\/s)$/\1/p'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $(date -u +%F)"
# RUNS rounds, each running every setting once, cnn and PyTorch in turn, so that the host's
# changes of pace (a LeNet-5 epoch takes one or two seconds) hit both sides alike; each row is
# the median of its rounds, and each round gives a ratio of its own (best against best).
labels=("cnn, 1 thread" "cnn, 2 threads" "PyTorch, 1 thread, NCHW" "PyTorch, 2 threads, NCHW"
        "PyTorch, 1 thread, channels-last" "PyTorch, 2 threads, channels-last")
for ((r = 1; r <= runs; r++)); do # one rate per label, in the labels' order
    round=("$(cnn_rate 1)" "$(cnn_rate 2)" "$(torch_rate 1)" "$(torch_rate 2)"
           "$(torch_rate 1 --channels-last)" "$(torch_rate 2 --channels-last)")
    for k in "${!round[@]}"; do echo "${round[k]}" >> "$tmp/rates.$k"; done
    printf '%s\n' "${round[@]}" |
        awk 'NR <= 2 && $1 > c { c = $1 } NR > 2 && $1 > t { t = $1 } END { if (t > 0) printf "%.2f\n", c / t }' >> "$tmp/ratios"
done
printf '%-34s %12s\n' "LeNet-5 training, batch 64" "images/s"
declare -a med
for k in "${!labels[@]}"; do
    med[k]=$(median < "$tmp/rates.$k")
    printf '%-34s %12s\n' "${labels[k]}" "${med[k]}"
done
best_c=$(printf '%s\n' "${med[0]}" "${med[1]}" | sort -n | tail -1)
best_t=$(printf '%s\n' "${med[@]:2}" | sort -n | tail -1)
ct=1; [ "$best_c" = "${med[1]}" ] && ct=2
awk -v c="$best_c" -v t="$best_t" -v lo="$(sort -n "$tmp/ratios" | head -1)" -v hi="$(sort -n "$tmp/ratios" | tail -1)" \
    'BEGIN { printf "best cnn / best PyTorch: %.2fx (rounds %s-%s)\n", c / t, lo, hi }'

rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p'; }
rc=$(rss "$cnn" train --model lenet5 --epochs 1 --batch 64 --opt adam --lr 0.001 --wd 0 --schedule constant --augment none --threads "$ct" --force --out "$tmp/m.ckpt")
rt=$(OPENBLAS_NUM_THREADS=1 rss /usr/bin/python3 bench/torch_lenet5.py --epochs 1 --threads 1)
awk -v c="$rc" -v t="$rt" 'BEGIN { printf "peak memory (max RSS): cnn %.0f MiB, PyTorch %.0f MiB\n", c / 1024, t / 1024 }'
