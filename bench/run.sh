#!/usr/bin/env bash
# Every benchmark workload, cnn side by side with PyTorch 1.13 (and oneDNN for the convolution)
# in the same run, on the same shapes and batches; prints each setting's median and, at the end,
# a table of the best of each side with the ratios and the fraction of the machine's peak.
#
#   bench/run.sh [RUNS] [WORKLOAD...]     RUNS: repetitions per setting (default 3), the median
#                                         is reported; WORKLOAD (default all):
#       1, 5, lenet5   LeNet-5 training on Fashion-MNIST and peak memory (bench/lenet5.sh)
#       2, cifar       ResNet-18 CIFAR (zoo resnet18_cifar, 3x32x32, 10 classes), batch 64:
#                      training images/s (forward, backward, SGD momentum step) and inference
#                      images/s (evaluation mode, forward only)
#       3, latency     ResNet-18 (zoo resnet18, 3x224x224, 1000 classes), batch 1: inference
#                      latency in ms
#       resnet         2 and 3
#       4, conv        one 3x3 convolution 64 -> 64 channels, 56x56, padding 1, stride 1, no
#                      bias, batch 1 and 8: GFLOP/s forward and forward + backward (input and
#                      weight gradients), counting 2*N*OC*OH*OW*IC*KH*KW per forward and 3x
#                      that for forward + backward; also against oneDNN
#   e.g. bench/run.sh 3 resnet;   bench/run.sh 1 conv;   BENCH_WORKLOADS="2 4" bench/run.sh 3
#   (a first argument that is a number is RUNS: "bench/run.sh 3" runs everything 3 times.)
#
# Settings: cnn with 1 and 2 threads (cnn_net_set_threads), and for inference also the copy
# cnn_net_fuse makes (batch norm folded into the convolutions, ReLUs applied by them: an
# explicit opt-in, labelled "fused"), and the 8-bit copy cnn_net_quantize makes (labelled
# "int8", compared with cnn's best float32 in rows of their own; calibrated on random images,
# which the speed does not depend on); PyTorch with 1 and 2 threads
# (torch.set_num_threads), NCHW and channels-last, with OpenBLAS held to one thread and
# /usr/bin/python3; oneDNN with 1 and 2 OpenMP threads, plain nchw/oihw and its preferred
# blocked layouts (reorders between primitives not timed). Each side's best setting is compared.
# Workloads 2 to 4 also measure the machine's peak with 1 and 2 threads: bench/fma_peak.c, a
# loop of independent multiply-adds on each thread at once, on the vectors cnn's kernels use
# (512-bit where they run at the AVX-512 level, 256-bit at avx2 or vnni, 128-bit without FMA
# at baseline), and a 2048^3 cblas_sgemm (OpenBLAS, pthread build), a practical figure that
# OPENBLAS_CORETYPE=Haswell holds to 256-bit vectors. "cnn/peak" (and the convolution's
# percentages) divide cnn's GFLOP/s (for the ResNets: multiply-adds of convolutions and dense
# layers x2, x3 for training) by the FMA peak at cnn's best thread count: above 100% where
# Winograd's kernels do fewer multiply-adds than the direct convolution these figures count.
# A multi-thread FMA figure below 3/4 of the thread count times the 1-thread one gets a NOTE:
# the processors shared a core while the loop ran, and "cnn/peak" at that count means nothing.
#
# Each setting is a separate process: warm-up steps, then RUNS repetitions of a fixed number of
# steps (cnn and PyTorch do the same work), timed with CLOCK_MONOTONIC / time.perf_counter; the
# median repetition is reported (latency: each repetition is the median of its passes). The
# ResNet workloads (2, 3) run instead in RUNS rounds, each round every setting once, cnn and
# PyTorch in turn: each row gives the median and the range of its rounds, and each ratio of the
# summary the range of the rounds' own ratios (best of each side within the round), since a
# shared host's pace changes within minutes. The
# programs: bench/cnn_bench.c (public API of include/cnn.h only), bench/torch_bench.py,
# bench/dnnl_conv.c (compiled here), bench/sgemm_peak.c, bench/fma_peak.c (built by make all
# into build/bench/, as bench/cores.c is).
# Raw lines go to build/bench/results.txt. bench/cores.c measures how far apart the two
# processors are (a cache line's round trip between them) at the start and before each ResNet
# round: on shared hosts the hypervisor moves them between one core complex and two dies, and
# 2-thread times follow.
#
# Needs: make all; python3-torch and python3-torchvision; for workload 4 libdnnl-dev (installed
# here with apt-get when missing and running as root). Takes about 15 minutes with RUNS=3 on 2
# cores. Knobs (environment, defaults in brackets): BENCH_WORKLOADS [all], BENCH_THREADS [1 2],
# BENCH_BATCH [64], BENCH_WARMUP [2 steps], BENCH_TRAIN_STEPS [3 per repetition],
# BENCH_INFER_STEPS [5], BENCH_LATENCY_STEPS [20], BENCH_CONV_SECONDS [0.3 per repetition].
# OPENBLAS_CORETYPE is left as it is in the environment (unset: OpenBLAS detects the CPU) and
# printed, as is the instruction set cnn's kernels use (cnn version; CNN_ISA=avx2 bench/run.sh
# holds cnn's kernels to AVX2 on an AVX-512 host).
# shellcheck disable=SC2086  # splitting $cl, $line and $threads_list into words is intended
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

