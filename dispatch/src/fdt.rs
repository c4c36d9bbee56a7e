//! Device-tree nodes for the firmware a VM serves (feature `fdt`).
//!
//! A guest booted with a device tree finds its firmware there: Linux looks
//! for `/firmware/sdei` (compatible `"arm,sdei-1.0"`, `method = "hvc"` or
//! `"smc"`) before it makes its first SDEI call, and for a `psci` node to
//! bring up secondary CPUs. [`FirmwareNodes::for_vm`] decides, from the
//! [`Vm`] itself, which of these nodes the guest must see, so the tree can
//! never promise what fwcall does not serve (or hide what it does); then
//! [`FirmwareNodes::write`] writes them with [`vm_fdt`], next to the VMM's
//! own nodes.
//!
//! Three nodes, each only when it applies:
//!
//! * `/firmware/sdei` when the VM serves SDEI: configured *and* enabled in
//!   the feature words in force;
//! * `/psci` when [`FdtOptions::psci`] names a version (PSCI is served by
//!   the hypervisor or the VMM until fwcall serves it), with the compatible
//!   strings of that version;
//! * `/reserved-memory/pvtime@...` with `no-map` for each region of
//!   [`VmConfig::reserved`](crate::VmConfig::reserved) (where fwcall writes
//!   the stolen-time records and the LPT structure) that lies inside memory
//!   the tree declares ([`FdtOptions::memory`]). A region outside declared
//!   memory needs nothing: the guest never allocates memory it was not
//!   told about. The default declared memory is the VM's own
//!   [`VmConfig::ram`](crate::VmConfig::ram), which fwcall already keeps
//!   apart from the reserved regions, so the node only appears when a VMM
//!   declares a memory node that covers its PV-time region too.
//!
//! ```
//! use fwcall::fdt::{FdtOptions, FirmwareNodes, PsciVersion};
//! use fwcall::{Conduit, NoMemory, Vm, VmConfig};
//!
//! let vm = Vm::new(VmConfig::new(2), NoMemory).unwrap();
//! let nodes = FirmwareNodes::for_vm(
//!     &vm,
//!     &FdtOptions { psci: Some(PsciVersion::V1_1), ..FdtOptions::default() },
//! )
//! .unwrap();
//! assert_eq!(nodes.sdei(), Some(Conduit::Hvc));
//!
//! let mut fdt = vm_fdt::FdtWriter::new().unwrap();
//! let root = fdt.begin_node("").unwrap();
//! fdt.property_u32("#address-cells", 2).unwrap();
//! fdt.property_u32("#size-cells", 2).unwrap();
//! // ... the VMM's root properties, then its memory, cpus, GIC nodes ...
//! nodes.write(&mut fdt).unwrap();
//! fdt.end_node(root).unwrap();
//! let dtb = fdt.finish().unwrap();
//! assert_eq!(&dtb[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use fwcall_pvtime::MemoryRegion;
use fwcall_smccc::Conduit;
use vm_fdt::FdtWriter;

use crate::{GuestMemoryAccess, Vm, describe};

/// The smallest translation granule an arm64 guest may use: a `no-map`
/// region must cover whole pages of it.
const GRANULE: u64 = 4096;

/// A PSCI version, as `PSCI_VERSION` reports it (DEN0022).
///
/// ```
/// use fwcall::fdt::PsciVersion;
///
/// assert_eq!(PsciVersion::from_word(0x1_0001), PsciVersion::V1_1);
/// assert_eq!(PsciVersion::V1_1.to_string(), "1.1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PsciVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl PsciVersion {
    /// PSCI 0.2, the first with `PSCI_VERSION` and standard function IDs.
    pub const V0_2: PsciVersion = PsciVersion::new(0, 2);
    /// PSCI 1.0.
    pub const V1_0: PsciVersion = PsciVersion::new(1, 0);
    /// PSCI 1.1.
    pub const V1_1: PsciVersion = PsciVersion::new(1, 1);

    /// A version from its parts.
    pub const fn new(major: u16, minor: u16) -> Self {
        PsciVersion { major, minor }
    }

    /// The version from a `PSCI_VERSION` result (or KVM's
    /// `KVM_REG_ARM_PSCI_VERSION` register): bits 31:16 major, 15:0 minor.
    pub const fn from_word(word: u32) -> Self {
        PsciVersion::new((word >> 16) as u16, word as u16)
    }

    /// The `compatible` strings of a `psci` node for this version, most
    /// specific first (Linux's `psci.yaml` binding): 0.2 is
    /// `"arm,psci-0.2"`, every 1.x is `"arm,psci-1.0", "arm,psci-0.2"`.
    /// 0.1 (which needs per-function ID properties) and unknown majors have
    /// none.
    ///
    /// ```
    /// use fwcall::fdt::PsciVersion;
    ///
    /// assert_eq!(PsciVersion::V1_1.compatible(), Some(&["arm,psci-1.0", "arm,psci-0.2"][..]));
    /// assert_eq!(PsciVersion::new(0, 1).compatible(), None);
    /// ```
    pub const fn compatible(self) -> Option<&'static [&'static str]> {
        match (self.major, self.minor) {
            (0, 2) => Some(&["arm,psci-0.2"]),
            (1, _) => Some(&["arm,psci-1.0", "arm,psci-0.2"]),
            _ => None,
        }
    }
}

