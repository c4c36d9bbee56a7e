//! Service-level tests, one per rule of §5–§7 (expectations derived from
//! the spec digest, not from the code).

use std::sync::Mutex;
use std::vec::Vec;

use fwcall_smccc::{Call, FunctionId, Reply, VcpuIndex, ids};
use zerocopy::FromBytes;

use crate::lpt::{self, Coefficients, LptRecord};
use crate::stolen::StolenTimeRecord;
use crate::*;

const RAM: MemoryRegion = MemoryRegion::new(0x4000_0000, 0x1000_0000);
const RESERVED: MemoryRegion = MemoryRegion::new(0x0a10_0000, 0x1_0000);
const BASE: u64 = 0x0a10_0000;
const LPT_IPA: u64 = 0x0a10_f000;
const NOT_SUPPORTED: Reply = Reply::NOT_SUPPORTED;

fn cfg(base: Option<u64>) -> PvTimeConfig {
    PvTimeConfig {
        stolen_time_base: base.map(Gpa),
        ..Default::default()
    }
}

fn lpt_cfg(native_hz: u32, pv_hz: u32) -> PvTimeConfig {
    PvTimeConfig {
        stolen_time_base: Some(Gpa(BASE)),
        lpt: Some(LptConfig {
            ipa: Gpa(LPT_IPA),
            pv_hz,
        }),
        native_hz,
        ..Default::default()
    }
}

fn build(c: &PvTimeConfig, vcpus: usize) -> Result<PvTime, PvTimeConfigError> {
    PvTime::new(c, vcpus, &[RAM], &[RESERVED])
}

fn mem() -> AtomicMemory {
    AtomicMemory::new(&[RESERVED])
}

fn features(pv: &PvTime, m: &AtomicMemory, queried: u64) -> Option<Reply> {
    pv.call(
        VcpuIndex(0),
        &Call::new(ids::PV_TIME_FEATURES, &[queried]),
        m,
    )
}

fn st(pv: &PvTime, m: &AtomicMemory, vcpu: u32) -> Option<Reply> {
    pv.call(VcpuIndex(vcpu), &Call::new(ids::PV_TIME_ST, &[]), m)
}

fn record(m: &AtomicMemory, addr: u64) -> StolenTimeRecord {
    let mut b = [0u8; 64];
    m.read_bytes(Gpa(addr), &mut b).unwrap();
    StolenTimeRecord::read_from_bytes(&b).unwrap()
}

#[test]
fn pv_time_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<PvTime>();
    check::<AtomicMemory>();
}

#[test]
fn pv_time_features_answers_0_for_features_and_st_when_placed() {
    let pv = build(&cfg(Some(BASE)), 2).unwrap();
    let m = mem();
    for q in [ids::PV_TIME_FEATURES, ids::PV_TIME_ST] {
        assert_eq!(features(&pv, &m, q.raw() as u64), Some(Reply::x0(0)), "{q}");
    }
}

#[test]
fn pv_time_features_reads_only_w1() {
    let pv = build(&cfg(Some(BASE)), 1).unwrap();
    let q = 0xdead_beef_0000_0000 | ids::PV_TIME_ST.raw() as u64;
    assert_eq!(features(&pv, &mem(), q), Some(Reply::x0(0)));
}

#[test]
fn pv_time_features_answers_minus_1_when_unplaced() {
    let pv = build(&cfg(None), 2).unwrap();
    let m = mem();
    for q in [ids::PV_TIME_FEATURES, ids::PV_TIME_ST] {
        assert_eq!(
            features(&pv, &m, q.raw() as u64),
            Some(NOT_SUPPORTED),
            "{q}"
        );
    }
}

#[test]
fn pv_time_features_of_other_ids_is_not_supported() {
    let pv = build(&cfg(Some(BASE)), 1).unwrap();
    let m = mem();
    for q in [
        0x8500_0020u64, // SMC32 aliases
        0x8500_0021,
        ids::PV_TIME_LPT.raw() as u64, // LPT not configured
        0xC500_0023,
        ids::SMCCC_VERSION.raw() as u64,
        0,
    ] {
        assert_eq!(features(&pv, &m, q), Some(NOT_SUPPORTED), "{q:#x}");
    }
}

