//! SMCCC function identifiers (DEN0028 §2.5): the 32-bit value a caller
//! passes in `W0`.

use core::fmt;

/// Whether a call is fast (atomic) or yielding (pre-emptible).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallType {
    /// Bit 31 set: the call completes atomically. The only kind a hypervisor serves.
    Fast,
    /// Bit 31 clear: a yielding ("standard") call.
    Yielding,
}

/// The register width a call uses (bit 30).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Convention {
    /// SMC32/HVC32: arguments in `W1..W7`, results in `W0..W7`; upper halves ignored.
    Smc32,
    /// SMC64/HVC64: arguments in `X1..X17`, results in `X0..X17` (SMCCC 1.2+).
    Smc64,
}

/// The Owning Entity Number (bits 29:24), as the full table of DEN0028.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// OEN 0: Arm Architecture Calls (`SMCCC_VERSION`, `SMCCC_ARCH_*`).
    Arch,
    /// OEN 1: CPU Service Calls.
    Cpu,
    /// OEN 2: SiP (Silicon Partner) Service Calls.
    Sip,
    /// OEN 3: OEM Service Calls.
    Oem,
    /// OEN 4: Standard Secure Service Calls (PSCI, SDEI, TRNG, FF-A, ...).
    StandardSecure,
    /// OEN 5: Standard Hypervisor Service Calls (PV time).
    StandardHypervisor,
    /// OEN 6: Vendor-specific Hypervisor Service Calls.
    VendorHypervisor,
    /// OEN 7..=47: reserved for future use (the raw OEN is kept).
    Reserved(u8),
    /// OEN 48..=49: Trusted Application Calls (the raw OEN is kept).
    TrustedApplication(u8),
    /// OEN 50..=63: Trusted OS Calls (the raw OEN is kept).
    TrustedOs(u8),
}

impl Owner {
    /// The owner for a 6-bit OEN. Bits above bit 5 are ignored.
    #[inline]
    pub const fn from_oen(oen: u8) -> Self {
        match oen & 0x3f {
            0 => Owner::Arch,
            1 => Owner::Cpu,
            2 => Owner::Sip,
            3 => Owner::Oem,
            4 => Owner::StandardSecure,
            5 => Owner::StandardHypervisor,
            6 => Owner::VendorHypervisor,
            n @ 7..=47 => Owner::Reserved(n),
            n @ 48..=49 => Owner::TrustedApplication(n),
            n => Owner::TrustedOs(n),
        }
    }

    /// The 6-bit OEN of this owner.
    #[inline]
    pub const fn oen(self) -> u8 {
        match self {
            Owner::Arch => 0,
            Owner::Cpu => 1,
            Owner::Sip => 2,
            Owner::Oem => 3,
            Owner::StandardSecure => 4,
            Owner::StandardHypervisor => 5,
            Owner::VendorHypervisor => 6,
            Owner::Reserved(n) | Owner::TrustedApplication(n) | Owner::TrustedOs(n) => n & 0x3f,
        }
    }
}

/// A decoded SMCCC function identifier.
///
/// Construction never fails: every 32-bit value is a `FunctionId`; whether it
/// is well formed is a property ([`FunctionId::is_well_formed`]). A server
/// answers a malformed ID exactly like an unknown one: `NOT_SUPPORTED` in
/// `X0`, nothing else changed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FunctionId(pub u32);

impl FunctionId {
    /// Bit 31: fast call.
    pub const FAST_BIT: u32 = 1 << 31;
    /// Bit 30: SMC64 convention.
    pub const SMC64_BIT: u32 = 1 << 30;
    /// Bits 29:24: the OEN.
    pub const OEN_SHIFT: u32 = 24;
    /// Mask of the OEN field once shifted down.
    pub const OEN_MASK: u32 = 0x3f;
    /// Bit 16: the SVE live-state hint (SMCCC 1.3+).
    pub const SVE_HINT_BIT: u32 = 1 << 16;
    /// Bits 23:17: must be zero in a fast call (SMCCC 1.3+).
    pub const RESERVED_MASK: u32 = 0x7f << 17;
    /// Bits 23:16: must be zero in a fast call before SMCCC 1.3.
    pub const RESERVED_MASK_PRE_1_3: u32 = 0xff << 16;
    /// Bits 15:0: the function number.
    pub const NUMBER_MASK: u32 = 0xffff;

    /// Builds a fast-call ID from its parts.
    #[inline]
    pub const fn fast(convention: Convention, owner: Owner, number: u16) -> Self {
        let cc = match convention {
            Convention::Smc32 => 0,
            Convention::Smc64 => Self::SMC64_BIT,
        };
        FunctionId(Self::FAST_BIT | cc | ((owner.oen() as u32) << Self::OEN_SHIFT) | number as u32)
    }

    /// Takes the ID from a register: only `W0` (the low 32 bits) counts.
    #[inline]
    pub const fn from_register(x0: u64) -> Self {
        FunctionId(x0 as u32)
    }

    /// The raw 32-bit value.
    #[inline]
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Fast or yielding.
    #[inline]
    pub const fn call_type(self) -> CallType {
        if self.0 & Self::FAST_BIT != 0 {
            CallType::Fast
        } else {
            CallType::Yielding
        }
    }

    /// SMC32 or SMC64.
    #[inline]
    pub const fn convention(self) -> Convention {
        if self.0 & Self::SMC64_BIT != 0 {
            Convention::Smc64
        } else {
            Convention::Smc32
        }
    }

    /// The owning entity.
    #[inline]
    pub const fn owner(self) -> Owner {
        Owner::from_oen(((self.0 >> Self::OEN_SHIFT) & Self::OEN_MASK) as u8)
    }

