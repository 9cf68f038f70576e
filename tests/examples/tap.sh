# TAP helpers for the program tests, sourced after `bin` is set:
# a temporary directory $tmp (removed at exit), ok/no to report a check
# (no prints the last stderr), run to call $bin with its output in
# $tmp/out and $tmp/err, refused for a call that must exit with status 2.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$tmp/err" 2>/dev/null; fail=1; }
run() { "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; }
refused() { run "$@"; [ $? -eq 2 ]; }