runs=3
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
[ "$runs" -ge 1 ] || { echo "bench/run.sh: RUNS must be at least 1" >&2; exit 2; }
sel="${*:-${BENCH_WORKLOADS:-all}}"
w1=0 w2=0 w3=0 w4=0
for w in ${sel//,/ }; do
    case $w in
    all) w1=1 w2=1 w3=1 w4=1 ;;
    1 | 5 | lenet5 | lenet) w1=1 ;;
    2 | cifar) w2=1 ;;
    3 | latency) w3=1 ;;
    resnet) w2=1 w3=1 ;;
    4 | conv) w4=1 ;;
    *) echo "bench/run.sh: unknown workload '$w' (1 2 3 4 5 lenet5 cifar latency resnet conv all)" >&2
       exit 2 ;;
    esac
done

threads_list=${BENCH_THREADS:-1 2}
batch=${BENCH_BATCH:-64}
opts=(--runs "$runs" --batch "$batch" --warmup "${BENCH_WARMUP:-2}"
      --train-steps "${BENCH_TRAIN_STEPS:-3}" --infer-steps "${BENCH_INFER_STEPS:-5}"
      --latency-steps "${BENCH_LATENCY_STEPS:-20}" --conv-seconds "${BENCH_CONV_SECONDS:-0.3}")
opts1=("${opts[@]}")
opts1[1]=1 # --runs 1: the ResNet workloads repeat in rounds (resnet_workload)
PY=/usr/bin/python3

