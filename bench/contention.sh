#!/bin/sh
# One image's latency (bench/latency.c) on an idle machine and with one
# competing busy process, for the thread budgets 1 and 2: adaptive (the
# default) and fixed thread counts, with libsimdiff's passive OpenMP wait
# policy and with libgomp's own spinning default (GOMP_SPINCOUNT=300000,
# what an unset OMP_WAIT_POLICY gives when libsimdiff does not set it).
# Usage: bench/contention.sh [BUILD_DIR] [MODEL]   (docs/embedding.md)
set -eu
B=${1:-build}
M=${2:-models/fmnist-uvit.safetensors}
L="$B/bench/latency"
busy() { sh -c 'while :; do :; done' & BUSY=$!; }
unbusy() { kill "$BUSY"; wait "$BUSY" 2>/dev/null || true; }
echo "# runnable/all threads before: $(cut -d' ' -f4 /proc/loadavg)"
for t in 1 2; do
  printf 'idle,    passive, '; "$L" "$M" "$t" 7
done
printf 'idle,    passive, '; "$L" "$M" 2 7 fixed
busy
for t in 1 2; do
  printf 'busy x1, passive, '; "$L" "$M" "$t" 7
done
printf 'busy x1, passive, '; "$L" "$M" 2 5 fixed
printf 'busy x1, spinning, '; GOMP_SPINCOUNT=300000 "$L" "$M" 2 3 fixed
unbusy
printf 'idle,    spinning, '; GOMP_SPINCOUNT=300000 "$L" "$M" 2 7 fixed
echo "# runnable/all threads after: $(cut -d' ' -f4 /proc/loadavg)"