#[test]
fn pv_time_st_returns_base_plus_64_times_vcpu_index() {
    let pv = build(&cfg(Some(BASE)), 4).unwrap();
    let m = mem();
    for i in 0..4 {
        assert_eq!(st(&pv, &m, i), Some(Reply::x0(BASE + 64 * i as u64)));
    }
    assert_eq!(st(&pv, &m, 4), Some(NOT_SUPPORTED), "no such vCPU");
}

#[test]
fn pv_time_st_unplaced_answers_not_supported() {
    let pv = build(&cfg(None), 1).unwrap();
    assert_eq!(st(&pv, &mem(), 0), Some(NOT_SUPPORTED));
}

#[test]
fn pvtime_off_serves_nothing() {
    let pv = build(
        &PvTimeConfig {
            enabled: false,
            ..cfg(Some(BASE))
        },
        1,
    )
    .unwrap();
    let m = mem();
    assert_eq!(features(&pv, &m, ids::PV_TIME_ST.raw() as u64), None);
    assert_eq!(st(&pv, &m, 0), None);
    assert_eq!(pv.arch_features(ids::PV_TIME_FEATURES), -1);
    assert_eq!(pv.functions_served(), 0);
    // Nothing written, even by start().
    pv.start(&m).unwrap();
    assert_eq!(m.read_u64(Gpa(BASE)).unwrap(), 0);
}

#[test]
fn smc32_aliases_are_not_served() {
    let pv = build(&lpt_cfg(62_500_000, 62_500_000), 1).unwrap();
    let m = mem();
    pv.start(&m).unwrap();
    for fid in [0x8500_0020u32, 0x8500_0021, 0x8500_0022] {
        let c = Call::new(FunctionId(fid), &[ids::PV_TIME_ST.raw() as u64]);
        assert_eq!(pv.call(VcpuIndex(0), &c, &m), None, "{fid:#x}");
    }
    let other = Call::new(FunctionId(0xC500_0023), &[]);
    assert_eq!(pv.call(VcpuIndex(0), &other, &m), None);
}

#[test]
fn arch_features_answers_0_for_each_served_pv_time_call_only_when_on_and_placed() {
    let placed = build(&cfg(Some(BASE)), 1).unwrap();
    assert_eq!(placed.arch_features(ids::PV_TIME_FEATURES), 0);
    assert_eq!(placed.arch_features(ids::PV_TIME_ST), 0);
    assert_eq!(
        placed.arch_features(ids::PV_TIME_LPT),
        -1,
        "LPT is not configured"
    );
    assert_eq!(placed.arch_features(FunctionId(0x8500_0020)), -1);
    let unplaced = build(&cfg(None), 1).unwrap();
    assert_eq!(unplaced.arch_features(ids::PV_TIME_FEATURES), -1);
    assert_eq!(unplaced.arch_features(ids::PV_TIME_ST), -1);
}

#[test]
fn functions_served_counts_features_st_and_lpt() {
    assert_eq!(build(&cfg(Some(BASE)), 1).unwrap().functions_served(), 2);
    assert_eq!(build(&cfg(None), 1).unwrap().functions_served(), 2);
    assert_eq!(
        build(&lpt_cfg(62_500_000, 1_000_000_000), 1)
            .unwrap()
            .functions_served(),
        3
    );
}

#[test]
fn pv_time_st_writes_revision_0_attributes_0_and_the_current_total() {
    let pv = build(&cfg(Some(BASE)), 2).unwrap();
    let m = mem();
    // Garbage the VMM left in the region must not survive.
    m.write_bytes(Gpa(BASE + 64), &[0xff; 64]).unwrap();
    pv.account(VcpuIndex(1), 777, &m).unwrap();
    assert_eq!(
        m.read_u64(Gpa(BASE + 64 + 8)).unwrap(),
        u64::MAX,
        "not yet enabled: untouched"
    );
    st(&pv, &m, 1);
    let r = record(&m, BASE + 64);
    assert!(r.guest_accepts());
    assert_eq!(r.stolen_time.get(), 777);
    assert_eq!(r.reserved, [0; 48]);
    assert!(pv.guest_enabled(VcpuIndex(1)));
    assert!(!pv.guest_enabled(VcpuIndex(0)));
}

