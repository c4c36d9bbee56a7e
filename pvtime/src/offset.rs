//! Where the guest's counter resumes after a migration or a restore, as
//! pure functions (§7.2): the value for `KVM_ARM_SET_COUNTER_OFFSET`, and
//! with LPT the new coefficients plus an offset that keep the guest's PV
//! counter going.
//!
//! The guest counter never goes backwards: a destination whose realtime
//! clock reads earlier than the source's (clock skew) resumes the guest at
//! the count it stopped at.
//!
//! ```
//! use fwcall_pvtime::offset::{counter_offset, Blackout, HostClock, SavedClock};
//!
//! let saved = SavedClock { guest_count: 1_000, realtime_ns: 5_000_000_000, freq_hz: 62_500_000 };
//! // 2 s later, on a host whose counter reads 10_000_000_000.
//! let now = HostClock { host_count: 10_000_000_000, realtime_ns: 7_000_000_000, freq_hz: 62_500_000 };
//! let off = counter_offset(&saved, &now, Blackout::Include).unwrap();
//! assert_eq!(now.host_count - off, 1_000 + 125_000_000);
//! let off = counter_offset(&saved, &now, Blackout::Exclude).unwrap();
//! assert_eq!(now.host_count - off, 1_000);
//! ```

use crate::lpt::{self, Coefficients};

/// What the source saved with every vCPU stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SavedClock {
    /// The guest's counter at the pause (`CNTVCT` as the guest sees it; with
    /// LPT, the guest's PV count).
    pub guest_count: u64,
    /// The source host's `CLOCK_REALTIME` at the same moment, in ns.
    pub realtime_ns: u64,
    /// The frequency of `guest_count` (with LPT: the PV frequency).
    pub freq_hz: u64,
}

impl SavedClock {
    /// The saved clock of an LPT guest: its native guest count converted
    /// the way the guest converts it, with the source's coefficients.
    pub fn from_lpt(
        native_guest_count: u64,
        realtime_ns: u64,
        source: &Coefficients,
        pv_hz: u64,
    ) -> Result<Self, OffsetError> {
        Ok(SavedClock {
            guest_count: lpt::native_to_pv(native_guest_count, source)
                .ok_or(OffsetError::Overflow)?,
            realtime_ns,
            freq_hz: pv_hz,
        })
    }
}

/// What the destination reads, together, just before the first run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HostClock {
    /// The destination host's physical counter.
    pub host_count: u64,
    /// The destination host's `CLOCK_REALTIME`, in ns.
    pub realtime_ns: u64,
    /// The destination host's counter frequency.
    pub freq_hz: u64,
}

/// Whether the guest's clock counts the time it was not running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Blackout {
    /// Guest time keeps up with wall time (needs NTP-synchronised hosts).
    Include,
    /// The guest sees a pause: its counter resumes where it stopped.
    Exclude,
}

/// Why no offset could be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OffsetError {
    /// A frequency of zero.
    #[error("a counter frequency is zero; give both hosts' frequencies in Hz")]
    ZeroFrequency,
    /// The frequencies differ without LPT.
    #[error(
        "the source counter ran at {source_hz} Hz and this host's runs at {dest_hz} Hz; the guest's timebase would change speed: migrate between hosts of equal frequency, or use LPT (offset::lpt_resume)"
    )]
    FrequencyMismatch {
        /// The saved frequency.
        source_hz: u64,
        /// The destination's frequency.
        dest_hz: u64,
    },
    /// The guest count would pass 2^64.
    #[error(
        "the guest counter would pass 2^64 ticks; the saved count or the blackout is implausible"
    )]
    Overflow,
}

/// The guest count to present at resume: the saved count, plus the
/// blackout in guest ticks when it is included, and never less than the
/// saved count.
pub fn resume_count(
    source: &SavedClock,
    dest_realtime_ns: u64,
    policy: Blackout,
) -> Result<u64, OffsetError> {
    if source.freq_hz == 0 {
        return Err(OffsetError::ZeroFrequency);
    }
    let elapsed_ns = match policy {
        Blackout::Exclude => 0,
        // Skew may put the destination's realtime before the source's: clamp.
        Blackout::Include => dest_realtime_ns.saturating_sub(source.realtime_ns),
    };
    let ticks = u128::from(elapsed_ns) * u128::from(source.freq_hz) / 1_000_000_000;
    u64::try_from(ticks)
        .ok()
        .and_then(|t| source.guest_count.checked_add(t))
        .ok_or(OffsetError::Overflow)
}

