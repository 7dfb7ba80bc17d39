#!/bin/bash
# bench/recipe.sh - a recipe of `cnn recipes` beside the same recipe in PyTorch 1.13
# (bench/torch_recipe.py), with the same wall-clock budget, seed after seed, the two sides
# interleaved (cnn, PyTorch, cnn, PyTorch, ...) so that the host's drift hits both.
#
#   bench/recipe.sh [RECIPE [SEEDS...]]     default: fashion-10m 1 2 3
#   TORCH=0 bench/recipe.sh ...            cnn only
#   CNN=0 bench/recipe.sh ...              PyTorch only (cnn's runs of the seeds done before)
#
# Each run's output goes to build/recipe/SIDE-RECIPE-SEED.log (cnn's model, log and learning
# curve beside it); at the end a Markdown table: per seed and side the epochs run (all the
# members' of an ensemble recipe), the wall time (of the whole command, data loading
# included), the test top-1, and the share of the
# processors' time the host's hypervisor took from this machine during the run (steal, from
# /proc/stat: on a shared host it is what makes one run slower than the next). Then the means.
# Run from the repository root after `make`; needs /usr/bin/python3 with torch for PyTorch.
set -eu
recipe=${1:-fashion-10m}
shift || true
seeds=${*:-1 2 3}
out=build/recipe
mkdir -p "$out"

# The recipe's budget and the PyTorch options that match it, from `cnn recipes`.
block=$(build/cnn recipes | awk -v r="$recipe" '$1 == r {on = 1; next} /^[^ ]/ {on = 0} on')
[ -n "$block" ] || { echo "bench/recipe.sh: no recipe $recipe (cnn recipes)" >&2; exit 2; }
opt() { echo "$block" | awk -v k="--$1" '$1 == k {print $2}'; }
budget=$(opt time-budget)
case $budget in
*m) seconds=$(( ${budget%m} * 60 )) ;;
*s) seconds=${budget%s} ;;
*) echo "bench/recipe.sh: recipe $recipe has no time budget" >&2; exit 2 ;;
esac
model=$(opt model)
widths=$(build/cnn def "$model" --input 1x28x28 | awk '
    / conv2d / {for (i = 1; i <= NF; i++) if ($i ~ /^out=/) {sub("out=", "", $i); w = w "," $i}}
    / max_pool2d / {w = w ",M"}
    END {print substr(w, 2)}')
# (The zoo's dropout layers have cnn's default rate, 0.5.)
dropout=$(build/cnn def "$model" --input 1x28x28 | grep -q '= dropout' && echo 0.5 || echo 0)
torch_args="--budget $seconds --batch $(opt batch) --lr $(opt lr) --wd $(opt wd) --widths $widths"
tta_shift=$(opt tta-shift)
# channels-last: PyTorch's faster layout for these convolutions (bench/torch_recipe_step.py)
torch_args="$torch_args --dropout $dropout --augment $(opt augment) --threads 2 --channels-last"
torch_args="$torch_args --tta-shift ${tta_shift:-0}"
flag() { echo "$block" | awk -v k="--$1" '$1 == k {f = 1} END {print f + 0}'; }
[ "$(flag tta-diagonal)" = 1 ] && torch_args="$torch_args --tta-diagonal"
[ "$(flag alternate-flips)" = 1 ] && torch_args="$torch_args --alternate-flips"
members=$(opt ensemble)
torch_args="$torch_args --members ${members:-1}"
mixup=$(opt mixup)
cutmix=$(opt cutmix)
torch_args="$torch_args --mixup ${mixup:-0} --cutmix ${cutmix:-0}"

steal() { awk '/^cpu / {print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
share() { # steal share between two `steal` readings
    echo "$1 $2" | awk '{d = $4 - $2; printf "%.0f%%", (d > 0 ? 100 * ($3 - $1) / d : 0)}'
}

echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
     "$(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2)"
echo "cnn: build/cnn train --recipe $recipe --seed S"
echo "PyTorch: /usr/bin/python3 bench/torch_recipe.py $torch_args --seed S"
rows=""
for s in $seeds; do
    for side in cnn torch; do
        [ "$side" = torch ] && [ "${TORCH:-1}" = 0 ] && continue
        [ "$side" = cnn ] && [ "${CNN:-1}" = 0 ] && continue
        log=$out/$side-$recipe-$s.log
        a=$(steal)
        t0=$(date +%s.%N)
        if [ "$side" = cnn ]; then
            build/cnn train --recipe "$recipe" --seed "$s" --out "$out/cnn-$recipe-$s.ckpt" \
                --force > "$log" 2>&1 || { echo "cnn failed: $log" >&2; exit 1; }
            top1=$(grep -o 'top-1 [0-9.]*%' "$log" | tail -1 | cut -d' ' -f2)
            epochs=$(grep -c '^epoch .* train loss' "$log")
        else
            /usr/bin/python3 bench/torch_recipe.py $torch_args --seed "$s" > "$log" 2>&1 ||
                { echo "PyTorch failed: $log" >&2; exit 1; }
            top1=$(grep -o 'top-1 [0-9.]*%' "$log" | cut -d' ' -f2)
            epochs=$(grep -c '^epoch ' "$log")
        fi
        wall=$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.0f", $2 - $1}')
        st=$(share "$a" "$(steal)")
        echo "seed $s $side: $epochs epochs, $wall s, top-1 $top1, steal $st"
        rows="$rows$s $side $epochs $wall ${top1%\%} $st
"
    done
done
echo
echo "| seed | side | epochs | wall time | test top-1 | steal |"
echo "|---|---|---|---|---|---|"
echo -n "$rows" | awk '{printf "| %s | %s | %s | %s s | %.2f%% | %s |\n", $1, $2, $3, $4, $5, $6}'
echo -n "$rows" | awk '{n[$2]++; t[$2] += $5; w[$2] += $4}
    END {for (s in n) printf "mean %s: top-1 %.2f%%, %.0f s over %d seeds\n", s, t[s] / n[s], w[s] / n[s], n[s]}'
