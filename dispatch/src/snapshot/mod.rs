//! Snapshot and restore: fwcall's whole state as a versioned, checksummed
//! blob a VMM stores next to its own, and a restore that refuses anything
//! the destination cannot serve exactly as the guest saw it.
//!
//! # Taking and restoring a snapshot
//!
//! ```
//! use fwcall::{Call, NoMemory, Reply, VcpuIndex, Vm, VmConfig, ids};
//!
//! let vm = Vm::new(VmConfig::new(2), NoMemory).unwrap();
//! let v1 = vm.vcpu(VcpuIndex(1)).unwrap();
//! v1.handle(&Call::new(ids::SDEI_EVENT_REGISTER, &[0, 0xffff_8000_1000_0000, 7, 0, 0]));
//!
//! // Pause every vCPU, then:
//! let blob = vm.snapshot().unwrap();
//!
//! // On the destination: its own configuration, the blob, then start().
//! let restored = Vm::restore(VmConfig::new(2), NoMemory, &blob).unwrap();
//! restored.start().unwrap();
//! let status = restored.vcpu(VcpuIndex(1)).unwrap().handle(&Call::new(ids::SDEI_EVENT_STATUS, &[0]));
//! assert_eq!(status.reply, Reply::x0(1)); // still registered
//!
//! // A destination that cannot serve the guest's ABI refuses by name.
//! let err = Vm::restore(VmConfig::new(4), NoMemory, &blob).unwrap_err();
//! assert_eq!(err.to_string(), "vCPU count 2 != 4: the snapshot has 2 vCPUs, the destination VM 4; restore into a VM of the same size");
//! ```
//!
//! # Format (version 1)
//!
//! Little-endian throughout; every record is a fixed zerocopy layout.
//!
//! * **Header** (32 bytes): magic `FWCALLSN`, format version (`u32`),
//!   header length (`u32`, 32), total length (`u64`), CRC-32/IEEE of the
//!   whole blob computed with the checksum field zero (`u32`), section
//!   count (`u32`).
//! * **Sections**, each a 16-byte header (tag `u32`, flags `u32` with bit 0
//!   = required, payload length `u64`) and the payload zero-padded to 8
//!   bytes. A reader skips an unknown optional section and refuses an
//!   unknown required one; each tag appears at most once, and a blob has
//!   at most 256 sections ([`format::MAX_SECTIONS`]; more is
//!   [`FormatError::TooManySections`]).
//! * `ABI ` (required): SMCCC version, flags (features frozen, SDEI
//!   present, SoC ID present), the three feature words, SoC ID, workaround
//!   levels, SDEI version, slot counts and CPU features; then a `u32`
//!   count of MPIDRs (`u64` each) and a `u32` count of platform events
//!   (number, shared, critical).
//! * `SDEI` (required, present exactly when the ABI has SDEI): shared
//!   events (`u32` count, 40 bytes each: status, routing, pending, target,
//!   running vCPU, entry, argument, affinity), slots (`u32` count, event
//!   and bound INTID), and per vCPU (`u32` count) a header (mask, number
//!   of private events, number of saved contexts), the private events (24
//!   bytes each) and the saved contexts, oldest first (176 bytes each:
//!   event, `X0..X17`, PC, PSTATE, `SCTLR_EL1`).
//! * `PVTM` (required): flags (enabled, table placed, LPT, LPT queried),
//!   the source's native frequency, table base, LPT address, `pv_hz`,
//!   native frequency and sequence of the last publication; then per vCPU
//!   (`u32` count) stolen nanoseconds and whether the guest enabled its
//!   record.
//! * `PSCI` (required, present exactly when the VM serves PSCI): the
//!   `PSCI_VERSION` word, 4 zero bytes, then per vCPU (`u32` count) one
//!   byte, 0 off or 1 on.
//! * `TRNG` (required, present exactly when the VM serves TRNG): the
//!   `TRNG_VERSION` word (1.0), 4 zero bytes and the 16-byte UUID.
//!
//! `PSCI` and `TRNG` were added without a format version bump: a blob
//! without them reads as before, and an fwcall that predates them refuses
//! a blob with them as an unknown required section (it could not serve
//! that guest).
//!
//! Counts are `u32` and checked against the bytes left before anything is
//! allocated, so the format has no limit of its own and the size grows
//! linearly (about 400 bytes per vCPU with eight private events and one
//! running handler). Reserved bits and padding must be zero, so a state
//! has exactly one encoding and snapshot → restore → snapshot is
//! byte-identical. Host-local state (run-delay baselines) is not saved.

