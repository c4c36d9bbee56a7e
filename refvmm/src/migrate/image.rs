//! The saved VM on disk: a directory holding a manifest, the machine state
//! as text, and three blobs.
//!
//! ```text
//! DIR/manifest        what is in the image (written last: no manifest, no image)
//! DIR/machine.state   vCPU registers and MP state, the vGIC, the UART (text)
//! DIR/ram.img         guest RAM, raw and sparse (all-zero pages are holes)
//! DIR/pvtime.img      the PV-time region (stolen-time records), raw
//! DIR/fwcall.snap     fwcall's own snapshot blob, as `Vm::snapshot` made it
//! ```
//!
//! Both text files start with a format line (`fwcall-refvmm-image 1`,
//! `fwcall-refvmm-machine 1`); a reader refuses any other version and any
//! line it does not know. Numbers are hexadecimal with `0x` unless the
//! field is a count or an index. The manifest records each file's size
//! and, except for `ram.img`, its CRC-32; a reader checks them before it
//! trusts a byte.
//!
//! ```text
//! fwcall-refvmm-image 1
//! vcpus 2
//! ram 0x40000000 0x10000000
//! clock guest-count=0x1d4c0 realtime-ns=1700000000000000000 freq-hz=62500000
//! file machine.state 31337 crc32=0x1234abcd
//! file ram.img 268435456
//! ...
//! ```
//!
//! `machine.state` lines (`#` starts a comment):
//!
//! ```text
//! vcpu 0 features 0x4              kvm_vcpu_init features[0]
//! vcpu 0 mp-state 0                KVM_GET_MP_STATE
//! vcpu 0 reg 0x6030000000100040 0x00000000400a0000
//!                                  one per KVM_GET_REG_LIST entry, value as
//!                                  a little-endian integer of the register's size
//! gic dist 0x8 0x0100043b          the vGIC, one write per line, in restore order
//! gic redist 0 0x10100 0xffff      (per vCPU: redistributor, CPU interface
//! gic sysreg 0 0xc664 0x7           system register, line level)
//! gic level 0 0 0x0
//! gic level - 32 0x0
//! uart lcr 0x3
//! ```

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use fwcall::pvtime::offset::SavedClock;

use super::regs;

/// The manifest's name.
pub const MANIFEST: &str = "manifest";
/// The machine state's name.
pub const MACHINE: &str = "machine.state";
/// Guest RAM.
pub const RAM: &str = "ram.img";
/// The PV-time region.
pub const PVTIME: &str = "pvtime.img";
/// fwcall's snapshot.
pub const FWCALL: &str = "fwcall.snap";

/// The image format version this refvmm writes and reads.
pub const VERSION: u32 = 1;
const IMAGE_MAGIC: &str = "fwcall-refvmm-image";
const MACHINE_MAGIC: &str = "fwcall-refvmm-machine";
/// The text files are read whole; nothing a refvmm writes comes near this.
const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Why an image cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The directory already holds an image.
    #[error(
        "{0} already holds a saved VM (it has a manifest); save to a new directory, an image someone may still restore is never overwritten"
    )]
    Exists(PathBuf),
    /// A line that does not parse.
    #[error("{file} line {line}: {what}")]
    Syntax {
        /// The file.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// The wrong format or version.
    #[error(
        "{file} starts with `{found}`: not image format version {VERSION}, the one this refvmm reads; restore it with the refvmm that wrote it"
    )]
    Version {
        /// The file.
        file: &'static str,
        /// Its first line.
        found: String,
    },
    /// A file disagrees with the manifest.
    #[error(
        "{file}: {what} (the manifest says {expected}); the image is damaged or was written only in part"
    )]
    Damaged {
        /// The file.
        file: String,
        /// What differs.
        what: String,
        /// What the manifest recorded.
        expected: String,
    },
    /// Something the manifest requires is absent or inconsistent.
    #[error("the image is incomplete: {0}")]
    Incomplete(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file the manifest lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Its name inside the image directory.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its CRC-32/IEEE, for every file but RAM.
    pub crc32: Option<u32>,
}

