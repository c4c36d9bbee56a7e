//! The container: a header, then length-prefixed sections.
//!
//! ```text
//! FileHeader (32 bytes)
//!   magic "FWCALLSN", format version, header length, total length,
//!   CRC-32 of the whole blob (computed with this field zero), section count
//! SectionHeader (16 bytes) + payload, zero-padded to 8 bytes  x section count
//!   tag, flags (bit 0: required), payload length
//! ```
//!
//! Every integer is little-endian. A reader skips a section whose tag it
//! does not know when the writer marked it optional, and refuses it when
//! the writer marked it required; so a newer fwcall can add optional
//! sections without bumping the format version, and an older one restores
//! them safely during a rollback.
//!
//! The parser is strict so that one state has exactly one encoding: the
//! header length is the one of this version, reserved flag bits and
//! padding bytes are zero, no bytes trail the last section, and a tag
//! appears at most once.
//!
//! A blob has at most [`MAX_SECTIONS`] sections (a hard limit of format
//! version 1: readers refuse more with [`FormatError::TooManySections`],
//! writers never write more). Sections hold whole services, never one
//! per vCPU or per event, so the limit bounds nothing a VM can grow
//! into, and parsing is linear in the blob: one pass over the sections,
//! then a sort of at most that many tags to find a duplicate.

use alloc::vec::Vec;

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::FormatError;

/// The eight bytes every snapshot starts with.
pub const MAGIC: [u8; 8] = *b"FWCALLSN";

/// The format version this fwcall writes. Bumped only for a change an older
/// reader could misread; new data goes into new optional sections.
pub const FORMAT_VERSION: u32 = 1;

/// The oldest format version this fwcall reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

/// Section flag: a reader that does not know the tag must refuse the blob.
pub const SECTION_REQUIRED: u32 = 1 << 0;

/// Most sections a blob may have (format version 1). fwcall writes three;
/// the rest is room for optional sections of newer writers.
pub const MAX_SECTIONS: usize = 256;

/// The file header.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct FileHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// The format version.
    pub version: U32,
    /// `size_of::<FileHeader>()` of the writer's version.
    pub header_len: U32,
    /// Length of the whole blob in bytes.
    pub total_len: U64,
    /// CRC-32 (IEEE) of the whole blob with this field set to zero.
    pub checksum: U32,
    /// Number of sections that follow.
    pub sections: U32,
}

/// The header of one section.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SectionHeader {
    /// What the section holds.
    pub tag: U32,
    /// [`SECTION_REQUIRED`] and reserved bits (zero).
    pub flags: U32,
    /// Payload length in bytes, before padding.
    pub len: U64,
}

/// Length of [`FileHeader`].
pub const HEADER_LEN: usize = core::mem::size_of::<FileHeader>();
const SECTION_HEADER_LEN: usize = core::mem::size_of::<SectionHeader>();
const CHECKSUM_OFFSET: usize = 24;

const _: () = assert!(HEADER_LEN == 32 && SECTION_HEADER_LEN == 16);

/// `len` rounded up to a multiple of 8, or `None` if that overflows.
fn padded(len: usize) -> Option<usize> {
    len.checked_add(7).map(|l| l & !7)
}

/// Builds a blob section by section.
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
    sections: u32,
}

impl Default for Writer {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl Writer {
    /// An empty blob with room for the header and about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER_LEN.saturating_add(capacity));
        buf.resize(HEADER_LEN, 0);
        Writer { buf, sections: 0 }
    }

    /// Appends a section whose payload `fill` writes.
    pub fn section(&mut self, tag: u32, required: bool, fill: impl FnOnce(&mut Vec<u8>)) {
        let at = self.buf.len();
        self.buf.resize(at + SECTION_HEADER_LEN, 0);
        fill(&mut self.buf);
        let len = self.buf.len() - at - SECTION_HEADER_LEN;
        let header = SectionHeader {
            tag: U32::new(tag),
            flags: U32::new(if required { SECTION_REQUIRED } else { 0 }),
            len: U64::new(len as u64),
        };
        self.buf[at..at + SECTION_HEADER_LEN].copy_from_slice(header.as_bytes());
        // A payload is at most the whole buffer, far from overflowing.
        let end = at + SECTION_HEADER_LEN + padded(len).unwrap_or(len);
        self.buf.resize(end, 0);
        self.sections += 1;
    }

