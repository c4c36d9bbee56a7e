//! Snapshot and restore: round trips, continuation mid-handler, the
//! compatibility rules of a destination, the format's section rules, and
//! that no corrupted blob panics or loads an invalid state.

#[path = "snapshot_sim.rs"]
mod sim;

use fwcall::ids::*;
use fwcall::pvtime::AtomicMemory;
use fwcall::snapshot::format::{self, Writer};
use fwcall::snapshot::{CompatError, FormatError, RestoreError, TAG_ABI, Tag, inspect};
use fwcall::{
    EventDecl, EventKind, FeatureError, FeatureRegister, Gpa, NoMemory, Priority, Reply,
    SdeiVersion, SmcccVersion, VcpuIndex, Vm, VmConfig,
};
use sim::{LPT, Sim, TABLE, busy_sim, rich_config};

#[test]
fn snapshot_restore_snapshot_is_byte_identical() {
    let s = busy_sim();
    let blob = s.vm.snapshot().unwrap();
    let r = s.restored(rich_config(3), &blob).unwrap();
    // start() bumps the LPT sequence by 2: compare everything else first,
    // then against a restore that was not started.
    let again = Vm::restore(rich_config(3), AtomicMemory::new(&[sim::RESERVED]), &blob).unwrap();
    assert_eq!(again.snapshot().unwrap(), blob);
    assert_eq!(r.vm.snapshot_contents().sdei, s.vm.snapshot_contents().sdei);
}

#[test]
fn fresh_vm_round_trips_too() {
    let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    let blob = vm.snapshot().unwrap();
    assert_eq!(
        Vm::restore(VmConfig::new(1), NoMemory, &blob)
            .unwrap()
            .snapshot()
            .unwrap(),
        blob
    );
}

/// Runs the same continuation on the original and on a restored copy and
/// requires identical observations, registers and memory.
fn same_future(
    original: &mut Sim,
    restored: &mut Sim,
    script: &[(usize, fwcall::FunctionId, Vec<u64>)],
) {
    for (v, fid, args) in script {
        let a = original.call(*v, *fid, args);
        let b = restored.call(*v, *fid, args);
        assert_eq!(a, b, "{fid} on vcpu{v}");
        assert_eq!(
            original.regs, restored.regs,
            "registers after {fid} on vcpu{v}"
        );
    }
    assert_eq!(original.memory_bytes(), restored.memory_bytes());
}

#[test]
fn critical_over_normal_completes_exactly_as_it_would_have() {
    let mut s = busy_sim();
    let blob = s.vm.snapshot().unwrap();
    let mut r = s.restored(rich_config(3), &blob).unwrap();
    // The LPT structure differs only in nothing: same host frequency, and
    // the original also restarts by bumping; align it for the memory check.
    s.vm.start().unwrap();
    let script = vec![
        (1, SDEI_EVENT_CONTEXT, vec![0]),
        (1, SDEI_EVENT_CONTEXT, vec![2]),
        (1, SDEI_EVENT_COMPLETE, vec![0]), // critical done: back into the normal handler
        (1, SDEI_EVENT_CONTEXT, vec![5]),
        (
            1,
            SDEI_EVENT_COMPLETE_AND_RESUME,
            vec![0xffff_8000_3000_0000],
        ),
        (1, SDEI_EVENT_STATUS, vec![0x100]),
        (0, SDEI_PE_UNMASK, vec![]), // the waiting shared event may go to vCPU 0
        (2, SDEI_PE_UNMASK, vec![]), // event 0 was pending on vCPU 2
        (2, SDEI_EVENT_COMPLETE, vec![0]),
        (0, SDEI_INTERRUPT_RELEASE, vec![0x4001_0000]),
        (0, PV_TIME_ST, vec![]),
    ];
    same_future(&mut s, &mut r, &script);
}