#[test]
fn repeated_pv_time_st_keeps_stolen_time_monotonic() {
    let pv = build(&cfg(Some(BASE)), 1).unwrap();
    let m = mem();
    st(&pv, &m, 0);
    pv.account(VcpuIndex(0), 5_000, &m).unwrap();
    // The guest's CPU goes offline and online: it asks again.
    st(&pv, &m, 0);
    assert_eq!(record(&m, BASE).stolen_time.get(), 5_000);
    pv.account(VcpuIndex(0), 1, &m).unwrap();
    assert_eq!(record(&m, BASE).stolen_time.get(), 5_001);
}

#[test]
fn account_writes_the_record_only_once_the_guest_enabled_it() {
    let pv = build(&cfg(Some(BASE)), 2).unwrap();
    let m = mem();
    assert_eq!(pv.account(VcpuIndex(0), 10, &m), Ok(10));
    assert_eq!(m.read_u64(Gpa(BASE + 8)).unwrap(), 0);
    st(&pv, &m, 0);
    assert_eq!(pv.account(VcpuIndex(0), 15, &m), Ok(25));
    assert_eq!(m.read_u64(Gpa(BASE + 8)).unwrap(), 25);
    // vCPU 1's record is untouched by vCPU 0's accounting.
    assert_eq!(m.read_u64(Gpa(BASE + 64 + 8)).unwrap(), 0);
    assert_eq!(pv.stolen_ns(VcpuIndex(0)), 25);
    assert_eq!(pv.stolen_ns(VcpuIndex(9)), 0);
}

#[test]
fn account_saturates_and_never_decreases() {
    let pv = build(&cfg(Some(BASE)), 1).unwrap();
    let m = mem();
    st(&pv, &m, 0);
    pv.account(VcpuIndex(0), u64::MAX - 1, &m).unwrap();
    assert_eq!(pv.account(VcpuIndex(0), 5, &m), Ok(u64::MAX));
    assert_eq!(pv.account(VcpuIndex(0), 0, &m), Ok(u64::MAX));
    assert_eq!(m.read_u64(Gpa(BASE + 8)).unwrap(), u64::MAX);
}

#[test]
fn account_for_an_unknown_vcpu_is_an_error_and_writes_nothing() {
    let pv = build(&cfg(Some(BASE)), 1).unwrap();
    assert_eq!(
        pv.account(VcpuIndex(1), 1, &mem()),
        Err(MemoryError::NoSuchVcpu { vcpu: VcpuIndex(1) })
    );
}

/// Memory that logs every write as (address, length, was `write_u64`).
#[derive(Default)]
struct Log(Mutex<Vec<(u64, usize, bool)>>);

impl GuestMemoryAccess for Log {
    fn write_u64(&self, a: Gpa, _: u64) -> Result<(), MemoryError> {
        self.0.lock().unwrap().push((a.0, 8, true));
        Ok(())
    }
    fn write_bytes(&self, a: Gpa, d: &[u8]) -> Result<(), MemoryError> {
        self.0.lock().unwrap().push((a.0, d.len(), false));
        Ok(())
    }
    fn read_bytes(&self, _: Gpa, _: &mut [u8]) -> Result<(), MemoryError> {
        Ok(())
    }
}

#[test]
fn stolen_time_is_always_written_as_one_aligned_64_bit_store() {
    let pv = build(&cfg(Some(BASE)), 2).unwrap();
    let log = Log::default();
    pv.call(VcpuIndex(1), &Call::new(ids::PV_TIME_ST, &[]), &log);
    pv.account(VcpuIndex(1), 3, &log).unwrap();
    let w = log.0.lock().unwrap();
    let field = BASE + 64 + 8;
    // No byte write ever touches the stolen_time field.
    assert!(
        w.iter()
            .filter(|(_, _, wide)| !wide)
            .all(|(a, l, _)| a + *l as u64 <= field || *a >= field + 8)
    );
    assert_eq!(w.iter().filter(|e| **e == (field, 8, true)).count(), 2);
}

