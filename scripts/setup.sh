#!/bin/sh
# One command from a fresh Debian bookworm machine: install missing packages,
# build libsimdiff, and run the main job: a grid of every Fashion-MNIST class
# (10 per class) from the bundled model, written to out/fmnist-grid.png,
# with the sampler settings stored in the model file (DPM-Solver++(2M),
# 16 steps, guidance 3.5 inside the guidance interval; docs/sampling.md).
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
meson compile -C build
./build/examples/simdiff-info
mkdir -p out
./build/examples/simdiff-sample models/fmnist-uvit.safetensors \
  --labels all --count 100 --cols 10 --seed 0 \
  ${SIMDIFF_SAMPLE_ARGS:-} --png out/fmnist-grid.png
echo "wrote out/fmnist-grid.png"