#[test]
fn context_and_complete_after_restore_match_the_saved_contexts() {
    let s = busy_sim();
    let before = s.regs[1].clone();
    let blob = s.vm.snapshot().unwrap();
    let mut r = s.restored(rich_config(3), &blob).unwrap();
    // EVENT_CONTEXT in the critical handler reads the normal handler's registers.
    assert_eq!(r.x0(1, SDEI_EVENT_CONTEXT, &[0]), 0x100);
    let normal_pc = before.x[2];
    r.call(1, SDEI_EVENT_COMPLETE, &[0]);
    assert_eq!(
        r.regs[1].pc, normal_pc,
        "COMPLETE of the critical handler resumes the normal one"
    );
    assert_eq!(r.regs[1].x[5], 0x5555);
}

#[test]
fn stolen_time_continues_from_the_saved_value() {
    let s = busy_sim();
    let blob = s.vm.snapshot().unwrap();
    let mut r = s.restored(rich_config(3), &blob).unwrap();
    assert_eq!(r.steal(0, 5).outcome.unwrap().reply, Reply::x0(1005));
    let rec = Gpa(TABLE.0 + 8);
    assert_eq!(r.vm.memory().read_u64(rec), Ok(1005));
}

#[test]
fn lpt_on_a_host_of_another_frequency_publishes_new_coefficients_sequence_plus_two() {
    let s = busy_sim();
    let seq = s.vm.memory().read_u64(Gpa(LPT.0 + 8)).unwrap();
    let blob = s.vm.snapshot().unwrap();
    let mut dest = rich_config(3);
    dest.pvtime.native_hz = 50_000_000;
    let r = s.restored(dest, &blob).unwrap();
    let m = r.vm.memory();
    assert_eq!(m.read_u64(Gpa(LPT.0 + 8)), Ok(seq + 2));
    let mut hz = [0u8; 8];
    fwcall::GuestMemoryAccess::read_bytes(m, Gpa(LPT.0 + 16), &mut hz).unwrap();
    assert_eq!(u32::from_le_bytes(hz[..4].try_into().unwrap()), 50_000_000);
    assert_eq!(
        u32::from_le_bytes(hz[4..].try_into().unwrap()),
        1_000_000_000
    );
    // Ratio 20 (§6.3): int_bits 5, fracbits 59, scale_mult = 20 * 2^59.
    assert_eq!(m.read_u64(Gpa(LPT.0 + 24)), Ok(20 << 59));
}

#[test]
fn restored_vm_serves_the_snapshots_versions_not_the_destinations() {
    let mut src = VmConfig::new(1);
    src.smccc_version = SmcccVersion::V1_1;
    src.sdei.as_mut().unwrap().version = SdeiVersion::V1_0;
    let vm = Vm::new(src, NoMemory).unwrap();
    let blob = vm.snapshot().unwrap();
    let r = Vm::restore(VmConfig::new(1), NoMemory, &blob).unwrap();
    let v = r.vcpu(VcpuIndex(0)).unwrap();
    assert_eq!(
        v.handle(&fwcall::Call::new(SMCCC_VERSION, &[])).reply,
        Reply::x0(0x1_0001)
    );
    assert_eq!(
        v.handle(&fwcall::Call::new(SDEI_VERSION, &[])).reply,
        Reply::x0(SdeiVersion::V1_0.to_word())
    );
}

#[test]
fn destination_only_events_and_features_stay_hidden_from_the_guest() {
    let mut src = VmConfig::new(1);
    src.sdei.as_mut().unwrap().private_slots = 1;
    let blob = Vm::new(src, NoMemory).unwrap().snapshot().unwrap();
    let mut dest = VmConfig::new(1);
    dest.sdei.as_mut().unwrap().events = vec![EventDecl {
        number: 0x300,
        kind: EventKind::Private,
        priority: Priority::Normal,
    }];
    let r = Vm::restore(dest, NoMemory, &blob).unwrap();
    let v = r.vcpu(VcpuIndex(0)).unwrap();
    // Event 0x300 is unknown to the guest's ABI: SDEI_EVENT_STATUS refuses it.
    assert_eq!(
        v.handle(&fwcall::Call::new(SDEI_EVENT_STATUS, &[0x300]))
            .reply,
        Reply::signed(-2)
    );
    // SDEI_FEATURES(0) (BIND_SLOTS: bits 15:0 private, 31:16 shared):
    // one private slot, as the guest saw, not the destination's four.
    let Reply::Return { regs, .. } = v.handle(&fwcall::Call::new(SDEI_FEATURES, &[0])).reply else {
        panic!()
    };
    assert_eq!(regs[0] & 0xffff, 1);
}

