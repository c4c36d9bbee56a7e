# shellcheck shell=bash
# Assembling initramfs images from a staging directory: static busybox plus
# whatever the caller adds. Uncompressed on purpose: under TCG the kernel
# unpacks a plain cpio far faster than it inflates a gzip one.

# stage_busybox DIR BUSYBOX: a minimal root with busybox and its applets.
stage_busybox() {
  local dir=$1 busybox=$2
  rm -rf "$dir"
  mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run}
  install -m 0755 "$busybox" "$dir/bin/busybox"
  ln -s busybox "$dir/bin/sh"
}

# pack_cpio DIR OUT: newc archive of DIR, owned by root, reproducible order.
pack_cpio() {
  local dir=$1 out=$2
  (cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
    cpio --quiet -o -H newc -R 0:0 --reproducible) >"$out.tmp"
  mv "$out.tmp" "$out"
}
