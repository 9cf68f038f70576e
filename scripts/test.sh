#!/bin/sh
# The whole test suite: installs missing packages, builds and tests an
# optimized build (build/) and an AddressSanitizer + UBSan build
# (build-asan/), runs the fuzz targets briefly (build-fuzz/, scripts/fuzz.sh),
# then prints one summary line "N passed, N failed".
# SIMDIFF_TEST_ASAN=0 skips the sanitizer build (for quick local runs).
set -u
cd "$(dirname "$0")/.." || exit 1
./scripts/deps.sh || exit 1

setup() { # dir, meson args...
  dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
  else meson setup "$dir" "$@" >/dev/null; fi || { echo "meson setup $dir failed"; exit 1; }
}

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
dirs=build
setup build --buildtype=release
meson compile -C build || { echo "0 passed, 1 failed (build failed)"; exit 1; }
meson test -C build --print-errorlogs

if [ "${SIMDIFF_TEST_ASAN:-1}" != 0 ]; then
  dirs="$dirs build-asan"
  setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
  meson compile -C build-asan || { echo "0 passed, 1 failed (sanitizer build failed)"; exit 1; }
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}" \
    meson test -C build-asan --print-errorlogs --timeout-multiplier 4
fi

# The libFuzzer targets, SIMDIFF_FUZZ_SECONDS (default 20) each, when clang
# and its libFuzzer runtime are there (scripts/deps.sh installs them);
# SIMDIFF_TEST_FUZZ=0 skips them.
if [ "${SIMDIFF_TEST_FUZZ:-1}" != 0 ]; then
  if command -v clang >/dev/null 2>&1 &&
     ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    dirs="$dirs build-fuzz"
    # A failed fuzz build must not leave an earlier run's log to be counted.
    rm -f build-fuzz/meson-logs/testlog.json
    ./scripts/fuzz.sh
  else
    echo "fuzz targets SKIPPED: no clang with libFuzzer (apt-get install clang libclang-rt-14-dev)"
  fi
fi

python3 scripts/test-summary.py $dirs