#[test]
fn frozen_feature_words_stay_frozen_after_restore() {
    let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    vm.set_features(FeatureRegister::Std, 0).unwrap();
    vm.vcpu(VcpuIndex(0))
        .unwrap()
        .handle(&fwcall::Call::new(SMCCC_VERSION, &[]));
    let r = Vm::restore(VmConfig::new(1), NoMemory, &vm.snapshot().unwrap()).unwrap();
    assert_eq!(r.features().get(FeatureRegister::Std), 0);
    assert!(matches!(
        r.set_features(FeatureRegister::Std, 1),
        Err(FeatureError::Busy { .. })
    ));
    // SDEI stays switched off as the guest saw it.
    let out = r
        .vcpu(VcpuIndex(0))
        .unwrap()
        .handle(&fwcall::Call::new(SDEI_VERSION, &[]));
    assert_eq!(out.reply, Reply::signed(-1));
}

#[test]
fn words_not_yet_seen_by_the_guest_may_still_change_after_restore() {
    let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    let r = Vm::restore(VmConfig::new(1), NoMemory, &vm.snapshot().unwrap()).unwrap();
    assert_eq!(r.set_features(FeatureRegister::Std, 0), Ok(()));
}

#[derive(Debug)]
struct Echo;

impl fwcall::Service for Echo {
    fn name(&self) -> &str {
        "echo"
    }

    fn call(&self, _: VcpuIndex, call: &fwcall::Call) -> fwcall::Outcome {
        fwcall::Outcome::reply(Reply::x0(call.arg(1)))
    }
}

#[test]
fn vmm_services_are_added_again_and_keep_the_vendor_bits_the_guest_saw() {
    let fid = 0xC600_0001u32;
    let mut vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    vm.add_service(fid..=fid, 3, Box::new(Echo)).unwrap();
    vm.vcpu(VcpuIndex(0))
        .unwrap()
        .handle(&fwcall::Call::new(SMCCC_VERSION, &[]));
    let blob = vm.snapshot().unwrap();
    let mut r = Vm::restore(VmConfig::new(1), NoMemory, &blob).unwrap();
    assert_eq!(r.unserved_vendor_features().bits(), 1 << 3);
    r.add_service(fid..=fid, 3, Box::new(Echo)).unwrap();
    // A service the guest never saw stays hidden.
    r.add_service(0xC600_0002..=0xC600_0002, 4, Box::new(Echo))
        .unwrap();
    assert!(r.unserved_vendor_features().is_empty());
    let v = r.vcpu(VcpuIndex(0)).unwrap();
    assert_eq!(
        v.handle(&fwcall::Call::new(fwcall::FunctionId(fid), &[9]))
            .reply,
        Reply::x0(9)
    );
    assert_eq!(
        v.handle(&fwcall::Call::new(fwcall::FunctionId(0xC600_0002), &[9]))
            .reply,
        Reply::signed(-1)
    );
}

fn restore_err(src: VmConfig, dest: VmConfig) -> String {
    let blob = Vm::new(src, NoMemory).unwrap().snapshot().unwrap();
    Vm::restore(dest, NoMemory, &blob).unwrap_err().to_string()
}

