#!/bin/sh
# One image's latency (bench/latency.c) on an idle machine and with one
# competing busy process, for the thread budgets 1 and 2, with libsimdiff's
# passive OpenMP wait policy and with libgomp's spinning default
# (OMP_WAIT_POLICY unset before libsimdiff; here forced with =active would
# be 5 minutes of spinning, so GOMP_SPINCOUNT=300000 restores the default).
# Usage: bench/contention.sh [BUILD_DIR] [MODEL]   (docs/embedding.md)
set -eu
B=${1:-build}
M=${2:-models/fmnist-uvit.safetensors}
L="$B/bench/latency"
busy() { sh -c 'while :; do :; done' & BUSY=$!; }
unbusy() { kill "$BUSY"; wait "$BUSY" 2>/dev/null || true; }
for t in 1 2; do
  printf 'idle,    passive, '; "$L" "$M" "$t" 7
done
busy
for t in 1 2; do
  printf 'busy x1, passive, '; "$L" "$M" "$t" 7
done
printf 'busy x1, spinning (GOMP_SPINCOUNT=300000), '; GOMP_SPINCOUNT=300000 "$L" "$M" 2 3
unbusy
printf 'idle,    spinning (GOMP_SPINCOUNT=300000), '; GOMP_SPINCOUNT=300000 "$L" "$M" 2 7
