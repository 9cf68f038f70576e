#!/bin/sh
# The shared library's ABI surface is a deliberate, reviewed list:
#  1. the soname is libsimdiff.so.0;
#  2. every exported symbol starts with simdiff_;
#  3. the exported symbols equal tests/abi/exported.txt exactly
#     (update that file in the same commit as an API change).
# usage: check_exports.sh LIBSIMDIFF_SO EXPECTED_LIST        (TAP output)
set -u
lib=$1 expected=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "1..3"
fail=0
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
if [ "$soname" = "libsimdiff.so.0" ]; then
  echo "ok 1 - soname is libsimdiff.so.0"
else
  echo "not ok 1 - soname is libsimdiff.so.0 (got '$soname')"; fail=1
fi
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sed 's/@.*//' | sort -u > "$tmp/actual"
bad=$(grep -v '^simdiff_' "$tmp/actual")
if [ -z "$bad" ]; then
  echo "ok 2 - only simdiff_* symbols are exported ($(wc -l < "$tmp/actual") symbols)"
else
  echo "not ok 2 - only simdiff_* symbols are exported"; echo "$bad" | sed 's/^/# unexpected: /'; fail=1
fi
grep -v '^#' "$expected" | sed '/^$/d' | sort -u > "$tmp/expected"
if diff -u "$tmp/expected" "$tmp/actual" > "$tmp/diff"; then
  echo "ok 3 - exported symbols equal tests/abi/exported.txt"
else
  echo "not ok 3 - exported symbols equal tests/abi/exported.txt"; sed 's/^/# /' "$tmp/diff"; fail=1
fi
exit $fail
