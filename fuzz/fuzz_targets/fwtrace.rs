//! cargo-fuzz target `fwtrace`: see `fwcall_conformance::fuzz::fwtrace`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fwcall_conformance::fuzz::fwtrace(data));