# ---- checks and builds ---------------------------------------------------------------------
# make all builds the library, the tool and the benchmark programs but dnnl_conv (built below:
# only the benchmarks install oneDNN).
stale=0
for f in libcnn.a cnn bench/cnn_bench bench/cores bench/fma_peak bench/sgemm_peak; do
    if [ ! -f "build/$f" ]; then
        echo "bench/run.sh: build first: make all (build/$f is missing)" >&2
        exit 1
    fi
    case $f in bench/*) [ "$f.c" -nt "build/$f" ] && stale=1 ;; esac
done
# (Not make -q: the generated layer table's rule always looks out of date to it.)
if [ "$stale" = 1 ] || [ -n "$(find src include cli -newer build/libcnn.a -name '*.[ch]' | head -1)" ]; then
    echo "bench/run.sh: warning: build/ is older than the sources (make all to refresh)" >&2
fi
if [ $((w2 + w3 + w4)) -gt 0 ]; then
    $PY -c 'import torch, torchvision' 2>/dev/null ||
        { echo "bench/run.sh: $PY cannot import torch and torchvision (apt-get install python3-torchvision)" >&2; exit 1; }
fi
if [ "$w4" = 1 ] && [ ! -f /usr/include/dnnl.h ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y -q libdnnl-dev >/dev/null || { echo "bench/run.sh: apt-get install libdnnl-dev failed" >&2; exit 1; }
    else
        echo "bench/run.sh: workload 4 needs oneDNN: apt-get install -y libdnnl-dev (as root)" >&2; exit 1
    fi
fi
CFLAGS=(-O2 -march=x86-64-v2 -fopenmp -Wall -Wextra)
if [ "$w4" = 1 ]; then
    gcc "${CFLAGS[@]}" bench/dnnl_conv.c -ldnnl -lm -o build/bench/dnnl_conv
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
raw=build/bench/results.txt
: > "$raw"

# ---- results: val["framework|workload|threads|layout"] = median ----------------------------
# vals[key]: every value a key got, in the order of the runs (of the rounds, for the ResNets).
declare -A val=() vals=() info=()
parse() { # file
    local line kv
    while read -r line; do
        case $line in
        RESULT\ *)
            declare -A f=()
            for kv in ${line#RESULT }; do f[${kv%%=*}]=${kv#*=}; done
            val["${f[framework]}|${f[workload]}|${f[threads]}|${f[layout]}"]=${f[value]}
            vals["${f[framework]}|${f[workload]}|${f[threads]}|${f[layout]}"]+="${f[value]} "
            unset f ;;
        INFO\ cnn\ *)
            set -- $line
            info["macs|$3"]=$(sed 's/.*macs_per_image=\([0-9]*\).*/\1/' <<<"$line") ;;
        esac
    done < "$1"
}
run() { # command...: runs it, keeps its lines, stops the benchmark if it fails
    if ! "$@" > "$tmp/out" 2> "$tmp/err"; then
        echo "bench/run.sh: failed: $*" >&2
        cat "$tmp/out" "$tmp/err" >&2
        exit 1
    fi
    cat "$tmp/out" >> "$raw"
    parse "$tmp/out"
}
label() { # framework threads layout
    local s t="$2 threads"
    [ "$2" = 1 ] && t="1 thread"
    case $1 in
    cnn) s="cnn, $t"; [ "${3:-}" = fused ] && s="$s, fused (cnn_net_fuse)"
         [ "${3:-}" = int8 ] && s="$s, int8 (cnn_net_quantize)" ;;
    torch) s="PyTorch, $t, $([ "$3" = nchw ] && echo NCHW || echo channels-last)" ;;
    dnnl) s="oneDNN, $t, $([ "$3" = nchw ] && echo nchw || echo blocked)" ;;
    esac
    echo "$s"
}
short() { # framework threads layout: "2t", "2t cl", "1t blocked"
    local s="$2t"
    case $3 in channels_last) s="$s cl" ;; blocked) s="$s blocked" ;; fused) s="$s fused" ;; int8) s="$s int8" ;; esac
    echo "$s"
}
best() { # framework workload max|min [int8] -> "value threads layout" (empty if none): float32
    # settings, or with int8 the 8-bit ones only
    local k v bv="" bk=""
    for k in "${!val[@]}"; do
        [[ $k == "$1|$2|"* ]] || continue
        if [ "${4:-}" = int8 ]; then [[ $k == *"|int8" ]] || continue; else [[ $k == *"|int8" ]] && continue; fi
        v=${val[$k]}
        if [ -z "$bv" ] || awk -v a="$v" -v b="$bv" -v d="$3" 'BEGIN { exit !(d == "max" ? a > b : a < b) }'; then
            bv=$v bk=$k
        fi
    done
    [ -n "$bk" ] || return 0
    IFS='|' read -r _ _ t l <<< "$bk"
    echo "$bv $t $l"
}
fmt() { awk -v v="$1" 'BEGIN { if (v == "") print "-"; else if (v >= 1000) printf "%.0f\n", v; else printf "%.1f\n", v }'; }
row() { printf '  %-40s %12s\n' "$1" "$2"; }

