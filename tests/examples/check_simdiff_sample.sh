#!/bin/sh
# simdiff-sample, the command-line sampler, end to end on the bundled model:
# its settings come from the model file unless given, options override
# them, editing (--init, --mask, --strength, --variations) keeps what it
# promises, --latents starts from the given noise, bad input gives a clear
# message and a nonzero status, and a damaged model file is refused without a
# crash. (TAP output)
# usage: check_simdiff_sample.sh SIMDIFF_SAMPLE MODEL INITIAL_NOISE
# (INITIAL_NOISE: tests/examples/initial_noise.c, the library's starting noise
# of a plain run written as .npy)
set -u
bin=$1 model=$2 noise=$3
. "$(dirname "$0")/tap.sh"
echo "1..25"

# 1-2: the model's stored settings (DPM-Solver++(2M), 16 steps uniform in
# log-SNR, guidance 2 inside the guidance interval [-3.4, 2.5])
if run "$model" --labels 0,7 --count 2 --seed 3 --png "$tmp/a.png" --npy "$tmp/a.npy" &&
   grep -q "with dpmpp2m, 16 steps, guidance 2, spacing logsnr," "$tmp/err" &&
   grep -q "guidance only at log-SNR in \[-3.4, 2.5\]" "$tmp/err"; then
  ok "defaults come from the model file"
else no "defaults come from the model file"; fi
if [ "$(head -c 8 "$tmp/a.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] &&
   [ "$(head -c 6 "$tmp/a.npy" | tail -c 5)" = "NUMPY" ]; then
  ok "writes a PNG and an NPY"
else no "writes a PNG and an NPY"; fi

# 24 (numbered last): the bundled 4-step student samples with its stored
# settings and reports its distillation record
student=$(dirname "$model")/fmnist-uvit-4step.safetensors
if run "$student" --labels 0,7 --count 2 --npy "$tmp/s.npy" &&
   grep -q "with ddim, 4 steps, guidance 1," "$tmp/err" &&
   grep -q "a distilled student: 4 steps from a 64-step teacher, guidance 2 folded in" "$tmp/err"
then student_ok=1; else student_ok=0; cp "$tmp/err" "$tmp/student.err"; fi

# 25 (numbered last): the bundled emoji model draws a 128x128 RGB image
# with its stored settings (one image: 3 x 128 x 128 float32 after the
# NPY header)
emoji=$(dirname "$model")/emoji128-uvit.safetensors
if run "$emoji" --labels 8 --count 1 --npy "$tmp/e.npy" &&
   grep -q "with dpmpp2m, 32 steps, guidance 1.35, spacing logsnr," "$tmp/err" &&
   [ $(( $(wc -c <"$tmp/e.npy") - 3 * 128 * 128 * 4 )) -le 256 ] &&
   head -c 256 "$tmp/e.npy" | grep -q "'shape': (1, 3, 128, 128)"
then emoji_ok=1; else emoji_ok=0; cp "$tmp/err" "$tmp/emoji.err"; fi

# 3: options override the stored settings
if run "$model" --labels 1 --sampler ddim --steps 3 --guidance 1 --spacing t --npy "$tmp/b.npy" &&
   grep -q "with ddim, 3 steps, guidance 1, spacing t," "$tmp/err"; then
  ok "options override the stored settings"
else no "options override the stored settings"; fi

# 4: image i depends on (seed, i), not on the batch: image 0 alone equals
# image 0 of the pair (4096 bytes of float32 data after each NPY header)
run "$model" --labels 0 --count 1 --seed 3 --npy "$tmp/c.npy"
hc=$(( $(wc -c <"$tmp/c.npy") - 4096 )) ha=$(( $(wc -c <"$tmp/a.npy") - 8192 ))
if [ "$hc" -gt 0 ] && [ "$ha" -gt 0 ] &&
   cmp -s -n 4096 -i "$hc:$ha" "$tmp/c.npy" "$tmp/a.npy" &&
   ! cmp -s -n 4096 -i "$hc:$((ha + 4096))" "$tmp/c.npy" "$tmp/a.npy"; then
  ok "image 0 alone equals image 0 of a batch (and not image 1)"
