//! MPIDR values, the way SDEI names a target PE.

/// An `MPIDR_EL1` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Mpidr(pub u64);

impl Mpidr {
    /// The affinity fields: Aff3 (bits 39:32) and Aff2..Aff0 (bits 23:0).
    pub const AFFINITY_MASK: u64 = 0xff_00ff_ffff;
    /// Bit 31: RES1 in `MPIDR_EL1`.
    pub const RES1: u64 = 1 << 31;
    /// Bits a caller may leave set around the affinity fields when it
    /// passes a raw `MPIDR_EL1` read: U (30), MT (24) and RES1 (31).
    pub const FLAG_BITS: u64 = (1 << 31) | (1 << 30) | (1 << 24);

    /// The MPIDR KVM gives vCPU `i` by default: Aff0 = i & 0xf,
    /// Aff1 = (i >> 4) & 0xff, Aff2 = (i >> 12) & 0xff, bit 31 set.
    pub const fn kvm_default(i: u32) -> Self {
        let i = i as u64;
        Mpidr(Self::RES1 | (i & 0xf) | ((i >> 4) & 0xff) << 8 | ((i >> 12) & 0xff) << 16)
    }

    /// The affinity part, as SDEI stores it.
    pub const fn affinity(self) -> u64 {
        self.0 & Self::AFFINITY_MASK
    }

    /// Whether the bits outside the affinity fields are only the flag bits
    /// a raw `MPIDR_EL1` read may carry. A value with any other bit set is
    /// not an MPIDR.
    pub const fn is_well_formed(self) -> bool {
        self.0 & !(Self::AFFINITY_MASK | Self::FLAG_BITS) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_default_mpidr_packs_index_into_aff0_aff1_aff2() {
        assert_eq!(Mpidr::kvm_default(0).0, 0x8000_0000);
        assert_eq!(Mpidr::kvm_default(1).0, 0x8000_0001);
        assert_eq!(Mpidr::kvm_default(0x10).0, 0x8000_0100);
        assert_eq!(Mpidr::kvm_default(0x1234).0, 0x8001_2304);
    }

    #[test]
    fn affinity_drops_flag_bits_and_keeps_aff3() {
        assert_eq!(Mpidr(0x12_8100_0203).affinity(), 0x12_0000_0203);
        assert!(Mpidr(0x8000_0001).is_well_formed());
        assert!(!Mpidr(0x1_0000_0000_0000).is_well_formed());
        assert!(!Mpidr(1 << 25).is_well_formed());
    }
}
