//! The SMCCC filter: which function IDs KVM must forward to the VMM.
//!
//! KVM answers every SMCCC call itself unless a `KVM_ARM_VM_SMCCC_FILTER`
//! range says `FWD_TO_USER`. The plan lists exactly what fwcall serves
//! under the VM's feature words, and nothing KVM keeps for itself (the Arm
//! Architecture range, which KVM reserves; its vendor calls; PSCI and TRNG
//! unless fwcall serves them).

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::RangeInclusive;

use fwcall_pvtime::GuestMemoryAccess;
use fwcall_smccc::FunctionId;

use super::abi::{FilterAction, SmcccFilter};
use crate::Vm;
use crate::features::{FirmwareFeatures, StdFeatures, StdHypFeatures};

/// One range of function IDs forwarded to userspace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FilterRange {
    /// First function ID.
    pub base: u32,
    /// How many IDs (at least 1).
    pub count: u32,
    /// What fwcall serves there, for messages and logs.
    pub what: String,
}

impl FilterRange {
    fn new(base: u32, count: u32, what: &str) -> Self {
        FilterRange {
            base,
            count,
            what: String::from(what),
        }
    }

    /// The last function ID of the range.
    pub const fn last(&self) -> u32 {
        self.base.saturating_add(self.count.saturating_sub(1))
    }

    /// Whether `fid` is forwarded by this range.
    pub const fn contains(&self, fid: FunctionId) -> bool {
        fid.raw() >= self.base && fid.raw() <= self.last()
    }

    /// The `struct kvm_smccc_filter` that installs it with `FWD_TO_USER`.
    pub const fn to_kvm(&self) -> SmcccFilter {
        SmcccFilter {
            base: self.base,
            nr_functions: self.count,
            action: FilterAction::FwdToUser as u8,
            pad: [0; 15],
        }
    }
}

impl core::fmt::Display for FilterRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{:#010x}..={:#010x} ({})",
            self.base,
            self.last(),
            self.what
        )
    }
}

/// The Arm Architecture ranges: KVM inserts them as reserved on the first
/// filter write, so no range may touch them.
const ARCH_RANGES: [(u32, u32); 2] = [(0x8000_0000, 0x8000_FFFF), (0xC000_0000, 0xC000_FFFF)];

/// A range the plan cannot forward.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Start after end.
    #[error("filter range {start:#010x}..={end:#010x} for `{what}` is empty")]
    Empty {
        /// First ID.
        start: u32,
        /// Last ID.
        end: u32,
        /// The service.
        what: String,
    },
    /// KVM reserves the Arm Architecture calls (`EEXIST` from KVM).
    #[error(
        "filter range {start:#010x}..={end:#010x} for `{what}` touches the Arm Architecture calls, which KVM reserves and always answers itself"
    )]
    ArchReserved {
        /// First ID.
        start: u32,
        /// Last ID.
        end: u32,
        /// The service.
        what: String,
    },
    /// Ranges may not overlap (`EEXIST` from KVM).
    #[error("filter range {start:#010x}..={end:#010x} for `{what}` overlaps {other}")]
    Overlap {
        /// First ID.
        start: u32,
        /// Last ID.
        end: u32,
        /// The service.
        what: String,
        /// The range already planned.
        other: FilterRange,
    },
}

/// The ranges to install with `FWD_TO_USER`, before any vCPU runs.
///
/// ```
/// use fwcall::kvm::{FilterPlan, vm_config};
/// use fwcall::{Vm, NoMemory, ids};
///
/// let vm = Vm::new(vm_config(2), NoMemory).unwrap();
/// let plan = FilterPlan::for_vm(&vm);
/// assert!(plan.forwards(ids::SDEI_EVENT_COMPLETE));
/// assert!(plan.forwards(ids::PV_TIME_ST));
/// assert!(!plan.forwards(ids::SMCCC_VERSION)); // KVM keeps the Arm Architecture calls
/// for range in plan.ranges() {
///     let _kvm_struct = range.to_kvm(); // KVM_SET_DEVICE_ATTR on the VM fd
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FilterPlan {
    ranges: Vec<FilterRange>,
}

