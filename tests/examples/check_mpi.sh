#!/bin/sh
# Data-parallel training and split sampling under mpirun (docs/distributed.md),
# end to end with Open MPI on one machine (--oversubscribe):
#  - 2 processes x B/2 summed in rank order (--mpi-deterministic) equal one
#    process with --microbatches 2 bit for bit (the checkpoint files);
#  - 2 processes with MPI_Allreduce (--mpi) equal one process x B to float
#    rounding (weights compared);
#  - a run resumes with a different number of processes, bit for bit;
#  - simdiff-sample --mpi on 2 and 3 processes writes the same bytes as 1,
#    also when started from --latents (each process takes its rows);
#  - a killed rank ends the run with an error and leaves a loadable
#    checkpoint that resumes.
# Skipped (TAP "1..0 # SKIP") when the build has no MPI or mpirun is missing.
# usage: check_mpi.sh HAVE_MPI(yes|no) SIMDIFF_TRAIN SIMDIFF_SAMPLE MODEL PYTHON
#        INITIAL_NOISE
set -u
have=$1 train=$2 sample=$3 model=$4 py=$5 noise=$6
if [ "$have" != yes ]; then
  echo "1..0 # SKIP built without MPI (install libopenmpi-dev, reconfigure with -Dmpi=enabled)"
  exit 0
fi
if ! command -v mpirun >/dev/null 2>&1; then
  echo "1..0 # SKIP mpirun not found (Debian: openmpi-bin)"
  exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# As root (CI containers) Open MPI wants both; one thread per process; the
# MPI library's own allocations are not ours to leak-check.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
mpi() { np=$1; shift; mpirun --oversubscribe -np "$np" "$@"; }
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; tail -n 20 "$tmp/err" 2>/dev/null | sed 's/^/# /'; fail=1; }
echo "1..9"

# 12 RGB images 8x8 (NHWC uint8) and labels 0..2, written without numpy
"$py" "$(dirname "$0")/tiny_npy.py" "$tmp" 12 8 73 7 0,1,2
# A tiny U-ViT with dropout (its masks, like the noise and times, follow the
# global example index), constant lr so runs of different lengths agree.
common="--data $tmp/x.npy --data-labels $tmp/y.npy --pad 0 --batch 6 --warmup 1 --constant-lr
 --channels 32 --width 16 --depth 1 --heads 2 --emb 16 --dropout-res 0.1 --dropout-tf 0.1
 --threads 1 --log-every 1 --ckpt-every 1000"

# The relative L2 difference of two model files' weights.
reldiff() {
  "$py" - "$1" "$2" <<'PY'
import json, struct, sys, math, array
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); d = b[8 + n:]; out = {}
    for k, v in h.items():
        if k != "__metadata__":
            a = array.array("f"); a.frombytes(d[v["data_offsets"][0]:v["data_offsets"][1]]); out[k] = a
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
num = sum((x - y) ** 2 for k in a for x, y in zip(a[k], b[k]))
den = sum(y * y for k in b for y in b[k])
print("%.3g" % math.sqrt(num / den))
PY
}

# 1: --mpi-deterministic on 2 processes == --microbatches 2 on one, bit for bit
"$train" $common --steps 4 --microbatches 2 --out "$tmp/mb" 2>"$tmp/err" &&
mpi 2 "$train" $common --steps 4 --mpi-deterministic --out "$tmp/d2" 2>"$tmp/err"
if [ $? -eq 0 ] && cmp -s "$tmp/mb/checkpoint.sdc" "$tmp/d2/checkpoint.sdc" &&
   [ -s "$tmp/d2/checkpoint.sdc" ]; then
  ok "2 processes x B/2 (rank-order sum) == 1 process, 2 microbatches, bit for bit"
else no "2 processes x B/2 (rank-order sum) == 1 process, 2 microbatches, bit for bit"; fi

# 2: --mpi (MPI_Allreduce) on 2 processes == 1 process x B to float rounding
"$train" $common --steps 4 --out "$tmp/one" 2>"$tmp/err" &&
mpi 2 "$train" $common --steps 4 --mpi --out "$tmp/a2" 2>"$tmp/err"
if [ $? -eq 0 ] && r=$(reldiff "$tmp/a2/model.safetensors" "$tmp/one/model.safetensors") &&
   "$py" -c "import sys; sys.exit(not 0 < float('$r') < 1e-5)"; then
  ok "2 processes (MPI_Allreduce) == 1 process x B to rounding (relative $r)"