impl fmt::Display for PsciVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What the VM cannot learn from fwcall: how the guest calls, which PSCI
/// it gets, and what memory the tree declares.
///
/// ```
/// use fwcall::fdt::{FdtOptions, PsciVersion};
/// use fwcall::Conduit;
///
/// let o = FdtOptions::default();
/// assert_eq!((o.conduit, o.psci, o.memory), (Conduit::Hvc, None, None));
/// let o = FdtOptions { psci: Some(PsciVersion::V1_0), ..o };
/// assert!(o.psci.is_some());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdtOptions<'a> {
    /// The instruction the guest calls firmware with, written as every
    /// node's `method`: `HVC` under a hypervisor that traps it (KVM),
    /// `SMC` where the hypervisor traps `SMC` instead. One conduit for all
    /// nodes: under ACPI the guest cannot be told two.
    pub conduit: Conduit,
    /// The PSCI version the guest gets, or `None` to write no `psci` node.
    /// Whoever serves PSCI (KVM, the VMM) decides it; with KVM, read the
    /// `KVM_REG_ARM_PSCI_VERSION` firmware register.
    pub psci: Option<PsciVersion>,
    /// The memory the tree's `memory` nodes declare, or `None` when they
    /// declare exactly [`VmConfig::ram`](crate::VmConfig::ram).
    pub memory: Option<&'a [MemoryRegion]>,
}

/// A device tree fwcall's nodes cannot be written into.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FdtError {
    /// vm-fdt refused a node or property.
    #[error(
        "device tree writer: {0}; write fwcall's nodes inside the open root node, after its properties"
    )]
    Writer(vm_fdt::Error),
    /// No `compatible` string describes this PSCI version.
    #[error(
        "PSCI {0} has no device-tree binding fwcall writes; give 0.2 or 1.x (0.1 needs per-function IDs)"
    )]
    UnsupportedPsciVersion(PsciVersion),
    /// A declared memory region is empty or wraps the address space.
    #[error("declared memory region base {:#x} size {:#x} is empty or wraps around the address space", .0.base.0, .0.size)]
    BadMemoryRegion(MemoryRegion),
    /// A reserved region inside declared memory does not cover whole pages.
    #[error(
        "reserved region {0} lies inside declared memory but is not 4 KiB aligned in base and size; the guest can only keep whole pages unmapped (64 KiB alignment suits every page size)"
    )]
    UnalignedReservedRegion(MemoryRegion),
}

impl From<vm_fdt::Error> for FdtError {
    fn from(e: vm_fdt::Error) -> Self {
        FdtError::Writer(e)
    }
}

/// The firmware nodes a VM's device tree needs, decided from the [`Vm`].
///
/// ```
/// use fwcall::fdt::{FdtOptions, FirmwareNodes};
/// use fwcall::{NoMemory, Vm, VmConfig};
///
/// let mut config = VmConfig::new(1);
/// config.sdei = None;
/// let vm = Vm::new(config, NoMemory).unwrap();
/// let nodes = FirmwareNodes::for_vm(&vm, &FdtOptions::default()).unwrap();
/// assert_eq!(nodes.sdei(), None); // no SDEI served, no /firmware/sdei
/// assert!(nodes.psci().is_none() && nodes.reserved().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareNodes {
    sdei: Option<Conduit>,
    psci: Option<(PsciVersion, Conduit)>,
    reserved: Vec<MemoryRegion>,
}

