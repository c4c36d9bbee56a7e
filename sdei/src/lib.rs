//! A complete SDEI 1.0/1.1 server (Arm DEN0054, Software Delegated
//! Exception Interface) for a VMM: the guest kernel registers handlers for
//! events, and the VMM (or the guest itself, with `EVENT_SIGNAL`) raises
//! them; the server enters the handler on the next guest entry whatever
//! the guest's interrupt mask, like an NMI.
//!
//! One [`Sdei`] serves one VM and is shared by the vCPU threads
//! (`Send + Sync`). Per vCPU thread:
//!
//! 1. at an HVC/SMC exit with a function ID in the SDEI range, call
//!    [`Sdei::call`] and apply the [`Outcome`](fwcall_smccc::Outcome): a
//!    plain `X0` return, or for `EVENT_COMPLETE[_AND_RESUME]` a whole
//!    context ([`Reply::Restore`](fwcall_smccc::Reply::Restore));
//! 2. before every resume, if [`Sdei::has_pending`] (one atomic load), call
//!    [`Sdei::take_delivery`] with what the vCPU would resume with, and
//!    write the [`Delivery`] registers;
//! 3. kick the vCPUs named in outcomes and deliveries.
//!
//! From any thread the VMM may [`Sdei::raise`] platform events, report
//! bound interrupts with [`Sdei::irq`] and [`Sdei::reset_vcpu`] a vCPU.
//! A VMM that serves PSCI tells SDEI about power with [`Sdei::power_off`]
//! (`CPU_OFF`) and [`Sdei::power_on`] (`CPU_ON`): an off vCPU takes no
//! delivery and is never chosen for `RM_ANY`, and powers on masked with
//! its private events unregistered.
//!
//! ```
//! use fwcall_sdei::{Interrupted, Sdei, SdeiConfig};
//! use fwcall_smccc::{ids, Call, Mpidr, Reply, VcpuIndex};
//!
//! let sdei = Sdei::new(&SdeiConfig::default(), &[Mpidr::kvm_default(0), Mpidr::kvm_default(1)]).unwrap();
//! let (v0, v1) = (VcpuIndex(0), VcpuIndex(1));
//! // vCPU 1 registers event 0, enables it and unmasks itself.
//! sdei.call(v1, &Call::new(ids::SDEI_EVENT_REGISTER, &[0, 0xffff_8000_1000_0000, 0x1234, 0, 0]));
//! sdei.call(v1, &Call::new(ids::SDEI_EVENT_ENABLE, &[0]));
//! sdei.call(v1, &Call::new(ids::SDEI_PE_UNMASK, &[]));
//! // vCPU 0 signals it: the outcome says to kick vCPU 1.
//! let out = sdei.call(v0, &Call::new(ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0001]));
//! assert!(out.kicks.contains(v1));
//! // vCPU 1's thread enters the handler...
//! let now = Interrupted { pc: 0xffff_8000_2000_0000, pstate: 0x5, sctlr_el1: 1 << 23, ..Default::default() };
//! let d = sdei.take_delivery(v1, &now).unwrap();
//! assert_eq!(d.pc, 0xffff_8000_1000_0000);
//! assert_eq!(d.pstate, 0x3c5);
//! // ...and the handler completes: the interrupted context comes back.
//! let out = sdei.call(v1, &Call::new(ids::SDEI_EVENT_COMPLETE, &[0]));
//! let Reply::Restore(ctx) = out.reply else { unreachable!() };
//! assert_eq!((ctx.pc, ctx.pstate), (now.pc, now.pstate));
//! ```
//!
//! Behaviour the specification leaves open is chosen deliberately; the
//! choices are listed in the workspace's `DESIGN.md` (section SDEI).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, clippy::doc_markdown)]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

mod calls;
pub mod codes;
pub mod config;
mod delivery;
mod events;
mod hook;
mod power;
pub mod pstate;
mod ready;
mod routing;
mod server;
pub mod snapshot;
pub mod state_machine;
mod system_reset;
mod vmm;

pub use calls::{SDEI_SMC64_BASE, SDEI_SMC64_LAST, info};
pub use codes::{
    NotAnSdeiError, SDEI_DENIED, SDEI_INVALID_PARAMETERS, SDEI_NOT_SUPPORTED, SDEI_OUT_OF_RESOURCE,
    SDEI_PENDING, SDEI_SUCCESS, SdeiError,
};
pub use config::{
    CpuFeatures, DYNAMIC_PRIVATE_BASE, DYNAMIC_SHARED_BASE, EventDecl, EventKind,
    ParseFeaturesError, ParseSdeiVersionError, Priority, SdeiConfig, SdeiConfigError, SdeiVersion,
    VENDOR_ID,
};
pub use delivery::{Delivery, Interrupted};
pub use hook::InterruptHook;
pub use server::{Routing, Sdei};
pub use snapshot::{
    PrivateEventState, SavedContextState, SdeiState, SdeiStateError, SharedEventState, SlotState,
    VcpuSdeiState,
};
pub use vmm::{IrqOutcome, RaiseError};

#[cfg(test)]
mod tests;

// The crate's README.md, compiled as a doctest so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
