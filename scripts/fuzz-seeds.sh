#!/bin/sh
# Regenerate the committed seed corpora (fuzz/corpus/<target>/) with the
# library itself (fuzz/make_seeds.c). Needs a fuzz build (scripts/fuzz.sh
# makes one in build-fuzz/).
set -eu
cd "$(dirname "$0")/.."
rm -rf fuzz/corpus
mkdir -p fuzz/corpus
ASAN_OPTIONS=detect_leaks=0 build-fuzz/fuzz/make-seeds fuzz/corpus
