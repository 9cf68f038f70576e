#!/bin/sh
# simdiff-train, the command-line trainer, end to end on a tiny NPY data
# set: the diffusion settings chosen by flag (schedule, loss, stem,
# prediction) land in the exported model's config and schedule, bad
# flags are refused with a message and status 2, --out is created and
# checked before the first step, a failed step is not reported as done,
# a resumed run does not log its steps twice, and --steps 0 writes the
# initial model without training, --init starts a new run from a
# model's weights and architecture, --channels / --blocks take one
# number per level, --skip wiener builds the Wiener skip with its
# statistics measured on the data, and random flips are off unless
# --flip asks for them, and --stop-at ends a part of a run that --resume
# completes as if it had not stopped. (TAP output)
# usage: check_simdiff_train.sh SIMDIFF_TRAIN PYTHON
set -u
bin=$1 py=$2
. "$(dirname "$0")/tap.sh"
echo "1..25"

# 4 RGB images 16x16 (NHWC uint8) and their labels, written without numpy
"$py" "$(dirname "$0")/tiny_npy.py" "$tmp" 4 16 37 0 0,1,2,1

common="--data $tmp/x.npy --data-labels $tmp/y.npy --pad 0 --batch 2 --steps 2 --warmup 1 \
 --channels 32 --width 32 --depth 1 --heads 2 --emb 32 --threads 1 --log-every 1"

# 1-3: every diffusion setting by flag, stored with the model
if run $common --out "$tmp/a" --stem dwt-unit --stem-param 2 --schedule "cosine(-10,12)" \
       --loss v --prediction eps && [ -s "$tmp/a/model.safetensors" ]; then
  ok "trains with --schedule, --loss, --stem dwt-unit, --prediction"
else no "trains with --schedule, --loss, --stem dwt-unit, --prediction"; fi
hdr=$(head -c 4096 "$tmp/a/model.safetensors" | tr -c '[:print:]' ' ')
case $hdr in
*"stem=3;stem_param=2;"*"prediction=1"*) ok "stem and prediction are in the model config" ;;
*) no "stem and prediction are in the model config" ;;
esac
case $hdr in
*'"cosine(-10,12)"'*) ok "the schedule is stored with the model" ;;
*) no "the schedule is stored with the model" ;;
esac

# 4: the default schedule is shifted(d,64) for d x d images, d >= 64, and
# the unshifted cosine shifted(64,64) below (here d = 16)
if run $common --out "$tmp/b" &&
   head -c 4096 "$tmp/b/model.safetensors" | tr -c '[:print:]' ' ' | grep -q '"shifted(64,64)"'; then
  ok "default schedule for 16x16 images: shifted(64,64)"
else no "default schedule for 16x16 images: shifted(64,64)"; fi

# 5-6: bad flags are refused, nothing trained
if run $common --out "$tmp/c" --loss l1; [ $? -eq 2 ] && grep -q -- "--loss" "$tmp/err" &&
   [ ! -e "$tmp/c" ]; then
  ok "--loss l1 refused"
else no "--loss l1 refused"; fi
if run $common --out "$tmp/d" --schedule "shifted(16,064)"; [ $? -ne 0 ] &&
   grep -q "leading zeros" "$tmp/err"; then
  ok "a malformed --schedule is refused with the parser's message"
else no "a malformed --schedule is refused with the parser's message"; fi

# 7-8: --out is made with its parents, and one that cannot be a directory
# is refused before the first step (it used to fail at the first checkpoint)
if run $common --out "$tmp/p/q/r" && [ -s "$tmp/p/q/r/model.safetensors" ] &&
   [ -s "$tmp/p/q/r/checkpoint.sdc" ]; then
  ok "--out is created with its parents"
else no "--out is created with its parents"; fi
: >"$tmp/file"
if run $common --out "$tmp/file/sub"; [ $? -eq 1 ] && grep -q -- "--out" "$tmp/err" &&
   ! grep -q "^step " "$tmp/err" && ! grep -q "saved" "$tmp/err"; then
  ok "an --out under a regular file is refused before training"
else no "an --out under a regular file is refused before training"; fi

# 9: a step that fails (the batch cannot be padded to 8x8: the images are
# 16x16) stops the run with status 1; the run is saved, but never "done"
if run $common --out "$tmp/e" --pad 8; [ $? -eq 1 ] && grep -q "stopped by the error" "$tmp/err" &&
   ! grep -q "^done" "$tmp/err"; then
  ok "a failed step is reported as an error, not as done"
else no "a failed step is reported as an error, not as done"; fi

