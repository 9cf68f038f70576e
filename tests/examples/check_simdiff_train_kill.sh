#!/bin/sh
# simdiff-train killed with SIGKILL at random points, and on a full file
# system (docs/reliability.md, "Kills and full disks"):
#  - after every kill, the checkpoint in --out (if one was written yet)
#    loads and a resumed run ends with a model byte-identical to that of
#    an uninterrupted run of the same length;
#  - on a full tmpfs (root only, else SKIP) a checkpoint save fails with
#    an error and status 1 and leaves the previous checkpoint intact.
# (TAP output)  usage: check_simdiff_train_kill.sh SIMDIFF_TRAIN PYTHON [KILLS]
set -u
bin=$1 py=$2 kills=${3:-4}
tmp=$(mktemp -d) || exit 1
mnt=""
cleanup() { [ -n "$mnt" ] && umount "$mnt" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$tmp/err" 2>/dev/null; fail=1; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
echo "1..$((kills + 1))"

"$py" "$(dirname "$0")/tiny_npy.py" "$tmp" 4 16 37 0 0  # (its y.npy is not used)

steps=6
common="--data $tmp/x.npy --pad 0 --batch 2 --warmup 1 --channels 32 --width 32 --depth 1 \
 --heads 2 --emb 32 --threads 1 --log-every 1 --ckpt-every 1"

# The reference: one uninterrupted run.
if ! "$bin" $common --steps $steps --out "$tmp/ref" >"$tmp/out" 2>"$tmp/err"; then
  no "uninterrupted reference run"; exit 1
fi
# How long a run takes, to spread the kills over it.
ms=$("$py" -c "import time,subprocess,sys; t=time.time(); subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL); print(int((time.time()-t)*1000))" \
     "$bin" $common --steps $steps --out "$tmp/timing")

i=0
while [ $i -lt "$kills" ]; do
  i=$((i + 1))
  out="$tmp/k$i"
  delay=$("$py" -c "import random; print(random.randint(1, max(2, $ms)) / 1000)")
  "$bin" $common --steps $steps --out "$out" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  resume="" how="no checkpoint yet, run again"
  if [ -f "$out/checkpoint.sdc" ]; then
    resume="--resume $out/checkpoint.sdc" how="resumed"
  fi
  if "$bin" $common --steps $steps --out "$out" $resume >"$tmp/out" 2>"$tmp/err" &&
     cmp -s "$tmp/ref/model.safetensors" "$out/model.safetensors"; then
    ok "killed after ${delay} s ($how): the final model is bit-identical"
  else no "killed after ${delay} s ($how): the run fails or its model differs"; fi
done

# A full file system: an 8 MiB tmpfs holds a run's checkpoint; fill the rest
# and resume: the next save must fail and leave the checkpoint as it was.
if [ "$(id -u)" -ne 0 ]; then
  skip "full file system" "not root (needs mount -t tmpfs)"
elif ! mkdir "$tmp/mnt" || ! mount -t tmpfs -o size=8m tmpfs "$tmp/mnt" 2>/dev/null; then
  skip "full file system" "mount -t tmpfs refused"
else
  mnt="$tmp/mnt"
  if "$bin" $common --steps 2 --out "$mnt/o" >"$tmp/out" 2>"$tmp/err" &&
     cp "$mnt/o/checkpoint.sdc" "$tmp/ck1" &&
     { dd if=/dev/zero of="$mnt/fill" bs=4k 2>/dev/null; true; } &&
     ! "$bin" $common --steps 4 --out "$mnt/o" --resume "$mnt/o/checkpoint.sdc" >"$tmp/out" 2>"$tmp/err" &&
     cmp -s "$tmp/ck1" "$mnt/o/checkpoint.sdc" && [ -s "$tmp/err" ] &&
     [ -z "$(ls "$mnt/o" | grep '\.tmp-')" ]; then
    ok "a full file system: the save fails with a message, the old checkpoint is intact, no temporary left"
  else no "a full file system: the save fails and the old checkpoint is intact"; fi
fi
exit $fail
