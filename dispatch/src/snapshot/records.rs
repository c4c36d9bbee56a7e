//! Format version 1: the records of each section, and the conversion
//! between them and the plain state types.
//!
//! Decoding checks the encoding only (sizes, counts, flag and padding
//! bits, enum values); whether the state makes sense is checked when it is
//! loaded into the SDEI and PV-time servers.

use alloc::vec::Vec;

use fwcall_psci::{PowerState, PsciVersion};
use fwcall_pvtime::{Gpa, LptState, PvTimeState, VcpuPvState};
use fwcall_sdei::{
    CpuFeatures, EventDecl, EventKind, Priority, PrivateEventState, Routing, SavedContextState,
    SdeiState, SdeiVersion, SharedEventState, SlotState, VcpuSdeiState,
};
use fwcall_smccc::arch::{Workaround2Level, WorkaroundLevel};
use fwcall_smccc::{CALL_REGS, Mpidr, SmcccVersion, SocId, Workarounds};
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::format::{Reader, Tag, Writer, put, put_count};
use super::{FormatError, SnapshotError};
use crate::features::{FirmwareFeatures, StdFeatures, StdHypFeatures, VendorHypFeatures};

/// Section `ABI `: the guest ABI (required).
pub const TAG_ABI: Tag = Tag::fourcc(b"ABI ");
/// Section `SDEI`: the SDEI state (required; present exactly when the ABI has SDEI).
pub const TAG_SDEI: Tag = Tag::fourcc(b"SDEI");
/// Section `PVTM`: the PV-time state (required).
pub const TAG_PVTIME: Tag = Tag::fourcc(b"PVTM");
/// Section `PSCI`: the PSCI version and every vCPU's power state
/// (required; present exactly when the VM serves PSCI, so an fwcall
/// without PSCI refuses the blob by name).
pub const TAG_PSCI: Tag = Tag::fourcc(b"PSCI");
/// Section `TRNG`: the TRNG version and UUID (required; present exactly
/// when the VM serves TRNG).
pub const TAG_TRNG: Tag = Tag::fourcc(b"TRNG");

/// What the guest was promised: every value it can observe through a call,
/// which a restore must reproduce exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GuestAbi {
    /// One MPIDR per vCPU.
    pub mpidrs: Vec<Mpidr>,
    /// What `SMCCC_VERSION` reports.
    pub smccc_version: SmcccVersion,
    /// The feature words in force.
    pub features: FirmwareFeatures,
    /// Whether the guest had made a call (the words could no longer change).
    pub features_frozen: bool,
    /// `SMCCC_ARCH_SOC_ID`.
    pub soc_id: Option<SocId>,
    /// `SMCCC_ARCH_WORKAROUND_*` states.
    pub workarounds: Workarounds,
    /// SDEI, if served.
    pub sdei: Option<SdeiAbi>,
    /// The PSCI version, if fwcall serves PSCI.
    pub psci: Option<PsciVersion>,
    /// TRNG, if served.
    pub trng: Option<TrngAbi>,
}

/// The guest-visible shape of TRNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TrngAbi {
    /// The UUID `TRNG_GET_UUID` returns (RFC 4122 byte order).
    pub uuid: [u8; 16],
}

/// The guest-visible shape of SDEI.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SdeiAbi {
    /// `SDEI_VERSION`.
    pub version: SdeiVersion,
    /// Declared platform events, in the configuration's order.
    pub events: Vec<EventDecl>,
    /// Private dynamic slots (`SDEI_FEATURES(0)`).
    pub private_slots: u16,
    /// Shared dynamic slots.
    pub shared_slots: u16,
    /// Guest CPU features that shape handler-entry `PSTATE`.
    pub cpu_features: CpuFeatures,
}

/// A decoded snapshot: the guest ABI and the state of each service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SnapshotContents {
    /// The guest ABI.
    pub abi: GuestAbi,
    /// SDEI state (exactly when `abi.sdei` is `Some`).
    pub sdei: Option<SdeiState>,
    /// PV-time state (placement, LPT and per-vCPU stolen time).
    pub pvtime: PvTimeState,
    /// Every vCPU's power state (exactly when `abi.psci` is `Some`).
    pub power: Option<Vec<PowerState>>,
}