else no "image 0 alone equals image 0 of a batch (and not image 1)"; fi

# 5-7: bad arguments
if ! run "$model" --sampler euler && grep -q "not ddpm, ddim or dpmpp2m" "$tmp/err"; then
  ok "unknown sampler is refused"
else no "unknown sampler is refused"; fi
if ! run "$model" --labels 12 && grep -q "class ids in -1..9" "$tmp/err"; then
  ok "out-of-range label is refused"
else no "out-of-range label is refused"; fi
if ! run "$tmp/missing.safetensors" && grep -q "cannot load" "$tmp/err"; then
  ok "missing model file is reported"
else no "missing model file is reported"; fi

# 8: a truncated model file is refused (exit 1, a message, no signal)
head -c 100000 "$model" >"$tmp/cut.safetensors"
run "$tmp/cut.safetensors" --count 1; rc=$?
if [ "$rc" -eq 1 ] && grep -q "cannot load" "$tmp/err"; then
  ok "truncated model file is refused"
else no "truncated model file is refused (exit $rc)"; fi

# 9: stored settings out of range (steps=0, same length) are refused
sed 's/method=2;steps=16;/method=2;steps=00;/' "$model" >"$tmp/bad.safetensors"
run "$tmp/bad.safetensors" --count 1; rc=$?
if [ "$rc" -eq 1 ] && grep -q "simdiff.sampler" "$tmp/err"; then
  ok "bad stored sampler settings are refused"
else no "bad stored sampler settings are refused (exit $rc)"; fi
# 10-14: editing. c.npy (image 0 of seed 3, label 0) is the init image.
# strength 1 without a mask is the plain run
run "$model" --init "$tmp/c.npy" --strength 1 --labels 0 --seed 3 --npy "$tmp/e.npy"
he=$(( $(wc -c <"$tmp/e.npy") - 4096 ))
if [ "$he" -gt 0 ] && cmp -s -n 4096 -i "$hc:$he" "$tmp/c.npy" "$tmp/e.npy"; then
  ok "--strength 1 without a mask is the plain run"
else no "--strength 1 without a mask is the plain run"; fi

# a uint8 mask (.npy, 1 x 32 x 32): top half 0 = keep, bottom half 255 = generate
{
  hdr="{'descr': '|u1', 'fortran_order': False, 'shape': (1, 32, 32), }"
  printf '\223NUMPY\001\000\166\000%-117s\n' "$hdr"
  i=0; while [ $i -lt 512 ]; do printf '\000'; i=$((i + 1)); done
  i=0; while [ $i -lt 512 ]; do printf '\377'; i=$((i + 1)); done
} >"$tmp/mask.npy"
run "$model" --init "$tmp/c.npy" --mask "$tmp/mask.npy" --labels 3 --seed 9 \
    --resample 2 --npy "$tmp/f.npy"
hf=$(( $(wc -c <"$tmp/f.npy") - 4096 ))
if [ "$hf" -gt 0 ] && cmp -s -n 2048 -i "$hc:$hf" "$tmp/c.npy" "$tmp/f.npy" &&
   ! cmp -s -n 2048 -i "$((hc + 2048)):$((hf + 2048))" "$tmp/c.npy" "$tmp/f.npy" &&
   grep -q "inpainting, 31 network evaluations" "$tmp/err"; then
  ok "inpainting keeps the unmasked half bit for bit"
else no "inpainting keeps the unmasked half bit for bit"; fi

# variations: K images from one init, about strength x steps evaluations
if run "$model" --init "$tmp/c.npy" --strength 0.5 --variations 3 --npy "$tmp/g.npy" &&
   [ $(( $(wc -c <"$tmp/g.npy") - 3 * 4096 )) -eq "$hc" ] &&
   grep -q "strength 0.5, 8 network evaluations per image" "$tmp/err"; then
  ok "--variations 3 at strength 0.5: 3 images, 8 evaluations each"
