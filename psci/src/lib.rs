//! A PSCI server (Arm DEN0022, Power State Coordination Interface,
//! versions 0.2, 1.0 and 1.1) for a VMM that takes PSCI over from its
//! hypervisor (KVM with the SMCCC filter, Hypervisor.framework, an
//! emulator).
//!
//! fwcall keeps the power state of every vCPU (one atomic each), so
//! `AFFINITY_INFO` answers from it and `CPU_ON` can refuse an on target,
//! but never changes a vCPU itself: `CPU_ON`, `CPU_OFF`, `CPU_SUSPEND`,
//! `SYSTEM_OFF` and `SYSTEM_RESET(2)` return a
//! [`PowerAction`](fwcall_smccc::PowerAction) in the outcome, and the VMM
//! applies it.
//!
//! ```
//! use fwcall_psci::{NoHook, PowerState, Psci, PsciConfig, PsciVersion};
//! use fwcall_smccc::{ids, Call, Mpidr, PowerAction, Reply, SmcccVersion, VcpuIndex};
//!
//! let mpidrs = [Mpidr::kvm_default(0), Mpidr::kvm_default(1)];
//! let ram = [(0x4000_0000, 0x1000_0000)];
//! let psci = Psci::new(&PsciConfig::default(), &mpidrs, SmcccVersion::V1_1, &ram).unwrap();
//! let (v0, v1) = (VcpuIndex(0), VcpuIndex(1));
//!
//! // Linux's probe: version, then SMCCC_VERSION through PSCI_FEATURES.
//! assert_eq!(psci.call(v0, &Call::new(ids::PSCI_VERSION, &[]), &NoHook).reply, Reply::x0(0x1_0001));
//! let f = Call::new(ids::PSCI_FEATURES, &[ids::SMCCC_VERSION.raw() as u64]);
//! assert_eq!(psci.call(v0, &f, &NoHook).reply, Reply::x0(0));
//!
//! // Secondary boot: CPU_ON, then vCPU 1 runs and later offlines itself.
//! let out = psci.call(v0, &Call::new(ids::PSCI_CPU_ON_64, &[1, 0x4008_0000, 0]), &NoHook);
//! assert!(matches!(out.power, Some(PowerAction::CpuOn(_))));
//! let out = psci.call(v1, &Call::new(ids::PSCI_CPU_OFF, &[0x1_0000]), &NoHook);
//! assert_eq!(out.power, Some(PowerAction::CpuOff));
//! // The hot-unplug poll: AFFINITY_INFO(vCPU 1, level 0) = OFF (1).
//! let poll = Call::new(ids::PSCI_AFFINITY_INFO_64, &[1, 0]);
//! assert_eq!(psci.call(v0, &poll, &NoHook).reply, Reply::x0(1));
//! assert_eq!(psci.power_state(v1), PowerState::Off);
//! ```
//!
//! Behaviour the sources leave open is chosen deliberately; the choices
//! are listed in the workspace's `DESIGN.md` (section PSCI).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, clippy::doc_markdown)]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod codes;
mod config;
mod power;
mod regs;
mod server;
mod version;

#[cfg(test)]
mod tests;

pub use config::{PsciConfig, PsciConfigError};
pub use power::PowerState;
pub use regs::{REGISTER_USE, register_use};
pub use server::{AFFINITY_MASK, NoHook, POWER_STATE_SBZ, PowerHook, Psci, RESET_TYPE_VENDOR};
pub use version::{ParsePsciVersionError, PsciVersion};

// The crate's README.md, compiled as a doctest so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
