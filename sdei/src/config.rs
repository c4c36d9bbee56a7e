//! What the VMM decides at construction: the SDEI version, the platform
//! events, the dynamic slots and the guest CPU features.

use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

/// The vendor-defined low 32 bits of `SDEI_VERSION`: ASCII `"fwc"`.
pub const VENDOR_ID: u32 = 0x0066_7763;

/// The SDEI version the server reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SdeiVersion {
    /// 1.0: what TF-A reports; `SDEI_FEATURES(1)` is `INVALID_PARAMETERS`.
    V1_0,
    /// 1.1 (DEN0054C): `SDEI_FEATURES(1)` (relative mode) answers 0.
    #[default]
    V1_1,
}

impl SdeiVersion {
    /// The `SDEI_VERSION` result: major in bits 62:48, minor in 47:32,
    /// [`VENDOR_ID`] in 31:0.
    ///
    /// ```
    /// use fwcall_sdei::SdeiVersion;
    /// assert_eq!(SdeiVersion::V1_0.to_word() >> 32, 1 << 16);
    /// assert_eq!(SdeiVersion::V1_1.to_word() >> 32, (1 << 16) | 1);
    /// ```
    pub const fn to_word(self) -> u64 {
        let minor = match self {
            SdeiVersion::V1_0 => 0,
            SdeiVersion::V1_1 => 1,
        };
        (1 << 48) | (minor << 32) | VENDOR_ID as u64
    }

    /// Whether `SDEI_FEATURES` knows selector 1 (`RELATIVE_MODE`).
    pub const fn has_relative_mode_query(self) -> bool {
        matches!(self, SdeiVersion::V1_1)
    }
}

impl fmt::Display for SdeiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SdeiVersion::V1_0 => "1.0",
            SdeiVersion::V1_1 => "1.1",
        })
    }
}

/// A string that is neither `1.0` nor `1.1`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an SDEI version fwcall serves: write 1.0 or 1.1")]
pub struct ParseSdeiVersionError(pub heapless::String<16>);

fn shown(s: &str) -> heapless::String<16> {
    let mut out = heapless::String::new();
    for c in s.chars().take(12) {
        let _ = out.push(c);
    }
    out
}

impl FromStr for SdeiVersion {
    type Err = ParseSdeiVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.0" => Ok(SdeiVersion::V1_0),
            "1.1" => Ok(SdeiVersion::V1_1),
            other => Err(ParseSdeiVersionError(shown(other))),
        }
    }
}

/// Private (one instance per vCPU) or shared (one instance per VM).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EventKind {
    /// One independent instance per vCPU; dispatched only there.
    Private,
    /// One instance for the VM; routed to one vCPU per trigger.
    Shared,
}

/// Normal or critical; fixed per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Priority {
    /// May be preempted by a critical event; never preempts.
    Normal,
    /// Preempts a running normal handler; never preempted.
    Critical,
}

/// A platform event the VMM declares and later raises with [`crate::Sdei::raise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EventDecl {
    /// The event number: `1..=0x7fff_ffff`, outside [`DYNAMIC_EVENT_RANGE`].
    pub number: u32,
    /// Private or shared.
    pub kind: EventKind,
    /// Normal or critical.
    pub priority: Priority,
}

bitflags::bitflags! {
    /// Guest CPU features that change the `PSTATE` an exception entry
    /// (handler entry, `COMPLETE_AND_RESUME`) produces.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    pub struct CpuFeatures: u32 {
        /// `FEAT_PAN`: `PSTATE.PAN` is set on entry when `SCTLR_EL1.SPAN` is 0.
        const PAN = 1 << 0;
        /// `FEAT_SSBS`: `PSTATE.SSBS` takes `SCTLR_EL1.DSSBS` on entry.
        const SSBS = 1 << 1;
        /// `FEAT_MTE`: `PSTATE.TCO` is set on entry.
        const MTE = 1 << 2;
        /// `FEAT_BTI`: `PSTATE.BTYPE` is cleared on entry.
        const BTI = 1 << 3;
        /// `FEAT_NMI`: `PSTATE.ALLINT` takes NOT `SCTLR_EL1.SPINTMASK` on entry.
        const NMI = 1 << 4;
    }
}

