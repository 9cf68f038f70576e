#!/bin/sh
# Captions and prompts in the programs (docs/text.md): simdiff-train
# --captions (a plain file, and the emoji data set's tab-separated names
# file) stores a text encoder and its vocabulary in the model, resumes with
# them, refuses captions that do not match the data; simdiff-sample
# --prompt / --prompts draws one image per prompt, cycling, and refuses
# prompts for a model without an encoder. (TAP output)
# usage: check_text.sh SIMDIFF_TRAIN SIMDIFF_SAMPLE PYTHON
set -u
train=$1 sample=$2 py=$3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$tmp/err" 2>/dev/null; fail=1; }
run() { "$@" >"$tmp/out" 2>"$tmp/err"; }
hdr() { head -c 8192 "$1" | tr -c '[:print:]' ' '; }
echo "1..11"

# 4 RGB images 16x16 and their captions
"$py" "$(dirname "$0")/tiny_npy.py" "$tmp" 4 16 37 0 0,1,2,1
printf 'red heart\nblue heart\ncat face\n\n' >"$tmp/caps.txt"
printf '2764\t0\theart\tRed Heart\n1F499\t0\theart\tblue heart\n1F431\t1\tcat-face\tcat face\n1F436\t1\tdog-face\tdog face\n' >"$tmp/names.txt"
common="--data $tmp/x.npy --pad 0 --batch 2 --warmup 1 --channels 32 --width 32 --depth 1 \
 --heads 2 --emb 32 --threads 1 --log-every 1 --text-layers 1 --text-width 16 --text-len 4 \
 --text-heads 2"

# 1-2: a plain captions file: the encoder and the vocabulary in the model
if run "$train" $common --steps 2 --out "$tmp/a" --captions "$tmp/caps.txt" &&
   [ -s "$tmp/a/model.safetensors" ]; then
  ok "trains with --captions"
else no "trains with --captions"; fi
case $(hdr "$tmp/a/model.safetensors") in
*"ctx_dim=16;ctx_len=4;text_vocab=7;text_layers=1;text_heads=2"*'"simdiff.vocab":"heart\nblue\ncat\nface\nred\n"'*)
  ok "config and vocabulary (by count, then alphabetical) stored" ;;
*) no "config and vocabulary (by count, then alphabetical) stored" ;;
esac

# 3: the emoji names file: the caption is the last field
if run "$train" $common --steps 2 --out "$tmp/b" --captions "$tmp/names.txt" &&
   hdr "$tmp/b/model.safetensors" | grep -q '"simdiff.vocab":"face\\nheart\\nblue\\ncat\\ndog\\nred\\n"'; then
  ok "emoji names file: captions from the last tab-separated field"
else no "emoji names file: captions from the last tab-separated field"; fi

# 4: captions must match the data rows
printf 'red heart\nblue heart\n' >"$tmp/short.txt"
if run "$train" $common --steps 2 --out "$tmp/c" --captions "$tmp/short.txt"; [ $? -eq 2 ] &&
   grep -q "2 lines for 4 images" "$tmp/err" && [ ! -e "$tmp/c" ]; then
  ok "captions of the wrong length refused"
else no "captions of the wrong length refused"; fi

# 5-6: resume with the captions; without them refused
if run "$train" $common --steps 4 --out "$tmp/a" --resume "$tmp/a/checkpoint.sdc" \
       --captions "$tmp/caps.txt" && grep -q "^4," "$tmp/a/loss.csv"; then
  ok "resumes a text run with --captions"
else no "resumes a text run with --captions"; fi
if run "$train" $common --steps 6 --out "$tmp/a" --resume "$tmp/a/checkpoint.sdc"; [ $? -eq 2 ] &&
   grep -q "give its --captions" "$tmp/err"; then
  ok "resuming a text run without --captions refused"
else no "resuming a text run without --captions refused"; fi

# 7: --captions for a model without an encoder
run "$train" $common --steps 2 --out "$tmp/p"
if run "$train" $common --steps 2 --out "$tmp/p" --resume "$tmp/p/checkpoint.sdc" \
       --captions "$tmp/caps.txt"; [ $? -eq 2 ] && grep -q "no text encoder" "$tmp/err"; then
  ok "--captions with a model without an encoder refused"
else no "--captions with a model without an encoder refused"; fi

# 8-10: prompts, cycling; a prompts file after the --prompt ones
npy_shape() { head -c 128 "$1" | tr -c '[:print:]' ' ' | sed -n "s/.*'shape': (\([0-9, ]*\)).*/\1/p"; }
if run "$sample" "$tmp/a/model.safetensors" --steps 2 --threads 1 --prompt "red heart" \
       --prompt "" --prompt "dog face" --npy "$tmp/s1.npy" &&
   [ "$(npy_shape "$tmp/s1.npy")" = "3, 3, 16, 16" ]; then
  ok "--prompt: one image per prompt"
else no "--prompt: one image per prompt"; fi
printf 'cat face\nblue heart\n' >"$tmp/prompts.txt"
if run "$sample" "$tmp/a/model.safetensors" --steps 2 --threads 1 --prompt "red heart" \
       --prompts "$tmp/prompts.txt" --count 5 --npy "$tmp/s2.npy" &&
   [ "$(npy_shape "$tmp/s2.npy")" = "5, 3, 16, 16" ]; then
  ok "--prompts FILE and --count cycle through the prompts"
else no "--prompts FILE and --count cycle through the prompts"; fi
# the same prompt at the same index draws the same image: image 3 of the
# second run (prompt 3 mod 3 = "red heart") is image 0 of a run of it
if run "$sample" "$tmp/a/model.safetensors" --steps 2 --threads 1 --prompt "red heart" \
       --first-index 3 --npy "$tmp/s3.npy" &&
   "$py" - "$tmp/s2.npy" "$tmp/s3.npy" <<'PYEOF'
import sys
a, b = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
ha, hb = 10 + int.from_bytes(a[8:10], "little"), 10 + int.from_bytes(b[8:10], "little")
per = 3 * 16 * 16 * 4
sys.exit(0 if a[ha + 3 * per:ha + 4 * per] == b[hb:hb + per] else 1)
PYEOF
then
  ok "image i has prompt i mod the number of prompts"
else no "image i has prompt i mod the number of prompts"; fi

# 11: prompts for a model without an encoder
if run "$sample" "$tmp/p/model.safetensors" --steps 2 --threads 1 --prompt "cat" \
       --npy "$tmp/s4.npy"; [ $? -eq 2 ] && grep -q "no text encoder" "$tmp/err"; then
  ok "--prompt for a model without an encoder refused"
else no "--prompt for a model without an encoder refused"; fi
exit $fail
