//! Agreement between what fwcall serves and what KVM says about it.
//!
//! KVM keeps the Arm Architecture calls, so it answers
//! `SMCCC_ARCH_FEATURES` and `SMCCC_VERSION` itself. Two of its answers are
//! about services fwcall serves:
//!
//! * `SMCCC_ARCH_FEATURES(PV_TIME_FEATURES)` is 0 exactly when bit 0 of
//!   KVM's `STD_HYP_BMAP` firmware register is set, and Linux asks it before
//!   any PV-time call. So the bit must equal fwcall's
//!   [`StdHypFeatures::PV_TIME`]: set when fwcall serves PV time (even
//!   though KVM never sees a PV-time call, because the filter forwards
//!   them all), clear when it does not. And KVM's own PV time must stay
//!   unplaced: never set `KVM_ARM_VCPU_PVTIME_IPA`, or two servers write
//!   the same records.
//! * `SMCCC_VERSION` is KVM's (1.1), so fwcall must be configured for the
//!   same version: it decides which registers carry arguments and results.
//!
//! When fwcall serves PSCI and TRNG (the filter forwards them), KVM keeps
//! two registers about them that must not contradict fwcall:
//!
//! * `KVM_REG_ARM_PSCI_VERSION` holds the version fwcall serves, so KVM's
//!   view of the guest (its saved firmware registers, a VMM that reads the
//!   version back for its device tree) is the guest's. A KVM that refuses
//!   the version is a [`FirmwareError::PsciVersion`].
//! * `KVM_REG_ARM_STD_BMAP` bit 0 (TRNG 1.0) is clear: KVM's TRNG is not
//!   the guest's, and the bitmap is what KVM saves as the guest's ABI.
//!
//! fwcall's LPT bit has no KVM counterpart (`ARCH_FEATURES(PV_TIME_LPT)`
//! answers -1 under KVM; a guest discovers LPT with `PV_TIME_FEATURES`).
//! fwcall's SDEI bit has none either: SDEI is discovered through firmware
//! tables and `SDEI_VERSION`, which fwcall answers.

use alloc::vec::Vec;

use fwcall_pvtime::GuestMemoryAccess;
use fwcall_smccc::SmcccVersion;

use super::abi;
use crate::features::{FirmwareFeatures, StdFeatures, StdHypFeatures};
use crate::{PsciVersion, Vm, VmConfig};

/// The SMCCC version KVM reports to its guests.
pub const KVM_SMCCC_VERSION: SmcccVersion = SmcccVersion::V1_1;

/// A [`VmConfig`] for a KVM guest: [`VmConfig::new`] with the SMCCC
/// version KVM reports and no SDEI binding slots.
///
/// Binding slots promise that `SDEI_INTERRUPT_BIND` turns a guest
/// interrupt into an SDEI event. Under KVM the in-kernel vGIC owns every
/// interrupt, so nothing could divert one to fwcall: a VMM that has such a
/// path (a userspace GIC) sets the slot counts and installs an
/// [`InterruptHook`](crate::InterruptHook); [`check_firmware_registers`]
/// refuses slots without a hook.
///
/// ```
/// let config = fwcall::kvm::vm_config(2);
/// assert_eq!(config.smccc_version, fwcall::kvm::KVM_SMCCC_VERSION);
/// let sdei = config.sdei.unwrap();
/// assert_eq!((sdei.private_slots, sdei.shared_slots), (0, 0));
/// ```
pub fn vm_config(vcpus: u32) -> VmConfig {
    let mut c = VmConfig::new(vcpus);
    c.smccc_version = KVM_SMCCC_VERSION;
    if let Some(sdei) = c.sdei.as_mut() {
        sdei.private_slots = 0;
        sdei.shared_slots = 0;
    }
    c
}

/// A bit (or bits) of a KVM firmware register that must hold a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FirmwareRule {
    /// The one-reg ID.
    pub id: u64,
    /// Its KVM name.
    pub name: &'static str,
    /// The bits the rule is about.
    pub mask: u64,
    /// Their required value (within `mask`).
    pub value: u64,
    /// Why, for messages.
    pub why: &'static str,
}

impl FirmwareRule {
    /// Whether `current` satisfies the rule.
    pub const fn holds(&self, current: u64) -> bool {
        current & self.mask == self.value
    }

    /// `current` with the rule's bits replaced.
    pub const fn apply(&self, current: u64) -> u64 {
        (current & !self.mask) | self.value
    }
}

