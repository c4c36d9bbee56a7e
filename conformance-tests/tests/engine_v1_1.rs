//! fwtrace v1.1 (PSCI, TRNG and power state) in the replayer, against fwcall.

use fwcall_conformance::target_fwcall::FwcallTarget;
use fwcall_conformance::{RunOptions, Verdict, replay};

fn verdict(src: &str) -> Verdict {
    replay::<FwcallTarget>("t.fwt", src.as_bytes(), RunOptions::default()).verdict
}

fn passes(src: &str) {
    assert_eq!(verdict(src), Verdict::Pass, "trace:\n{src}");
}

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
fn boot_defaults_follow_psci() {
    passes(
        "vm vcpus=3\n\
         expect 2 power=on\n\
         call 2 0x84000000 -> -1\n",
    );
    passes(
        "vm vcpus=3 psci=1.0\n\
         expect 0 power=on\n\
         expect 1 power=off\n",
    );
    passes("vm vcpus=3 psci=0.2 boot=2\nexpect 1 power=on\nexpect 2 power=off\n");
}

#[test]
fn boot_without_psci_or_out_of_range_is_malformed() {
    malformed_at("vm vcpus=2 boot=1\n", 1, "needs PSCI");
    malformed_at("vm vcpus=2 psci=1.1 boot=3\n", 1, "1..=vcpus");
    malformed_at(
        "vm vcpus=2 boot=2\nsnapshot a\nrestore a psci=1.0 boot=3\n",
        3,
        "1..=vcpus",
    );
    passes("vm vcpus=2 boot=2\n");
}

#[test]
fn an_off_vcpu_makes_no_call_and_is_not_set() {
    malformed_at(
        "vm vcpus=2 psci=1.1\ncall 1 0x84000000\n",
        2,
        "vcpu1 is powered off",
    );
    malformed_at(
        "vm vcpus=2 psci=1.1\nset 1 x1=1\n",
        2,
        "`set` cannot name it",
    );
    malformed_at("vm vcpus=2 psci=1.1\nsmc 1 0x84000000\n", 2, "`smc`");
}

#[test]
fn power_state_found_off_while_replaying_is_malformed_too() {
    malformed_at(
        "vm vcpus=2 psci=1.1\n\
         call 0 0xc4000003 1 0x40080000 0 -> 0\n\
         call 1 0x84000002 0\n\
         call 1 0x84000000\n",
        4,
        "vcpu1 is powered off",
    );
}

#[test]
fn cpu_on_sets_the_psci_entry_state() {
    passes(
        "vm vcpus=2 psci=1.1\n\
         set 0 pstate=0x3c5\n\
         call 0 0xc4000003 1 0x40080000 0x1234 -> 0\n\
         expect 1 power=on pc=0x40080000 x0=0x1234 x1=0 x30=0 pstate=0x3c5 sctlr=0x800000 mpidr=0x80000001\n\
         call 1 0x84000000 -> 0x10001\n",
    );
}

#[test]
fn cpu_on_keeps_the_el1_system_registers() {
    // vCPU 1 ran, set its EL1 registers and powered off; CPU_ON keeps them.
    passes(
        "vm vcpus=2 psci=1.1\n\
         call 0 0xc4000003 1 0x40080000 0 -> 0\n\
         set 1 elr=0x11 spsr=0x22 vbar=0x33 sctlr=0x30d00800 x5=5 pstate=0x3c4\n\
         call 1 0x84000002 0\n\
         expect 1 power=off x5=5 x0=0x84000002\n\
         call 0 0xc4000003 1 0x40090000 7 -> 0\n\
         expect 1 elr=0x11 spsr=0x22 vbar=0x33 sctlr=0x30d00800 x5=0 x0=7 pstate=0x3c5\n",
    );
}

#[test]
fn expect_power_fails_with_both_states() {
    fails_at(
        "vm vcpus=2 psci=1.0\nexpect 1 power=on\n",
        2,
        "expected vcpu1 power=on, got off",
    );
    malformed_at(
        "vm vcpus=1\nexpect 0 power=maybe\n",
        2,
        "`power=` is `on` or `off`",
    );
}