#[test]
fn incompatible_destinations_are_refused_naming_what_is_missing() {
    let with = |f: &dyn Fn(&mut VmConfig)| {
        let mut c = VmConfig::new(2);
        f(&mut c);
        c
    };
    let shared_100 = |c: &mut VmConfig| {
        c.sdei.as_mut().unwrap().events = vec![EventDecl {
            number: 0x100,
            kind: EventKind::Shared,
            priority: Priority::Normal,
        }]
    };
    let private_100 = |c: &mut VmConfig| {
        c.sdei.as_mut().unwrap().events = vec![EventDecl {
            number: 0x100,
            kind: EventKind::Private,
            priority: Priority::Normal,
        }]
    };
    let pv_reserved = |c: &mut VmConfig| {
        c.reserved = vec![sim::RESERVED];
        c.pvtime.stolen_time_base = Some(TABLE);
    };
    let lpt = |c: &mut VmConfig| {
        pv_reserved(c);
        c.pvtime.lpt = Some(fwcall::LptConfig {
            ipa: LPT,
            pv_hz: 1_000_000_000,
        });
    };
    let cases: Vec<(VmConfig, VmConfig, &str)> = vec![
        (VmConfig::new(4), VmConfig::new(2), "vCPU count 4 != 2"),
        (
            VmConfig::new(2),
            with(&|c| c.smccc_version = SmcccVersion::V1_2),
            "snapshot exposes SMCCC 1.4, destination serves up to 1.2",
        ),
        (
            VmConfig::new(2),
            with(&|c| c.sdei.as_mut().unwrap().version = SdeiVersion::V1_0),
            "snapshot exposes SDEI 1.1, destination serves SDEI up to 1.0",
        ),
        (
            VmConfig::new(2),
            with(&|c| c.sdei = None),
            "feature STD_BMAP bit 0 (SDEI) not served by the destination",
        ),
        (
            with(&shared_100),
            with(&private_100),
            "event 0x100 is shared in the snapshot but private at the destination",
        ),
        (
            with(&shared_100),
            VmConfig::new(2),
            "event 0x100 (shared, normal) is declared in the snapshot but not at the destination",
        ),
        (
            VmConfig::new(2),
            with(&|c| c.sdei.as_mut().unwrap().shared_slots = 2),
            "snapshot exposes 8 shared SDEI slots, destination serves 2",
        ),
        (
            with(&lpt),
            with(&pv_reserved),
            "feature STD_HYP_BMAP bit 1 (LPT) not served by the destination",
        ),
        (
            with(&pv_reserved),
            with(&|c| c.pvtime.enabled = false),
            "feature STD_HYP_BMAP bit 0 (PV_TIME) not served by the destination",
        ),
        (
            with(&pv_reserved),
            with(&|c| c.reserved = vec![sim::RESERVED]),
            "snapshot places the stolen-time table at 0xa100000, destination has none",
        ),
        (
            with(&|c| c.mpidrs[1] = fwcall::Mpidr(0x8000_0100)),
            VmConfig::new(2),
            "vCPU 1 has MPIDR 0x80000100 in the snapshot but 0x80000001 at the destination",
        ),
        (
            VmConfig::new(2),
            with(&|c| c.sdei.as_mut().unwrap().cpu_features = fwcall::CpuFeatures::empty()),
            "the guest CPU features differ (pan in the snapshot, none at the destination)",
        ),
    ];
    for (src, dest, want) in cases {
        let got = restore_err(src, dest);
        assert!(got.starts_with(want), "want {want:?}, got {got:?}");
    }
}

#[test]
fn lpt_frequency_promised_to_the_guest_may_not_change() {
    let s = busy_sim();
    let blob = s.vm.snapshot().unwrap();
    let mut dest = rich_config(3);
    dest.pvtime.lpt.as_mut().unwrap().pv_hz = 999_999_999;
    let e = s.restored(dest, &blob).unwrap_err();
    assert_eq!(
        e,
        RestoreError::Incompatible(CompatError::PvHz {
            snapshot: 1_000_000_000,
            destination: 999_999_999
        })
    );
}

