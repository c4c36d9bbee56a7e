//! Where entropy comes from: a trait the VMM implements, and three sources.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// The source could not provide entropy now; the guest is told
/// `NO_ENTROPY` and tries again later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the entropy source has no entropy to give right now")]
pub struct NoEntropy;

/// Entropy for `TRNG_RND32`/`TRNG_RND64`, shared by every vCPU thread.
///
/// `fill` is called on a vCPU's exit path with at most 24 bytes: it must
/// not block for long. It may fail; the guest then gets `NO_ENTROPY` and
/// retries (Linux's hwrng driver retries up to 20 times).
///
/// ```
/// use fwcall_trng::{EntropySource, NoEntropy};
///
/// /// A hardware generator reached through the VMM (here: a constant).
/// #[derive(Debug)]
/// struct Device;
/// impl EntropySource for Device {
///     fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy> {
///         out.fill(0x5a);
///         Ok(())
///     }
/// }
/// ```
pub trait EntropySource: Send + Sync + fmt::Debug {
    /// Fills all of `out` with entropy, or fails without a partial result
    /// counting.
    fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy>;
}

impl<T: EntropySource + ?Sized> EntropySource for alloc::boxed::Box<T> {
    fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy> {
        (**self).fill(out)
    }
}

impl<T: EntropySource + ?Sized> EntropySource for alloc::sync::Arc<T> {
    fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy> {
        (**self).fill(out)
    }
}

/// A source that never has entropy: every request answers `NO_ENTROPY`.
/// The default of a VM built without `std` until the VMM gives it one.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSource;

impl EntropySource for NoSource {
    fn fill(&self, _out: &mut [u8]) -> Result<(), NoEntropy> {
        Err(NoEntropy)
    }
}

/// A reproducible stream for tests and trace replay: the same seed gives
/// the same bytes in the same order of requests, on every run and host.
/// **Not random**: never give it to a real guest.
///
/// Each 8-byte word is `SplitMix64` of the seed plus a counter (one atomic
/// increment per word, so concurrent vCPUs never get the same word).
///
/// ```
/// use fwcall_trng::{DeterministicSource, EntropySource};
/// let (a, b) = (DeterministicSource::new(7), DeterministicSource::new(7));
/// let (mut x, mut y) = ([0u8; 24], [0u8; 24]);
/// a.fill(&mut x).unwrap();
/// b.fill(&mut y).unwrap();
/// assert_eq!(x, y);
/// ```
#[derive(Debug)]
pub struct DeterministicSource {
    seed: u64,
    counter: AtomicU64,
}

impl DeterministicSource {
    /// A stream determined by `seed`.
    pub const fn new(seed: u64) -> Self {
        DeterministicSource {
            seed,
            counter: AtomicU64::new(0),
        }
    }
}

/// The `SplitMix64` output function.
const fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl EntropySource for DeterministicSource {
    fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy> {
        for chunk in out.chunks_mut(8) {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let word = splitmix64(
                self.seed
                    .wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            );
            let bytes = word.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// The operating system's generator (`getrandom(2)` on Linux, the
/// platform's equivalent elsewhere), through the `getrandom` crate.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

#[cfg(feature = "std")]
impl EntropySource for OsEntropy {
    fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy> {
        getrandom::fill(out).map_err(|_| NoEntropy)
    }
}
