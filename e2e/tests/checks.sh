#!/usr/bin/env bash
# Self-test of the transcript checks, without QEMU: a transcript where every
# check holds (the guest migrating twice, one refused destination between),
# one where four fail (steal off by more than a tick, a COMPLETE missing on
# the VMM's side, an SDEI call answered with an error, calls served over
# their register budget; the secondary came up without fwcall's CPU_ON, no
# CPU_OFF, no reboot, no TRNG) and the migration checks find nothing, and one
# where only the migration checks fail (the counter jumped 20 ms under
# pause, 25% off the blackout under realtime, the refused destination
# changed the image), and one where the pause jump exceeds a tick but not
# the host's own largest stall of the guest.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/checks.sh
. "$here/../lib/checks.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0

expect() { # expect FIXTURE PASSED FAILED FAILING-CHECKS...
  local fixture=$1 want_p=$2 want_f=$3 out
  shift 3
  passed=0 failed=0
  normalize "$here/$fixture" "$tmp/t"
  out=$(run_checks "$tmp/t"; echo "counts $passed $failed")
  if ! grep -qx "counts $want_p $want_f" <<<"$out"; then
    echo "FAIL checks-selftest $fixture: wanted $want_p passed, $want_f failed; got:"
    echo "$out"
    bad=$((bad + 1))
    return
  fi
  for name in "$@"; do
    grep -q "^FAIL $name:" <<<"$out" || { echo "FAIL checks-selftest $fixture: $name should fail"; bad=$((bad + 1)); }
  done
  echo "PASS checks-selftest $fixture"
}

expect passing.transcript 13 0
expect failing.transcript 2 11 pv-steal sdei-delivery hotplug-shutdown register-traffic migrate-pause rollback migrate-realtime psci-boot psci-hotplug psci-reboot trng
expect migrate-failing.transcript 10 3 migrate-pause rollback migrate-realtime
expect migrate-noisy.transcript 13 0
[ "$bad" -eq 0 ]