impl CpuFeatures {
    /// The features a PE reports in its ID registers: `ID_AA64PFR1_EL1`
    /// fields BT (bits 3:0, `FEAT_BTI`), SSBS (7:4, `FEAT_SSBS`), MTE
    /// (11:8, `FEAT_MTE`: `PSTATE.TCO` exists from value 1) and NMI (39:36,
    /// `FEAT_NMI`), and `ID_AA64MMFR1_EL1` field PAN (23:20, `FEAT_PAN`).
    /// Each is present when its field is 1 or more (all are unsigned).
    ///
    /// ```
    /// use fwcall_sdei::CpuFeatures;
    /// // A Neoverse-N1-like PE: PAN, SSBS; no MTE, BTI or NMI.
    /// let f = CpuFeatures::from_id_registers(0x0000_0000_0000_0020, 0x0000_0000_1012_2122);
    /// assert_eq!(f, CpuFeatures::PAN | CpuFeatures::SSBS);
    /// ```
    pub const fn from_id_registers(id_aa64pfr1_el1: u64, id_aa64mmfr1_el1: u64) -> Self {
        const fn field(reg: u64, lsb: u32) -> bool {
            (reg >> lsb) & 0xf != 0
        }
        let mut bits = 0;
        if field(id_aa64pfr1_el1, 0) {
            bits |= Self::BTI.bits();
        }
        if field(id_aa64pfr1_el1, 4) {
            bits |= Self::SSBS.bits();
        }
        if field(id_aa64pfr1_el1, 8) {
            bits |= Self::MTE.bits();
        }
        if field(id_aa64pfr1_el1, 36) {
            bits |= Self::NMI.bits();
        }
        if field(id_aa64mmfr1_el1, 20) {
            bits |= Self::PAN.bits();
        }
        Self::from_bits_retain(bits)
    }
}

impl Default for CpuFeatures {
    fn default() -> Self {
        CpuFeatures::PAN
    }
}

/// A feature list that names something unknown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a CPU feature: use a comma-separated list of pan, ssbs, mte, bti, nmi, or none"
)]
pub struct ParseFeaturesError(pub heapless::String<16>);

impl FromStr for CpuFeatures {
    type Err = ParseFeaturesError;

    /// Parses the fwtrace `features` list: `pan,ssbs,mte,bti,nmi` or `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "none" {
            return Ok(CpuFeatures::empty());
        }
        let mut out = CpuFeatures::empty();
        for name in s.split(',') {
            out |= match name.trim() {
                "pan" => CpuFeatures::PAN,
                "ssbs" => CpuFeatures::SSBS,
                "mte" => CpuFeatures::MTE,
                "bti" => CpuFeatures::BTI,
                "nmi" => CpuFeatures::NMI,
                other => return Err(ParseFeaturesError(shown(other))),
            };
        }
        Ok(out)
    }
}

/// First event number of the dynamic (bindable) slots. Private slot `i` is
/// `DYNAMIC_PRIVATE_BASE + i`; shared slot `j` is `DYNAMIC_SHARED_BASE + j`.
pub const DYNAMIC_PRIVATE_BASE: u32 = 0x4000_0000;
/// First event number of the shared dynamic slots.
pub const DYNAMIC_SHARED_BASE: u32 = 0x4001_0000;
/// Event numbers reserved for dynamic slots; platform events may not use them.
pub const DYNAMIC_EVENT_RANGE: core::ops::Range<u32> = 0x4000_0000..0x4002_0000;
/// Most private events per vCPU (event 0 + platform private + private slots).
pub const MAX_PRIVATE_EVENTS: usize = 64;
/// Most shared events (platform shared + shared slots).
pub const MAX_SHARED_EVENTS: usize = 64;
/// Most vCPUs one server handles.
pub const MAX_VCPUS: usize = 4096;
/// Default number of private dynamic slots.
pub const DEFAULT_PRIVATE_SLOTS: u16 = 4;
/// Default number of shared dynamic slots.
pub const DEFAULT_SHARED_SLOTS: u16 = 8;

/// The server's configuration.
///
/// ```
/// use fwcall_sdei::{SdeiConfig, EventDecl, EventKind, Priority};
/// let config = SdeiConfig {
///     events: vec![EventDecl { number: 0x100, kind: EventKind::Shared, priority: Priority::Critical }],
///     ..SdeiConfig::default()
/// };
/// assert_eq!(config.private_slots, 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SdeiConfig {
    /// The version `SDEI_VERSION` reports.
    pub version: SdeiVersion,
    /// Platform events (event 0 always exists and must not be listed).
    pub events: Vec<EventDecl>,
    /// Private dynamic slots (PPIs) for `SDEI_INTERRUPT_BIND`.
    pub private_slots: u16,
    /// Shared dynamic slots (SPIs) for `SDEI_INTERRUPT_BIND`.
    pub shared_slots: u16,
    /// The guest's CPU features relevant to exception-entry `PSTATE`.
    pub cpu_features: CpuFeatures,
}

impl Default for SdeiConfig {
    fn default() -> Self {
        SdeiConfig {
            version: SdeiVersion::V1_1,
            events: Vec::new(),
            private_slots: DEFAULT_PRIVATE_SLOTS,
            shared_slots: DEFAULT_SHARED_SLOTS,
            cpu_features: CpuFeatures::default(),
        }
    }
}

