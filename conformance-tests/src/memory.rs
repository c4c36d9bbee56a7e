//! The simulated guest memory: sparse, and limited to the `mem` regions.

use crate::config::MemRegion;
use std::collections::BTreeMap;
use std::sync::Mutex;

const PAGE: u64 = 4096;

/// An access outside every declared region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    /// First byte of the access.
    pub addr: u64,
    /// Its length.
    pub len: u64,
}

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes at {:#x} are not inside one `mem` region",
            self.len, self.addr
        )
    }
}

/// Guest memory as the VMM holds it. Unwritten bytes read as zero; only
/// touched pages take space. Shared with the server through an `Arc`, so
/// it takes `&self` and locks internally.
#[derive(Debug)]
pub struct SimMemory {
    regions: Vec<MemRegion>,
    pages: Mutex<BTreeMap<u64, Box<[u8; PAGE as usize]>>>,
}

impl SimMemory {
    /// Empty memory over `regions` (the first is RAM).
    pub fn new(regions: Vec<MemRegion>) -> Self {
        SimMemory {
            regions,
            pages: Mutex::new(BTreeMap::new()),
        }
    }

    /// The same contents over other regions (a restore with `mem=`).
    pub fn with_regions(&self, regions: Vec<MemRegion>) -> Self {
        let pages = self.lock().clone();
        SimMemory {
            regions,
            pages: Mutex::new(pages),
        }
    }

    /// The declared regions.
    pub fn regions(&self) -> &[MemRegion] {
        &self.regions
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Box<[u8; PAGE as usize]>>> {
        // A poisoned lock only means another thread panicked mid-copy; the
        // map itself is still well formed.
        self.pages.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self, addr: u64, len: u64) -> Result<(), OutOfRange> {
        if self.regions.iter().any(|r| r.contains(addr, len)) {
            Ok(())
        } else {
            Err(OutOfRange { addr, len })
        }
    }

    /// Writes `data` at `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), OutOfRange> {
        self.check(addr, data.len() as u64)?;
        let mut pages = self.lock();
        for (i, b) in data.iter().enumerate() {
            let a = addr.wrapping_add(i as u64);
            let page = pages
                .entry(a / PAGE)
                .or_insert_with(|| Box::new([0; PAGE as usize]));
            if let Some(slot) = page.get_mut((a % PAGE) as usize) {
                *slot = *b;
            }
        }
        Ok(())
    }

    /// Reads `out.len()` bytes at `addr`.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), OutOfRange> {
        self.check(addr, out.len() as u64)?;
        let pages = self.lock();
        for (i, b) in out.iter_mut().enumerate() {
            let a = addr.wrapping_add(i as u64);
            *b = pages
                .get(&(a / PAGE))
                .and_then(|p| p.get((a % PAGE) as usize).copied())
                .unwrap_or(0);
        }
        Ok(())
    }

    /// Reads a little-endian value of `bytes` (1, 2, 4 or 8) bytes.
    pub fn read_le(&self, addr: u64, bytes: usize) -> Result<u64, OutOfRange> {
        let mut buf = [0u8; 8];
        let n = bytes.min(8);
        self.read(addr, &mut buf[..n])?;
        Ok(u64::from_le_bytes(buf))
    }

    /// Writes the low `bytes` bytes of `v`, little-endian.
    pub fn write_le(&self, addr: u64, bytes: usize, v: u64) -> Result<(), OutOfRange> {
        let buf = v.to_le_bytes();
        self.write(addr, &buf[..bytes.min(8)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> SimMemory {
        SimMemory::new(vec![
            MemRegion {
                base: 0x1000,
                size: 0x2000,
            },
            MemRegion {
                base: 0x9000,
                size: 0x40,
            },
        ])
    }

    #[test]
    fn unwritten_memory_reads_zero_and_writes_round_trip_little_endian() {
        let m = mem();
        assert_eq!(m.read_le(0x1ffc, 8), Ok(0));
        m.write_le(0x1ffc, 8, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(m.read_le(0x1ffc, 4), Ok(0x5566_7788));
        assert_eq!(m.read_le(0x2000, 1), Ok(0x44));
    }

    #[test]
    fn accesses_outside_the_regions_are_refused() {
        let m = mem();
        assert!(m.write_le(0x0fff, 1, 0).is_err());
        assert!(m.write_le(0x2ffc, 8, 0).is_err());
        assert!(m.read_le(0x9038, 8).is_ok());
        assert!(m.read_le(0x9039, 8).is_err());
        assert!(m.read_le(u64::MAX, 8).is_err());
    }
}
