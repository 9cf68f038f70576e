#!/bin/sh
# bf16 against f32 on the two whole-model checks of docs/performance.md
# ("bf16 precision: accuracy"); not part of the test suite (tens of minutes).
#
#   (a) training: the Fashion-MNIST recipe (simdiff-train's defaults) for
#       --steps steps in f32 and in bf16, same seed (same data order, same
#       noise); compared: the mean loss of the last 100 steps (loss.csv,
#       logged every 100 steps). Goal: within 2%.
#   (b) sampling: the bundled model, --n images (all classes in turn),
#       the model's stored sampler settings, the same seed, in f32 and in
#       bf16, each scored with scripts/eval/fmnist_eval.py (or the scorer
#       named by SIMDIFF_FMNIST_SCORE). Goal: FID within 3%.
#
# usage: scripts/bf16-accuracy.sh [--build DIR] [--out DIR] [--threads N]
#            [--steps N] [--n N] [--only train|sample] [--parallel]
# Timing is irrelevant here: --threads 1 (the default) on a shared machine;
# --parallel trains the two precisions at the same time (two processes).
set -eu
cd "$(dirname "$0")/.."
build=build out=/tmp/simdiff-bf16-accuracy threads=1 steps=1000 n=2000 only= parallel=0
score=${SIMDIFF_FMNIST_SCORE:-scripts/eval/fmnist_eval.py}
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --parallel) parallel=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
py=/usr/bin/python3

if [ "$only" != train ]; then
  for p in f32 bf16; do
    "$build/examples/simdiff-sample" models/fmnist-uvit.safetensors --labels all \
      --count "$n" --seed 0 --batch 250 --threads "$threads" --precision "$p" --quiet \
      --npy "$out/samples-$p.npy" --labels-npy "$out/labels-$p.npy"
    $py "$score" "$out/samples-$p.npy" "$out/labels-$p.npy" | tee "$out/score-$p.txt"
  done
  $py - "$out" <<'EOF'
import sys
out = sys.argv[1]
fid = {p: float([l.split()[1] for l in open(f"{out}/score-{p}.txt") if l.split()[0] in ("fid", "fid:")][0])
       for p in ("f32", "bf16")}
d = (fid["bf16"] - fid["f32"]) / fid["f32"]
print(f"sampling: FID f32 {fid['f32']:.3f}, bf16 {fid['bf16']:.3f}, "
      f"difference {100 * d:+.2f}% ({'within' if abs(d) <= 0.03 else 'NOT within'} 3%)")
EOF
fi

if [ "$only" != sample ]; then
  train() {
    rm -rf "$out/train-$1"
    "$build/examples/simdiff-train" --out "$out/train-$1" --steps "$steps" --seed 0 \
      --threads "$threads" --precision "$1" --log-every 100 --ckpt-every "$steps" \
      >"$out/train-$1.log" 2>&1
  }
  if [ "$parallel" = 1 ]; then
    train f32 & a=$!
    train bf16 & b=$!
    wait $a && wait $b
  else
    train f32 && train bf16
  fi
  $py - "$out" <<'EOF'
import csv, sys
out = sys.argv[1]
last = {}
for p in ("f32", "bf16"):
    rows = list(csv.DictReader(open(f"{out}/train-{p}/loss.csv")))
    last[p] = (int(rows[-1]["step"]), float(rows[-1]["loss"]))
(s32, l32), (s16, l16) = last["f32"], last["bf16"]
d = (l16 - l32) / l32
print(f"training: mean loss of steps {s32 - 99}..{s32}: f32 {l32:.5f}, bf16 {l16:.5f} "
      f"(step {s16}), difference {100 * d:+.2f}% "
      f"({'within' if abs(d) <= 0.02 else 'NOT within'} 2%)")
EOF
fi