    /// Seals the blob: header, length and checksum.
    pub fn finish(mut self) -> Vec<u8> {
        let header = FileHeader {
            magic: MAGIC,
            version: U32::new(FORMAT_VERSION),
            header_len: U32::new(HEADER_LEN as u32),
            total_len: U64::new(self.buf.len() as u64),
            checksum: U32::new(0),
            sections: U32::new(self.sections),
        };
        self.buf[..HEADER_LEN].copy_from_slice(header.as_bytes());
        let crc = crc32fast::hash(&self.buf);
        self.buf[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// Recomputes the checksum of a blob in place (for tools and tests that
/// edit a blob on purpose). Does nothing to a blob shorter than a header.
pub fn reseal(blob: &mut [u8]) {
    if blob.len() < HEADER_LEN {
        return;
    }
    blob[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4].fill(0);
    let crc = crc32fast::hash(blob);
    blob[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
}

/// One section of a parsed blob.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    /// Its tag.
    pub tag: u32,
    /// Whether the writer marked it required.
    pub required: bool,
    /// Its payload.
    pub payload: &'a [u8],
}

/// Checks the header and checksum and splits the blob into sections.
/// Returns the format version and the sections in blob order. Allocates
/// one vector of section references, bounded by the blob's length.
pub fn parse(blob: &[u8]) -> Result<(u32, Vec<Section<'_>>), FormatError> {
    let (header, _) = FileHeader::read_from_prefix(blob).map_err(|_| FormatError::Truncated {
        what: "file header",
        need: HEADER_LEN as u64,
        have: blob.len() as u64,
    })?;
    if header.magic != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = header.version.get();
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(FormatError::UnsupportedVersion {
            found: version,
            max: FORMAT_VERSION,
        });
    }
    let total = header.total_len.get();
    if total != blob.len() as u64 {
        return Err(FormatError::LengthMismatch {
            header: total,
            actual: blob.len() as u64,
        });
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&blob[..CHECKSUM_OFFSET]);
    hasher.update(&[0; 4]);
    hasher.update(&blob[CHECKSUM_OFFSET + 4..]);
    let crc = hasher.finalize();
    if crc != header.checksum.get() {
        return Err(FormatError::BadChecksum {
            stored: header.checksum.get(),
            computed: crc,
        });
    }
    if header.header_len.get() as usize != HEADER_LEN {
        return Err(FormatError::Malformed {
            what: "header length",
        });
    }
    let count = header.sections.get() as usize;
    if count > MAX_SECTIONS {
        return Err(FormatError::TooManySections {
            count: header.sections.get(),
            max: MAX_SECTIONS as u32,
        });
    }
    // Each section takes at least its header: a count that cannot fit is a lie.
    if count > (blob.len() - HEADER_LEN) / SECTION_HEADER_LEN {
        return Err(FormatError::Malformed {
            what: "section count",
        });
    }
    let mut sections: Vec<Section<'_>> = Vec::with_capacity(count);
    let mut rest = &blob[HEADER_LEN..];
    for _ in 0..count {
        let (sh, body) =
            SectionHeader::read_from_prefix(rest).map_err(|_| FormatError::Truncated {
                what: "section header",
                need: SECTION_HEADER_LEN as u64,
                have: rest.len() as u64,
            })?;
        let flags = sh.flags.get();
        if flags & !SECTION_REQUIRED != 0 {
            return Err(FormatError::Malformed {
                what: "section flags",
            });
        }
        let tag = sh.tag.get();
        let len = sh.len.get();
        let truncated = FormatError::Truncated {
            what: "section payload",
            need: len,
            have: body.len() as u64,
        };
        let len = usize::try_from(len).map_err(|_| truncated.clone())?;
        let pad = padded(len).filter(|p| *p <= body.len()).ok_or(truncated)?;
        let (payload, padding) = body[..pad].split_at(len);
        if padding.iter().any(|b| *b != 0) {
            return Err(FormatError::Malformed {
                what: "section padding",
            });
        }
        sections.push(Section {
            tag,
            required: flags & SECTION_REQUIRED != 0,
            payload,
        });
        rest = &body[pad..];
    }
    if !rest.is_empty() {
        return Err(FormatError::Malformed {
            what: "trailing bytes after the last section",
        });
    }
    let mut tags: Vec<u32> = sections.iter().map(|s| s.tag).collect();
    tags.sort_unstable();
    if let Some(w) = tags.windows(2).find(|w| w[0] == w[1]) {
        return Err(FormatError::DuplicateSection { tag: Tag(w[0]) });
    }
    Ok((version, sections))
}

/// A section tag, shown as its four ASCII characters when printable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Tag(pub u32);

impl Tag {
    /// The tag of four ASCII characters, first character in the low byte.
    pub const fn fourcc(s: &[u8; 4]) -> Self {
        Tag(u32::from_le_bytes(*s))
    }
}

impl core::fmt::Display for Tag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let b = self.0.to_le_bytes();
        if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            for c in b {
                write!(f, "{}", c as char)?;
            }
            Ok(())
        } else {
            write!(f, "{:#010x}", self.0)
        }
    }
}

