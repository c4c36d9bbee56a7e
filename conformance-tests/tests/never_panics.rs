//! Property: no input, however hostile, panics the parser or the engine.

mod common;

use common::Mock;
use fwcall_conformance::target_fwcall::FwcallTarget;
use fwcall_conformance::{RunOptions, parse_trace, replay};
use proptest::prelude::*;

/// Fragments that make random traces look like real ones, so the engine
/// (not only the parser) sees plenty of input.
const WORDS: &[&str] = &[
    "vm",
    "vcpus=1",
    "vcpus=3",
    "event",
    "5",
    "shared",
    "private",
    "normal",
    "critical",
    "set",
    "call",
    "smc",
    "expect",
    "delivered",
    "any",
    "none",
    "irq",
    "raise",
    "vcpu-reset",
    "steal",
    "mem",
    "snapshot",
    "restore",
    "s",
    "->",
    "error",
    "ok",
    "0",
    "1",
    "2",
    "-1",
    "0x80000000",
    "0xC6000002",
    "0xC6000003",
    "0xC6000006",
    "0xC6000008",
    "0xC6000005",
    "x0=1",
    "pc=@a",
    "@a",
    "@a+1",
    "@b-0x10",
    "neg",
    "_",
    "0|1",
    "0x3c5/0x3cf",
    "u8",
    "u64",
    "=",
    "==",
    "0x40000000",
    "0x4fffffff",
    "mem=0x40000000:0x1000",
    "pvtime_ipa=0x40000000",
    "#",
    "\n",
    "\n",
    "\n",
    "x99=1",
    "40",
    "20",
    "vcpus=512",
    "native_hz=0",
    "0xffffffffffffffff",
    // Real SDEI and PV-time IDs, so the real server sees meaningful calls.
    "0xc4000020",
    "0xc4000021",
    "0xc4000022",
    "0xc4000024",
    "0xc4000025",
    "0xc4000026",
    "0xc400002c",
    "0xc400002f",
    "0xc4000031",
    "0xc5000021",
    "0x80000001",
    "0x80000001",
    "0x80000001",
    "0xffff800010001000",
    "0x80000001",
];

fn trace_like() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..60).prop_map(|w| {
        let mut s = String::from("vm vcpus=2\n");
        for x in w {
            s.push_str(x);
            s.push(' ');
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_trace("f.fwt", &bytes);
    }

    #[test]
    fn arbitrary_strings_never_panic_parser_or_engine(s in ".{0,300}") {
        let _ = replay::<Mock>("f.fwt", s.as_bytes(), RunOptions { verbose: true, keep_snapshots: true });
    }

    #[test]
    fn trace_like_input_never_panics_the_engine(s in trace_like()) {
        let r = replay::<Mock>("f.fwt", s.as_bytes(), RunOptions { verbose: true, keep_snapshots: true });
        // Whatever happened, a failure names a line of the input.
        if let Some(f) = r.verdict.failure() {
            prop_assert!(f.line >= 1 && f.line <= s.lines().count().max(1) + 1, "{f}");
        }
    }

    #[test]
    fn trace_like_input_never_panics_the_real_server(s in trace_like()) {
        let _ = replay::<FwcallTarget>("f.fwt", s.as_bytes(), RunOptions { verbose: true, keep_snapshots: true });
    }
}
