#!/bin/sh
# simdiff-distill, progressive distillation on the command line, end to end
# on a tiny NPY data set and a tiny teacher trained by simdiff-train: two
# rounds write students whose stored sampler settings are DDIM with the
# halved steps; a run split by --resume ends bit for bit where a straight
# run does; Ctrl-C saves a checkpoint; bad flags are refused with status 2.
# (TAP output)
# usage: check_simdiff_distill.sh SIMDIFF_DISTILL SIMDIFF_TRAIN PYTHON
set -u
bin=$1 train=$2 py=$3
. "$(dirname "$0")/tap.sh"
settings() { head -c 4096 "$1" | tr -c '[:print:]' ' ' | grep -o '"simdiff.\(sampler\|distilled\)":"[^"]*"' | tr '\n' ' '; }
echo "1..7"

"$py" "$(dirname "$0")/tiny_npy.py" "$tmp" 4 16 37 0 0,1,2,1
data="--data $tmp/x.npy --data-labels $tmp/y.npy --pad 0"
"$train" $data --batch 2 --steps 2 --warmup 1 --channels 32 --width 32 --depth 1 \
  --heads 2 --emb 32 --threads 1 --out "$tmp/t" >/dev/null 2>&1 || echo "# the teacher failed"
teacher=$tmp/t/model.safetensors
common="$data --batch 2 --threads 1 --log-every 1 --warmup 1 --ema 0.9 --guidance 3"

# 1-2: two rounds (8 -> 4 -> 2 steps), a student each, settings stored
if run "$teacher" $common --from 8 --to 2 --steps-per-round 3 --out "$tmp/a" &&
   [ -s "$tmp/a/student-4steps.safetensors" ] && [ -s "$tmp/a/student-2steps.safetensors" ] &&
   grep -q "^done" "$tmp/err" && [ "$(tail -n +2 "$tmp/a/loss.csv" | wc -l)" -eq 6 ]; then
  ok "two rounds write two students and loss.csv"
else no "two rounds write two students and loss.csv"; fi
s4=$(settings "$tmp/a/student-4steps.safetensors") s2=$(settings "$tmp/a/student-2steps.safetensors")
has() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }
if has "$s4" "method=1;steps=4;eta=0;guidance=1;" && has "$s4" "steps=4;teacher_steps=8;guidance=3\"" &&
   has "$s2" "method=1;steps=2;eta=0;guidance=1;" && has "$s2" "steps=2;teacher_steps=8;guidance=3\""; then
  ok "the students store DDIM with 4 and 2 steps, guidance 1, and their record"
else echo "# $s4 $s2"; no "the students store DDIM with 4 and 2 steps, guidance 1, and their record"; fi

# 3-4: round 0 alone, then --resume to the second round: the same student
# bit for bit, loss.csv with every step once
if run "$teacher" $common --from 8 --to 4 --steps-per-round 3 --out "$tmp/b" &&
   [ -s "$tmp/b/student-4steps.safetensors" ] && [ ! -e "$tmp/b/student-2steps.safetensors" ] &&
   run --resume "$tmp/b/checkpoint.sdc" $common --to 2 --steps-per-round 3 --out "$tmp/b" &&
   grep -q "resumed" "$tmp/err" &&
   cmp -s "$tmp/a/student-2steps.safetensors" "$tmp/b/student-2steps.safetensors"; then
  ok "a run split by --resume writes the straight run's student bit for bit"
else no "a run split by --resume writes the straight run's student bit for bit"; fi
if [ "$(cut -d, -f1 "$tmp/b/loss.csv" | tail -n +2 | tr '\n' ' ')" = "1 2 3 4 5 6 " ]; then
  ok "loss.csv has every step once after --resume"
else sed 's/^/# /' "$tmp/b/loss.csv"; no "loss.csv has every step once after --resume"; fi

# 5: Ctrl-C: the step ends, a checkpoint is saved, the run resumes from it
"$bin" "$teacher" $common --from 8 --to 2 --steps-per-round 1000000 --out "$tmp/c" \
  >"$tmp/out" 2>"$tmp/err" &
pid=$!
# A background job of a non-interactive shell starts with SIGINT ignored
# until the program installs its handler, so the signal waits for step 2
# (up to 5 minutes: an ASan build on a busy machine is slow to get there),
# and a watchdog ends a run that did not stop instead of hanging the suite.
i=0
while [ $i -lt 3000 ] && ! grep -q "step 2/" "$tmp/err" 2>/dev/null &&
      kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid 2>/dev/null
i=0
while [ $i -lt 1200 ] && kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
if kill -0 $pid 2>/dev/null; then
  echo "# simdiff-distill did not stop 2 minutes after SIGINT"; kill -KILL $pid
fi
wait $pid
st=$?
if [ $st -eq 0 ] && grep -q "^interrupted: saved" "$tmp/err" && [ -s "$tmp/c/checkpoint.sdc" ] &&
   run --resume "$tmp/c/checkpoint.sdc" $common --to 2 --steps-per-round 2 --out "$tmp/c" &&
   [ -s "$tmp/c/student-2steps.safetensors" ]; then
  ok "Ctrl-C saves a checkpoint that resumes"
else no "Ctrl-C saves a checkpoint that resumes (status $st)"; fi

# 6-7: bad flags: status 2, the flag named, nothing written
if refused "$teacher" $common --from 7 --out "$tmp/d" && grep -q -- "--from 7" "$tmp/err" &&
   refused "$teacher" $common --from 8 --to 3 --out "$tmp/d" && grep -q -- "--to 3" "$tmp/err" &&
   refused "$teacher" $common --guidance nan --out "$tmp/d" && grep -q -- "--guidance" "$tmp/err" &&
   refused "$teacher" $common --weighting l1 --out "$tmp/d" && grep -q -- "--weighting" "$tmp/err" &&
   refused $common --out "$tmp/d" && grep -q "TEACHER" "$tmp/err" &&
   refused "$teacher" $common --bogus --out "$tmp/d" && [ ! -e "$tmp/d" ]; then
  ok "bad --from, --to, --guidance, --weighting, options and a missing teacher are refused"
else no "bad --from, --to, --guidance, --weighting, options and a missing teacher are refused"; fi
if refused --resume "$tmp/a/checkpoint.sdc" $common --from 16 --out "$tmp/a" &&
   grep -q "cannot change on --resume" "$tmp/err" &&
   refused "$teacher" $data --pad 32 --batch 2 --out "$tmp/e" && grep -q "the data gives" "$tmp/err"; then
  ok "--resume with another --from, and data that does not fit the model, are refused"
else no "--resume with another --from, and data that does not fit the model, are refused"; fi
exit $fail