/// Memory whose every access fails.
struct Broken;
impl GuestMemoryAccess for Broken {
    fn write_u64(&self, addr: Gpa, _: u64) -> Result<(), MemoryError> {
        Err(MemoryError::OutOfRange { addr, len: 8 })
    }
    fn write_bytes(&self, addr: Gpa, d: &[u8]) -> Result<(), MemoryError> {
        Err(MemoryError::OutOfRange {
            addr,
            len: d.len() as u64,
        })
    }
    fn read_bytes(&self, addr: Gpa, b: &mut [u8]) -> Result<(), MemoryError> {
        Err(MemoryError::OutOfRange {
            addr,
            len: b.len() as u64,
        })
    }
}

#[test]
fn pv_time_st_whose_record_cannot_be_written_is_not_supported() {
    let pv = build(&cfg(Some(BASE)), 1).unwrap();
    let r = pv.call(VcpuIndex(0), &Call::new(ids::PV_TIME_ST, &[]), &Broken);
    assert_eq!(r, Some(NOT_SUPPORTED));
    assert!(!pv.guest_enabled(VcpuIndex(0)));
}

#[test]
fn failed_record_write_keeps_the_accounted_total() {
    let pv = build(&cfg(Some(BASE)), 1).unwrap();
    let m = mem();
    st(&pv, &m, 0);
    assert!(pv.account(VcpuIndex(0), 9, &Broken).is_err());
    assert_eq!(pv.account(VcpuIndex(0), 1, &m), Ok(10));
    assert_eq!(m.read_u64(Gpa(BASE + 8)).unwrap(), 10);
}

// ---- placement ----

#[test]
fn table_base_must_be_64_byte_aligned() {
    let e = build(&cfg(Some(BASE + 8)), 1).unwrap_err();
    assert!(matches!(e, PvTimeConfigError::Unaligned { .. }), "{e}");
}

#[test]
fn table_overlapping_ram_is_refused_saying_the_guest_would_be_corrupted() {
    for base in [0x4000_0000, 0x4fff_ffc0, 0x3fff_ffc0] {
        let e = build(&cfg(Some(base)), 2).unwrap_err();
        assert!(
            matches!(e, PvTimeConfigError::OverlapsRam { .. }),
            "{base:#x}: {e}"
        );
        let msg = std::format!("{e}");
        assert!(msg.contains("RAM") && msg.contains("corrupt"), "{msg}");
    }
}

#[test]
fn whole_table_must_lie_inside_one_reserved_region() {
    // 1024 vCPUs need 64 KiB: fits exactly; 1025 run past the region's end.
    assert!(build(&cfg(Some(BASE)), 1024).is_ok());
    let e = build(&cfg(Some(BASE)), 1025).unwrap_err();
    assert!(
        matches!(e, PvTimeConfigError::OutsideReserved { .. }),
        "{e}"
    );
    let e = build(&cfg(Some(0x0900_0000)), 1).unwrap_err();
    assert!(
        matches!(e, PvTimeConfigError::OutsideReserved { .. }),
        "{e}"
    );
    // No reserved region at all.
    let e = PvTime::new(&cfg(Some(BASE)), 1, &[RAM], &[]).unwrap_err();
    assert!(
        matches!(e, PvTimeConfigError::OutsideReserved { .. }),
        "{e}"
    );
}

#[test]
fn table_that_wraps_the_address_space_is_refused() {
    let top = MemoryRegion::new(u64::MAX - 0xfff, 0xfff);
    let e = PvTime::new(&cfg(Some(u64::MAX - 0x3f)), 2, &[RAM], &[top]).unwrap_err();
    assert!(matches!(e, PvTimeConfigError::TableWraps { .. }), "{e}");
    let e = PvTime::new(&cfg(Some(0)), usize::MAX, &[], &[top]).unwrap_err();
    assert!(matches!(e, PvTimeConfigError::TableWraps { .. }), "{e}");
}

