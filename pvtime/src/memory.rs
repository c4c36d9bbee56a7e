//! Guest physical addresses, memory regions, and the trait through which
//! fwcall writes guest memory.
//!
//! fwcall never maps guest memory itself: the VMM implements
//! [`GuestMemoryAccess`] over whatever it has (an mmap'd memslot, vm-memory,
//! a simulator). [`AtomicMemory`] is a small lock-free implementation for
//! tests, benches and trace replay.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use fwcall_smccc::VcpuIndex;

/// A guest physical address (an IPA, in Arm terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Gpa(pub u64);

impl Gpa {
    /// `self + offset`, or `None` past the top of the 64-bit address space.
    pub const fn checked_add(self, offset: u64) -> Option<Gpa> {
        match self.0.checked_add(offset) {
            Some(a) => Some(Gpa(a)),
            None => None,
        }
    }

    /// Whether the address is a multiple of `align` (a power of two).
    pub const fn is_aligned(self, align: u64) -> bool {
        align != 0 && self.0.is_multiple_of(align)
    }
}

impl fmt::Display for Gpa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl From<u64> for Gpa {
    fn from(a: u64) -> Self {
        Gpa(a)
    }
}

/// A range of guest physical addresses: `[base, base + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MemoryRegion {
    /// First address.
    pub base: Gpa,
    /// Length in bytes.
    pub size: u64,
}

impl MemoryRegion {
    /// A region from its base and size.
    pub const fn new(base: u64, size: u64) -> Self {
        MemoryRegion {
            base: Gpa(base),
            size,
        }
    }

    /// One past the last address, or `None` when the region wraps past 2^64
    /// (a region ending exactly at 2^64 also yields `None`: it is not
    /// representable, and fwcall treats it as malformed).
    pub const fn end(&self) -> Option<Gpa> {
        self.base.checked_add(self.size)
    }

    /// Whether `[addr, addr + len)` lies wholly inside this region. An empty
    /// range is contained when `addr` is inside or at the end.
    pub const fn contains(&self, addr: Gpa, len: u64) -> bool {
        let (Some(end), Some(last)) = (self.end(), addr.checked_add(len)) else {
            return false;
        };
        addr.0 >= self.base.0 && last.0 <= end.0
    }

    /// Whether this region and `other` share at least one byte. Empty
    /// regions overlap nothing; a region whose end wraps is clamped to the
    /// top of the address space, so the check never overflows.
    pub const fn overlaps(&self, other: &MemoryRegion) -> bool {
        if self.size == 0 || other.size == 0 {
            return false;
        }
        // Inclusive last bytes, which always exist for a non-empty region.
        let a_last = self.base.0.saturating_add(self.size - 1);
        let b_last = other.base.0.saturating_add(other.size - 1);
        self.base.0 <= b_last && other.base.0 <= a_last
    }
}

impl fmt::Display for MemoryRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end() {
            Some(end) => write!(f, "[{}, {})", self.base, end),
            None => write!(f, "[{}, +{:#x} wrapping)", self.base, self.size),
        }
    }
}

/// A guest-memory access that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// The range is not backed by guest memory the VMM gave fwcall.
    #[error(
        "guest memory access at {addr} (+{len} bytes) is outside every region the VMM backs; declare and back the region that holds the PV-time structures"
    )]
    OutOfRange {
        /// First address.
        addr: Gpa,
        /// Length of the access.
        len: u64,
    },
    /// The VMM's memory refused the access (read-only, MMIO, unmapped page).
    #[error("guest memory at {addr} (+{len} bytes) refused the access: {reason}")]
    Refused {
        /// First address.
        addr: Gpa,
        /// Length of the access.
        len: u64,
        /// What the VMM's memory reported.
        reason: &'static str,
    },
    /// The vCPU index is beyond the VM's vCPU count: a VMM bug, nothing was written.
    #[error("{vcpu} has no PV-time record: the VM was built with fewer vCPUs")]
    NoSuchVcpu {
        /// The index given.
        vcpu: VcpuIndex,
    },
}