#[test]
fn system_checks_the_last_action_directive() {
    passes(
        "vm vcpus=2 psci=1.1\n\
         system none\n\
         call 0 0x84000008 -> -6\n\
         system off\n\
         expect 0 x0=-6\n\
         system off\n\
         set 0 x1=1\n\
         system off\n\
         call 0 0x84000009 -> -6\n\
         system reset\n\
         call 0 0xc4000012 0 0\n\
         system reset\n\
         call 0 0x84000000\n\
         system none\n",
    );
    fails_at(
        "vm vcpus=1 psci=1.1\ncall 0 0x84000008\nsystem reset\n",
        3,
        "expected system reset, got off",
    );
}

#[test]
fn system_requests_change_nothing_until_vm_reset() {
    passes(
        "vm vcpus=2 psci=1.1\n\
         call 0 0xc4000003 1 0x40080000 0 -> 0\n\
         call 1 0x84000009\n\
         system reset\n\
         expect 0 power=on\n\
         expect 1 power=on\n\
         vm-reset\n\
         system none\n\
         expect 0 power=on pc=0 pstate=0x3c5\n\
         expect 1 power=off\n",
    );
}

#[test]
fn vm_reset_resets_registers_sdei_and_power_but_keeps_pv_time_and_mpidrs() {
    passes(
        "vm vcpus=2 psci=1.1 pvtime_ipa=0x0a100000 mem=0x40000000:0x10000000,0x0a100000:0x1000\n\
         set 0 mpidr=0x80000100 x9=9\n\
         call 0 0xc5000021 -> 0x0a100000\n\
         steal 0 1000\n\
         call 0 0xc4000021 0 0x1000 0 0 0 -> 0\n\
         call 0 0xc400002c -> 0\n\
         vm-reset\n\
         expect 0 mpidr=0x80000100 x9=0 pc=0\n\
         call 0 0xc4000028 0 -> 0\n\
         call 0 0xc400002b -> 0\n\
         mem 0x0a100008 u64 == 1000\n\
         call 0 0x84000000 -> 0x10001\n",
    );
}

#[test]
fn delivery_skips_off_vcpus() {
    // An RM_PE shared event for an off vCPU waits; nothing is entered there.
    passes(
        "vm vcpus=2 psci=1.1\n\
         event 0x40 shared normal\n\
         call 0 0xc4000021 0x40 0x1000 0 1 0x80000001 -> 0\n\
         call 0 0xc4000022 0x40 -> 0\n\
         raise 0x40\n\
         delivered 1 none\n\
         expect 1 power=off\n",
    );
}

#[test]
fn restore_brings_back_power_state_and_refuses_less() {
    passes(
        "vm vcpus=3 psci=1.1 trng=on\n\
         call 0 0xc4000003 2 0x40080000 0 -> 0\n\
         snapshot s\n\
         call 0 0xc4000003 1 0x40080000 0 -> 0\n\
         restore s psci=1.0 -> error\n\
         expect 1 power=on\n\
         restore s psci=off -> error\n\
         restore s trng=off -> error\n\
         restore s\n\
         expect 1 power=off\n\
         expect 2 power=on\n\
         system none\n",
    );
}

#[test]
fn trng_source_is_deterministic() {
    let src = "vm vcpus=1 trng=on\ncall 0 0xc4000053 192 -> 0 @a @b @c\n";
    let run = || {
        replay::<FwcallTarget>(
            "t.fwt",
            src.as_bytes(),
            RunOptions {
                verbose: true,
                keep_snapshots: false,
            },
        )
        .log
    };
    let first = run();
    assert_eq!(first, run());
    assert!(
        first
            .iter()
            .any(|l| l.contains("TRNG_RND64(bits=192) -> SUCCESS x1=")),
        "{first:?}"
    );
}

#[test]
fn verbose_names_psci_results() {
    let log = replay::<FwcallTarget>(
        "t.fwt",
        b"vm vcpus=2 psci=1.1\ncall 0 0xc4000003 1 0x40080001 0\ncall 0 0xc4000004 1 0\n",
        RunOptions {
            verbose: true,
            keep_snapshots: false,
        },
    )
    .log;
    assert!(
        log.iter().any(|l| l.ends_with("-> INVALID_ADDRESS")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("PSCI_AFFINITY_INFO_64(target=0x1, level=0) -> OFF")),
        "{log:?}"
    );
}