/// The counter offset for `KVM_ARM_SET_COUNTER_OFFSET` on the destination:
/// `host_count - guest_count_at_resume`, modulo 2^64.
///
/// Refuses differing frequencies: without LPT the guest's timebase would
/// change speed.
pub fn counter_offset(
    source: &SavedClock,
    dest_now: &HostClock,
    policy: Blackout,
) -> Result<u64, OffsetError> {
    if source.freq_hz == 0 || dest_now.freq_hz == 0 {
        return Err(OffsetError::ZeroFrequency);
    }
    if source.freq_hz != dest_now.freq_hz {
        return Err(OffsetError::FrequencyMismatch {
            source_hz: source.freq_hz,
            dest_hz: dest_now.freq_hz,
        });
    }
    let g1 = resume_count(source, dest_now.realtime_ns, policy)?;
    Ok(dest_now.host_count.wrapping_sub(g1))
}

/// How an LPT guest resumes on a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LptResume {
    /// The coefficients to publish on this host.
    pub coefficients: Coefficients,
    /// The counter offset to set (`host_count - native_guest_count`, mod 2^64).
    pub offset: u64,
    /// The native guest count at resume.
    pub native_guest_count: u64,
    /// What the guest's PV counter reads at resume: never less than the
    /// PV count to resume at, and the smallest value the guest's conversion
    /// reaches at or above it.
    pub pv_count: u64,
}