    /// The function number within the owner's range (bits 15:0).
    #[inline]
    pub const fn number(self) -> u16 {
        (self.0 & Self::NUMBER_MASK) as u16
    }

    /// Whether the caller set the SVE live-state hint (bit 16).
    #[inline]
    pub const fn sve_hint(self) -> bool {
        self.0 & Self::SVE_HINT_BIT != 0
    }

    /// The same ID with the SVE hint cleared.
    #[inline]
    pub const fn without_sve_hint(self) -> Self {
        FunctionId(self.0 & !Self::SVE_HINT_BIT)
    }

    /// The same ID with the other convention bit: the SMC32 alias of an
    /// SMC64 function and vice versa.
    #[inline]
    pub const fn alias(self) -> Self {
        FunctionId(self.0 ^ Self::SMC64_BIT)
    }

    /// The ID a server served at `version` looks up: from SMCCC 1.3 on the
    /// SVE hint is not part of the identity and is cleared first.
    #[inline]
    pub const fn for_lookup(self, version: crate::SmcccVersion) -> Self {
        if version.has_sve_hint() {
            self.without_sve_hint()
        } else {
            self
        }
    }

    /// Whether the must-be-zero bits are zero for a server at `version`.
    ///
    /// Fast calls: bits 23:17 (1.3+) or 23:16 (before 1.3) must be zero.
    /// Yielding calls have no reserved bits in this field (their use is
    /// owner-defined), so they are always well formed here; a server that
    /// does not implement them answers `NOT_SUPPORTED` anyway.
    #[inline]
    pub const fn is_well_formed(self, version: crate::SmcccVersion) -> bool {
        match self.call_type() {
            CallType::Yielding => true,
            CallType::Fast => {
                let mask = if version.has_sve_hint() {
                    Self::RESERVED_MASK
                } else {
                    Self::RESERVED_MASK_PRE_1_3
                };
                self.0 & mask == 0
            }
        }
    }
}

impl From<u32> for FunctionId {
    fn from(raw: u32) -> Self {
        FunctionId(raw)
    }
}

impl From<FunctionId> for u32 {
    fn from(id: FunctionId) -> Self {
        id.0
    }
}

impl fmt::Debug for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::ids::name(*self) {
            Some(name) => write!(f, "FunctionId({:#010x} {name})", self.0),
            None => write!(f, "FunctionId({:#010x})", self.0),
        }
    }
}

impl fmt::Display for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::ids::name(*self) {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#010x}", self.0),
        }
    }
}

impl fmt::LowerHex for FunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SmcccVersion;

    #[test]
    fn fields_decode_from_each_bit_range() {
        let id = FunctionId(0xC400_0021);
        assert_eq!(id.call_type(), CallType::Fast);
        assert_eq!(id.convention(), Convention::Smc64);
        assert_eq!(id.owner(), Owner::StandardSecure);
        assert_eq!(id.number(), 0x21);
        assert!(!id.sve_hint());

        let y = FunctionId(0x0400_0001);
        assert_eq!(y.call_type(), CallType::Yielding);
        assert_eq!(y.convention(), Convention::Smc32);
    }

    #[test]
    fn every_oen_maps_to_its_owner_and_back() {
        let table: &[(u8, Owner)] = &[
            (0, Owner::Arch),
            (1, Owner::Cpu),
            (2, Owner::Sip),
            (3, Owner::Oem),
            (4, Owner::StandardSecure),
            (5, Owner::StandardHypervisor),
            (6, Owner::VendorHypervisor),
            (7, Owner::Reserved(7)),
            (47, Owner::Reserved(47)),
            (48, Owner::TrustedApplication(48)),
            (49, Owner::TrustedApplication(49)),
            (50, Owner::TrustedOs(50)),
            (63, Owner::TrustedOs(63)),
        ];
        for &(oen, owner) in table {
            assert_eq!(Owner::from_oen(oen), owner, "oen {oen}");
            assert_eq!(owner.oen(), oen);
            let id = FunctionId::fast(Convention::Smc32, owner, 0);
            assert_eq!(id.owner(), owner);
            assert_eq!(id.raw() >> 24 & 0x3f, oen as u32);
        }
        for oen in 0..64u8 {
            assert_eq!(Owner::from_oen(oen).oen(), oen);
        }
    }

    #[test]
    fn sve_hint_is_stripped_only_from_smccc_1_3() {
        let hinted = FunctionId(0xC400_0020 | FunctionId::SVE_HINT_BIT);
        assert!(hinted.sve_hint());
        assert_eq!(
            hinted.for_lookup(SmcccVersion::V1_3),
            FunctionId(0xC400_0020)
        );
        assert_eq!(hinted.for_lookup(SmcccVersion::V1_2), hinted);
        assert!(hinted.is_well_formed(SmcccVersion::V1_3));
        assert!(!hinted.is_well_formed(SmcccVersion::V1_2));
    }

    #[test]
    fn reserved_bits_make_a_fast_id_malformed() {
        for bit in 17..24 {
            let id = FunctionId(0x8000_0000 | 1 << bit);
            assert!(!id.is_well_formed(SmcccVersion::V1_3), "bit {bit}");
            assert!(!id.is_well_formed(SmcccVersion::V1_1), "bit {bit}");
        }
        assert!(FunctionId(0x0001_0000).is_well_formed(SmcccVersion::V1_1));
    }

    #[test]
    fn alias_flips_only_the_convention() {
        assert_eq!(FunctionId(0xC400_0020).alias(), FunctionId(0x8400_0020));
        assert_eq!(FunctionId(0x8400_0020).alias(), FunctionId(0xC400_0020));
    }

    #[test]
    fn register_value_uses_w0_only() {
        assert_eq!(
            FunctionId::from_register(0xdead_beef_8000_0000),
            FunctionId(0x8000_0000)
        );
    }
}