else no "2 processes (MPI_Allreduce) == 1 process x B to rounding (relative ${r:-?})"; fi

# 3: 3 processes, rank-order sum == 3 microbatches (uneven split of 6: 2+2+2)
"$train" $common --steps 3 --microbatches 3 --out "$tmp/mb3" 2>"$tmp/err" &&
mpi 3 "$train" $common --steps 3 --mpi-deterministic --out "$tmp/d3" 2>"$tmp/err"
if [ $? -eq 0 ] && cmp -s "$tmp/mb3/checkpoint.sdc" "$tmp/d3/checkpoint.sdc"; then
  ok "3 processes (rank-order sum) == 1 process, 3 microbatches, bit for bit"
else no "3 processes (rank-order sum) == 1 process, 3 microbatches, bit for bit"; fi

# 4: resume with a different process count: 2 steps on 1 process, 2 more on
# 2 processes == 4 steps on 2 processes (test 1), bit for bit
"$train" $common --steps 2 --microbatches 2 --out "$tmp/r" 2>"$tmp/err" &&
mpi 2 "$train" $common --steps 4 --mpi-deterministic --resume "$tmp/r/checkpoint.sdc" \
  --out "$tmp/r" 2>"$tmp/err"
if [ $? -eq 0 ] && cmp -s "$tmp/r/checkpoint.sdc" "$tmp/d2/checkpoint.sdc"; then
  ok "1 process then resumed on 2 == 2 processes throughout"
else no "1 process then resumed on 2 == 2 processes throughout"; fi

# 5-6: distributed sampling writes the bytes of one process
samp="$model --labels all --count 7 --steps 3 --seed 5 --quiet"
"$sample" $samp --npy "$tmp/s1.npy" --png "$tmp/s1.png" 2>"$tmp/err"
for np in 2 3; do
  if mpi $np "$sample" $samp --mpi --npy "$tmp/s$np.npy" --png "$tmp/s$np.png" 2>"$tmp/err" &&
     cmp -s "$tmp/s1.npy" "$tmp/s$np.npy" && cmp -s "$tmp/s1.png" "$tmp/s$np.png"; then
    ok "simdiff-sample --mpi on $np processes == 1 process, byte for byte"
  else no "simdiff-sample --mpi on $np processes == 1 process, byte for byte"; fi
done

# 7-8: a killed rank: mpirun ends the run with an error naming it, soon; the
# last checkpoint (written every step by rank 0, atomically) loads and resumes
mpi 2 "$train" $common --steps 1000000 --mpi --ckpt-every 1 --out "$tmp/k" >/dev/null 2>"$tmp/err" &
job=$!
i=0
while [ ! -s "$tmp/k/checkpoint.sdc" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
victim=$(ps --ppid $job -o pid= | tail -n 1)
[ -n "$victim" ] && kill -9 $victim
i=0
while kill -0 $job 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $job 2>/dev/null; then
  kill $job; wait $job; no "a killed rank ends the run (still running after 60 s)"
else
  wait $job; rc=$?
  if [ -n "$victim" ] && [ $rc -ne 0 ] && grep -qi "signal 9\|killed" "$tmp/err"; then
    ok "a killed rank ends the run within 60 s (exit $rc, the error names the signal)"
  else no "a killed rank ends the run with an error (exit $rc)"; fi
fi
if "$train" --resume "$tmp/k/checkpoint.sdc" --export-only "$tmp/k.safetensors" 2>"$tmp/err" &&
   "$train" $common --steps 1000000 --minutes 0.002 --resume "$tmp/k/checkpoint.sdc" \
     --out "$tmp/k" 2>"$tmp/err" && grep -q "^done" "$tmp/err"; then
  ok "the checkpoint left by the killed run loads and resumes"
else no "the checkpoint left by the killed run loads and resumes"; fi
# 9: --latents under --mpi: seed 5's starting noise for the 7 images, given to
# 3 processes running with another seed, gives s1.npy (seed 5) byte for byte
# (rank r must pass rows lo..hi-1 of the file)
if "$noise" "$model" 5 7 "$tmp/l5.npy" 2>"$tmp/err" &&
   mpi 3 "$sample" $samp --seed 8 --mpi --latents "$tmp/l5.npy" --npy "$tmp/sl.npy" 2>"$tmp/err" &&
   cmp -s "$tmp/s1.npy" "$tmp/sl.npy"; then
  ok "simdiff-sample --mpi --latents on 3 processes == the plain run of that noise"
else no "simdiff-sample --mpi --latents on 3 processes == the plain run of that noise"; fi
exit $fail
