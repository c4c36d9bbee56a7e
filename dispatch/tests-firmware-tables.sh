#!/usr/bin/env bash
# Checks fwcall's firmware description with the tools a firmware engineer
# trusts: every ACPI table disassembled by iasl (acpica-tools), every device
# tree decompiled by dtc and read by fdtget (device-tree-compiler).
#
# Not "it parses": each field iasl prints must sit at the offset and width
# of the ACPI specification's layout (as Linux's actbl.h/actbl1.h give it),
# carry the specification's constant where there is one (GHESv2 type 10,
# notification type 11 = Software Delegated Exception, 64-bit system-memory
# registers, revisions) and the value the example asked for everywhere else
# (request.txt); the checksum and length must be right. Device trees must
# decompile without a warning and carry the bindings' compatible strings
# and the requested methods, regs and absences. Finally the check proves it
# can fail: a corrupted HEST (checksum repaired) and a doctored request
# must both be caught.
#
# Installs the tools with apt-get when missing; prints a loud SKIPPED line
# and exits 0 only when they cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() { printf '\n!!!!!!!! SKIPPED: firmware tables: %s !!!!!!!!\n\n' "$*"; exit 0; }
have_tools() { command -v iasl >/dev/null && command -v dtc >/dev/null && command -v fdtget >/dev/null; }

if ! have_tools; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends acpica-tools device-tree-compiler; } >/dev/null 2>&1 ||
      skip "cannot install acpica-tools and device-tree-compiler"
  fi
  have_tools || skip "no iasl/dtc/fdtget and no way to install them"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run -q -p fwcall --example firmware_tables --features fdt,acpi -- "$out" >/dev/null

# --- ACPI ------------------------------------------------------------------

# iasl's field lines, as FILE|KEY|OFFSET|LENGTH|VALUE. KEY is the field name,
# prefixed by the subtable number (1, 2, ...) inside HEST subtables and by
# the Generic Address Structure's name for its members.
disassemble() { # file (without .dat)
  local f=$1
  (cd "$out" && iasl -d "$f.dat") >"$out/$f.iasl.log" 2>&1 || {
    cat "$out/$f.iasl.log"; echo "FAIL: iasl could not disassemble $f.dat"; return 1; }
  [ -s "$out/$f.dsl" ] || { echo "FAIL: iasl wrote no $f.dsl"; return 1; }
  if grep -n 'Incorrect checksum\|\*\*\*\*\|Invalid' "$out/$f.dsl"; then
    echo "FAIL: iasl reports a problem in $f.dat"; return 1
  fi
  awk -v file="$f" '
    /^\[[0-9A-F]+h [0-9]+ +[0-9]+\]/ {
      off = $2 + 0; len = $3; sub(/\]$/, "", len); len += 0
      line = $0; sub(/^\[[^]]*\] */, "", line)
      name = line; sub(/ *: .*$/, "", name)
      value = line; sub(/^[^:]*: */, "", value)
      sub(/ *\/\*.*$/, "", value); sub(/ +\[.*$/, "", value)
      if (name == "Subtable Type") { n++; gas = "" }
      if (line ~ /\[Generic Address Structure\]/) { gas = name "."; next }
      if (line ~ /\[Hardware Error Notification Structure\]/) next
      key = name
      if (name ~ /^(Space ID|Bit Width|Bit Offset|Encoded Access Width|Address)$/) key = gas name
      if (n > 0) key = n "." key
      print file "|" key "|" off "|" len "|" value
    }' "$out/$f.dsl"
}