# 10-11: resuming from an older checkpoint cuts loss.csv back to its step:
# no step is logged twice, every step once
steps() { cut -d, -f1 "$1" | tail -n +2 | tr '\n' ' '; }
if run $common --out "$tmp/r" --steps 2 && cp "$tmp/r/checkpoint.sdc" "$tmp/ck2.sdc" &&
   run $common --out "$tmp/r" --steps 4 --resume "$tmp/r/checkpoint.sdc" &&
   [ "$(steps "$tmp/r/loss.csv")" = "1 2 3 4 " ] &&
   run $common --out "$tmp/r" --steps 4 --resume "$tmp/ck2.sdc"; then
  ok "resume runs"
else no "resume runs"; fi
if [ "$(steps "$tmp/r/loss.csv")" = "1 2 3 4 " ] && [ "$(head -n 1 "$tmp/r/loss.csv" | cut -c1-5)" = "step," ]; then
  ok "loss.csv has every step once after resuming from an older checkpoint"
else
  sed 's/^/# /' "$tmp/r/loss.csv"
  no "loss.csv has every step once after resuming from an older checkpoint"
fi

# 12-13: strict numbers and names, refused before anything is made
if refused $common --out "$tmp/s1" --arch foo && grep -q -- "--arch: 'foo'" "$tmp/err" &&
   refused $common --out "$tmp/s1" --threads -3 &&
   grep -q -- "--threads: '-3' is not a whole number in 1..4096" "$tmp/err" &&
   refused $common --out "$tmp/s1" --lr abc && grep -q -- "--lr: 'abc' is not a number" "$tmp/err" &&
   [ ! -e "$tmp/s1" ]; then
  ok "--arch foo, --threads -3 and --lr abc are refused, naming the flag"
else no "--arch foo, --threads -3 and --lr abc are refused, naming the flag"; fi
if refused $common --out "$tmp/s2" --steps 1 --warmup 5 --cosine &&
   grep -q -- "--warmup 5 is not below --steps 1" "$tmp/err" && grep -q -- "--constant-lr" "$tmp/err"; then
  ok "--steps below --warmup names both flags and --constant-lr"
else no "--steps below --warmup names both flags and --constant-lr"; fi
# 14: --steps 0 writes the step-0 model (the initial weights, which another
# trainer can start from: bench/torch_train.py --init) and trains nothing
if run $common --out "$tmp/z" --steps 0 && [ -s "$tmp/z/model.safetensors" ] &&
   [ "$(wc -l <"$tmp/z/loss.csv")" -eq 1 ] && ! grep -q "^step " "$tmp/err"; then
  ok "--steps 0 writes the initial model"
else no "--steps 0 writes the initial model"; fi

# 15-17: --init: a new run from run a's model (its eps prediction, dwt-unit
# stem and cosine schedule); at step 0 the export is that model byte for
# byte; architecture flags and mismatched data are refused
init="--data $tmp/x.npy --data-labels $tmp/y.npy --pad 0 --batch 2 --warmup 1 --threads 1"
if run $init --init "$tmp/a/model.safetensors" --steps 0 --out "$tmp/i0" &&
   cmp -s "$tmp/a/model.safetensors" "$tmp/i0/model.safetensors"; then
  ok "--init --steps 0 exports the init model unchanged"
else no "--init --steps 0 exports the init model unchanged"; fi
if run $init --init "$tmp/a/model.safetensors" --steps 2 --out "$tmp/i2" &&
   grep -q "initialised from" "$tmp/err" &&
   head -c 4096 "$tmp/i2/model.safetensors" | tr -c '[:print:]' ' ' |
     grep -q 'stem=3;stem_param=2;.*"cosine(-10,12)"' &&
   ! cmp -s "$tmp/a/model.safetensors" "$tmp/i2/model.safetensors"; then
  ok "--init trains on with the model's architecture and schedule"
else no "--init trains on with the model's architecture and schedule"; fi
if refused $init --init "$tmp/a/model.safetensors" --out "$tmp/i3" --width 64 &&
   grep -q -- "--width: the architecture of an --init run" "$tmp/err" &&
   refused $init --init "$tmp/a/model.safetensors" --resume "$tmp/a/checkpoint.sdc" --out "$tmp/i3" &&
   refused $init --init "$tmp/a/model.safetensors" --out "$tmp/i3" --pad 32 &&
   grep -q "is a model of 3 x 16 x 16 images and 3 classes; the data gives 3 x 32 x 32" "$tmp/err" &&
   [ ! -e "$tmp/i3" ]; then
  ok "--init with model flags, with --resume or with other data is refused"
else no "--init with model flags, with --resume or with other data is refused"; fi

# 18-19: --channels and --blocks per level (level 1 first), stored in the
# config; a list whose length is not --levels is refused
if run $common --out "$tmp/l" --stem none --levels 2 --channels 32,64 --blocks 1,2 &&
   head -c 4096 "$tmp/l/model.safetensors" | tr -c '[:print:]' ' ' |
   grep -q 'num_levels=2;level_channels=32,64;level_blocks=1,2;'; then
  ok "--channels 32,64 --blocks 1,2 build the two levels asked for"
