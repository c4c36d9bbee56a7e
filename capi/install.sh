#!/usr/bin/env bash
# Installs fwcall's C library under a prefix: PREFIX/lib/libfwcall.a and
# libfwcall.so, PREFIX/include/fwcall.h, PREFIX/lib/pkgconfig/fwcall.pc.
#   bash capi/install.sh /usr/local            # release build
#   PROFILE=debug bash capi/install.sh /tmp/p  # reuse a debug build
set -euo pipefail
prefix=${1:?usage: install.sh PREFIX}
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build -q --release -p fwcall-capi
else
  cargo build -q -p fwcall-capi
fi
out=${CARGO_TARGET_DIR:-target}/$profile
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
install -m 644 "$out/libfwcall_capi.a" "$prefix/lib/libfwcall.a"
install -m 755 "$out/libfwcall_capi.so" "$prefix/lib/libfwcall.so"
install -m 644 include/fwcall.h "$prefix/include/fwcall.h"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" capi/fwcall.pc.in \
  >"$prefix/lib/pkgconfig/fwcall.pc"
echo "installed fwcall $version ($profile) under $prefix"
