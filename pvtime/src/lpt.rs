//! Live Physical Time (the withdrawn half of DEN0057, in its 2020 revision):
//! one VM-wide structure that tells the guest how to turn the native counter
//! of whatever host it runs on into a counter of a fixed "PV" frequency.
//!
//! The host side computes [`Coefficients`] and publishes an [`LptRecord`];
//! the guest side is [`native_to_pv`] / [`pv_to_native`], which a VMM or a
//! test can run to see exactly what a guest will compute. All arithmetic
//! uses 128-bit intermediates and reports overflow as `None`.
//!
//! ```
//! use fwcall_pvtime::lpt::{Coefficients, native_to_pv, pv_to_native};
//!
//! // A 25 MHz host promising its guest 1 GHz: ratio 40.
//! let c = Coefficients::compute(25_000_000, 1_000_000_000).unwrap();
//! assert_eq!((c.fracbits, c.scale_mult), (58, 40 << 58));
//! assert_eq!(native_to_pv(1_000, &c), Some(40_000));
//! assert_eq!(pv_to_native(40_000, &c), Some(1_000));
//! ```

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::memory::{Gpa, GuestMemoryAccess, MemoryError};

/// Bytes of the structure that carry meaning.
pub const RECORD_LEN: u64 = 48;
/// Bytes reserved for the structure in guest memory (it is 64-byte aligned,
/// so nothing else may share its 64-byte slot).
pub const SLOT_SIZE: u64 = 64;
/// Required alignment of the structure.
pub const ALIGN: u64 = 64;
/// Offset of `sequence_number`.
pub const SEQUENCE_OFFSET: u64 = 8;
/// The revision this implementation writes.
pub const REVISION: u32 = 0;

/// A rejected pair of frequencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LptError {
    /// A frequency of zero.
    #[error(
        "counter frequency is zero ({which}): give the host's CNTFRQ and the frequency promised to the guest in Hz"
    )]
    ZeroFrequency {
        /// `"native"` or `"pv"`.
        which: &'static str,
    },
}

/// The fixed-point pair the guest multiplies by, as §6.3 defines them.
///
/// `scale_mult / 2^fracbits` ≈ `pv / native` and
/// `rscale_mult / 2^rfracbits` ≈ `native / pv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Coefficients {
    /// Native→PV multiplier.
    pub scale_mult: u64,
    /// Fraction bits of `scale_mult`.
    pub fracbits: u32,
    /// PV→native multiplier.
    pub rscale_mult: u64,
    /// Fraction bits of `rscale_mult`.
    pub rfracbits: u32,
}

impl Coefficients {
    /// The coefficients for a host counter at `native_hz` and a guest
    /// promised `pv_hz`.
    ///
    /// Each multiplier gets 64 significant bits: the one above 1 has the
    /// integer bits of §6.3 (`floor(log2(ratio)) + 1`), the one below 1
    /// gets extra fraction bits instead of the RFC's single integer bit
    /// (the guest's 128-bit product and shift handle any count below 128).
    /// Both are rounded *up*, so a conversion never falls below the exact
    /// result. Truncating as the RFC does loses up to 2 ticks near the top
    /// of the range and 5 on a round trip.
    pub fn compute(native_hz: u64, pv_hz: u64) -> Result<Self, LptError> {
        if native_hz == 0 {
            return Err(LptError::ZeroFrequency { which: "native" });
        }
        if pv_hz == 0 {
            return Err(LptError::ZeroFrequency { which: "pv" });
        }
        let (scale_mult, fracbits) = multiplier(pv_hz, native_hz);
        let (rscale_mult, rfracbits) = multiplier(native_hz, pv_hz);
        Ok(Coefficients {
            scale_mult,
            fracbits,
            rscale_mult,
            rfracbits,
        })
    }

    /// The identity (native and PV frequencies equal).
    pub const IDENTITY: Coefficients = Coefficients {
        scale_mult: 1 << 63,
        fracbits: 63,
        rscale_mult: 1 << 63,
        rfracbits: 63,
    };
}

