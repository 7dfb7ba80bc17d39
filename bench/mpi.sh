#!/usr/bin/env bash
# Data-parallel training throughput on this machine (docs/DISTRIBUTED.md, docs/BENCHMARKS.md):
# LeNet-5 and resnet20 on Fashion-MNIST, one epoch each, as
#   1x2      one process, 2 threads
#   2x1 shm  2 MPI ranks of 1 thread, over shared memory (OpenMPI's vader)
#   2x1 tcp  2 MPI ranks of 1 thread, forced over TCP (--mca btl tcp,self), as between machines
# the MPI ones with gradient buckets summed during backward (1 MB, the default) and with one
# sum after backward (--bucket 0), interleaved, RUNS times each; prints every run's images/s
# and the seconds its ranks spent waiting for sums, then the medians. The global batch is 64.
#   bench/mpi.sh [RUNS] [BUILD]
set -euo pipefail
runs=${1:-3}
build=${2:-build}
cd "$(dirname "$0")/.."
cnn=$(pwd)/$build/cnn
mpi=(mpirun --allow-run-as-root --oversubscribe -np 2 --bind-to none)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores;" \
    "$(mpirun --version | head -1)"

# run MODEL LIMIT CONFIG: "images/s summing-seconds epoch-seconds"
run() {
    local model=$1 limit=$2 config=$3 out
    local args=(train --model "$model" --data fashion-mnist --epochs 1 --seed 1 --val 0
                --force --out "$tmp/m.ckpt")
    [ "$limit" = 0 ] || args+=(--limit "$limit")
    case $config in
    1x2) out=$("$cnn" "${args[@]}" --threads 2 2>/dev/null) ;;
    2x1-shm) out=$("${mpi[@]}" "$cnn" "${args[@]}" --threads 1 2>/dev/null) ;;
    2x1-shm-1sum) out=$("${mpi[@]}" "$cnn" "${args[@]}" --threads 1 --bucket 0 2>/dev/null) ;;
    2x1-tcp) out=$("${mpi[@]}" --mca btl tcp,self "$cnn" "${args[@]}" --threads 1 2>/dev/null) ;;
    2x1-tcp-1sum)
        out=$("${mpi[@]}" --mca btl tcp,self "$cnn" "${args[@]}" --threads 1 --bucket 0 2>/dev/null) ;;
    esac
    sed -n 's/^epoch .*  \([0-9.]*\)s  (\([0-9]*\) img\/s\(, \([0-9.]*\)s summing.*\)\?).*/\2|\4|\1/p' <<<"$out" |
        awk -F'|' '{ print $1, ($2 == "" ? 0 : $2), $3 }'
}

configs=(1x2 2x1-shm 2x1-shm-1sum 2x1-tcp 2x1-tcp-1sum)
declare -A ips wait
for model in lenet5:0 resnet20:4000; do
    name=${model%%:*} limit=${model#*:}
    for r in $(seq "$runs"); do
        for config in "${configs[@]}"; do
            read -r i w e <<<"$(run "$name" "$limit" "$config")"
            printf '%-9s %-13s run %d: %s img/s, %s s waiting for sums, epoch %s s\n' "$name" \
                "$config" "$r" "$i" "$w" "$e"
            ips[$name,$config]+="$i "
            wait[$name,$config]+="$w/$e "
        done
    done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# The median share of the epoch spent waiting for sums, in percent.
share() { tr ' ' '\n' | sed '/^$/d' | awk -F/ '{ printf "%.1f\n", 100 * $1 / $2 }' | sort -n |
          awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo
echo "| model | configuration | images/s (median) | waiting for sums (share of the epoch) |"
echo "|---|---|---:|---:|"
for name in lenet5 resnet20; do
    for config in "${configs[@]}"; do
        printf '| %s | %s | %s | %s%% |\n' "$name" "$config" "$(median <<<"${ips[$name,$config]}")" \
            "$(share <<<"${wait[$name,$config]}")"
    done
done
