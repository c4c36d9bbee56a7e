//! Firmware feature bitmaps: the guest-visible service surface as explicit,
//! migratable state.
//!
//! Modelled on KVM's firmware pseudo-registers (`KVM_REG_ARM_STD_BMAP`,
//! `KVM_REG_ARM_STD_HYP_BMAP`, `KVM_REG_ARM_VENDOR_HYP_BMAP`): one word per
//! service family, every bit the VM's configuration can serve set by
//! default, unknown bits refused, and no change once the guest has made its
//! first call. A VMM that saves these words and writes them back on the
//! destination pins the guest ABI across migration and rollback.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

bitflags::bitflags! {
    /// Standard Secure Service features fwcall serves (OEN 4): bit 0 SDEI,
    /// bit 1 PSCI, bit 2 TRNG.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    pub struct StdFeatures: u64 {
        /// SDEI (`0xC400_0020..=0xC400_003F`).
        const SDEI = 1 << 0;
        /// PSCI (`0x8400_0000..=0x8400_001F` and the SMC64 forms), when
        /// `VmConfig::psci` is set. Not KVM's bit 0 (TRNG): fwcall's own layout.
        const PSCI = 1 << 1;
        /// TRNG 1.0 (`0x8400_0050..=0x8400_0053`, `0xC400_0053`), when
        /// `VmConfig::trng` is set. KVM has it at bit 0 of its `STD_BMAP`.
        const TRNG = 1 << 2;
    }
}

bitflags::bitflags! {
    /// Standard Hypervisor Service features (OEN 5). Bit 0 has the meaning
    /// of KVM's `KVM_REG_ARM_STD_HYP_BIT_PV_TIME`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    pub struct StdHypFeatures: u64 {
        /// PV time, stolen time (`PV_TIME_FEATURES`, `PV_TIME_ST`).
        const PV_TIME = 1 << 0;
        /// PV time, live physical time (`PV_TIME_LPT`).
        const PV_TIME_LPT = 1 << 1;
    }
}

bitflags::bitflags! {
    /// Vendor Hypervisor Service features (OEN 6): one bit per service the
    /// VMM registered with [`crate::Vm::add_service`], at the bit it chose.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    pub struct VendorHypFeatures: u64 {
        /// Any bit: assigned by the VMM to its own services.
        const _ = !0;
    }
}

/// One of the feature words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FeatureRegister {
    /// [`StdFeatures`].
    Std,
    /// [`StdHypFeatures`].
    StdHyp,
    /// [`VendorHypFeatures`].
    VendorHyp,
}

impl FeatureRegister {
    /// All registers, in snapshot order.
    pub const ALL: [FeatureRegister; 3] = [Self::Std, Self::StdHyp, Self::VendorHyp];

    const fn slot(self) -> usize {
        match self {
            Self::Std => 0,
            Self::StdHyp => 1,
            Self::VendorHyp => 2,
        }
    }

    /// The name used in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Std => "STD_BMAP",
            Self::StdHyp => "STD_HYP_BMAP",
            Self::VendorHyp => "VENDOR_HYP_BMAP",
        }
    }
}

impl core::fmt::Display for FeatureRegister {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A refused feature-bitmap write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    /// Bits this VM cannot serve (KVM answers `EINVAL`).
    #[error(
        "{register}: bits {bits:#x} are not served by this VM (supported: {supported:#x}); enable the service in VmConfig or clear those bits"
    )]
    Unsupported {
        /// The register written.
        register: FeatureRegister,
        /// The bits that are not supported.
        bits: u64,
        /// What the VM supports.
        supported: u64,
    },
    /// The guest already made a call: changing its ABI now would break it
    /// (KVM answers `EBUSY`). Writing the current value is still accepted.
    #[error(
        "{register}: the guest has already made firmware calls, so its feature set is frozen (current {current:#x}, requested {requested:#x}); write features before the first vCPU runs"
    )]
    Busy {
        /// The register written.
        register: FeatureRegister,
        /// The value in force.
        current: u64,
        /// The refused value.
        requested: u64,
    },
}

/// All three feature words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FirmwareFeatures {
    /// OEN 4 services.
    pub std: StdFeatures,
    /// OEN 5 services.
    pub std_hyp: StdHypFeatures,
    /// OEN 6 services.
    pub vendor_hyp: VendorHypFeatures,
}

impl FirmwareFeatures {
    /// The raw word of one register.
    pub const fn get(&self, r: FeatureRegister) -> u64 {
        match r {
            FeatureRegister::Std => self.std.bits(),
            FeatureRegister::StdHyp => self.std_hyp.bits(),
            FeatureRegister::VendorHyp => self.vendor_hyp.bits(),
        }
    }

    fn set(&mut self, r: FeatureRegister, v: u64) {
        match r {
            FeatureRegister::Std => self.std = StdFeatures::from_bits_retain(v),
            FeatureRegister::StdHyp => self.std_hyp = StdHypFeatures::from_bits_retain(v),
            FeatureRegister::VendorHyp => self.vendor_hyp = VendorHypFeatures::from_bits_retain(v),
        }
    }
}

/// The live feature words of a VM: read lock-free on every call, written
/// only before the guest's first call.
#[derive(Debug)]
pub(crate) struct FeatureState {
    words: [AtomicU64; 3],
    supported: FirmwareFeatures,
    frozen: AtomicBool,
    // Set on a VM restored from a snapshot whose guest had already seen its
    // words: they stay pinned although this instance has served no call yet.
    pinned: bool,
    // Serialises writers against each other and against the freeze, so a
    // write that passed the check cannot land after the first call saw the
    // old value. Never taken by a call.
    write_lock: fwcall_smccc::sync::Lock<()>,
}