/// Writes and reads of guest memory on fwcall's behalf.
///
/// A VMM implements this over its guest memory. fwcall calls it from vCPU
/// threads, so it must be `Send + Sync` and should not block.
///
/// [`write_u64`](GuestMemoryAccess::write_u64) is one little-endian 64-bit
/// store: for an 8-byte-aligned address the implementation must make it a
/// single-copy-atomic store (one `str x`/`AtomicU64::store`, never a byte
/// loop), because a guest on another CPU may read the value at any moment.
///
/// ```
/// use fwcall_pvtime::{AtomicMemory, Gpa, GuestMemoryAccess, MemoryRegion};
///
/// let mem = AtomicMemory::new(&[MemoryRegion::new(0x0a10_0000, 0x1000)]);
/// mem.write_u64(Gpa(0x0a10_0008), 42).unwrap();
/// let mut b = [0u8; 8];
/// mem.read_bytes(Gpa(0x0a10_0008), &mut b).unwrap();
/// assert_eq!(u64::from_le_bytes(b), 42);
/// assert!(mem.write_u64(Gpa(0x9000_0000), 1).is_err());
/// ```
pub trait GuestMemoryAccess: Send + Sync {
    /// Stores `value` little-endian at `addr`, as one 64-bit store.
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError>;
    /// Copies `data` to guest memory at `addr`.
    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError>;
    /// Fills `buf` from guest memory at `addr`.
    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError>;
}

macro_rules! forward_access {
    ($($ty:ty),*) => {$(
        impl<T: GuestMemoryAccess + ?Sized> GuestMemoryAccess for $ty {
            #[inline]
            fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
                (**self).write_u64(addr, value)
            }
            #[inline]
            fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
                (**self).write_bytes(addr, data)
            }
            #[inline]
            fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
                (**self).read_bytes(addr, buf)
            }
        }
    )*};
}

forward_access!(&T, Arc<T>, Box<T>);

/// One backed region of an [`AtomicMemory`].
#[derive(Debug)]
struct Backing {
    region: MemoryRegion,
    /// Bytes in little-endian 64-bit words, starting at `region.base` rounded down to 8.
    words: Box<[AtomicU64]>,
    word_base: u64,
}

/// A simple guest memory made of atomic 64-bit words: aligned
/// [`write_u64`](GuestMemoryAccess::write_u64) is a single atomic store,
/// byte accesses update words one byte at a time. Lock-free, `Send + Sync`.
///
/// Meant for tests, benches and trace replay, not for a VMM's real RAM.
/// Regions are allocated densely and zeroed at construction, so keep them
/// small (the reserved PV-time region, not a whole guest's RAM); regions of
/// [`AtomicMemory::MAX_REGION`] bytes or more, or wrapping ones, are
/// ignored (accesses to them fail).
#[derive(Debug, Default)]
pub struct AtomicMemory {
    backings: Vec<Backing>,
}

impl AtomicMemory {
    /// Largest region [`AtomicMemory`] backs.
    pub const MAX_REGION: u64 = 1 << 28;

    /// Zeroed memory backing each of `regions`.
    pub fn new(regions: &[MemoryRegion]) -> Self {
        let backings = regions
            .iter()
            .filter_map(|r| {
                let end = r.end()?.0;
                if r.size >= Self::MAX_REGION {
                    return None;
                }
                let word_base = r.base.0 & !7;
                let words = usize::try_from(end.div_ceil(8) - word_base / 8).ok()?;
                Some(Backing {
                    region: *r,
                    words: (0..words).map(|_| AtomicU64::new(0)).collect(),
                    word_base,
                })
            })
            .collect();
        AtomicMemory { backings }
    }

    fn backing(&self, addr: Gpa, len: u64) -> Result<&Backing, MemoryError> {
        self.backings
            .iter()
            .find(|b| b.region.contains(addr, len))
            .ok_or(MemoryError::OutOfRange { addr, len })
    }

