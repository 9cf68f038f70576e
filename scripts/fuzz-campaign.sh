#!/bin/sh
# A long fuzzing campaign counted in CPU time (docs/reliability.md,
# "Fuzzing"): each target runs until it has used CPU_SECONDS of CPU (user +
# system), in chunks that resume from its corpus, so a machine shared with
# other work still gives every target its full CPU budget.
#   scripts/fuzz-campaign.sh [-c CPU_SECONDS] [TARGET...]
# CPU_SECONDS defaults to 3600; TARGET defaults to every target. Needs
# build-fuzz/ (scripts/fuzz.sh builds it). Each chunk is a libFuzzer run
# with the suite's options and a wall-time limit of the CPU still owed, from
# build-fuzz/fuzz/corpus-<t>/ (kept between chunks and campaigns) and the
# committed seeds; its output goes to build-fuzz/fuzz/campaign-<t>.log.
# One line per chunk and a summary per target go to stdout and
# build-fuzz/fuzz/campaign.txt: target, CPU seconds, executions, crashes.
# A crash ends that target's campaign (reproducer: build-fuzz/fuzz/crash-<t>-*)
# and the script's exit status is 1; an interrupted chunk (SIGINT to the
# fuzzer) is recorded as such and ends the campaign with status 130. Run it
# at low priority:
#   nice -n 19 scripts/fuzz-campaign.sh -c 3600 checkpoint safetensors
set -u
cd "$(dirname "$0")/.." || exit 1
cpu=3600
if [ "${1:-}" = -c ]; then
  cpu=${2:-}
  shift 2 || { echo "fuzz-campaign: -c needs a number of seconds" >&2; exit 2; }
fi
case $cpu in '' | *[!0-9]*) echo "fuzz-campaign: -c $cpu: not a whole number of seconds" >&2; exit 2 ;; esac
[ $# -gt 0 ] || set -- model-config schedule sampler-settings npy idx image safetensors checkpoint vocab
dir=build-fuzz/fuzz
for t in "$@"; do
  [ -x "$dir/fuzz-$t" ] || { echo "fuzz-campaign: $dir/fuzz-$t is missing (run scripts/fuzz.sh first)" >&2; exit 2; }
  [ -d "fuzz/corpus/$t" ] || { echo "fuzz-campaign: no seed corpus fuzz/corpus/$t" >&2; exit 2; }
done

# The CPU seconds (user + system) used by this shell's finished children:
# `times` must run in this shell (a subshell has no children of its own).
tf=$dir/.campaign-times.$$ # one per campaign: two may run at once
child_cpu() {
  awk 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
    printf "%.2f\n", t }' "$tf"
}

status=0
for t in "$@"; do
  mkdir -p "$dir/corpus-$t"
  used=0 execs=0 crashes=0 chunk=0
  while awk -v u="$used" -v c="$cpu" 'BEGIN { exit !(u < c) }'; do
    chunk=$((chunk + 1))
    left=$(awk -v u="$used" -v c="$cpu" 'BEGIN { l = int(c - u + 0.999); print l < 1 ? 1 : l }')
    times >"$tf"
    before=$(child_cpu)
    OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      "$dir/fuzz-$t" -max_total_time="$left" -timeout=25 -rss_limit_mb=2560 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$dir/crash-$t-" \
      "$dir/corpus-$t" "fuzz/corpus/$t" >"$dir/campaign-$t.log" 2>&1
    rc=$?
    times >"$tf"
    after=$(child_cpu)
    c=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }')
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/campaign-$t.log")
    used=$(awk -v u="$used" -v c="$c" 'BEGIN { printf "%.2f", u + c }')
    execs=$((execs + ${n:-0}))
    line="$t chunk $chunk: cpu $c s, executions ${n:-?}, exit $rc"
    echo "$line" | tee -a "$dir/campaign.txt"
    # SIGINT (Ctrl-C, kill -INT) makes libFuzzer exit 72 with this line: not a crash.
    if [ "$rc" -eq 72 ] && grep -q 'libFuzzer: run interrupted' "$dir/campaign-$t.log"; then
      echo "$t: cpu $used s, executions $execs, crashes $crashes (interrupted)" | tee -a "$dir/campaign.txt"
      rm -f "$tf"
      exit 130
    fi
    if [ "$rc" -ne 0 ]; then
      crashes=$((crashes + 1))
      status=1
      echo "fuzz-campaign: $t exited $rc: see $dir/campaign-$t.log and $dir/crash-$t-*" >&2
      break
    fi
    # A chunk that used almost no CPU (stopped at once) would loop forever.
    awk -v c="$c" 'BEGIN { exit !(c < 0.5) }' && { status=1; echo "fuzz-campaign: $t used no CPU" >&2; break; }
  done
  echo "$t: cpu $used s, executions $execs, crashes $crashes" | tee -a "$dir/campaign.txt"
done
rm -f "$tf"
exit $status
