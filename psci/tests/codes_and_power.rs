//! PSCI's return codes as DEN0022 §5.2.2 numbers them, their names, the
//! power states, and the boot set a server keeps.

use fwcall_psci::codes;
use fwcall_psci::{PowerState, Psci, PsciConfig, PsciVersion};
use fwcall_smccc::{Mpidr, SmcccVersion, VcpuIndex};

/// DEN0022 Table 5.2.2: every return code with its value and name.
#[test]
fn psci_return_codes_are_the_spec_values() {
    let table = [
        (codes::SUCCESS, 0, "SUCCESS"),
        (codes::NOT_SUPPORTED, -1, "NOT_SUPPORTED"),
        (codes::INVALID_PARAMETERS, -2, "INVALID_PARAMETERS"),
        (codes::DENIED, -3, "DENIED"),
        (codes::ALREADY_ON, -4, "ALREADY_ON"),
        (codes::ON_PENDING, -5, "ON_PENDING"),
        (codes::INTERNAL_FAILURE, -6, "INTERNAL_FAILURE"),
        (codes::NOT_PRESENT, -7, "NOT_PRESENT"),
        (codes::DISABLED, -8, "DISABLED"),
        (codes::INVALID_ADDRESS, -9, "INVALID_ADDRESS"),
    ];
    for (code, value, name) in table {
        assert_eq!(code, value, "{name}");
        assert_eq!(codes::name(value), Some(name));
    }
    for other in [1, -10, i64::MIN, i64::MAX] {
        assert_eq!(codes::name(other), None);
    }
    // AFFINITY_INFO states (§5.7) and MIGRATE_INFO_TYPE's "no Trusted OS".
    assert_eq!(
        (
            codes::AFFINITY_ON,
            codes::AFFINITY_OFF,
            codes::AFFINITY_ON_PENDING
        ),
        (0, 1, 2)
    );
    assert_eq!(codes::MIGRATE_NOT_REQUIRED, 2);
}

/// Only `On` is on: a PE whose CPU_ON is still pending is not yet.
#[test]
fn power_state_is_on_only_when_on() {
    assert!(PowerState::On.is_on());
    assert!(!PowerState::Off.is_on());
    assert!(!PowerState::OnPending.is_on());
}

/// The server keeps the boot set it was configured with, and those vCPUs
/// (only those) start on.
#[test]
fn psci_boot_set_is_the_configured_one() {
    let mpidrs: Vec<Mpidr> = (0..4).map(Mpidr::kvm_default).collect();
    let config = PsciConfig {
        version: PsciVersion::V1_1,
        boot: vec![VcpuIndex(0), VcpuIndex(2)],
    };
    let p = Psci::new(
        &config,
        &mpidrs,
        SmcccVersion::V1_4,
        &[(0x4000_0000, 0x1000_0000)],
    )
    .unwrap();
    assert_eq!(p.boot(), [VcpuIndex(0), VcpuIndex(2)]);
    for (i, on) in [true, false, true, false].into_iter().enumerate() {
        assert_eq!(p.power_state(VcpuIndex(i as u32)).is_on(), on, "vcpu{i}");
    }
}

/// `AFFINITY_INFO` at level N ignores affinity fields below N (DEN0022
/// §5.7): with only vCPU 0 on, asking about any PE of its cluster (level 1),
/// of its Aff2 group (level 2) or of its Aff3 group (level 3) answers ON,
/// whichever lower fields the target names; a level-0 question about an
/// off PE answers OFF.
#[test]
fn affinity_info_ignores_fields_below_the_level() {
    use fwcall_psci::NoHook;
    use fwcall_smccc::{Call, Reply, ids};
    let mpidrs: Vec<Mpidr> = (0..32).map(Mpidr::kvm_default).collect();
    let p = Psci::new(
        &PsciConfig::new(PsciVersion::V1_1),
        &mpidrs,
        SmcccVersion::V1_4,
        &[],
    )
    .unwrap();
    let ask = |target: u64, level: u64| match p
        .call(
            VcpuIndex(0),
            &Call::new(ids::PSCI_AFFINITY_INFO_64, &[target, level]),
            &NoHook,
        )
        .reply
    {
        Reply::Return { regs, .. } => regs[0] as i64,
        other => panic!("{other:?}"),
    };
    let (on, off) = (codes::AFFINITY_ON as i64, codes::AFFINITY_OFF as i64);
    let table = [
        (0x000, 0, on),  // vCPU 0
        (0x001, 0, off), // vCPU 1
        (0x101, 0, off), // vCPU 17 (Aff1 = 1)
        (0x005, 1, on),  // cluster 0: vCPU 0 is on
        (0x105, 1, off), // cluster 1: vCPUs 16..31, all off
        (0x105, 2, on),  // Aff2 group 0: every vCPU here
        (0x105, 3, on),  // Aff3 group 0
    ];
    for (target, level, want) in table {
        assert_eq!(ask(target, level), want, "target {target:#x} level {level}");
    }
}