# The specification: FILE|KEY|OFFSET|LENGTH|CONSTANT ("*": requested or
# computed, checked elsewhere).
spec_header() { # file signature revision length-hex
  cat <<EOF
$1|Signature|0|4|"$2"
$1|Table Length|4|4|$4
$1|Revision|8|1|$3
$1|Checksum|9|1|*
$1|Oem ID|10|6|*
$1|Oem Table ID|16|8|*
$1|Oem Revision|24|4|*
$1|Asl Compiler ID|28|4|*
$1|Asl Compiler Revision|32|4|*
EOF
}
spec_ghes_v2() { # subtable-number
  local n=$1 b=$((40 + 92 * ($1 - 1)))
  cat <<EOF
hest|$n.Subtable Type|$b|2|000A
hest|$n.Source Id|$((b + 2))|2|*
hest|$n.Related Source Id|$((b + 4))|2|*
hest|$n.Reserved|$((b + 6))|1|00
hest|$n.Enabled|$((b + 7))|1|*
hest|$n.Records To Preallocate|$((b + 8))|4|*
hest|$n.Max Sections Per Record|$((b + 12))|4|*
hest|$n.Max Raw Data Length|$((b + 16))|4|*
hest|$n.Error Status Address.Space ID|$((b + 20))|1|00
hest|$n.Error Status Address.Bit Width|$((b + 21))|1|40
hest|$n.Error Status Address.Bit Offset|$((b + 22))|1|00
hest|$n.Error Status Address.Encoded Access Width|$((b + 23))|1|04
hest|$n.Error Status Address.Address|$((b + 24))|8|*
hest|$n.Notify Type|$((b + 32))|1|0B
hest|$n.Notify Length|$((b + 33))|1|1C
hest|$n.Configuration Write Enable|$((b + 34))|2|0000
hest|$n.PollInterval|$((b + 36))|4|00000000
hest|$n.Vector|$((b + 40))|4|*
hest|$n.Polling Threshold Value|$((b + 44))|4|00000000
hest|$n.Polling Threshold Window|$((b + 48))|4|00000000
hest|$n.Error Threshold Value|$((b + 52))|4|00000000
hest|$n.Error Threshold Window|$((b + 56))|4|00000000
hest|$n.Error Status Block Length|$((b + 60))|4|*
hest|$n.Read Ack Register.Space ID|$((b + 64))|1|00
hest|$n.Read Ack Register.Bit Width|$((b + 65))|1|40
hest|$n.Read Ack Register.Bit Offset|$((b + 66))|1|00
hest|$n.Read Ack Register.Encoded Access Width|$((b + 67))|1|04
hest|$n.Read Ack Register.Address|$((b + 68))|8|*
hest|$n.Read Ack Preserve|$((b + 76))|8|*
hest|$n.Read Ack Write|$((b + 84))|8|*
EOF
}

# Compares the disassembly with the specification and the request; prints
# one FAIL line per difference and returns non-zero if there was one.
compare_acpi() { # actual spec request
  awk -F'|' '
    FILENAME == ARGV[1] { k = $1 "|" $2; seen[k] = 1; off[k] = $3; len[k] = $4; val[k] = $5; next }
    FILENAME == ARGV[2] {
      k = $1 "|" $2; specd[k] = 1
      if (!(k in seen)) { print "FAIL: " k ": missing from the disassembly"; bad++; next }
      if (off[k] != $3 || len[k] != $4) { print "FAIL: " k ": at offset " off[k] " length " len[k] ", the specification says " $3 " length " $4; bad++ }
      if ($5 != "*" && val[k] != $5) { print "FAIL: " k ": " val[k] ", the specification says " $5; bad++ }
      checked++; next
    }
    $1 == "sdei" || $1 == "hest" {
      k = $1 "|" $2
      if (!(k in seen)) { print "FAIL: " k ": requested but not in the disassembly"; bad++; next }
      if (val[k] != $3) { print "FAIL: " k ": " val[k] ", requested " $3; bad++ }
      checked++
    }
    END {
      for (k in seen) if (!(k in specd)) { print "FAIL: " k ": a field the specification table does not list"; bad++ }
      printf "acpi: %d field checks, %d differences\n", checked, bad
      exit bad > 0
    }' "$1" "$2" "$3"
}

acpi_check() { # request file
  local request=$1 count
  { disassemble sdei && disassemble hest; } >"$out/actual.txt" || { cat "$out/actual.txt"; return 1; }
  count=$(awk -F'|' '$1 == "hest" && $2 == "Error Source Count" { print $3 }' "$request")
  {
    spec_header sdei SDEI 01 00000024
    spec_header hest HEST 01 "$(printf '%08X' $((40 + 92 * 0x$count)))"
    echo "hest|Error Source Count|36|4|*"
    for n in $(seq 1 $((0x$count))); do spec_ghes_v2 "$n"; done
  } >"$out/spec.txt"
  compare_acpi "$out/actual.txt" "$out/spec.txt" "$request"
}

# --- Device tree -------------------------------------------------------------