impl FirmwareNodes {
    /// Decides the nodes for `vm`: SDEI from its configuration and feature
    /// words, reserved memory from its reserved regions against the
    /// declared memory, PSCI and the conduit from `options`.
    ///
    /// ```
    /// use fwcall::fdt::{FdtOptions, FirmwareNodes};
    /// use fwcall::{Gpa, MemoryRegion, NoMemory, Vm, VmConfig};
    ///
    /// // RAM as fwcall sees it stops below the PV-time region, but the
    /// // tree declares one memory node over both.
    /// let pvtime = MemoryRegion::new(0x4ff0_0000, 0x1_0000);
    /// let mut config = VmConfig::new(1);
    /// config.ram = vec![MemoryRegion::new(0x4000_0000, 0x0ff0_0000)];
    /// config.reserved = vec![pvtime];
    /// config.pvtime.stolen_time_base = Some(pvtime.base);
    /// let vm = Vm::new(config, NoMemory).unwrap();
    /// let declared = [MemoryRegion::new(0x4000_0000, 0x1000_0000)];
    /// let options = FdtOptions { memory: Some(&declared), ..FdtOptions::default() };
    /// let nodes = FirmwareNodes::for_vm(&vm, &options).unwrap();
    /// assert_eq!(nodes.reserved(), &[pvtime]); // reserved-memory, no-map
    /// ```
    pub fn for_vm<M: GuestMemoryAccess>(
        vm: &Vm<M>,
        options: &FdtOptions<'_>,
    ) -> Result<Self, FdtError> {
        let config = vm.config();
        let psci = match options.psci {
            Some(v) if v.compatible().is_none() => {
                return Err(FdtError::UnsupportedPsciVersion(v));
            }
            Some(v) => Some((v, options.conduit)),
            None => None,
        };
        let memory = options.memory.unwrap_or(&config.ram);
        if let Some(bad) = memory
            .iter()
            .find(|m| m.size == 0 || m.base.checked_add(m.size - 1).is_none())
        {
            return Err(FdtError::BadMemoryRegion(*bad));
        }
        let mut reserved = Vec::new();
        for r in &config.reserved {
            if memory.iter().any(|m| m.overlaps(r)) {
                if r.base.0 % GRANULE != 0 || r.size % GRANULE != 0 {
                    return Err(FdtError::UnalignedReservedRegion(*r));
                }
                reserved.push(*r);
            }
        }
        reserved.sort_unstable_by_key(|r| r.base);
        Ok(FirmwareNodes {
            sdei: describe::sdei_events(vm).map(|_| options.conduit),
            psci,
            reserved,
        })
    }

    /// The conduit of `/firmware/sdei`, or `None` when the VM serves no
    /// SDEI and the node is left out.
    pub fn sdei(&self) -> Option<Conduit> {
        self.sdei
    }

    /// The PSCI version and conduit of `/psci`, if written.
    pub fn psci(&self) -> Option<(PsciVersion, Conduit)> {
        self.psci
    }

    /// The regions written under `/reserved-memory` with `no-map`, by
    /// ascending base; empty when no node is needed.
    pub fn reserved(&self) -> &[MemoryRegion] {
        &self.reserved
    }

    /// Writes every node that applies (`psci`, `firmware/sdei`,
    /// `reserved-memory`) as children of the node open in `fdt`, which must
    /// be the root (its `#address-cells` and `#size-cells` 2, as on every
    /// arm64 VMM) with its own properties already written. A VMM with a
    /// `/firmware` node of its own writes the pieces instead:
    /// [`Self::write_psci`], [`Self::write_sdei`] inside its `firmware`,
    /// [`Self::write_reserved_memory`].
    pub fn write(&self, fdt: &mut FdtWriter) -> Result<(), FdtError> {
        self.write_psci(fdt)?;
        if self.sdei.is_some() {
            let firmware = fdt.begin_node("firmware")?;
            self.write_sdei(fdt)?;
            fdt.end_node(firmware)?;
        }
        self.write_reserved_memory(fdt)
    }