/// The firmware-register values that must agree with `features`.
pub fn firmware_rules(features: &FirmwareFeatures) -> Vec<FirmwareRule> {
    let pv_bit = 1u64 << abi::STD_HYP_BIT_PV_TIME;
    let pv = features.std_hyp.contains(StdHypFeatures::PV_TIME);
    let mut rules = alloc::vec![FirmwareRule {
        id: abi::STD_HYP_BMAP,
        name: "KVM_REG_ARM_STD_HYP_BMAP",
        mask: pv_bit,
        value: if pv { pv_bit } else { 0 },
        why: if pv {
            "fwcall serves PV time, and the guest only calls it after KVM's SMCCC_ARCH_FEATURES(PV_TIME_FEATURES) answers 0"
        } else {
            "fwcall does not serve PV time, so KVM must not advertise it"
        },
    }];
    if features.std.contains(StdFeatures::TRNG) {
        rules.push(FirmwareRule {
            id: abi::STD_BMAP,
            name: "KVM_REG_ARM_STD_BMAP",
            mask: 1 << abi::STD_BIT_TRNG,
            value: 0,
            why: "fwcall serves TRNG (the filter forwards it), so KVM's own TRNG must be off",
        });
    }
    rules
}

/// The PSCI version KVM's `KVM_REG_ARM_PSCI_VERSION` must hold: fwcall's,
/// when fwcall serves PSCI; `None` when KVM keeps PSCI.
pub fn psci_version_rule<M: GuestMemoryAccess>(vm: &Vm<M>) -> Option<PsciVersion> {
    vm.psci_served().map(|p| p.version())
}

/// KVM and fwcall disagree, or the registers could not be reached.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FirmwareError<E> {
    /// A firmware register holds a value that contradicts fwcall.
    #[error(
        "{name} is {current:#x} but bits {mask:#x} must be {required:#x}: {why}; write it with sync_firmware_registers before the first KVM_RUN"
    )]
    Disagree {
        /// The register.
        name: &'static str,
        /// Its value.
        current: u64,
        /// The bits in question.
        mask: u64,
        /// What they must be.
        required: u64,
        /// The reason.
        why: &'static str,
    },
    /// Reading a register failed.
    #[error("cannot read {name}: {source}")]
    Read {
        /// The register.
        name: &'static str,
        /// What the access reported.
        #[source]
        source: E,
    },
    /// Writing a register failed (KVM: `EINVAL` when the host cannot serve
    /// the bit, `EBUSY` after a vCPU ran).
    #[error(
        "cannot write {value:#x} to {name} (a host without the feature answers EINVAL, a VM that already ran EBUSY): {source}"
    )]
    Write {
        /// The register.
        name: &'static str,
        /// The value.
        value: u64,
        /// What the access reported.
        #[source]
        source: E,
    },
    /// SDEI offers binding slots but no interrupt hook is installed.
    #[error(
        "SDEI offers {private} private and {shared} shared binding slots, but no interrupt hook is installed: under KVM the in-kernel vGIC owns every interrupt, so a bound event would never fire; build the config with fwcall::kvm::vm_config (no slots), or install Vm::set_interrupt_hook with a path that diverts the interrupts"
    )]
    SlotsWithoutHook {
        /// Private (PPI) slots configured.
        private: u16,
        /// Shared (SPI) slots configured.
        shared: u16,
    },
    /// KVM's `KVM_REG_ARM_PSCI_VERSION` is not the PSCI version fwcall
    /// serves (or KVM refused it).
    #[error(
        "KVM_REG_ARM_PSCI_VERSION is {kvm:#x} but fwcall serves PSCI {fwcall} ({:#x}); write it with sync_firmware_registers before the first KVM_RUN (KVM takes 0.2, 1.0 and 1.1 from vCPUs created with KVM_ARM_VCPU_PSCI_0_2)", fwcall.to_word()
    )]
    PsciVersion {
        /// What fwcall serves.
        fwcall: PsciVersion,
        /// What KVM holds.
        kvm: u64,
    },
    /// fwcall is configured for another SMCCC version than KVM reports.
    #[error(
        "fwcall is configured for SMCCC {configured} but KVM answers SMCCC_VERSION with {kvm}; build the config with fwcall::kvm::vm_config or set smccc_version to {kvm}"
    )]
    SmcccVersion {
        /// fwcall's.
        configured: SmcccVersion,
        /// KVM's.
        kvm: SmcccVersion,
    },
}