/// The manifest: what the image holds and the facts a destination checks
/// first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Number of vCPUs.
    pub vcpus: u32,
    /// Guest RAM base.
    pub ram_base: u64,
    /// Guest RAM size.
    pub ram_size: u64,
    /// The guest's counter at the pause, with the source's realtime clock
    /// and counter frequency.
    pub clock: SavedClock,
    /// The files, in the order they were written.
    pub files: Vec<FileEntry>,
}

/// One vCPU register, as `KVM_GET_ONE_REG` gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reg {
    /// The one-reg ID.
    pub id: u64,
    /// Its bytes (little-endian), exactly [`regs::reg_size`] of them.
    pub value: Vec<u8>,
}

impl Reg {
    /// A register of up to 64 bits.
    pub fn u64(id: u64, v: u64) -> Self {
        let n = regs::reg_size(id).unwrap_or(8).min(8);
        Reg {
            id,
            value: v.to_le_bytes()[..n].to_vec(),
        }
    }

    /// Its value as an integer, when it has at most 64 bits.
    pub fn as_u64(&self) -> Option<u64> {
        if self.value.len() > 8 {
            return None;
        }
        let mut b = [0u8; 8];
        b[..self.value.len()].copy_from_slice(&self.value);
        Some(u64::from_le_bytes(b))
    }
}

/// One vCPU's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VcpuState {
    /// `kvm_vcpu_init.features[0]` it was created with.
    pub features: u32,
    /// `KVM_GET_MP_STATE`.
    pub mp_state: u32,
    /// Every register `KVM_GET_REG_LIST` named, in its order.
    pub regs: Vec<Reg>,
}

impl VcpuState {
    /// The register `id`, if saved.
    pub fn reg(&self, id: u64) -> Option<&Reg> {
        self.regs.iter().find(|r| r.id == id)
    }
}

/// The vGIC register groups a saved write goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GicKind {
    /// `KVM_DEV_ARM_VGIC_GRP_DIST_REGS` (32-bit).
    Dist,
    /// `KVM_DEV_ARM_VGIC_GRP_REDIST_REGS` (32-bit, per vCPU).
    Redist,
    /// `KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS` (64-bit, per vCPU).
    Sysreg,
    /// `KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO` line level (32 interrupts a word;
    /// per vCPU for PPIs, VM-wide for SPIs).
    Level,
}

impl GicKind {
    const fn word(self) -> &'static str {
        match self {
            GicKind::Dist => "dist",
            GicKind::Redist => "redist",
            GicKind::Sysreg => "sysreg",
            GicKind::Level => "level",
        }
    }

    /// Whether a write of this kind names a vCPU.
    pub const fn per_vcpu(self) -> bool {
        !matches!(self, GicKind::Dist)
    }
}

/// One vGIC register write. Saved state is a list of these, in the order
/// they must be replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicWrite {
    /// The register group.
    pub kind: GicKind,
    /// The vCPU (redistributor, CPU interface, PPI levels), or `None`.
    pub vcpu: Option<u32>,
    /// The register offset, system-register encoding or first INTID.
    pub offset: u64,
    /// The value.
    pub value: u64,
}

/// Everything but memory and fwcall: what `machine.state` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineState {
    /// One entry per vCPU.
    pub vcpus: Vec<VcpuState>,
    /// The vGIC, as the writes that restore it.
    pub gic: Vec<GicWrite>,
    /// The UART's line control register.
    pub uart_lcr: u8,
}

impl Manifest {
    /// The manifest as text.
    pub fn encode(&self) -> String {
        let mut s = format!("{IMAGE_MAGIC} {VERSION}\n");
        let _ = writeln!(s, "vcpus {}", self.vcpus);
        let _ = writeln!(s, "ram {:#x} {:#x}", self.ram_base, self.ram_size);
        let c = &self.clock;
        let _ = writeln!(
            s,
            "clock guest-count={:#x} realtime-ns={} freq-hz={}",
            c.guest_count, c.realtime_ns, c.freq_hz
        );
        for f in &self.files {
            let _ = write!(s, "file {} {}", f.name, f.size);
            if let Some(crc) = f.crc32 {
                let _ = write!(s, " crc32={crc:#010x}");
            }
            s.push('\n');
        }
        s
    }

