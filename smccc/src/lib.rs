//! SMCCC for the server side: decode what a guest passed in `X0..X17`,
//! answer the Arm Architecture calls, and describe exactly which registers
//! a VMM must write back.
//!
//! * [`FunctionId`] decodes fast/yielding, SMC32/SMC64, the owner (the full
//!   OEN table as [`Owner`]), the function number and the SVE hint.
//! * [`Call`], [`Reply`], [`Outcome`] and [`Kicks`] are the calling
//!   convention as a value: the VMM reads registers into a `Call` and applies
//!   the `Outcome`, including any [`PowerAction`] (PSCI power changes).
//! * [`ReturnCode`] is the SMCCC error set with lossless conversions.
//! * [`ArchService`] serves `SMCCC_VERSION`, `SMCCC_ARCH_FEATURES`,
//!   `SMCCC_ARCH_SOC_ID` and `SMCCC_ARCH_WORKAROUND_1/2/3`.
//! * [`ids`] names every function ID fwcall knows, spelled as the specs do.
//! * [`budget`] says how many argument registers each function reads and
//!   how many its reply writes: the register traffic a KVM VMM pays for.
//! * [`sync`] is the one lock type (and the atomics) of every fwcall core
//!   crate: a sleeping mutex with `std`, a spin lock without.
//!
//! ```
//! use fwcall_smccc::{ids, Call, FunctionId, Owner, Convention, SmcccVersion, ArchService, Reply};
//!
//! let fid = FunctionId(0xC400_0021);
//! assert_eq!(fid.owner(), Owner::StandardSecure);
//! assert_eq!(fid.convention(), Convention::Smc64);
//! assert_eq!(fid, ids::SDEI_EVENT_REGISTER);
//!
//! let arch = ArchService { version: SmcccVersion::V1_1, ..Default::default() };
//! let call = Call::new(ids::SMCCC_VERSION, &[]);
//! assert_eq!(arch.call(call.fid(), &call, |_| -1), Some(Reply::x0(0x10001)));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, clippy::doc_markdown)]

#[cfg(feature = "std")]
extern crate std;

pub mod action;
pub mod arch;
pub mod budget;
pub mod call;
pub mod error;
pub mod fid;
pub mod ids;
pub mod mpidr;
pub mod sync;
pub mod uid;
pub mod version;

pub use action::{CpuStart, PowerAction, ResetKind};
pub use arch::{ArchService, SocId, Workaround2Level, WorkaroundLevel, Workarounds};
pub use call::{CALL_REGS, Call, Conduit, Context, El1Regs, Kicks, Outcome, Reply, VcpuIndex};
pub use error::ReturnCode;
pub use fid::{CallType, Convention, FunctionId, Owner};
pub use mpidr::Mpidr;
pub use uid::Uid;
pub use version::SmcccVersion;

// The crate's README.md, compiled as a doctest so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