/// Checks `vm` against KVM: the SMCCC version, no binding slots without
/// an interrupt hook, and every
/// [`firmware_rules`] register as `read` (a `KVM_GET_ONE_REG` on any vCPU:
/// the registers are VM-wide) reports it.
///
/// ```
/// use fwcall::kvm::{FirmwareError, abi, check_firmware_registers, vm_config};
/// use fwcall::{Vm, NoMemory};
///
/// let vm = Vm::new(vm_config(1), NoMemory).unwrap();
/// // KVM with PV time switched off, fwcall serving it: refused.
/// let kvm = |id: u64| -> Result<u64, ()> { Ok(if id == abi::STD_HYP_BMAP { 0 } else { !0 }) };
/// assert!(matches!(check_firmware_registers(&vm, kvm), Err(FirmwareError::Disagree { .. })));
/// ```
pub fn check_firmware_registers<M: GuestMemoryAccess, E>(
    vm: &Vm<M>,
    mut read: impl FnMut(u64) -> Result<u64, E>,
) -> Result<(), FirmwareError<E>> {
    check_vm(vm)?;
    for rule in firmware_rules(&vm.features()) {
        let current = read(rule.id).map_err(|source| FirmwareError::Read {
            name: rule.name,
            source,
        })?;
        if !rule.holds(current) {
            return Err(disagree(&rule, current));
        }
    }
    if let Some(fwcall) = psci_version_rule(vm) {
        let kvm = read(abi::PSCI_VERSION).map_err(|source| FirmwareError::Read {
            name: "KVM_REG_ARM_PSCI_VERSION",
            source,
        })?;
        if kvm != u64::from(fwcall.to_word()) {
            return Err(FirmwareError::PsciVersion { fwcall, kvm });
        }
    }
    Ok(())
}

/// Makes KVM agree with `vm`: reads each register, writes it back with the
/// rule's bits replaced when they differ, and checks again. Call it on one
/// vCPU after `KVM_ARM_VCPU_INIT` and before any vCPU runs.
pub fn sync_firmware_registers<M: GuestMemoryAccess, E>(
    vm: &Vm<M>,
    mut read: impl FnMut(u64) -> Result<u64, E>,
    mut write: impl FnMut(u64, u64) -> Result<(), E>,
) -> Result<(), FirmwareError<E>> {
    check_vm(vm)?;
    for rule in firmware_rules(&vm.features()) {
        let current = read(rule.id).map_err(|source| FirmwareError::Read {
            name: rule.name,
            source,
        })?;
        if rule.holds(current) {
            continue;
        }
        let value = rule.apply(current);
        write(rule.id, value).map_err(|source| FirmwareError::Write {
            name: rule.name,
            value,
            source,
        })?;
    }
    if let Some(fwcall) = psci_version_rule(vm) {
        let value = u64::from(fwcall.to_word());
        let kvm = read(abi::PSCI_VERSION).map_err(|source| FirmwareError::Read {
            name: "KVM_REG_ARM_PSCI_VERSION",
            source,
        })?;
        if kvm != value && write(abi::PSCI_VERSION, value).is_err() {
            // KVM refused the version: name both.
            return Err(FirmwareError::PsciVersion { fwcall, kvm });
        }
    }
    check_firmware_registers(vm, read)
}

fn check_vm<M: GuestMemoryAccess, E>(vm: &Vm<M>) -> Result<(), FirmwareError<E>> {
    let configured = vm.config().smccc_version;
    if configured != KVM_SMCCC_VERSION {
        return Err(FirmwareError::SmcccVersion {
            configured,
            kvm: KVM_SMCCC_VERSION,
        });
    }
    if let Some(sdei) = &vm.config().sdei {
        let slots = sdei.private_slots > 0 || sdei.shared_slots > 0;
        let on = vm.features().std.contains(StdFeatures::SDEI);
        if slots && on && !vm.has_interrupt_hook() {
            return Err(FirmwareError::SlotsWithoutHook {
                private: sdei.private_slots,
                shared: sdei.shared_slots,
            });
        }
    }
    Ok(())
}

fn disagree<E>(rule: &FirmwareRule, current: u64) -> FirmwareError<E> {
    FirmwareError::Disagree {
        name: rule.name,
        current,
        mask: rule.mask,
        required: rule.value,
        why: rule.why,
    }
}
