//! Can the destination serve what the snapshot promised the guest?
//!
//! The destination's [`VmConfig`] says what the destination host is
//! willing to serve: its SMCCC and SDEI versions are upper bounds, its slot
//! counts capacities, its events and placements what it provides. The
//! restored VM serves exactly the snapshot's ABI (never more, so a
//! rollback target never gains a service the guest could start relying
//! on, and never less, which [`CompatError`] refuses by name); only
//! host-local values (`native_hz`, memory regions) come from the destination.

use alloc::vec::Vec;
use core::fmt;

use fwcall_psci::{PsciConfig, PsciVersion};
use fwcall_pvtime::{Gpa, LptConfig, PvTimeState};
use fwcall_sdei::{CpuFeatures, EventKind, Priority, SdeiConfig, SdeiVersion};
use fwcall_smccc::{SmcccVersion, SocId, Uid};
use fwcall_trng::TrngConfig;

use super::records::GuestAbi;
use crate::config::VmConfig;
use crate::features::{FeatureRegister, FirmwareFeatures, StdFeatures, StdHypFeatures};

/// A guest ABI the destination cannot serve. Each message names what the
/// snapshot exposes and what the destination lacks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompatError {
    /// Different number of vCPUs.
    #[error(
        "vCPU count {snapshot} != {destination}: the snapshot has {snapshot} vCPUs, the destination VM {destination}; restore into a VM of the same size"
    )]
    VcpuCount {
        /// vCPUs in the snapshot.
        snapshot: usize,
        /// vCPUs at the destination.
        destination: usize,
    },
    /// A vCPU has another MPIDR.
    #[error(
        "vCPU {vcpu} has MPIDR {snapshot:#x} in the snapshot but {destination:#x} at the destination; the guest routes by MPIDR, keep the same values"
    )]
    Mpidr {
        /// The vCPU.
        vcpu: usize,
        /// Its MPIDR in the snapshot.
        snapshot: u64,
        /// Its MPIDR at the destination.
        destination: u64,
    },
    /// The destination's SMCCC version is older.
    #[error("snapshot exposes SMCCC {snapshot}, destination serves up to {destination}")]
    SmcccVersion {
        /// The version the guest saw.
        snapshot: SmcccVersion,
        /// The destination's highest.
        destination: SmcccVersion,
    },
    /// The destination does not serve SDEI.
    #[error("snapshot exposes SDEI {snapshot}, destination does not serve SDEI")]
    SdeiMissing {
        /// The version the guest saw.
        snapshot: SdeiVersion,
    },
    /// The destination's SDEI version is older.
    #[error("snapshot exposes SDEI {snapshot}, destination serves SDEI up to {destination}")]
    SdeiVersion {
        /// The version the guest saw.
        snapshot: SdeiVersion,
        /// The destination's highest.
        destination: SdeiVersion,
    },
    /// The destination does not serve PSCI.
    #[error("snapshot exposes PSCI {snapshot}, destination does not serve PSCI")]
    PsciMissing {
        /// The version the guest saw.
        snapshot: PsciVersion,
    },
    /// The destination's PSCI version is older.
    #[error("snapshot exposes PSCI {snapshot}, destination serves PSCI up to {destination}")]
    PsciVersion {
        /// The version the guest saw.
        snapshot: PsciVersion,
        /// The destination's highest.
        destination: PsciVersion,
    },
    /// The destination does not serve TRNG.
    #[error("snapshot exposes TRNG 1.0, destination does not serve TRNG")]
    TrngMissing,
    /// A platform event the destination does not declare.
    #[error(
        "event {event:#x} ({kind}, {priority}) is declared in the snapshot but not at the destination; declare it there too"
    )]
    EventMissing {
        /// The event.
        event: u32,
        /// `private` or `shared`.
        kind: &'static str,
        /// `normal` or `critical`.
        priority: &'static str,
    },
    /// A platform event of another kind.
    #[error("event {event:#x} is {snapshot} in the snapshot but {destination} at the destination")]
    EventKind {
        /// The event.
        event: u32,
        /// Its kind in the snapshot.
        snapshot: &'static str,
        /// Its kind at the destination.
        destination: &'static str,
    },
    /// A platform event of another priority.
    #[error("event {event:#x} is {snapshot} in the snapshot but {destination} at the destination")]
    EventPriority {
        /// The event.
        event: u32,
        /// Its priority in the snapshot.
        snapshot: &'static str,
        /// Its priority at the destination.
        destination: &'static str,
    },
    /// Fewer dynamic slots.
    #[error("snapshot exposes {snapshot} {kind} SDEI slots, destination serves {destination}")]
    Slots {
        /// `private` or `shared`.
        kind: &'static str,
        /// Slots the guest saw.
        snapshot: u16,
        /// Slots the destination serves.
        destination: u16,
    },
    /// Other guest CPU features.
    #[error(
        "the guest CPU features differ ({snapshot} in the snapshot, {destination} at the destination): SDEI handler entry would set PSTATE differently; give the destination vCPUs the same features"
    )]
    CpuFeatures {
        /// Features in the snapshot.
        snapshot: FeatureList,
        /// Features at the destination.
        destination: FeatureList,
    },
    /// A feature bit the destination cannot serve.
    #[error("feature {register} bit {bit} ({name}) not served by the destination")]
    Feature {
        /// The register.
        register: FeatureRegister,
        /// The bit.
        bit: u32,
        /// The service it gates.
        name: &'static str,
    },
    /// PV time off at the destination.
    #[error("snapshot exposes PV time, destination has it off")]
    PvTimeOff,
    /// The stolen-time table is not where the guest mapped it.
    #[error(
        "snapshot places the stolen-time table at {snapshot}, destination {destination}; the guest has mapped the old address"
    )]
    StolenTimeTable {
        /// Where it is in the snapshot.
        snapshot: Gpa,
        /// Where the destination puts it (`none` if unplaced).
        destination: Placement,
    },
    /// The LPT structure is not where the guest mapped it, or missing.
    #[error(
        "snapshot places the LPT structure at {snapshot}, destination {destination}; the guest has mapped the old address"
    )]
    Lpt {
        /// Where it is in the snapshot.
        snapshot: Gpa,
        /// Where the destination puts it (`none` if LPT is off).
        destination: Placement,
    },
    /// The LPT frequency promised to the guest differs.
    #[error(
        "snapshot promises the guest an LPT frequency of {snapshot} Hz, destination {destination} Hz; pv_hz is fixed for the VM's life"
    )]
    PvHz {
        /// The frequency in the snapshot.
        snapshot: u32,
        /// The destination's.
        destination: u32,
    },
    /// Another SoC ID.
    #[error("snapshot exposes SoC ID {snapshot}, destination {destination}")]
    SocId {
        /// In the snapshot.
        snapshot: SocIdShown,
        /// At the destination.
        destination: SocIdShown,
    },
    /// A workaround level the destination host cannot back.
    #[error(
        "snapshot exposes SMCCC_ARCH_WORKAROUND_{which} level {snapshot}, destination host only level {destination}; the guest would skip a mitigation it needs"
    )]
    Workaround {
        /// 1, 2 or 3.
        which: u8,
        /// Level in the snapshot.
        snapshot: u8,
        /// Level at the destination.
        destination: u8,
    },
}