    /// Writes the `psci` node into the open node, if one applies.
    ///
    /// ```
    /// use fwcall::fdt::{FdtOptions, FirmwareNodes, PsciVersion};
    /// use fwcall::{NoMemory, Vm, VmConfig};
    ///
    /// let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    /// let options = FdtOptions { psci: Some(PsciVersion::V0_2), ..FdtOptions::default() };
    /// let nodes = FirmwareNodes::for_vm(&vm, &options).unwrap();
    /// let mut fdt = vm_fdt::FdtWriter::new().unwrap();
    /// let root = fdt.begin_node("").unwrap();
    /// nodes.write_psci(&mut fdt).unwrap();
    /// fdt.end_node(root).unwrap();
    /// assert!(fdt.finish().unwrap().windows(12).any(|w| w == b"arm,psci-0.2"));
    /// ```
    pub fn write_psci(&self, fdt: &mut FdtWriter) -> Result<(), FdtError> {
        let Some((version, conduit)) = self.psci else {
            return Ok(());
        };
        let compatible = version
            .compatible()
            .ok_or(FdtError::UnsupportedPsciVersion(version))?;
        let node = fdt.begin_node("psci")?;
        fdt.property_string_list(
            "compatible",
            compatible.iter().map(|s| s.to_string()).collect(),
        )?;
        fdt.property_string("method", method(conduit))?;
        fdt.end_node(node)?;
        Ok(())
    }

    /// Writes the `sdei` node (compatible `"arm,sdei-1.0"`, the binding for
    /// every SDEI 1.x) into the open node, which should be `/firmware`; does
    /// nothing when the VM serves no SDEI.
    ///
    /// ```
    /// use fwcall::fdt::{FdtOptions, FirmwareNodes};
    /// use fwcall::{NoMemory, Vm, VmConfig};
    ///
    /// let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    /// let nodes = FirmwareNodes::for_vm(&vm, &FdtOptions::default()).unwrap();
    /// let mut fdt = vm_fdt::FdtWriter::new().unwrap();
    /// let root = fdt.begin_node("").unwrap();
    /// let firmware = fdt.begin_node("firmware").unwrap();
    /// // ... the VMM's other firmware nodes ...
    /// nodes.write_sdei(&mut fdt).unwrap();
    /// fdt.end_node(firmware).unwrap();
    /// fdt.end_node(root).unwrap();
    /// assert!(fdt.finish().unwrap().windows(12).any(|w| w == b"arm,sdei-1.0"));
    /// ```
    pub fn write_sdei(&self, fdt: &mut FdtWriter) -> Result<(), FdtError> {
        let Some(conduit) = self.sdei else {
            return Ok(());
        };
        let node = fdt.begin_node("sdei")?;
        fdt.property_string("compatible", "arm,sdei-1.0")?;
        fdt.property_string("method", method(conduit))?;
        fdt.end_node(node)?;
        Ok(())
    }

    /// Writes `reserved-memory` with one `no-map` child per region that
    /// needs it into the open node (the root); nothing when none does.
    ///
    /// ```
    /// use fwcall::fdt::{FdtOptions, FirmwareNodes};
    /// use fwcall::{NoMemory, Vm, VmConfig};
    ///
    /// let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    /// let nodes = FirmwareNodes::for_vm(&vm, &FdtOptions::default()).unwrap();
    /// let mut fdt = vm_fdt::FdtWriter::new().unwrap();
    /// let root = fdt.begin_node("").unwrap();
    /// nodes.write_reserved_memory(&mut fdt).unwrap(); // no region: no node
    /// fdt.end_node(root).unwrap();
    /// assert!(!fdt.finish().unwrap().windows(15).any(|w| w == b"reserved-memory"));
    /// ```
    pub fn write_reserved_memory(&self, fdt: &mut FdtWriter) -> Result<(), FdtError> {
        if self.reserved.is_empty() {
            return Ok(());
        }
        let parent = fdt.begin_node("reserved-memory")?;
        fdt.property_u32("#address-cells", 2)?;
        fdt.property_u32("#size-cells", 2)?;
        fdt.property_null("ranges")?;
        for r in &self.reserved {
            let child = fdt.begin_node(&node_name("pvtime", r))?;
            fdt.property_array_u64("reg", &[r.base.0, r.size])?;
            fdt.property_null("no-map")?;
            fdt.end_node(child)?;
        }
        fdt.end_node(parent)?;
        Ok(())
    }
}

fn method(conduit: Conduit) -> &'static str {
    match conduit {
        Conduit::Hvc => "hvc",
        Conduit::Smc => "smc",
    }
}

fn node_name(name: &str, r: &MemoryRegion) -> String {
    format!("{name}@{:x}", r.base.0)
}

#[cfg(test)]
mod tests;
