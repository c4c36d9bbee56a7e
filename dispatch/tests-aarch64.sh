#!/usr/bin/env bash
# Runs fwcall's KVM adapter tests for aarch64 under qemu-user, including
# the check of every locally defined KVM ABI value against kvm-bindings'
# arm64 module (a test that only exists on aarch64). Installs the rustup
# target, the cross linker and qemu-user-static when missing; prints a loud
# SKIPPED line and exits 0 when they cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu

skip() { echo "SKIPPED: fwcall::kvm aarch64 tests under qemu-user: $*"; exit 0; }

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  rustup target add "$TARGET" >&2 || skip "cannot install the rustup target $TARGET"
fi
need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >&2 \
      || skip "cannot install ${need[*]}"
  else
    skip "missing ${need[*]} and no way to install them"
  fi
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static
# In case a RUSTFLAGS from the environment overrides the static link above.
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
cargo test -p fwcall --features kvm --lib --target "$TARGET" kvm::
