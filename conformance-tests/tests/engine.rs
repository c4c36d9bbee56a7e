//! The replayer's behaviour (fwtrace.md), driven against a mock server.

mod common;

use common::Mock;
use fwcall_conformance::{Report, RunOptions, Verdict, replay};

fn run_opts(src: &str, opts: RunOptions) -> Report {
    replay::<Mock>("t.fwt", src.as_bytes(), opts)
}

fn verdict(src: &str) -> Verdict {
    run_opts(src, RunOptions::default()).verdict
}

fn passes(src: &str) {
    let v = verdict(src);
    assert_eq!(v, Verdict::Pass, "trace:\n{src}");
}

/// Asserts the trace fails at `line` and the message contains `needle`.
fn fails_at(src: &str, line: usize, needle: &str) {
    match verdict(src) {
        Verdict::Failed(f) => {
            assert_eq!(f.line, line, "{f}");
            assert!(f.message.contains(needle), "{f}");
        }
        other => panic!("expected a failure at line {line}, got {other:?}\n{src}"),
    }
}

fn malformed_at(src: &str, line: usize, needle: &str) {
    match verdict(src) {
        Verdict::Malformed(f) => {
            assert_eq!(f.line, line, "{f}");
            assert!(f.message.contains(needle), "{f}");
        }
        other => panic!("expected malformed at line {line}, got {other:?}\n{src}"),
    }
}

#[test]
fn call_puts_func_in_x0_and_args_in_x1_up_leaving_others() {
    passes(
        "vm vcpus=1\n\
         set 0 x3=0x33 x4=0x44\n\
         call 0 0xC6000001 5 6 -> 6 6 0x33 0xdd\n\
         expect 0 x4=0x44 x1=6 x5=0\n",
    );
}

#[test]
fn unserved_call_writes_only_x0() {
    passes(
        "vm vcpus=1\n\
         set 0 x1=1 x2=2 x3=3\n\
         call 0 0x83000001 -> -1 1 2 3\n",
    );
}

#[test]
fn smc32_results_compare_in_low_32_bits() {
    passes(
        "vm vcpus=1\ncall 0 0x86000007 -> 5\ncall 0 0x80000000 -> 0x10004\ncall 0 0x83000000 -> 0xffffffff\n",
    );
    // expect compares all 64 bits.
    fails_at(
        "vm vcpus=1\ncall 0 0x86000007\nexpect 0 x0=5\n",
        3,
        "expected vcpu0 x0=0x5",
    );
    // SMC64: all 64 bits.
    fails_at(
        "vm vcpus=1\ncall 0 0xC3000000 -> 0xffffffff\n",
        2,
        "expected x0=0xffffffff",
    );
}

#[test]
fn restore_reply_writes_context_and_el1_registers() {
    passes(
        "vm vcpus=1\n\
         call 0 0xC6000003 0x1000 0x3c4 0xe1 0x5b\n\
         expect 0 pc=0x1000 pstate=0x3c4 elr=0xe1 spsr=0x5b x0=0x100 x17=0x111\n",
    );
}

#[test]
fn nothing_reply_writes_nothing() {
    passes("vm vcpus=1\nset 0 x0=7\ncall 0 0xC6000004\nexpect 0 x0=0xC6000004\n");
}

#[test]
fn a_reply_with_zero_count_is_a_server_failure() {
    fails_at("vm vcpus=1\ncall 0 0xC6000005\n", 2, "1..=18");
}

#[test]
fn a_server_error_is_a_failure_not_a_crash() {
    fails_at("vm vcpus=1\ncall 0 0xC6000008\n", 2, "vcpu0 broke");
}

#[test]
fn kick_naming_a_missing_vcpu_is_a_failure() {
    fails_at("vm vcpus=2\ncall 0 0xC6000006 5\n", 2, "vcpu5");
}

#[test]
fn delivery_enters_the_kicked_vcpu_after_the_call() {
    passes(
        "vm vcpus=2\n\
         set 1 pc=0x4000 pstate=0x3c5\n\
         call 0 0xC6000002 3 1 -> 0\n\
         delivered 1 3\n\
         delivered 0 none\n\
         delivered any 3\n\
         expect 1 pc=0xe003 x0=3 x1=0xa11 x2=0x4000 x3=0x3c5 pstate=0x3c5\n",
    );
}

