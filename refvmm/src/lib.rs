//! The fwcall reference VMM: a small arm64 KVM VMM that boots Linux with
//! every SDEI and PV-time call served by fwcall.
//!
//! The modules are the pieces a VMM author copies:
//!
//! * [`layout`]: the guest physical memory map;
//! * [`memory`]: RAM and the PV-time region (each its own memslot) and the
//!   kernel/initrd/device-tree loaders;
//! * [`fdt`]: the device tree (its PSCI and SDEI nodes from `fwcall::fdt`);
//! * [`firmware`]: fwcall's configuration for this machine;
//! * [`exits`]: hypercall and MMIO exits, written against fwcall's
//!   register trait so they run on KVM and on a fake register file alike;
//! * [`uart`]: an 8250 for the console;
//! * [`control`]: raising SDEI events and pausing for snapshots;
//! * [`stats`]: the final report;
//! * [`migrate`]: whole-VM save and restore across refvmm processes;
//! * `vmm` and `vcpu` (aarch64 only): KVM setup and the per-vCPU run loop
//!   with kicks.
#![warn(missing_docs, missing_debug_implementations)]

pub mod cli;
pub mod control;
pub mod exits;
pub mod fdt;
pub mod firmware;
#[cfg(target_arch = "aarch64")]
pub mod kick;
pub mod layout;
pub mod memory;
pub mod migrate;
#[cfg(target_arch = "aarch64")]
pub mod snapshot;
pub mod stats;
pub mod uart;
#[cfg(target_arch = "aarch64")]
pub mod vcpu;
#[cfg(target_arch = "aarch64")]
pub mod vmm;
