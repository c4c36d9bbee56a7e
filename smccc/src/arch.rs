//! The Arm Architecture calls (OEN 0): `SMCCC_VERSION`,
//! `SMCCC_ARCH_FEATURES`, `SMCCC_ARCH_SOC_ID` and `SMCCC_ARCH_WORKAROUND_*`.
//!
//! Under KVM these never reach userspace (KVM reserves the range); a VMM on
//! a hypervisor that forwards every HVC/SMC (Hypervisor.framework, Gunyah,
//! an emulator) serves them here.

use crate::error::{INVALID_PARAMETER, NOT_REQUIRED, NOT_SUPPORTED, SUCCESS};
use crate::{Call, FunctionId, Reply, SmcccVersion, ids};

/// `SMCCC_ARCH_WORKAROUND_1`/`_3` state, with KVM's firmware-register levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum WorkaroundLevel {
    /// 0: the host is vulnerable and offers no mitigation: `ARCH_FEATURES` → -1.
    #[default]
    NotAvail = 0,
    /// 1: the guest must call the workaround: `ARCH_FEATURES` → 0.
    Avail = 1,
    /// 2: the host is unaffected: `ARCH_FEATURES` → 1.
    NotRequired = 2,
}

impl WorkaroundLevel {
    /// The level for a KVM register value (bits 3:0).
    pub const fn from_level(v: u64) -> Option<Self> {
        match v {
            0 => Some(Self::NotAvail),
            1 => Some(Self::Avail),
            2 => Some(Self::NotRequired),
            _ => None,
        }
    }

    /// `SMCCC_ARCH_FEATURES` result.
    pub const fn features_result(self) -> i64 {
        match self {
            Self::NotAvail => NOT_SUPPORTED,
            Self::Avail => SUCCESS,
            Self::NotRequired => 1,
        }
    }
}

/// `SMCCC_ARCH_WORKAROUND_2` (SSBD) state, with KVM's levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum Workaround2Level {
    /// 0: vulnerable: `ARCH_FEATURES` → -1.
    #[default]
    NotAvail = 0,
    /// 1: state unknown: `ARCH_FEATURES` → -1.
    Unknown = 1,
    /// 2: dynamic mitigation through the call: `ARCH_FEATURES` → 0.
    Avail = 2,
    /// 3: permanently mitigated or unaffected: `ARCH_FEATURES` → -2.
    NotRequired = 3,
}

impl Workaround2Level {
    /// The level for a KVM register value (bits 3:0).
    pub const fn from_level(v: u64) -> Option<Self> {
        match v {
            0 => Some(Self::NotAvail),
            1 => Some(Self::Unknown),
            2 => Some(Self::Avail),
            3 => Some(Self::NotRequired),
            _ => None,
        }
    }

    /// `SMCCC_ARCH_FEATURES` result.
    pub const fn features_result(self) -> i64 {
        match self {
            Self::NotAvail | Self::Unknown => NOT_SUPPORTED,
            Self::Avail => SUCCESS,
            Self::NotRequired => NOT_REQUIRED,
        }
    }
}

/// The three workaround states a VM promises its guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Workarounds {
    /// `SMCCC_ARCH_WORKAROUND_1` (Spectre-v2).
    pub wa1: WorkaroundLevel,
    /// `SMCCC_ARCH_WORKAROUND_2` (SSBD).
    pub wa2: Workaround2Level,
    /// `SMCCC_ARCH_WORKAROUND_3` (Spectre-BHB).
    pub wa3: WorkaroundLevel,
}

/// What `SMCCC_ARCH_SOC_ID` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SocId {
    /// Selector 0: bits 30:24 JEP-106 bank index, 23:16 JEP-106 identity
    /// code, 15:0 the SoC ID. Bit 31 must be clear.
    pub version: u32,
    /// Selector 1: the SoC revision, bit 31 clear.
    pub revision: u32,
}

/// An invalid SoC ID value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SocIdError {
    /// Bit 31 of a SoC ID word would make the result look like an error code.
    #[error(
        "SoC ID {which} {value:#x} has bit 31 set; SMCCC reserves it (results must be non-negative)"
    )]
    Bit31Set {
        /// `"version"` or `"revision"`.
        which: &'static str,
        /// The rejected value.
        value: u32,
    },
}