#[test]
fn call_patterns_see_the_reply_before_the_callers_own_delivery() {
    // vCPU 0 queues for itself: the pattern sees the reply (0), the
    // delivery then overwrites x0 with the event number.
    passes("vm vcpus=1\ncall 0 0xC6000002 9 0 -> 0\ndelivered 0 9\nexpect 0 x0=9\n");
}

#[test]
fn deliveries_kick_further_vcpus_in_the_same_step() {
    passes("vm vcpus=3\ncall 0 0xC6000002 7 1\ndelivered 1 7\ndelivered 2 8\ndelivered 0 none\n");
}

#[test]
fn delivered_reports_the_last_acting_directive_only() {
    fails_at(
        "vm vcpus=2\ncall 0 0xC6000002 3 1\ncall 0 0x80000000\ndelivered 1 3\n",
        4,
        "expected delivered on vcpu1: event 3, got none",
    );
    // Checks in between do not reset the record.
    passes(
        "vm vcpus=2\ncall 0 0xC6000002 3 1\nexpect 1 x0=3\nmem 0x40000000 u8 == 0\ndelivered 1 3\n",
    );
}

#[test]
fn delivered_any_needs_exactly_one_vcpu() {
    fails_at(
        "vm vcpus=2\ncall 0 0x80000000\ndelivered any 3\n",
        3,
        "got no delivery",
    );
}

#[test]
fn sctlr_reaches_the_server_in_the_interrupted_context() {
    passes("vm vcpus=1\nset 0 sctlr=0\ncall 0 0xC6000002 1 0\nexpect 0 pstate=0x4003c5\n");
}

#[test]
fn raise_private_event_delivers_on_its_vcpu() {
    passes("vm vcpus=2\nevent 5 private normal\nraise 5 1\ndelivered 1 5\n");
}

#[test]
fn raise_shared_event_kicks_all_and_lands_once() {
    passes("vm vcpus=3\nevent 6 shared critical\nraise 6\ndelivered any 6\ndelivered 2 6\n");
}

#[test]
fn raise_refused_by_the_server_is_a_failure() {
    fails_at(
        "vm vcpus=1\nevent 99 private normal\nraise 99 0\n",
        3,
        "event 99 is refused",
    );
}

#[test]
fn irq_kicks_and_delivers() {
    passes("vm vcpus=2\nirq 40\ndelivered 0 40\nirq 41\ndelivered 0 none\n");
}

#[test]
fn vcpu_reset_restores_power_on_registers_but_keeps_mpidr() {
    passes(
        "vm vcpus=2\nset 1 mpidr=0x80000100 pc=0x10 pstate=0x5 x5=1\nvcpu-reset 1\n\
         expect 1 mpidr=0x80000100 pc=0 pstate=0x3c5 sctlr=0x800000 x5=0\n",
    );
}

#[test]
fn default_registers_follow_the_vcpu_model() {
    passes(
        "vm vcpus=512\n\
         expect 0 pstate=0x3c5 sctlr=0x0080_0000 mpidr=0x80000000 pc=0 elr=0 spsr=0 vbar=0 x30=0\n\
         expect 0x1ff mpidr=0x80001f0f\nexpect 0x123 mpidr=0x80001203\n",
    );
}

#[test]
fn steal_and_memory_round_trip() {
    passes(
        "vm vcpus=2 pvtime_ipa=0x9000000 mem=0x40000000:0x1000000,0x9000000:0x10000\n\
         steal 1 100\nsteal 1 0x10\nmem 0x9000048 u64 == 116\n\
         mem 0x40000000 u32 = 0xdeadbeef\nmem 0x40000000 u16 == 0xbeef\nmem 0x40000002 u8 == 0xad\nmem 0x40000003 u8 == 0xde\nmem 0x40000004 u8 == 0\n\
         mem 0x40000000 u8 = -1\nmem 0x40000000 u8 == 0xff\nmem 0x40000000 u8 == neg\n",
    );
}

#[test]
fn memory_check_failure_names_address_and_width() {
    fails_at(
        "vm vcpus=1\nmem 0x40000000 u16 == 1\n",
        2,
        "expected mem 0x40000000 u16 == 0x1, got 0x0",
    );
}

#[test]
fn memory_outside_the_regions_is_malformed() {
    malformed_at(
        "vm vcpus=1\nmem 0x1000 u8 = 1\n",
        2,
        "not inside one `mem` region",
    );
    malformed_at("vm vcpus=1\nmem 0x4fffffff u16 == 0\n", 2, "not inside");
}