#[test]
fn refused_restore_touches_no_guest_memory() {
    let s = busy_sim();
    let blob = s.vm.snapshot().unwrap();
    let mem = AtomicMemory::new(&[sim::RESERVED]);
    sim::copy_memory(s.vm.memory(), &mem, &[sim::RESERVED]);
    let mut dest = rich_config(3);
    dest.pvtime.native_hz = 50_000_000;
    dest.smccc_version = SmcccVersion::V1_0;
    assert!(Vm::restore(dest, mem, &blob).is_err());
    // `mem` moved into the failed restore and was dropped; the original is intact.
    assert_eq!(
        s.vm.memory().read_u64(Gpa(LPT.0 + 16)).unwrap() as u32,
        25_000_000
    );
}

fn sample() -> Vec<u8> {
    static SAMPLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SAMPLE
        .get_or_init(|| busy_sim().vm.snapshot().unwrap())
        .clone()
}

/// A copy of `blob` with one more section appended.
fn with_extra_section(blob: &[u8], tag: u32, required: bool) -> Vec<u8> {
    let (_, sections) = format::parse(blob).unwrap();
    let mut w = Writer::default();
    for s in &sections {
        w.section(s.tag, s.required, |b| b.extend_from_slice(s.payload));
    }
    w.section(tag, required, |b| {
        b.extend_from_slice(b"from a newer fwcall")
    });
    w.finish()
}

#[test]
fn unknown_optional_section_is_skipped() {
    let blob = sample();
    let newer = with_extra_section(&blob, Tag::fourcc(b"NEW1").0, false);
    let r = Vm::restore(rich_config(3), AtomicMemory::new(&[sim::RESERVED]), &newer).unwrap();
    assert_eq!(r.snapshot().unwrap(), blob);
    assert_eq!(
        inspect(&newer).unwrap().skipped_sections,
        vec![Tag::fourcc(b"NEW1")]
    );
}

#[test]
fn unknown_required_section_is_refused() {
    let newer = with_extra_section(&sample(), Tag::fourcc(b"NEW1").0, true);
    let e = Vm::restore(rich_config(3), AtomicMemory::new(&[sim::RESERVED]), &newer).unwrap_err();
    assert_eq!(
        e,
        RestoreError::Format(FormatError::UnknownRequiredSection {
            tag: Tag::fourcc(b"NEW1")
        })
    );
    assert!(e.to_string().contains("required section NEW1"));
}

#[test]
fn newer_format_version_is_refused_with_its_number() {
    let mut blob = sample();
    blob[8..12].copy_from_slice(&2u32.to_le_bytes());
    format::reseal(&mut blob);
    assert_eq!(
        inspect(&blob).unwrap_err(),
        RestoreError::Format(FormatError::UnsupportedVersion { found: 2, max: 1 })
    );
}

#[test]
fn missing_required_section_is_refused() {
    let blob = sample();
    let (_, sections) = format::parse(&blob).unwrap();
    let mut w = Writer::default();
    for s in sections.iter().filter(|s| s.tag != TAG_ABI.0) {
        w.section(s.tag, s.required, |b| b.extend_from_slice(s.payload));
    }
    assert_eq!(
        inspect(&w.finish()).unwrap_err(),
        RestoreError::Format(FormatError::MissingSection { tag: TAG_ABI })
    );
}

/// The sample's sections followed by `n` empty optional ones (issue 14's
/// hostile blob: 16 MB of them took minutes to check pairwise).
fn with_empty_sections(n: u32) -> Vec<u8> {
    let blob = sample();
    let (_, sections) = format::parse(&blob).unwrap();
    let mut w = Writer::with_capacity(n as usize * 16);
    for s in &sections {
        w.section(s.tag, s.required, |b| b.extend_from_slice(s.payload));
    }
    for tag in 0..n {
        w.section(0x1000_0000 + tag, false, |_| {});
    }
    w.finish()
}

#[test]
fn sixteen_megabytes_of_empty_sections_are_refused_by_the_section_limit() {
    let mut blob = with_empty_sections(1 << 20);
    assert!(blob.len() > 16 << 20);
    let count = 3 + (1u32 << 20);
    assert_eq!(
        inspect(&blob).unwrap_err(),
        RestoreError::Format(FormatError::TooManySections { count, max: 256 })
    );
    // A header claiming the limit leaves the rest as trailing bytes.
    blob[28..32].copy_from_slice(&256u32.to_le_bytes());
    format::reseal(&mut blob);
    assert_eq!(
        inspect(&blob).unwrap_err(),
        RestoreError::Format(FormatError::Malformed {
            what: "trailing bytes after the last section"
        })
    );
}

