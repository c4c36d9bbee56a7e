//! PV time for a VMM-side firmware-call server.
//!
//! * **Stolen time** (Arm DEN0057A): `PV_TIME_FEATURES` and `PV_TIME_ST`,
//!   one 64-byte [`stolen::StolenTimeRecord`] per vCPU, and lock-free
//!   accounting ([`PvTime::account`], or [`schedstat`] on Linux).
//! * **Live Physical Time** (the withdrawn half of DEN0057, 2020 revision),
//!   off unless configured: `PV_TIME_LPT`, the VM-wide
//!   [`lpt::LptRecord`], the fixed-point math and the guest's side of it.
//! * **Guest-time migration** ([`offset`]): the destination counter offset,
//!   with or without the blackout, and with LPT across hosts of different
//!   counter frequencies.
//!
//! The VMM hands in guest memory through [`GuestMemoryAccess`] and places
//! the structures in a region it reserves **outside guest RAM**: a guest
//! reuses RAM for itself, and fwcall's writes would corrupt it, so
//! [`PvTime::new`] refuses such a placement.
//!
//! ```
//! use fwcall_pvtime::{AtomicMemory, Gpa, MemoryRegion, PvTime, PvTimeConfig, PvTimeConfigError};
//!
//! let ram = [MemoryRegion::new(0x4000_0000, 0x1000_0000)];
//! let reserved = [MemoryRegion::new(0x0a10_0000, 0x1_0000)];
//! let in_ram = PvTimeConfig { stolen_time_base: Some(Gpa(0x4800_0000)), ..Default::default() };
//! assert!(matches!(
//!     PvTime::new(&in_ram, 4, &ram, &reserved),
//!     Err(PvTimeConfigError::OverlapsRam { .. })
//! ));
//! let ok = PvTimeConfig { stolen_time_base: Some(Gpa(0x0a10_0000)), ..Default::default() };
//! let pv = PvTime::new(&ok, 4, &ram, &reserved).unwrap();
//! pv.start(&AtomicMemory::new(&reserved)).unwrap();
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, clippy::doc_markdown)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod config;
pub mod lpt;
pub mod memory;
pub mod offset;
#[cfg(all(feature = "std", target_os = "linux"))]
pub mod schedstat;
pub mod service;
pub mod state;
pub mod stolen;
#[cfg(feature = "vm-memory")]
pub mod vm_memory;

pub use config::{DEFAULT_NATIVE_HZ, LptConfig, PvTimeConfig, PvTimeConfigError};
pub use memory::{AtomicMemory, Gpa, GuestMemoryAccess, MemoryError, MemoryRegion};
pub use service::PvTime;
pub use state::{LptState, PvTimeState, PvTimeStateError, VcpuPvState};

#[cfg(test)]
mod tests;

// The crate's README.md, compiled as a doctest so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
