//! ACPI tables for the firmware a VM serves (feature `acpi`).
//!
//! An arm64 guest booted with ACPI (UEFI) learns about SDEI from two
//! tables:
//!
//! * [`SdeiTable`]: the `SDEI` table, a bare header whose presence turns the
//!   guest's SDEI driver on. It carries no conduit: the guest calls SDEI
//!   the way the FADT says to call PSCI (its `PSCI_USE_HVC` boot flag), so
//!   that flag must name the instruction the hypervisor traps to fwcall.
//! * [`Hest`]: a Hardware Error Source Table of Generic Hardware Error
//!   Sources version 2 (`GHESv2`) whose notification is an SDEI event, for a
//!   VMM that reports RAS errors into the guest firmware-first: it writes a
//!   CPER error status block, points the source's error-status-address
//!   register at it, raises the SDEI event with [`Vm::raise`], and sees
//!   the guest acknowledge through the read-ack register.
//!
//! Both are built from the [`Vm`], so neither can name what the VM does not
//! serve: no `SDEI` table without SDEI, no GHES on an event the VM does not
//! declare as a platform event. Inputs are checked (typed [`AcpiError`]s),
//! lengths and checksums are computed, and the bytes are laid out with the
//! zerocopy records of [`layout`]. No `std` needed.
//!
//! ```
//! use fwcall::acpi::{AcpiIds, GhesV2Source, Hest, SdeiTable};
//! use fwcall::{EventDecl, EventKind, Gpa, NoMemory, Priority, Vm, VmConfig};
//!
//! let mut config = VmConfig::new(2);
//! config.sdei.as_mut().unwrap().events.push(EventDecl {
//!     number: 0x200,
//!     kind: EventKind::Shared,
//!     priority: Priority::Critical,
//! });
//! let vm = Vm::new(config, NoMemory).unwrap();
//!
//! let sdei = SdeiTable::for_vm(&vm, &AcpiIds::default()).unwrap().to_vec();
//! assert_eq!(&sdei[..4], b"SDEI");
//!
//! // One error source on event 0x200; its two registers live in memory
//! // the VMM set aside (not guest RAM).
//! let source = GhesV2Source::new(1, 0x200, Gpa(0x0900_1000), Gpa(0x0900_1008));
//! let hest = Hest::for_vm(&vm, &AcpiIds::default(), &[source]).unwrap().to_vec();
//! assert_eq!(hest.len(), 40 + 92);
//! assert_eq!(hest.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0); // checksum
//! ```

pub mod layout;

use alloc::vec::Vec;
use core::fmt;

use fwcall_pvtime::{Gpa, MemoryRegion};
use zerocopy::IntoBytes;

use crate::{GuestMemoryAccess, Vm, describe};
use layout::{
    GHES_V2_LEN, Gas, GhesV2, HEADER_LEN, HEST_HEADER_LEN, HestHeader, HestNotify, TableHeader,
};

/// HEST structure type of a Generic Hardware Error Source version 2.
pub const HEST_TYPE_GHES_V2: u16 = 10;
/// Notification type Software Delegated Exception (ACPI 6.2; Linux's
/// `ACPI_HEST_NOTIFY_SOFTWARE_DELEGATED`).
pub const NOTIFY_SOFTWARE_DELEGATED: u8 = 11;
/// Revision of the `SDEI` table.
pub const SDEI_REVISION: u8 = 1;
/// Revision of the HEST.
pub const HEST_REVISION: u8 = 1;
/// Smallest error status block: its fixed part (`struct
/// acpi_hest_generic_status`, 20 bytes).
pub const MIN_ERROR_BLOCK_LENGTH: u32 = 20;
/// Largest error status block Linux reads whole (`GHES_ESTATUS_MAX_SIZE`).
pub const MAX_ERROR_BLOCK_LENGTH: u32 = 64 << 10;

