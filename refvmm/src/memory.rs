//! Guest memory: RAM and the PV-time region, each its own mapping and its
//! own memslot, and the loaders that place the kernel, initrd and device
//! tree.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::layout::{DTB_MAX, PVTIME_BASE, PVTIME_SIZE, RAM_BASE, dtb_addr};

/// Why the guest could not be laid out.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// vm-memory could not map or write.
    #[error("guest memory: {0}")]
    Guest(#[from] vm_memory::GuestMemoryError),
    /// vm-memory could not create the mapping.
    #[error("cannot map guest memory: {0}")]
    Map(String),
    /// The kernel is not an arm64 `Image`.
    #[error(
        "the kernel is not an arm64 Image (no ARM\\x64 magic at offset 56); pass the raw Image (Debian's vmlinuz is one)"
    )]
    NotAnImage,
    /// Something does not fit in RAM.
    #[error(
        "{what} ({len} bytes) does not fit in {ram_mib} MiB of RAM; give the guest more memory"
    )]
    TooBig {
        /// What.
        what: &'static str,
        /// Its size.
        len: u64,
        /// RAM size.
        ram_mib: u64,
    },
}

/// `lseek(fd, from, whence)` for `SEEK_DATA`/`SEEK_HOLE`: `None` when
/// there is no data at or after `from` (`ENXIO`).
fn seek(fd: RawFd, from: u64, whence: libc::c_int) -> std::io::Result<Option<u64>> {
    let from =
        libc::off_t::try_from(from).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: lseek on a descriptor the caller keeps open; it reads no
    // memory of ours and only moves the file offset.
    let r = unsafe { libc::lseek(fd, from, whence) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENXIO) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    Ok(Some(r as u64))
}

/// Asks for transparent huge pages behind RAM: KVM then maps the guest in
/// 2 MiB blocks, so a guest touches its memory with far fewer stage-2
/// faults (which matters most right after a restore, when every page
/// faults once). Only advice: a host without THP ignores it.
fn prefer_huge_pages(ram: &GuestMemoryMmap, size: u64) {
    if let Ok(host) = ram.get_host_address(GuestAddress(RAM_BASE)) {
        // SAFETY: madvise with MADV_HUGEPAGE changes no contents and no
        // mapping, only how the kernel backs our own anonymous mapping of
        // exactly `size` bytes at `host`.
        let _ = unsafe { libc::madvise(host.cast(), size as usize, libc::MADV_HUGEPAGE) };
    }
}

fn anonymous(base: u64, size: u64) -> Result<GuestMemoryMmap, MemoryError> {
    GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(base), size as usize)])
        .map_err(|e| MemoryError::Map(format!("{e:?}")))
}

/// One KVM memslot to register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Slot number.
    pub slot: u32,
    /// Guest physical base.
    pub gpa: u64,
    /// Size in bytes.
    pub size: u64,
    /// Host virtual address of the mapping.
    pub host: u64,
}

/// The guest's memory.
#[derive(Debug, Clone)]
pub struct GuestMem {
    /// RAM at [`RAM_BASE`].
    pub ram: GuestMemoryMmap,
    /// The PV-time region. fwcall gets this mapping only, so no bug of its
    /// can ever write RAM.
    pub pvtime: GuestMemoryMmap,
    ram_size: u64,
}

/// Where the boot pieces landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootLayout {
    /// Kernel entry (its load address).
    pub entry: u64,
    /// The initrd's first byte and one past its last, if any.
    pub initrd: Option<(u64, u64)>,
    /// Device tree address.
    pub dtb: u64,
}

impl GuestMem {
    /// Maps `ram_size` bytes of RAM and the PV-time region.
    pub fn new(ram_size: u64) -> Result<Self, MemoryError> {
        let ram = anonymous(RAM_BASE, ram_size)?;
        prefer_huge_pages(&ram, ram_size);
        Ok(GuestMem {
            ram,
            pvtime: anonymous(PVTIME_BASE, PVTIME_SIZE)?,
            ram_size,
        })
    }

