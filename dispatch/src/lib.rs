//! **fwcall**: the firmware-call server an Arm64 VMM embeds in its exit
//! handler.
//!
//! A guest calls firmware with `HVC #0`/`SMC #0`; the VMM hands the
//! registers to a [`Vcpu`] handle and applies the [`Outcome`] it gets back.
//! fwcall serves the Arm Architecture calls (SMCCC), SDEI (DEN0054) and PV
//! time (DEN0057, stolen time and LPT), routes IDs a VMM claims for its own
//! [`Service`]s, pins the guest ABI with [`FirmwareFeatures`], and never
//! acts behind the VMM's back: register writes, kicks of other vCPUs and
//! event deliveries are all returned as values.
//!
//! # An exit handler
//!
//! ```
//! use fwcall::{Vm, VmConfig, Call, Conduit, Reply, VcpuIndex, Interrupted, NoMemory, ids};
//!
//! // At VM construction.
//! let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
//! vm.start().unwrap();
//! let vcpu = vm.vcpu(VcpuIndex(0)).unwrap();
//!
//! // A register file standing in for the hypervisor's.
//! let mut x = [0u64; 31];
//! let (mut pc, mut pstate) = (0xffff_8000_1000_0000u64, 0x3c5u64);
//! x[0] = ids::SDEI_VERSION.raw() as u64;
//!
//! // On an HVC exit: X0..X17 in, outcome out.
//! let mut call = Call { x: [0; 18], conduit: Conduit::Hvc };
//! call.x.copy_from_slice(&x[..18]);
//! let outcome = vcpu.handle(&call);
//! let mut regs: [u64; 18] = call.x;
//! if let Some(ctx) = outcome.reply.apply_x(&mut regs) {
//!     pc = ctx.pc;
//!     pstate = ctx.pstate; // and ELR_EL1/SPSR_EL1 from ctx.el1
//! }
//! x[..18].copy_from_slice(&regs);
//! // outcome.kicks: the vCPUs to kick out of the guest.
//!
//! // Before resuming any vCPU: is an SDEI event to be entered?
//! if vcpu.has_pending_delivery() {
//!     let mut saved = [0u64; 18];
//!     saved.copy_from_slice(&x[..18]);
//!     let now = Interrupted { x: saved, pc, pstate, sctlr_el1: 0 };
//!     if let Some(d) = vcpu.take_delivery(&now) {
//!         x[..4].copy_from_slice(&d.x);
//!         pc = d.pc;
//!         pstate = d.pstate;
//!     }
//! }
//! assert_eq!(x[0] >> 48, 1); // SDEI major version 1
//! # let _ = (pc, pstate);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, clippy::doc_markdown)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "acpi")]
pub mod acpi;
pub mod config;
#[cfg(any(feature = "fdt", feature = "acpi"))]
mod describe;
#[cfg(feature = "fdt")]
pub mod fdt;
pub mod features;
#[cfg(feature = "kvm")]
pub mod kvm;
pub mod service;
pub mod snapshot;
mod vm;

pub use fwcall_pvtime as pvtime;
pub use fwcall_sdei as sdei;
pub use fwcall_smccc as smccc;

pub use config::{ConfigError, VmConfig};
pub use features::{
    FeatureError, FeatureRegister, FirmwareFeatures, StdFeatures, StdHypFeatures, VendorHypFeatures,
};
pub use fwcall_pvtime::{
    Gpa, GuestMemoryAccess, LptConfig, MemoryError, MemoryRegion, PvTimeConfig,
};
pub use fwcall_sdei::{
    CpuFeatures, Delivery, EventDecl, EventKind, InterruptHook, Interrupted, IrqOutcome, Priority,
    SdeiConfig, SdeiVersion,
};
pub use fwcall_smccc::{
    Call, Conduit, Context, El1Regs, FunctionId, Kicks, Mpidr, Outcome, Reply, SmcccVersion,
    VcpuIndex, ids,
};
pub use service::{Service, ServiceError};
pub use snapshot::{
    CompatError, FormatError, RestoreError, SnapshotContents, SnapshotError, Summary,
};
pub use vm::{RaiseError, Vcpu, VcpuError, Vm};

/// Guest-memory access for a VM that gives fwcall no memory: every access
/// fails. Enough for SMCCC and SDEI; PV time needs real memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMemory;

impl GuestMemoryAccess for NoMemory {
    fn write_u64(&self, addr: Gpa, _value: u64) -> Result<(), MemoryError> {
        Err(MemoryError::OutOfRange { addr, len: 8 })
    }

    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        Err(MemoryError::OutOfRange {
            addr,
            len: data.len() as u64,
        })
    }

    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
        Err(MemoryError::OutOfRange {
            addr,
            len: buf.len() as u64,
        })
    }
}
