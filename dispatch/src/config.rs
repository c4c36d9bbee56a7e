//! The VM configuration: everything the guest is promised, validated once.

use alloc::vec::Vec;

use fwcall_psci::{PsciConfig, PsciConfigError};
use fwcall_pvtime::{MemoryRegion, PvTimeConfig, PvTimeConfigError};
use fwcall_sdei::{SdeiConfig, SdeiConfigError};
use fwcall_smccc::arch::SocIdError;
use fwcall_smccc::{Mpidr, SmcccVersion, SocId, Workarounds};
use fwcall_trng::{TrngConfig, TrngConfigError};

/// What a VMM promises its guest. Build with [`VmConfig::new`], adjust the
/// fields, and hand it to [`crate::Vm::new`], which validates it.
///
/// ```
/// use fwcall::{VmConfig, Gpa, MemoryRegion};
///
/// let mut config = VmConfig::new(2);
/// config.ram = vec![MemoryRegion { base: Gpa(0x4000_0000), size: 256 << 20 }];
/// // PV-time records live in a region of their own, outside RAM.
/// config.reserved = vec![MemoryRegion { base: Gpa(0x0a10_0000), size: 0x1_0000 }];
/// config.pvtime.stolen_time_base = Some(Gpa(0x0a10_0000));
/// assert!(config.validate().is_ok());
///
/// // PSCI 1.1 with vCPU 0 on at boot, and TRNG.
/// config.psci = Some(fwcall::PsciConfig::new(fwcall::PsciVersion::V1_1));
/// config.trng = Some(fwcall::TrngConfig::default());
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct VmConfig {
    /// One MPIDR per vCPU; vCPU `i` has `mpidrs[i]`.
    pub mpidrs: Vec<Mpidr>,
    /// The SMCCC version reported by `SMCCC_VERSION`.
    pub smccc_version: SmcccVersion,
    /// SDEI, or `None` to leave the SDEI range unserved.
    pub sdei: Option<SdeiConfig>,
    /// PV time (stolen time and LPT).
    pub pvtime: PvTimeConfig,
    /// The guest's RAM, as its device tree or ACPI tables declare it.
    pub ram: Vec<MemoryRegion>,
    /// Regions the VMM set aside for fwcall outside RAM (PV-time records,
    /// the LPT structure), described to the guest as reserved.
    pub reserved: Vec<MemoryRegion>,
    /// `SMCCC_ARCH_SOC_ID` values, or `None` (`NOT_SUPPORTED`).
    pub soc_id: Option<SocId>,
    /// `SMCCC_ARCH_WORKAROUND_1/2/3` states.
    pub workarounds: Workarounds,
    /// PSCI served by fwcall (its version and the vCPUs on at boot), or
    /// `None` to leave PSCI with the hypervisor (KVM's in-kernel PSCI).
    /// With PSCI on, fwcall keeps every vCPU's power state and `CPU_ON`,
    /// `CPU_OFF` and the system calls come back as
    /// [`PowerAction`](fwcall_smccc::PowerAction)s.
    pub psci: Option<PsciConfig>,
    /// TRNG 1.0 served by fwcall (its UUID), or `None`. The entropy comes
    /// from [`crate::Vm::set_entropy_source`] (the host's generator by
    /// default with the `std` feature).
    pub trng: Option<TrngConfig>,
}

impl VmConfig {
    /// Defaults for `vcpus` vCPUs: KVM's default MPIDRs, the highest SMCCC
    /// version, SDEI 1.1 with event 0 only, PV time on but unplaced (so
    /// `PV_TIME_ST` answers `NOT_SUPPORTED` until `pvtime.stolen_time_base`
    /// is set), no memory regions, no SoC ID, workarounds not available,
    /// PSCI and TRNG off (opt in with `psci`/`trng`).
    pub fn new(vcpus: u32) -> Self {
        VmConfig {
            mpidrs: (0..vcpus).map(Mpidr::kvm_default).collect(),
            smccc_version: SmcccVersion::HIGHEST,
            sdei: Some(SdeiConfig::default()),
            pvtime: PvTimeConfig::default(),
            ram: Vec::new(),
            reserved: Vec::new(),
            soc_id: None,
            workarounds: Workarounds::default(),
            psci: None,
            trng: None,
        }
    }

    /// The number of vCPUs.
    pub fn vcpu_count(&self) -> usize {
        self.mpidrs.len()
    }