/// `(ceil(2^bits * num / den), bits)` for the largest `bits` (at most 127)
/// whose result fits 64 bits: the ratio `num / den` (both non-zero) with
/// 64 significant bits. Bounded: at most a few steps from the estimate.
fn multiplier(num: u64, den: u64) -> (u64, u32) {
    let estimate = 64 + den.ilog2() as i32 - num.ilog2() as i32;
    let mut bits = estimate.clamp(0, 127) as u32;
    loop {
        let wide = u128::from(num);
        if bits <= wide.leading_zeros() {
            let scaled = wide << bits;
            let d = u128::from(den);
            let ceil = scaled / d + u128::from(!scaled.is_multiple_of(d));
            if let Ok(m) = u64::try_from(ceil) {
                return (m, bits);
            }
        }
        if bits == 0 {
            // Unreachable for u64 inputs (num / den < 2^64), kept total.
            return (u64::MAX, 0);
        }
        bits -= 1;
    }
}

/// `(value * mult) >> bits` with a 128-bit product; `None` if the result
/// does not fit 64 bits (or `bits` is 128 or more, which no valid record has).
const fn mul_shift(value: u64, mult: u64, bits: u32) -> Option<u64> {
    let product = value as u128 * mult as u128;
    match product.checked_shr(bits) {
        Some(r) if r <= u64::MAX as u128 => Some(r as u64),
        _ => None,
    }
}

/// What the guest computes for a counter read: the PV count for a native
/// count. `None` if the PV count does not fit 64 bits.
pub const fn native_to_pv(native_count: u64, c: &Coefficients) -> Option<u64> {
    mul_shift(native_count, c.scale_mult, c.fracbits)
}

/// What the guest computes for a timer write (`CVAL`/`TVAL`): the native
/// count for a PV count. `None` if it does not fit 64 bits.
pub const fn pv_to_native(pv_count: u64, c: &Coefficients) -> Option<u64> {
    mul_shift(pv_count, c.rscale_mult, c.rfracbits)
}

/// The exact conversion `floor(count * to_hz / from_hz)`, the reference the
/// fixed-point conversions are held to. `None` if `from_hz` is zero or the
/// result does not fit 64 bits.
pub const fn exact_convert(count: u64, from_hz: u64, to_hz: u64) -> Option<u64> {
    if from_hz == 0 {
        return None;
    }
    let q = count as u128 * to_hz as u128 / from_hz as u128;
    if q > u64::MAX as u128 {
        None
    } else {
        Some(q as u64)
    }
}

/// The event-stream divider (`CNTKCTL_EL1.EVNTI`) a guest programs into the
/// native counter so that events keep the period it meant in PV ticks:
/// `clamp(evnti - round(log2(pv / native)), 0, 15)`. Zero frequencies leave
/// `evnti` unchanged.
pub fn rescale_evnti(evnti: u8, native_hz: u32, pv_hz: u32) -> u8 {
    if native_hz == 0 || pv_hz == 0 {
        return evnti.min(15);
    }
    // round(log2(a / b)) for a >= b is floor(log2(2 a^2 / b^2) / 2).
    let rounded_log2 = |a: u32, b: u32| -> i32 {
        let (a, b) = (u128::from(a), u128::from(b));
        let v = 2 * a * a / (b * b);
        (v.ilog2() / 2) as i32
    };
    let shift = if pv_hz >= native_hz {
        rounded_log2(pv_hz, native_hz)
    } else {
        -rounded_log2(native_hz, pv_hz)
    };
    (i32::from(evnti) - shift).clamp(0, 15) as u8
}

/// The VM-wide LPT structure as it lies in guest memory (48 meaningful
/// bytes in a 64-byte slot, little-endian, read-only for the guest).
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | `revision` (0) |
/// | 4 | 4 | `attributes` (0) |
/// | 8 | 8 | `sequence_number`: bit 0 reserved, +2 per run |
/// | 16 | 4 | `native_freq` (Hz) |
/// | 20 | 4 | `pv_freq` (Hz) |
/// | 24 | 8 | `scale_mult` |
/// | 32 | 8 | `rscale_mult` |
/// | 40 | 4 | `fracbits` |
/// | 44 | 4 | `rfracbits` |
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct LptRecord {
    /// Structure revision: 0.
    pub revision: U32,
    /// Attributes: 0.
    pub attributes: U32,
    /// Twice the number of runs published so far; bit 0 reserved.
    pub sequence_number: U64,
    /// The current host's counter frequency.
    pub native_freq: U32,
    /// The frequency promised to the guest, fixed for the VM's life.
    pub pv_freq: U32,
    /// See [`Coefficients::scale_mult`].
    pub scale_mult: U64,
    /// See [`Coefficients::rscale_mult`].
    pub rscale_mult: U64,
    /// See [`Coefficients::fracbits`].
    pub fracbits: U32,
    /// See [`Coefficients::rfracbits`].
    pub rfracbits: U32,
}

