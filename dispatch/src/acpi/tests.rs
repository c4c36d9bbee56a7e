//! The tables, read back at the offsets Linux's `actbl.h`/`actbl1.h` give
//! (independently of the zerocopy records), through the records, and
//! against what the same VM serves.

use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;
use zerocopy::FromBytes;

use super::*;
use crate::features::FeatureRegister;
use crate::{Call, EventDecl, EventKind, NoMemory, Priority, VcpuIndex, VmConfig, ids};

const RAM: MemoryRegion = MemoryRegion::new(0x4000_0000, 0x1000_0000);
const EVENTS: [u32; 3] = [0x200, 0x201, 0x4003_0000];

fn config() -> VmConfig {
    let mut c = VmConfig::new(2);
    c.ram = vec![RAM];
    let sdei = c.sdei.as_mut().unwrap();
    for (i, number) in EVENTS.into_iter().enumerate() {
        sdei.events.push(EventDecl {
            number,
            kind: if i == 2 {
                EventKind::Private
            } else {
                EventKind::Shared
            },
            priority: if i == 1 {
                Priority::Critical
            } else {
                Priority::Normal
            },
        });
    }
    c
}

fn vm() -> Vm<NoMemory> {
    Vm::new(config(), NoMemory).unwrap()
}

// Source `i`: ID `i`, event `EVENTS[i]`, registers at 0x0900_0000 + 16·i.
fn source(i: u16) -> GhesV2Source {
    let base = 0x0900_0000 + 16 * u64::from(i);
    GhesV2Source::new(i, EVENTS[usize::from(i)], Gpa(base), Gpa(base + 8))
}

fn u8_at(b: &[u8], at: usize) -> u8 {
    b[at]
}
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn sum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |s, x| s.wrapping_add(*x))
}

// `struct acpi_table_header` (actbl.h): signature 0, length 4, revision 8,
// checksum 9, oem_id 10, oem_table_id 16, oem_revision 24,
// asl_compiler_id 28, asl_compiler_revision 32.
fn check_header(b: &[u8], signature: &[u8; 4], revision: u8, ids: &AcpiIds) {
    assert_eq!(&b[0..4], signature);
    assert_eq!(u32_at(b, 4) as usize, b.len());
    assert_eq!(u8_at(b, 8), revision);
    assert_eq!(sum(b), 0, "checksum");
    assert_eq!(&b[10..16], &ids.oem_id);
    assert_eq!(&b[16..24], &ids.oem_table_id);
    assert_eq!(u32_at(b, 24), ids.oem_revision);
    assert_eq!(&b[28..32], &ids.creator_id);
    assert_eq!(u32_at(b, 32), ids.creator_revision);
}

#[test]
fn sdei_table_is_a_checksummed_header_only() {
    let ids = AcpiIds {
        oem_id: *b"ACME  ",
        oem_table_id: *b"VMM-1234",
        oem_revision: 0xdead_beef,
        creator_id: *b"TEST",
        creator_revision: 7,
    };
    let b = SdeiTable::for_vm(&vm(), &ids).unwrap().to_vec();
    assert_eq!(b.len(), 36);
    check_header(&b, b"SDEI", 1, &ids);
}

#[test]
fn sdei_table_refused_when_sdei_is_not_served() {
    let mut c = config();
    c.sdei = None;
    let vm = Vm::new(c, NoMemory).unwrap();
    assert_eq!(
        SdeiTable::for_vm(&vm, &AcpiIds::default()),
        Err(AcpiError::SdeiNotServed)
    );
    let vm = self::vm();
    vm.set_features(FeatureRegister::Std, 0).unwrap();
    assert_eq!(
        SdeiTable::for_vm(&vm, &AcpiIds::default()),
        Err(AcpiError::SdeiNotServed)
    );
    assert_eq!(
        Hest::for_vm(&vm, &AcpiIds::default(), &[source(0)]),
        Err(AcpiError::SdeiNotServed)
    );
}