/// Reads fixed-layout records from a payload, with every read checked.
#[derive(Debug)]
pub struct Reader<'a> {
    what: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `payload`, naming `what` in errors.
    pub fn new(what: &'static str, payload: &'a [u8]) -> Self {
        Reader {
            what,
            rest: payload,
        }
    }

    /// Reads one record.
    pub fn record<T: FromBytes + KnownLayout + Immutable + Unaligned + Copy>(
        &mut self,
    ) -> Result<T, FormatError> {
        let (v, rest) = T::read_from_prefix(self.rest).map_err(|_| FormatError::Truncated {
            what: self.what,
            need: core::mem::size_of::<T>() as u64,
            have: self.rest.len() as u64,
        })?;
        self.rest = rest;
        Ok(v)
    }

    /// Checks that `n` items of `item` bytes each fit in what is left, so a
    /// hostile count never drives an allocation; returns `n`.
    pub fn fits(&self, n: u32, item: usize) -> Result<usize, FormatError> {
        let need = u64::from(n).saturating_mul(item.max(1) as u64);
        if need > self.rest.len() as u64 {
            return Err(FormatError::Truncated {
                what: self.what,
                need,
                have: self.rest.len() as u64,
            });
        }
        Ok(n as usize)
    }

    /// Reads a `u32` count of records of type `T` and checks they fit.
    pub fn count<T>(&mut self) -> Result<usize, FormatError> {
        let n = self.record::<U32>()?.get();
        self.fits(n, core::mem::size_of::<T>())
    }

    /// Fails unless every byte was consumed.
    pub fn end(self) -> Result<(), FormatError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(FormatError::Malformed { what: self.what })
        }
    }
}

/// Appends a record.
pub fn put<T: IntoBytes + Immutable>(buf: &mut Vec<u8>, v: &T) {
    buf.extend_from_slice(v.as_bytes());
}

/// Appends a `u32` count (callers check it fits with [`super::SnapshotError`]).
pub fn put_count(buf: &mut Vec<u8>, n: u32) {
    put(buf, &U32::new(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_sections() -> Vec<u8> {
        let mut w = Writer::default();
        w.section(1, true, |b| b.extend_from_slice(&[1, 2, 3]));
        w.section(2, false, |_| {});
        w.finish()
    }

    #[test]
    fn sections_round_trip_with_padding() {
        let blob = two_sections();
        assert_eq!(blob.len(), HEADER_LEN + 16 + 8 + 16);
        let (v, s) = parse(&blob).unwrap();
        assert_eq!(v, FORMAT_VERSION);
        assert_eq!(
            (s[0].tag, s[0].required, s[0].payload),
            (1, true, &[1u8, 2, 3][..])
        );
        assert_eq!((s[1].tag, s[1].required, s[1].payload.len()), (2, false, 0));
    }

    #[test]
    fn huge_section_length_is_truncation_not_overflow() {
        let mut blob = two_sections();
        blob[HEADER_LEN + 8..HEADER_LEN + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        reseal(&mut blob);
        assert!(matches!(
            parse(&blob),
            Err(FormatError::Truncated {
                what: "section payload",
                ..
            })
        ));
    }

    #[test]
    fn non_zero_padding_is_refused() {
        let mut blob = two_sections();
        blob[HEADER_LEN + 16 + 3] = 1;
        reseal(&mut blob);
        assert_eq!(
            parse(&blob).unwrap_err(),
            FormatError::Malformed {
                what: "section padding"
            }
        );
    }

    #[test]
    fn duplicate_tag_is_refused() {
        let mut w = Writer::default();
        w.section(7, false, |_| {});
        w.section(7, false, |_| {});
        assert_eq!(
            parse(&w.finish()).unwrap_err(),
            FormatError::DuplicateSection { tag: Tag(7) }
        );
    }

    /// A blob of `n` empty optional sections with distinct tags.
    fn empty_sections(n: u32) -> Vec<u8> {
        let mut w = Writer::default();
        for tag in 0..n {
            w.section(tag, false, |_| {});
        }
        w.finish()
    }

    #[test]
    fn the_section_limit_is_accepted_and_one_more_refused_by_name() {
        let blob = empty_sections(MAX_SECTIONS as u32);
        assert_eq!(parse(&blob).unwrap().1.len(), MAX_SECTIONS);
        assert_eq!(
            parse(&empty_sections(MAX_SECTIONS as u32 + 1)).unwrap_err(),
            FormatError::TooManySections {
                count: MAX_SECTIONS as u32 + 1,
                max: MAX_SECTIONS as u32
            }
        );
    }

    #[test]
    fn a_duplicate_among_many_sections_is_found() {
        let mut w = Writer::default();
        for tag in (0..200).chain([57]) {
            w.section(tag, false, |_| {});
        }
        assert_eq!(
            parse(&w.finish()).unwrap_err(),
            FormatError::DuplicateSection { tag: Tag(57) }
        );
    }

    #[test]
    fn tag_shows_as_fourcc() {
        assert_eq!(alloc::format!("{}", Tag::fourcc(b"SDEI")), "SDEI");
        assert_eq!(alloc::format!("{}", Tag(1)), "0x00000001");
    }
}
