#!/bin/sh
# The class-conditional emoji model of docs/highres.md: train (or continue)
# its recipe at 128x128, export the EMA weights in float16 with the sampler
# settings stored in the file, and draw a grid of every class.
#
#   scripts/emoji-model.sh DATA_DIR OUT_DIR [MINUTES] [extra simdiff-train flags]
#
# DATA_DIR holds emoji128.npy and emoji128-labels.npy, made by
# ../shared/tools/emoji_dataset.py DATA_DIR --size 128 (nothing is shipped
# here). MINUTES (default 0: no limit) stops this call after that many
# minutes of training with a checkpoint; a second call with the same
# OUT_DIR resumes bit-exactly, so a long run can span several sessions.
# Writes OUT_DIR/emoji128-uvit.safetensors (F16, sampler settings stored)
# and OUT_DIR/grid.png. STEPS (default 15000 of batch 32), THREADS (default:
# all cores) and SAMPLE_STEPS (default 32) are read from the environment;
# `STEPS=4 SAMPLE_STEPS=2 scripts/emoji-model.sh DIR /tmp/e` checks the
# script in a minute. Needs build/ (meson compile -C build).
set -eu
[ $# -ge 2 ] || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
data=$1 out=$2 minutes=${3:-0}
[ $# -ge 3 ] && shift 3 || shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
train=$root/build/examples/simdiff-train sample=$root/build/examples/simdiff-sample
lib=$root/build/lib/libsimdiff.so.0
for f in "$data/emoji128.npy" "$data/emoji128-labels.npy" "$train" "$sample" "$lib"; do
  [ -e "$f" ] || { echo "emoji-model: $f is missing" >&2; exit 1; }
done
steps=${STEPS:-15000}
threads=${THREADS:-$(getconf _NPROCESSORS_ONLN)}
warmup=500
[ "$steps" -le 1000 ] && warmup=$((steps / 4 + 1)) # a short check run
mkdir -p "$out"

# The recipe (docs/highres.md, "The bundled emoji model"): a 2-level DWT
# stem to 32x32x48, one 64-channel conv level at 32x32, the transformer
# 192 wide and 6 deep at 16x16; the shifted schedule (the best of the
# ablation table), the v loss and the Wiener skip (the best at equal
# budget at 64x64: docs/highres.md, "The Wiener skip"), random flips (as
# the bundled model was trained; docs/highres.md has what they cost).
resume=
[ -f "$out/checkpoint.sdc" ] && resume="--resume $out/checkpoint.sdc"
limit=
[ "$minutes" != 0 ] && limit="--minutes $minutes"
# shellcheck disable=SC2086 # resume and limit are empty or two words
"$train" --data "$data/emoji128.npy" --data-labels "$data/emoji128-labels.npy" --pad 0 --flip \
  --stem dwt --stem-param 2 --skip wiener --levels 1 --channels 64 --width 192 --depth 6 --heads 4 \
  --batch 32 --steps "$steps" --warmup "$warmup" --lr 4e-4 --ema 0.999 --loss v \
  --schedule "shifted(128,64)" --precision bf16 --threads "$threads" \
  --ckpt-every 250 --log-every 50 --out "$out" $resume $limit "$@"

# The EMA weights in float16 with the sampler settings stored: steps
# uniform in log-SNR and guidance 1.35, the best of docs/highres.md's sweep.
"$train" --resume "$out/checkpoint.sdc" --export-only "$out/emoji128-f32.safetensors"
SIMDIFF_LIBRARY=$lib PYTHONPATH=$root/bindings/python python3 - "$out" "${SAMPLE_STEPS:-32}" <<'EOF'
import sys
import simdiff
out, steps = sys.argv[1], int(sys.argv[2])
m = simdiff.Model.load(f"{out}/emoji128-f32.safetensors")
m.set_sampler_defaults(method="dpmpp2m", steps=steps, guidance=1.35, spacing="logsnr")
m.save_safetensors(f"{out}/emoji128-uvit.safetensors", f16=True)
EOF
rm -f "$out/emoji128-f32.safetensors"
"$sample" "$out/emoji128-uvit.safetensors" --labels all --count 36 --cols 9 --seed 1 \
  --threads "$threads" --png "$out/grid.png" --quiet
echo "emoji-model: $out/emoji128-uvit.safetensors, grid in $out/grid.png"