    /// Checks everything that does not need the services built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mpidrs.is_empty() {
            return Err(ConfigError::NoVcpus);
        }
        if u32::try_from(self.mpidrs.len()).is_err() {
            return Err(ConfigError::TooManyVcpus(self.mpidrs.len()));
        }
        for (i, m) in self.mpidrs.iter().enumerate() {
            if !m.is_well_formed() {
                return Err(ConfigError::MalformedMpidr {
                    vcpu: i,
                    mpidr: m.0,
                });
            }
        }
        // Sorted, so a config (or a hostile snapshot's) with many vCPUs is
        // checked in n log n rather than comparing every pair.
        let mut by_affinity: Vec<(u64, usize)> = self
            .mpidrs
            .iter()
            .enumerate()
            .map(|(i, m)| (m.affinity(), i))
            .collect();
        by_affinity.sort_unstable();
        if let Some(w) = by_affinity.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ConfigError::DuplicateMpidr {
                first: w[0].1,
                second: w[1].1,
                mpidr: self.mpidrs[w[1].1].0,
            });
        }
        if !self.smccc_version.is_supported() {
            return Err(ConfigError::UnsupportedSmcccVersion(self.smccc_version));
        }
        if let Some(soc) = &self.soc_id {
            soc.validate()?;
        }
        if let Some(p) = &self.psci {
            p.validate(self.mpidrs.len())?;
        }
        if let Some(t) = &self.trng {
            t.validate()?;
        }
        let all = || self.ram.iter().chain(self.reserved.iter());
        for (i, a) in all().enumerate() {
            if a.size == 0 || a.base.0.checked_add(a.size - 1).is_none() {
                return Err(ConfigError::BadRegion {
                    base: a.base.0,
                    size: a.size,
                });
            }
            for b in all().skip(i + 1) {
                if a.overlaps(b) {
                    return Err(ConfigError::OverlappingRegions { a: *a, b: *b });
                }
            }
        }
        Ok(())
    }
}

/// A configuration fwcall cannot serve.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// `mpidrs` is empty.
    #[error("the VM has no vCPUs: give VmConfig at least one MPIDR")]
    NoVcpus,
    /// More vCPUs than a `u32` index can name.
    #[error("{0} vCPUs cannot be indexed by a u32")]
    TooManyVcpus(usize),
    /// An MPIDR with bits set outside the affinity and flag fields.
    #[error(
        "vCPU {vcpu}: {mpidr:#x} is not an MPIDR (bits outside Aff3..Aff0, U, MT and bit 31 are set)"
    )]
    MalformedMpidr {
        /// The vCPU.
        vcpu: usize,
        /// Its value.
        mpidr: u64,
    },
    /// Two vCPUs share an affinity: SDEI routing could not tell them apart.
    #[error(
        "vCPUs {first} and {second} share the affinity of MPIDR {mpidr:#x}; every vCPU needs its own"
    )]
    DuplicateMpidr {
        /// The first vCPU.
        first: usize,
        /// The second vCPU.
        second: usize,
        /// The shared value.
        mpidr: u64,
    },
    /// An SMCCC version fwcall does not implement.
    #[error("SMCCC {0} is not served by fwcall; choose 1.0 to {max}", max = SmcccVersion::HIGHEST)]
    UnsupportedSmcccVersion(SmcccVersion),
    /// A SoC ID word with bit 31 set.
    #[error(transparent)]
    SocId(#[from] SocIdError),
    /// A memory region that is empty or wraps the address space.
    #[error(
        "memory region base {base:#x} size {size:#x} is empty or wraps around the address space"
    )]
    BadRegion {
        /// Its base.
        base: u64,
        /// Its size.
        size: u64,
    },
    /// Two declared regions overlap.
    #[error(
        "memory regions {a:?} and {b:?} overlap; RAM and fwcall's reserved regions must be disjoint"
    )]
    OverlappingRegions {
        /// One region.
        a: MemoryRegion,
        /// The other.
        b: MemoryRegion,
    },
    /// The SDEI configuration is invalid.
    #[error("SDEI: {0}")]
    Sdei(#[from] SdeiConfigError),
    /// The PV-time configuration is invalid.
    #[error("PV time: {0}")]
    PvTime(#[from] PvTimeConfigError),
    /// The PSCI configuration is invalid.
    #[error("PSCI: {0}")]
    Psci(#[from] PsciConfigError),
    /// The TRNG configuration is invalid.
    #[error("TRNG: {0}")]
    Trng(#[from] TrngConfigError),
}