#[test]
fn vm_without_vcpus_or_native_frequency_is_refused() {
    assert_eq!(
        build(&cfg(Some(BASE)), 0).unwrap_err(),
        PvTimeConfigError::NoVcpus
    );
    let c = PvTimeConfig {
        native_hz: 0,
        ..cfg(None)
    };
    assert_eq!(
        build(&c, 1).unwrap_err(),
        PvTimeConfigError::ZeroNativeFrequency
    );
}

#[test]
fn lpt_structure_follows_the_same_placement_rules() {
    let mut c = lpt_cfg(62_500_000, 62_500_000);
    c.lpt = Some(LptConfig {
        ipa: Gpa(LPT_IPA + 16),
        pv_hz: 1,
    });
    assert!(matches!(
        build(&c, 1),
        Err(PvTimeConfigError::Unaligned { .. })
    ));
    c.lpt = Some(LptConfig {
        ipa: Gpa(0x4000_1000),
        pv_hz: 1,
    });
    assert!(matches!(
        build(&c, 1),
        Err(PvTimeConfigError::OverlapsRam { .. })
    ));
    c.lpt = Some(LptConfig {
        ipa: Gpa(BASE + 0xffc0 + 64),
        pv_hz: 1,
    });
    assert!(matches!(
        build(&c, 1),
        Err(PvTimeConfigError::OutsideReserved { .. })
    ));
    c.lpt = Some(LptConfig {
        ipa: Gpa(BASE + 64),
        pv_hz: 1,
    });
    assert!(matches!(
        build(&c, 2),
        Err(PvTimeConfigError::LptOverlapsRecords { .. })
    ));
    assert!(build(&c, 1).is_ok(), "right after the last record is fine");
    c.lpt = Some(LptConfig {
        ipa: Gpa(LPT_IPA),
        pv_hz: 0,
    });
    assert_eq!(
        build(&c, 1).unwrap_err(),
        PvTimeConfigError::ZeroPvFrequency
    );
    let off = PvTimeConfig {
        enabled: false,
        ..lpt_cfg(1, 1)
    };
    assert_eq!(
        build(&off, 1).unwrap_err(),
        PvTimeConfigError::LptWithoutPvTime
    );
}

// ---- LPT ----

fn lpt_call(pv: &PvTime, m: &AtomicMemory) -> Option<Reply> {
    pv.call(VcpuIndex(0), &Call::new(ids::PV_TIME_LPT, &[]), m)
}

#[test]
fn pv_time_lpt_is_not_served_unless_configured() {
    let pv = build(&cfg(Some(BASE)), 1).unwrap();
    assert_eq!(lpt_call(&pv, &mem()), None);
}

#[test]
fn lpt_is_advertised_only_after_a_structure_was_published() {
    let pv = build(&lpt_cfg(25_000_000, 1_000_000_000), 1).unwrap();
    let m = mem();
    let q = ids::PV_TIME_LPT.raw() as u64;
    assert_eq!(features(&pv, &m, q), Some(NOT_SUPPORTED));
    assert_eq!(lpt_call(&pv, &m), Some(NOT_SUPPORTED));
    pv.start(&m).unwrap();
    assert_eq!(features(&pv, &m, q), Some(Reply::x0(0)));
    assert_eq!(lpt_call(&pv, &m), Some(Reply::x0(LPT_IPA)));
}

#[test]
fn start_publishes_the_structure_and_adds_2_to_the_sequence_each_run() {
    let pv = build(&lpt_cfg(25_000_000, 1_000_000_000), 1).unwrap();
    let m = mem();
    pv.start(&m).unwrap();
    let r = LptRecord::read(&m, Gpa(LPT_IPA)).unwrap();
    assert_eq!(r.sequence_number.get(), 2);
    assert_eq!((r.revision.get(), r.attributes.get()), (0, 0));
    assert_eq!(
        (r.native_freq.get(), r.pv_freq.get()),
        (25_000_000, 1_000_000_000)
    );
    assert_eq!(
        r.coefficients(),
        Coefficients::compute(25_000_000, 1_000_000_000).unwrap()
    );
    pv.start(&m).unwrap();
    assert_eq!(
        LptRecord::read(&m, Gpa(LPT_IPA))
            .unwrap()
            .sequence_number
            .get(),
        4
    );
    assert_eq!(pv.state().lpt.unwrap().sequence, 4);
}

