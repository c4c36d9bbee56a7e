//! One test per rule (names follow `conformance-tests/rules.txt`, PSCI).

use alloc::vec::Vec;

use fwcall_smccc::{
    Call, CpuStart, FunctionId, Kicks, Mpidr, Outcome, PowerAction, Reply, ResetKind, SmcccVersion,
    VcpuIndex, ids,
};

use crate::codes::*;
use crate::*;

const RAM: (u64, u64) = (0x4000_0000, 0x1000_0000);
const ENTRY: u64 = 0x4008_0000;

fn psci_n(version: PsciVersion, n: u32) -> Psci {
    let mpidrs: Vec<Mpidr> = (0..n).map(Mpidr::kvm_default).collect();
    Psci::new(
        &PsciConfig::new(version),
        &mpidrs,
        SmcccVersion::V1_1,
        &[RAM],
    )
    .unwrap()
}

fn psci(version: PsciVersion) -> Psci {
    psci_n(version, 4)
}

fn call(p: &Psci, v: u32, fid: FunctionId, args: &[u64]) -> Outcome {
    p.call(VcpuIndex(v), &Call::new(fid, args), &NoHook)
}

fn x0(p: &Psci, v: u32, fid: FunctionId, args: &[u64]) -> i64 {
    match call(p, v, fid, args).reply {
        Reply::Return { regs, count: 1 } => regs[0] as i64,
        other => panic!("expected an X0-only return, got {other:?}"),
    }
}

fn on(p: &Psci, target: u64) -> Outcome {
    call(p, 0, ids::PSCI_CPU_ON_64, &[target, ENTRY, 0x77])
}

#[test]
fn psci_version_reports_configured() {
    for (v, w) in [
        (PsciVersion::V0_2, 2),
        (PsciVersion::V1_0, 0x1_0000),
        (PsciVersion::V1_1, 0x1_0001),
    ] {
        assert_eq!(x0(&psci(v), 0, ids::PSCI_VERSION, &[]), w);
    }
}

#[test]
fn psci_version_smc64_form_unserved() {
    let p = psci(PsciVersion::V1_1);
    assert_eq!(x0(&p, 0, FunctionId(0xC400_0000), &[]), NOT_SUPPORTED);
    assert_eq!(x0(&p, 0, FunctionId(0xC400_0002), &[]), NOT_SUPPORTED);
}

#[test]
fn features_not_in_0_2() {
    let p = psci(PsciVersion::V0_2);
    assert_eq!(
        x0(&p, 0, ids::PSCI_FEATURES, &[ids::PSCI_VERSION.raw() as u64]),
        NOT_SUPPORTED
    );
}

#[test]
fn features_implemented_zero() {
    let p = psci(PsciVersion::V1_0);
    for f in [
        ids::PSCI_VERSION,
        ids::PSCI_FEATURES,
        ids::PSCI_CPU_SUSPEND,
        ids::PSCI_CPU_SUSPEND_64,
        ids::PSCI_CPU_OFF,
        ids::PSCI_CPU_ON,
        ids::PSCI_CPU_ON_64,
        ids::PSCI_AFFINITY_INFO,
        ids::PSCI_AFFINITY_INFO_64,
        ids::PSCI_MIGRATE_INFO_TYPE,
        ids::PSCI_SYSTEM_OFF,
        ids::PSCI_SYSTEM_RESET,
    ] {
        assert_eq!(x0(&p, 0, ids::PSCI_FEATURES, &[f.raw() as u64]), 0, "{f:?}");
    }
}

#[test]
fn features_smccc_version() {
    let p = psci(PsciVersion::V1_0);
    let q = [ids::SMCCC_VERSION.raw() as u64];
    assert_eq!(x0(&p, 0, ids::PSCI_FEATURES, &q), 0);
    let mpidrs = [Mpidr::kvm_default(0)];
    let old = Psci::new(
        &PsciConfig::new(PsciVersion::V1_0),
        &mpidrs,
        SmcccVersion::V1_0,
        &[],
    )
    .unwrap();
    assert_eq!(x0(&old, 0, ids::PSCI_FEATURES, &q), NOT_SUPPORTED);
}

