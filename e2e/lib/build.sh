# shellcheck shell=bash
# Building what goes into the guests: the SDEI test module (against the
# Debian headers of exactly the guest kernel) and the reference VMM.

# build_module SRC PAYLOAD WORK OUT: kbuild needs a writable M= directory,
# so the sources are copied to WORK. BTF for the module is skipped (it needs
# pahole and is of no use to the test).
build_module() {
  local src=$1 payload=$2 work=$3 out=$4
  mkdir -p "$work"
  cp "$src"/fwcall_e2e.c "$src"/Kbuild "$work"/
  make -s -C "$payload/headers" M="$work" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- \
    CONFIG_DEBUG_INFO_BTF_MODULES= W=1 modules >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; return 1; }
  grep -q 'warning:' "$work/build.log" && { cat "$work/build.log" >&2; return 1; }
  aarch64-linux-gnu-strip --strip-debug -o "$out" "$work/fwcall_e2e.ko"
}

# build_vmm ROOT OUT: the reference VMM, cross-built for aarch64 by the
# script the refvmm package ships.
build_vmm() {
  local root=$1 out=$2 script bin
  script=$root/refvmm/build-aarch64.sh
  [ -x "$script" ] || { echo "e2e: $script is missing" >&2; return 1; }
  bin=$("$script" | tail -n 1) || return 1
  [ -f "$bin" ] || { echo "e2e: build-aarch64.sh printed '$bin', not a file" >&2; return 1; }
  install -m 0755 "$bin" "$out"
}
