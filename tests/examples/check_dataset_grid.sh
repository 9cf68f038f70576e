#!/bin/sh
# dataset-grid, the data set preview: a grid PNG of an NPY data set; --help
# prints the usage and succeeds; unknown options, malformed numbers and a
# fourth word are refused with status 2 and write nothing. (TAP output)
# usage: check_dataset_grid.sh DATASET_GRID PYTHON
set -u
bin=$1 py=$2
. "$(dirname "$0")/tap.sh"
echo "1..3"
"$py" "$(dirname "$0")/tiny_npy.py" "$tmp" 4 16 37 0 0,1,2,1

if run "$tmp/g.png" "$tmp/x.npy" "$tmp/y.npy" -n 4 -pad 0 &&
   [ "$(head -c 8 "$tmp/g.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
  ok "a grid of the NPY data set is a PNG file"
else no "a grid of the NPY data set is a PNG file"; fi
if run --help && grep -q "^usage: " "$tmp/out" && [ ! -e ./--help ]; then
  ok "--help prints the usage and writes no file"
else no "--help prints the usage and writes no file"; fi
if refused "$tmp/b1.png" "$tmp/x.npy" -bogus && grep -q -- "unknown option '-bogus'" "$tmp/err" &&
   refused "$tmp/b1.png" "$tmp/x.npy" -n abc && grep -q -- "-n: 'abc'" "$tmp/err" &&
   refused "$tmp/b1.png" "$tmp/x.npy" "$tmp/y.npy" extra && [ ! -e "$tmp/b1.png" ]; then
  ok "an unknown option, a malformed number and a fourth word are refused"
else no "an unknown option, a malformed number and a fourth word are refused"; fi
exit $fail