    /// RAM loaded from a saved image: fresh anonymous RAM into which only
    /// the file's data ranges are read (`SEEK_DATA`/`SEEK_HOLE`), so the
    /// holes a save leaves for all-zero pages cost nothing and stay
    /// untouched zero pages. The file is only read.
    pub fn from_image(path: &Path, ram_size: u64) -> Result<Self, MemoryError> {
        let io = |e: std::io::Error| MemoryError::Map(format!("{}: {e}", path.display()));
        let file = File::open(path).map_err(io)?;
        let mem = Self::new(ram_size)?;
        let mut buf = vec![0u8; 2 << 20];
        let fd = file.as_raw_fd();
        let mut at: u64 = 0;
        while at < ram_size {
            let Some(data) = seek(fd, at, libc::SEEK_DATA).map_err(io)? else {
                break; // only a hole is left
            };
            let end = seek(fd, data, libc::SEEK_HOLE)
                .map_err(io)?
                .unwrap_or(ram_size)
                .min(ram_size);
            if data >= end {
                break;
            }
            let mut pos = data;
            while pos < end {
                let n = (end - pos).min(buf.len() as u64) as usize;
                file.read_exact_at(&mut buf[..n], pos).map_err(io)?;
                mem.ram
                    .write_slice(&buf[..n], GuestAddress(RAM_BASE + pos))?;
                pos += n as u64;
            }
            at = end;
        }
        Ok(mem)
    }

    /// RAM size in bytes.
    pub fn ram_size(&self) -> u64 {
        self.ram_size
    }

    /// The memslots: 0 for RAM, 1 for PV time.
    pub fn slots(&self) -> Result<[Slot; 2], MemoryError> {
        let host =
            |m: &GuestMemoryMmap, gpa: u64| m.get_host_address(GuestAddress(gpa)).map(|p| p as u64);
        Ok([
            Slot {
                slot: 0,
                gpa: RAM_BASE,
                size: self.ram_size,
                host: host(&self.ram, RAM_BASE)?,
            },
            Slot {
                slot: 1,
                gpa: PVTIME_BASE,
                size: PVTIME_SIZE,
                host: host(&self.pvtime, PVTIME_BASE)?,
            },
        ])
    }

