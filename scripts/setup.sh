#!/bin/sh
# One command from a fresh Debian bookworm machine: install missing packages,
# build libsimdiff, and run the main job.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
meson compile -C build
./build/examples/simdiff-info