mod compat;
pub mod format;
mod records;
mod summary;

use alloc::vec::Vec;

use fwcall_psci::{Psci, PsciConfigError};
use fwcall_pvtime::{GuestMemoryAccess, PvTime, PvTimeStateError};
use fwcall_sdei::{Sdei, SdeiStateError};

use crate::config::{ConfigError, VmConfig};
use crate::features::FeatureState;
use crate::vm::Vm;

pub use compat::{CompatError, FeatureList, Placement, SocIdShown};
pub use format::{FORMAT_VERSION, Tag};
pub use records::{
    GuestAbi, SdeiAbi, SnapshotContents, TAG_ABI, TAG_PSCI, TAG_PVTIME, TAG_SDEI, TAG_TRNG, TrngAbi,
};
pub use summary::Summary;

/// Why a snapshot could not be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A count does not fit the format's `u32` counts.
    #[error("{count} {what} do not fit a snapshot (at most 4294967295)")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// How many there are.
        count: usize,
    },
}

/// What is wrong with the bytes of a blob.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Fewer bytes than a record or count needs.
    #[error("snapshot truncated: the {what} needs {need} bytes but only {have} remain")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: u64,
        /// Bytes left.
        have: u64,
    },
    /// Not a fwcall snapshot.
    #[error("not a fwcall snapshot: it does not start with the magic FWCALLSN")]
    BadMagic,
    /// A format version this fwcall cannot read.
    #[error(
        "snapshot format version {found} is not readable by this fwcall (it reads versions 1 to {max}); restore with a newer fwcall"
    )]
    UnsupportedVersion {
        /// The blob's version.
        found: u32,
        /// The newest this fwcall reads.
        max: u32,
    },
    /// The header's length disagrees with the blob's.
    #[error(
        "snapshot length mismatch: the header says {header} bytes but there are {actual}; the blob was truncated or extended"
    )]
    LengthMismatch {
        /// Length in the header.
        header: u64,
        /// Actual length.
        actual: u64,
    },
    /// The checksum does not match.
    #[error(
        "snapshot checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the blob is corrupt"
    )]
    BadChecksum {
        /// Stored CRC.
        stored: u32,
        /// Computed CRC.
        computed: u32,
    },
    /// Structure that cannot be right (padding, flags, trailing bytes).
    #[error("snapshot malformed: bad {what}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// A field with a value no writer produces.
    #[error("snapshot malformed: {what} has the impossible value {value:#x}")]
    BadValue {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// More sections than the format allows.
    #[error(
        "snapshot malformed: {count} sections, but the format allows at most {max}; the blob is corrupt or hostile"
    )]
    TooManySections {
        /// The header's section count.
        count: u32,
        /// [`format::MAX_SECTIONS`].
        max: u32,
    },
    /// A section appears twice.
    #[error("snapshot malformed: section {tag} appears twice")]
    DuplicateSection {
        /// Its tag.
        tag: Tag,
    },
    /// A section the writer marked required that this fwcall does not know.
    #[error(
        "snapshot has a required section {tag} this fwcall does not know: it was written by a newer fwcall with state this one cannot serve"
    )]
    UnknownRequiredSection {
        /// Its tag.
        tag: Tag,
    },
    /// A section this format version requires is absent.
    #[error("snapshot malformed: the {tag} section is missing")]
    MissingSection {
        /// Its tag.
        tag: Tag,
    },
    /// An SDEI section without SDEI in the ABI, or the reverse.
    #[error("snapshot malformed: the SDEI section and the ABI disagree on whether SDEI is served")]
    SdeiPresence,
    /// A PSCI version without power states, or the reverse.
    #[error(
        "snapshot malformed: the PSCI version and the power states disagree on whether PSCI is served"
    )]
    PsciPresence,
}

