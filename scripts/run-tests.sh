#!/usr/bin/env bash
# Runs test programs and prints one summary line, "N passed, N failed".
#   scripts/run-tests.sh BUILD_DIR TEST...
# A TEST is a program, or a program and its arguments as one word list ("script BUILD").
# Tests run from the repository root (they read fixtures from tests/ref/). Exits non-zero if
# any program failed.
set -u
build=$1; shift
passed=0; failed=0; failures=()
for t in "$@"; do
    read -r -a words <<<"$t"
    name=$(basename "${words[0]}")
    # "test_x --isa baseline" logs as test_x.baseline: the same program with an option.
    if [[ ${words[1]:-} == --* ]]; then name="$name.${words[2]:-${words[1]#--}}"; fi
    log="$build/$name.log"
    start=$EPOCHREALTIME
    if "${words[@]}" >"$log" 2>&1; then
        passed=$((passed + 1)); status=ok
    else
        failed=$((failed + 1)); status=FAILED; failures+=("$name")
    fi
    printf '%-28s %-6s %6.1fs  (%s)\n' "$name" "$status" "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$log"
done
for f in "${failures[@]+"${failures[@]}"}"; do
    echo "---- $f ----"; tail -n 40 "$build/$f.log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
