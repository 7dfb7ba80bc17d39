#!/usr/bin/env bash
# Checkpoints survive kill -9 at any moment (src/io/atomic.c). save_loop saves a 12 MB
# checkpoint (a 4 MB dense layer and its Adam state) over and over; it is killed with SIGKILL
# at a random moment KILLS times (120). After each kill:
#   - the checkpoint loads (cnn summary), whatever the save was doing;
#   - whether the save's temporary file PATH.tmp.PID existed (the kill landed inside the
#     write; "partial" when it held fewer bytes than a whole checkpoint) is counted;
#   - once the next process has completed a save, no temporary file but its own is left:
#     the dead process's was removed.
# At the end one last save runs to completion and nothing but the checkpoint remains.
#   tests/test_kill_saves.sh BUILD_DIR        (KILLS=N, SEED=S to vary; prints the counts)
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
saver=$build/tests/save_loop
cnn=$build/cnn
for p in "$saver" "$cnn"; do
    [ -x "$p" ] || { echo "FAILED: no $p (make BUILD=$build first)" >&2; exit 1; }
done
kills=${KILLS:-120}
RANDOM=${SEED:-19}
dir=$(mktemp -d /tmp/cnn_kill_XXXXXX)
trap 'rm -rf "$dir"' EXIT
ckpt=$dir/model.ckpt
failed=0
fail() { echo "FAILED: $*" >&2; failed=1; }

# Waits (up to 20 s) until the save_loop writing to $1 has reported a completed save (its
# only output); the caller removes $1 before starting it.
wait_saved() {
    for _ in $(seq 4000); do
        [ -s "$1" ] && return 0
        sleep 0.005
    done
    return 1
}

# The temporary files of model.ckpt but the one of process $1 (bash globs: no process each).
others() {
    local f
    for f in "$ckpt".tmp.*; do
        [ -e "$f" ] && [ "$f" != "$ckpt.tmp.$1" ] && printf '%s ' "$f"
    done
}

inside=0 partial=0 loaded=0 whole=0
for ((i = 1; i <= kills; i++)); do
    rm -f "$dir/out"
    "$saver" "$ckpt" 4 >"$dir/out" 2>"$dir/err" &
    pid=$!
    # The previous process's temporary file goes when this one starts its first save.
    wait_saved "$dir/out" || { fail "kill $i: no save within 20 s: $(cat "$dir/err")"; break; }
    left=$(others "$pid")
    [ -z "$left" ] || fail "kill $i: after a save, temporary files of dead saves remain: $left"
    [ $i -eq 1 ] && whole=$(stat -c %s "$ckpt")
    sleep "$(printf '0.%03d' $((RANDOM % 60)))"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    tmp=$ckpt.tmp.$pid
    if [ -e "$tmp" ]; then
        inside=$((inside + 1))
        [ "$(stat -c %s "$tmp")" -lt "$whole" ] && partial=$((partial + 1))
    fi
    if out=$("$cnn" summary "$ckpt" 2>&1); then
        loaded=$((loaded + 1))
    else
        fail "kill $i: the checkpoint does not load: $out"
    fi
done

# One save to the end: the last dead process's file is removed, and the new one renamed.
"$saver" "$ckpt" 4 1 >"$dir/out" 2>"$dir/err" || fail "the last save: $(cat "$dir/err")"
left=$(others none)
[ -z "$left" ] || fail "temporary files left at the end: $left"
"$cnn" summary "$ckpt" >/dev/null 2>&1 || fail "the last checkpoint does not load"

echo "$kills kills: $inside inside a save (its temporary file present), $partial of them" \
     "in the middle of writing it ($whole bytes whole); the checkpoint loaded after $loaded"
[ $inside -gt $((kills / 2)) ] || fail "only $inside kills of $kills landed inside a save"
[ $failed -eq 0 ] && [ $loaded -eq "$kills" ] && echo "no temporary file left behind"