/// Generic Address Structure space ID of system memory.
const SPACE_SYSTEM_MEMORY: u8 = 0;
/// Generic Address Structure access size of 64 bits.
const ACCESS_QWORD: u8 = 4;
/// "No related source" in `related_source_id`.
const NO_RELATED_SOURCE: u16 = 0xFFFF;

/// The identification fields of a table header.
///
/// ```
/// use fwcall::acpi::AcpiIds;
///
/// let ids = AcpiIds { oem_id: *b"MYVMM ", ..AcpiIds::default() };
/// assert_eq!(&ids.creator_id, b"FWCL");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AcpiIds {
    /// OEM ID, printable ASCII padded with spaces. Default `"FWCALL"`.
    pub oem_id: [u8; 6],
    /// OEM table ID, printable ASCII padded with spaces. Default
    /// `"FWCALL  "`.
    pub oem_table_id: [u8; 8],
    /// OEM revision. Default 1.
    pub oem_revision: u32,
    /// Creator ID, printable ASCII. Default `"FWCL"`.
    pub creator_id: [u8; 4],
    /// Creator revision. Default 1.
    pub creator_revision: u32,
}

impl Default for AcpiIds {
    fn default() -> Self {
        AcpiIds {
            oem_id: *b"FWCALL",
            oem_table_id: *b"FWCALL  ",
            oem_revision: 1,
            creator_id: *b"FWCL",
            creator_revision: 1,
        }
    }
}

impl AcpiIds {
    fn check(&self) -> Result<(), AcpiError> {
        let printable = |s: &[u8]| s.iter().all(|b| (0x20..0x7f).contains(b));
        for (field, bytes) in [
            ("oem_id", &self.oem_id[..]),
            ("oem_table_id", &self.oem_table_id[..]),
            ("creator_id", &self.creator_id[..]),
        ] {
            if !printable(bytes) {
                return Err(AcpiError::BadId { field });
            }
        }
        Ok(())
    }

    fn header(&self, signature: [u8; 4], revision: u8, length: u32) -> TableHeader {
        TableHeader {
            signature,
            length: length.into(),
            revision,
            checksum: 0,
            oem_id: self.oem_id,
            oem_table_id: self.oem_table_id,
            oem_revision: self.oem_revision.into(),
            creator_id: self.creator_id,
            creator_revision: self.creator_revision.into(),
        }
    }
}

/// Which register of an error source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Register {
    /// The error status address register.
    ErrorStatusAddress,
    /// The read-ack register.
    ReadAck,
}

impl fmt::Display for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Register::ErrorStatusAddress => "error status address register",
            Register::ReadAck => "read-ack register",
        })
    }
}

