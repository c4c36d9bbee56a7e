//! The human-readable summary `fwcall snapshot inspect` prints.

use alloc::vec::Vec;
use core::fmt;

use fwcall_sdei::{PrivateEventState, Routing, SdeiState};

use super::compat::{FeatureList, kind_name, priority_name};
use super::format::Tag;
use super::records::SnapshotContents;
use crate::features::FeatureRegister;

/// A checked snapshot, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Summary {
    /// The blob's format version.
    pub format_version: u32,
    /// The blob's size in bytes.
    pub bytes: usize,
    /// Optional sections this fwcall does not know and skipped.
    pub skipped_sections: Vec<Tag>,
    /// What the snapshot holds.
    pub contents: SnapshotContents,
}

fn status_name(bits: u8) -> &'static str {
    match bits {
        0 => "unregistered",
        1 => "registered",
        3 => "enabled",
        4 => "running, unregister pending",
        5 => "running, disabled",
        7 => "running",
        _ => "invalid",
    }
}

fn private_line(f: &mut fmt::Formatter<'_>, p: &PrivateEventState) -> fmt::Result {
    write!(f, "      event {:#x}: {}", p.event, status_name(p.status))?;
    if p.status != 0 {
        write!(f, ", entry {:#x} arg {:#x}", p.entry, p.arg)?;
    }
    if p.pending {
        f.write_str(", pending")?;
    }
    writeln!(f)
}

fn sdei_vm(f: &mut fmt::Formatter<'_>, s: &SdeiState) -> fmt::Result {
    for e in s.shared.iter().filter(|e| e.status != 0 || e.pending) {
        write!(
            f,
            "  shared event {:#x}: {}",
            e.event,
            status_name(e.status)
        )?;
        if e.status != 0 {
            write!(f, ", entry {:#x} arg {:#x}", e.entry, e.arg)?;
            match e.routing {
                Routing::Any => f.write_str(", RM_ANY")?,
                Routing::Pe => write!(f, ", RM_PE {:#x}", e.affinity)?,
            }
        }
        if e.pending {
            f.write_str(", pending")?;
            if let Some(t) = e.target {
                write!(f, " for vcpu{t}")?;
            }
        }
        if let Some(v) = e.running_on {
            write!(f, ", running on vcpu{v}")?;
        }
        writeln!(f)?;
    }
    for b in &s.slots {
        if let Some(i) = b.intid {
            writeln!(f, "  binding: event {:#x} <- INTID {i}", b.event)?;
        }
    }
    Ok(())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.contents;
        let a = &c.abi;
        writeln!(
            f,
            "fwcall snapshot, format version {}, {} bytes",
            self.format_version, self.bytes
        )?;
        for t in &self.skipped_sections {
            writeln!(f, "skipped optional section {t}")?;
        }
        writeln!(f, "vCPUs: {}", a.mpidrs.len())?;
        writeln!(f, "SMCCC {}", a.smccc_version)?;
        write!(f, "features:")?;
        for r in FeatureRegister::ALL {
            write!(f, " {r}={:#x}", a.features.get(r))?;
        }
        writeln!(
            f,
            "{}",
            if a.features_frozen {
                " (frozen: the guest has seen them)"
            } else {
                " (not yet seen by the guest)"
            }
        )?;
        if let Some(s) = a.soc_id {
            writeln!(f, "SoC ID {:#x} revision {:#x}", s.version, s.revision)?;
        }
        let w = a.workarounds;
        writeln!(
            f,
            "workaround levels: 1={} 2={} 3={}",
            w.wa1 as u8, w.wa2 as u8, w.wa3 as u8
        )?;
        match &a.sdei {
            None => writeln!(f, "SDEI: off")?,
            Some(s) => {
                writeln!(
                    f,
                    "SDEI {}: {} private and {} shared slots, CPU features {}",
                    s.version,
                    s.private_slots,
                    s.shared_slots,
                    FeatureList(s.cpu_features)
                )?;
                for e in &s.events {
                    writeln!(
                        f,
                        "  platform event {:#x}: {}, {}",
                        e.number,
                        kind_name(e.kind),
                        priority_name(e.priority)
                    )?;
                }
            }
        }
        if let Some(s) = &c.sdei {
            sdei_vm(f, s)?;
        }
        match a.psci {
            None => writeln!(f, "PSCI: off")?,
            Some(v) => writeln!(f, "PSCI {v}")?,
        }
        match &a.trng {
            None => writeln!(f, "TRNG: off")?,
            Some(t) => {
                let w = fwcall_smccc::Uid(t.uuid).words();
                writeln!(
                    f,
                    "TRNG 1.0, UUID words {:#010x} {:#010x} {:#010x} {:#010x}",
                    w[0], w[1], w[2], w[3]
                )?;
            }
        }
        let pv = &c.pvtime;
        write!(f, "PV time: {}", if pv.enabled { "on" } else { "off" })?;
        match pv.stolen_time_base {
            Some(b) => write!(f, ", stolen-time table at {b}")?,
            None => f.write_str(", stolen-time table unplaced")?,
        }
        writeln!(f, ", saved on a {} Hz host", pv.native_hz)?;
        if let Some(l) = &pv.lpt {
            writeln!(
                f,
                "LPT at {}: pv {} Hz, last published for {} Hz with sequence {}{}",
                l.ipa,
                l.pv_hz,
                l.native_hz,
                l.sequence,
                if l.guest_queried {
                    ", queried by the guest"
                } else {
                    ""
                }
            )?;
        }
        for (i, m) in a.mpidrs.iter().enumerate() {
            match c.power.as_ref().and_then(|p| p.get(i)) {
                Some(p) => writeln!(
                    f,
                    "vcpu{i} (MPIDR {:#x}): {}",
                    m.0,
                    if p.is_on() { "on" } else { "off" }
                )?,
                None => writeln!(f, "vcpu{i} (MPIDR {:#x}):", m.0)?,
            }
            if let Some(v) = c.sdei.as_ref().and_then(|s| s.vcpus.get(i)) {
                writeln!(
                    f,
                    "    SDEI: {}",
                    if v.masked { "masked" } else { "unmasked" }
                )?;
                for p in v.private.iter().filter(|p| p.status != 0 || p.pending) {
                    private_line(f, p)?;
                }
                for (depth, ctx) in v.stack.iter().enumerate() {
                    writeln!(
                        f,
                        "      handler {depth} for event {:#x} interrupted pc {:#x} pstate {:#x}",
                        ctx.event, ctx.pc, ctx.pstate
                    )?;
                }
            }
            if let Some(p) = pv.vcpus.get(i) {
                writeln!(
                    f,
                    "    PV time: stolen {} ns{}",
                    p.stolen_ns,
                    if p.guest_enabled {
                        ", record enabled by the guest"
                    } else {
                        ""
                    }
                )?;
            }
        }
        Ok(())
    }
}