impl FeatureState {
    pub(crate) fn new(supported: FirmwareFeatures) -> Self {
        FeatureState {
            words: [
                AtomicU64::new(supported.std.bits()),
                AtomicU64::new(supported.std_hyp.bits()),
                AtomicU64::new(supported.vendor_hyp.bits()),
            ],
            supported,
            frozen: AtomicBool::new(false),
            pinned: false,
            write_lock: fwcall_smccc::sync::Lock::new(()),
        }
    }

    /// The words of a restored VM: `words` in force (already checked to be
    /// within `supported` for the standard registers; vendor bits join
    /// `supported` as their services are added) and pinned if the guest
    /// had seen them.
    pub(crate) fn restored(
        supported: FirmwareFeatures,
        words: FirmwareFeatures,
        pinned: bool,
    ) -> Self {
        let mut supported = supported;
        supported.vendor_hyp |= words.vendor_hyp;
        FeatureState {
            words: [
                AtomicU64::new(words.std.bits()),
                AtomicU64::new(words.std_hyp.bits()),
                AtomicU64::new(words.vendor_hyp.bits()),
            ],
            supported,
            frozen: AtomicBool::new(false),
            pinned,
            write_lock: fwcall_smccc::sync::Lock::new(()),
        }
    }

    /// Makes vendor bit `bit` servable (a VMM service was added). Its word
    /// bit is set unless the words are pinned by a restore, where the guest
    /// keeps exactly what it saw.
    pub(crate) fn add_vendor_bit(&mut self, bit: u64) {
        self.supported.vendor_hyp |= VendorHypFeatures::from_bits_retain(bit);
        if !self.pinned {
            let slot = &self.words[FeatureRegister::VendorHyp.slot()];
            slot.store(slot.load(Ordering::Relaxed) | bit, Ordering::Relaxed);
        }
    }

    /// Whether this instance has served a call (so services can no longer be added).
    pub(crate) fn has_served(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    pub(crate) fn supported(&self) -> FirmwareFeatures {
        self.supported
    }

    #[inline]
    pub(crate) fn word(&self, r: FeatureRegister) -> u64 {
        self.words[r.slot()].load(Ordering::Relaxed)
    }

    pub(crate) fn current(&self) -> FirmwareFeatures {
        let mut f = FirmwareFeatures::default();
        for r in FeatureRegister::ALL {
            f.set(r, self.word(r));
        }
        f
    }

    #[inline]
    pub(crate) fn std_hyp(&self) -> StdHypFeatures {
        StdHypFeatures::from_bits_retain(self.word(FeatureRegister::StdHyp))
    }

    #[inline]
    pub(crate) fn std(&self) -> StdFeatures {
        StdFeatures::from_bits_retain(self.word(FeatureRegister::Std))
    }

    /// Marks the ABI as seen by the guest. Loads first so the common case
    /// (already frozen) never writes a shared cache line.
    #[inline]
    pub(crate) fn freeze(&self) {
        if !self.frozen.load(Ordering::Relaxed) {
            let _guard = self.write_lock.lock();
            self.frozen.store(true, Ordering::Release);
        }
    }

    /// Whether the guest has seen the words: a call was served, or the VM
    /// was restored from a snapshot taken after one.
    pub(crate) fn is_frozen(&self) -> bool {
        self.pinned || self.frozen.load(Ordering::Acquire)
    }

    pub(crate) fn write(&self, r: FeatureRegister, value: u64) -> Result<(), FeatureError> {
        let _guard = self.write_lock.lock();
        let supported = self.supported.get(r);
        if value & !supported != 0 {
            return Err(FeatureError::Unsupported {
                register: r,
                bits: value & !supported,
                supported,
            });
        }
        let current = self.word(r);
        if value == current {
            return Ok(());
        }
        if self.is_frozen() {
            return Err(FeatureError::Busy {
                register: r,
                current,
                requested: value,
            });
        }
        self.words[r.slot()].store(value, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> FeatureState {
        FeatureState::new(FirmwareFeatures {
            std: StdFeatures::SDEI,
            std_hyp: StdHypFeatures::PV_TIME,
            vendor_hyp: VendorHypFeatures::from_bits_retain(0b101),
        })
    }

    #[test]
    fn bitmaps_default_to_everything_supported() {
        let s = state();
        assert_eq!(s.word(FeatureRegister::Std), 1);
        assert_eq!(s.word(FeatureRegister::StdHyp), 1);
        assert_eq!(s.word(FeatureRegister::VendorHyp), 0b101);
    }

    #[test]
    fn unknown_bit_is_refused_and_nothing_changes() {
        let s = state();
        let e = s.write(FeatureRegister::StdHyp, 0b11).unwrap_err();
        assert_eq!(
            e,
            FeatureError::Unsupported {
                register: FeatureRegister::StdHyp,
                bits: 0b10,
                supported: 1
            }
        );
        assert_eq!(s.word(FeatureRegister::StdHyp), 1);
        assert!(s.write(FeatureRegister::VendorHyp, 0b010).is_err());
    }

    #[test]
    fn clearing_a_bit_before_the_first_call_is_accepted() {
        let s = state();
        s.write(FeatureRegister::Std, 0).unwrap();
        assert_eq!(s.std(), StdFeatures::empty());
        s.write(FeatureRegister::Std, 1).unwrap();
        assert_eq!(s.std(), StdFeatures::SDEI);
    }

    #[test]
    fn change_after_first_call_is_busy_but_same_value_is_accepted() {
        let s = state();
        s.freeze();
        assert!(matches!(
            s.write(FeatureRegister::StdHyp, 0),
            Err(FeatureError::Busy { .. })
        ));
        assert_eq!(s.write(FeatureRegister::StdHyp, 1), Ok(()));
        assert_eq!(s.word(FeatureRegister::StdHyp), 1);
    }
}