/// A table fwcall refuses to build, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AcpiError {
    /// The VM does not serve SDEI, so the guest must not be told about it.
    #[error(
        "the VM serves no SDEI (not configured, or off in the feature words): describe SDEI only when VmConfig::sdei is set and STD_BMAP bit 0 is on"
    )]
    SdeiNotServed,
    /// An identification field is not printable ASCII.
    #[error("AcpiIds::{field} must be printable ASCII (pad with spaces)")]
    BadId {
        /// The field.
        field: &'static str,
    },
    /// Two error sources share an ID.
    #[error("two error sources have source ID {0}; give each its own")]
    DuplicateSourceId(u16),
    /// A related source ID names no other source of the table.
    #[error(
        "error source {source_id}: related source {related} is not another source of this HEST"
    )]
    UnknownRelatedSource {
        /// The source.
        source_id: u16,
        /// The ID it names.
        related: u16,
    },
    /// Event 0 named as a notification.
    #[error(
        "error source {source_id}: SDEI event 0 is the software-signalled event (SDEI_EVENT_SIGNAL) and Linux refuses it for GHES; declare a platform event in SdeiConfig::events"
    )]
    Event0 {
        /// The source.
        source_id: u16,
    },
    /// The event is not a platform event of the VM.
    #[error(
        "error source {source_id}: SDEI event {event:#x} is not a platform event of this VM; declare it in SdeiConfig::events so Vm::raise can signal it"
    )]
    UndeclaredEvent {
        /// The source.
        source_id: u16,
        /// The event number.
        event: u32,
    },
    /// Two sources notify through the same event.
    #[error(
        "error sources {first} and {second} both use SDEI event {event:#x}; the guest registers one handler per event, so give each source its own"
    )]
    SharedEvent {
        /// The event number.
        event: u32,
        /// One source.
        first: u16,
        /// The other.
        second: u16,
    },
    /// A register address is zero, misaligned, or wraps.
    #[error(
        "error source {source_id}: the {register} at {addr} must be a non-zero, 8-byte aligned 64-bit location"
    )]
    BadRegister {
        /// The source.
        source_id: u16,
        /// The register.
        register: Register,
        /// Its address.
        addr: Gpa,
    },
    /// A register lies in guest RAM.
    #[error(
        "error source {source_id}: the {register} at {addr} lies in guest RAM {ram}; the guest would allocate it for itself, so put it in memory the VMM keeps outside the RAM the guest is told about"
    )]
    RegisterInRam {
        /// The source.
        source_id: u16,
        /// The register.
        register: Register,
        /// Its address.
        addr: Gpa,
        /// The RAM region.
        ram: MemoryRegion,
    },
    /// Two registers share an address.
    #[error(
        "the register at {addr} is used twice (sources {first} and {second}); every source needs its own two registers"
    )]
    SharedRegister {
        /// The address.
        addr: Gpa,
        /// One source using it.
        first: u16,
        /// The other.
        second: u16,
    },
    /// A count that must be at least 1 is zero.
    #[error("error source {source_id}: {field} must be at least 1")]
    ZeroCount {
        /// The source.
        source_id: u16,
        /// The field.
        field: &'static str,
    },
    /// The error status block length is outside what a guest can use.
    #[error(
        "error source {source_id}: error_block_length {length} must be between 20 (the block's fixed part) and 65536 (the most Linux reads)"
    )]
    ErrorBlockLength {
        /// The source.
        source_id: u16,
        /// The length given.
        length: u32,
    },
    /// The caller's buffer is too small for the table.
    #[error("the table needs {needed} bytes but the buffer holds {got}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
}

/// The `SDEI` table: a header only.
///
/// ```
/// use fwcall::acpi::{AcpiIds, SdeiTable};
/// use fwcall::{NoMemory, Vm, VmConfig};
///
/// let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
/// let table = SdeiTable::for_vm(&vm, &AcpiIds::default()).unwrap();
/// let mut buf = [0u8; 64];
/// assert_eq!(table.write_to(&mut buf), Ok(36));
/// assert_eq!(&buf[..4], b"SDEI");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdeiTable {
    header: TableHeader,
}

impl SdeiTable {
    /// The table for `vm`; refused when the VM does not serve SDEI.
    ///
    /// ```
    /// use fwcall::acpi::{AcpiError, AcpiIds, SdeiTable};
    /// use fwcall::{NoMemory, Vm, VmConfig};
    ///
    /// let mut config = VmConfig::new(1);
    /// config.sdei = None;
    /// let vm = Vm::new(config, NoMemory).unwrap();
    /// assert_eq!(SdeiTable::for_vm(&vm, &AcpiIds::default()), Err(AcpiError::SdeiNotServed));
    /// ```
    pub fn for_vm<M: GuestMemoryAccess>(vm: &Vm<M>, ids: &AcpiIds) -> Result<Self, AcpiError> {
        describe::sdei_events(vm).ok_or(AcpiError::SdeiNotServed)?;
        ids.check()?;
        let mut header = ids.header(*b"SDEI", SDEI_REVISION, HEADER_LEN as u32);
        header.checksum = checksum(&[header.as_bytes()]);
        Ok(SdeiTable { header })
    }