#[test]
fn features_unimplemented_not_supported() {
    let p = psci(PsciVersion::V1_1);
    for n in [
        0x05u32, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x13, 0x14, 0x15, 0x1F,
    ] {
        for base in [0x8400_0000u32, 0xC400_0000] {
            let q = [(base | n) as u64];
            assert_eq!(
                x0(&p, 0, ids::PSCI_FEATURES, &q),
                NOT_SUPPORTED,
                "{:#x}",
                base | n
            );
        }
    }
}

#[test]
fn features_smc64_of_smc32_only() {
    let p = psci(PsciVersion::V1_1);
    for n in [0x00u32, 0x02, 0x06, 0x08, 0x09, 0x0A] {
        let q = [(0xC400_0000 | n) as u64];
        assert_eq!(x0(&p, 0, ids::PSCI_FEATURES, &q), NOT_SUPPORTED, "{n:#x}");
    }
}

#[test]
fn features_outside_psci() {
    let p = psci(PsciVersion::V1_1);
    for f in [
        0x8400_0020u64,
        0xC400_0020,
        0x8400_0050,
        0xC500_0020,
        0x0400_0000,
        0x8000_0001,
        0x8401_0000,
    ] {
        assert_eq!(x0(&p, 0, ids::PSCI_FEATURES, &[f]), NOT_SUPPORTED, "{f:#x}");
    }
}

#[test]
fn features_version_gated() {
    let q = [ids::PSCI_SYSTEM_RESET2_64.raw() as u64];
    assert_eq!(
        x0(&psci(PsciVersion::V1_0), 0, ids::PSCI_FEATURES, &q),
        NOT_SUPPORTED
    );
    assert_eq!(x0(&psci(PsciVersion::V1_1), 0, ids::PSCI_FEATURES, &q), 0);
}

#[test]
fn features_w1_only() {
    let p = psci(PsciVersion::V1_1);
    let q = [0xffff_ffff_0000_0000 | ids::PSCI_CPU_ON.raw() as u64];
    assert_eq!(x0(&p, 0, ids::PSCI_FEATURES, &q), 0);
}

#[test]
fn cpu_on_success_starts_target() {
    let p = psci(PsciVersion::V1_1);
    let out = on(&p, 2);
    assert_eq!(out.reply, Reply::x0(0));
    assert_eq!(
        out.power,
        Some(PowerAction::CpuOn(CpuStart {
            target: VcpuIndex(2),
            entry: ENTRY,
            context_id: 0x77
        }))
    );
    assert!(out.kicks.contains(VcpuIndex(2)));
    assert_eq!(p.power_state(VcpuIndex(2)), PowerState::On);
}

#[test]
fn cpu_on_smc32_truncates() {
    let p = psci(PsciVersion::V0_2);
    let out = call(
        &p,
        0,
        ids::PSCI_CPU_ON,
        &[0xffff_ffff_0000_0001, 0x1_0000_0000 | ENTRY, 0x5_0000_0006],
    );
    let Some(PowerAction::CpuOn(s)) = out.power else {
        panic!("{out:?}")
    };
    assert_eq!((s.target, s.entry, s.context_id), (VcpuIndex(1), ENTRY, 6));
}

#[test]
fn cpu_on_invalid_mpidr_bits() {
    let p = psci(PsciVersion::V1_1);
    for m in [1u64 << 31 | 1, 1 << 24 | 1, 1 << 40 | 1, 1 << 30 | 1] {
        assert_eq!(
            x0(&p, 0, ids::PSCI_CPU_ON_64, &[m, ENTRY, 0]),
            INVALID_PARAMETERS,
            "{m:#x}"
        );
    }
    assert_eq!(p.power_state(VcpuIndex(1)), PowerState::Off);
}

#[test]
fn cpu_on_unknown_mpidr() {
    let p = psci(PsciVersion::V1_1);
    assert_eq!(
        x0(&p, 0, ids::PSCI_CPU_ON_64, &[4, ENTRY, 0]),
        INVALID_PARAMETERS
    );
    assert_eq!(
        x0(&p, 0, ids::PSCI_CPU_ON_64, &[0x100, ENTRY, 0]),
        INVALID_PARAMETERS
    );
}

