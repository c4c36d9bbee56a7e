//! cargo-fuzz target `restore`: see `fwcall_conformance::fuzz::restore`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fwcall_conformance::fuzz::restore(data));