#[test]
fn optional_sections_up_to_the_limit_are_skipped() {
    let blob = with_empty_sections(format::MAX_SECTIONS as u32 - 3);
    let r = Vm::restore(rich_config(3), AtomicMemory::new(&[sim::RESERVED]), &blob).unwrap();
    assert_eq!(r.snapshot().unwrap(), sample());
    let over = with_empty_sections(format::MAX_SECTIONS as u32 - 2);
    assert!(matches!(
        inspect(&over),
        Err(RestoreError::Format(FormatError::TooManySections { .. }))
    ));
}

/// A blob either is refused or loads a state that passes validation on its
/// own, restores, and round-trips.
fn refused_or_valid(blob: &[u8]) {
    let dest = rich_config(3);
    if let Ok(vm) = Vm::restore(dest, AtomicMemory::new(&[sim::RESERVED]), blob) {
        let again = vm.snapshot().unwrap();
        inspect(&again).unwrap();
        assert!(inspect(blob).is_ok());
    }
}

#[test]
fn every_truncation_is_refused() {
    let blob = sample();
    for len in 0..blob.len() {
        assert!(inspect(&blob[..len]).is_err(), "length {len}");
        assert!(Vm::restore(rich_config(3), NoMemory, &blob[..len]).is_err());
    }
}

#[test]
fn every_single_byte_change_is_refused() {
    let blob = sample();
    for i in 0..blob.len() {
        for x in [0x01, 0x80, 0xff] {
            let mut b = blob.clone();
            b[i] ^= x;
            assert!(inspect(&b).is_err(), "byte {i} ^ {x:#x}");
        }
    }
}

/// Past the checksum: the decoder and the state validation on their own,
/// for the bytes of quarter `part` of the sample.
fn single_byte_changes_behind_a_valid_checksum(part: usize) {
    let blob = sample();
    let quarter = blob.len().div_ceil(4);
    for i in part * quarter..((part + 1) * quarter).min(blob.len()) {
        for x in [0x01, 0x80, 0xff] {
            let mut b = blob.clone();
            b[i] ^= x;
            format::reseal(&mut b);
            refused_or_valid(&b);
        }
    }
}

#[test]
fn every_single_byte_change_behind_a_valid_checksum_is_refused_or_valid_q1() {
    single_byte_changes_behind_a_valid_checksum(0);
}

#[test]
fn every_single_byte_change_behind_a_valid_checksum_is_refused_or_valid_q2() {
    single_byte_changes_behind_a_valid_checksum(1);
}

#[test]
fn every_single_byte_change_behind_a_valid_checksum_is_refused_or_valid_q3() {
    single_byte_changes_behind_a_valid_checksum(2);
}

#[test]
fn every_single_byte_change_behind_a_valid_checksum_is_refused_or_valid_q4() {
    single_byte_changes_behind_a_valid_checksum(3);
}

