//! The DEN0057A stolen-time record: 64 bytes per vCPU, little-endian,
//! read-only for the guest.

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of one vCPU's record, and the stride between records.
pub const RECORD_SIZE: u64 = 64;
/// Required alignment of a record (and of the table base).
pub const RECORD_ALIGN: u64 = 64;
/// Offset of `stolen_time` inside the record.
pub const STOLEN_TIME_OFFSET: u64 = 8;
/// The only revision DEN0057A defines (1.0).
pub const REVISION: u32 = 0;
/// The only attributes value DEN0057A defines.
pub const ATTRIBUTES: u32 = 0;

/// One vCPU's stolen-time record as it lies in guest memory.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | `revision` (0) |
/// | 4 | 4 | `attributes` (0) |
/// | 8 | 8 | `stolen_time`, ns, monotonic |
/// | 16 | 48 | reserved, zero |
///
/// ```
/// use fwcall_pvtime::stolen::StolenTimeRecord;
/// use zerocopy::IntoBytes;
///
/// let r = StolenTimeRecord::new(0x1234);
/// assert_eq!(r.as_bytes().len(), 64);
/// assert_eq!(&r.as_bytes()[8..16], &0x1234u64.to_le_bytes());
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct StolenTimeRecord {
    /// Structure revision: 0.
    pub revision: U32,
    /// Attributes: 0.
    pub attributes: U32,
    /// Nanoseconds the vCPU was runnable but not running.
    pub stolen_time: U64,
    /// Reserved, written as zero.
    pub reserved: [u8; 48],
}

const _: () = assert!(core::mem::size_of::<StolenTimeRecord>() == RECORD_SIZE as usize);

impl StolenTimeRecord {
    /// A revision-0 record carrying `stolen_ns`.
    pub fn new(stolen_ns: u64) -> Self {
        StolenTimeRecord {
            revision: U32::new(REVISION),
            attributes: U32::new(ATTRIBUTES),
            stolen_time: U64::new(stolen_ns),
            reserved: [0; 48],
        }
    }

    /// Whether a guest would accept this record: Linux requires revision 0
    /// and attributes 0 and otherwise refuses stolen time with `-ENXIO`.
    pub fn guest_accepts(&self) -> bool {
        self.revision.get() == REVISION && self.attributes.get() == ATTRIBUTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout_is_revision_attributes_stolen_time_le() {
        let r = StolenTimeRecord::new(0x0102_0304_0506_0708);
        let b = r.as_bytes();
        assert_eq!(&b[0..4], &[0, 0, 0, 0]);
        assert_eq!(&b[4..8], &[0, 0, 0, 0]);
        assert_eq!(&b[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert!(b[16..].iter().all(|x| *x == 0));
        let back = StolenTimeRecord::read_from_bytes(b).unwrap();
        assert_eq!(back, r);
        assert!(back.guest_accepts());
    }

    #[test]
    fn guest_rejects_nonzero_revision_or_attributes() {
        let mut r = StolenTimeRecord::new(0);
        r.revision = U32::new(1);
        assert!(!r.guest_accepts());
        let mut r = StolenTimeRecord::new(0);
        r.attributes = U32::new(1);
        assert!(!r.guest_accepts());
    }
}
