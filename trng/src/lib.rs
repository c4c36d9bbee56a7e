//! A TRNG server (Arm DEN0098, True Random Number Generator firmware
//! interface, version 1.0) for a VMM: `TRNG_VERSION`, `TRNG_FEATURES`,
//! `TRNG_GET_UUID`, `TRNG_RND32` and `TRNG_RND64`, with entropy from an
//! [`EntropySource`] the VMM chooses.
//!
//! * [`OsEntropy`] (feature `std`): the host's generator, through `getrandom`.
//! * [`DeterministicSource`]: the same bytes on every run, for tests and
//!   trace replay.
//! * [`NoSource`]: always `NO_ENTROPY`.
//!
//! Linux uses TRNG as a hardware RNG (`smccc_trng`) and to seed its pool
//! (`arch_get_random_seed_longs`) once PSCI ≥ 1.0 reports SMCCC ≥ 1.1.
//!
//! ```
//! use fwcall_trng::{DeterministicSource, Trng, TrngConfig};
//! use fwcall_smccc::{ids, Call, Reply};
//!
//! let trng = Trng::new(TrngConfig::default(), Box::new(DeterministicSource::new(42))).unwrap();
//! let out = trng.call(&Call::new(ids::TRNG_RND32, &[40]));
//! let Reply::Return { regs, count: 4 } = out.reply else { panic!() };
//! // 40 bits: W3 full, the low 8 bits of W2, W1 zero; upper halves zero.
//! assert_eq!(regs[0], 0);
//! assert!(regs[3] <= u32::MAX as u64 && regs[2] < 0x100 && regs[1] == 0);
//! assert_eq!(trng.call(&Call::new(ids::TRNG_RND32, &[97])).reply, Reply::signed(-2));
//! ```
//!
//! Behaviour the sources leave open is chosen deliberately; the choices
//! are listed in the workspace's `DESIGN.md` (section TRNG).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, clippy::doc_markdown)]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

mod regs;
mod server;
mod source;

#[cfg(test)]
mod tests;

pub use regs::{REGISTER_USE, register_use};
pub use server::{
    FWCALL_TRNG_UUID, INVALID_PARAMETERS, NO_ENTROPY, NOT_SUPPORTED, RND32_MAX_BITS,
    RND64_MAX_BITS, SUCCESS, Trng, TrngConfig, TrngConfigError, VERSION_1_0,
};
#[cfg(feature = "std")]
pub use source::OsEntropy;
pub use source::{DeterministicSource, EntropySource, NoEntropy, NoSource};

// The crate's README.md, compiled as a doctest so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
