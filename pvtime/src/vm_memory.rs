//! [`GuestMemoryAccess`] for rust-vmm's `vm-memory` (feature `vm-memory`).
//!
//! ```
//! use fwcall_pvtime::vm_memory::VmMemory;
//! use fwcall_pvtime::{Gpa, GuestMemoryAccess};
//! use vm_memory::{GuestAddress, GuestMemoryMmap};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0x0a10_0000), 0x1_0000)])?;
//! let mem = VmMemory(gm);
//! mem.write_u64(Gpa(0x0a10_0008), 7)?;
//! # Ok(()) }
//! ```

use core::sync::atomic::Ordering;

use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryError};

use crate::{Gpa, GuestMemoryAccess, MemoryError};

/// Wraps any `vm_memory::GuestMemory` (for example `GuestMemoryMmap`, or
/// `GuestMemoryAtomic`'s loaded guard) as fwcall's guest memory.
#[derive(Debug, Clone, Default)]
pub struct VmMemory<M>(pub M);

fn map(err: GuestMemoryError, addr: Gpa, len: u64) -> MemoryError {
    match err {
        GuestMemoryError::InvalidGuestAddress(_) | GuestMemoryError::GuestAddressOverflow => {
            MemoryError::OutOfRange { addr, len }
        }
        GuestMemoryError::PartialBuffer { .. } => MemoryError::Refused {
            addr,
            len,
            reason: "the range is only partly backed",
        },
        _ => MemoryError::Refused {
            addr,
            len,
            reason: "vm-memory refused the access",
        },
    }
}

impl<M: GuestMemory + Send + Sync> GuestMemoryAccess for VmMemory<M> {
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
        // `store` is one atomic access of the whole width (aligned addresses
        // only); fall back to a copy for an unaligned one.
        if addr.is_aligned(8) {
            self.0
                .store(value.to_le(), GuestAddress(addr.0), Ordering::Release)
                .map_err(|e| map(e, addr, 8))
        } else {
            self.write_bytes(addr, &value.to_le_bytes())
        }
    }

    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        self.0
            .write_slice(data, GuestAddress(addr.0))
            .map_err(|e| map(e, addr, data.len() as u64))
    }

    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
        let len = buf.len() as u64;
        self.0
            .read_slice(buf, GuestAddress(addr.0))
            .map_err(|e| map(e, addr, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    #[test]
    fn vm_memory_adapter_stores_little_endian_and_reports_holes() {
        let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0x1000), 0x1000)]).unwrap();
        let mem = VmMemory(gm);
        mem.write_u64(Gpa(0x1008), 0x0102_0304_0506_0708).unwrap();
        let mut b = [0u8; 8];
        mem.read_bytes(Gpa(0x1008), &mut b).unwrap();
        assert_eq!(b, [8, 7, 6, 5, 4, 3, 2, 1]);
        mem.write_u64(Gpa(0x1011), u64::MAX).unwrap();
        assert!(matches!(
            mem.write_u64(Gpa(0x9000), 1),
            Err(MemoryError::OutOfRange { .. })
        ));
        assert!(mem.write_bytes(Gpa(0x1ffc), &[0; 8]).is_err());
    }
}