const _: () = assert!(core::mem::size_of::<LptRecord>() == RECORD_LEN as usize);

impl LptRecord {
    /// A revision-0 record.
    pub fn new(sequence: u64, native_hz: u32, pv_hz: u32, c: &Coefficients) -> Self {
        LptRecord {
            revision: U32::new(REVISION),
            attributes: U32::new(0),
            sequence_number: U64::new(sequence),
            native_freq: U32::new(native_hz),
            pv_freq: U32::new(pv_hz),
            scale_mult: U64::new(c.scale_mult),
            rscale_mult: U64::new(c.rscale_mult),
            fracbits: U32::new(c.fracbits),
            rfracbits: U32::new(c.rfracbits),
        }
    }

    /// The coefficients the guest reads from this record.
    pub fn coefficients(&self) -> Coefficients {
        Coefficients {
            scale_mult: self.scale_mult.get(),
            fracbits: self.fracbits.get(),
            rscale_mult: self.rscale_mult.get(),
            rfracbits: self.rfracbits.get(),
        }
    }

    /// Writes the record at `ipa` in the order a guest's sequence loop
    /// relies on: the body first, the sequence number last, as one 64-bit
    /// store. A guest that reads the new sequence number therefore reads the
    /// new body (the VMM must still publish only while no vCPU runs: the
    /// structure has no "update in progress" bit for a reader to wait on).
    pub fn publish<M: GuestMemoryAccess + ?Sized>(
        &self,
        mem: &M,
        ipa: Gpa,
    ) -> Result<(), MemoryError> {
        let bytes = self.as_bytes();
        let seq_end = (SEQUENCE_OFFSET + 8) as usize;
        let body = ipa
            .checked_add(seq_end as u64)
            .ok_or(MemoryError::OutOfRange {
                addr: ipa,
                len: SLOT_SIZE,
            })?;
        let mut tail = [0u8; (SLOT_SIZE as usize) - 16];
        tail[..bytes.len() - seq_end].copy_from_slice(&bytes[seq_end..]);
        mem.write_bytes(ipa, &bytes[..SEQUENCE_OFFSET as usize])?;
        mem.write_bytes(body, &tail)?;
        let seq_addr = ipa
            .checked_add(SEQUENCE_OFFSET)
            .ok_or(MemoryError::OutOfRange {
                addr: ipa,
                len: SLOT_SIZE,
            })?;
        mem.write_u64(seq_addr, self.sequence_number.get())
    }

    /// Reads a record from guest memory.
    pub fn read<M: GuestMemoryAccess + ?Sized>(mem: &M, ipa: Gpa) -> Result<Self, MemoryError> {
        let mut buf = [0u8; RECORD_LEN as usize];
        mem.read_bytes(ipa, &mut buf)?;
        // The buffer has exactly the record's size, so this cannot fail.
        Ok(Self::read_from_bytes(&buf)
            .unwrap_or_else(|_| LptRecord::new(0, 0, 0, &Coefficients::IDENTITY)))
    }
}