impl SocId {
    /// A SoC ID from its JEP-106 bank (continuation count, 0..=127),
    /// identity code (0..=127, parity dropped), SoC number and revision.
    pub fn new(
        jep106_bank: u8,
        jep106_id: u8,
        soc: u16,
        revision: u32,
    ) -> Result<Self, SocIdError> {
        let s = SocId {
            version: ((jep106_bank as u32 & 0x7f) << 24)
                | ((jep106_id as u32 & 0x7f) << 16)
                | soc as u32,
            revision,
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks that neither word has bit 31 set.
    pub fn validate(&self) -> Result<(), SocIdError> {
        if self.version & 0x8000_0000 != 0 {
            return Err(SocIdError::Bit31Set {
                which: "version",
                value: self.version,
            });
        }
        if self.revision & 0x8000_0000 != 0 {
            return Err(SocIdError::Bit31Set {
                which: "revision",
                value: self.revision,
            });
        }
        Ok(())
    }
}

/// The Arm Architecture service of one VM: immutable after construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ArchService {
    /// The SMCCC version reported to the guest.
    pub version: SmcccVersion,
    /// `SMCCC_ARCH_SOC_ID` values, or `None` (the call answers `NOT_SUPPORTED`).
    pub soc_id: Option<SocId>,
    /// Workaround states.
    pub workarounds: Workarounds,
}

impl ArchService {
    /// Whether `fid` (already stripped of the SVE hint) is an Arm
    /// Architecture call this service answers at its version.
    pub fn serves(&self, fid: FunctionId) -> bool {
        self.features_result(fid).is_some()
    }

    /// What `SMCCC_ARCH_FEATURES(fid)` answers for the arch calls themselves;
    /// `None` for IDs outside them (the VM asks the other services).
    pub fn features_result(&self, fid: FunctionId) -> Option<i64> {
        if !self.version.has_arch_calls() {
            return None;
        }
        let w = &self.workarounds;
        let r = match fid {
            // Report the discovery calls themselves as implemented (TF-A's
            // answer; KVM says -1, which SMCCC does not intend).
            ids::SMCCC_VERSION | ids::SMCCC_ARCH_FEATURES => SUCCESS,
            ids::SMCCC_ARCH_SOC_ID
                if self.version.has_wide_registers() && self.soc_id.is_some() =>
            {
                SUCCESS
            }
            ids::SMCCC_ARCH_WORKAROUND_1 => w.wa1.features_result(),
            ids::SMCCC_ARCH_WORKAROUND_2 => w.wa2.features_result(),
            ids::SMCCC_ARCH_WORKAROUND_3 => w.wa3.features_result(),
            _ => return None,
        };
        (r != NOT_SUPPORTED).then_some(r)
    }

    /// Serves an Arm Architecture call (`fid` is stripped of the SVE hint).
    /// `others` answers `SMCCC_ARCH_FEATURES` for IDs outside this range:
    /// the VM passes what its other services report.
    ///
    /// Returns `None` for an ID this service does not own or does not serve
    /// at its version; the caller answers `NOT_SUPPORTED`.
    #[inline]
    pub fn call(
        &self,
        fid: FunctionId,
        call: &Call,
        others: impl FnOnce(FunctionId) -> i64,
    ) -> Option<Reply> {
        self.answer(fid, call, others).map(Reply::x0)
    }

