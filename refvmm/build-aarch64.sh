#!/usr/bin/env bash
# Cross-builds the reference VMM for aarch64-unknown-linux-gnu (static, so
# it runs in a bare initramfs). Installs the rustup target and the Debian
# cross linker when missing. Prints the binary path on success; prints a
# loud SKIPPED line and exits 0 when the toolchain cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu

skip() { echo "SKIPPED: refvmm aarch64 cross-build: $*"; exit 0; }

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  rustup target add "$TARGET" >&2 || skip "cannot install the rustup target $TARGET"
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross; } >&2 \
      || skip "cannot install gcc-aarch64-linux-gnu"
  else
    skip "no aarch64-linux-gnu-gcc and no way to install it"
  fi
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
cargo build --release -p fwcall-refvmm --target "$TARGET" >&2
dir="${CARGO_TARGET_DIR:-target}"
echo "$(cd "$dir" && pwd)/$TARGET/release/fwcall-refvmm"