/// Where a structure is, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement(pub Option<Gpa>);

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(g) => write!(f, "at {g}"),
            None => f.write_str("has none"),
        }
    }
}

/// A SoC ID or its absence, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocIdShown(pub Option<SocId>);

impl fmt::Display for SocIdShown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, "{:#x}/{:#x}", s.version, s.revision),
            None => f.write_str("none"),
        }
    }
}

/// A CPU feature set in the fwtrace spelling (`pan,ssbs`, `none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureList(pub CpuFeatures);

impl fmt::Display for FeatureList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (CpuFeatures::PAN, "pan"),
            (CpuFeatures::SSBS, "ssbs"),
            (CpuFeatures::MTE, "mte"),
            (CpuFeatures::BTI, "bti"),
            (CpuFeatures::NMI, "nmi"),
        ];
        let mut first = true;
        for (flag, name) in names {
            if self.0.contains(flag) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first { f.write_str("none") } else { Ok(()) }
    }
}

pub(crate) const fn kind_name(k: EventKind) -> &'static str {
    match k {
        EventKind::Private => "private",
        EventKind::Shared => "shared",
    }
}

pub(crate) const fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Normal => "normal",
        Priority::Critical => "critical",
    }
}

/// The name of a known feature bit.
pub(crate) fn feature_name(r: FeatureRegister, bit: u32) -> &'static str {
    match (r, bit) {
        (FeatureRegister::Std, 0) => "SDEI",
        (FeatureRegister::Std, 1) => "PSCI",
        (FeatureRegister::Std, 2) => "TRNG",
        (FeatureRegister::StdHyp, 0) => "PV_TIME",
        (FeatureRegister::StdHyp, 1) => "LPT",
        (FeatureRegister::VendorHyp, _) => "VMM service",
        _ => "unknown",
    }
}

