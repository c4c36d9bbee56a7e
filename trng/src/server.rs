//! The TRNG server of one VM.

use alloc::boxed::Box;

use fwcall_smccc::{Call, FunctionId, Outcome, Reply, Uid, ids};

use crate::source::EntropySource;

/// `TRNG_VERSION` result for 1.0.
pub const VERSION_1_0: u64 = 0x1_0000;
/// `SUCCESS`.
pub const SUCCESS: i64 = 0;
/// `NOT_SUPPORTED`.
pub const NOT_SUPPORTED: i64 = -1;
/// `INVALID_PARAMETERS`: `N` is 0 or above the maximum.
pub const INVALID_PARAMETERS: i64 = -2;
/// `NO_ENTROPY`: nothing to give now; try again.
pub const NO_ENTROPY: i64 = -3;

/// Most bits one `TRNG_RND32` returns (three 32-bit registers).
pub const RND32_MAX_BITS: u32 = 96;
/// Most bits one `TRNG_RND64` returns (three 64-bit registers).
pub const RND64_MAX_BITS: u32 = 192;

/// The UUID fwcall's TRNG reports by default,
/// `5fd6b31a-2c0e-4b1d-8f37-66776374726e` (the last six bytes spell
/// "fwctrn"). It identifies the back end, not the randomness.
pub const FWCALL_TRNG_UUID: Uid = Uid([
    0x5f, 0xd6, 0xb3, 0x1a, 0x2c, 0x0e, 0x4b, 0x1d, 0x8f, 0x37, 0x66, 0x77, 0x63, 0x74, 0x72, 0x6e,
]);

/// What a VMM promises its guest about TRNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrngConfig {
    /// The UUID `TRNG_GET_UUID` returns. Its first word (`W0`, bytes 0..3)
    /// must not read as negative, or the guest would take it for an error.
    pub uuid: Uid,
}

impl Default for TrngConfig {
    fn default() -> Self {
        TrngConfig {
            uuid: FWCALL_TRNG_UUID,
        }
    }
}

impl TrngConfig {
    /// Checks the UUID.
    ///
    /// ```
    /// use fwcall_trng::{TrngConfig, TrngConfigError};
    /// use fwcall_smccc::Uid;
    /// assert!(TrngConfig::default().validate().is_ok());
    /// let bad = TrngConfig { uuid: Uid([0xff; 16]) };
    /// assert_eq!(bad.validate(), Err(TrngConfigError::NegativeUuid(0xffff_ffff)));
    /// ```
    pub fn validate(&self) -> Result<(), TrngConfigError> {
        let w0 = self.uuid.words()[0];
        if w0 & 0x8000_0000 != 0 {
            return Err(TrngConfigError::NegativeUuid(w0));
        }
        Ok(())
    }
}

/// A TRNG configuration fwcall cannot serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrngConfigError {
    /// `W0` of the UUID has bit 31 set.
    #[error(
        "TRNG UUID word 0 is {0:#010x}: bit 31 set reads as an error code; choose a UUID whose byte 3 is below 0x80"
    )]
    NegativeUuid(u32),
}

/// A TRNG 1.0 server for one VM: the UUID and the entropy source.
///
/// ```
/// use fwcall_trng::{DeterministicSource, Trng, TrngConfig};
/// use fwcall_smccc::{ids, Call, Reply};
///
/// let trng = Trng::new(TrngConfig::default(), Box::new(DeterministicSource::new(1))).unwrap();
/// assert_eq!(trng.call(&Call::new(ids::TRNG_VERSION, &[])).reply, Reply::x0(0x1_0000));
/// // 72 bits: X3 full, X2 with its low 8 bits, X1 zero.
/// let Reply::Return { regs, count: 4 } = trng.call(&Call::new(ids::TRNG_RND64, &[72])).reply else { panic!() };
/// assert_eq!((regs[0], regs[1], regs[2] >> 8), (0, 0, 0));
/// ```
#[derive(Debug)]
pub struct Trng {
    config: TrngConfig,
    source: Box<dyn EntropySource>,
}

impl Trng {
    /// A server answering with `config`'s UUID and `source`'s entropy.
    pub fn new(
        config: TrngConfig,
        source: Box<dyn EntropySource>,
    ) -> Result<Self, TrngConfigError> {
        config.validate()?;
        Ok(Trng { config, source })
    }

    /// The configuration.
    pub fn config(&self) -> &TrngConfig {
        &self.config
    }

    /// Replaces the entropy source.
    pub fn set_source(&mut self, source: Box<dyn EntropySource>) {
        self.source = source;
    }

    /// Whether `fid` is one of the five TRNG 1.0 functions.
    pub const fn implements(fid: FunctionId) -> bool {
        matches!(
            fid,
            ids::TRNG_VERSION
                | ids::TRNG_FEATURES
                | ids::TRNG_GET_UUID
                | ids::TRNG_RND32
                | ids::TRNG_RND64
        )
    }

    /// Serves one TRNG call (function ID stripped of the SVE hint). `N`
    /// and the queried function ID are `uint32`: only `W1` counts, for
    /// both conventions (KVM and TF-A read it so).
    pub fn call(&self, call: &Call) -> Outcome {
        // Each arm ends in the outcome constructor: built once, in place.
        match call.fid() {
            ids::TRNG_VERSION => Outcome::reply(Reply::x0(VERSION_1_0)),
            ids::TRNG_FEATURES => Outcome::reply(Reply::signed(
                if Self::implements(FunctionId(call.x[1] as u32)) {
                    SUCCESS
                } else {
                    NOT_SUPPORTED
                },
            )),
            ids::TRNG_GET_UUID => Outcome::reply(self.config.uuid.reply()),
            ids::TRNG_RND32 => Outcome::reply(self.rnd(call.x[1] as u32, RND32_MAX_BITS, 32)),
            ids::TRNG_RND64 => Outcome::reply(self.rnd(call.x[1] as u32, RND64_MAX_BITS, 64)),
            _ => Outcome::not_supported(),
        }
    }

    /// `N` bits of entropy in three registers of `width` bits: the lowest
    /// bits in `X3`, then `X2`, then `X1`; every bit at or above `N` zero,
    /// and the upper halves zero for 32-bit registers.
    fn rnd(&self, n: u32, max: u32, width: u32) -> Reply {
        if n == 0 || n > max {
            return Reply::signed(INVALID_PARAMETERS);
        }
        let mut bytes = [0u8; 24];
        let need = n.div_ceil(8) as usize;
        if self.source.fill(&mut bytes[..need]).is_err() {
            return Reply::signed(NO_ENTROPY);
        }
        let mut regs = [0u64; 4];
        let per = (width / 8) as usize;
        for (k, reg) in [3usize, 2, 1].into_iter().enumerate() {
            let lo = (k as u32) * width;
            if lo >= n {
                break;
            }
            let mut word = [0u8; 8];
            word[..per].copy_from_slice(&bytes[k * per..(k + 1) * per]);
            let mut v = u64::from_le_bytes(word);
            let bits = (n - lo).min(width);
            if bits < 64 {
                v &= (1u64 << bits) - 1;
            }
            regs[reg] = v;
        }
        Reply::x0_3(regs)
    }
}
