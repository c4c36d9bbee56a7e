//! `fwcall demo`: the timeline runs through every step, every check holds,
//! calls are decoded by name, colour only when asked, and `--record`
//! writes a trace that replays.

use fwcall_cli::demo;
use std::process::Command;

fn run(colour: bool) -> (demo::DemoResult, String) {
    let mut out = Vec::new();
    let r = demo::run(&mut out, colour, None);
    (r, String::from_utf8(out).expect("UTF-8 output"))
}

#[test]
fn demo_passes_every_check() {
    let (r, text) = run(false);
    assert!(r.failures.is_empty(), "{:?}\n{text}", r.failures);
    assert_eq!(r.exit_code(), 0);
    assert!(r.passed >= 80, "only {} checks ran", r.passed);
    assert!(
        r.calls >= 50 && r.deliveries == 5,
        "{} calls, {} deliveries",
        r.calls,
        r.deliveries
    );
    assert!(
        text.contains("PASS: every step behaved as expected"),
        "{text}"
    );
}

#[test]
fn demo_timeline_covers_each_scenario_with_calls_decoded_by_name() {
    let (_, text) = run(false);
    for needle in [
        "Linux probes SDEI",
        "cpu3  SDEI_PRIVATE_RESET() -> SUCCESS",
        "cpu0  SDEI_SHARED_RESET() -> SUCCESS",
        "cpu2  SDEI_PE_UNMASK() -> SUCCESS",
        "SMCCC_ARCH_FEATURES(fid=PV_TIME_FEATURES) -> SUCCESS",
        "PV_TIME_FEATURES(fid=PV_TIME_ST) -> SUCCESS",
        "cpu3  PV_TIME_ST() -> ipa=0xa1000c0",
        "SDEI_EVENT_REGISTER(event=65, entry=0xffff800008013000",
        "<= SDEI event 0x40 entered",
        "interrupted pc 0xffff800008345670, pstate 0x3c5",
        "<= SDEI event 0x41 entered",
        "SDEI_EVENT_CONTEXT(x0) -> 0xc0",
        "SDEI_EVENT_COMPLETE(HANDLED)",
        "SDEI_EVENT_COMPLETE_AND_RESUME(resume=0xffff800008010480)",
        "account_steal",
        "LPT republished: sequence_number 2 -> 4",
        "<= SDEI event 0x42 entered",
        "calls served:",
        "events delivered: 5",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in\n{text}");
    }
}

#[test]
fn colour_only_when_asked() {
    let (_, plain) = run(false);
    assert!(!plain.contains('\x1b'), "plain output has escape codes");
    let (_, coloured) = run(true);
    assert!(
        coloured.contains("\x1b[32mok\x1b[0m"),
        "no colour when asked for"
    );
}

#[test]
fn the_binary_is_plain_when_piped_and_records_a_replayable_trace() {
    let dir = std::env::temp_dir().join(format!("fwcall-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let trace = dir.join("session.fwt");
    let o = Command::new(env!("CARGO_BIN_EXE_fwcall"))
        .args(["demo", "--record"])
        .arg(&trace)
        .env_remove("NO_COLOR")
        .output()
        .expect("run fwcall demo");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(!text.contains('\x1b'), "colour on a pipe");
    assert!(text.contains("PASS session\n1 passed, 0 failed"), "{text}");
    let recorded = std::fs::read_to_string(&trace).expect("trace written");
    assert!(
        recorded.contains("\nsnapshot snap0\nrestore snap0 native_hz=25000000\n"),
        "{recorded}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