torch_settings() { for t in $threads_list; do for cl in "" --channels-last; do echo "$t $cl"; done; done; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $(date -u +%F)," \
     "$(build/cnn version 2>/dev/null | sed -n 's/^kernels: /cnn kernels: /p')"
echo "software: $(gcc --version | head -1), $(build/cnn --version 2>/dev/null | head -1 || echo 'cnn ?')," \
     "PyTorch $($PY -c 'import torch; print(torch.__version__)' 2>/dev/null || echo missing)," \
     "oneDNN $(dpkg-query -W -f='${Version}' libdnnl-dev 2>/dev/null || echo missing)"
echo "RUNS=$runs, workloads: $sel"
run build/bench/cores
echo "cores: $(sed -n 's/^INFO cores //p' "$tmp/out") (bench/cores.c: ~120 ns, one core complex; ~450, two dies)"

# ---- workloads 1 and 5: LeNet-5 (bench/lenet5.sh) -------------------------------------------
if [ "$w1" = 1 ]; then
    echo
    echo "== workloads 1 and 5: bench/lenet5.sh $runs"
    bench/lenet5.sh "$runs" | tee "$tmp/lenet5.txt" | grep -v '^machine:'
    sed 's/^/LENET5 /' "$tmp/lenet5.txt" >> "$raw"
fi

# ---- peak: FMA loop and SGEMM ---------------------------------------------------------------
declare -A peak=()
if [ $((w2 + w3 + w4)) -gt 0 ]; then
    # The vectors of cnn's kernels: vnni hosts run the float kernels at the AVX2 level.
    case $(build/cnn version 2>/dev/null | sed -n 's/^kernels: \([a-z0-9]*\).*/\1/p') in
    avx512) fma_isa=avx512 ;;
    baseline) fma_isa=baseline ;;
    *) fma_isa=avx2 ;;
    esac
    echo
    echo "== peak: multiply-adds ($fma_isa vectors, every thread at once: bench/fma_peak.c)   GFLOP/s"
    run build/bench/fma_peak --isa "$fma_isa" --runs "$runs" $threads_list
    for t in $threads_list; do
        peak[$t]=${val["host|fma|$t|$fma_isa"]}
        row "FMA loop, $(label cnn "$t" | sed 's/^cnn, //')" "$(fmt "${peak[$t]}")"
    done
    # On a shared host the threads' processors may run on one core for a while: the loop
    # then reads the 1-thread rate at 2 threads, and the cnn/peak figures at that count mean
    # nothing. Said where it happens rather than left to be noticed.
    for t in $threads_list; do
        if [ "$t" -gt 1 ] && [ -n "${peak[1]:-}" ] && [ -n "${peak[$t]:-}" ] &&
            awk -v p="${peak[$t]}" -v o="${peak[1]}" -v t="$t" \
                'BEGIN { exit !(p < 0.75 * t * o) }'; then
            echo "  NOTE: $t threads gave $(fmt "${peak[$t]}"), less than 3/4 of $t x the 1-thread" \
                "$(fmt "${peak[1]}"): the processors shared cores while the loop ran"
        fi
    done
    echo "== cblas_sgemm 2048x2048x2048 (OpenBLAS)                GFLOP/s"
    run build/bench/sgemm_peak --runs "$runs" $threads_list
    sed -n 's/^INFO openblas /  /p' "$tmp/out"
    for t in $threads_list; do
        row "OpenBLAS sgemm, $(label cnn "$t" | sed 's/^cnn, //')" \
            "$(fmt "${val["openblas|sgemm|$t|rowmajor"]}")"
    done
fi

settle() { # key label: val[key] = the median of vals[key]; prints the row with the range
    local m
    m=$(tr ' ' '\n' <<<"${vals[$1]:-}" | grep . | sort -g | awk '{ v[++n] = $1 } END {
        if (n) printf "%s %s %s\n", (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2, v[1], v[n] }')
    [ -n "$m" ] || return 0
    set -- "$1" "$2" $m
    val[$1]=$3
    printf '  %-40s %12s  (%s-%s)\n' "$2" "$(fmt "$3")" "$(fmt "$4")" "$(fmt "$5")"
}
resnet_workload() { # workload title unit
    echo
    echo "== $2 (median of $runs rounds, their range)"
    # RUNS rounds, each running every setting once (cnn, cnn fused and int8 for inference, then
    # PyTorch NCHW and channels-last, at each thread count), so that the host's changes of pace
    # (2-thread times move by 20-30% within minutes on shared hosts) hit every side alike and
    # each round gives a ratio of its own (round_ratios).
    local fused=0 t cl l r
    [ "$1" = cifar-train ] || fused=1
    for ((r = 1; r <= runs; r++)); do
        run build/bench/cores
        for t in $threads_list; do
            run build/bench/cnn_bench --threads "$t" "${opts1[@]}" "$1"
            if [ "$fused" = 1 ]; then
                run build/bench/cnn_bench --threads "$t" --fused 1 "${opts1[@]}" "$1"
                run build/bench/cnn_bench --threads "$t" --int8 1 "${opts1[@]}" "$1"
            fi
            for cl in "" --channels-last; do
                run env OPENBLAS_NUM_THREADS=1 $PY bench/torch_bench.py --threads "$t" $cl "${opts1[@]}" "$1"
            done
        done
    done
    for t in $threads_list; do
        settle "cnn|$1|$t|nchw" "$(label cnn "$t" nchw)"
        if [ "$fused" = 1 ]; then
            settle "cnn|$1|$t|fused" "$(label cnn "$t" fused)"
            settle "cnn|$1|$t|int8" "$(label cnn "$t" int8)"
        fi
        for l in nchw channels_last; do settle "torch|$1|$t|$l" "$(label torch "$t" "$l")"; done
    done
}
round_ratios() { # workload max|min [int8]: "lo-hi" of each round's ratio: cnn's best float32
    # setting (or best int8 one) over PyTorch's best (or cnn's best float32) in that round
    local k
    for k in "${!vals[@]}"; do
        [[ $k == *"|$1|"* ]] || continue
        case $k in
        cnn\|*\|int8) [ "${3:-}" = int8 ] && echo "A $k ${vals[$k]}" ;;
        cnn\|*) [ "${3:-}" = int8 ] && echo "B $k ${vals[$k]}" || echo "A $k ${vals[$k]}" ;;
        torch\|*) [ "${3:-}" = int8 ] || echo "B $k ${vals[$k]}" ;;
        esac
    done | awk -v d="$2" '{ for (i = 3; i <= NF; i++) { r = i - 2
            if (!(($1, r) in best) || (d == "max" ? $i > best[$1, r] : $i < best[$1, r])) best[$1, r] = $i
            if (r > n) n = r } }
        END { for (r = 1; r <= n; r++) { if (!(("A", r) in best) || !(("B", r) in best)) continue
                x = d == "max" ? best["A", r] / best["B", r] : best["B", r] / best["A", r]
                if (lo == "" || x < lo) lo = x; if (hi == "" || x > hi) hi = x }
              if (lo != "") printf "%.2f-%.2f\n", lo, hi }'
}