impl FilterPlan {
    /// The plan for `vm`'s feature words as they are now, including the
    /// range of every service added with [`Vm::add_service`] whose feature
    /// bit is set: build it after the VMM wrote (or restored) the words.
    pub fn for_vm<M: GuestMemoryAccess>(vm: &Vm<M>) -> Self {
        let features = vm.features();
        let mut plan = Self::for_features(&features);
        for s in &vm.services {
            if features.vendor_hyp.bits() & s.bit != 0 {
                // `Vm::add_service` already refused empty, overlapping and
                // reserved ranges, so this cannot fail.
                let count = s.end.saturating_sub(s.start).saturating_add(1);
                plan.ranges
                    .push(FilterRange::new(s.start, count, s.service.name()));
            }
        }
        plan
    }

    /// The plan for a set of feature words.
    ///
    /// * SDEI on: `0xC400_0020` + 32 and its SMC32 alias `0x8400_0020` + 32
    ///   (fwcall answers the aliases `NOT_SUPPORTED`, exactly as on any
    ///   other transport).
    /// * PV time on: `0xC500_0020` + 2 (+ 3 with LPT), and the Standard
    ///   Hypervisor general queries `0x8500_FF00` + 4, so OEN 5 is answered
    ///   by one server.
    /// * PSCI on: `0x8400_0000` + 32 and `0xC400_0000` + 32, every PSCI
    ///   function number (fwcall answers the ones it does not implement
    ///   `NOT_SUPPORTED`); KVM's PSCI no longer sees a call, so the VMM
    ///   starts and stops vCPUs ([`PowerLines`](super::PowerLines)).
    /// * TRNG on: `0x8400_0050` + 4 and `0xC400_0050` + 4 (TRNG 1.0's five
    ///   IDs and the SMC64 forms fwcall refuses).
    pub fn for_features(features: &FirmwareFeatures) -> Self {
        let mut ranges = Vec::new();
        if features.std.contains(StdFeatures::PSCI) {
            ranges.push(FilterRange::new(0x8400_0000, 32, "PSCI"));
            ranges.push(FilterRange::new(0xC400_0000, 32, "PSCI (SMC64)"));
        }
        if features.std.contains(StdFeatures::TRNG) {
            ranges.push(FilterRange::new(0x8400_0050, 4, "TRNG"));
            ranges.push(FilterRange::new(0xC400_0050, 4, "TRNG (SMC64)"));
        }
        if features.std.contains(StdFeatures::SDEI) {
            ranges.push(FilterRange::new(
                0x8400_0020,
                32,
                "SDEI (SMC32 aliases, refused)",
            ));
            ranges.push(FilterRange::new(0xC400_0020, 32, "SDEI"));
        }
        if features.std_hyp.contains(StdHypFeatures::PV_TIME) {
            ranges.push(FilterRange::new(
                0x8500_FF00,
                4,
                "Standard Hypervisor Service queries",
            ));
            let lpt = features.std_hyp.contains(StdHypFeatures::PV_TIME_LPT);
            ranges.push(FilterRange::new(
                0xC500_0020,
                if lpt { 3 } else { 2 },
                "PV time",
            ));
        }
        FilterPlan { ranges }
    }

    /// Adds a range served elsewhere in the VMM's fwcall path (for a plan
    /// built with [`FilterPlan::for_features`]; [`FilterPlan::for_vm`]
    /// already has the VM's services).
    pub fn with_service(
        mut self,
        range: RangeInclusive<u32>,
        what: &str,
    ) -> Result<Self, FilterError> {
        let (start, end) = (*range.start(), *range.end());
        let owned = || String::from(what);
        if start > end {
            return Err(FilterError::Empty {
                start,
                end,
                what: owned(),
            });
        }
        if ARCH_RANGES.iter().any(|(s, e)| start <= *e && *s <= end) {
            return Err(FilterError::ArchReserved {
                start,
                end,
                what: owned(),
            });
        }
        if let Some(other) = self
            .ranges
            .iter()
            .find(|r| start <= r.last() && r.base <= end)
        {
            return Err(FilterError::Overlap {
                start,
                end,
                what: owned(),
                other: other.clone(),
            });
        }
        // end - start < 2^32 - 1 since both ranges above exclude 0x8000_0000.
        let count = (end - start).saturating_add(1);
        self.ranges.push(FilterRange::new(start, count, what));
        Ok(self)
    }

    /// The ranges, in installation order.
    pub fn ranges(&self) -> &[FilterRange] {
        &self.ranges
    }

    /// Whether KVM will forward `fid` under this plan.
    pub fn forwards(&self, fid: FunctionId) -> bool {
        self.ranges.iter().any(|r| r.contains(fid))
    }
}