// `struct acpi_hest_generic_v2` (actbl1.h), from the structure's start:
// type 0, source_id 2, related_source_id 4, reserved 6, enabled 7,
// records_to_preallocate 8, max_sections_per_record 12,
// max_raw_data_length 16, error_status_address 20 (GAS: space_id,
// bit_width, bit_offset, access_width, address at +4), notify 32 (type,
// length, config_write_enable 34, poll_interval 36, vector 40, four
// thresholds 44..60), error_block_length 60, read_ack_register 64,
// read_ack_preserve 76, read_ack_write 84; 92 bytes.
fn check_ghes_v2(b: &[u8], s: &GhesV2Source) {
    assert_eq!(b.len(), 92);
    assert_eq!(u16_at(b, 0), 10, "type: GHESv2");
    assert_eq!(u16_at(b, 2), s.source_id);
    assert_eq!(u16_at(b, 4), s.related_source_id.unwrap_or(0xFFFF));
    assert_eq!(u8_at(b, 6), 0);
    assert_eq!(u8_at(b, 7), u8::from(s.enabled));
    assert_eq!(u32_at(b, 8), s.records_to_preallocate);
    assert_eq!(u32_at(b, 12), s.max_sections_per_record);
    assert_eq!(u32_at(b, 16), s.max_raw_data_length);
    for (at, addr) in [(20, s.error_status_address), (64, s.read_ack_register)] {
        assert_eq!(
            &b[at..at + 4],
            &[0, 64, 0, 4],
            "GAS: memory, 64 bits, qword"
        );
        assert_eq!(u64_at(b, at + 4), addr.0);
    }
    assert_eq!(u8_at(b, 32), 11, "notify: Software Delegated Exception");
    assert_eq!(u8_at(b, 33), 28, "notify length");
    assert_eq!(u16_at(b, 34), 0);
    assert_eq!(u32_at(b, 36), 0);
    assert_eq!(u32_at(b, 40), s.sdei_event, "notify vector: the SDEI event");
    assert!(b[44..60].iter().all(|x| *x == 0));
    assert_eq!(u32_at(b, 60), s.error_block_length);
    assert_eq!(u64_at(b, 76), s.read_ack_preserve);
    assert_eq!(u64_at(b, 84), s.read_ack_write);
}

#[test]
fn hest_fields_sit_at_the_offsets_of_actbl1() {
    let mut second = source(1);
    second.related_source_id = Some(0);
    second.enabled = false;
    second.records_to_preallocate = 3;
    second.max_sections_per_record = 2;
    second.max_raw_data_length = 0x123;
    second.error_block_length = 20;
    second.read_ack_preserve = 0xffff_0000;
    second.read_ack_write = 0x2;
    let sources = [source(0), second, source(2)];
    let ids = AcpiIds::default();
    let b = Hest::for_vm(&vm(), &ids, &sources).unwrap().to_vec();
    assert_eq!(b.len(), 40 + 3 * 92);
    check_header(&b, b"HEST", 1, &ids);
    assert_eq!(u32_at(&b, 36), 3, "error_source_count");
    for (i, s) in sources.iter().enumerate() {
        check_ghes_v2(&b[40 + 92 * i..40 + 92 * (i + 1)], s);
    }
}

#[test]
fn hest_reads_back_through_the_zerocopy_records() {
    let sources = [source(0), source(1)];
    let b = Hest::for_vm(&vm(), &AcpiIds::default(), &sources)
        .unwrap()
        .to_vec();
    let (head, rest) = layout::HestHeader::ref_from_prefix(&b).unwrap();
    assert_eq!(head.error_source_count.get(), 2);
    let records = <[layout::GhesV2]>::ref_from_bytes(rest).unwrap();
    for (r, s) in records.iter().zip(&sources) {
        assert_eq!(*r, s.record());
        assert_eq!(r.notify.vector.get(), s.sdei_event);
        assert_eq!(
            r.error_status_address.address.get(),
            s.error_status_address.0
        );
    }
}

#[test]
fn an_empty_hest_is_a_header_and_a_zero_count() {
    let b = Hest::for_vm(&vm(), &AcpiIds::default(), &[])
        .unwrap()
        .to_vec();
    assert_eq!(b.len(), 40);
    assert_eq!(u32_at(&b, 36), 0);
    assert_eq!(sum(&b), 0);
}

