#!/usr/bin/env bash
# Runs test programs and prints one summary line, "N passed, N failed".
#   scripts/run-tests.sh [-j N] BUILD_DIR TEST... [--alone TEST...]
# A TEST is a program, or a program and its arguments as one word list ("script BUILD").
# Tests run from the repository root (they read fixtures from tests/ref/), each with its output
# in BUILD_DIR/NAME.log. Up to N of the tests before --alone run at once (1 when -j is not
# given), a line printed as each ends; then the tests after --alone run one at a time, with the
# machine to themselves: those whose checks depend on the pace of the host (a time budget, a
# signal sent after a pause, a browser's timeouts). Exits non-zero if any program failed, after
# the last 40 lines of each failed program's log.
set -u
jobs=1
if [ "${1:-}" = -j ]; then jobs=$2; shift 2; fi
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "run-tests.sh: -j needs a number of tests, not '$jobs'" >&2; exit 2; }
build=$1; shift
shared=(); alone=(); after=0
for t in "$@"; do
    if [ "$t" = --alone ]; then after=1
    elif [ $after = 1 ]; then alone+=("$t")
    else shared+=("$t"); fi
done

# test_name TEST: its log's name. "test_x --isa baseline" is test_x.baseline: the same program
# with an option.
test_name() {
    local words name
    read -r -a words <<<"$1"
    name=$(basename "${words[0]}")
    if [[ ${words[1]:-} == --* ]]; then name="$name.${words[2]:-${words[1]#--}}"; fi
    echo "$name"
}

# run_one TEST: runs it, leaves ok or FAILED in BUILD_DIR/NAME.status, prints its line.
run_one() {
    local words name log start status
    read -r -a words <<<"$1"
    name=$(test_name "$1")
    log="$build/$name.log"
    start=$EPOCHREALTIME
    if "${words[@]}" >"$log" 2>&1; then status=ok; else status=FAILED; fi
    echo "$status" >"$build/$name.status"
    printf '%-28s %-6s %6.1fs  (%s)\n' "$name" "$status" \
        "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$log"
}

# Interrupted: the tests still running go too (each runs under a subshell of this script).
stop_all() {
    local pid
    for pid in $(jobs -p); do pkill -TERM -P "$pid" 2>/dev/null; kill "$pid" 2>/dev/null; done
    exit 130
}
trap stop_all INT TERM

for t in "${shared[@]}" "${alone[@]}"; do rm -f "$build/$(test_name "$t").status"; done
running=0
for t in "${shared[@]}"; do
    if [ $running -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
wait
for t in "${alone[@]}"; do run_one "$t"; done

passed=0; failed=0; failures=()
for t in "${shared[@]}" "${alone[@]}"; do
    name=$(test_name "$t")
    if [ "$(cat "$build/$name.status" 2>/dev/null)" = ok ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); failures+=("$name")
    fi
done
for f in "${failures[@]+"${failures[@]}"}"; do
    echo "---- $f ----"; tail -n 40 "$build/$f.log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