else no "--variations 3 at strength 0.5: 3 images, 8 evaluations each"; fi

if ! run "$model" --mask "$tmp/mask.npy" && grep -q "give it with --init" "$tmp/err" &&
   ! run "$model" --init "$tmp/c.npy" --strength 1.5 && grep -q "not a number in (0, 1]" "$tmp/err"; then
  ok "editing options without --init, or a bad strength, are refused"
else no "editing options without --init, or a bad strength, are refused"; fi
if ! run "$model" --init "$tmp/nothere.png" && grep -q "nothere.png" "$tmp/err" &&
   ! run "$model" --init "$tmp/mask.npy" --mask "$tmp/mask.npy" --count 2 --variations 3 &&
   grep -q "differ" "$tmp/err"; then
  ok "a missing init file and conflicting counts are reported"
else no "a missing init file and conflicting counts are reported"; fi

# 15-16: seeds. a.npy is seed 3, labels 0,7: image 1 redrawn alone with
# --first-index 1 is the same bytes; --seeds 3,3 makes image 0 of seed 3
# twice (c.npy is that image)
run "$model" --labels 7 --count 1 --seed 3 --first-index 1 --npy "$tmp/h.npy"
hh=$(( $(wc -c <"$tmp/h.npy") - 4096 ))
if [ "$hh" -gt 0 ] && cmp -s -n 4096 -i "$hh:$((ha + 4096))" "$tmp/h.npy" "$tmp/a.npy"; then
  ok "--first-index 1 redraws image 1 of a batch alone"
else no "--first-index 1 redraws image 1 of a batch alone"; fi
run "$model" --labels 0 --seeds 3,3 --npy "$tmp/i.npy"
hi=$(( $(wc -c <"$tmp/i.npy") - 8192 ))
if [ "$hi" -gt 0 ] && cmp -s -n 4096 -i "$hc:$hi" "$tmp/c.npy" "$tmp/i.npy" &&
   cmp -s -n 4096 -i "$hc:$((hi + 4096))" "$tmp/c.npy" "$tmp/i.npy"; then
  ok "--seeds gives each image its own seed"
else no "--seeds gives each image its own seed"; fi

# 17: numbers are parsed strictly, naming the flag
if ! run "$model" --threads -3 && grep -q -- "--threads: '-3' is not a number" "$tmp/err" &&
   ! run "$model" --steps 12x && grep -q -- "--steps: '12x'" "$tmp/err" &&
   ! run "$model" --seeds 1,,2 && grep -q -- "--seeds" "$tmp/err" &&
   ! run "$model" --variation-strength 0.5 && grep -q "go together" "$tmp/err"; then
  ok "bad numbers and half-given options are refused, naming the flag"
else no "bad numbers and half-given options are refused, naming the flag"; fi

# 18: an output directory that does not exist is found before sampling
if run "$model" --count 1 --png "$tmp/nodir/x.png"; [ $? -eq 2 ] &&
   grep -q "nodir" "$tmp/err" && ! grep -q "^sampling" "$tmp/err"; then
  ok "a missing output directory is refused before sampling"
else no "a missing output directory is refused before sampling"; fi

# 19: a PNG given as the model: a plain message
if ! run "$tmp/a.png" --count 1 && grep -q "not a safetensors file (looks like PNG)" "$tmp/err"; then
  ok "a PNG given as a model is named as such"
else no "a PNG given as a model is named as such"; fi