/// A configuration the server refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdeiConfigError {
    /// Event 0 is built in.
    #[error("event 0 is built in (private, normal, signalable): remove it from the event list")]
    Event0Redeclared,
    /// The same number twice.
    #[error("event {0:#x} is declared twice: give each platform event its own number")]
    DuplicateEvent(u32),
    /// Bit 31 set.
    #[error("event {0:#x} has bit 31 set: SDEI event numbers are non-negative 32-bit values")]
    NegativeEvent(u32),
    /// Inside the dynamic-slot range.
    #[error(
        "event {0:#x} lies in 0x40000000..0x40020000, reserved for dynamic (bindable) slots: pick another number"
    )]
    ReservedEvent(u32),
    /// Too many private events.
    #[error(
        "{0} private events (event 0 + platform + private slots) exceed the limit of 64: declare fewer or lower private_slots"
    )]
    TooManyPrivateEvents(usize),
    /// Too many shared events.
    #[error(
        "{0} shared events (platform + shared slots) exceed the limit of 64: declare fewer or lower shared_slots"
    )]
    TooManySharedEvents(usize),
    /// No vCPUs.
    #[error("the VM has no vCPUs: pass one MPIDR per vCPU")]
    NoVcpus,
    /// Too many vCPUs.
    #[error("{0} vCPUs exceed the limit of 4096")]
    TooManyVcpus(usize),
    /// An MPIDR with bits outside the affinity and flag fields.
    #[error(
        "vCPU {index} has MPIDR {mpidr:#x}, which has bits outside Aff3..Aff0 and the U/MT/RES1 flags"
    )]
    MalformedMpidr {
        /// The vCPU.
        index: usize,
        /// Its MPIDR.
        mpidr: u64,
    },
    /// Two vCPUs with the same affinity.
    #[error(
        "vCPUs {first} and {second} have the same affinity {affinity:#x}: every vCPU needs its own MPIDR"
    )]
    DuplicateMpidr {
        /// The lower index.
        first: usize,
        /// The higher index.
        second: usize,
        /// The shared affinity.
        affinity: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn version_word_has_major_1_minor_and_fwc_vendor() {
        assert_eq!(SdeiVersion::V1_0.to_word(), 0x0001_0000_0066_7763);
        assert_eq!(SdeiVersion::V1_1.to_word(), 0x0001_0001_0066_7763);
        assert_eq!("1.0".parse(), Ok(SdeiVersion::V1_0));
        assert_eq!(SdeiVersion::V1_1.to_string(), "1.1");
        assert!("1.2".parse::<SdeiVersion>().is_err());
    }

    #[test]
    fn features_come_from_their_id_register_fields() {
        let none = CpuFeatures::from_id_registers(0, 0);
        assert_eq!(none, CpuFeatures::empty());
        // One field at a time, at its lowest and highest value; neighbours
        // (AArch32 fields, CSV2_frac, MPAM_frac, SpecSEI, LO) stay clear.
        let cases = [
            (1u64, 0u64, CpuFeatures::BTI),
            (0xf, 0, CpuFeatures::BTI),
            (1 << 4, 0, CpuFeatures::SSBS),
            (2 << 4, 0, CpuFeatures::SSBS),
            (1 << 8, 0, CpuFeatures::MTE),
            (3 << 8, 0, CpuFeatures::MTE),
            (1 << 36, 0, CpuFeatures::NMI),
            (0, 1 << 20, CpuFeatures::PAN),
            (0, 3 << 20, CpuFeatures::PAN),
            (
                0xf << 32 | 0xf << 16 | 0xf << 12 | 0xf << 40,
                0,
                CpuFeatures::empty(),
            ),
            (0, 0xf << 24 | 0xf << 16, CpuFeatures::empty()),
        ];
        for (pfr1, mmfr1, want) in cases {
            assert_eq!(
                CpuFeatures::from_id_registers(pfr1, mmfr1),
                want,
                "{pfr1:#x} {mmfr1:#x}"
            );
        }
        let all = CpuFeatures::from_id_registers(1 | 1 << 4 | 2 << 8 | 1 << 36, 1 << 20);
        assert_eq!(all, CpuFeatures::all());
    }

    #[test]
    fn features_parse_from_the_fwtrace_list() {
        assert_eq!("none".parse(), Ok(CpuFeatures::empty()));
        assert_eq!("pan,ssbs,mte,bti,nmi".parse(), Ok(CpuFeatures::all()));
        assert_eq!("ssbs".parse(), Ok(CpuFeatures::SSBS));
        assert!("pan,sve".parse::<CpuFeatures>().is_err());
        assert_eq!(CpuFeatures::default(), CpuFeatures::PAN);
    }
}
