//! fwcall's guest memory over rust-vmm's `vm-memory` (feature `vm-memory`):
//! values land little-endian where they were written and are read back
//! from there; holes and partly backed ranges are refused with the address
//! and length of the access.
#![cfg(feature = "vm-memory")]

use fwcall_pvtime::vm_memory::VmMemory;
use fwcall_pvtime::{Gpa, GuestMemoryAccess, MemoryError};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn mem() -> VmMemory<GuestMemoryMmap<()>> {
    VmMemory(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0x1000), 0x1000)]).unwrap())
}

#[test]
fn vm_memory_round_trips_what_was_written() {
    let m = mem();
    // Aligned (one atomic store) and unaligned (a byte copy) writes.
    for (addr, v) in [
        (0x1008u64, 0x0102_0304_0506_0708u64),
        (0x1013, 0xa1b2_c3d4_e5f6_0718),
    ] {
        m.write_u64(Gpa(addr), v).unwrap();
        let mut b = [0u8; 8];
        m.read_bytes(Gpa(addr), &mut b).unwrap();
        assert_eq!(b, v.to_le_bytes(), "{addr:#x}");
    }
    m.write_bytes(Gpa(0x1100), b"fwcall").unwrap();
    let mut b = [0u8; 6];
    m.read_bytes(Gpa(0x1100), &mut b).unwrap();
    assert_eq!(&b, b"fwcall");
}

#[test]
fn vm_memory_refuses_holes_with_the_access() {
    let m = mem();
    let mut b = [0u8; 8];
    assert_eq!(
        m.write_u64(Gpa(0x9000), 1),
        Err(MemoryError::OutOfRange {
            addr: Gpa(0x9000),
            len: 8
        })
    );
    assert_eq!(
        m.write_bytes(Gpa(0x9001), &[1, 2, 3]),
        Err(MemoryError::OutOfRange {
            addr: Gpa(0x9001),
            len: 3
        })
    );
    assert_eq!(
        m.read_bytes(Gpa(0x9000), &mut b),
        Err(MemoryError::OutOfRange {
            addr: Gpa(0x9000),
            len: 8
        })
    );
    // Straddling the end of the only region: partly backed.
    for r in [
        m.write_bytes(Gpa(0x1ffc), &[0; 8]),
        m.read_bytes(Gpa(0x1ffc), &mut b),
    ] {
        assert!(
            matches!(
                r,
                Err(MemoryError::Refused {
                    addr: Gpa(0x1ffc),
                    len: 8,
                    reason
                }) if reason.contains("partly backed")
            ),
            "{r:?}"
        );
    }
}