/// Why a restore was refused. The destination VM is never half-built: a
/// refused restore returns this and nothing else.
#[derive(Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The bytes are not a valid snapshot.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The destination cannot serve the guest ABI in the snapshot.
    #[error(transparent)]
    Incompatible(#[from] CompatError),
    /// The destination configuration is invalid in itself.
    #[error("the destination configuration is invalid: {0}")]
    Destination(ConfigError),
    /// The configuration the snapshot describes is invalid.
    #[error("the snapshot describes an invalid VM: {0}")]
    SnapshotConfig(ConfigError),
    /// The SDEI state is impossible.
    #[error("the snapshot's SDEI state is invalid: {0}")]
    Sdei(#[from] SdeiStateError),
    /// The PV-time state is impossible.
    #[error("the snapshot's PV-time state is invalid: {0}")]
    PvTime(#[from] PvTimeStateError),
    /// The PSCI state is impossible.
    #[error("the snapshot's PSCI state is invalid: {0}")]
    Psci(#[from] PsciConfigError),
}

/// Splits a blob into its sections and decodes them (the encoding only).
fn decode(blob: &[u8]) -> Result<(u32, SnapshotContents, Vec<Tag>), FormatError> {
    let (version, sections) = format::parse(blob)?;
    let (mut abi, mut sdei, mut pv, mut psci, mut trng) = (None, None, None, None, None);
    let mut skipped = Vec::new();
    for s in &sections {
        let tag = Tag(s.tag);
        match tag {
            TAG_ABI => abi = Some(records::read_abi(s.payload)?),
            TAG_SDEI => sdei = Some(records::read_sdei(s.payload)?),
            TAG_PVTIME => pv = Some(records::read_pvtime(s.payload)?),
            TAG_PSCI => psci = Some(records::read_psci(s.payload)?),
            TAG_TRNG => trng = Some(records::read_trng(s.payload)?),
            _ if s.required => return Err(FormatError::UnknownRequiredSection { tag }),
            _ => skipped.push(tag),
        }
    }
    let mut abi = abi.ok_or(FormatError::MissingSection { tag: TAG_ABI })?;
    let pvtime = pv.ok_or(FormatError::MissingSection { tag: TAG_PVTIME })?;
    if abi.sdei.is_some() != sdei.is_some() {
        return Err(FormatError::SdeiPresence);
    }
    let power = psci.map(|(v, power)| {
        abi.psci = Some(v);
        power
    });
    abi.trng = trng;
    let contents = SnapshotContents {
        abi,
        sdei,
        pvtime,
        power,
    };
    Ok((version, contents, skipped))
}

/// Builds the services of `config` (which already serves exactly the
/// snapshot's ABI) and loads the state into them.
fn load<M: GuestMemoryAccess>(
    config: VmConfig,
    mem: M,
    c: &SnapshotContents,
    config_error: fn(ConfigError) -> RestoreError,
) -> Result<Vm<M>, RestoreError> {
    config.validate().map_err(config_error)?;
    let off = crate::power::powered_off(c.power.as_deref(), c.abi.features.std);
    let sdei = match (&config.sdei, &c.sdei) {
        (Some(cfg), Some(state)) => {
            Some(Sdei::restore_with_power(cfg, &config.mpidrs, state, &off)?)
        }
        (None, None) => None,
        _ => return Err(FormatError::SdeiPresence.into()),
    };
    let n = config.vcpu_count();
    let pvtime = PvTime::restore(&config.pvtime, n, &config.ram, &config.reserved, &c.pvtime)?;
    let psci = match (&config.psci, &c.power) {
        (Some(cfg), Some(power)) => Some(Psci::restore(
            cfg,
            &config.mpidrs,
            config.smccc_version,
            &crate::power::ram_pairs(&config),
            power,
        )?),
        (None, None) => None,
        _ => return Err(FormatError::PsciPresence.into()),
    };
    let served = compat::servable(&config);
    compat::check_features(&c.abi.features, &served)?;
    let mut vm = Vm::assemble(config, mem, sdei, pvtime, psci);
    vm.features = FeatureState::restored(
        vm.features.supported(),
        c.abi.features,
        c.abi.features_frozen,
    );
    Ok(vm)
}

/// Decodes and checks a snapshot on its own, without a destination: the
/// container, every record, and the state loaded into servers configured
/// exactly as the snapshot describes. Never panics, whatever the bytes.
///
/// ```
/// use fwcall::{NoMemory, Vm, VmConfig};
///
/// let blob = Vm::new(VmConfig::new(1), NoMemory).unwrap().snapshot().unwrap();
/// let summary = fwcall::snapshot::inspect(&blob).unwrap();
/// assert_eq!(summary.contents.abi.mpidrs.len(), 1);
/// assert!(summary.to_string().starts_with("fwcall snapshot, format version 1"));
/// assert!(fwcall::snapshot::inspect(&blob[..40]).is_err());
/// ```
pub fn inspect(blob: &[u8]) -> Result<Summary, RestoreError> {
    let (format_version, contents, skipped) = decode(blob)?;
    let own = compat::own_config(&contents.abi, &contents.pvtime);
    load(
        own,
        crate::NoMemory,
        &contents,
        RestoreError::SnapshotConfig,
    )?;
    Ok(Summary {
        format_version,
        bytes: blob.len(),
        skipped_sections: skipped,
        contents,
    })
}

impl<M: GuestMemoryAccess> Vm<M> {
    /// Saves fwcall's whole state. Pause every vCPU first (out of the
    /// guest and out of fwcall): the SDEI state is read under the shared
    /// lock and then each vCPU's lock in ascending index order, so a call
    /// still running could land before or after its vCPU is read. The
    /// VMM's service objects, interrupt hook and host-local accounting
    /// baselines are not part of it.
    ///
    /// ```
    /// use fwcall::{NoMemory, Vm, VmConfig};
    /// let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    /// let blob = vm.snapshot().unwrap();
    /// assert_eq!(&blob[..8], b"FWCALLSN");
    /// ```
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let c = self.snapshot_contents();
        let private = c
            .sdei
            .as_ref()
            .and_then(|s| s.vcpus.first())
            .map_or(0, |v| v.private.len());
        let estimate = c
            .abi
            .mpidrs
            .len()
            .saturating_mul(
                records::VCPU_BYTES.saturating_add(private.saturating_mul(records::PRIVATE_BYTES)),
            )
            .saturating_add(1024);
        records::encode(&c, estimate)
    }

    /// The state as plain data (what [`Vm::snapshot`] encodes).
    pub fn snapshot_contents(&self) -> SnapshotContents {
        let cfg = &self.config;
        let abi = GuestAbi {
            mpidrs: cfg.mpidrs.clone(),
            smccc_version: cfg.smccc_version,
            features: self.features.current(),
            features_frozen: self.features.is_frozen(),
            soc_id: cfg.soc_id,
            workarounds: cfg.workarounds,
            sdei: cfg.sdei.as_ref().map(|s| SdeiAbi {
                version: s.version,
                events: s.events.clone(),
                private_slots: s.private_slots,
                shared_slots: s.shared_slots,
                cpu_features: s.cpu_features,
            }),
            psci: self.psci.as_ref().map(Psci::version),
            trng: cfg.trng.map(|t| TrngAbi { uuid: t.uuid.0 }),
        };
        SnapshotContents {
            abi,
            sdei: self.sdei.as_ref().map(Sdei::state),
            pvtime: self.pvtime.state(),
            power: self.psci.as_ref().map(Psci::power_states),
        }
    }

    /// Builds a VM from the destination's `config` and `mem` and loads
    /// the snapshot `blob` into it. The restored VM serves the snapshot's
    /// guest ABI (its SMCCC and SDEI versions, events, slots, feature words
    /// and placements), which `config` must be able to serve; host-local
    /// values (`pvtime.native_hz`, memory regions) come from `config`.
    ///
    /// Everything is checked before the VM exists, so a refused restore
    /// leaves nothing behind. Afterwards: add the VMM's services again,
    /// install the interrupt hook (bound interrupts are diverted again),
    /// then call [`Vm::start`] before any vCPU runs (it rewrites stolen-time
    /// records and, with LPT, publishes this host's coefficients).
    ///
    /// ```
    /// use fwcall::{NoMemory, SmcccVersion, Vm, VmConfig};
    ///
    /// let mut old = VmConfig::new(1);
    /// old.smccc_version = SmcccVersion::V1_2;
    /// let blob = Vm::new(VmConfig::new(1), NoMemory).unwrap().snapshot().unwrap();
    /// let err = Vm::restore(old, NoMemory, &blob).unwrap_err();
    /// assert_eq!(err.to_string(), "snapshot exposes SMCCC 1.4, destination serves up to 1.2");
    /// ```
    pub fn restore(config: VmConfig, mem: M, blob: &[u8]) -> Result<Vm<M>, RestoreError> {
        config.validate().map_err(RestoreError::Destination)?;
        let (_, contents, _) = decode(blob)?;
        let effective = compat::effective_config(&config, &contents.abi, &contents.pvtime)?;
        load(effective, mem, &contents, RestoreError::Destination)
    }
}
