//! The LPT arithmetic against independent references: exact rational
//! arithmetic in `u128`, and `f64` logarithms for the event-stream divider.
//! DEN0057 §6.3 (the withdrawn LPT part) and the 2020 RFC define the
//! quantities; `/work/shared/spec/smccc-pvtime-kvm.md` digests them.

use fwcall_pvtime::lpt::{Coefficients, exact_convert, rescale_evnti};
use proptest::prelude::*;

/// Frequencies a host counter or a promise really has (Hz).
const FREQS: [u64; 8] = [
    1,
    3,
    24_000_000,
    25_000_000,
    62_500_000,
    100_000_000,
    1_000_000_000,
    u32::MAX as u64,
];

/// Each multiplier carries 64 significant bits: its top bit is set. A
/// multiplier with fewer bits than it could have loses precision for
/// nothing (and a shift too far would not fit 64 bits at all).
#[test]
fn lpt_multipliers_have_64_significant_bits() {
    for native in FREQS {
        for pv in FREQS {
            let c = Coefficients::compute(native, pv).unwrap();
            assert_eq!(c.scale_mult >> 63, 1, "scale {native} -> {pv}: {c:?}");
            assert_eq!(c.rscale_mult >> 63, 1, "rscale {native} -> {pv}: {c:?}");
        }
    }
}

/// Equal frequencies give the identity: 2^63 / 2^63, whatever the value.
#[test]
fn lpt_equal_frequencies_are_the_identity() {
    for f in FREQS {
        assert_eq!(
            Coefficients::compute(f, f).unwrap(),
            Coefficients::IDENTITY,
            "{f} Hz"
        );
    }
}

proptest! {
    /// `scale_mult / 2^fracbits` is the ratio rounded up to 64 significant
    /// bits: not below it, and less than one unit in the last place above.
    #[test]
    fn lpt_multiplier_is_the_ratio_rounded_up(native in 1u64..=u32::MAX as u64, pv in 1u64..=u32::MAX as u64) {
        let c = Coefficients::compute(native, pv).unwrap();
        prop_assert_eq!(c.scale_mult >> 63, 1);
        for (m, bits, num, den) in [
            (c.scale_mult, c.fracbits, pv, native),
            (c.rscale_mult, c.rfracbits, native, pv),
        ] {
            // m * den >= num * 2^bits > (m - 1) * den
            let lhs = u128::from(m) * u128::from(den);
            let exact = u128::from(num) << bits;
            prop_assert!(lhs >= exact, "{m:#x} / 2^{bits} below {num}/{den}");
            prop_assert!(lhs - u128::from(den) < exact, "{m:#x} / 2^{bits} not the ceiling of {num}/{den}");
        }
    }
}

/// `exact_convert` returns every result that fits 64 bits, u64::MAX
/// included, and `None` only past it.
#[test]
fn exact_convert_fits_exactly_64_bits() {
    let table = [
        (u64::MAX, 1, 1, Some(u64::MAX)),
        (u64::MAX, 2, 2, Some(u64::MAX)),
        (u64::MAX, 1, 2, None),
        (u64::MAX / 2 + 1, 1, 2, None),
        (u64::MAX / 2, 1, 2, Some(u64::MAX - 1)),
        (1000, 3, 1, Some(333)),
        (7, 0, 1, None),
    ];
    for (count, from, to, want) in table {
        assert_eq!(
            exact_convert(count, from, to),
            want,
            "{count} * {to} / {from}"
        );
    }
}

/// The divider keeps the event period: `evnti - round(log2(pv / native))`,
/// clamped to 0..=15 (CNTKCTL_EL1.EVNTI is 4 bits).
#[test]
fn rescale_evnti_subtracts_the_rounded_log_ratio() {
    let pairs = [
        (62_500_000u32, 100_000_000u32), // 1.6x: log2 0.68 -> 1
        (100_000_000, 62_500_000),
        (2, 3), // 1.5x: log2 0.58 -> 1
        (3, 2),
        (4, 5),                      // 1.25x: log2 0.32 -> 0
        (25_000_000, 1_000_000_000), // 40x: log2 5.32 -> 5
        (1_000_000_000, 25_000_000),
        (24_000_000, 24_000_000),
        (1, u32::MAX),            // 2^32: clamps
        (20_000_000, 60_000_000), // 3x: log2 1.58 -> 2
        (60_000_000, 20_000_000),
        (2, 7), // 3.5x: log2 1.81 -> 2
        (1, 6), // 6x: log2 2.58 -> 3
        (1, 7), // 7x: log2 2.81 -> 3
    ];
    for (native, pv) in pairs {
        let shift = (f64::from(pv) / f64::from(native)).log2().round() as i32;
        for evnti in 0u8..=15 {
            let want = (i32::from(evnti) - shift).clamp(0, 15) as u8;
            assert_eq!(
                rescale_evnti(evnti, native, pv),
                want,
                "evnti {evnti}, native {native}, pv {pv}"
            );
        }
    }
    // Zero frequencies leave the divider alone (clamped to 4 bits).
    assert_eq!(rescale_evnti(9, 0, 100), 9);
    assert_eq!(rescale_evnti(20, 100, 0), 15);
}
