//! The byte layouts of the tables, as zerocopy records: little-endian,
//! unaligned, no padding. Field names and order follow Linux's
//! `include/acpi/actbl.h` (header, generic address) and `actbl1.h` (HEST),
//! which mirror the ACPI specification's tables; the sizes are checked at
//! compile time.
//!
//! They read a table back as well as they write one:
//!
//! ```
//! use fwcall::acpi::layout::{TableHeader, HEADER_LEN};
//! use zerocopy::FromBytes;
//!
//! let mut blob = [0u8; HEADER_LEN];
//! blob[..4].copy_from_slice(b"SDEI");
//! let (header, _) = TableHeader::ref_from_prefix(&blob).unwrap();
//! assert_eq!(&header.signature, b"SDEI");
//! ```

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of [`TableHeader`].
pub const HEADER_LEN: usize = 36;
/// Size of [`Gas`].
pub const GAS_LEN: usize = 12;
/// Size of [`HestHeader`].
pub const HEST_HEADER_LEN: usize = 40;
/// Size of [`HestNotify`] (also its own `length` field).
pub const NOTIFY_LEN: usize = 28;
/// Size of [`GhesV2`].
pub const GHES_V2_LEN: usize = 92;

/// The header every ACPI table starts with (`struct acpi_table_header`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct TableHeader {
    /// Four ASCII characters naming the table (`"SDEI"`, `"HEST"`).
    pub signature: [u8; 4],
    /// The whole table's length in bytes, header included.
    pub length: U32,
    /// The table's revision.
    pub revision: u8,
    /// Makes the bytes of the whole table sum to zero (mod 256).
    pub checksum: u8,
    /// OEM identification.
    pub oem_id: [u8; 6],
    /// The OEM's name for this table.
    pub oem_table_id: [u8; 8],
    /// The OEM's revision of this table.
    pub oem_revision: U32,
    /// The tool that created the table (`asl_compiler_id` in Linux).
    pub creator_id: [u8; 4],
    /// That tool's revision.
    pub creator_revision: U32,
}

/// A Generic Address Structure (`struct acpi_generic_address`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct Gas {
    /// Address space: 0 is system memory.
    pub space_id: u8,
    /// Width of the register in bits.
    pub bit_width: u8,
    /// Offset of the register in bits.
    pub bit_offset: u8,
    /// Access size: 1 byte, 2 word, 3 dword, 4 qword.
    pub access_width: u8,
    /// The register's address.
    pub address: U64,
}

/// The HEST's fixed part (`struct acpi_table_hest`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct HestHeader {
    /// Signature `"HEST"`.
    pub header: TableHeader,
    /// How many error-source structures follow.
    pub error_source_count: U32,
}

/// A Hardware Error Notification structure (`struct acpi_hest_notify`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct HestNotify {
    /// How the error source notifies the OS: 11 is Software Delegated
    /// Exception (SDEI).
    pub kind: u8,
    /// Length of this structure: 28.
    pub length: u8,
    /// Which fields the OS may rewrite (bits per field); 0 for none.
    pub config_write_enable: U16,
    /// Polling interval in ms (polled notification only).
    pub poll_interval: U32,
    /// The interrupt vector, or for SDEI the event number.
    pub vector: U32,
    /// Polling threshold value.
    pub polling_threshold_value: U32,
    /// Polling threshold window, in ms.
    pub polling_threshold_window: U32,
    /// Error threshold value.
    pub error_threshold_value: U32,
    /// Error threshold window, in ms.
    pub error_threshold_window: U32,
}

/// A Generic Hardware Error Source, version 2 (HEST type 10,
/// `struct acpi_hest_generic_v2`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct GhesV2 {
    /// Structure type: 10.
    pub kind: U16,
    /// The error source's ID, unique in the HEST.
    pub source_id: U16,
    /// The source this one is an alternate for, or `0xFFFF`.
    pub related_source_id: U16,
    /// Reserved, zero.
    pub reserved: u8,
    /// 1 when the source is enabled.
    pub enabled: u8,
    /// Error records the OS pre-allocates for this source (at least 1).
    pub records_to_preallocate: U32,
    /// Most sections one error record holds (at least 1).
    pub max_sections_per_record: U32,
    /// Largest raw error data, in bytes.
    pub max_raw_data_length: U32,
    /// A 64-bit register holding the address of the error status block.
    pub error_status_address: Gas,
    /// How the source notifies the OS.
    pub notify: HestNotify,
    /// Size of the error status block, in bytes.
    pub error_block_length: U32,
    /// The register the OS acknowledges a consumed error status block in.
    pub read_ack_register: Gas,
    /// Bits of the read-ack register the OS keeps (read, AND, ...).
    pub read_ack_preserve: U64,
    /// Bits it then sets (... OR, write back).
    pub read_ack_write: U64,
}

const _: () = assert!(size_of::<TableHeader>() == HEADER_LEN);
const _: () = assert!(size_of::<Gas>() == GAS_LEN);
const _: () = assert!(size_of::<HestHeader>() == HEST_HEADER_LEN);
const _: () = assert!(size_of::<HestNotify>() == NOTIFY_LEN);
const _: () = assert!(size_of::<GhesV2>() == GHES_V2_LEN);