#[test]
fn cpu_on_already_on() {
    let p = psci(PsciVersion::V1_1);
    assert_eq!(x0(&p, 0, ids::PSCI_CPU_ON_64, &[0, ENTRY, 0]), ALREADY_ON);
    on(&p, 1);
    let out = on(&p, 1);
    assert_eq!(out.reply, Reply::signed(ALREADY_ON));
    assert_eq!((out.power, out.kicks), (None, Kicks::none()));
}

#[test]
fn cpu_on_bad_entry_misaligned() {
    let p = psci(PsciVersion::V1_1);
    for e in [ENTRY + 1, ENTRY + 2, ENTRY + 3] {
        assert_eq!(x0(&p, 0, ids::PSCI_CPU_ON_64, &[1, e, 0]), INVALID_ADDRESS);
    }
    assert_eq!(p.power_state(VcpuIndex(1)), PowerState::Off);
}

#[test]
fn cpu_on_bad_entry_outside_ram() {
    let p = psci(PsciVersion::V1_1);
    for e in [0u64, RAM.0 - 4, RAM.0 + RAM.1, u64::MAX - 3] {
        assert_eq!(
            x0(&p, 0, ids::PSCI_CPU_ON_64, &[1, e, 0]),
            INVALID_ADDRESS,
            "{e:#x}"
        );
    }
    assert_eq!(
        x0(&p, 0, ids::PSCI_CPU_ON_64, &[1, RAM.0 + RAM.1 - 4, 0]),
        0
    );
    // Without declared RAM only the alignment is checked.
    let mpidrs = [Mpidr::kvm_default(0), Mpidr::kvm_default(1)];
    let any = Psci::new(&PsciConfig::default(), &mpidrs, SmcccVersion::V1_1, &[]).unwrap();
    assert_eq!(x0(&any, 0, ids::PSCI_CPU_ON_64, &[1, 0x1000, 0]), 0);
}

#[test]
fn cpu_on_check_order() {
    let p = psci(PsciVersion::V1_1);
    // A bad MPIDR wins over a bad entry; a bad entry over ALREADY_ON.
    assert_eq!(
        x0(&p, 0, ids::PSCI_CPU_ON_64, &[9, 1, 0]),
        INVALID_PARAMETERS
    );
    assert_eq!(x0(&p, 0, ids::PSCI_CPU_ON_64, &[0, 1, 0]), INVALID_ADDRESS);
}

#[test]
fn cpu_on_on_pending_while_in_progress() {
    // A hook that issues a second CPU_ON for the same target while the
    // first is between claim and publication.
    struct Racer<'a>(&'a Psci, core::cell::Cell<Option<i64>>);
    impl PowerHook for Racer<'_> {
        fn cpu_on(&self, target: VcpuIndex) -> Kicks {
            assert_eq!(self.0.power_state(target), PowerState::OnPending);
            let c = Call::new(ids::PSCI_AFFINITY_INFO_64, &[target.0 as u64, 0]);
            assert_eq!(
                self.0.call(VcpuIndex(0), &c, &NoHook).reply,
                Reply::x0(AFFINITY_ON_PENDING)
            );
            let again = self.0.call(
                VcpuIndex(3),
                &Call::new(ids::PSCI_CPU_ON_64, &[target.0 as u64, ENTRY, 0]),
                &NoHook,
            );
            self.1.set(match again.reply {
                Reply::Return { regs, .. } => Some(regs[0] as i64),
                _ => None,
            });
            Kicks::none()
        }
    }
    let p = psci(PsciVersion::V1_1);
    p.power.set(3, PowerState::On);
    let r = Racer(&p, core::cell::Cell::new(None));
    let out = p.call(
        VcpuIndex(0),
        &Call::new(ids::PSCI_CPU_ON_64, &[1, ENTRY, 0]),
        &r,
    );
    assert_eq!(out.reply, Reply::x0(0));
    assert_eq!(r.1.get(), Some(ON_PENDING));
    assert_eq!(p.power_state(VcpuIndex(1)), PowerState::On);
}

#[test]
fn cpu_on_racing_callers_one_wins() {
    let p = std::sync::Arc::new(psci_n(PsciVersion::V1_1, 4));
    for v in 1..4 {
        p.power.set(v, PowerState::On);
    }
    p.power.set(3, PowerState::Off);
    let handles: Vec<_> = (0..3)
        .map(|v| {
            let p = p.clone();
            std::thread::spawn(move || x0(&p, v, ids::PSCI_CPU_ON_64, &[3, ENTRY, 0]))
        })
        .collect();
    let mut results: Vec<i64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    results.sort();
    assert_eq!(results, [ALREADY_ON, ALREADY_ON, SUCCESS]);
}

