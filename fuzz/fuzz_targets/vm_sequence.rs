//! cargo-fuzz target `vm_sequence`: see `fwcall_conformance::fuzz::vm_sequence`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fwcall_conformance::fuzz::vm_sequence(data));
