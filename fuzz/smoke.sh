#!/usr/bin/env bash
# Short real fuzzing run of every fwcall fuzz target (CI smoke test).
#
# Installs cargo-fuzz when it is missing (crates.io), builds the targets
# with libFuzzer and runs each for FUZZ_SECONDS (default 20) from the
# committed seed corpus. Prints one loud SKIPPED line and exits 0 when
# cargo-fuzz cannot be installed or built: `cargo test` still runs every
# target body over its corpus without it.
#
# Environment: FUZZ_SECONDS, FUZZ_TARGETS (space-separated subset),
# FUZZ_SANITIZER (none, the default, or address: needs RUSTC_BOOTSTRAP),
# CARGO_TARGET_DIR (default: fuzz/target).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${FUZZ_SECONDS:-20}"
targets="${FUZZ_TARGETS:-decode vm_sequence differential restore fwtrace}"
sanitizer="${FUZZ_SANITIZER:-none}"
target_dir="${CARGO_TARGET_DIR:-$here/target}"

skip() {
    echo "SKIPPED: fuzz smoke run: $*" >&2
    echo "SKIPPED: fuzz smoke run: $*"
    exit 0
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/smoke.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked >/dev/null 2>&1 || skip "cargo-fuzz could not be installed"
fi
cargo fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz is not runnable"

# cargo-fuzz passes nightly-only flags; RUSTC_BOOTSTRAP lets stable accept them.
export RUSTC_BOOTSTRAP=1
cd "$here"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if ! cargo fuzz build -s "$sanitizer" -a --target-dir "$target_dir" >"$work/build.log" 2>&1; then
    tail -n 30 "$work/build.log" >&2 || true
    skip "the fuzz targets did not build with cargo-fuzz (log above)"
fi

status=0
for t in $targets; do
    mkdir -p "$work/$t"
    echo "fuzz/smoke.sh: $t for ${seconds}s"
    if cargo fuzz run -s "$sanitizer" -a --target-dir "$target_dir" "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$work/$t.log" 2>&1; then
        runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || echo '?')"
        echo "PASS fuzz $t ($runs executions in ${seconds}s)"
    else
        tail -n 40 "$work/$t.log"
        echo "FAIL fuzz $t (the crashing input is under fuzz/artifacts/$t/)"
        status=1
    fi
done
exit "$status"