speedup_rounds() { # "lo-hi" of each round's cnn training rate at 2 threads over its rate at 1
    awk -v a="${vals["cnn|cifar-train|1|nchw"]:-}" -v b="${vals["cnn|cifar-train|2|nchw"]:-}" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (r = 1; r <= n; r++) if (x[r] > 0 && y[r] != "") {
            q = y[r] / x[r]; if (lo == "" || q < lo) lo = q; if (hi == "" || q > hi) hi = q }
        if (lo != "") printf "%.2f-%.2f\n", lo, hi }'
}

if [ "$w2" = 1 ]; then
    resnet_workload cifar-train "workload 2: ResNet-18 CIFAR training, batch $batch (forward, backward, SGD momentum)   images/s"
    resnet_workload cifar-infer "workload 2: ResNet-18 CIFAR inference, batch $batch (evaluation mode)               images/s"
fi
if [ "$w3" = 1 ]; then
    resnet_workload latency "workload 3: ResNet-18 224x224 inference latency, batch 1 (median)                     ms"
fi

convs=(conv-b1-fwd conv-b1-fwdbwd conv-b8-fwd conv-b8-fwdbwd)
conv_row() { # framework threads layout
    local c v out=""
    for c in "${convs[@]}"; do
        v=${val["$1|$c|$2|$3"]:-}
        out+=$(awk -v v="$v" -v p="${peak[$2]:-}" 'BEGIN { if (v == "") printf "%16s", "-";
            else if (p != "") printf "%9.1f (%3.0f%%)", v, 100 * v / p; else printf "%16.1f", v }')
    done
    printf '  %-34s%s\n' "$(label "$1" "$2" "$3")" "$out"
}
if [ "$w4" = 1 ]; then
    echo
    echo "== workload 4: conv2d 3x3, 64 -> 64, 56x56, padding 1, stride 1   GFLOP/s (% of the FMA peak at the same threads)"
    printf '  %-34s%16s%16s%16s%16s\n' setting "batch 1 fwd" "b1 fwd+bwd" "batch 8 fwd" "b8 fwd+bwd"
    for t in $threads_list; do
        run build/bench/cnn_bench --threads "$t" "${opts[@]}" conv
        conv_row cnn "$t" nchw
    done
    while read -r t cl; do
        run env OPENBLAS_NUM_THREADS=1 $PY bench/torch_bench.py --threads "$t" $cl "${opts[@]}" conv
        l=nchw; [ -n "$cl" ] && l=channels_last
        conv_row torch "$t" "$l"
    done < <(torch_settings)
    for t in $threads_list; do
        for l in nchw blocked; do
            run build/bench/dnnl_conv --threads "$t" --layout "$l" --runs "$runs" \
                --conv-seconds "${BENCH_CONV_SECONDS:-0.3}"
            conv_row dnnl "$t" "$l"
        done
    done
    grep -h '^INFO dnnl conv-b8-fwdbwd threads=1' "$raw" | sed 's/^INFO dnnl conv-b8-fwdbwd threads=1 /  oneDNN kernels, /'