    /// Loads an arm64 `Image` at the offset its header asks for, and the
    /// initrd below the device tree. Returns where things are; the device
    /// tree itself is written by [`GuestMem::load_dtb`].
    pub fn load(&self, kernel: &[u8], initrd: Option<&[u8]>) -> Result<BootLayout, MemoryError> {
        let header = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(kernel.get(at..at + 8)?.try_into().ok()?))
        };
        if kernel.get(56..60) != Some(b"ARM\x64".as_slice()) {
            return Err(MemoryError::NotAnImage);
        }
        let text_offset = header(8).ok_or(MemoryError::NotAnImage)?;
        // image_size covers the kernel's BSS too; 0 on very old kernels.
        let image_size = header(16)
            .filter(|s| *s != 0)
            .unwrap_or(kernel.len() as u64);
        let ram_mib = self.ram_size >> 20;
        let dtb = dtb_addr(self.ram_size);
        let entry = RAM_BASE + text_offset;
        let kernel_end = entry.saturating_add(image_size.max(kernel.len() as u64));
        if kernel_end > dtb {
            return Err(MemoryError::TooBig {
                what: "the kernel",
                len: image_size,
                ram_mib,
            });
        }
        self.ram.write_slice(kernel, GuestAddress(entry))?;
        let initrd = match initrd {
            None => None,
            Some(rd) => {
                let len = rd.len() as u64;
                // Page-aligned, just below the device tree.
                let start = dtb
                    .checked_sub(len)
                    .map(|s| s & !0xfff)
                    .filter(|s| *s >= kernel_end);
                let start = start.ok_or(MemoryError::TooBig {
                    what: "the initrd",
                    len,
                    ram_mib,
                })?;
                self.ram.write_slice(rd, GuestAddress(start))?;
                Some((start, start + len))
            }
        };
        Ok(BootLayout { entry, initrd, dtb })
    }

    /// Writes the device tree at `addr`.
    pub fn load_dtb(&self, addr: u64, dtb: &[u8]) -> Result<(), MemoryError> {
        if dtb.len() as u64 > DTB_MAX {
            return Err(MemoryError::TooBig {
                what: "the device tree",
                len: dtb.len() as u64,
                ram_mib: self.ram_size >> 20,
            });
        }
        Ok(self.ram.write_slice(dtb, GuestAddress(addr))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(text_offset: u64, len: usize) -> Vec<u8> {
        let mut k = vec![0u8; len];
        k[8..16].copy_from_slice(&text_offset.to_le_bytes());
        k[16..24].copy_from_slice(&(len as u64).to_le_bytes());
        k[56..60].copy_from_slice(b"ARM\x64");
        k
    }

    #[test]
    fn kernel_goes_to_its_text_offset_and_initrd_below_the_dtb() {
        let m = GuestMem::new(64 << 20).unwrap();
        let b = m.load(&image(0x20_0000, 4096), Some(&[7u8; 5000])).unwrap();
        assert_eq!(b.entry, RAM_BASE + 0x20_0000);
        assert_eq!(b.dtb, RAM_BASE + (62 << 20));
        let (start, end) = b.initrd.unwrap();
        assert_eq!(start % 4096, 0);
        assert_eq!(end - start, 5000);
        assert!(end <= b.dtb);
        let mut byte = [0u8; 1];
        m.ram.read_slice(&mut byte, GuestAddress(start)).unwrap();
        assert_eq!(byte, [7]);
    }

    #[test]
    fn a_file_without_the_image_magic_is_refused() {
        let m = GuestMem::new(4 << 20).unwrap();
        assert!(matches!(
            m.load(&[0u8; 64], None),
            Err(MemoryError::NotAnImage)
        ));
        assert!(matches!(
            m.load(&[0u8; 3], None),
            Err(MemoryError::NotAnImage)
        ));
    }

    #[test]
    fn too_little_ram_is_an_error_not_a_panic() {
        let m = GuestMem::new(4 << 20).unwrap();
        assert!(matches!(
            m.load(&image(0, 3 << 20), None),
            Err(MemoryError::TooBig { .. })
        ));
        assert!(matches!(
            m.load(&image(0, 4096), Some(&vec![0; 3 << 20])),
            Err(MemoryError::TooBig { .. })
        ));
    }

    #[test]
    fn ram_from_an_image_is_private_to_the_process() {
        let path = std::env::temp_dir().join(format!("refvmm-ram-{}.img", std::process::id()));
        let mut bytes = vec![0u8; 1 << 20];
        bytes[4096] = 0x5a;
        std::fs::write(&path, &bytes).unwrap();
        let m = GuestMem::from_image(&path, 1 << 20).unwrap();
        let mut b = [0u8; 1];
        m.ram
            .read_slice(&mut b, GuestAddress(RAM_BASE + 4096))
            .unwrap();
        assert_eq!(b, [0x5a]);
        m.ram
            .write_slice(&[7], GuestAddress(RAM_BASE + 4096))
            .unwrap();
        m.ram
            .read_slice(&mut b, GuestAddress(RAM_BASE + 4096))
            .unwrap();
        assert_eq!(b, [7]);
        // The file keeps what was saved.
        assert_eq!(std::fs::read(&path).unwrap()[4096], 0x5a);
        assert!(m.pvtime.get_host_address(GuestAddress(PVTIME_BASE)).is_ok());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn pv_time_is_a_separate_mapping_outside_ram() {
        let m = GuestMem::new(4 << 20).unwrap();
        let [ram, pv] = m.slots().unwrap();
        assert_eq!(
            (ram.slot, ram.gpa, pv.slot, pv.gpa),
            (0, RAM_BASE, 1, PVTIME_BASE)
        );
        assert!(m.ram.get_host_address(GuestAddress(PVTIME_BASE)).is_err());
        assert!(m.pvtime.get_host_address(GuestAddress(RAM_BASE)).is_err());
    }
}
