//! cargo-fuzz target `differential`: see `fwcall_conformance::fuzz::differential`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fwcall_conformance::fuzz::differential(data));
