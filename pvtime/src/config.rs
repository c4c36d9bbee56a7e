//! What the VMM decides about PV time, and the placement rules it is held to.

use crate::lpt;
use crate::memory::{Gpa, MemoryRegion};
use crate::stolen::{RECORD_ALIGN, RECORD_SIZE};

/// The KVM default counter frequency on many hosts, and fwcall's default.
pub const DEFAULT_NATIVE_HZ: u32 = 62_500_000;

/// Live Physical Time, off unless configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LptConfig {
    /// Where the VM-wide structure lives (64-byte aligned, in a reserved region).
    pub ipa: Gpa,
    /// The counter frequency promised to the guest; fixed for the VM's life.
    pub pv_hz: u32,
}

/// PV-time configuration of one VM.
///
/// ```
/// use fwcall_pvtime::{Gpa, PvTimeConfig};
///
/// let cfg = PvTimeConfig {
///     stolen_time_base: Some(Gpa(0x0a10_0000)),
///     ..PvTimeConfig::default()
/// };
/// assert!(cfg.enabled && cfg.lpt.is_none());
/// assert_eq!(cfg.native_hz, 62_500_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PvTimeConfig {
    /// Whether the guest sees PV time at all (KVM's `STD_HYP_BMAP` bit 0).
    pub enabled: bool,
    /// Base of the stolen-time table: vCPU `i`'s record is at base + 64·i.
    /// `None`: unplaced, `PV_TIME_ST` answers `NOT_SUPPORTED`.
    pub stolen_time_base: Option<Gpa>,
    /// Live Physical Time, if wanted.
    pub lpt: Option<LptConfig>,
    /// The current host's counter frequency (`CNTFRQ_EL0`), in Hz.
    pub native_hz: u32,
}

impl Default for PvTimeConfig {
    fn default() -> Self {
        PvTimeConfig {
            enabled: true,
            stolen_time_base: None,
            lpt: None,
            native_hz: DEFAULT_NATIVE_HZ,
        }
    }
}

/// A configuration fwcall refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PvTimeConfigError {
    /// A VM without vCPUs.
    #[error("a VM needs at least one vCPU for PV time")]
    NoVcpus,
    /// The native counter frequency is zero.
    #[error("native_hz is zero: give the host counter frequency (CNTFRQ_EL0) in Hz")]
    ZeroNativeFrequency,
    /// The LPT PV frequency is zero.
    #[error("LPT pv_hz is zero: give the counter frequency promised to the guest in Hz")]
    ZeroPvFrequency,
    /// A structure is not 64-byte aligned.
    #[error("the {what} at {addr} is not 64-byte aligned; DEN0057 requires 64-byte alignment")]
    Unaligned {
        /// `"stolen-time table"` or `"LPT structure"`.
        what: &'static str,
        /// The address given.
        addr: Gpa,
    },
    /// The table runs past the top of the address space.
    #[error(
        "the stolen-time table at {base} for {vcpus} vCPUs (64 bytes each) runs past the top of the address space"
    )]
    TableWraps {
        /// The base given.
        base: Gpa,
        /// The number of vCPUs.
        vcpus: usize,
    },
    /// A structure overlaps guest RAM.
    #[error(
        "the {what} {range} overlaps guest RAM {ram}: the guest allocates that memory for its own use, so fwcall's writes would corrupt it (seen as list corruption and a hung kernel); put PV-time structures in a separate region outside the RAM the guest is told about, and describe it as reserved"
    )]
    OverlapsRam {
        /// `"stolen-time table"` or `"LPT structure"`.
        what: &'static str,
        /// The structure's range.
        range: MemoryRegion,
        /// The RAM region it overlaps.
        ram: MemoryRegion,
    },
    /// A structure is not wholly inside one region the VMM reserved for it.
    #[error(
        "the {what} {range} is not wholly inside any region the VMM declared as reserved for it; declare a region (for example 64 KiB) that covers it and back it with memory"
    )]
    OutsideReserved {
        /// `"stolen-time table"` or `"LPT structure"`.
        what: &'static str,
        /// The structure's range.
        range: MemoryRegion,
    },
    /// The LPT structure shares bytes with the stolen-time records.
    #[error(
        "the LPT structure {lpt} overlaps the stolen-time table {table}; give each its own 64-byte slots"
    )]
    LptOverlapsRecords {
        /// The LPT slot.
        lpt: MemoryRegion,
        /// The stolen-time table.
        table: MemoryRegion,
    },
    /// LPT configured while PV time is off.
    #[error(
        "LPT is configured but PV time is disabled; enable PV time or drop the LPT configuration"
    )]
    LptWithoutPvTime,
}