    /// The same as [`ArchService::call`], as the one value every Arm
    /// Architecture call returns in `X0` (negative results sign-extended).
    /// Cheaper on a hot path: no reply is built until the caller builds
    /// its own.
    #[inline]
    pub fn answer(
        &self,
        fid: FunctionId,
        call: &Call,
        others: impl FnOnce(FunctionId) -> i64,
    ) -> Option<u64> {
        if !self.version.has_arch_calls() {
            return None;
        }
        let w = &self.workarounds;
        let r = match fid {
            ids::SMCCC_VERSION => self.version.to_word() as i64,
            ids::SMCCC_ARCH_FEATURES => {
                let queried = FunctionId::from_register(call.arg(1)).for_lookup(self.version);
                match self.features_result(queried) {
                    Some(r) => r,
                    None if queried.owner() == crate::Owner::Arch => NOT_SUPPORTED,
                    None => others(queried),
                }
            }
            ids::SMCCC_ARCH_SOC_ID if self.version.has_wide_registers() => {
                let soc = self.soc_id?;
                match call.arg(1) {
                    0 => soc.version as i64,
                    1 => soc.revision as i64,
                    _ => INVALID_PARAMETER,
                }
            }
            ids::SMCCC_ARCH_WORKAROUND_1 => self.workaround(w.wa1.features_result())?,
            ids::SMCCC_ARCH_WORKAROUND_2 => self.workaround(w.wa2.features_result())?,
            ids::SMCCC_ARCH_WORKAROUND_3 => self.workaround(w.wa3.features_result())?,
            _ => return None,
        };
        Some(r as u64)
    }

    /// How many argument registers (`X1..`) a call to `fid` (stripped of
    /// the SVE hint) reads from this service: its [`crate::budget`] row
    /// when the service answers it at this version and configuration, 0
    /// otherwise (an unserved call reads nothing).
    pub fn argument_registers(&self, fid: FunctionId) -> u8 {
        let served = match fid {
            ids::SMCCC_ARCH_FEATURES => self.version.has_arch_calls(),
            ids::SMCCC_ARCH_SOC_ID => self.version.has_wide_registers() && self.soc_id.is_some(),
            // Every other call this service answers takes no argument.
            _ => false,
        };
        match crate::budget::lookup(fid) {
            Some(b) if served => b.args,
            _ => 0,
        }
    }