#[test]
fn captures_bind_and_offsets_compare() {
    passes(
        "vm vcpus=1\ncall 0 0xC6000001 0x41 -> @a\ncall 0 0xC6000001 @a+1 -> @a+2 @b\n\
         expect 0 x1=@b x0=0x0/0xf0|0x44\n",
    );
    fails_at(
        "vm vcpus=1\ncall 0 0xC6000001 1 -> @a\nexpect 0 x0=@a+1\n",
        3,
        "expected vcpu0 x0=@a+0x1, got 0x2",
    );
}

#[test]
fn patterns_any_neg_alternatives_and_masks() {
    passes(
        "vm vcpus=1\ncall 0 0x83000000 -> neg\ncall 0 0x80000000 -> 1|0x10004|3\nexpect 0 x0=_ pstate=0x3c5/0x3cf\n",
    );
    fails_at(
        "vm vcpus=1\ncall 0 0x80000000 -> neg\n",
        2,
        "expected x0=neg, got 0x10004",
    );
}

#[test]
fn vm_error_passes_when_the_server_refuses() {
    passes("vm vcpus=1 native_hz=0 -> error\ncall 0 0x80000000 -> 1234\n");
    passes("vm vcpus=1 smccc=1.9 -> error\n");
    fails_at(
        "vm vcpus=1 -> error\ncall 0 0x80000000\n",
        1,
        "expected the server to refuse",
    );
}

#[test]
fn a_refused_vm_without_error_fails_at_the_vm_line() {
    fails_at(
        "# comment\nvm vcpus=1 native_hz=0\nset 0 x0=1\n",
        2,
        "expected the server to accept",
    );
}

#[test]
fn smccc_key_reaches_the_server() {
    passes("vm vcpus=1 smccc=1.1\ncall 0 0x80000000 -> 0x10001\n");
}

#[test]
fn snapshot_and_restore_keep_registers_and_check_refusals() {
    passes(
        "vm vcpus=2\nset 1 x9=9\nsnapshot a\nrestore a\nexpect 1 x9=9\n\
         restore a vcpus=3 -> error\nrestore a -> ok\ncall 1 0x80000000 -> 0x10004\n",
    );
    fails_at(
        "vm vcpus=2\nsnapshot a\nrestore a vcpus=3\n",
        3,
        "expected the restore of a to succeed",
    );
    fails_at(
        "vm vcpus=2\nsnapshot a\nrestore a -> error\n",
        3,
        "to be refused",
    );
}

#[test]
fn restore_with_mem_override_keeps_contents() {
    passes(
        "vm vcpus=1\nmem 0x40000010 u64 = 77\nsnapshot s\nrestore s mem=0x40000000:0x1000,0x50000000:0x1000\n\
         mem 0x40000010 u64 == 77\nmem 0x50000000 u8 = 1\n",
    );
}

#[test]
fn snapshots_are_kept_when_asked() {
    let r = run_opts(
        "vm vcpus=1\nsnapshot one\nsnapshot two\n",
        RunOptions {
            keep_snapshots: true,
            verbose: false,
        },
    );
    assert_eq!(r.verdict, Verdict::Pass);
    let names: Vec<&str> = r.snapshots.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
}

#[test]
fn verbose_log_decodes_calls_by_name() {
    let r = run_opts(
        "vm vcpus=2\ncall 1 0xc4000021 0 0xffff800010001000 0x1234 0 0\nsmc 0 0x80000000\n",
        RunOptions {
            verbose: true,
            keep_snapshots: false,
        },
    );
    assert!(r.log.iter().any(|l| l
        == "vcpu1 SDEI_EVENT_REGISTER(event=0, entry=0xffff800010001000, arg=0x1234, RM_ANY) -> NOT_SUPPORTED"), "{:?}", r.log);
    assert!(
        r.log
            .iter()
            .any(|l| l == "vcpu0 smc SMCCC_VERSION() -> 1.4 (0x10004)"),
        "{:?}",
        r.log
    );
}

#[test]
fn runtime_vcpu_out_of_range_is_malformed() {
    malformed_at(
        "vm vcpus=2\ncall 0 0xC6000001 5 -> @v\nset @v-5 x0=1\nset @v x0=1\n",
        4,
        "vCPU 6 does not exist",
    );
}

#[test]
fn the_first_failure_stops_the_run() {
    fails_at(
        "vm vcpus=1\ncall 0 0x80000000 -> 1\ncall 0 0x80000000 -> 2\n",
        2,
        "expected x0=0x1, got 0x10004",
    );
}
