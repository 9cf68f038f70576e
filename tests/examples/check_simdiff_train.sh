#!/bin/sh
# simdiff-train, the command-line trainer, end to end on a tiny NPY data
# set: the diffusion settings chosen by flag (schedule, loss, stem,
# prediction) land in the exported model's config and schedule, and bad
# flags are refused with a message and status 2. (TAP output)
# usage: check_simdiff_train.sh SIMDIFF_TRAIN PYTHON
set -u
bin=$1 py=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$tmp/err" 2>/dev/null; fail=1; }
run() { "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; }
echo "1..6"

# 4 RGB images 16x16 (NHWC uint8) and their labels, written without numpy
"$py" - "$tmp" <<'PY'
import sys
def npy(path, descr, shape, data):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode() + data)
npy(sys.argv[1] + "/x.npy", "|u1", "(4, 16, 16, 3)", bytes((i * 37) % 256 for i in range(4 * 16 * 16 * 3)))
npy(sys.argv[1] + "/y.npy", "|u1", "(4,)", bytes([0, 1, 2, 1]))
PY

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

# 4: the default schedule is shifted(d,64) for d x d images
if run $common --out "$tmp/b" &&
   head -c 4096 "$tmp/b/model.safetensors" | tr -c '[:print:]' ' ' | grep -q '"shifted(16,64)"'; then
  ok "default schedule shifted(16,64)"
else no "default schedule shifted(16,64)"; fi

# 5-6: bad flags are refused, nothing trained
if run $common --out "$tmp/c" --loss l1; [ $? -eq 2 ] && grep -q -- "--loss" "$tmp/err" &&
   [ ! -e "$tmp/c" ]; then
  ok "--loss l1 refused"
else no "--loss l1 refused"; fi
if run $common --out "$tmp/d" --schedule "shifted(16,064)"; [ $? -ne 0 ] &&
   grep -q "leading zeros" "$tmp/err"; then
  ok "a malformed --schedule is refused with the parser's message"
else no "a malformed --schedule is refused with the parser's message"; fi
exit $fail
