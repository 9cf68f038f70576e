#!/bin/sh
# Whole-model benchmark, libsimdiff against PyTorch (see docs/performance.md).
# Builds build-bench/ if needed, then runs bench/compare.py with the given
# options (e.g. --configs fmnist --runs 7). Results: build-bench/bench-results/
# (results.md, results.json, per-op profiles). Four sides per config
# (libsimdiff f32 and bf16, PyTorch f32 and bf16 autocast); about 30 minutes
# on 2 cores. A quick end-to-end check (numbers meaningless):
#   bench/run.sh --configs fmnist --runs 1 --lat-runs 1 --lat-k 1 --warmup 0 \
#       --probe-runs 1 --batch 2 --out /tmp/bench-smoke
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" >/dev/null
fi
ninja -C "$BUILD" bench/simdiff-bench >/dev/null
/usr/bin/python3 -c 'import torch' 2>/dev/null || {
    echo "bench/run.sh: needs Debian's PyTorch (apt-get install python3-torch libopenblas0-openmp)" >&2; exit 1; }
/usr/bin/python3 - <<'EOF' || exit 1
import ctypes.util, sys
if not any(ctypes.util.find_library(n) for n in ("openblas", "openblasp", "openblaso")):
    sys.exit("bench/run.sh: libopenblas0-openmp is not installed: PyTorch would run its "
             "linear layers on the reference BLAS (apt-get install libopenblas0-openmp)")
EOF
exec /usr/bin/python3 bench/compare.py --build-dir "$BUILD" "$@"