#[test]
fn inspect_summarises_versions_features_and_per_vcpu_state() {
    let text = inspect(&sample()).unwrap().to_string();
    for want in [
        "format version 1",
        "vCPUs: 3",
        "SMCCC 1.4",
        "STD_BMAP=0x1 STD_HYP_BMAP=0x3",
        "SDEI 1.1: 4 private and 8 shared slots",
        "platform event 0x201: shared, critical",
        "binding: event 0x40010000 <- INTID 40",
        "LPT at 0xa10f000: pv 1000000000 Hz",
        "vcpu1 (MPIDR 0x80000001):",
        "handler 1 for event 0x101",
        "stolen 1000 ns, record enabled by the guest",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn blob_size_grows_linearly_with_vcpus() {
    let size = |n| {
        Vm::new(VmConfig::new(n), NoMemory)
            .unwrap()
            .snapshot()
            .unwrap()
            .len()
    };
    let (a, b, c) = (size(1), size(2), size(3));
    assert_eq!(b - a, c - b);
}

/// The sample's contents with `edit` applied, re-encoded.
fn edited(edit: impl FnOnce(&mut fwcall::SnapshotContents)) -> Vec<u8> {
    let mut c = busy_sim().vm.snapshot_contents();
    edit(&mut c);
    c.to_bytes().unwrap()
}

fn restore_rich(blob: &[u8]) -> Result<Vm<AtomicMemory>, RestoreError> {
    Vm::restore(rich_config(3), AtomicMemory::new(&[sim::RESERVED]), blob)
}

#[test]
fn impossible_handler_state_is_refused() {
    // Status 2: enabled but not registered.
    let blob = edited(|c| c.sdei.as_mut().unwrap().vcpus[0].private[0].status = 2);
    assert!(matches!(
        restore_rich(&blob),
        Err(RestoreError::Sdei(
            fwcall::sdei::SdeiStateError::BadStatus { .. }
        ))
    ));
    assert!(inspect(&blob).is_err());
}

#[test]
fn saved_context_on_a_vcpu_with_nothing_running_is_refused() {
    let blob = edited(|c| {
        let s = c.sdei.as_mut().unwrap();
        let ctx = s.vcpus[1].stack[0];
        s.vcpus[0].stack.push(ctx);
    });
    assert!(matches!(restore_rich(&blob), Err(RestoreError::Sdei(_))));
}

#[test]
fn unknown_event_in_the_state_is_refused() {
    let blob = edited(|c| c.sdei.as_mut().unwrap().vcpus[2].private[1].event = 0x999);
    assert!(matches!(
        restore_rich(&blob),
        Err(RestoreError::Sdei(
            fwcall::sdei::SdeiStateError::EventsDiffer { what: "private" }
        ))
    ));
}

#[test]
fn running_bit_without_its_saved_context_is_refused() {
    let blob = edited(|c| {
        c.sdei.as_mut().unwrap().vcpus[1]
            .stack
            .pop()
            .map(|_| ())
            .unwrap()
    });
    assert!(matches!(restore_rich(&blob), Err(RestoreError::Sdei(_))));
}

#[test]
fn structures_outside_any_reserved_region_are_refused_even_on_their_own() {
    // Misaligned table: `inspect` checks the snapshot against a VM placed as it says.
    let blob = edited(|c| c.pvtime.stolen_time_base = Some(Gpa(TABLE.0 + 8)));
    let e = inspect(&blob).unwrap_err();
    assert!(e.to_string().contains("not 64-byte aligned"), "{e}");
    assert!(matches!(
        restore_rich(&blob),
        Err(RestoreError::Incompatible(
            CompatError::StolenTimeTable { .. }
        ))
    ));
}

#[test]
fn sdei_section_without_sdei_in_the_abi_is_refused() {
    let blob = edited(|c| c.abi.sdei = None);
    assert_eq!(
        inspect(&blob).unwrap_err(),
        RestoreError::Format(FormatError::SdeiPresence)
    );
}

#[test]
fn odd_lpt_sequence_is_refused() {
    let blob = edited(|c| c.pvtime.lpt.as_mut().unwrap().sequence = 3);
    assert!(matches!(
        restore_rich(&blob),
        Err(RestoreError::PvTime(
            fwcall::pvtime::PvTimeStateError::OddSequence(3)
        ))
    ));
}

mod random_corruption {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Several bytes changed at once behind a valid checksum: refused
        /// or valid, never a panic.
        #[test]
        fn multi_byte_changes_are_refused_or_valid(
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut b = sample();
            for (i, v) in edits {
                let i = i.index(b.len());
                b[i] = v;
            }
            if truncate {
                b.truncate(cut.index(b.len()));
                let len = b.len() as u64;
                if b.len() >= 24 {
                    b[16..24].copy_from_slice(&len.to_le_bytes());
                }
            }
            format::reseal(&mut b);
            refused_or_valid(&b);
        }
    }
}