/// The std/std-hyp feature bits a configuration can serve (vendor bits
/// belong to services the VMM adds after construction).
pub(crate) fn servable(config: &VmConfig) -> FirmwareFeatures {
    let mut f = FirmwareFeatures::default();
    if config.sdei.is_some() {
        f.std |= StdFeatures::SDEI;
    }
    if config.psci.is_some() {
        f.std |= StdFeatures::PSCI;
    }
    if config.trng.is_some() {
        f.std |= StdFeatures::TRNG;
    }
    if config.pvtime.enabled {
        f.std_hyp |= StdHypFeatures::PV_TIME;
        if config.pvtime.lpt.is_some() {
            f.std_hyp |= StdHypFeatures::PV_TIME_LPT;
        }
    }
    f
}

/// Feature bits of `words` outside `served` (vendor bits not checked).
pub(crate) fn check_features(
    words: &FirmwareFeatures,
    served: &FirmwareFeatures,
) -> Result<(), CompatError> {
    for r in [FeatureRegister::Std, FeatureRegister::StdHyp] {
        let missing = words.get(r) & !served.get(r);
        if missing != 0 {
            let bit = missing.trailing_zeros();
            return Err(CompatError::Feature {
                register: r,
                bit,
                name: feature_name(r, bit),
            });
        }
    }
    Ok(())
}

/// The configuration of the restored VM: the snapshot's ABI, checked
/// against what `dest` can serve, with `dest`'s host-local values.
pub(crate) fn effective_config(
    dest: &VmConfig,
    abi: &GuestAbi,
    pv: &PvTimeState,
) -> Result<VmConfig, CompatError> {
    if abi.mpidrs.len() != dest.mpidrs.len() {
        return Err(CompatError::VcpuCount {
            snapshot: abi.mpidrs.len(),
            destination: dest.mpidrs.len(),
        });
    }
    if let Some((vcpu, (s, d))) = abi
        .mpidrs
        .iter()
        .zip(&dest.mpidrs)
        .enumerate()
        .find(|(_, (s, d))| s != d)
    {
        return Err(CompatError::Mpidr {
            vcpu,
            snapshot: s.0,
            destination: d.0,
        });
    }
    if abi.smccc_version > dest.smccc_version {
        return Err(CompatError::SmcccVersion {
            snapshot: abi.smccc_version,
            destination: dest.smccc_version,
        });
    }
    // Named by feature bit first: that is how the guest discovered the service.
    check_features(&abi.features, &servable(dest))?;

    let sdei = match (&abi.sdei, &dest.sdei) {
        (None, _) => None,
        (Some(s), None) => {
            return Err(CompatError::SdeiMissing {
                snapshot: s.version,
            });
        }
        (Some(s), Some(d)) => {
            if s.version > d.version {
                return Err(CompatError::SdeiVersion {
                    snapshot: s.version,
                    destination: d.version,
                });
            }
            for e in &s.events {
                let Some(de) = d.events.iter().find(|de| de.number == e.number) else {
                    return Err(CompatError::EventMissing {
                        event: e.number,
                        kind: kind_name(e.kind),
                        priority: priority_name(e.priority),
                    });
                };
                if de.kind != e.kind {
                    return Err(CompatError::EventKind {
                        event: e.number,
                        snapshot: kind_name(e.kind),
                        destination: kind_name(de.kind),
                    });
                }
                if de.priority != e.priority {
                    return Err(CompatError::EventPriority {
                        event: e.number,
                        snapshot: priority_name(e.priority),
                        destination: priority_name(de.priority),
                    });
                }
            }
            for (kind, snapshot, destination) in [
                ("private", s.private_slots, d.private_slots),
                ("shared", s.shared_slots, d.shared_slots),
            ] {
                if snapshot > destination {
                    return Err(CompatError::Slots {
                        kind,
                        snapshot,
                        destination,
                    });
                }
            }
            if s.cpu_features != d.cpu_features {
                return Err(CompatError::CpuFeatures {
                    snapshot: FeatureList(s.cpu_features),
                    destination: FeatureList(d.cpu_features),
                });
            }
            Some(SdeiConfig {
                version: s.version,
                events: s.events.clone(),
                private_slots: s.private_slots,
                shared_slots: s.shared_slots,
                cpu_features: s.cpu_features,
            })
        }
    };

    let psci = match (abi.psci, &dest.psci) {
        (None, _) => None,
        (Some(snapshot), None) => return Err(CompatError::PsciMissing { snapshot }),
        (Some(snapshot), Some(d)) if snapshot > d.version => {
            return Err(CompatError::PsciVersion {
                snapshot,
                destination: d.version,
            });
        }
        // The guest's version; which vCPUs boot is the destination VMM's
        // reset policy.
        (Some(snapshot), Some(d)) => Some(PsciConfig {
            version: snapshot,
            boot: d.boot.clone(),
        }),
    };
    let trng = match (&abi.trng, &dest.trng) {
        (None, _) => None,
        (Some(_), None) => return Err(CompatError::TrngMissing),
        (Some(t), Some(_)) => Some(TrngConfig { uuid: Uid(t.uuid) }),
    };

    if pv.enabled && !dest.pvtime.enabled {
        return Err(CompatError::PvTimeOff);
    }
    if let Some(base) = pv.stolen_time_base
        && dest.pvtime.stolen_time_base != Some(base)
    {
        return Err(CompatError::StolenTimeTable {
            snapshot: base,
            destination: Placement(dest.pvtime.stolen_time_base),
        });
    }
    let lpt = match (&pv.lpt, &dest.pvtime.lpt) {
        (None, _) => None,
        (Some(s), d) if d.map(|d| d.ipa) != Some(s.ipa) => {
            return Err(CompatError::Lpt {
                snapshot: s.ipa,
                destination: Placement(d.map(|d| d.ipa)),
            });
        }
        (Some(s), Some(d)) if d.pv_hz != s.pv_hz => {
            return Err(CompatError::PvHz {
                snapshot: s.pv_hz,
                destination: d.pv_hz,
            });
        }
        (Some(s), _) => Some(LptConfig {
            ipa: s.ipa,
            pv_hz: s.pv_hz,
        }),
    };

    if abi.soc_id != dest.soc_id {
        return Err(CompatError::SocId {
            snapshot: SocIdShown(abi.soc_id),
            destination: SocIdShown(dest.soc_id),
        });
    }
    let (s, d) = (abi.workarounds, dest.workarounds);
    for (which, snapshot, destination) in [
        (1, s.wa1 as u8, d.wa1 as u8),
        (2, s.wa2 as u8, d.wa2 as u8),
        (3, s.wa3 as u8, d.wa3 as u8),
    ] {
        if snapshot > destination {
            return Err(CompatError::Workaround {
                which,
                snapshot,
                destination,
            });
        }
    }

    let mut pvtime = dest.pvtime;
    pvtime.enabled = pv.enabled;
    pvtime.stolen_time_base = pv.stolen_time_base;
    pvtime.lpt = lpt;
    Ok(VmConfig {
        mpidrs: abi.mpidrs.clone(),
        smccc_version: abi.smccc_version,
        sdei,
        pvtime,
        ram: dest.ram.clone(),
        reserved: dest.reserved.clone(),
        soc_id: abi.soc_id,
        workarounds: abi.workarounds,
        psci,
        trng,
    })
}

