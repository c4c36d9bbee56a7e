//! What a destination does with PV-time state: records rewritten where the
//! guest mapped them (DEN0057 §3: vCPU i's 64-byte record at base + 64 i,
//! stolen time at offset 8), and refusals that say what changed.

use fwcall_pvtime::{AtomicMemory, Gpa, LptConfig, MemoryRegion, PvTime, PvTimeConfig};
use fwcall_smccc::{Call, VcpuIndex, ids};

const BASE: u64 = 0x0a10_0000;
const RESERVED: [MemoryRegion; 1] = [MemoryRegion::new(BASE, 0x1_0000)];

fn placed(enabled: bool, lpt: bool) -> PvTimeConfig {
    PvTimeConfig {
        enabled,
        stolen_time_base: Some(Gpa(BASE)),
        lpt: lpt.then_some(LptConfig {
            ipa: Gpa(BASE + 0x8000),
            pv_hz: 1_000_000_000,
        }),
        ..PvTimeConfig::default()
    }
}

/// `start` rewrites every enabled record at its own address with its own
/// total: a destination whose reserved region came over empty shows each
/// vCPU what it had.
#[test]
fn start_rewrites_each_record_at_base_plus_64_i() {
    let vcpus = 4;
    let pv = PvTime::new(&placed(true, false), vcpus, &[], &RESERVED).unwrap();
    let mem = AtomicMemory::new(&RESERVED);
    for i in 0..vcpus as u32 {
        let st = Call::new(ids::PV_TIME_ST, &[]);
        assert!(pv.call(VcpuIndex(i), &st, &mem).is_some());
        pv.account(VcpuIndex(i), 1000 * (u64::from(i) + 1), &mem)
            .unwrap();
    }
    // An empty destination region.
    let fresh = AtomicMemory::new(&RESERVED);
    pv.start(&fresh).unwrap();
    for i in 0..vcpus as u64 {
        assert_eq!(
            fresh.read_u64(Gpa(BASE + 64 * i + 8)),
            Ok(1000 * (i + 1)),
            "vcpu{i}'s stolen time"
        );
    }
}

/// Turning PV time or LPT on or off across a migration is refused, and the
/// message says which way.
#[test]
fn restore_refuses_on_off_changes_by_name() {
    let table = [
        (
            (true, false),
            (false, false),
            "PV time is on in the saved state but off",
        ),
        (
            (false, false),
            (true, false),
            "PV time is off in the saved state but on",
        ),
        (
            (true, true),
            (true, false),
            "LPT is on in the saved state but off",
        ),
        (
            (true, false),
            (true, true),
            "LPT is off in the saved state but on",
        ),
    ];
    for ((se, sl), (de, dl), text) in table {
        let source = PvTime::new(&placed(se, sl), 1, &[], &RESERVED).unwrap();
        let err = PvTime::restore(&placed(de, dl), 1, &[], &RESERVED, &source.state()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(text), "{msg}");
    }
}