    /// The table's length in bytes (36).
    pub fn len(&self) -> usize {
        HEADER_LEN
    }

    /// Always `false`: a table has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The table's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.header.as_bytes().to_vec()
    }

    /// Writes the table at the start of `buf` and returns its length.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, AcpiError> {
        write_parts(buf, &[self.header.as_bytes()])
    }
}

/// One Generic Hardware Error Source version 2 notified by an SDEI event:
/// what the VMM decides. Start from [`GhesV2Source::new`], which fills in
/// the usual values, and adjust fields.
///
/// ```
/// use fwcall::acpi::GhesV2Source;
/// use fwcall::Gpa;
///
/// let s = GhesV2Source::new(7, 0x200, Gpa(0x0900_1000), Gpa(0x0900_1008));
/// assert_eq!((s.read_ack_preserve, s.read_ack_write), (!1, 1));
/// assert!(s.enabled && s.related_source_id.is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GhesV2Source {
    /// The source's ID, unique in the HEST.
    pub source_id: u16,
    /// The source this one is an alternate for (another source of the same
    /// HEST), or `None`.
    pub related_source_id: Option<u16>,
    /// Whether the guest should use the source.
    pub enabled: bool,
    /// Error records the guest pre-allocates (at least 1).
    pub records_to_preallocate: u32,
    /// Most sections in one record (at least 1).
    pub max_sections_per_record: u32,
    /// Largest raw error data, in bytes.
    pub max_raw_data_length: u32,
    /// Where the 64-bit register holding the error status block's address
    /// lives (system memory, 8-byte aligned, outside guest RAM).
    pub error_status_address: Gpa,
    /// Size of the error status block the register points to (20..=65536).
    pub error_block_length: u32,
    /// Where the 64-bit read-ack register lives (system memory, 8-byte
    /// aligned, outside guest RAM).
    pub read_ack_register: Gpa,
    /// Read-ack bits the guest keeps.
    pub read_ack_preserve: u64,
    /// Read-ack bits the guest sets once it has consumed the block.
    pub read_ack_write: u64,
    /// The SDEI event that notifies the guest: a platform event of the VM.
    pub sdei_event: u32,
}

impl GhesV2Source {
    /// A source with ID `source_id` notified by `sdei_event`, its registers
    /// at the given addresses; enabled, 1 record of 1 section, 4 KiB of raw
    /// data and error status block, and the guest acknowledging by setting
    /// bit 0 of the read-ack register and keeping the others.
    pub const fn new(
        source_id: u16,
        sdei_event: u32,
        error_status_address: Gpa,
        read_ack_register: Gpa,
    ) -> Self {
        GhesV2Source {
            source_id,
            related_source_id: None,
            enabled: true,
            records_to_preallocate: 1,
            max_sections_per_record: 1,
            max_raw_data_length: 0x1000,
            error_status_address,
            error_block_length: 0x1000,
            read_ack_register,
            read_ack_preserve: !1,
            read_ack_write: 1,
            sdei_event,
        }
    }

    fn registers(&self) -> [(Register, Gpa); 2] {
        [
            (Register::ErrorStatusAddress, self.error_status_address),
            (Register::ReadAck, self.read_ack_register),
        ]
    }

    fn record(&self) -> GhesV2 {
        GhesV2 {
            kind: HEST_TYPE_GHES_V2.into(),
            source_id: self.source_id.into(),
            related_source_id: self.related_source_id.unwrap_or(NO_RELATED_SOURCE).into(),
            reserved: 0,
            enabled: self.enabled.into(),
            records_to_preallocate: self.records_to_preallocate.into(),
            max_sections_per_record: self.max_sections_per_record.into(),
            max_raw_data_length: self.max_raw_data_length.into(),
            error_status_address: qword_register(self.error_status_address),
            notify: HestNotify {
                kind: NOTIFY_SOFTWARE_DELEGATED,
                length: layout::NOTIFY_LEN as u8,
                config_write_enable: 0.into(),
                poll_interval: 0.into(),
                vector: self.sdei_event.into(),
                polling_threshold_value: 0.into(),
                polling_threshold_window: 0.into(),
                error_threshold_value: 0.into(),
                error_threshold_window: 0.into(),
            },
            error_block_length: self.error_block_length.into(),
            read_ack_register: qword_register(self.read_ack_register),
            read_ack_preserve: self.read_ack_preserve.into(),
            read_ack_write: self.read_ack_write.into(),
        }
    }
}

