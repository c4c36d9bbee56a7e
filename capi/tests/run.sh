#!/usr/bin/env bash
# Builds the C library and runs the C tests against it: each test as C11
# with -Wall -Wextra -Werror -pedantic, then again under AddressSanitizer
# and UndefinedBehaviorSanitizer; the header as C11 and as C++17; the
# README's exit-handler example; one test through pkg-config from a
# temporary install prefix (the shared library). Reuses the workspace's
# target directory; builds only fwcall-capi.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
CC=${CC:-cc}
CXX=${CXX:-c++}
target_dir=${CARGO_TARGET_DIR:-$root/target}

cargo build -q -p fwcall-capi
lib=$target_dir/debug/libfwcall_capi.a
# What a Rust static library needs from the system on Linux.
syslibs=(-lpthread -ldl -lm -lrt -lutil -lgcc_s)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
warn=(-Wall -Wextra -Werror -pedantic)
passed=0
failed=0

run() { # name, command...
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAIL: $name"
    failed=$((failed + 1))
  fi
}

echo "-- the header alone, as C11 and C++17"
printf '#include "fwcall.h"\nint main(void) { return fwcall_strerror(0) == 0; }\n' >"$work/h.c"
$CC -std=c11 "${warn[@]}" -Iinclude -c "$work/h.c" -o "$work/h.o"
$CXX -std=c++17 "${warn[@]}" -Iinclude -c capi/tests/c/header.cpp -o "$work/hpp.o"
$CXX -std=c++17 "${warn[@]}" "$work/hpp.o" "$lib" "${syslibs[@]}" -o "$work/header_cpp"
run header-c++ "$work/header_cpp"

tests=(capi/tests/c/*.c)
for mode in plain sanitized; do
  flags=(-std=c11 "${warn[@]}" -g -Iinclude -Icapi/tests/c -pthread)
  if [ "$mode" = sanitized ]; then
    flags+=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  fi
  echo "-- C tests, $mode"
  for t in "${tests[@]}" capi/examples/exit_handler.c; do
    name=$(basename "$t" .c)
    $CC "${flags[@]}" "$t" "$lib" "${syslibs[@]}" -o "$work/$name-$mode"
    run "$name ($mode)" env ASAN_OPTIONS=detect_leaks=1 "$work/$name-$mode"
  done
done

echo "-- installed with capi/install.sh, built through pkg-config (shared library)"
prefix=$work/prefix
PROFILE=debug bash capi/install.sh "$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046
$CC -std=c11 "${warn[@]}" -Icapi/tests/c $(pkg-config --cflags fwcall) capi/tests/c/sdei.c \
  $(pkg-config --libs fwcall) -Wl,-rpath,"$prefix/lib" -o "$work/sdei-pkgconfig"
run "sdei (pkg-config, shared)" "$work/sdei-pkgconfig"

echo
echo "capi: $passed passed, $failed failed"
[ "$failed" = 0 ]
