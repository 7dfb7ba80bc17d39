#!/usr/bin/env bash
# Installs what building and testing cnn needs on Debian 12, with apt-get, as root.
# Does nothing when everything is already there, so `make` can call it every time.
#   scripts/install-deps.sh           the build and test dependencies
#   scripts/install-deps.sh --data    also the Fashion-MNIST data set (for `make run`)
set -euo pipefail

need=(gcc make pkg-config groff-base libopenblas-pthread-dev zlib1g-dev libpng-dev libjpeg-dev
      libstb-dev python3-onnx libopenmpi-dev openmpi-bin libmicrohttpd-dev chromium)
# The browser test of cnn serve drives chromium from Node.js (tests/test_serve_browser.sh):
# Debian's node and npm unless the machine has a node of its own (NodeSource's holds npm).
command -v npm >/dev/null || need+=(nodejs npm)
[ "${1:-}" = "--data" ] && need+=(dataset-fashion-mnist)

missing=()
for pkg in "${need[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
        echo "error: need root to install ${missing[*]} (run as root or install them)" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