#[test]
fn cpu_off_powers_off() {
    let p = psci(PsciVersion::V1_1);
    on(&p, 1);
    let out = call(&p, 1, ids::PSCI_CPU_OFF, &[0x1_0000]);
    assert_eq!(out.reply, Reply::Nothing);
    assert_eq!(out.power, Some(PowerAction::CpuOff));
    assert_eq!(p.power_state(VcpuIndex(1)), PowerState::Off);
    // On again.
    assert_eq!(on(&p, 1).reply, Reply::x0(0));
}

#[test]
fn cpu_off_last_cpu_allowed() {
    let p = psci_n(PsciVersion::V0_2, 1);
    assert_eq!(
        call(&p, 0, ids::PSCI_CPU_OFF, &[]).power,
        Some(PowerAction::CpuOff)
    );
    assert_eq!(p.power_state(VcpuIndex(0)), PowerState::Off);
}

#[test]
fn hooks_run_at_transitions() {
    #[derive(Default)]
    struct Log(core::cell::RefCell<Vec<(&'static str, u32)>>);
    impl PowerHook for Log {
        fn cpu_on(&self, t: VcpuIndex) -> Kicks {
            self.0.borrow_mut().push(("on", t.0));
            let mut k = Kicks::none();
            k.add(VcpuIndex(3));
            k
        }
        fn cpu_off(&self, v: VcpuIndex) -> Kicks {
            self.0.borrow_mut().push(("off", v.0));
            Kicks::none()
        }
    }
    let p = psci(PsciVersion::V1_1);
    let log = Log::default();
    let out = p.call(
        VcpuIndex(0),
        &Call::new(ids::PSCI_CPU_ON, &[2, ENTRY, 0]),
        &log,
    );
    assert!(out.kicks.contains(VcpuIndex(3)) && out.kicks.contains(VcpuIndex(2)));
    p.call(VcpuIndex(2), &Call::new(ids::PSCI_CPU_OFF, &[]), &log);
    // A refused CPU_ON runs no hook.
    p.call(
        VcpuIndex(0),
        &Call::new(ids::PSCI_CPU_ON, &[0, ENTRY, 0]),
        &log,
    );
    assert_eq!(*log.0.borrow(), [("on", 2), ("off", 2)]);
}

#[test]
fn affinity_info_level0_on_off() {
    let p = psci(PsciVersion::V1_1);
    assert_eq!(x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0, 0]), 0);
    assert_eq!(x0(&p, 0, ids::PSCI_AFFINITY_INFO, &[1, 0]), 1);
    on(&p, 1);
    assert_eq!(x0(&p, 0, ids::PSCI_AFFINITY_INFO, &[1, 0]), 0);
}

#[test]
fn affinity_info_invalid_mpidr() {
    let p = psci(PsciVersion::V1_1);
    assert_eq!(
        x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[1 << 31, 0]),
        INVALID_PARAMETERS
    );
    assert_eq!(
        x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[1 << 48, 0]),
        INVALID_PARAMETERS
    );
}

#[test]
fn affinity_info_unknown_target() {
    let p = psci(PsciVersion::V1_1);
    assert_eq!(
        x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[7, 0]),
        INVALID_PARAMETERS
    );
    assert_eq!(
        x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0x100, 1]),
        INVALID_PARAMETERS
    );
}

#[test]
fn affinity_info_level_above_3() {
    let p = psci(PsciVersion::V1_1);
    assert_eq!(
        x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0, 4]),
        INVALID_PARAMETERS
    );
    // The level is a uint32: bits 63:32 are not part of it.
    assert_eq!(x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0, 1 << 32]), 0);
}