impl SnapshotContents {
    /// A configuration that serves exactly this snapshot's guest ABI, on a
    /// host of the saved native frequency, with no RAM and reserved regions
    /// covering exactly the PV-time structures: what `inspect` checks the
    /// snapshot against, and a starting point for a destination's own.
    pub fn config(&self) -> crate::config::VmConfig {
        super::compat::own_config(&self.abi, &self.pvtime)
    }

    /// Encodes these contents as the current format version (what
    /// [`crate::Vm::snapshot`] writes). Nothing is validated here: a
    /// restore checks everything, so tools may build or edit contents.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        encode(self, 4096)
    }
}

// ---- records ---------------------------------------------------------------

const ABI_FROZEN: u32 = 1 << 0;
const ABI_SDEI: u32 = 1 << 1;
const ABI_SOC_ID: u32 = 1 << 2;

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct AbiRecord {
    smccc_version: U32,
    flags: U32,
    features: [U64; 3],
    soc_version: U32,
    soc_revision: U32,
    workarounds: [u8; 3],
    _pad: u8,
    sdei_version: U32,
    sdei_private_slots: U32,
    sdei_shared_slots: U32,
    sdei_cpu_features: U32,
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct EventRecord {
    number: U32,
    shared: u8,
    critical: u8,
    _pad: [u8; 2],
}

const SHARED_PENDING: u8 = 1 << 0;
const SHARED_TARGET: u8 = 1 << 1;
const SHARED_RUNNING: u8 = 1 << 2;

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SharedRecord {
    event: U32,
    status: u8,
    routing: u8,
    flags: u8,
    _pad: u8,
    entry: U64,
    arg: U64,
    affinity: U64,
    target: U32,
    running_on: U32,
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SlotRecord {
    event: U32,
    bound: U32,
    intid: U32,
    _pad: U32,
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct VcpuSdeiRecord {
    masked: U32,
    private: U32,
    stack: U32,
    _pad: U32,
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PrivateRecord {
    event: U32,
    status: u8,
    pending: u8,
    _pad: [u8; 2],
    entry: U64,
    arg: U64,
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct ContextRecord {
    event: U32,
    _pad: U32,
    x: [U64; CALL_REGS],
    pc: U64,
    pstate: U64,
    sctlr_el1: U64,
}

const PV_ENABLED: u32 = 1 << 0;
const PV_TABLE: u32 = 1 << 1;
const PV_LPT: u32 = 1 << 2;
const PV_LPT_QUERIED: u32 = 1 << 3;

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PvRecord {
    flags: U32,
    native_hz: U32,
    table_base: U64,
    lpt_ipa: U64,
    lpt_pv_hz: U32,
    lpt_native_hz: U32,
    lpt_sequence: U64,
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct PsciRecord {
    version: U32,
    _pad: U32,
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct TrngRecord {
    version: U32,
    _pad: U32,
    uuid: [u8; 16],
}

/// `TRNG_VERSION` 1.0, the only version there is.
const TRNG_VERSION_1_0: u32 = 0x1_0000;

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct VcpuPvRecord {
    stolen_ns: U64,
    guest_enabled: U32,
    _pad: U32,
}

/// Bytes per vCPU and per event, for the size estimate.
pub(crate) const VCPU_BYTES: usize = 8
    + core::mem::size_of::<VcpuSdeiRecord>()
    + core::mem::size_of::<VcpuPvRecord>()
    + core::mem::size_of::<ContextRecord>();
pub(crate) const PRIVATE_BYTES: usize = core::mem::size_of::<PrivateRecord>();

// ---- writing ---------------------------------------------------------------

fn count(what: &'static str, n: usize) -> Result<u32, SnapshotError> {
    u32::try_from(n).map_err(|_| SnapshotError::TooMany { what, count: n })
}

fn sdei_version_word(v: SdeiVersion) -> u32 {
    (v.to_word() >> 32) as u32
}

/// Encodes a snapshot.
pub(crate) fn encode(c: &SnapshotContents, capacity: usize) -> Result<Vec<u8>, SnapshotError> {
    // Check every count before writing, so `Writer` closures cannot fail.
    let a = &c.abi;
    count("vCPUs", a.mpidrs.len())?;
    if let Some(s) = &a.sdei {
        count("platform events", s.events.len())?;
    }
    if let Some(s) = &c.sdei {
        count("shared events", s.shared.len())?;
        count("slots", s.slots.len())?;
        count("SDEI vCPUs", s.vcpus.len())?;
        for v in &s.vcpus {
            count("private events", v.private.len())?;
            count("saved contexts", v.stack.len())?;
        }
    }
    count("PV-time vCPUs", c.pvtime.vcpus.len())?;
    if let Some(p) = &c.power {
        count("power states", p.len())?;
    }

    let mut w = Writer::with_capacity(capacity);
    w.section(TAG_ABI.0, true, |b| write_abi(b, a));
    if let Some(s) = &c.sdei {
        w.section(TAG_SDEI.0, true, |b| write_sdei(b, s));
    }
    w.section(TAG_PVTIME.0, true, |b| write_pvtime(b, &c.pvtime));
    if let Some(v) = a.psci {
        let power: &[PowerState] = c.power.as_deref().unwrap_or(&[]);
        w.section(TAG_PSCI.0, true, |b| write_psci(b, v, power));
    }
    if let Some(t) = &a.trng {
        w.section(TAG_TRNG.0, true, |b| {
            put(
                b,
                &TrngRecord {
                    version: U32::new(TRNG_VERSION_1_0),
                    _pad: U32::new(0),
                    uuid: t.uuid,
                },
            )
        });
    }
    Ok(w.finish())
}

fn write_abi(b: &mut Vec<u8>, a: &GuestAbi) {
    let mut flags = 0;
    if a.features_frozen {
        flags |= ABI_FROZEN;
    }
    if a.sdei.is_some() {
        flags |= ABI_SDEI;
    }
    if a.soc_id.is_some() {
        flags |= ABI_SOC_ID;
    }
    let soc = a.soc_id.unwrap_or(SocId {
        version: 0,
        revision: 0,
    });
    let f = &a.features;
    let rec = AbiRecord {
        smccc_version: U32::new(a.smccc_version.to_word()),
        flags: U32::new(flags),
        features: [
            U64::new(f.std.bits()),
            U64::new(f.std_hyp.bits()),
            U64::new(f.vendor_hyp.bits()),
        ],
        soc_version: U32::new(soc.version),
        soc_revision: U32::new(soc.revision),
        workarounds: [
            a.workarounds.wa1 as u8,
            a.workarounds.wa2 as u8,
            a.workarounds.wa3 as u8,
        ],
        _pad: 0,
        sdei_version: U32::new(a.sdei.as_ref().map_or(0, |s| sdei_version_word(s.version))),
        sdei_private_slots: U32::new(a.sdei.as_ref().map_or(0, |s| u32::from(s.private_slots))),
        sdei_shared_slots: U32::new(a.sdei.as_ref().map_or(0, |s| u32::from(s.shared_slots))),
        sdei_cpu_features: U32::new(a.sdei.as_ref().map_or(0, |s| s.cpu_features.bits())),
    };
    put(b, &rec);
    put_count(b, a.mpidrs.len() as u32);
    for m in &a.mpidrs {
        put(b, &U64::new(m.0));
    }
    let events: &[EventDecl] = a.sdei.as_ref().map_or(&[], |s| &s.events);
    put_count(b, events.len() as u32);
    for e in events {
        put(
            b,
            &EventRecord {
                number: U32::new(e.number),
                shared: (e.kind == EventKind::Shared) as u8,
                critical: (e.priority == Priority::Critical) as u8,
                _pad: [0; 2],
            },
        );
    }
}

fn write_sdei(b: &mut Vec<u8>, s: &SdeiState) {
    put_count(b, s.shared.len() as u32);
    for e in &s.shared {
        let mut flags = 0;
        if e.pending {
            flags |= SHARED_PENDING;
        }
        if e.target.is_some() {
            flags |= SHARED_TARGET;
        }
        if e.running_on.is_some() {
            flags |= SHARED_RUNNING;
        }
        put(
            b,
            &SharedRecord {
                event: U32::new(e.event),
                status: e.status,
                routing: e.routing.bits() as u8,
                flags,
                _pad: 0,
                entry: U64::new(e.entry),
                arg: U64::new(e.arg),
                affinity: U64::new(e.affinity),
                target: U32::new(e.target.unwrap_or(0)),
                running_on: U32::new(e.running_on.unwrap_or(0)),
            },
        );
    }
    put_count(b, s.slots.len() as u32);
    for sl in &s.slots {
        put(
            b,
            &SlotRecord {
                event: U32::new(sl.event),
                bound: U32::new(sl.intid.is_some() as u32),
                intid: U32::new(sl.intid.unwrap_or(0)),
                _pad: U32::new(0),
            },
        );
    }
    put_count(b, s.vcpus.len() as u32);
    for v in &s.vcpus {
        put(
            b,
            &VcpuSdeiRecord {
                masked: U32::new(v.masked as u32),
                private: U32::new(v.private.len() as u32),
                stack: U32::new(v.stack.len() as u32),
                _pad: U32::new(0),
            },
        );
        for p in &v.private {
            put(
                b,
                &PrivateRecord {
                    event: U32::new(p.event),
                    status: p.status,
                    pending: p.pending as u8,
                    _pad: [0; 2],
                    entry: U64::new(p.entry),
                    arg: U64::new(p.arg),
                },
            );
        }
        for c in &v.stack {
            put(
                b,
                &ContextRecord {
                    event: U32::new(c.event),
                    _pad: U32::new(0),
                    x: c.x.map(U64::new),
                    pc: U64::new(c.pc),
                    pstate: U64::new(c.pstate),
                    sctlr_el1: U64::new(c.sctlr_el1),
                },
            );
        }
    }
}

fn write_pvtime(b: &mut Vec<u8>, p: &PvTimeState) {
    let mut flags = 0;
    if p.enabled {
        flags |= PV_ENABLED;
    }
    if p.stolen_time_base.is_some() {
        flags |= PV_TABLE;
    }
    if let Some(l) = &p.lpt {
        flags |= PV_LPT;
        if l.guest_queried {
            flags |= PV_LPT_QUERIED;
        }
    }
    put(
        b,
        &PvRecord {
            flags: U32::new(flags),
            native_hz: U32::new(p.native_hz),
            table_base: U64::new(p.stolen_time_base.map_or(0, |g| g.0)),
            lpt_ipa: U64::new(p.lpt.map_or(0, |l| l.ipa.0)),
            lpt_pv_hz: U32::new(p.lpt.map_or(0, |l| l.pv_hz)),
            lpt_native_hz: U32::new(p.lpt.map_or(0, |l| l.native_hz)),
            lpt_sequence: U64::new(p.lpt.map_or(0, |l| l.sequence)),
        },
    );
    put_count(b, p.vcpus.len() as u32);
    for v in &p.vcpus {
        put(
            b,
            &VcpuPvRecord {
                stolen_ns: U64::new(v.stolen_ns),
                guest_enabled: U32::new(v.guest_enabled as u32),
                _pad: U32::new(0),
            },
        );
    }
}

fn write_psci(b: &mut Vec<u8>, v: PsciVersion, power: &[PowerState]) {
    put(
        b,
        &PsciRecord {
            version: U32::new(v.to_word()),
            _pad: U32::new(0),
        },
    );
    put_count(b, power.len() as u32);
    for s in power {
        // A CPU_ON in progress has finished in a paused VM: save it as on.
        b.push(match s {
            PowerState::Off => 0,
            PowerState::On | PowerState::OnPending => 1,
        });
    }
}

// ---- reading ---------------------------------------------------------------

fn bad(what: &'static str, value: u64) -> FormatError {
    FormatError::BadValue { what, value }
}

fn flag_bits(what: &'static str, v: u32, known: u32) -> Result<u32, FormatError> {
    if v & !known != 0 {
        Err(bad(what, u64::from(v)))
    } else {
        Ok(v)
    }
}

fn boolean(what: &'static str, v: u32) -> Result<bool, FormatError> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(bad(what, u64::from(other))),
    }
}

fn zero(what: &'static str, v: u64) -> Result<(), FormatError> {
    if v == 0 { Ok(()) } else { Err(bad(what, v)) }
}

fn slots(what: &'static str, v: u32) -> Result<u16, FormatError> {
    u16::try_from(v).map_err(|_| bad(what, u64::from(v)))
}

/// Decodes the `ABI ` section.
pub(crate) fn read_abi(payload: &[u8]) -> Result<GuestAbi, FormatError> {
    let mut r = Reader::new("ABI section", payload);
    let rec: AbiRecord = r.record()?;
    let flags = flag_bits(
        "ABI flags",
        rec.flags.get(),
        ABI_FROZEN | ABI_SDEI | ABI_SOC_ID,
    )?;
    let smccc_word = rec.smccc_version.get();
    let smccc_version = SmcccVersion::from_word(smccc_word)
        .filter(|v| SmcccVersion::SUPPORTED.contains(v))
        .ok_or(bad("SMCCC version", u64::from(smccc_word)))?;
    let [std, std_hyp, vendor] = rec.features.map(|w| w.get());
    let features = FirmwareFeatures {
        std: StdFeatures::from_bits_retain(std),
        std_hyp: StdHypFeatures::from_bits_retain(std_hyp),
        vendor_hyp: VendorHypFeatures::from_bits_retain(vendor),
    };
    let soc_id = if flags & ABI_SOC_ID != 0 {
        let s = SocId {
            version: rec.soc_version.get(),
            revision: rec.soc_revision.get(),
        };
        s.validate()
            .map_err(|_| bad("SoC ID", u64::from(s.version) << 32 | u64::from(s.revision)))?;
        Some(s)
    } else {
        zero(
            "SoC ID without the SoC ID flag",
            u64::from(rec.soc_version.get()) | u64::from(rec.soc_revision.get()),
        )?;
        None
    };
    let [w1, w2, w3] = rec.workarounds;
    let workarounds = Workarounds {
        wa1: WorkaroundLevel::from_level(u64::from(w1))
            .ok_or(bad("WORKAROUND_1 level", u64::from(w1)))?,
        wa2: Workaround2Level::from_level(u64::from(w2))
            .ok_or(bad("WORKAROUND_2 level", u64::from(w2)))?,
        wa3: WorkaroundLevel::from_level(u64::from(w3))
            .ok_or(bad("WORKAROUND_3 level", u64::from(w3)))?,
    };
    zero("ABI padding", u64::from(rec._pad))?;

    let n = r.count::<U64>()?;
    let mut mpidrs = Vec::with_capacity(n);
    for _ in 0..n {
        mpidrs.push(Mpidr(r.record::<U64>()?.get()));
    }
    let n = r.count::<EventRecord>()?;
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        let e: EventRecord = r.record()?;
        let kind = match e.shared {
            0 => EventKind::Private,
            1 => EventKind::Shared,
            v => return Err(bad("event kind", u64::from(v))),
        };
        let priority = match e.critical {
            0 => Priority::Normal,
            1 => Priority::Critical,
            v => return Err(bad("event priority", u64::from(v))),
        };
        zero("event padding", u64::from(u16::from_le_bytes(e._pad)))?;
        events.push(EventDecl {
            number: e.number.get(),
            kind,
            priority,
        });
    }
    r.end()?;

    let sdei = if flags & ABI_SDEI != 0 {
        let word = rec.sdei_version.get();
        let version = [SdeiVersion::V1_0, SdeiVersion::V1_1]
            .into_iter()
            .find(|v| sdei_version_word(*v) == word)
            .ok_or(bad("SDEI version", u64::from(word)))?;
        let cpu = rec.sdei_cpu_features.get();
        Some(SdeiAbi {
            version,
            events,
            private_slots: slots("private slot count", rec.sdei_private_slots.get())?,
            shared_slots: slots("shared slot count", rec.sdei_shared_slots.get())?,
            cpu_features: CpuFeatures::from_bits(cpu).ok_or(bad("CPU features", u64::from(cpu)))?,
        })
    } else {
        let unused = u64::from(rec.sdei_version.get())
            | u64::from(rec.sdei_private_slots.get())
            | u64::from(rec.sdei_shared_slots.get())
            | u64::from(rec.sdei_cpu_features.get());
        zero("SDEI fields without the SDEI flag", unused)?;
        zero("platform events without SDEI", events.len() as u64)?;
        None
    };
    Ok(GuestAbi {
        mpidrs,
        smccc_version,
        features,
        features_frozen: flags & ABI_FROZEN != 0,
        soc_id,
        workarounds,
        sdei,
        psci: None,
        trng: None,
    })
}

/// Decodes the `PSCI` section: the version and the power states.
pub(crate) fn read_psci(payload: &[u8]) -> Result<(PsciVersion, Vec<PowerState>), FormatError> {
    let mut r = Reader::new("PSCI section", payload);
    let rec: PsciRecord = r.record()?;
    let word = rec.version.get();
    let version = PsciVersion::from_word(word).ok_or(bad("PSCI version", u64::from(word)))?;
    zero("PSCI padding", u64::from(rec._pad.get()))?;
    let n = r.count::<u8>()?;
    let mut power = Vec::with_capacity(n);
    for _ in 0..n {
        power.push(match r.record::<u8>()? {
            0 => PowerState::Off,
            1 => PowerState::On,
            v => return Err(bad("power state", u64::from(v))),
        });
    }
    r.end()?;
    Ok((version, power))
}

/// Decodes the `TRNG` section.
pub(crate) fn read_trng(payload: &[u8]) -> Result<TrngAbi, FormatError> {
    let mut r = Reader::new("TRNG section", payload);
    let rec: TrngRecord = r.record()?;
    let word = rec.version.get();
    if word != TRNG_VERSION_1_0 {
        return Err(bad("TRNG version", u64::from(word)));
    }
    zero("TRNG padding", u64::from(rec._pad.get()))?;
    r.end()?;
    Ok(TrngAbi { uuid: rec.uuid })
}

fn status(v: u8) -> Result<u8, FormatError> {
    // The SDEI server checks which of these are legal handler states.
    if v > 7 {
        Err(bad("handler status", u64::from(v)))
    } else {
        Ok(v)
    }
}

/// Decodes the `SDEI` section.
pub(crate) fn read_sdei(payload: &[u8]) -> Result<SdeiState, FormatError> {
    let mut r = Reader::new("SDEI section", payload);
    let n = r.count::<SharedRecord>()?;
    let mut shared = Vec::with_capacity(n);
    for _ in 0..n {
        let e: SharedRecord = r.record()?;
        let flags = flag_bits("shared event flags", u32::from(e.flags), 0b111)? as u8;
        let routing = match e.routing {
            0 => Routing::Any,
            1 => Routing::Pe,
            v => return Err(bad("routing mode", u64::from(v))),
        };
        zero("shared event padding", u64::from(e._pad))?;
        let opt = |bit: u8, v: U32, what| {
            if flags & bit != 0 {
                Ok(Some(v.get()))
            } else {
                zero(what, u64::from(v.get())).map(|_| None)
            }
        };
        shared.push(SharedEventState {
            event: e.event.get(),
            status: status(e.status)?,
            entry: e.entry.get(),
            arg: e.arg.get(),
            routing,
            affinity: e.affinity.get(),
            pending: flags & SHARED_PENDING != 0,
            target: opt(SHARED_TARGET, e.target, "target without the target flag")?,
            running_on: opt(
                SHARED_RUNNING,
                e.running_on,
                "running vCPU without the running flag",
            )?,
        });
    }
    let n = r.count::<SlotRecord>()?;
    let mut slot_states = Vec::with_capacity(n);
    for _ in 0..n {
        let s: SlotRecord = r.record()?;
        let intid = if boolean("slot bound flag", s.bound.get())? {
            Some(s.intid.get())
        } else {
            zero("INTID of an unbound slot", u64::from(s.intid.get()))?;
            None
        };
        zero("slot padding", u64::from(s._pad.get()))?;
        slot_states.push(SlotState {
            event: s.event.get(),
            intid,
        });
    }
    let n = r.count::<VcpuSdeiRecord>()?;
    let mut vcpus = Vec::with_capacity(n);
    for _ in 0..n {
        let h: VcpuSdeiRecord = r.record()?;
        zero("vCPU record padding", u64::from(h._pad.get()))?;
        let np = r.fits(h.private.get(), core::mem::size_of::<PrivateRecord>())?;
        let mut private = Vec::with_capacity(np);
        for _ in 0..np {
            let p: PrivateRecord = r.record()?;
            zero(
                "private event padding",
                u64::from(u16::from_le_bytes(p._pad)),
            )?;
            private.push(PrivateEventState {
                event: p.event.get(),
                status: status(p.status)?,
                entry: p.entry.get(),
                arg: p.arg.get(),
                pending: boolean("private pending flag", u32::from(p.pending))?,
            });
        }
        let ns = r.fits(h.stack.get(), core::mem::size_of::<ContextRecord>())?;
        let mut stack = Vec::with_capacity(ns);
        for _ in 0..ns {
            let c: ContextRecord = r.record()?;
            zero("saved context padding", u64::from(c._pad.get()))?;
            stack.push(SavedContextState {
                event: c.event.get(),
                x: c.x.map(|v| v.get()),
                pc: c.pc.get(),
                pstate: c.pstate.get(),
                sctlr_el1: c.sctlr_el1.get(),
            });
        }
        vcpus.push(VcpuSdeiState {
            masked: boolean("PE mask flag", h.masked.get())?,
            private,
            stack,
        });
    }
    r.end()?;
    Ok(SdeiState {
        shared,
        slots: slot_states,
        vcpus,
    })
}

/// Decodes the `PVTM` section.
pub(crate) fn read_pvtime(payload: &[u8]) -> Result<PvTimeState, FormatError> {
    let mut r = Reader::new("PV-time section", payload);
    let p: PvRecord = r.record()?;
    let flags = flag_bits(
        "PV-time flags",
        p.flags.get(),
        PV_ENABLED | PV_TABLE | PV_LPT | PV_LPT_QUERIED,
    )?;
    let stolen_time_base = if flags & PV_TABLE != 0 {
        Some(Gpa(p.table_base.get()))
    } else {
        zero("table base without the table flag", p.table_base.get())?;
        None
    };
    let lpt = if flags & PV_LPT != 0 {
        Some(LptState {
            ipa: Gpa(p.lpt_ipa.get()),
            pv_hz: p.lpt_pv_hz.get(),
            native_hz: p.lpt_native_hz.get(),
            sequence: p.lpt_sequence.get(),
            guest_queried: flags & PV_LPT_QUERIED != 0,
        })
    } else {
        let unused = p.lpt_ipa.get()
            | u64::from(p.lpt_pv_hz.get())
            | u64::from(p.lpt_native_hz.get())
            | p.lpt_sequence.get()
            | u64::from(flags & PV_LPT_QUERIED);
        zero("LPT fields without the LPT flag", unused)?;
        None
    };
    if p.native_hz.get() == 0 {
        return Err(bad("native counter frequency", 0));
    }
    let n = r.count::<VcpuPvRecord>()?;
    let mut vcpus = Vec::with_capacity(n);
    for _ in 0..n {
        let v: VcpuPvRecord = r.record()?;
        zero("PV-time vCPU padding", u64::from(v._pad.get()))?;
        vcpus.push(VcpuPvState {
            stolen_ns: v.stolen_ns.get(),
            guest_enabled: boolean("stolen-time enabled flag", v.guest_enabled.get())?,
        });
    }
    r.end()?;
    Ok(PvTimeState {
        enabled: flags & PV_ENABLED != 0,
        stolen_time_base,
        vcpus,
        lpt,
        native_hz: p.native_hz.get(),
    })
}