#[test]
fn write_to_refuses_a_short_buffer_and_fills_a_long_one() {
    let hest = Hest::for_vm(&vm(), &AcpiIds::default(), &[source(0)]).unwrap();
    let mut short = [0u8; 131];
    assert_eq!(
        hest.write_to(&mut short),
        Err(AcpiError::BufferTooSmall {
            needed: 132,
            got: 131
        })
    );
    let mut long = [0xAAu8; 200];
    assert_eq!(hest.write_to(&mut long), Ok(132));
    assert_eq!(&long[..132], hest.to_vec().as_slice());
    assert!(long[132..].iter().all(|x| *x == 0xAA));
    let sdei = SdeiTable::for_vm(&vm(), &AcpiIds::default()).unwrap();
    assert_eq!(
        sdei.write_to(&mut [0u8; 35]),
        Err(AcpiError::BufferTooSmall {
            needed: 36,
            got: 35
        })
    );
}

fn refused(sources: &[GhesV2Source]) -> AcpiError {
    Hest::for_vm(&vm(), &AcpiIds::default(), sources).unwrap_err()
}

#[test]
fn ghes_event_must_be_a_declared_platform_event() {
    let mut s = source(0);
    s.sdei_event = 0;
    assert_eq!(refused(&[s]), AcpiError::Event0 { source_id: 0 });
    for event in [0x999, 0x4000_0000, 0x4001_0000] {
        s.sdei_event = event;
        assert_eq!(
            refused(&[s]),
            AcpiError::UndeclaredEvent {
                source_id: 0,
                event
            }
        );
    }
}

#[test]
fn ghes_sources_need_their_own_ids_events_and_registers() {
    let mut twin = source(1);
    twin.source_id = 0;
    assert_eq!(refused(&[source(0), twin]), AcpiError::DuplicateSourceId(0));

    let mut same_event = source(1);
    same_event.sdei_event = EVENTS[0];
    assert_eq!(
        refused(&[source(0), same_event]),
        AcpiError::SharedEvent {
            event: EVENTS[0],
            first: 0,
            second: 1
        }
    );

    let mut same_register = source(1);
    same_register.read_ack_register = source(0).error_status_address;
    assert_eq!(
        refused(&[source(0), same_register]),
        AcpiError::SharedRegister {
            addr: source(0).error_status_address,
            first: 0,
            second: 1
        }
    );

    let mut one_register = source(0);
    one_register.read_ack_register = one_register.error_status_address;
    assert_eq!(
        refused(&[one_register]),
        AcpiError::SharedRegister {
            addr: one_register.error_status_address,
            first: 0,
            second: 0
        }
    );
}

#[test]
fn ghes_registers_are_aligned_64_bit_locations_outside_ram() {
    let cases = [
        (Register::ErrorStatusAddress, Gpa(0)),
        (Register::ErrorStatusAddress, Gpa(0x0900_0004)),
        (Register::ReadAck, Gpa(0x0900_0009)),
        (Register::ReadAck, Gpa(u64::MAX - 7)),
    ];
    for (register, addr) in cases {
        let mut s = source(0);
        match register {
            Register::ErrorStatusAddress => s.error_status_address = addr,
            Register::ReadAck => s.read_ack_register = addr,
        }
        assert_eq!(
            refused(&[s]),
            AcpiError::BadRegister {
                source_id: 0,
                register,
                addr
            }
        );
    }
    for addr in [RAM.base, Gpa(RAM.base.0 + RAM.size - 8)] {
        let mut s = source(0);
        s.read_ack_register = addr;
        assert_eq!(
            refused(&[s]),
            AcpiError::RegisterInRam {
                source_id: 0,
                register: Register::ReadAck,
                addr,
                ram: RAM
            }
        );
    }
    // Just below and just past RAM are fine.
    let mut s = source(0);
    s.error_status_address = Gpa(RAM.base.0 - 8);
    s.read_ack_register = Gpa(RAM.base.0 + RAM.size);
    assert!(Hest::for_vm(&vm(), &AcpiIds::default(), &[s]).is_ok());
}