#[test]
fn affinity_info_higher_levels() {
    // 20 vCPUs: 0..15 in cluster Aff1 = 0, 16..19 in Aff1 = 1.
    let p = psci_n(PsciVersion::V1_1, 20);
    // Level 1 ignores Aff0 of the target.
    assert_eq!(x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0x0f, 1]), 0);
    assert_eq!(x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0x1ff, 1]), 1);
    on(&p, 0x103);
    assert_eq!(x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0x100, 1]), 0);
    assert_eq!(x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0x100, 2]), 0);
    assert_eq!(x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0, 3]), 0);
    assert_eq!(
        x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0x1_0000, 2]),
        INVALID_PARAMETERS
    );
    assert_eq!(
        x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[1 << 32, 3]),
        INVALID_PARAMETERS
    );
}

#[test]
fn cpu_suspend_standby_success() {
    let p = psci(PsciVersion::V1_1);
    let out = call(&p, 0, ids::PSCI_CPU_SUSPEND, &[0x0000_0001]);
    assert_eq!(
        (out.reply, out.power),
        (Reply::x0(0), Some(PowerAction::Standby))
    );
}

#[test]
fn cpu_suspend_powerdown_as_standby() {
    let p = psci(PsciVersion::V1_1);
    let out = call(&p, 0, ids::PSCI_CPU_SUSPEND_64, &[0x0301_0000, ENTRY, 5]);
    assert_eq!(
        (out.reply, out.power),
        (Reply::x0(0), Some(PowerAction::Standby))
    );
    assert_eq!(p.power_state(VcpuIndex(0)), PowerState::On);
}

#[test]
fn cpu_suspend_sbz_bits_invalid() {
    let p = psci(PsciVersion::V1_1);
    for bit in (17..24).chain(26..32) {
        let out = call(&p, 0, ids::PSCI_CPU_SUSPEND, &[1u64 << bit]);
        assert_eq!(
            (out.reply, out.power),
            (Reply::signed(INVALID_PARAMETERS), None),
            "bit {bit}"
        );
    }
}

#[test]
fn migrate_info_type_no_trusted_os() {
    assert_eq!(
        x0(
            &psci(PsciVersion::V0_2),
            0,
            ids::PSCI_MIGRATE_INFO_TYPE,
            &[]
        ),
        2
    );
}

#[test]
fn migrate_not_supported() {
    let p = psci(PsciVersion::V1_1);
    for f in [
        ids::PSCI_MIGRATE,
        ids::PSCI_MIGRATE_64,
        ids::PSCI_MIGRATE_INFO_UP_CPU,
        ids::PSCI_MIGRATE_INFO_UP_CPU_64,
    ] {
        assert_eq!(x0(&p, 0, f, &[1]), NOT_SUPPORTED);
    }
}

#[test]
fn system_off_asks_vm_off() {
    let out = call(&psci(PsciVersion::V0_2), 0, ids::PSCI_SYSTEM_OFF, &[]);
    assert_eq!(
        (out.reply, out.power),
        (
            Reply::signed(INTERNAL_FAILURE),
            Some(PowerAction::SystemOff)
        )
    );
}

#[test]
fn system_reset_asks_vm_reset() {
    let out = call(&psci(PsciVersion::V0_2), 1, ids::PSCI_SYSTEM_RESET, &[]);
    assert_eq!(out.power, Some(PowerAction::SystemReset(ResetKind::Cold)));
}

#[test]
fn system_reset_boot_state() {
    let mpidrs: Vec<Mpidr> = (0..4).map(Mpidr::kvm_default).collect();
    let config = PsciConfig {
        version: PsciVersion::V1_1,
        boot: alloc::vec![VcpuIndex(0), VcpuIndex(2)],
    };
    let p = Psci::new(&config, &mpidrs, SmcccVersion::V1_1, &[]).unwrap();
    let states = |p: &Psci| {
        (0..4)
            .map(|i| p.power_state(VcpuIndex(i)))
            .collect::<Vec<_>>()
    };
    use PowerState::{Off, On};
    assert_eq!(states(&p), [On, Off, On, Off]);
    call(&p, 0, ids::PSCI_CPU_ON, &[1, 0x1000, 0]);
    call(&p, 2, ids::PSCI_CPU_OFF, &[]);
    assert_eq!(states(&p), [On, On, Off, Off]);
    p.reset();
    assert_eq!(states(&p), [On, Off, On, Off]);
}