    /// Parses a manifest.
    pub fn decode(text: &str) -> Result<Self, ImageError> {
        let mut lines = Lines::new(MANIFEST, text);
        lines.magic(IMAGE_MAGIC)?;
        let (mut vcpus, mut ram, mut clock) = (None, None, None);
        let mut files: Vec<FileEntry> = Vec::new();
        while let Some(mut l) = lines.next_line() {
            match l.word()? {
                "vcpus" => vcpus = Some(l.dec_u32()?),
                "ram" => ram = Some((l.hex()?, l.hex()?)),
                "clock" => {
                    clock = Some(SavedClock {
                        guest_count: l.keyed_hex("guest-count")?,
                        realtime_ns: l.keyed_dec("realtime-ns")?,
                        freq_hz: l.keyed_dec("freq-hz")?,
                    })
                }
                "file" => {
                    let name = l.word()?.to_string();
                    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
                        || name.starts_with('.')
                    {
                        return Err(l.error(format!("`{name}` is not a plain file name")));
                    }
                    if files.iter().any(|f| f.name == name) {
                        return Err(l.error(format!("{name} is listed twice")));
                    }
                    let size = l.dec()?;
                    let crc32 = if l.done() {
                        None
                    } else {
                        Some(
                            u32::try_from(l.keyed_hex("crc32")?)
                                .map_err(|_| l.error("crc32 has more than 32 bits".into()))?,
                        )
                    };
                    files.push(FileEntry { name, size, crc32 });
                }
                other => {
                    let other = other.to_string();
                    return Err(l.error(format!("unknown entry `{other}`")));
                }
            }
            l.end()?;
        }
        let missing =
            |what: &str| ImageError::Incomplete(format!("the manifest has no `{what}` line"));
        let vcpus = vcpus.ok_or_else(|| missing("vcpus"))?;
        let (ram_base, ram_size) = ram.ok_or_else(|| missing("ram"))?;
        let clock = clock.ok_or_else(|| missing("clock"))?;
        if vcpus == 0 || vcpus > crate::layout::MAX_VCPUS {
            return Err(ImageError::Incomplete(format!(
                "{vcpus} vCPUs: this refvmm runs 1..={}",
                crate::layout::MAX_VCPUS
            )));
        }
        for name in [MACHINE, RAM, PVTIME, FWCALL] {
            if !files.iter().any(|f| f.name == name) {
                return Err(ImageError::Incomplete(format!(
                    "the manifest does not list {name}"
                )));
            }
        }
        Ok(Manifest {
            vcpus,
            ram_base,
            ram_size,
            clock,
            files,
        })
    }

    /// The entry for `name`.
    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }
}

impl MachineState {
    /// The machine state as text.
    pub fn encode(&self) -> String {
        let mut s = format!("{MACHINE_MAGIC} {VERSION}\n");
        for (i, v) in self.vcpus.iter().enumerate() {
            let _ = writeln!(s, "vcpu {i} features {:#x}", v.features);
            let _ = writeln!(s, "vcpu {i} mp-state {}", v.mp_state);
            for r in &v.regs {
                let _ = write!(s, "vcpu {i} reg {:#018x} 0x", r.id);
                for b in r.value.iter().rev() {
                    let _ = write!(s, "{b:02x}");
                }
                s.push('\n');
            }
        }
        for w in &self.gic {
            let _ = write!(s, "gic {}", w.kind.word());
            match (w.kind, w.vcpu) {
                (GicKind::Dist, _) => {}
                (_, Some(v)) => {
                    let _ = write!(s, " {v}");
                }
                (_, None) => s.push_str(" -"),
            }
            if w.kind == GicKind::Level {
                let _ = writeln!(s, " {} {:#x}", w.offset, w.value);
            } else {
                let _ = writeln!(s, " {:#x} {:#x}", w.offset, w.value);
            }
        }
        let _ = writeln!(s, "uart lcr {:#x}", self.uart_lcr);
        s
    }

