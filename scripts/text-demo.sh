#!/bin/sh
# The text-to-image demo of docs/text.md: a U-ViT with the built-in text
# encoder trained on the emoji data set at 64x64 with the CLDR names as
# captions, then prompt grids (4 seeds per prompt) for new combinations of
# known words and for captions seen in training.
#
#   scripts/text-demo.sh DATA_DIR OUT_DIR [STEPS] [extra simdiff-train flags]
#
# DATA_DIR holds emoji64.npy and emoji64-names.txt, made by
# ../shared/tools/emoji_dataset.py DATA_DIR --size 64 (nothing is shipped
# here). STEPS defaults to 1800 (115 200 images, about 90 minutes on one
# core; `SAMPLE_STEPS=2 scripts/text-demo.sh DIR /tmp/t 4` checks the
# script in a few minutes). SAMPLE_STEPS: sampler steps of the grids
# (default 32). A second call with the same OUT_DIR resumes the run.
# Needs build/ (meson compile -C build).
set -eu
[ $# -ge 2 ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
data=$1 out=$2 steps=${3:-1800}
[ $# -ge 3 ] && shift 3 || shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
train=$root/build/examples/simdiff-train sample=$root/build/examples/simdiff-sample
for f in "$data/emoji64.npy" "$data/emoji64-names.txt" "$train" "$sample"; do
  [ -e "$f" ] || { echo "text-demo: $f is missing" >&2; exit 1; }
done
mkdir -p "$out"

# Training: the bundled model's U-ViT recipe at 64x64 (a 1-level DWT stem,
# the transformer at 16x16) with the v loss (docs/highres.md), a 2-layer
# encoder 128 wide over at most 16 words (the longest emoji name has 13),
# captions dropped 10% of the time.
warmup=200
[ "$steps" -le 600 ] && warmup=$((steps / 2)) # a short check run
resume=
[ -f "$out/checkpoint.sdc" ] && resume="--resume $out/checkpoint.sdc"
# shellcheck disable=SC2086
nice -n 10 "$train" --data "$data/emoji64.npy" --captions "$data/emoji64-names.txt" \
  --pad 0 --out "$out" --steps "$steps" --batch 64 --lr 4e-4 --warmup "$warmup" --loss v \
  --label-dropout 0.1 --precision bf16 --ckpt-every 500 --log-every 50 \
  --text-layers 2 --text-width 128 --text-len 16 --text-heads 4 $resume "$@"

# Prompt grids: one column per prompt, one row per seed (image i has
# prompt i mod the number of prompts).
grid() { # name, then the prompts
  name=$1
  shift
  set -- "$@"
  n=$#
  args=
  for p in "$@"; do args="$args --prompt \"$p\""; done
  eval nice -n 10 "\"$sample\"" "\"$out/model.safetensors\"" $args --count $((4 * n)) \
    --cols "$n" --guidance 3 --steps "${SAMPLE_STEPS:-32}" --seed 1 --png "\"$out/$name.png\""
}
# The prompts of issue 18 (all but "face with sunglasses" are emoji names,
# that one is part of "smiling face with sunglasses"), new combinations of
# known words, and captions seen in training; "" is the unconditional model.
grid prompts "red heart" "blue heart" "cat face" "dog face" "face with sunglasses" ""
grid new "red cat face" "blue dog face" "cat with sunglasses" "green heart face" "dog rocket"
grid seen "grinning face" "pile of poo" "thumbs up" "rocket" "flag: Japan" "ghost"
echo "text-demo: grids in $out/prompts.png, $out/new.png and $out/seen.png"