/// Resumes an LPT guest on a host whose counter may run at another
/// frequency: computes this host's coefficients and the smallest native
/// guest count whose conversion (as the guest does it) reaches the PV count
/// to resume at, so the guest's PV counter continues and never goes back.
///
/// `source.guest_count` is the guest's PV count and `source.freq_hz` the PV
/// frequency (see [`SavedClock::from_lpt`]).
pub fn lpt_resume(
    source: &SavedClock,
    dest_now: &HostClock,
    policy: Blackout,
) -> Result<LptResume, OffsetError> {
    if source.freq_hz == 0 || dest_now.freq_hz == 0 {
        return Err(OffsetError::ZeroFrequency);
    }
    let coefficients = Coefficients::compute(dest_now.freq_hz, source.freq_hz)
        .map_err(|_| OffsetError::ZeroFrequency)?;
    let target = resume_count(source, dest_now.realtime_ns, policy)?;
    // The guest's conversion is monotonic in the native count, so a binary
    // search finds the smallest native count that reaches `target`.
    let reaches = |n: u64| lpt::native_to_pv(n, &coefficients).is_none_or(|p| p >= target);
    if !reaches(u64::MAX) {
        return Err(OffsetError::Overflow);
    }
    let (mut lo, mut hi) = (0u64, u64::MAX);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let pv_count = lpt::native_to_pv(lo, &coefficients).ok_or(OffsetError::Overflow)?;
    Ok(LptResume {
        coefficients,
        offset: dest_now.host_count.wrapping_sub(lo),
        native_guest_count: lo,
        pv_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const F: u64 = 62_500_000;

    fn saved(g: u64, r: u64, f: u64) -> SavedClock {
        SavedClock {
            guest_count: g,
            realtime_ns: r,
            freq_hz: f,
        }
    }

    fn host(h: u64, r: u64, f: u64) -> HostClock {
        HostClock {
            host_count: h,
            realtime_ns: r,
            freq_hz: f,
        }
    }

    #[test]
    fn include_blackout_adds_elapsed_realtime_in_ticks() {
        // 1.5 s at 62.5 MHz = 93_750_000 ticks.
        let off = counter_offset(
            &saved(7, 10, F),
            &host(1 << 40, 1_500_000_010, F),
            Blackout::Include,
        )
        .unwrap();
        assert_eq!((1u64 << 40) - off, 7 + 93_750_000);
    }

    #[test]
    fn exclude_blackout_resumes_at_the_saved_count() {
        let off = counter_offset(
            &saved(123, 0, F),
            &host(1000, 99_000_000_000, F),
            Blackout::Exclude,
        )
        .unwrap();
        assert_eq!(off, 1000 - 123);
    }

    #[test]
    fn realtime_skew_never_moves_guest_time_backwards() {
        let off = counter_offset(
            &saved(5000, 9_000_000_000, F),
            &host(100, 1_000, F),
            Blackout::Include,
        )
        .unwrap();
        // Host count below guest count: the offset wraps, the guest sees 5000.
        assert_eq!(100u64.wrapping_sub(off), 5000);
    }

    #[test]
    fn differing_frequency_without_lpt_is_refused() {
        assert_eq!(
            counter_offset(&saved(0, 0, F), &host(0, 0, 25_000_000), Blackout::Exclude),
            Err(OffsetError::FrequencyMismatch {
                source_hz: F,
                dest_hz: 25_000_000
            })
        );
        assert_eq!(
            counter_offset(&saved(0, 0, 0), &host(0, 0, 0), Blackout::Exclude),
            Err(OffsetError::ZeroFrequency)
        );
    }

    #[test]
    fn guest_count_overflow_is_an_error() {
        assert_eq!(
            counter_offset(
                &saved(u64::MAX - 1, 0, F),
                &host(0, u64::MAX, F),
                Blackout::Include
            ),
            Err(OffsetError::Overflow)
        );
    }

    #[test]
    fn lpt_resume_on_a_faster_host_continues_the_pv_counter() {
        // Source: native 25 MHz, PV 1 GHz. Guest PV count 40_000 at pause.
        let src = Coefficients::compute(25_000_000, 1_000_000_000).unwrap();
        let s = SavedClock::from_lpt(1_000, 0, &src, 1_000_000_000).unwrap();
        assert_eq!(s.guest_count, 40_000);
        // Destination: native 50 MHz.
        let r = lpt_resume(&s, &host(1 << 50, 0, 50_000_000), Blackout::Exclude).unwrap();
        assert_eq!(r.native_guest_count, 2_000);
        assert_eq!(r.pv_count, 40_000);
        assert_eq!(
            lpt::native_to_pv((1u64 << 50).wrapping_sub(r.offset), &r.coefficients),
            Some(40_000)
        );
    }

    proptest! {
        #[test]
        fn lpt_resume_never_goes_back_and_jumps_less_than_one_native_tick(
            pv_hz in 1_000_000u64..=10_000_000_000,
            native_hz in 1_000_000u64..=10_000_000_000,
            pv in 0u64..(1 << 60),
            h in any::<u64>(),
            blackout_ns in 0u64..1_000_000_000_000,
        ) {
            let s = saved(pv, 1_000, pv_hz);
            let now = host(h, 1_000 + blackout_ns, native_hz);
            for policy in [Blackout::Exclude, Blackout::Include] {
                let Ok(r) = lpt_resume(&s, &now, policy) else { continue };
                let target = resume_count(&s, now.realtime_ns, policy).unwrap();
                let guest_native = h.wrapping_sub(r.offset);
                prop_assert_eq!(guest_native, r.native_guest_count);
                let seen = lpt::native_to_pv(guest_native, &r.coefficients).unwrap();
                prop_assert!(seen >= target && seen >= pv);
                // One native tick earlier would not have reached the target.
                if guest_native > 0 {
                    let before = lpt::native_to_pv(guest_native - 1, &r.coefficients).unwrap();
                    prop_assert!(before < target);
                }
            }
        }

        #[test]
        fn counter_offset_never_panics_and_resumes_at_or_after_saved(
            g in any::<u64>(), r0 in any::<u64>(), h in any::<u64>(), r1 in any::<u64>(), f in any::<u64>(),
        ) {
            for policy in [Blackout::Exclude, Blackout::Include] {
                if let Ok(off) = counter_offset(&saved(g, r0, f), &host(h, r1, f), policy) {
                    prop_assert!(h.wrapping_sub(off) >= g);
                }
            }
        }
    }
}