#[test]
fn lpt_restore_on_a_host_of_another_frequency_publishes_new_coefficients() {
    let src = build(&lpt_cfg(25_000_000, 1_000_000_000), 1).unwrap();
    let m = mem();
    src.start(&m).unwrap();
    let saved = src.state();
    let dst = PvTime::restore(
        &lpt_cfg(50_000_000, 1_000_000_000),
        1,
        &[RAM],
        &[RESERVED],
        &saved,
    )
    .unwrap();
    dst.start(&m).unwrap();
    let r = LptRecord::read(&m, Gpa(LPT_IPA)).unwrap();
    assert_eq!(r.sequence_number.get(), 4);
    assert_eq!(r.native_freq.get(), 50_000_000);
    assert_eq!(r.pv_freq.get(), 1_000_000_000);
    // The guest now converts 50 MHz ticks at ratio 20.
    assert_eq!(lpt::native_to_pv(100, &r.coefficients()), Some(2_000));
}

// ---- snapshot state ----

#[test]
fn state_round_trips_through_restore() {
    let pv = build(&lpt_cfg(62_500_000, 62_500_000), 3).unwrap();
    let m = mem();
    pv.start(&m).unwrap();
    st(&pv, &m, 1);
    lpt_call(&pv, &m);
    pv.account(VcpuIndex(1), 42, &m).unwrap();
    pv.account(VcpuIndex(2), 7, &m).unwrap();
    let s = pv.state();
    assert_eq!(
        s.vcpus,
        [
            VcpuPvState::default(),
            VcpuPvState {
                stolen_ns: 42,
                guest_enabled: true
            },
            VcpuPvState {
                stolen_ns: 7,
                guest_enabled: false
            },
        ]
    );
    assert!(s.lpt.unwrap().guest_queried);
    let back =
        PvTime::restore(&lpt_cfg(62_500_000, 62_500_000), 3, &[RAM], &[RESERVED], &s).unwrap();
    assert_eq!(back.state(), s);
}

#[test]
fn restore_then_start_rewrites_enabled_records_into_fresh_memory() {
    let pv = build(&cfg(Some(BASE)), 2).unwrap();
    let m = mem();
    st(&pv, &m, 0);
    pv.account(VcpuIndex(0), 1234, &m).unwrap();
    let s = pv.state();
    let fresh = mem();
    let back = PvTime::restore(&cfg(Some(BASE)), 2, &[RAM], &[RESERVED], &s).unwrap();
    back.start(&fresh).unwrap();
    assert_eq!(record(&fresh, BASE), StolenTimeRecord::new(1234));
    assert_eq!(
        fresh.read_u64(Gpa(BASE + 64)).unwrap(),
        0,
        "vCPU 1 never enabled"
    );
    assert_eq!(back.account(VcpuIndex(0), 1, &fresh), Ok(1235));
}

#[test]
fn restore_refuses_a_different_vcpu_count() {
    let s = build(&cfg(Some(BASE)), 2).unwrap().state();
    assert_eq!(
        PvTime::restore(&cfg(Some(BASE)), 3, &[RAM], &[RESERVED], &s).unwrap_err(),
        PvTimeStateError::VcpuCount {
            expected: 3,
            found: 2
        }
    );
}

#[test]
fn restore_refuses_a_moved_table_or_a_changed_switch() {
    let s = build(&cfg(Some(BASE)), 1).unwrap().state();
    let moved = cfg(Some(BASE + 0x1000));
    assert!(matches!(
        PvTime::restore(&moved, 1, &[RAM], &[RESERVED], &s),
        Err(PvTimeStateError::PlacementChanged { .. })
    ));
    let off = PvTimeConfig {
        enabled: false,
        ..cfg(Some(BASE))
    };
    assert!(matches!(
        PvTime::restore(&off, 1, &[RAM], &[RESERVED], &s),
        Err(PvTimeStateError::EnabledChanged { .. })
    ));
    let in_ram = cfg(Some(0x4000_0000));
    assert!(matches!(
        PvTime::restore(&in_ram, 1, &[RAM], &[RESERVED], &s),
        Err(PvTimeStateError::Config(
            PvTimeConfigError::OverlapsRam { .. }
        ))
    ));
}

