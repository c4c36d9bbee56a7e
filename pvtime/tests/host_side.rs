//! The host-side helpers a VMM calls around PV time: the counter offset
//! after a migration, and whether the service is available.

use fwcall_pvtime::offset::{Blackout, HostClock, OffsetError, SavedClock, counter_offset};
use fwcall_pvtime::{Gpa, MemoryRegion, PvTime, PvTimeConfig};

/// A zero frequency on either side is `ZeroFrequency`, not a mismatch.
#[test]
fn counter_offset_refuses_a_zero_frequency_by_name() {
    let saved = |hz| SavedClock {
        guest_count: 1000,
        realtime_ns: 0,
        freq_hz: hz,
    };
    let host = |hz| HostClock {
        host_count: 5000,
        realtime_ns: 0,
        freq_hz: hz,
    };
    for (s, d) in [(0, 25_000_000), (25_000_000, 0), (0, 0)] {
        assert_eq!(
            counter_offset(&saved(s), &host(d), Blackout::Exclude),
            Err(OffsetError::ZeroFrequency),
            "source {s} Hz, destination {d} Hz"
        );
    }
    assert_eq!(
        counter_offset(&saved(25_000_000), &host(25_000_000), Blackout::Exclude),
        Ok(4000)
    );
}

/// PV time is available only when it is on *and* its table is placed.
#[test]
fn pvtime_available_needs_on_and_placed() {
    let reserved = [MemoryRegion::new(0x0a10_0000, 0x1_0000)];
    for (enabled, placed) in [(false, false), (false, true), (true, false), (true, true)] {
        let config = PvTimeConfig {
            enabled,
            stolen_time_base: placed.then_some(Gpa(0x0a10_0000)),
            ..PvTimeConfig::default()
        };
        let pv = PvTime::new(&config, 1, &[], &reserved).unwrap();
        assert_eq!(
            pv.is_available(),
            enabled && placed,
            "enabled {enabled}, placed {placed}"
        );
    }
}

/// The LPT coefficients a VM publishes are those of its native and promised
/// frequencies; a VM without LPT has none.
#[test]
fn pvtime_lpt_coefficients_follow_the_frequencies() {
    use fwcall_pvtime::LptConfig;
    use fwcall_pvtime::lpt::Coefficients;
    let reserved = [MemoryRegion::new(0x0a10_0000, 0x1_0000)];
    for (native, pv_hz) in [(62_500_000u32, 1_000_000_000u32), (25_000_000, 25_000_000)] {
        let config = PvTimeConfig {
            native_hz: native,
            lpt: Some(LptConfig {
                ipa: Gpa(0x0a10_8000),
                pv_hz,
            }),
            ..PvTimeConfig::default()
        };
        let pv = PvTime::new(&config, 1, &[], &reserved).unwrap();
        assert_eq!(
            pv.lpt_coefficients(),
            Some(Coefficients::compute(native.into(), pv_hz.into()).unwrap())
        );
    }
    let pv = PvTime::new(&PvTimeConfig::default(), 1, &[], &reserved).unwrap();
    assert_eq!(pv.lpt_coefficients(), None);
}

/// The service has exactly the vCPUs it was built for.
#[test]
fn pvtime_vcpu_count_is_the_configured_one() {
    let reserved = [MemoryRegion::new(0x0a10_0000, 0x1_0000)];
    for n in [1usize, 2, 7, 64] {
        let config = PvTimeConfig {
            stolen_time_base: Some(Gpa(0x0a10_0000)),
            ..PvTimeConfig::default()
        };
        let pv = PvTime::new(&config, n, &[], &reserved).unwrap();
        assert_eq!(pv.vcpus(), n);
        assert!(
            pv.record_address(fwcall_smccc::VcpuIndex(n as u32 - 1))
                .is_some()
        );
        assert!(
            pv.record_address(fwcall_smccc::VcpuIndex(n as u32))
                .is_none()
        );
    }
}