/// A configuration serving exactly `abi` and `pv`, with reserved regions
/// that cover exactly the PV-time structures and no RAM: enough to check a
/// snapshot on its own.
pub(crate) fn own_config(abi: &GuestAbi, pv: &PvTimeState) -> VmConfig {
    let mut reserved = Vec::new();
    let n = abi.mpidrs.len() as u64;
    if let Some(b) = pv.stolen_time_base
        && let Some(size) = n
            .checked_mul(64)
            .filter(|s| *s > 0 && b.0.checked_add(*s).is_some())
    {
        reserved.push(fwcall_pvtime::MemoryRegion { base: b, size });
    }
    if let Some(l) = &pv.lpt {
        let r = fwcall_pvtime::MemoryRegion {
            base: l.ipa,
            size: fwcall_pvtime::lpt::SLOT_SIZE,
        };
        if l.ipa.0.checked_add(r.size).is_some()
            && !reserved
                .iter()
                .any(|o: &fwcall_pvtime::MemoryRegion| o.overlaps(&r))
        {
            reserved.push(r);
        }
    }
    VmConfig {
        mpidrs: abi.mpidrs.clone(),
        smccc_version: abi.smccc_version,
        sdei: abi.sdei.as_ref().map(|s| SdeiConfig {
            version: s.version,
            events: s.events.clone(),
            private_slots: s.private_slots,
            shared_slots: s.shared_slots,
            cpu_features: s.cpu_features,
        }),
        pvtime: fwcall_pvtime::PvTimeConfig {
            enabled: pv.enabled,
            stolen_time_base: pv.stolen_time_base,
            lpt: pv.lpt.map(|l| LptConfig {
                ipa: l.ipa,
                pv_hz: l.pv_hz,
            }),
            native_hz: pv.native_hz,
        },
        ram: Vec::new(),
        reserved,
        soc_id: abi.soc_id,
        workarounds: abi.workarounds,
        psci: abi.psci.map(|v| PsciConfig {
            version: v,
            boot: alloc::vec![fwcall_smccc::VcpuIndex(0)],
        }),
        trng: abi.trng.map(|t| TrngConfig { uuid: Uid(t.uuid) }),
    }
}