#[test]
fn system_reset2_warm_reset() {
    let p = psci(PsciVersion::V1_1);
    let out = call(&p, 0, ids::PSCI_SYSTEM_RESET2_64, &[0, 0xabcd]);
    assert_eq!(
        out.power,
        Some(PowerAction::SystemReset(ResetKind::Warm { cookie: 0xabcd }))
    );
    assert_eq!(out.reply, Reply::signed(INTERNAL_FAILURE));
    let out = call(
        &p,
        0,
        ids::PSCI_SYSTEM_RESET2,
        &[0xffff_ffff_0000_0000, 0x1_0000_0002],
    );
    assert_eq!(
        out.power,
        Some(PowerAction::SystemReset(ResetKind::Warm { cookie: 2 }))
    );
}

#[test]
fn system_reset2_reserved_types_invalid() {
    let p = psci(PsciVersion::V1_1);
    for t in [1u64, 2, 0x7fff_ffff] {
        let out = call(&p, 0, ids::PSCI_SYSTEM_RESET2_64, &[t, 0]);
        assert_eq!(
            (out.reply, out.power),
            (Reply::signed(INVALID_PARAMETERS), None)
        );
    }
}

#[test]
fn system_reset2_vendor_types_not_supported() {
    let p = psci(PsciVersion::V1_1);
    for t in [0x8000_0000u64, 0xffff_ffff] {
        let out = call(&p, 0, ids::PSCI_SYSTEM_RESET2, &[t, 0]);
        assert_eq!((out.reply, out.power), (Reply::signed(NOT_SUPPORTED), None));
    }
}

#[test]
fn system_reset2_not_before_1_1() {
    let p = psci(PsciVersion::V1_0);
    let out = call(&p, 0, ids::PSCI_SYSTEM_RESET2_64, &[0, 0]);
    assert_eq!((out.reply, out.power), (Reply::signed(NOT_SUPPORTED), None));
}

#[test]
fn psci_ids_unimplemented_not_supported() {
    let p = psci(PsciVersion::V1_1);
    for n in (0x0Bu32..=0x11).chain(0x13..=0x1F) {
        for base in [0x8400_0000u32, 0xC400_0000] {
            let out = call(&p, 0, FunctionId(base | n), &[1, ENTRY, 0]);
            assert_eq!(
                (out.reply, out.power),
                (Reply::signed(NOT_SUPPORTED), None),
                "{:#x}",
                base | n
            );
        }
    }
}

#[test]
fn psci_ids_x0_only() {
    // Every reply of an implemented function writes X0 at most.
    let p = psci(PsciVersion::V1_1);
    for b in REGISTER_USE {
        let fid = &b.fid;
        assert_eq!(b.writes, 1);
        let out = call(&p, 0, *fid, &[1, ENTRY, 0]);
        match out.reply {
            Reply::Return { count, .. } => assert_eq!(count, 1, "{fid:?}"),
            Reply::Nothing => assert_eq!(*fid, ids::PSCI_CPU_OFF),
            Reply::Restore(_) => panic!("{fid:?}"),
        }
        p.reset();
    }
}

#[test]
fn register_use_covers_every_implemented_id() {
    let p = psci(PsciVersion::V1_1);
    for n in 0..0x20u32 {
        for base in [0x8400_0000u32, 0xC400_0000] {
            let fid = FunctionId(base | n);
            let listed = REGISTER_USE.iter().any(|b| b.fid == fid);
            assert_eq!(p.implements(fid), listed, "{fid:?}");
        }
    }
}

#[test]
fn config_refuses_bad_boot_sets() {
    let mpidrs = [Mpidr::kvm_default(0), Mpidr::kvm_default(1)];
    let mk = |boot: Vec<VcpuIndex>| {
        Psci::new(
            &PsciConfig {
                version: PsciVersion::V1_0,
                boot,
            },
            &mpidrs,
            SmcccVersion::V1_1,
            &[],
        )
        .map(|_| ())
    };
    assert_eq!(mk(Vec::new()), Err(PsciConfigError::NoBootVcpu));
    assert!(matches!(
        mk(alloc::vec![VcpuIndex(2)]),
        Err(PsciConfigError::BootVcpuMissing { .. })
    ));
    assert_eq!(
        mk(alloc::vec![VcpuIndex(1), VcpuIndex(1)]),
        Err(PsciConfigError::BootVcpuTwice(VcpuIndex(1)))
    );
    assert_eq!(mk(alloc::vec![VcpuIndex(1)]), Ok(()));
}