/// A configuration that passed every rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub table: Option<MemoryRegion>,
    pub lpt: Option<(LptConfig, lpt::Coefficients)>,
}

const TABLE: &str = "stolen-time table";
const LPT: &str = "LPT structure";

fn place(
    what: &'static str,
    range: MemoryRegion,
    ram: &[MemoryRegion],
    reserved: &[MemoryRegion],
) -> Result<(), PvTimeConfigError> {
    if !range.base.is_aligned(RECORD_ALIGN) {
        return Err(PvTimeConfigError::Unaligned {
            what,
            addr: range.base,
        });
    }
    // RAM first: it is the mistake with the worst consequences, so name it
    // even when the region is also undeclared.
    if let Some(r) = ram.iter().find(|r| r.overlaps(&range)) {
        return Err(PvTimeConfigError::OverlapsRam {
            what,
            range,
            ram: *r,
        });
    }
    if !reserved.iter().any(|r| r.contains(range.base, range.size)) {
        return Err(PvTimeConfigError::OutsideReserved { what, range });
    }
    Ok(())
}

impl PvTimeConfig {
    /// Checks every rule for a VM of `vcpus` vCPUs whose guest RAM is `ram`
    /// and whose VMM reserved `reserved` for PV-time structures.
    ///
    /// Placement is checked even when PV time is disabled: a wrong address
    /// is a mistake worth reporting before someone turns the feature on.
    pub fn validate(
        &self,
        vcpus: usize,
        ram: &[MemoryRegion],
        reserved: &[MemoryRegion],
    ) -> Result<(), PvTimeConfigError> {
        self.layout(vcpus, ram, reserved).map(|_| ())
    }

    pub(crate) fn layout(
        &self,
        vcpus: usize,
        ram: &[MemoryRegion],
        reserved: &[MemoryRegion],
    ) -> Result<Layout, PvTimeConfigError> {
        if vcpus == 0 {
            return Err(PvTimeConfigError::NoVcpus);
        }
        if self.native_hz == 0 {
            return Err(PvTimeConfigError::ZeroNativeFrequency);
        }
        let table = match self.stolen_time_base {
            None => None,
            Some(base) => {
                let size = (vcpus as u64)
                    .checked_mul(RECORD_SIZE)
                    .filter(|s| base.checked_add(*s).is_some())
                    .ok_or(PvTimeConfigError::TableWraps { base, vcpus })?;
                let range = MemoryRegion { base, size };
                place(TABLE, range, ram, reserved)?;
                Some(range)
            }
        };
        let lpt = match self.lpt {
            None => None,
            Some(l) => {
                if !self.enabled {
                    return Err(PvTimeConfigError::LptWithoutPvTime);
                }
                if l.pv_hz == 0 {
                    return Err(PvTimeConfigError::ZeroPvFrequency);
                }
                let slot = MemoryRegion {
                    base: l.ipa,
                    size: lpt::SLOT_SIZE,
                };
                place(LPT, slot, ram, reserved)?;
                if let Some(t) = table.filter(|t| t.overlaps(&slot)) {
                    return Err(PvTimeConfigError::LptOverlapsRecords {
                        lpt: slot,
                        table: t,
                    });
                }
                let c = lpt::Coefficients::compute(u64::from(self.native_hz), u64::from(l.pv_hz))
                    .map_err(|_| PvTimeConfigError::ZeroPvFrequency)?;
                Some((l, c))
            }
        };
        Ok(Layout { table, lpt })
    }
}
