#!/bin/sh
# Install the Debian bookworm packages libsimdiff needs to build and test.
# Installs only what is missing; uses sudo when not root.
set -eu
pkgs="gcc g++ meson ninja-build pkg-config cmake libdnnl-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev check python3 python3-numpy binutils dataset-fashion-mnist clang libclang-rt-14-dev openmpi-bin libopenmpi-dev"
[ "${SIMDIFF_DEPS_EXTRA:-}" ] && pkgs="$pkgs $SIMDIFF_DEPS_EXTRA"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y --no-install-recommends $missing ||
  { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends $missing; }
