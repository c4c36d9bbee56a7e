#!/usr/bin/env bash
# Runs cargo-mutants over fwcall's core crates, one crate at a time, with
# each crate's own tests (cargo-mutants' default: the package that owns the
# mutated file). Not part of .ci/run: a full pass takes tens of minutes.
#
#   cargo install cargo-mutants --locked     # once (27.x was used)
#   mutants/run.sh                           # smccc pvtime sdei psci trng
#   mutants/run.sh smccc                     # one crate
#   SDEI_FILES=1 mutants/run.sh sdei         # sdei's calls/routing/ready/delivery only
#   ITERATE=1 mutants/run.sh smccc           # re-test only last run's survivors
#
# Copy mode only (never --in-place): cargo-mutants copies the tree to a
# scratch directory and builds there, so the worktree is never modified.
# Output goes to ${MUTANTS_OUT:-target/mutants}/<crate>/mutants.out
# (missed.txt lists survivors). Every survivor must be killed by a test or
# listed, with its reason, in mutants/mutants-equivalent.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${MUTANTS_OUT:-target/mutants}
jobs=${JOBS:-2}
crates=("$@")
[ ${#crates[@]} -eq 0 ] && crates=(smccc pvtime sdei psci trng)
for c in "${crates[@]}"; do
  args=(-d "$c" -j "$jobs" --timeout 120 --build-timeout 300 -o "$out/$c")
  # The vm-memory adapter is compiled (and so mutated for real) only with its feature.
  [ "$c" = pvtime ] && args+=(--features vm-memory)
  if [ "$c" = sdei ] && [ -n "${SDEI_FILES:-}" ]; then
    for f in calls routing ready delivery; do args+=(--file "sdei/src/$f.rs"); done
  fi
  [ -n "${ITERATE:-}" ] && args+=(--iterate)
  echo "== cargo mutants ${args[*]}"
  cargo mutants "${args[@]}" || true   # exits 2 when mutants survive
done
