# shellcheck shell=bash
# Host packages and the arm64 guest payload (kernel, busybox, headers).
# Sourced by e2e/run; every function is idempotent and returns non-zero when
# the registry cannot be reached, so the caller can print SKIPPED.

backports_sources=/etc/apt/sources.list.d/fwcall-e2e-backports.sources

# bookworm's QEMU (7.2) and kernel (6.1) are too old for the SMCCC filter
# (Linux 6.4+), so the backports suite is added. It is derived from the
# machine's own main archive stanza: no archive host is written here.
add_backports() {
  [ -f "$backports_sources" ] && return 0
  local src=/etc/apt/sources.list.d/debian.sources
  [ -f "$src" ] || { echo "e2e: no $src to derive backports from" >&2; return 1; }
  awk 'BEGIN { RS = ""; ORS = "\n" } NR == 1' "$src" \
    | sed 's/^Suites:.*/Suites: bookworm-backports/' >"$backports_sources.tmp"
  grep -q '^URIs:' "$backports_sources.tmp" || { rm -f "$backports_sources.tmp"; return 1; }
  mv "$backports_sources.tmp" "$backports_sources"
  apt_updated=0
}

apt_updated=0
apt_update_once() {
  [ "$apt_updated" = 1 ] && return 0
  timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null || return 1
  apt_updated=1
}

have_host_tools() {
  command -v qemu-system-aarch64 >/dev/null &&
    qemu-system-aarch64 --version | grep -q 'version \(9\|[1-9][0-9]\)\.' &&
    command -v aarch64-linux-gnu-gcc >/dev/null &&
    [ -e /usr/aarch64-linux-gnu/lib/libc.a ] &&
    command -v cpio >/dev/null && command -v bc >/dev/null &&
    command -v make >/dev/null && command -v flex >/dev/null && command -v bison >/dev/null
}

install_host_tools() {
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt_updated=0
  fi
  add_backports || return 1
  have_host_tools && return 0
  apt_update_once || return 1
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    -t bookworm-backports qemu-system-arm >/dev/null || return 1
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross cpio make bc flex bison >/dev/null || return 1
  have_host_tools
}
