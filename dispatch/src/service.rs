//! Services a VMM adds for its own function IDs (a power device, a vendor
//! hypervisor call, its own PSCI or TRNG when fwcall's are off) without
//! forking fwcall.

use core::ops::RangeInclusive;

use fwcall_smccc::{Call, FunctionId, Outcome, VcpuIndex};

/// A firmware service the VMM implements itself.
///
/// fwcall routes every call whose function ID falls in the range the
/// service was added with, after the SVE hint is stripped and only if the
/// service's feature bit is set. The service answers with an [`Outcome`],
/// exactly like fwcall's own services.
///
/// ```
/// use fwcall::{Service, Call, Outcome, Reply, VcpuIndex, FunctionId};
///
/// /// Answers 0xC600_0010 with a fixed "random" value.
/// #[derive(Debug)]
/// struct Dice;
/// impl Service for Dice {
///     fn name(&self) -> &str { "dice" }
///     fn call(&self, _vcpu: VcpuIndex, _call: &Call) -> Outcome {
///         Outcome::reply(Reply::x0(4))
///     }
///     // It looks at no argument: a KVM exit costs no register read.
///     fn argument_registers(&self, _fid: FunctionId) -> u8 { 0 }
/// }
/// ```
pub trait Service: Send + Sync + core::fmt::Debug {
    /// A short name for messages.
    fn name(&self) -> &str;

    /// Serves one call on `vcpu`.
    fn call(&self, vcpu: VcpuIndex, call: &Call) -> Outcome;

    /// How many argument registers (`X1..Xn`) the call `fid` reads. Under
    /// KVM each one is a `KVM_GET_ONE_REG` ioctl on the exit path, so
    /// declare exactly what [`Service::call`] looks at: registers past the
    /// count reach it as 0. The default reads all of them (`X1..X17`, or
    /// `X1..X7` under SMCCC 1.1): always correct, never cheap.
    fn argument_registers(&self, fid: FunctionId) -> u8 {
        let _ = fid;
        17
    }

    /// What `SMCCC_ARCH_FEATURES(fid)` answers for an ID in this service's
    /// range: by default 0 (implemented) for every ID in the range. Return
    /// -1 for IDs the service does not implement.
    fn arch_features(&self, fid: FunctionId) -> i64 {
        let _ = fid;
        0
    }
}

/// The function IDs fwcall itself owns, which no added service may claim.
pub(crate) const RESERVED_RANGES: [(u32, u32, &str); 6] = [
    (0x8000_0000, 0x8000_FFFF, "the Arm Architecture calls"),
    (0xC000_0000, 0xC000_FFFF, "the Arm Architecture calls"),
    (0x8400_0020, 0x8400_003F, "SDEI"),
    (0xC400_0020, 0xC400_003F, "SDEI"),
    (0x8500_0000, 0x8500_FFFF, "the Standard Hypervisor Service"),
    (0xC500_0000, 0xC500_FFFF, "the Standard Hypervisor Service"),
];

/// Why a service could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The range is empty (start after end).
    #[error("service `{name}`: range {start:#010x}..={end:#010x} is empty")]
    EmptyRange {
        /// The service.
        name: alloc::string::String,
        /// First ID.
        start: u32,
        /// Last ID.
        end: u32,
    },
    /// The range overlaps one fwcall serves.
    #[error(
        "service `{name}`: range {start:#010x}..={end:#010x} overlaps {owner}, which fwcall serves"
    )]
    Reserved {
        /// The service.
        name: alloc::string::String,
        /// First ID.
        start: u32,
        /// Last ID.
        end: u32,
        /// What fwcall serves there.
        owner: &'static str,
    },
    /// The range overlaps a service added before.
    #[error("service `{name}`: range {start:#010x}..={end:#010x} overlaps service `{other}`")]
    Overlap {
        /// The service.
        name: alloc::string::String,
        /// First ID.
        start: u32,
        /// Last ID.
        end: u32,
        /// The other service.
        other: alloc::string::String,
    },
    /// The feature bit is out of range (0..=63).
    #[error("service `{name}`: feature bit {bit} is out of range (0..=63)")]
    BadBit {
        /// The service.
        name: alloc::string::String,
        /// The bit.
        bit: u32,
    },
    /// Services are added before the guest runs.
    #[error(
        "service `{name}`: the guest has already made calls; add services before the first vCPU runs"
    )]
    Started {
        /// The service.
        name: alloc::string::String,
    },
}

#[derive(Debug)]
pub(crate) struct Registered {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) bit: u64,
    pub(crate) service: alloc::boxed::Box<dyn Service>,
}

impl Registered {
    #[inline]
    pub(crate) fn covers(&self, fid: FunctionId) -> bool {
        (self.start..=self.end).contains(&fid.raw())
    }
}

pub(crate) fn check_range(
    name: &str,
    range: &RangeInclusive<u32>,
    existing: &[Registered],
    config_owned: &[(u32, u32, &'static str)],
) -> Result<(), ServiceError> {
    let (start, end) = (*range.start(), *range.end());
    let owned = || alloc::string::String::from(name);
    if start > end {
        return Err(ServiceError::EmptyRange {
            name: owned(),
            start,
            end,
        });
    }
    for &(s, e, owner) in RESERVED_RANGES.iter().chain(config_owned) {
        if start <= e && s <= end {
            return Err(ServiceError::Reserved {
                name: owned(),
                start,
                end,
                owner,
            });
        }
    }
    for r in existing {
        if start <= r.end && r.start <= end {
            return Err(ServiceError::Overlap {
                name: owned(),
                start,
                end,
                other: alloc::string::String::from(r.service.name()),
            });
        }
    }
    Ok(())
}