/// A 64-bit register in system memory, accessed as a whole.
fn qword_register(addr: Gpa) -> Gas {
    Gas {
        space_id: SPACE_SYSTEM_MEMORY,
        bit_width: 64,
        bit_offset: 0,
        access_width: ACCESS_QWORD,
        address: addr.0.into(),
    }
}

/// A HEST of `GHESv2` error sources notified by SDEI events.
///
/// ```
/// use fwcall::acpi::{AcpiIds, GhesV2Source, Hest};
/// use fwcall::{EventDecl, EventKind, Gpa, NoMemory, Priority, Vm, VmConfig};
///
/// let mut config = VmConfig::new(1);
/// config.sdei.as_mut().unwrap().events.push(EventDecl {
///     number: 0x300,
///     kind: EventKind::Shared,
///     priority: Priority::Normal,
/// });
/// let vm = Vm::new(config, NoMemory).unwrap();
/// let source = GhesV2Source::new(0, 0x300, Gpa(0x0900_2000), Gpa(0x0900_2008));
/// let hest = Hest::for_vm(&vm, &AcpiIds::default(), &[source]).unwrap();
/// assert_eq!(hest.sources(), &[source]);
/// assert_eq!(hest.len(), 132);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hest {
    ids: AcpiIds,
    sources: Vec<GhesV2Source>,
}

impl Hest {
    /// Checks `sources` against `vm` and each other, in order: SDEI
    /// served, identification, then per source its counts, block length,
    /// related source, event (not 0, declared, not shared) and registers
    /// (aligned, outside RAM, not shared).
    ///
    /// ```
    /// use fwcall::acpi::{AcpiError, AcpiIds, GhesV2Source, Hest};
    /// use fwcall::{Gpa, NoMemory, Vm, VmConfig};
    ///
    /// let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    /// let source = GhesV2Source::new(0, 0x300, Gpa(0x0900_2000), Gpa(0x0900_2008));
    /// assert_eq!(
    ///     Hest::for_vm(&vm, &AcpiIds::default(), &[source]),
    ///     Err(AcpiError::UndeclaredEvent { source_id: 0, event: 0x300 })
    /// );
    /// ```
    pub fn for_vm<M: GuestMemoryAccess>(
        vm: &Vm<M>,
        ids: &AcpiIds,
        sources: &[GhesV2Source],
    ) -> Result<Self, AcpiError> {
        let events = describe::sdei_events(vm).ok_or(AcpiError::SdeiNotServed)?;
        ids.check()?;
        let ram = &vm.config().ram;
        for (i, s) in sources.iter().enumerate() {
            let id = s.source_id;
            if let Some(other) = sources[..i].iter().find(|o| o.source_id == id) {
                return Err(AcpiError::DuplicateSourceId(other.source_id));
            }
            for (field, value) in [
                ("records_to_preallocate", s.records_to_preallocate),
                ("max_sections_per_record", s.max_sections_per_record),
            ] {
                if value == 0 {
                    return Err(AcpiError::ZeroCount {
                        source_id: id,
                        field,
                    });
                }
            }
            if !(MIN_ERROR_BLOCK_LENGTH..=MAX_ERROR_BLOCK_LENGTH).contains(&s.error_block_length) {
                return Err(AcpiError::ErrorBlockLength {
                    source_id: id,
                    length: s.error_block_length,
                });
            }
            if let Some(related) = s.related_source_id {
                if related == id || !sources.iter().any(|o| o.source_id == related) {
                    return Err(AcpiError::UnknownRelatedSource {
                        source_id: id,
                        related,
                    });
                }
            }
            if s.sdei_event == 0 {
                return Err(AcpiError::Event0 { source_id: id });
            }
            if !events.iter().any(|e| e.number == s.sdei_event) {
                return Err(AcpiError::UndeclaredEvent {
                    source_id: id,
                    event: s.sdei_event,
                });
            }
            if let Some(other) = sources[..i].iter().find(|o| o.sdei_event == s.sdei_event) {
                return Err(AcpiError::SharedEvent {
                    event: s.sdei_event,
                    first: other.source_id,
                    second: id,
                });
            }
            for (register, addr) in s.registers() {
                if addr.0 == 0 || !addr.is_aligned(8) || addr.checked_add(8).is_none() {
                    return Err(AcpiError::BadRegister {
                        source_id: id,
                        register,
                        addr,
                    });
                }
                let bytes = MemoryRegion {
                    base: addr,
                    size: 8,
                };
                if let Some(r) = ram.iter().find(|r| r.overlaps(&bytes)) {
                    return Err(AcpiError::RegisterInRam {
                        source_id: id,
                        register,
                        addr,
                        ram: *r,
                    });
                }
            }
            if s.error_status_address == s.read_ack_register {
                return Err(AcpiError::SharedRegister {
                    addr: s.error_status_address,
                    first: id,
                    second: id,
                });
            }
            for other in &sources[..i] {
                for (_, addr) in s.registers() {
                    if other.registers().iter().any(|(_, a)| *a == addr) {
                        return Err(AcpiError::SharedRegister {
                            addr,
                            first: other.source_id,
                            second: id,
                        });
                    }
                }
            }
        }
        Ok(Hest {
            ids: *ids,
            sources: sources.to_vec(),
        })
    }