    /// Reads a little-endian `u64` (convenience for tests).
    pub fn read_u64(&self, addr: Gpa) -> Result<u64, MemoryError> {
        let mut b = [0; 8];
        self.read_bytes(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

impl Backing {
    fn word(&self, addr: u64) -> Option<&AtomicU64> {
        let i = usize::try_from((addr - self.word_base) / 8).ok()?;
        self.words.get(i)
    }

    fn put_byte(&self, addr: u64, v: u8) {
        if let Some(w) = self.word(addr) {
            let shift = (addr % 8) * 8;
            let mask = 0xffu64 << shift;
            let _ = w.fetch_update(Ordering::Release, Ordering::Relaxed, |old| {
                Some((old & !mask) | (u64::from(v) << shift))
            });
        }
    }

    fn get_byte(&self, addr: u64) -> u8 {
        self.word(addr)
            .map(|w| (w.load(Ordering::Acquire) >> ((addr % 8) * 8)) as u8)
            .unwrap_or(0)
    }
}

impl GuestMemoryAccess for AtomicMemory {
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
        let b = self.backing(addr, 8)?;
        if addr.is_aligned(8)
            && let Some(w) = b.word(addr.0)
        {
            // Words hold bytes in little-endian order, so the value is stored as-is.
            w.store(value, Ordering::Release);
            return Ok(());
        }
        for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
            b.put_byte(addr.0 + i as u64, byte);
        }
        Ok(())
    }

    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        let b = self.backing(addr, data.len() as u64)?;
        for (i, byte) in data.iter().enumerate() {
            b.put_byte(addr.0 + i as u64, *byte);
        }
        Ok(())
    }

    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
        let b = self.backing(addr, buf.len() as u64)?;
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = b.get_byte(addr.0 + i as u64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_end_and_contains_never_overflow() {
        let top = MemoryRegion::new(u64::MAX - 0xf, 0x10);
        assert_eq!(top.end(), None);
        assert!(!top.contains(Gpa(u64::MAX - 8), 8));
        let r = MemoryRegion::new(0x1000, 0x100);
        assert_eq!(r.end(), Some(Gpa(0x1100)));
        assert!(r.contains(Gpa(0x1000), 0x100));
        assert!(!r.contains(Gpa(0x1000), 0x101));
        assert!(!r.contains(Gpa(0xfff), 1));
        assert!(!r.contains(Gpa(u64::MAX), 2));
    }

    #[test]
    fn regions_overlap_only_when_they_share_a_byte() {
        let a = MemoryRegion::new(0x1000, 0x1000);
        assert!(a.overlaps(&MemoryRegion::new(0x1fff, 1)));
        assert!(!a.overlaps(&MemoryRegion::new(0x2000, 0x10)));
        assert!(!a.overlaps(&MemoryRegion::new(0x0, 0x1000)));
        assert!(!a.overlaps(&MemoryRegion::new(0x1800, 0)));
        let wrapping = MemoryRegion::new(u64::MAX - 4, 100);
        assert!(wrapping.overlaps(&MemoryRegion::new(u64::MAX, 1)));
        assert!(!wrapping.overlaps(&a));
    }

    #[test]
    fn gpa_displays_as_hex() {
        assert_eq!(alloc::format!("{}", Gpa(0x0a10_0000)), "0xa100000");
        assert_eq!(Gpa(u64::MAX).checked_add(1), None);
    }

    #[test]
    fn atomic_memory_round_trips_aligned_and_unaligned() {
        let m = AtomicMemory::new(&[MemoryRegion::new(0x1003, 0x20)]);
        m.write_u64(Gpa(0x1008), 0x1122_3344_5566_7788).unwrap();
        assert_eq!(m.read_u64(Gpa(0x1008)).unwrap(), 0x1122_3344_5566_7788);
        m.write_u64(Gpa(0x1005), u64::MAX).unwrap();
        assert_eq!(m.read_u64(Gpa(0x1005)).unwrap(), u64::MAX);
        m.write_bytes(Gpa(0x1003), &[9]).unwrap();
        let mut b = [0; 1];
        m.read_bytes(Gpa(0x1003), &mut b).unwrap();
        assert_eq!(b, [9]);
        assert_eq!(
            m.write_u64(Gpa(0x1020), 0),
            Err(MemoryError::OutOfRange {
                addr: Gpa(0x1020),
                len: 8
            })
        );
        assert!(m.read_bytes(Gpa(0x1002), &mut b).is_err());
    }
}
