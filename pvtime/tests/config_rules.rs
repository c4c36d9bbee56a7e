//! The placement rules a VMM's PV-time configuration is held to (DEN0057
//! §3: 64-byte records, aligned; fwcall's rule that PV-time structures
//! live outside guest RAM in a region the VMM reserved), through the public
//! `validate`, with error messages that name the addresses involved.

use fwcall_pvtime::{Gpa, LptConfig, MemoryRegion, PvTimeConfig, PvTimeConfigError};

const RAM: MemoryRegion = MemoryRegion::new(0x4000_0000, 0x1000_0000);
const PV: MemoryRegion = MemoryRegion::new(0x0a10_0000, 0x1_0000);

fn cfg(base: Option<u64>, lpt: Option<u64>) -> PvTimeConfig {
    PvTimeConfig {
        stolen_time_base: base.map(Gpa),
        lpt: lpt.map(|a| LptConfig {
            ipa: Gpa(a),
            pv_hz: 1_000_000_000,
        }),
        ..PvTimeConfig::default()
    }
}

fn check(c: PvTimeConfig, vcpus: usize) -> Result<(), PvTimeConfigError> {
    c.validate(vcpus, &[RAM], &[PV])
}

/// Good placements pass; every broken rule is refused with its own error.
#[test]
fn pvtime_placement_rules() {
    assert_eq!(check(cfg(None, None), 1), Ok(()));
    assert_eq!(
        check(cfg(Some(PV.base.0), Some(PV.base.0 + 0x8000)), 4),
        Ok(())
    );
    // The table of 1024 vCPUs fills exactly 64 KiB.
    assert_eq!(check(cfg(Some(PV.base.0), None), 1024), Ok(()));

    assert_eq!(check(cfg(None, None), 0), Err(PvTimeConfigError::NoVcpus));
    let zero_hz = PvTimeConfig {
        native_hz: 0,
        ..cfg(None, None)
    };
    assert_eq!(
        check(zero_hz, 1),
        Err(PvTimeConfigError::ZeroNativeFrequency)
    );
    assert!(matches!(
        check(cfg(Some(PV.base.0 + 8), None), 1),
        Err(PvTimeConfigError::Unaligned { .. })
    ));
    assert!(matches!(
        check(cfg(Some(RAM.base.0), None), 1),
        Err(PvTimeConfigError::OverlapsRam { .. })
    ));
    assert!(matches!(
        check(cfg(Some(PV.base.0), None), 1025),
        Err(PvTimeConfigError::OutsideReserved { .. })
    ));
    assert!(matches!(
        check(cfg(Some(PV.base.0), Some(PV.base.0 + 0x40)), 2),
        Err(PvTimeConfigError::LptOverlapsRecords { .. })
    ));
    let off = PvTimeConfig {
        enabled: false,
        ..cfg(None, Some(PV.base.0))
    };
    assert_eq!(check(off, 1), Err(PvTimeConfigError::LptWithoutPvTime));
    // Placement is checked even with PV time off.
    let off_in_ram = PvTimeConfig {
        enabled: false,
        ..cfg(Some(RAM.base.0 + 0x1000), None)
    };
    assert!(check(off_in_ram, 1).is_err());
}

/// The RAM-overlap message names both ranges as half-open intervals, so a
/// VMM author sees which of their regions collide.
#[test]
fn pvtime_errors_name_the_ranges() {
    let e = check(cfg(Some(RAM.base.0 + 0x40), None), 2).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("[0x40000040, 0x400000c0)"),
        "table range missing: {text}"
    );
    assert!(
        text.contains("[0x40000000, 0x50000000)"),
        "RAM range missing: {text}"
    );
    assert_eq!(
        MemoryRegion::new(0xffff_ffff_ffff_ff00, 0x200).to_string(),
        "[0xffffffffffffff00, +0x200 wrapping)"
    );
}

/// `Gpa` from a plain number is that address.
#[test]
fn gpa_from_u64_is_the_address() {
    for a in [0u64, 0x40, 0x4000_0000, u64::MAX] {
        assert_eq!(Gpa::from(a), Gpa(a));
        assert_eq!(Gpa::from(a).0, a);
    }
}
