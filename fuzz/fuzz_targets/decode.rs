//! cargo-fuzz target `decode`: see `fwcall_conformance::fuzz::decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fwcall_conformance::fuzz::decode(data));