#[test]
fn restore_keeps_power_and_refuses_wrong_count() {
    let mpidrs = [Mpidr::kvm_default(0), Mpidr::kvm_default(1)];
    let c = PsciConfig::default();
    use PowerState::*;
    let p = Psci::restore(&c, &mpidrs, SmcccVersion::V1_1, &[], &[Off, OnPending]).unwrap();
    assert_eq!(p.power_states(), [Off, On]);
    assert!(matches!(
        Psci::restore(&c, &mpidrs, SmcccVersion::V1_1, &[], &[On]),
        Err(PsciConfigError::StateCount {
            states: 1,
            vcpus: 2
        })
    ));
}

proptest::proptest! {
    /// Whatever a guest passes, PSCI answers with X0 only (or nothing for
    /// CPU_OFF), never panics, and only CPU_ON/OFF change power state.
    #[test]
    fn hostile_arguments_never_panic(n in 0u32..0x20, smc64: bool, a: [u64; 3], v in 0u32..4) {
        let p = psci(PsciVersion::V1_1);
        let before = p.power_states();
        let fid = FunctionId(if smc64 { 0xC400_0000 } else { 0x8400_0000 } | n);
        let out = call(&p, v, fid, &a);
        if let Reply::Return { count, .. } = out.reply {
            proptest::prop_assert_eq!(count, 1);
        }
        if !matches!(out.power, Some(PowerAction::CpuOn(_) | PowerAction::CpuOff)) {
            proptest::prop_assert_eq!(p.power_states(), before);
        }
    }
}

#[test]
fn any_mpidr_layout_is_found() {
    // Not KVM's layout: the fast guess misses and the sorted index answers.
    let mpidrs = [Mpidr(0x0), Mpidr(0x100), Mpidr(0x1), Mpidr(0x10_0000_0000)];
    let p = Psci::new(
        &PsciConfig {
            version: PsciVersion::V1_1,
            boot: alloc::vec![VcpuIndex(0)],
        },
        &mpidrs,
        SmcccVersion::V1_1,
        &[],
    )
    .unwrap();
    for (i, m) in mpidrs.iter().enumerate().skip(1) {
        let out = call(&p, 0, ids::PSCI_CPU_ON_64, &[m.0, 0x1000, 0]);
        let Some(PowerAction::CpuOn(s)) = out.power else {
            panic!("{out:?}")
        };
        assert_eq!(s.target, VcpuIndex(i as u32));
    }
    // 0x10 would be vCPU 1's KVM guess, but vCPU 1 has 0x100 here.
    assert_eq!(
        x0(&p, 0, ids::PSCI_AFFINITY_INFO_64, &[0x10, 0]),
        INVALID_PARAMETERS
    );
}

/// Argument sets that make each function do its work: a target that
/// exists, an entry point in RAM, a valid level or reset type.
fn budget_args() -> [[u64; 17]; 4] {
    let mut sets = [[0u64; 17]; 4];
    for (k, set) in sets.iter_mut().enumerate() {
        for (i, x) in set.iter_mut().enumerate() {
            *x = 0x5a5a_0000_0000 + (k * 17 + i) as u64;
        }
    }
    sets[1][..3].copy_from_slice(&[1, ENTRY, 7]);
    sets[2][..3].copy_from_slice(&[0, 0, 0]);
    sets[3][..3].copy_from_slice(&[ids::PSCI_CPU_ON_64.raw() as u64, 1, 0]);
    sets
}

#[test]
fn register_budget_reading_only_the_budgeted_arguments_changes_no_outcome() {
    for b in REGISTER_USE {
        for set in budget_args() {
            let (p, q) = (psci(PsciVersion::V1_1), psci(PsciVersion::V1_1));
            let mut all = Call::new(b.fid, &[]);
            all.x[1..].copy_from_slice(&set);
            let mut only = all;
            for r in only.x.iter_mut().skip(1 + usize::from(b.args)) {
                *r = 0x1111;
            }
            let a = p.call(VcpuIndex(0), &all, &NoHook);
            let o = q.call(VcpuIndex(0), &only, &NoHook);
            assert_eq!(a, o, "{:?} with {} arguments", b.fid, b.args);
            assert_eq!(p.power_states(), q.power_states());
        }
    }
}