#[test]
fn restore_refuses_a_changed_pv_frequency_or_dropped_lpt() {
    let s = build(&lpt_cfg(62_500_000, 1_000_000_000), 1)
        .unwrap()
        .state();
    let e = PvTime::restore(
        &lpt_cfg(62_500_000, 999_999_999),
        1,
        &[RAM],
        &[RESERVED],
        &s,
    )
    .unwrap_err();
    assert!(
        matches!(e, PvTimeStateError::PvFrequencyChanged { .. }),
        "{e}"
    );
    let e = PvTime::restore(&cfg(Some(BASE)), 1, &[RAM], &[RESERVED], &s).unwrap_err();
    assert!(matches!(e, PvTimeStateError::LptChanged { .. }), "{e}");
    let mut moved = lpt_cfg(62_500_000, 1_000_000_000);
    moved.lpt = Some(LptConfig {
        ipa: Gpa(LPT_IPA - 64),
        pv_hz: 1_000_000_000,
    });
    let e = PvTime::restore(&moved, 1, &[RAM], &[RESERVED], &s).unwrap_err();
    assert!(matches!(e, PvTimeStateError::LptMoved { .. }), "{e}");
}

#[test]
fn restore_refuses_corrupt_states() {
    let mut s = build(&lpt_cfg(62_500_000, 62_500_000), 1).unwrap().state();
    if let Some(l) = s.lpt.as_mut() {
        l.sequence = 3;
    }
    let e =
        PvTime::restore(&lpt_cfg(62_500_000, 62_500_000), 1, &[RAM], &[RESERVED], &s).unwrap_err();
    assert_eq!(e, PvTimeStateError::OddSequence(3));
    let mut s = build(&cfg(None), 1).unwrap().state();
    s.vcpus[0].guest_enabled = true;
    let e = PvTime::restore(&cfg(None), 1, &[RAM], &[RESERVED], &s).unwrap_err();
    assert_eq!(e, PvTimeStateError::EnabledWithoutTable { vcpu: 0 });
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_call_panics_and_answers_stay_in_their_sets(
            fid in prop_oneof![0xC500_0000u32..0xC500_0030, 0x8500_0000u32..0x8500_0030, any::<u32>()],
            x1 in any::<u64>(),
            vcpu in 0u32..8,
            hint in any::<bool>(),
        ) {
            let pv = build(&lpt_cfg(62_500_000, 1_000_000_000), 4).unwrap();
            let m = mem();
            pv.start(&m).unwrap();
            let fid = if hint { fid | FunctionId::SVE_HINT_BIT } else { fid };
            let r = pv.call(VcpuIndex(vcpu), &Call::new(FunctionId(fid), &[x1]), &m);
            let served = [0xC500_0020, 0xC500_0021, 0xC500_0022];
            prop_assert_eq!(r.is_some(), served.contains(&(fid & !FunctionId::SVE_HINT_BIT)));
        }

        #[test]
        fn stolen_time_in_memory_never_decreases(steps in proptest::collection::vec((0u32..3, any::<u64>(), any::<bool>()), 1..40)) {
            let pv = build(&cfg(Some(BASE)), 3).unwrap();
            let m = mem();
            let mut last = [0u64; 3];
            for (v, ns, ask) in steps {
                if ask {
                    st(&pv, &m, v);
                }
                pv.account(VcpuIndex(v), ns % (1 << 62), &m).unwrap();
                let now = m.read_u64(Gpa(BASE + 64 * u64::from(v) + 8)).unwrap();
                prop_assert!(now >= last[v as usize]);
                last[v as usize] = now;
            }
        }
    }
}
