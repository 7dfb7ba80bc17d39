#!/usr/bin/env bash
# Data-parallel training throughput on this machine (docs/DISTRIBUTED.md, docs/BENCHMARKS.md):
# LeNet-5 and resnet20 on Fashion-MNIST, one epoch each, as
#   1x2      one process, 2 threads
#   2x1 shm  2 MPI ranks of 1 thread, over shared memory (OpenMPI's vader)
#   2x1 tcp  2 MPI ranks of 1 thread, forced over TCP (--mca btl tcp,self), as between machines
# interleaved, RUNS times each; prints every run's images/s and the seconds its ranks spent
# summing gradients, then the median of each. The global batch is 64 in all three.
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
    2x1-tcp) out=$("${mpi[@]}" --mca btl tcp,self "$cnn" "${args[@]}" --threads 1 2>/dev/null) ;;
    esac
    sed -n 's/^epoch .*  \([0-9.]*\)s  (\([0-9]*\) img\/s\(, \([0-9.]*\)s summing.*\)\?).*/\2 \4 \1/p' <<<"$out" |
        awk '{ print $1, ($2 == "" ? 0 : $2), $3 }'
}

declare -A all
for model in lenet5:0 resnet20:4000; do
    name=${model%%:*} limit=${model#*:}
    for r in $(seq "$runs"); do
        for config in 1x2 2x1-shm 2x1-tcp; do
            res=$(run "$name" "$limit" "$config")
            printf '%-9s %-8s run %d: %s img/s, %s s summing of %s s\n' "$name" "$config" "$r" $res
            all[$name,$config]+="$(cut -d' ' -f1 <<<"$res") "
        done
    done
done
echo
echo "| model | 1 process x 2 threads | 2 ranks x 1 thread, shared memory | 2 ranks x 1 thread, TCP |"
echo "|---|---:|---:|---:|"
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for name in lenet5 resnet20; do
    printf '| %s | %s img/s | %s img/s | %s img/s |\n' "$name" \
        "$(median <<<"${all[$name,1x2]}")" "$(median <<<"${all[$name,2x1-shm]}")" \
        "$(median <<<"${all[$name,2x1-tcp]}")"
done