else no "--channels 32,64 --blocks 1,2 build the two levels asked for"; fi
if refused $common --out "$tmp/l2" --levels 2 --channels 8,16,32 &&
   grep -q -- "a list of --levels 2 numbers" "$tmp/err" &&
   refused $common --out "$tmp/l2" --channels 8,,16 && grep -q -- "--channels: '8,,16'" "$tmp/err" &&
   refused $common --out "$tmp/l2" --blocks 1,x && [ ! -e "$tmp/l2" ]; then
  ok "a --channels list of the wrong length, an empty or a non-number entry is refused"
else no "a --channels list of the wrong length, an empty or a non-number entry is refused"; fi

# 20-21: the default architecture is the 1-level DWT stem and one
# 64-channel level at every image size; a --channels list alone sets --levels
tiny="--data-labels $tmp/y.npy --pad 0 --batch 2 --steps 0 --width 32 --depth 1 --heads 2 --emb 32 --threads 1"
if run --data "$tmp/x.npy" $tiny --out "$tmp/d1" &&
   head -c 4096 "$tmp/d1/model.safetensors" | tr -c '[:print:]' ' ' |
   grep -q 'stem=2;stem_param=1;num_levels=1;level_channels=64;level_blocks=1;'; then
  ok "default architecture: the 1-level DWT stem and one 64-channel level"
else no "default architecture: the 1-level DWT stem and one 64-channel level"; fi
if run --data "$tmp/x.npy" $tiny --out "$tmp/d3" --channels 32,32,64 &&
   head -c 4096 "$tmp/d3/model.safetensors" | tr -c '[:print:]' ' ' |
   grep -q 'num_levels=3;level_channels=32,32,64;'; then
  ok "a --channels list alone sets the number of levels"
else no "a --channels list alone sets the number of levels"; fi
# 22-23: --skip wiener: the config key and the statistics tensors in the
# file, measured on the data before step 0; any other value is refused
if run --data "$tmp/x.npy" $tiny --out "$tmp/w" --stem dwt --stem-param 2 --skip wiener &&
   grep -q "Wiener skip: statistics of 4 images" "$tmp/err" &&
   head -c 16384 "$tmp/w/model.safetensors" | tr -c '[:print:]' ' ' >"$tmp/hdr" &&
   grep -q '"skip.mean":{"dtype":"F32","shape":\[48\]' "$tmp/hdr" &&
   grep -q '"skip.std":{"dtype":"F32","shape":\[48\]' "$tmp/hdr" &&
   grep -q 'wiener_skip=1' "$tmp/hdr"; then
  ok "--skip wiener stores the skip and its statistics of the data"
else no "--skip wiener stores the skip and its statistics of the data"; fi
if refused --data "$tmp/x.npy" $tiny --out "$tmp/w2" --skip wien &&
   grep -q -- "--skip wien: expected none or wiener" "$tmp/err" && [ ! -e "$tmp/w2" ]; then
  ok "an unknown --skip is refused"
else no "an unknown --skip is refused"; fi
# 24: no flips by default: the default run's weights equal --no-flip's
# byte for byte, and --flip (mirrored copies of these asymmetric random
# images in 8 draws) trains other weights from the same seed
flips="$common --batch 4 --steps 2"
if run $flips --out "$tmp/f0" && run $flips --out "$tmp/f1" --no-flip &&
   run $flips --out "$tmp/f2" --flip &&
   cmp -s "$tmp/f0/model.safetensors" "$tmp/f1/model.safetensors" &&
   ! cmp -s "$tmp/f0/model.safetensors" "$tmp/f2/model.safetensors"; then
  ok "random flips only with --flip"
else no "random flips only with --flip"; fi
# 25: --stop-at 2 of a 4-step run stops after step 2 (with the 4-step
# learning rate: the resumed run's weights equal a straight 4-step run's)
if run $flips --steps 4 --out "$tmp/s4" && run $flips --steps 4 --stop-at 2 --out "$tmp/s2" &&
   [ "$(steps "$tmp/s2/loss.csv")" = "1 2 " ] &&
   run $flips --steps 4 --resume "$tmp/s2/checkpoint.sdc" --out "$tmp/s2" &&
   ! cmp -s "$tmp/s4/model.safetensors" "$tmp/f0/model.safetensors" &&
   cmp -s "$tmp/s4/model.safetensors" "$tmp/s2/model.safetensors"; then
  ok "--stop-at stops a run that --resume completes exactly"
else no "--stop-at stops a run that --resume completes exactly"; fi
exit $fail