fi

# ---- summary --------------------------------------------------------------------------------
echo
echo "== summary (RUNS=$runs; best setting of each side in brackets; ratios > 1: cnn is faster," \
     "for memory: cnn / PyTorch, lower is better)"
printf '%-38s %-7s %-17s %-20s %-20s %-20s %-11s %s\n' workload unit cnn PyTorch oneDNN \
    cnn/PyTorch cnn/oneDNN cnn/peak
sumrow() { # title unit cnn torch dnnl ratio_torch ratio_dnnl frac
    printf '%-38s %-7s %-17s %-20s %-20s %-20s %-11s %s\n' "$@"
}
spread() { # ratio "lo-hi": "1.45x (rounds 1.30-1.60)"
    if [ -n "$2" ] && [ "$1" != - ]; then echo "$1 ($2)"; else echo "$1"; fi
}
ratio() { # a b higher|lower: speed ratio of cnn (a) over other (b)
    awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { if (a == "" || b == "" || a == 0 || b == 0) print "-";
        else printf "%.2fx\n", d == "higher" ? a / b : b / a }'
}
cell() { # "value threads layout" -> "value [2t cl]"
    [ -n "$1" ] || { echo "-"; return; }
    set -- $1
    echo "$(fmt "$1") [$(short x "$2" "$3")]"
}
frac() { # cnn_best_line gflop_per_unit kind(rate|ms|gflops)
    [ -n "$1" ] || { echo "-"; return; }
    set -- $1 "$2" "$3"
    local p=${peak[$2]:-}
    awk -v v="$1" -v g="$4" -v k="$5" -v p="$p" 'BEGIN { if (p == "" || (k != "gflops" && g == "")) { print "-"; exit }
        r = (k == "rate") ? v * g : (k == "ms") ? g / (v / 1000) : v
        printf "%.0f%%\n", 100 * r / p }'
}

if [ "$w1" = 1 ]; then
    lbest() { # prefix -> "value label"
        grep "^$1" "$tmp/lenet5.txt" | awk '{ v = $NF; $NF = ""; if (v > bv) { bv = v; bl = $0 } }
            END { print bv "|" bl }'
    }
    IFS='|' read -r lc lcl <<< "$(lbest 'cnn, ')"
    IFS='|' read -r lt ltl <<< "$(lbest 'PyTorch, ')"
    lcs=$(echo "$lcl" | sed -E 's/cnn, ([0-9]+) threads?.*/\1t/')
    lts=$(echo "$ltl" | sed -E 's/PyTorch, ([0-9]+) threads?, (NCHW|channels-last).*/\1t \2/; s/ NCHW//; s/ channels-last/ cl/')
    lr=$(sed -n 's/^best cnn .*(rounds \([0-9.]*-[0-9.]*\))$/\1/p' "$tmp/lenet5.txt")
    sumrow "1 LeNet-5 training, batch 64" "img/s" "$lc [$lcs]" "$lt [$lts]" - \
        "$(spread "$(ratio "$lc" "$lt" higher)" "$lr")" - -
fi
if [ "$w2" = 1 ]; then
    m=${info["macs|resnet18_cifar"]:-}
    g=$(awk -v m="$m" 'BEGIN { if (m != "") print 2 * m / 1e9 }')
    for w in cifar-train cifar-infer; do
        c=$(best cnn "$w" max) t=$(best torch "$w" max)
        gw=$g; [ "$w" = cifar-train ] && gw=$(awk -v g="$g" 'BEGIN { if (g != "") print 3 * g }')
        title="2 ResNet-18 CIFAR training, b$batch"; [ "$w" = cifar-infer ] && title="2 ResNet-18 CIFAR inference, b$batch"
        sumrow "$title" "img/s" "$(cell "$c")" "$(cell "$t")" - \
            "$(spread "$(ratio "${c%% *}" "${t%% *}" higher)" "$(round_ratios "$w" max)")" - \
            "$(frac "$c" "$gw" rate)"
    done
    q=$(best cnn cifar-infer max int8) c=$(best cnn cifar-infer max)
    sumrow "2 ... inference int8 against float32" "img/s" "$(cell "$q")" "$(cell "$c") (cnn)" - \
        "$(spread "$(ratio "${q%% *}" "${c%% *}" higher)" "$(round_ratios cifar-infer max int8)")" - -
    # The speed-up from 1 to 2 threads of each side's training (its best layout at each).
    c1=${val["cnn|cifar-train|1|nchw"]:-} c2=${val["cnn|cifar-train|2|nchw"]:-}
    t1=$(for l in nchw channels_last; do echo "${val["torch|cifar-train|1|$l"]:-}"; done | sort -g | tail -1)
    t2=$(for l in nchw channels_last; do echo "${val["torch|cifar-train|2|$l"]:-}"; done | sort -g | tail -1)
    if [ -n "$c1" ] && [ -n "$c2" ] && [ -n "$t1" ] && [ -n "$t2" ]; then
        sumrow "2 training speed-up, 1 -> 2 threads" "x" \
            "$(spread "$(awk -v a="$c2" -v b="$c1" 'BEGIN { printf "%.2f\n", a / b }')" "$(speedup_rounds)")" \
            "$(awk -v a="$t2" -v b="$t1" 'BEGIN { printf "%.2f\n", a / b }')" - - - -
    fi