    /// A workaround call is a no-op for a hypervisor (the mitigation, if
    /// any, happened on the exit itself): `SUCCESS` when the workaround is
    /// offered in any form, `NOT_SUPPORTED` when `ARCH_FEATURES` denies it.
    fn workaround(&self, features: i64) -> Option<i64> {
        (features != NOT_SUPPORTED).then_some(SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(version: SmcccVersion) -> ArchService {
        ArchService {
            version,
            ..Default::default()
        }
    }

    fn call(fid: FunctionId, args: &[u64]) -> Call {
        Call::new(fid, args)
    }

    #[test]
    fn smccc_1_0_has_no_version_call() {
        let s = svc(SmcccVersion::V1_0);
        assert_eq!(
            s.call(ids::SMCCC_VERSION, &call(ids::SMCCC_VERSION, &[]), |_| 0),
            None
        );
        assert_eq!(
            s.call(
                ids::SMCCC_ARCH_FEATURES,
                &call(ids::SMCCC_ARCH_FEATURES, &[0]),
                |_| 0
            ),
            None
        );
    }

    #[test]
    fn smccc_version_reports_the_configured_version() {
        for v in SmcccVersion::SUPPORTED
            .into_iter()
            .filter(|v| v.has_arch_calls())
        {
            let r = svc(v).call(ids::SMCCC_VERSION, &call(ids::SMCCC_VERSION, &[]), |_| 0);
            assert_eq!(r, Some(Reply::x0(v.to_word() as u64)));
        }
    }

    #[test]
    fn arch_features_reports_workaround_levels_like_kvm() {
        let table = [
            (WorkaroundLevel::NotAvail, -1),
            (WorkaroundLevel::Avail, 0),
            (WorkaroundLevel::NotRequired, 1),
        ];
        for (lvl, want) in table {
            let s = ArchService {
                version: SmcccVersion::V1_1,
                workarounds: Workarounds {
                    wa1: lvl,
                    wa3: lvl,
                    ..Default::default()
                },
                ..Default::default()
            };
            for fid in [ids::SMCCC_ARCH_WORKAROUND_1, ids::SMCCC_ARCH_WORKAROUND_3] {
                let r = s.call(
                    ids::SMCCC_ARCH_FEATURES,
                    &call(ids::SMCCC_ARCH_FEATURES, &[fid.raw() as u64]),
                    |_| 99,
                );
                assert_eq!(r, Some(Reply::signed(want)), "{lvl:?} {fid}");
            }
        }
        let table2 = [
            (Workaround2Level::NotAvail, -1),
            (Workaround2Level::Unknown, -1),
            (Workaround2Level::Avail, 0),
            (Workaround2Level::NotRequired, -2),
        ];
        for (lvl, want) in table2 {
            let s = ArchService {
                version: SmcccVersion::V1_1,
                workarounds: Workarounds {
                    wa2: lvl,
                    ..Default::default()
                },
                ..Default::default()
            };
            let fid = ids::SMCCC_ARCH_WORKAROUND_2.raw() as u64;
            let r = s.call(
                ids::SMCCC_ARCH_FEATURES,
                &call(ids::SMCCC_ARCH_FEATURES, &[fid]),
                |_| 99,
            );
            assert_eq!(r, Some(Reply::signed(want)), "{lvl:?}");
        }
    }

    #[test]
    fn arch_features_asks_the_vm_about_other_owners_only() {
        let s = svc(SmcccVersion::V1_1);
        let q = |fid: FunctionId| call(ids::SMCCC_ARCH_FEATURES, &[fid.raw() as u64]);
        assert_eq!(
            s.call(ids::SMCCC_ARCH_FEATURES, &q(ids::PV_TIME_FEATURES), |_| 0),
            Some(Reply::signed(0))
        );
        assert_eq!(
            s.call(ids::SMCCC_ARCH_FEATURES, &q(ids::PV_TIME_FEATURES), |_| -1),
            Some(Reply::signed(-1))
        );
        // An unknown arch ID is never delegated.
        assert_eq!(
            s.call(
                ids::SMCCC_ARCH_FEATURES,
                &q(ids::SMCCC_ARCH_WORKAROUND_4),
                |_| 0
            ),
            Some(Reply::signed(-1))
        );
        assert_eq!(
            s.call(ids::SMCCC_ARCH_FEATURES, &q(ids::SMCCC_VERSION), |_| -1),
            Some(Reply::signed(0))
        );
    }

    #[test]
    fn soc_id_needs_config_and_smccc_1_2() {
        let soc = SocId::new(4, 0x3b, 0x1234, 7).unwrap();
        let s = ArchService {
            version: SmcccVersion::V1_2,
            soc_id: Some(soc),
            ..Default::default()
        };
        let c = |sel| call(ids::SMCCC_ARCH_SOC_ID, &[sel]);
        assert_eq!(
            s.call(ids::SMCCC_ARCH_SOC_ID, &c(0), |_| 0),
            Some(Reply::x0(0x043b_1234))
        );
        assert_eq!(
            s.call(ids::SMCCC_ARCH_SOC_ID, &c(1), |_| 0),
            Some(Reply::x0(7))
        );
        assert_eq!(
            s.call(ids::SMCCC_ARCH_SOC_ID, &c(2), |_| 0),
            Some(Reply::signed(-3))
        );
        let old = ArchService {
            version: SmcccVersion::V1_1,
            ..s
        };
        assert_eq!(old.call(ids::SMCCC_ARCH_SOC_ID, &c(0), |_| 0), None);
        let none = svc(SmcccVersion::V1_2);
        assert_eq!(none.call(ids::SMCCC_ARCH_SOC_ID, &c(0), |_| 0), None);
        assert!(SocId::new(0, 0, 0, 0x8000_0000).is_err());
    }

    #[test]
    fn workaround_calls_succeed_only_when_offered() {
        let mut s = svc(SmcccVersion::V1_1);
        let c = call(ids::SMCCC_ARCH_WORKAROUND_1, &[]);
        assert_eq!(s.call(ids::SMCCC_ARCH_WORKAROUND_1, &c, |_| 0), None);
        s.workarounds.wa1 = WorkaroundLevel::Avail;
        assert_eq!(
            s.call(ids::SMCCC_ARCH_WORKAROUND_1, &c, |_| 0),
            Some(Reply::signed(0))
        );
    }
}
