#!/usr/bin/env bash
# The cnn serve page in a real browser (tests/browser/serve.test.mjs: headless Chromium driven by
# playwright-core): trains a small LeNet-5 (a second), serves it with the Fashion-MNIST test set
# on a free port, runs the checks (which also start `cnn train --serve` themselves), stops the
# server. Skips (exit 0, "skipped: ...") when node, npm or chromium is missing; installs
# playwright-core into tests/browser/node_modules with `npm ci` when it is not there (the npm
# registry must then be reachable).
#   tests/test_serve_browser.sh BUILD_DIR
# CNN_SERVE_SHOTS=DIR keeps the screenshots there (docs/img holds the ones docs/SERVE.md shows).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
root=$(pwd)
cnn=$root/$build/cnn
skip() { echo "skipped: $*"; exit 0; }
fail() { echo "FAILED: $*" >&2; exit 1; }

# The page is the same in every build; the server under the sanitizers is tests/test_serve.c's.
[ -z "${SAN:-}" ] || skip "under the sanitizers ($SAN): the page does not change with them, and tests/test_serve.c covers the server there"

command -v node >/dev/null || skip "node is missing (apt-get install nodejs)"
command -v npm >/dev/null || skip "npm is missing (apt-get install npm)"
chromium=${CHROMIUM:-$(command -v chromium || true)}
[ -n "$chromium" ] || skip "chromium is missing (apt-get install chromium)"
node -e 'process.exit(require("zlib").crc32 ? 0 : 1)' ||
    skip "node $(node --version) is too old (playwright-core and the test need 20.15 or later)"
[ -x "$cnn" ] || fail "$cnn is missing (make BUILD=$build)"

if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund) ||
        fail "npm ci in tests/browser failed (is the npm registry reachable?)"
fi

tmp=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$cnn" train --model lenet5 --epochs 1 --limit 3000 --out "$tmp/m.ckpt" >"$tmp/train.log" 2>&1 ||
    { tail -n 20 "$tmp/train.log" >&2; fail "cnn train"; }

# Port 0: the server takes a free port and prints its address.
"$cnn" serve "$tmp/m.ckpt" --data fashion-mnist --port 0 >"$tmp/serve.log" 2>&1 &
server=$!
url=
for _ in $(seq 100); do
    url=$(grep -o 'http://[^ ]*' "$tmp/serve.log" | head -n 1 || true)
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$tmp/serve.log" >&2; fail "cnn serve exited"; }
    sleep 0.1
done
[ -n "$url" ] || { cat "$tmp/serve.log" >&2; fail "cnn serve printed no address in 10 s"; }
echo "cnn serve at $url"

status=0
node tests/browser/serve.test.mjs --url "$url" --cnn "$cnn" --model "$tmp/m.ckpt" \
    --chromium "$chromium" --shots "${CNN_SERVE_SHOTS:-$tmp/shots}" || status=$?
kill -0 "$server" 2>/dev/null || { cat "$tmp/serve.log" >&2; fail "cnn serve died during the test"; }
exit "$status"