fi
if [ "$w3" = 1 ]; then
    m=${info["macs|resnet18"]:-}
    g=$(awk -v m="$m" 'BEGIN { if (m != "") print 2 * m / 1e9 }')
    c=$(best cnn latency min) t=$(best torch latency min)
    sumrow "3 ResNet-18 224x224 latency, b1" "ms" "$(cell "$c")" "$(cell "$t")" - \
        "$(spread "$(ratio "${c%% *}" "${t%% *}" lower)" "$(round_ratios latency min)")" - \
        "$(frac "$c" "$g" ms)"
    q=$(best cnn latency min int8)
    sumrow "3 ... int8 against cnn float32" "ms" "$(cell "$q")" "$(cell "$c") (cnn)" - \
        "$(spread "$(ratio "${q%% *}" "${c%% *}" lower)" "$(round_ratios latency min int8)")" - -
fi
if [ "$w4" = 1 ]; then
    for w in "${convs[@]}"; do
        c=$(best cnn "$w" max) t=$(best torch "$w" max) d=$(best dnnl "$w" max)
        case $w in
        conv-b1-fwd) title="4 conv 3x3 64ch 56x56, b1, forward" ;;
        conv-b1-fwdbwd) title="4 conv 3x3 64ch 56x56, b1, fwd+bwd" ;;
        conv-b8-fwd) title="4 conv 3x3 64ch 56x56, b8, forward" ;;
        conv-b8-fwdbwd) title="4 conv 3x3 64ch 56x56, b8, fwd+bwd" ;;
        esac
        sumrow "$title" "GFLOP/s" "$(cell "$c")" "$(cell "$t")" "$(cell "$d")" \
            "$(ratio "${c%% *}" "${t%% *}" higher)" "$(ratio "${c%% *}" "${d%% *}" higher)" \
            "$(frac "$c" "" gflops)"
    done
fi
if [ "$w1" = 1 ]; then
    read -r mc mt < <(sed -n 's/^peak memory (max RSS): cnn \([0-9]*\) MiB, PyTorch \([0-9]*\) MiB.*/\1 \2/p' "$tmp/lenet5.txt") || true
    sumrow "5 LeNet-5 training peak memory" "MiB" "${mc:--}" "${mt:--}" - \
        "$(awk -v a="${mc:-}" -v b="${mt:-}" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.2f\n", a / b }')" - -
fi
if [ ${#peak[@]} -gt 0 ]; then
    line="peak ($fma_isa FMA loop, bench/fma_peak.c):"
    for t in $threads_list; do line+=" $(fmt "${peak[$t]}") GFLOP/s with $t thread$([ "$t" = 1 ] || echo s);"; done
    line="${line%;}; OpenBLAS sgemm 2048^3:"
    for t in $threads_list; do line+=" $(fmt "${val["openblas|sgemm|$t|rowmajor"]}") with $t;"; done
    echo "${line%;}"
fi
rt=$(tr ' ' '\n' <<<"${vals["host|cores|2|roundtrip"]:-}" | grep . | sort -g | sed -n '1p;$p' | xargs | tr ' ' -)
echo "the two processors' round trip over the run (bench/cores.c): ${rt:--} ns"
echo "raw results: $raw; took $(( ($(date +%s) - start + 30) / 60 )) min"