dt_check() { # request file
  local request=$1 bad=0 checked=0 f node key want got parent base size
  fail() { echo "FAIL: $*"; bad=$((bad + 1)); }
  for f in hvc smc; do
    if ! dtc -I dtb -O dts -o "$out/$f.dts" "$out/$f.dtb" 2>"$out/$f.dtc.log"; then
      fail "dtc cannot decompile $f.dtb: $(cat "$out/$f.dtc.log")"; continue
    fi
    [ -s "$out/$f.dtc.log" ] && fail "dtc warns about $f.dtb: $(cat "$out/$f.dtc.log")"
    # The bindings' constants, wherever the node exists.
    if fdtget "$out/$f.dtb" /firmware/sdei compatible >/dev/null 2>&1; then
      got=$(fdtget -t s "$out/$f.dtb" /firmware/sdei compatible)
      [ "$got" = "arm,sdei-1.0" ] || fail "$f /firmware/sdei compatible: $got"
      checked=$((checked + 1))
    fi
    if fdtget "$out/$f.dtb" /reserved-memory '#address-cells' >/dev/null 2>&1; then
      for key in '#address-cells' '#size-cells'; do
        got=$(fdtget -t u "$out/$f.dtb" /reserved-memory "$key")
        [ "$got" = 2 ] || fail "$f /reserved-memory $key: $got"
      done
      fdtget -p "$out/$f.dtb" /reserved-memory | grep -qx ranges || fail "$f /reserved-memory has no ranges"
      for node in $(fdtget -l "$out/$f.dtb" /reserved-memory); do
        fdtget -p "$out/$f.dtb" "/reserved-memory/$node" | grep -qx no-map ||
          fail "$f /reserved-memory/$node is not no-map"
      done
      checked=$((checked + 1))
    fi
  done
  while IFS='|' read -r f node key want; do
    case $f in hvc|smc) ;; *) continue ;; esac
    checked=$((checked + 1))
    case $key in
      absent)
        parent=${node%/*}
        fdtget -l "$out/$f.dtb" "${parent:-/}" 2>/dev/null | grep -qx "${node##*/}" &&
          fail "$f $node: present, requested absent" ;;
      version)
        got=$(fdtget -t s "$out/$f.dtb" "$node" compatible 2>&1) || { fail "$f $node: $got"; continue; }
        case $want in
          0.2) [ "$got" = "arm,psci-0.2" ] || fail "$f $node compatible: $got, PSCI 0.2 binds arm,psci-0.2" ;;
          1.*) [ "$got" = "arm,psci-1.0 arm,psci-0.2" ] || fail "$f $node compatible: $got, PSCI $want binds arm,psci-1.0 then arm,psci-0.2" ;;
          *) fail "$f $node: no binding known for PSCI $want" ;;
        esac ;;
      reg)
        got=$(fdtget -t x "$out/$f.dtb" "$node" reg 2>&1) || { fail "$f $node: $got"; continue; }
        read -r base size <<<"$want"
        want=$(printf '%x %x %x %x' $((base >> 32)) $((base & 0xffffffff)) $((size >> 32)) $((size & 0xffffffff)))
        [ "$got" = "$want" ] || fail "$f $node reg: $got, requested $want" ;;
      *)
        got=$(fdtget -t s "$out/$f.dtb" "$node" "$key" 2>&1) || { fail "$f $node $key: $got"; continue; }
        [ "$got" = "$want" ] || fail "$f $node $key: $got, requested $want" ;;
    esac
  done <"$request"
  echo "device tree: $checked checks, $bad differences"
  [ "$bad" = 0 ]
}

status=0
acpi_check "$out/request.txt" || status=1
dt_check "$out/request.txt" || status=1

# --- The check can fail ------------------------------------------------------

# Source 1's SDEI event (offset 40 + 40) changed, checksum repaired with the
# value iasl asks for: only the field comparison can notice.
printf '\x99' | dd of="$out/hest.dat" bs=1 seek=80 conv=notrunc 2>/dev/null
(cd "$out" && iasl -d hest.dat >/dev/null 2>&1) || true
fix=$(sed -n 's/.*Incorrect checksum, should be \([0-9A-F][0-9A-F]\).*/\1/p' "$out/hest.dsl")
if [ -z "$fix" ]; then
  echo "FAIL: self-test: iasl did not notice the corrupted checksum"; status=1
else
  printf "\\x$fix" | dd of="$out/hest.dat" bs=1 seek=9 conv=notrunc 2>/dev/null
  if acpi_check "$out/request.txt" >"$out/selftest.log" 2>&1 || ! grep -q '1.Vector' "$out/selftest.log"; then
    cat "$out/selftest.log"; echo "FAIL: self-test: a changed GHES event went unnoticed"; status=1
  fi
fi
sed 's/^hvc|\/firmware\/sdei|method|hvc$/hvc|\/firmware\/sdei|method|smc/' "$out/request.txt" >"$out/doctored.txt"
if dt_check "$out/doctored.txt" >"$out/selftest-dt.log" 2>&1; then
  cat "$out/selftest-dt.log"; echo "FAIL: self-test: a wrong SDEI method went unnoticed"; status=1
fi

if [ "$status" = 0 ]; then
  echo "firmware tables: PASS (iasl $(iasl -v 2>/dev/null | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -1), $(dtc --version 2>&1 | head -1))"
else
  echo "firmware tables: FAIL"
fi
exit "$status"