#[test]
fn ghes_counts_block_length_and_related_source_are_checked() {
    let mut s = source(0);
    s.records_to_preallocate = 0;
    assert_eq!(
        refused(&[s]),
        AcpiError::ZeroCount {
            source_id: 0,
            field: "records_to_preallocate"
        }
    );
    let mut s = source(0);
    s.max_sections_per_record = 0;
    assert_eq!(
        refused(&[s]),
        AcpiError::ZeroCount {
            source_id: 0,
            field: "max_sections_per_record"
        }
    );
    for (length, ok) in [
        (0, false),
        (19, false),
        (20, true),
        (65536, true),
        (65537, false),
    ] {
        let mut s = source(0);
        s.error_block_length = length;
        let r = Hest::for_vm(&vm(), &AcpiIds::default(), &[s]);
        if ok {
            assert!(r.is_ok(), "{length}");
        } else {
            assert_eq!(
                r,
                Err(AcpiError::ErrorBlockLength {
                    source_id: 0,
                    length
                })
            );
        }
    }
    for related in [0, 5] {
        let mut s = source(0);
        s.related_source_id = Some(related);
        assert_eq!(
            refused(&[s]),
            AcpiError::UnknownRelatedSource {
                source_id: 0,
                related
            }
        );
    }
}

#[test]
fn table_ids_must_be_printable_ascii() {
    let cases = [
        (
            AcpiIds {
                oem_id: *b"OEM\0\0\0",
                ..AcpiIds::default()
            },
            "oem_id",
        ),
        (
            AcpiIds {
                oem_table_id: [0xff; 8],
                ..AcpiIds::default()
            },
            "oem_table_id",
        ),
        (
            AcpiIds {
                creator_id: *b"\x7fABC",
                ..AcpiIds::default()
            },
            "creator_id",
        ),
    ];
    for (ids, field) in cases {
        assert_eq!(
            SdeiTable::for_vm(&vm(), &ids),
            Err(AcpiError::BadId { field })
        );
        assert_eq!(
            Hest::for_vm(&vm(), &ids, &[]),
            Err(AcpiError::BadId { field })
        );
    }
}

proptest! {
    // Every table sums to zero and states its own length, whatever the
    // identification and the sources' values.
    #[test]
    fn tables_always_checksum_to_zero(
        oem in proptest::array::uniform6(0x20u8..0x7f),
        table in proptest::array::uniform8(0x20u8..0x7f),
        oem_revision in any::<u32>(),
        creator_revision in any::<u32>(),
        n in 0usize..=3,
        preserve in any::<u64>(),
        write in any::<u64>(),
        raw in any::<u32>(),
        block in 20u32..=65536,
    ) {
        let ids = AcpiIds { oem_id: oem, oem_table_id: table, oem_revision, creator_revision, ..AcpiIds::default() };
        let sources: Vec<GhesV2Source> = (0..n as u16).map(|i| GhesV2Source {
            read_ack_preserve: preserve,
            read_ack_write: write,
            max_raw_data_length: raw,
            error_block_length: block,
            ..source(i)
        }).collect();
        let hest = Hest::for_vm(&vm(), &ids, &sources).unwrap().to_vec();
        prop_assert_eq!(sum(&hest), 0);
        prop_assert_eq!(u32_at(&hest, 4) as usize, hest.len());
        for (i, s) in sources.iter().enumerate() {
            check_ghes_v2(&hest[40 + 92 * i..40 + 92 * (i + 1)], s);
        }
        let sdei = SdeiTable::for_vm(&vm(), &ids).unwrap().to_vec();
        prop_assert_eq!(sum(&sdei), 0);
    }
}

// The tables never disagree with the VM: the `SDEI` table exists exactly
// when `SDEI_VERSION` answers, and every event a GHES names is one the
// VMM can raise, with the priority the guest will ask for.
#[test]
fn tables_match_what_the_vm_serves() {
    for configured in [false, true] {
        let mut c = config();
        if !configured {
            c.sdei = None;
        }
        let vm = Vm::new(c, NoMemory).unwrap();
        let call = Call::new(ids::SDEI_VERSION, &[]);
        let out = vm.vcpu(VcpuIndex(0)).unwrap().handle(&call);
        let mut x = call.x;
        let _ = out.reply.apply_x(&mut x);
        let answers = (x[0] as i64) >= 0;
        assert_eq!(SdeiTable::for_vm(&vm, &AcpiIds::default()).is_ok(), answers);
    }
    let vm = vm();
    let sources = [source(0), source(1), source(2)];
    let hest = Hest::for_vm(&vm, &AcpiIds::default(), &sources).unwrap();
    for s in hest.sources() {
        let target = (s.sdei_event == EVENTS[2]).then_some(VcpuIndex(1));
        assert!(
            vm.raise(s.sdei_event, target).is_ok(),
            "{:#x}",
            s.sdei_event
        );
    }
}