/// A guest's counter read, as the 2020 RFC's guest does it: load the
/// sequence number, read the native counter, convert with the record's
/// coefficients, re-load the sequence number and retry if it moved.
/// `read_native` is called once per attempt; at most `attempts` tries.
///
/// Returns `None` if the record never settles, the sequence number is zero
/// (nothing published yet), the revision is unknown, or the result overflows.
pub fn guest_read_pv<M: GuestMemoryAccess + ?Sized>(
    mem: &M,
    ipa: Gpa,
    mut read_native: impl FnMut() -> u64,
    attempts: u32,
) -> Option<u64> {
    for _ in 0..attempts {
        let before = LptRecord::read(mem, ipa).ok()?;
        let seq = before.sequence_number.get();
        if seq == 0 || before.revision.get() != REVISION {
            return None;
        }
        let pv = native_to_pv(read_native(), &before.coefficients());
        let after = LptRecord::read(mem, ipa).ok()?;
        if after.sequence_number.get() == seq {
            return pv;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{AtomicMemory, MemoryRegion};
    use proptest::prelude::*;

    const MHZ: u64 = 1_000_000;

    #[test]
    fn spec_example_25mhz_to_1ghz_has_ratio_40_in_58_fraction_bits() {
        let c = Coefficients::compute(25 * MHZ, 1000 * MHZ).unwrap();
        assert_eq!(c.fracbits, 58);
        assert_eq!(c.scale_mult, 40 << 58);
        // 1/40 lies in [2^-6, 2^-5): 69 fraction bits keep 64 significant ones.
        assert_eq!(c.rfracbits, 69);
        assert_eq!(c.rscale_mult, (1u128 << 69).div_ceil(40) as u64);
    }

    #[test]
    fn multiplier_above_one_has_floor_log2_ratio_plus_one_integer_bits() {
        // (native, pv, fracbits, rfracbits): the multiplier above 1 follows
        // 64 - (floor(log2(ratio)) + 1); the one below 1 keeps 64 significant bits.
        let table = [
            (62_500_000, 62_500_000, 63, 63),
            (62_500_000, 125_000_000, 62, 64),
            (62_500_000, 124_999_999, 63, 64),
            (1_000_000_000, 62_500_000, 67, 59),
            (24_000_000, 1_000_000_000, 58, 69),
            (10_000 * MHZ, MHZ, 77, 50),
        ];
        for (n, p, f, rf) in table {
            let c = Coefficients::compute(n, p).unwrap();
            assert_eq!((c.fracbits, c.rfracbits), (f, rf), "{n} -> {p}");
        }
    }

    #[test]
    fn equal_frequencies_give_the_exact_identity() {
        let c = Coefficients::compute(62_500_000, 62_500_000).unwrap();
        assert_eq!(c, Coefficients::IDENTITY);
        for v in [0, 1, 12345, u64::MAX / 2, u64::MAX] {
            assert_eq!(native_to_pv(v, &c), Some(v));
            assert_eq!(pv_to_native(v, &c), Some(v));
        }
    }

    #[test]
    fn zero_frequency_is_rejected() {
        assert!(Coefficients::compute(0, 1).is_err());
        assert!(Coefficients::compute(1, 0).is_err());
        assert_eq!(exact_convert(1, 0, 1), None);
    }

    #[test]
    fn conversion_overflow_is_none_not_a_panic() {
        let c = Coefficients::compute(MHZ, 10_000 * MHZ).unwrap();
        assert_eq!(native_to_pv(u64::MAX, &c), None);
        let bogus = Coefficients {
            scale_mult: u64::MAX,
            fracbits: 200,
            rscale_mult: u64::MAX,
            rfracbits: 0,
        };
        assert_eq!(native_to_pv(5, &bogus), None);
        assert_eq!(pv_to_native(2, &bogus), None);
    }

    #[test]
    fn record_layout_matches_the_2020_rfc_offsets() {
        let c = Coefficients::compute(25 * MHZ, 1000 * MHZ).unwrap();
        let r = LptRecord::new(2, 25_000_000, 1_000_000_000, &c);
        let b = r.as_bytes();
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        assert_eq!(b.len(), 48);
        assert_eq!((u32_at(0), u32_at(4)), (0, 0));
        assert_eq!(u64_at(8), 2);
        assert_eq!(u32_at(16), 25_000_000);
        assert_eq!(u32_at(20), 1_000_000_000);
        assert_eq!(u64_at(24), c.scale_mult);
        assert_eq!(u64_at(32), c.rscale_mult);
        assert_eq!(u32_at(40), 58);
        assert_eq!(u32_at(44), c.rfracbits);
    }

    /// Memory that records the order of writes.
    #[derive(Default)]
    struct Log(std::sync::Mutex<std::vec::Vec<(u64, usize)>>);
    impl GuestMemoryAccess for Log {
        fn write_u64(&self, a: Gpa, _: u64) -> Result<(), MemoryError> {
            self.0.lock().unwrap().push((a.0, 8));
            Ok(())
        }
        fn write_bytes(&self, a: Gpa, d: &[u8]) -> Result<(), MemoryError> {
            self.0.lock().unwrap().push((a.0, d.len()));
            Ok(())
        }
        fn read_bytes(&self, _: Gpa, _: &mut [u8]) -> Result<(), MemoryError> {
            Ok(())
        }
    }

    #[test]
    fn publish_writes_sequence_last_as_one_64_bit_store() {
        let log = Log::default();
        let r = LptRecord::new(4, 1, 1, &Coefficients::IDENTITY);
        r.publish(&log, Gpa(0x1000)).unwrap();
        let w = log.0.lock().unwrap();
        assert_eq!(w.last(), Some(&(0x1008, 8)));
        // Everything else lies outside the sequence field and covers the slot.
        let covered: u64 = w.iter().map(|(_, l)| *l as u64).sum();
        assert_eq!(covered, SLOT_SIZE);
        assert!(
            w[..w.len() - 1]
                .iter()
                .all(|(a, l)| *a + *l as u64 <= 0x1008 || *a >= 0x1010)
        );
    }

    #[test]
    fn guest_sequence_loop_reads_published_coefficients() {
        let mem = AtomicMemory::new(&[MemoryRegion::new(0x1000, 0x40)]);
        assert_eq!(
            guest_read_pv(&mem, Gpa(0x1000), || 10, 3),
            None,
            "nothing published"
        );
        let c = Coefficients::compute(25 * MHZ, 1000 * MHZ).unwrap();
        LptRecord::new(2, 25_000_000, 1_000_000_000, &c)
            .publish(&mem, Gpa(0x1000))
            .unwrap();
        assert_eq!(guest_read_pv(&mem, Gpa(0x1000), || 10, 3), Some(400));
        // A publish between the two sequence loads forces a retry.
        let c2 = Coefficients::compute(50 * MHZ, 1000 * MHZ).unwrap();
        let mut first = true;
        let got = guest_read_pv(
            &mem,
            Gpa(0x1000),
            || {
                if first {
                    first = false;
                    LptRecord::new(4, 50_000_000, 1_000_000_000, &c2)
                        .publish(&mem, Gpa(0x1000))
                        .unwrap();
                }
                10
            },
            3,
        );
        assert_eq!(got, Some(200));
    }

    #[test]
    fn evnti_moves_by_rounded_log2_of_the_ratio() {
        // 25 MHz native, 1 GHz PV: log2(40) = 5.32 -> 5.
        assert_eq!(rescale_evnti(10, 25_000_000, 1_000_000_000), 5);
        assert_eq!(rescale_evnti(2, 25_000_000, 1_000_000_000), 0);
        // 1 GHz native, 62.5 MHz PV: log2(1/16) = -4.
        assert_eq!(rescale_evnti(12, 1_000_000_000, 62_500_000), 15);
        assert_eq!(rescale_evnti(3, 1_000_000_000, 62_500_000), 7);
        assert_eq!(rescale_evnti(7, 5, 5), 7);
        assert_eq!(rescale_evnti(7, 0, 5), 7);
    }

    fn freq() -> impl Strategy<Value = u64> {
        MHZ..=10_000 * MHZ
    }

    /// A count in `0..=limit`, biased towards both ends and the quarter and
    /// half marks.
    fn count_within(limit: u64) -> impl Strategy<Value = u64> {
        prop_oneof![
            0..=limit,
            (0..=1_000_000u64).prop_map(move |d| limit.saturating_sub(d)),
            (0..=1_000_000u64).prop_map(move |d| (limit / 2).saturating_sub(d)),
            (0..=1_000_000u64).prop_map(move |d| (limit / 4).saturating_sub(d)),
            0..=1_000_000u64,
        ]
    }

    /// Largest count whose exact conversion from `from` to `to` fits 64 bits.
    fn limit(from: u64, to: u64) -> u64 {
        let l = (u128::from(u64::MAX) * u128::from(from)) / u128::from(to);
        u64::try_from(l).unwrap_or(u64::MAX)
    }

    /// Converts `v` from one clock to the other the way the guest does.
    fn convert(v: u64, from_native: bool, c: &Coefficients) -> Option<u64> {
        if from_native {
            native_to_pv(v, c)
        } else {
            pv_to_native(v, c)
        }
    }

    /// Two frequencies, and which of them is the native one.
    fn clocks() -> impl Strategy<Value = (u64, u64, bool)> {
        (freq(), freq(), any::<bool>())
    }

    fn coefficients(native: u64, pv: u64) -> Coefficients {
        Coefficients::compute(native, pv).unwrap()
    }

    proptest! {
        /// Both directions, every count whose exact result fits 64 bits:
        /// never below the exact result, at most 2 above (the limit of a
        /// 64-bit multiplier at the very top of the range).
        #[test]
        fn conversion_is_never_below_exact_and_at_most_two_above(
            (from, to, from_native, v) in clocks().prop_flat_map(|(a, b, n)| (Just(a), Just(b), Just(n), count_within(limit(a, b))))
        ) {
            let c = if from_native { coefficients(from, to) } else { coefficients(to, from) };
            let exact = exact_convert(v, from, to).unwrap();
            match convert(v, from_native, &c) {
                Some(got) => prop_assert!(got >= exact && got - exact <= 2, "got {got} exact {exact}"),
                None => prop_assert!(exact >= u64::MAX - 1),
            }
        }

        /// Towards the slower clock, and towards the faster one over the
        /// lower half of the range: the exact result or one tick above.
        #[test]
        fn conversion_is_within_one_tick_of_exact(
            (from, to, from_native, v) in clocks().prop_flat_map(|(a, b, n)| {
                let lim = if a >= b { u64::MAX } else { limit(a, b) / 2 };
                (Just(a), Just(b), Just(n), count_within(lim))
            })
        ) {
            let c = if from_native { coefficients(from, to) } else { coefficients(to, from) };
            let exact = exact_convert(v, from, to).unwrap();
            let got = convert(v, from_native, &c).unwrap();
            prop_assert!(got == exact || got == exact + 1, "got {got} exact {exact}");
        }

        /// From the slower clock and back, over the lower quarter of the
        /// range (2^62 ticks of the faster clock: 14 years at 10 GHz):
        /// loses at most one tick, never gains.
        #[test]
        fn there_and_back_loses_at_most_one_tick(
            (coarse, fine, coarse_is_native, v) in clocks().prop_flat_map(|(a, b, n)| {
                let (coarse, fine) = (a.min(b), a.max(b));
                (Just(coarse), Just(fine), Just(n), count_within(limit(coarse, fine) / 4))
            })
        ) {
            let c = if coarse_is_native { coefficients(coarse, fine) } else { coefficients(fine, coarse) };
            let there = convert(v, coarse_is_native, &c).unwrap();
            let back = convert(there, !coarse_is_native, &c).unwrap();
            prop_assert!(back == v || back + 1 == v, "v {v} back {back}");
        }

        /// The same over the whole range: within two ticks.
        #[test]
        fn there_and_back_over_the_whole_range_is_within_two_ticks(
            (coarse, fine, coarse_is_native, v) in clocks().prop_flat_map(|(a, b, n)| {
                let (coarse, fine) = (a.min(b), a.max(b));
                (Just(coarse), Just(fine), Just(n), count_within(limit(coarse, fine)))
            })
        ) {
            let c = if coarse_is_native { coefficients(coarse, fine) } else { coefficients(fine, coarse) };
            let Some(there) = convert(v, coarse_is_native, &c) else {
                // Only the very top may round past 2^64.
                prop_assert!(exact_convert(v, coarse, fine).unwrap() >= u64::MAX - 1);
                return Ok(());
            };
            let back = convert(there, !coarse_is_native, &c).unwrap();
            prop_assert!(back.abs_diff(v) <= 2, "v {v} back {back}");
        }

        /// From the faster clock and back: within one tick of the slower
        /// clock (in fast ticks) plus two for rounding.
        #[test]
        fn there_and_back_from_the_faster_clock_stays_within_one_slow_tick(
            (coarse, fine, fine_is_native, v) in clocks().prop_flat_map(|(a, b, n)| {
                (Just(a.min(b)), Just(a.max(b)), Just(n), count_within(u64::MAX - (1 << 20)))
            })
        ) {
            let c = if fine_is_native { coefficients(fine, coarse) } else { coefficients(coarse, fine) };
            let there = convert(v, fine_is_native, &c).unwrap();
            let back = convert(there, !fine_is_native, &c).unwrap();
            let slow_tick = fine.div_ceil(coarse);
            prop_assert!(back.abs_diff(v) <= slow_tick + 2, "v {v} back {back} tick {slow_tick}");
        }

        #[test]
        fn no_input_panics(native in any::<u64>(), pv in any::<u64>(), v in any::<u64>()) {
            if let Ok(c) = Coefficients::compute(native, pv) {
                let _ = native_to_pv(v, &c);
                let _ = pv_to_native(v, &c);
            }
            let _ = exact_convert(v, native, pv);
            let _ = rescale_evnti(v as u8, native as u32, pv as u32);
        }
    }
}