    /// Parses the machine state of an image with `vcpus` vCPUs.
    pub fn decode(text: &str, vcpus: u32) -> Result<Self, ImageError> {
        let mut lines = Lines::new(MACHINE, text);
        lines.magic(MACHINE_MAGIC)?;
        let mut m = MachineState {
            vcpus: vec![VcpuState::default(); vcpus as usize],
            ..MachineState::default()
        };
        let mut seen = vec![(false, false); vcpus as usize];
        let mut uart = None;
        while let Some(mut l) = lines.next_line() {
            match l.word()? {
                "vcpu" => {
                    let i = l.vcpu(vcpus)?;
                    match l.word()? {
                        "features" => {
                            m.vcpus[i].features = u32::try_from(l.hex()?)
                                .map_err(|_| l.error("features has more than 32 bits".into()))?;
                            seen[i].0 = true;
                        }
                        "mp-state" => {
                            m.vcpus[i].mp_state = l.dec_u32()?;
                            seen[i].1 = true;
                        }
                        "reg" => {
                            let id = l.hex()?;
                            let size = regs::reg_size(id).ok_or_else(|| {
                                l.error(format!("register {id:#x} has no valid size"))
                            })?;
                            let value = l.bytes(size)?;
                            if m.vcpus[i].regs.iter().any(|r| r.id == id) {
                                return Err(l.error(format!("register {id:#x} appears twice")));
                            }
                            m.vcpus[i].regs.push(Reg { id, value });
                        }
                        other => {
                            let other = other.to_string();
                            return Err(l.error(format!("unknown vCPU entry `{other}`")));
                        }
                    }
                }
                "gic" => {
                    let kind = match l.word()? {
                        "dist" => GicKind::Dist,
                        "redist" => GicKind::Redist,
                        "sysreg" => GicKind::Sysreg,
                        "level" => GicKind::Level,
                        other => {
                            let other = other.to_string();
                            return Err(l.error(format!("unknown vGIC group `{other}`")));
                        }
                    };
                    let vcpu = match kind {
                        GicKind::Dist => None,
                        GicKind::Level if l.peek() == Some("-") => {
                            l.word()?;
                            None
                        }
                        _ => Some(l.vcpu(vcpus)? as u32),
                    };
                    let offset = if kind == GicKind::Level {
                        l.dec()?
                    } else {
                        l.hex()?
                    };
                    let value = l.hex()?;
                    let limit = if kind == GicKind::Sysreg {
                        u64::MAX
                    } else {
                        u64::from(u32::MAX)
                    };
                    if value > limit || offset > u64::from(u32::MAX) {
                        return Err(l.error("value or offset wider than the register".into()));
                    }
                    m.gic.push(GicWrite {
                        kind,
                        vcpu,
                        offset,
                        value,
                    });
                }
                "uart" => {
                    if l.word()? != "lcr" {
                        return Err(l.error("unknown UART entry".into()));
                    }
                    uart = Some(
                        u8::try_from(l.hex()?).map_err(|_| l.error("lcr is one byte".into()))?,
                    );
                }
                other => {
                    let other = other.to_string();
                    return Err(l.error(format!("unknown entry `{other}`")));
                }
            }
            l.end()?;
        }
        if let Some(i) = seen.iter().position(|(f, s)| !(*f && *s)) {
            return Err(ImageError::Incomplete(format!(
                "vCPU {i} has no features or mp-state line"
            )));
        }
        if let Some(i) = m.vcpus.iter().position(|v| v.regs.is_empty()) {
            return Err(ImageError::Incomplete(format!("vCPU {i} has no registers")));
        }
        m.uart_lcr = uart.ok_or_else(|| ImageError::Incomplete("no UART state".into()))?;
        Ok(m)
    }
}

/// Line-by-line reading with positions for messages.
struct Lines<'a> {
    file: &'static str,
    iter: std::iter::Enumerate<std::str::Lines<'a>>,
}

