//! What a VMM promises its guest about PSCI.

use alloc::vec::Vec;

use fwcall_smccc::VcpuIndex;

use crate::PsciVersion;

/// PSCI for one VM: the version served and which vCPUs are on when the VM
/// starts (and after every system reset).
///
/// ```
/// use fwcall_psci::{PsciConfig, PsciVersion};
/// let c = PsciConfig::new(PsciVersion::V1_0);
/// assert_eq!(c.boot, [fwcall_smccc::VcpuIndex(0)]);
/// assert!(c.validate(4).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PsciConfig {
    /// The version `PSCI_VERSION` reports; it decides which functions exist.
    pub version: PsciVersion,
    /// The vCPUs powered on at VM start and after a system reset; the rest
    /// wait for a `CPU_ON`. Usually just the boot vCPU, 0.
    pub boot: Vec<VcpuIndex>,
}

impl PsciConfig {
    /// `version`, with only vCPU 0 on at boot.
    pub fn new(version: PsciVersion) -> Self {
        PsciConfig {
            version,
            boot: alloc::vec![VcpuIndex(0)],
        }
    }

    /// Checks the boot set against a VM of `vcpus` vCPUs.
    pub fn validate(&self, vcpus: usize) -> Result<(), PsciConfigError> {
        if self.boot.is_empty() {
            return Err(PsciConfigError::NoBootVcpu);
        }
        let mut seen = alloc::vec![false; vcpus];
        for v in &self.boot {
            let slot = seen
                .get_mut(v.get())
                .ok_or(PsciConfigError::BootVcpuMissing {
                    vcpu: *v,
                    count: vcpus,
                })?;
            if *slot {
                return Err(PsciConfigError::BootVcpuTwice(*v));
            }
            *slot = true;
        }
        Ok(())
    }
}

impl Default for PsciConfig {
    /// PSCI 1.1 (what TF-A and KVM before 6.13 report), vCPU 0 on at boot.
    fn default() -> Self {
        Self::new(PsciVersion::V1_1)
    }
}

/// A PSCI configuration fwcall cannot serve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PsciConfigError {
    /// No vCPU would ever run.
    #[error("PSCI boots no vCPU: list at least one in PsciConfig::boot (usually vCPU 0)")]
    NoBootVcpu,
    /// A boot vCPU that does not exist.
    #[error("PSCI boot {vcpu} does not exist: the VM has {count} vCPUs")]
    BootVcpuMissing {
        /// The vCPU named.
        vcpu: VcpuIndex,
        /// How many there are.
        count: usize,
    },
    /// A boot vCPU listed twice.
    #[error("PSCI boot lists {0} twice")]
    BootVcpuTwice(VcpuIndex),
    /// Two vCPUs share an affinity: `CPU_ON` could not tell them apart.
    #[error(
        "vCPUs {first} and {second} share the affinity {affinity:#x}; every vCPU needs its own MPIDR"
    )]
    DuplicateMpidr {
        /// The first vCPU.
        first: usize,
        /// The second vCPU.
        second: usize,
        /// The shared affinity.
        affinity: u64,
    },
    /// A restored power state for another number of vCPUs.
    #[error("the power state covers {states} vCPUs but the VM has {vcpus}")]
    StateCount {
        /// States given.
        states: usize,
        /// vCPUs in the VM.
        vcpus: usize,
    },
}