    /// The error sources, in table order.
    pub fn sources(&self) -> &[GhesV2Source] {
        &self.sources
    }

    /// The table's length in bytes: 40 plus 92 per source.
    pub fn len(&self) -> usize {
        HEST_HEADER_LEN + GHES_V2_LEN * self.sources.len()
    }

    /// Always `false`: a table has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The table's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = alloc::vec![0; self.len()];
        let n = self.write_to(&mut out);
        debug_assert_eq!(n, Ok(out.len()));
        out
    }

    /// Writes the table at the start of `buf` and returns its length.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, AcpiError> {
        let needed = self.len();
        if buf.len() < needed {
            return Err(AcpiError::BufferTooSmall {
                needed,
                got: buf.len(),
            });
        }
        // Source IDs are unique u16s, so at most 65536 sources: the length
        // (under 6 MiB) always fits the header's u32.
        let mut head = HestHeader {
            header: self.ids.header(*b"HEST", HEST_REVISION, needed as u32),
            error_source_count: (self.sources.len() as u32).into(),
        };
        let records: Vec<GhesV2> = self.sources.iter().map(GhesV2Source::record).collect();
        head.header.checksum = checksum(&[head.as_bytes(), records.as_bytes()]);
        write_parts(buf, &[head.as_bytes(), records.as_bytes()])
    }
}

/// The byte that makes `parts` sum to zero.
fn checksum(parts: &[&[u8]]) -> u8 {
    let sum = parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0u8, |s, b| s.wrapping_add(*b));
    0u8.wrapping_sub(sum)
}

fn write_parts(buf: &mut [u8], parts: &[&[u8]]) -> Result<usize, AcpiError> {
    let needed = parts.iter().map(|p| p.len()).sum();
    if buf.len() < needed {
        return Err(AcpiError::BufferTooSmall {
            needed,
            got: buf.len(),
        });
    }
    let mut at = 0;
    for p in parts {
        buf[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    Ok(at)
}

#[cfg(test)]
mod tests;