struct Line<'a> {
    file: &'static str,
    no: usize,
    words: std::iter::Peekable<std::str::SplitAsciiWhitespace<'a>>,
}

impl<'a> Lines<'a> {
    fn new(file: &'static str, text: &'a str) -> Self {
        Lines {
            file,
            iter: text.lines().enumerate(),
        }
    }

    fn magic(&mut self, magic: &str) -> Result<(), ImageError> {
        let first = self.iter.next().map(|(_, l)| l.trim()).unwrap_or("");
        if first != format!("{magic} {VERSION}") {
            return Err(ImageError::Version {
                file: self.file,
                found: first.chars().take(60).collect(),
            });
        }
        Ok(())
    }

    fn next_line(&mut self) -> Option<Line<'a>> {
        for (i, l) in self.iter.by_ref() {
            let l = l.split('#').next().unwrap_or("");
            if !l.trim().is_empty() {
                return Some(Line {
                    file: self.file,
                    no: i + 1,
                    words: l.split_ascii_whitespace().peekable(),
                });
            }
        }
        None
    }
}

impl<'a> Line<'a> {
    fn error(&self, what: String) -> ImageError {
        ImageError::Syntax {
            file: self.file,
            line: self.no,
            what,
        }
    }

    fn word(&mut self) -> Result<&'a str, ImageError> {
        self.words
            .next()
            .ok_or_else(|| self.error("the line ends too early".into()))
    }

    fn peek(&mut self) -> Option<&'a str> {
        self.words.peek().copied()
    }

    fn done(&mut self) -> bool {
        self.words.peek().is_none()
    }

    fn end(&mut self) -> Result<(), ImageError> {
        match self.words.next() {
            None => Ok(()),
            Some(w) => {
                let w: String = w.chars().take(40).collect();
                Err(self.error(format!("unexpected `{w}` at the end")))
            }
        }
    }

    fn hex_of(&self, w: &str) -> Result<u64, ImageError> {
        w.strip_prefix("0x")
            .filter(|h| !h.is_empty() && h.len() <= 16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.error(format!("`{}` is not a 0x number", short(w))))
    }

    fn hex(&mut self) -> Result<u64, ImageError> {
        let w = self.word()?;
        self.hex_of(w)
    }

    fn dec(&mut self) -> Result<u64, ImageError> {
        let w = self.word()?;
        w.parse()
            .map_err(|_| self.error(format!("`{}` is not a decimal number", short(w))))
    }

    fn dec_u32(&mut self) -> Result<u32, ImageError> {
        let v = self.dec()?;
        u32::try_from(v).map_err(|_| self.error(format!("{v} does not fit 32 bits")))
    }

    fn keyed(&mut self, key: &str) -> Result<&'a str, ImageError> {
        let w = self.word()?;
        w.strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .ok_or_else(|| self.error(format!("expected {key}=..., found `{}`", short(w))))
    }

    fn keyed_hex(&mut self, key: &str) -> Result<u64, ImageError> {
        let v = self.keyed(key)?;
        self.hex_of(v)
    }

    fn keyed_dec(&mut self, key: &str) -> Result<u64, ImageError> {
        let v = self.keyed(key)?;
        v.parse()
            .map_err(|_| self.error(format!("{key}: `{}` is not a decimal number", short(v))))
    }

    fn vcpu(&mut self, vcpus: u32) -> Result<usize, ImageError> {
        let i = self.dec()?;
        if i >= u64::from(vcpus) {
            return Err(self.error(format!("vCPU {i} does not exist (the image has {vcpus})")));
        }
        Ok(i as usize)
    }

    /// A `size`-byte little-endian value written as exactly `2 * size`
    /// hexadecimal digits, most significant first.
    fn bytes(&mut self, size: usize) -> Result<Vec<u8>, ImageError> {
        let w = self.word()?;
        let digits = w
            .strip_prefix("0x")
            .filter(|d| d.len() == 2 * size && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                self.error(format!(
                    "a {size}-byte register needs 0x and {} hex digits, not `{}`",
                    2 * size,
                    short(w)
                ))
            })?;
        let mut out: Vec<u8> = (0..size)
            .map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect();
        out.reverse();
        Ok(out)
    }
}

