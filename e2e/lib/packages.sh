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

# The guest payload: one Debian arm64 6.12 kernel ABI, chosen once and then
# pinned by the cache (a complete cache needs no registry at all).
#   $payload/abi       the ABI, e.g. 6.12.117+deb12
#   $payload/Image     the raw arm64 kernel image (the package's vmlinuz)
#   $payload/busybox   static arm64 busybox (extracted, never installed)
#   $payload/headers   the kernel's headers tree, ready for `make -C`
payload_complete() {
  local payload=$1
  [ -s "$payload/abi" ] && [ -s "$payload/Image" ] && [ -x "$payload/busybox" ] &&
    [ -f "$payload/headers/Makefile" ] && [ -f "$payload/modules/arm_smccc_trng.ko" ]
}

# pick_abi: the newest 6.12 ABI whose four packages all have a candidate
# (the security archive drops older ones, so a hard-coded ABI would rot).
pick_abi() {
  local host_arch abi
  host_arch=$(dpkg --print-architecture)
  apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-arm64-unsigned$' |
    awk '{ print $1 }' | sed 's/^linux-image-//; s/-arm64-unsigned$//' | sort -rV |
    while read -r abi; do
      for pkg in "linux-image-$abi-arm64-unsigned:arm64" "linux-headers-$abi-arm64:arm64" \
        "linux-headers-$abi-common" "linux-kbuild-$abi:$host_arch"; do
        [ -n "$(apt-cache madison "$pkg" 2>/dev/null)" ] || continue 2
      done
      echo "$abi"
      return 0
    done
}

# The headers' Makefile includes the common tree by absolute path; point it
# at the extracted copy (again whenever the cache has moved).
point_headers_here() {
  local payload=$1 mk
  mk=$payload/headers/Makefile
  grep -q "^include $payload/root/" "$mk" ||
    sed -i "s|^include .*/usr/src/|include $payload/root/usr/src/|" "$mk"
}

fetch_guest_payload() {
  local payload=$1 debs=$1/../debs abi stage host_arch
  if payload_complete "$payload"; then
    point_headers_here "$payload"
    return 0
  fi
  apt_update_once || return 1
  abi=$(pick_abi)
  [ -n "$abi" ] || { echo "e2e: no complete set of linux 6.12 arm64 packages" >&2; return 1; }
  host_arch=$(dpkg --print-architecture)
  mkdir -p "$debs"
  (cd "$debs" && timeout 600 apt-get download -q \
    "linux-image-$abi-arm64-unsigned:arm64" "linux-headers-$abi-arm64:arm64" \
    "linux-headers-$abi-common" "linux-kbuild-$abi:$host_arch" busybox-static:arm64 \
    >/dev/null 2>&1) || return 1

  stage=$payload.tmp
  rm -rf "$stage"
  mkdir -p "$stage/root"
  local deb
  for deb in "$debs"/linux-image-"$abi"-arm64-unsigned_*_arm64.deb \
    "$debs"/linux-headers-"$abi"-arm64_*_arm64.deb "$debs"/linux-headers-"$abi"-common_*_all.deb \
    "$debs"/linux-kbuild-"$abi"_*_"$host_arch".deb "$debs"/busybox-static_*_arm64.deb; do
    [ -f "$deb" ] || { echo "e2e: missing download $deb" >&2; return 1; }
    dpkg-deb -x "$deb" "$stage/root"
  done
  mv "$stage/root/boot/vmlinuz-$abi-arm64" "$stage/Image"
  mv "$stage/root/bin/busybox" "$stage/busybox"
  # Of the image's modules the guest loads only the SMCCC TRNG driver (the
  # trng check), and the hwrng core if this kernel builds it as a module;
  # uncompressed, since busybox insmod may not read xz.
  mkdir -p "$stage/modules"
  local ko name
  for name in arm_smccc_trng rng-core; do
    ko=$(find "$stage/root/lib/modules" "$stage/root/usr/lib/modules" -name "$name.ko*" 2>/dev/null | head -n 1)
    case $ko in
    "") ;;
    *.xz) xz -dc "$ko" >"$stage/modules/$name.ko" ;;
    *.zst) zstd -dcq "$ko" >"$stage/modules/$name.ko" ;;
    *) cp "$ko" "$stage/modules/$name.ko" ;;
    esac
  done
  [ -f "$stage/modules/arm_smccc_trng.ko" ] || { echo "e2e: no arm_smccc_trng module in the image package" >&2; return 1; }
  rm -rf "$stage/root/lib/modules" "$stage/root/usr/lib/modules" "$stage/root/boot"
  # The kbuild helpers (fixdep, modpost) come from the host-architecture
  # build of the same linux-kbuild version, so they run natively; the
  # relative symlinks scripts/ and tools/ resolve inside the extracted tree.
  ln -s "root/usr/src/linux-headers-$abi-arm64" "$stage/headers"
  echo "$abi" >"$stage/abi"
  rm -rf "$payload"
  mv "$stage" "$payload"
  point_headers_here "$payload"
  rm -rf "$debs"
  payload_complete "$payload"
}
