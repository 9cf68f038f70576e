#!/bin/sh
# Build the libFuzzer targets (fuzz/, docs/reliability.md "Fuzzing") with
# clang in build-fuzz/ and run each for SIMDIFF_FUZZ_SECONDS (default 20)
# from its committed seed corpus (meson test --suite fuzz). New inputs go
# to build-fuzz/fuzz/corpus-<t>/ (not committed), a crash's reproducer to
# build-fuzz/fuzz/crash-<t>-*; each target's output (with its final stats:
# number_of_executed_units) is in build-fuzz/meson-logs/testlog.txt.
#   scripts/fuzz.sh [meson test args, e.g. fuzz-checkpoint]
# A long campaign, counted in CPU time: scripts/fuzz-campaign.sh
set -u
cd "$(dirname "$0")/.." || exit 1
secs="${SIMDIFF_FUZZ_SECONDS:-20}"
args="-Dfuzz=true -Dfuzz_seconds=$secs -Dtests=false -Dbindings=false
      --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false"
if [ -f build-fuzz/build.ninja ]; then meson setup --reconfigure build-fuzz $args >/dev/null
else CC=clang meson setup build-fuzz $args >/dev/null; fi ||
  { echo "fuzz: meson setup build-fuzz failed"; exit 1; }
# Only the targets: the shared library does not link with clang's ASan
# (its runtime is not linked into shared objects, and it uses --no-undefined).
ninja -C build-fuzz fuzz/make-seeds $(for t in model-config schedule sampler-settings \
  npy idx image safetensors checkpoint vocab; do printf 'fuzz/fuzz-%s ' $t; done) >/dev/null ||
  { echo "fuzz: build failed"; exit 1; }
meson test -C build-fuzz --no-rebuild --suite fuzz --print-errorlogs "$@"