fn short(w: &str) -> String {
    w.chars().take(40).collect()
}

/// CRC-32/IEEE of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Writes one file of the image and records it: `data` is written in full
/// and synced.
pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> Result<FileEntry, ImageError> {
    let path = dir.join(name);
    let mut f = File::create(&path).map_err(io_err(&path))?;
    f.write_all(data).map_err(io_err(&path))?;
    f.sync_all().map_err(io_err(&path))?;
    Ok(FileEntry {
        name: name.to_string(),
        size: data.len() as u64,
        crc32: Some(crc32(data)),
    })
}

/// Creates the image directory; refuses one that already holds an image.
pub fn create_dir(dir: &Path) -> Result<(), ImageError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    if dir.join(MANIFEST).exists() {
        return Err(ImageError::Exists(dir.to_path_buf()));
    }
    Ok(())
}

/// Writes the manifest last and atomically (a temporary name, then a
/// rename): until it exists, the directory is not an image.
pub fn commit(dir: &Path, manifest: &Manifest) -> Result<(), ImageError> {
    let tmp = dir.join(".manifest.tmp");
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(manifest.encode().as_bytes())
        .map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    let path = dir.join(MANIFEST);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    // Make the rename itself durable.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads and checks a whole small file against its manifest entry.
pub fn read_checked(dir: &Path, entry: &FileEntry) -> Result<Vec<u8>, ImageError> {
    let path = dir.join(&entry.name);
    let f = File::open(&path).map_err(io_err(&path))?;
    let actual = f.metadata().map_err(io_err(&path))?.len();
    check_size(entry, actual)?;
    if entry.size > MAX_TEXT_BYTES {
        return Err(ImageError::Damaged {
            file: entry.name.clone(),
            what: format!("{} bytes is more than a refvmm ever writes", entry.size),
            expected: "a small file".into(),
        });
    }
    let mut data = Vec::with_capacity(entry.size as usize);
    f.take(entry.size)
        .read_to_end(&mut data)
        .map_err(io_err(&path))?;
    check_size(entry, data.len() as u64)?;
    if let Some(want) = entry.crc32 {
        let got = crc32(&data);
        if got != want {
            return Err(ImageError::Damaged {
                file: entry.name.clone(),
                what: format!("CRC-32 {got:#010x}"),
                expected: format!("{want:#010x}"),
            });
        }
    }
    Ok(data)
}

/// Checks a file's size against its manifest entry.
pub fn check_size(entry: &FileEntry, actual: u64) -> Result<(), ImageError> {
    if actual != entry.size {
        return Err(ImageError::Damaged {
            file: entry.name.clone(),
            what: format!("{actual} bytes"),
            expected: format!("{} bytes", entry.size),
        });
    }
    Ok(())
}

/// A whole image, read and checked (RAM stays a file: it is mapped, not
/// read).
#[derive(Debug)]
pub struct Image {
    /// Where it is.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The machine state.
    pub machine: MachineState,
    /// The PV-time region's bytes.
    pub pvtime: Vec<u8>,
    /// fwcall's snapshot.
    pub fwcall: Vec<u8>,
}

impl Image {
    /// Reads the image in `dir`, checking every file against the manifest.
    /// Nothing in the directory is modified.
    pub fn read(dir: &Path) -> Result<Image, ImageError> {
        let path = dir.join(MANIFEST);
        let mut text = String::new();
        File::open(&path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    ImageError::Incomplete(format!(
                        "{} has no manifest: it is not a saved VM, or the save did not finish",
                        dir.display()
                    ))
                } else {
                    ImageError::Io {
                        path: path.clone(),
                        source: e,
                    }
                }
            })?
            .take(MAX_TEXT_BYTES)
            .read_to_string(&mut text)
            .map_err(io_err(&path))?;
        let manifest = Manifest::decode(&text)?;
        let entry = |name| {
            manifest
                .file(name)
                .ok_or_else(|| ImageError::Incomplete(format!("no {name}")))
        };
        let machine_bytes = read_checked(dir, entry(MACHINE)?)?;
        let machine_text = String::from_utf8(machine_bytes).map_err(|_| ImageError::Damaged {
            file: MACHINE.into(),
            what: "not UTF-8 text".into(),
            expected: "text".into(),
        })?;
        let machine = MachineState::decode(&machine_text, manifest.vcpus)?;
        let pvtime = read_checked(dir, entry(PVTIME)?)?;
        if pvtime.len() as u64 != crate::layout::PVTIME_SIZE {
            return Err(ImageError::Incomplete(format!(
                "the PV-time region is {} bytes, this refvmm's is {}",
                pvtime.len(),
                crate::layout::PVTIME_SIZE
            )));
        }
        let fwcall = read_checked(dir, entry(FWCALL)?)?;
        let ram = entry(RAM)?;
        if ram.size != manifest.ram_size {
            return Err(ImageError::Incomplete(format!(
                "ram.img is listed with {} bytes but the guest has {}",
                ram.size, manifest.ram_size
            )));
        }
        let ram_path = dir.join(RAM);
        let actual = fs::metadata(&ram_path).map_err(io_err(&ram_path))?.len();
        check_size(ram, actual)?;
        Ok(Image {
            dir: dir.to_path_buf(),
            manifest,
            machine,
            pvtime,
            fwcall,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fwcall::kvm::abi;

    fn sample_machine() -> MachineState {
        let v = |pc: u64| VcpuState {
            features: 1 << 2,
            mp_state: 0,
            regs: vec![
                Reg::u64(abi::core_reg_id(abi::kvm_regs_offset::PC), pc),
                Reg {
                    id: 0x6040_0000_0010_0054,
                    value: (1u8..=16).collect(),
                },
                Reg::u64(0x6020_0000_0010_00d4, 0x1234),
                Reg::u64(abi::STD_HYP_BMAP, 1),
            ],
        };
        MachineState {
            vcpus: vec![v(0x4000_0000), v(0xffff_8000_0000_1000)],
            gic: vec![
                GicWrite {
                    kind: GicKind::Dist,
                    vcpu: None,
                    offset: 8,
                    value: 0x0100_043b,
                },
                GicWrite {
                    kind: GicKind::Redist,
                    vcpu: Some(1),
                    offset: 0x1_0100,
                    value: 0xffff,
                },
                GicWrite {
                    kind: GicKind::Sysreg,
                    vcpu: Some(0),
                    offset: 0xc664,
                    value: u64::MAX,
                },
                GicWrite {
                    kind: GicKind::Level,
                    vcpu: None,
                    offset: 32,
                    value: 5,
                },
                GicWrite {
                    kind: GicKind::Level,
                    vcpu: Some(1),
                    offset: 0,
                    value: 1 << 27,
                },
            ],
            uart_lcr: 3,
        }
    }

    fn sample_manifest() -> Manifest {
        Manifest {
            vcpus: 2,
            ram_base: 0x4000_0000,
            ram_size: 256 << 20,
            clock: SavedClock {
                guest_count: 0x1d4c0,
                realtime_ns: 1_700_000_000_000_000_000,
                freq_hz: 62_500_000,
            },
            files: [MACHINE, RAM, PVTIME, FWCALL]
                .iter()
                .map(|n| FileEntry {
                    name: (*n).into(),
                    size: 10,
                    crc32: (*n != RAM).then_some(0xdead_beef),
                })
                .collect(),
        }
    }

    #[test]
    fn machine_state_round_trips_through_text() {
        let m = sample_machine();
        let text = m.encode();
        assert!(text.starts_with("fwcall-refvmm-machine 1\n"));
        // The 16-byte register is a 32-digit number, most significant first.
        assert!(text.contains("reg 0x6040000000100054 0x100f0e0d0c0b0a090807060504030201\n"));
        assert!(text.contains("reg 0x60200000001000d4 0x00001234\n"));
        assert!(
            text.contains("gic level - 32 0x5\n") && text.contains("gic level 1 0 0x8000000\n")
        );
        assert_eq!(MachineState::decode(&text, 2).unwrap(), m);
    }

    #[test]
    fn manifest_round_trips_and_lists_every_file() {
        let m = sample_manifest();
        let text = m.encode();
        assert!(text.contains("file ram.img 10\n"));
        assert!(text.contains("file pvtime.img 10 crc32=0xdeadbeef\n"));
        assert_eq!(Manifest::decode(&text).unwrap(), m);
        let without_ram = text.replace("file ram.img 10\n", "");
        assert!(matches!(
            Manifest::decode(&without_ram),
            Err(ImageError::Incomplete(w)) if w.contains("ram.img")
        ));
    }

    #[test]
    fn other_versions_and_unknown_lines_are_refused_with_the_line() {
        let text = sample_machine().encode();
        let v2 = text.replacen("fwcall-refvmm-machine 1", "fwcall-refvmm-machine 2", 1);
        assert!(matches!(
            MachineState::decode(&v2, 2),
            Err(ImageError::Version { .. })
        ));
        let extra = format!("{text}vcpu 0 turbo 1\n");
        let err = MachineState::decode(&extra, 2).unwrap_err().to_string();
        assert!(err.contains("line") && err.contains("turbo"), "{err}");
        let manifest = format!("{}frobnicate 1\n", sample_manifest().encode());
        assert!(
            Manifest::decode(&manifest)
                .unwrap_err()
                .to_string()
                .contains("frobnicate")
        );
    }

    #[test]
    fn hostile_machine_state_is_an_error_not_a_panic() {
        let good = sample_machine().encode();
        let cases = [
            // vCPU out of range, register value of the wrong width, a
            // register with an impossible size, a vGIC value wider than
            // its register, a duplicate register, missing pieces.
            good.replace("vcpu 1 mp-state", "vcpu 7 mp-state"),
            good.replace("0x00001234", "0x1234"),
            good.replace(
                "reg 0x60200000001000d4 0x00001234",
                "reg 0x60f0000000000000 0x00",
            ),
            good.replace(
                "gic redist 1 0x10100 0xffff",
                "gic redist 1 0x10100 0x1ffffffff",
            ),
            format!("{good}vcpu 0 reg 0x6030000000160001 0x0000000000000001\n"),
            good.replace("uart lcr 0x3\n", ""),
            good.replace("vcpu 0 features 0x4\n", ""),
            "fwcall-refvmm-machine 1\nvcpu 0 reg 0x60300000\n".to_string(),
            String::new(),
            "\u{0}\u{ffff}".to_string(),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(MachineState::decode(c, 2).is_err(), "case {i} accepted");
        }
        // Any truncation of a valid file parses or fails, never panics.
        for cut in 0..good.len() {
            if good.is_char_boundary(cut) {
                let _ = MachineState::decode(&good[..cut], 2);
            }
        }
        let manifest = sample_manifest().encode();
        for cut in 0..manifest.len() {
            let _ = Manifest::decode(&manifest[..cut]);
        }
    }

    #[test]
    fn files_are_checked_against_the_manifest() {
        let dir = std::env::temp_dir().join(format!("refvmm-image-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        create_dir(&dir).unwrap();
        let e = write_file(&dir, PVTIME, b"hello").unwrap();
        assert_eq!(read_checked(&dir, &e).unwrap(), b"hello");
        let mut wrong = e.clone();
        wrong.crc32 = Some(e.crc32.unwrap() ^ 1);
        assert!(matches!(
            read_checked(&dir, &wrong),
            Err(ImageError::Damaged { .. })
        ));
        wrong = e.clone();
        wrong.size = 6;
        assert!(matches!(
            read_checked(&dir, &wrong),
            Err(ImageError::Damaged { .. })
        ));
        // No manifest yet: not an image. Committed: the directory is taken.
        assert!(matches!(Image::read(&dir), Err(ImageError::Incomplete(_))));
        commit(&dir, &sample_manifest()).unwrap();
        assert!(matches!(create_dir(&dir), Err(ImageError::Exists(_))));
        let _ = fs::remove_dir_all(&dir);
    }
}