# 20-23: --latents. l3.npy is the starting noise of seed 3 for 2 images, from
# the library; fed to a run with another seed (the deterministic DPM-Solver++
# draws no other noise) it gives a.npy and a.png (seed 3) byte for byte, and
# its 2 rows set the count.
"$noise" "$model" 3 2 "$tmp/l3.npy" 2>"$tmp/err" &&
"$noise" "$model" 3 1 "$tmp/l3one.npy" 2>"$tmp/err" &&
"$noise" "$model" 3 2 "$tmp/neg.npy" negate 2>"$tmp/err" &&
"$noise" "$model" 3 2 "$tmp/nan.npy" nan 2>"$tmp/err" || echo "# initial-noise failed"
if run "$model" --labels 0,7 --latents "$tmp/l3.npy" --npy "$tmp/j.npy" --png "$tmp/j.png" &&
   grep -q "sampling 2 images" "$tmp/err" && grep -q "starting noise from" "$tmp/err" &&
   cmp -s "$tmp/j.npy" "$tmp/a.npy" && cmp -s "$tmp/j.png" "$tmp/a.png"; then
  ok "--latents with a plain run's noise gives the plain run, byte for byte"
else no "--latents with a plain run's noise gives the plain run, byte for byte"; fi
run "$model" --labels 0,7 --seed 3 --latents "$tmp/neg.npy" --npy "$tmp/k.npy"
hk=$(( $(wc -c <"$tmp/k.npy") - 8192 ))
if [ "$hk" -gt 0 ] && ! cmp -s -n 4096 -i "$hk:$ha" "$tmp/k.npy" "$tmp/a.npy" &&
   ! cmp -s -n 4096 -i "$((hk + 4096)):$((ha + 4096))" "$tmp/k.npy" "$tmp/a.npy"; then
  ok "other --latents give other images"
else no "other --latents give other images"; fi
# an edit starts from a*init + s*eps with the given eps: seed 3's edit
run "$model" --init "$tmp/c.npy" --strength 0.6 --labels 0 --seed 3 --npy "$tmp/m.npy"
if run "$model" --init "$tmp/c.npy" --strength 0.6 --labels 0 --seed 9 \
       --latents "$tmp/l3one.npy" --npy "$tmp/m9.npy" && cmp -s "$tmp/m.npy" "$tmp/m9.npy"; then
  ok "--latents with --init: the edit starts from that noise"
else no "--latents with --init: the edit starts from that noise"; fi
# refused, naming --latents, with nothing written: a 3-d array (no channel
# axis), a NaN, uint8 data, a count that differs, variations
{
  hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 32, 32), }"
  printf '\223NUMPY\001\000\166\000%-117s\n' "$hdr"
  head -c 8192 /dev/zero
} >"$tmp/flat.npy"
bad=0
for args in "--latents $tmp/flat.npy:has shape (2, 32, 32); the model starts from (N, 1, 32, 32)" \
            "--latents $tmp/nan.npy:(image 1) is NaN" \
            "--latents $tmp/mask.npy:dtype '|u1', expected '<f4'" \
            "--count 3 --latents $tmp/l3.npy:holds noise for 2 images, but 3" \
            "--seeds 1,2,3 --latents $tmp/l3.npy:holds noise for 2 images, but 3" \
            "--variation-seed 4 --variation-strength 0.5 --latents $tmp/l3.npy:use one"; do
  # shellcheck disable=SC2086
  run "$model" ${args%%:*} --npy "$tmp/z.npy" --png "$tmp/z.png"; rc=$?
  if [ $rc -eq 2 ] && grep -q -- "--latents" "$tmp/err" && grep -qF -- "${args#*:}" "$tmp/err" &&
     [ ! -e "$tmp/z.npy" ] && [ ! -e "$tmp/z.png" ]; then :; else
    echo "# refused wrongly: ${args%%:*}"; sed 's/^/#   /' "$tmp/err"; bad=1
  fi
done
if [ $bad -eq 0 ]; then
  ok "bad --latents are refused, naming --latents, nothing written"
else no "bad --latents are refused, naming --latents, nothing written"; fi
if [ $student_ok = 1 ]; then ok "the bundled 4-step student: stored settings and record"
else cp "$tmp/student.err" "$tmp/err"; no "the bundled 4-step student: stored settings and record"; fi
if [ $emoji_ok = 1 ]; then ok "the bundled emoji model: a 128x128 RGB image with its stored settings"
else cp "$tmp/emoji.err" "$tmp/err"; no "the bundled emoji model: a 128x128 RGB image with its stored settings"; fi
exit $fail
