//! The arm64 KVM userspace ABI values the adapter needs, defined once.
//!
//! kvm-bindings generates these only for arm64 targets (and drops the
//! function-like C macros altogether), but the adapter must build and be
//! tested on any host. So they live here, computed from the UAPI's encoding
//! rules, and a test that runs only on aarch64 checks each one against
//! kvm-bindings.

use zerocopy::{Immutable, IntoBytes, KnownLayout};

/// `KVM_EXIT_HYPERCALL`: the exit reason of a forwarded SMCCC call. The
/// only value here kvm-bindings has on every architecture.
pub const KVM_EXIT_HYPERCALL: u32 = kvm_bindings::KVM_EXIT_HYPERCALL;

/// `KVM_HYPERCALL_EXIT_SMC`: the guest used `SMC` (clear: `HVC`).
pub const HYPERCALL_EXIT_SMC: u64 = 1 << 0;
/// `KVM_HYPERCALL_EXIT_16BIT`: the trapping instruction was 16 bits wide,
/// so the guest runs T32 code in `AArch32` state.
pub const HYPERCALL_EXIT_16BIT: u64 = 1 << 1;

/// `KVM_ARM_VM_SMCCC_CTRL`: the VM device-attribute group of the filter.
pub const ARM_VM_SMCCC_CTRL: u32 = 0;
/// `KVM_ARM_VM_SMCCC_FILTER`: the attribute that adds one filter range.
pub const ARM_VM_SMCCC_FILTER: u64 = 0;

/// `enum kvm_smccc_filter_action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FilterAction {
    /// `KVM_SMCCC_FILTER_HANDLE`: KVM's default handling.
    Handle = 0,
    /// `KVM_SMCCC_FILTER_DENY`: KVM answers `NOT_SUPPORTED`.
    Deny = 1,
    /// `KVM_SMCCC_FILTER_FWD_TO_USER`: exit to userspace with
    /// `KVM_EXIT_HYPERCALL`.
    FwdToUser = 2,
}

/// `struct kvm_smccc_filter` (24 bytes), the payload of
/// `KVM_ARM_VM_SMCCC_FILTER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct SmcccFilter {
    /// First function ID of the range.
    pub base: u32,
    /// Number of function IDs (at least 1; the range may not wrap).
    pub nr_functions: u32,
    /// A [`FilterAction`] value.
    pub action: u8,
    /// Must be zero.
    pub pad: [u8; 15],
}

/// `KVM_REG_ARM64`: the architecture field of a one-reg ID.
pub const REG_ARM64: u64 = 0x6000_0000_0000_0000;
/// `KVM_REG_SIZE_U64`: a 64-bit register.
pub const REG_SIZE_U64: u64 = 0x0030_0000_0000_0000;
/// `KVM_REG_ARM_COPROC_SHIFT`.
pub const REG_ARM_COPROC_SHIFT: u32 = 16;
/// `KVM_REG_ARM_CORE`: `struct kvm_regs`, indexed in 32-bit words.
pub const REG_ARM_CORE: u64 = 0x0010 << REG_ARM_COPROC_SHIFT;
/// `KVM_REG_ARM64_SYSREG`: system registers by `op0:op1:CRn:CRm:op2`.
pub const REG_ARM64_SYSREG: u64 = 0x0013 << REG_ARM_COPROC_SHIFT;
/// `KVM_REG_ARM_FW`: firmware pseudo-registers.
pub const REG_ARM_FW: u64 = 0x0014 << REG_ARM_COPROC_SHIFT;
/// `KVM_REG_ARM_FW_FEAT_BMAP`: firmware feature bitmaps.
pub const REG_ARM_FW_FEAT_BMAP: u64 = 0x0016 << REG_ARM_COPROC_SHIFT;

/// The ID of the 64-bit core register at byte `offset` of `struct kvm_regs`
/// (`KVM_REG_ARM_CORE_REG`, which counts in 32-bit words).
pub const fn core_reg_id(offset: u64) -> u64 {
    REG_ARM64 | REG_SIZE_U64 | REG_ARM_CORE | (offset / 4)
}

/// Byte offsets in `struct kvm_regs` = `user_pt_regs { regs[31], sp, pc,
/// pstate }`, then `sp_el1`, `elr_el1`, `spsr[5]`.
pub mod kvm_regs_offset {
    /// `regs.regs[0]`; `Xn` is at `8 * n`.
    pub const X0: u64 = 0;
    /// `regs.sp` (`SP_EL0`).
    pub const SP: u64 = 31 * 8;
    /// `regs.pc`.
    pub const PC: u64 = 32 * 8;
    /// `regs.pstate`.
    pub const PSTATE: u64 = 33 * 8;
    /// `sp_el1`.
    pub const SP_EL1: u64 = 34 * 8;
    /// `elr_el1`.
    pub const ELR_EL1: u64 = 35 * 8;
    /// `spsr[KVM_SPSR_EL1]`, i.e. `SPSR_EL1`.
    pub const SPSR_EL1: u64 = 36 * 8;
}

/// The ID of a system register (`ARM64_SYS_REG(op0, op1, crn, crm, op2)`).
pub const fn sys_reg_id(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
    REG_ARM64
        | REG_SIZE_U64
        | REG_ARM64_SYSREG
        | (op0 << 14)
        | (op1 << 11)
        | (crn << 7)
        | (crm << 3)
        | op2
}

/// `SCTLR_EL1` (`op0` 3, `op1` 0, `CRn` 1, `CRm` 0, `op2` 0).
pub const SCTLR_EL1: u64 = sys_reg_id(3, 0, 1, 0, 0);

/// `ID_AA64PFR1_EL1` (`op0` 3, `op1` 0, `CRn` 0, `CRm` 4, `op2` 1): BT,
/// SSBS, MTE and NMI among its fields.
pub const ID_AA64PFR1_EL1: u64 = sys_reg_id(3, 0, 0, 4, 1);
/// `ID_AA64MMFR1_EL1` (`op0` 3, `op1` 0, `CRn` 0, `CRm` 7, `op2` 1): PAN
/// among its fields.
pub const ID_AA64MMFR1_EL1: u64 = sys_reg_id(3, 0, 0, 7, 1);

/// `KVM_REG_ARM_FW_REG(r)`.
pub const fn fw_reg_id(r: u64) -> u64 {
    REG_ARM64 | REG_SIZE_U64 | REG_ARM_FW | (r & 0xffff)
}

/// `KVM_REG_ARM_FW_FEAT_BMAP_REG(r)`.
pub const fn fw_feat_bmap_reg_id(r: u64) -> u64 {
    REG_ARM64 | REG_SIZE_U64 | REG_ARM_FW_FEAT_BMAP | (r & 0xffff)
}

/// `KVM_REG_ARM_PSCI_VERSION`.
pub const PSCI_VERSION: u64 = fw_reg_id(0);
/// `KVM_REG_ARM_STD_BMAP` (bit 0: TRNG 1.0, served by KVM).
pub const STD_BMAP: u64 = fw_feat_bmap_reg_id(0);
/// `KVM_REG_ARM_STD_HYP_BMAP` (bit 0: PV time).
pub const STD_HYP_BMAP: u64 = fw_feat_bmap_reg_id(1);
/// `KVM_REG_ARM_VENDOR_HYP_BMAP` (bit 0: `KVM_FEATURES`, bit 1: PTP).
pub const VENDOR_HYP_BMAP: u64 = fw_feat_bmap_reg_id(2);
/// `KVM_REG_ARM_STD_HYP_BIT_PV_TIME`.
pub const STD_HYP_BIT_PV_TIME: u32 = 0;
/// `KVM_REG_ARM_STD_BIT_TRNG_V1_0` (in `KVM_REG_ARM_STD_BMAP`).
pub const STD_BIT_TRNG: u32 = 0;

/// `struct kvm_arm_counter_offset`, the payload of
/// [`KVM_ARM_SET_COUNTER_OFFSET`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct CounterOffset {
    /// Cycles subtracted from the guest's virtual and physical counters.
    pub counter_offset: u64,
    /// Must be zero.
    pub reserved: u64,
}

/// `KVM_ARM_SET_COUNTER_OFFSET` = `_IOW(KVMIO, 0xb5, struct
/// kvm_arm_counter_offset)`, on the VM fd (Linux 6.4+,
/// `KVM_CAP_COUNTER_OFFSET`). kvm-ioctls has no wrapper.
pub const KVM_ARM_SET_COUNTER_OFFSET: u64 =
    ioc_write(0xAE, 0xb5, core::mem::size_of::<CounterOffset>() as u64);

/// `KVM_CAP_COUNTER_OFFSET`.
pub const KVM_CAP_COUNTER_OFFSET: u32 = 227;

/// `_IOW(ty, nr, size)` with the asm-generic ioctl encoding arm64 uses.
const fn ioc_write(ty: u64, nr: u64, size: u64) -> u64 {
    (1 << 30) | (size << 16) | (ty << 8) | nr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_values_the_uapi_encoding_gives() {
        // Values derived by hand from arch/arm64/include/uapi/asm/kvm.h (spec §8).
        assert_eq!(core_reg_id(kvm_regs_offset::X0), 0x6030_0000_0010_0000);
        assert_eq!(core_reg_id(8 * 30), 0x6030_0000_0010_003c);
        assert_eq!(core_reg_id(kvm_regs_offset::PC), 0x6030_0000_0010_0040);
        assert_eq!(core_reg_id(kvm_regs_offset::PSTATE), 0x6030_0000_0010_0042);
        assert_eq!(STD_BMAP, 0x6030_0000_0016_0000);
        assert_eq!(STD_HYP_BMAP, 0x6030_0000_0016_0001);
        assert_eq!(VENDOR_HYP_BMAP, 0x6030_0000_0016_0002);
        assert_eq!(PSCI_VERSION, 0x6030_0000_0014_0000);
        assert_eq!(SCTLR_EL1, 0x6030_0000_0013_c080);
        assert_eq!(ID_AA64PFR1_EL1, 0x6030_0000_0013_c021);
        assert_eq!(ID_AA64MMFR1_EL1, 0x6030_0000_0013_c039);
        assert_eq!(KVM_ARM_SET_COUNTER_OFFSET, 0x4010_aeb5);
        assert_eq!(KVM_EXIT_HYPERCALL, 3);
    }

    #[test]
    fn filter_struct_is_24_bytes_with_zero_padding() {
        let f = SmcccFilter {
            base: 0xC400_0020,
            nr_functions: 32,
            action: FilterAction::FwdToUser as u8,
            pad: [0; 15],
        };
        let bytes = f.as_bytes();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[..4], &0xC400_0020u32.to_ne_bytes());
        assert_eq!(&bytes[4..8], &32u32.to_ne_bytes());
        assert_eq!(bytes[8], 2);
        assert!(bytes[9..].iter().all(|b| *b == 0));
        assert_eq!(CounterOffset::default().as_bytes().len(), 16);
    }

    /// Every local definition against kvm-bindings' arm64 module.
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn local_abi_matches_kvm_bindings() {
        use core::mem::{offset_of, size_of};
        use kvm_bindings as kb;

        assert_eq!(HYPERCALL_EXIT_SMC, u64::from(kb::KVM_HYPERCALL_EXIT_SMC));
        assert_eq!(
            HYPERCALL_EXIT_16BIT,
            u64::from(kb::KVM_HYPERCALL_EXIT_16BIT)
        );
        assert_eq!(ARM_VM_SMCCC_CTRL, kb::KVM_ARM_VM_SMCCC_CTRL);
        assert_eq!(ARM_VM_SMCCC_FILTER, u64::from(kb::KVM_ARM_VM_SMCCC_FILTER));
        assert_eq!(
            FilterAction::Handle as u32,
            kb::kvm_smccc_filter_action_KVM_SMCCC_FILTER_HANDLE
        );
        assert_eq!(
            FilterAction::Deny as u32,
            kb::kvm_smccc_filter_action_KVM_SMCCC_FILTER_DENY
        );
        assert_eq!(
            FilterAction::FwdToUser as u32,
            kb::kvm_smccc_filter_action_KVM_SMCCC_FILTER_FWD_TO_USER
        );
        assert_eq!(size_of::<SmcccFilter>(), size_of::<kb::kvm_smccc_filter>());
        assert_eq!(
            offset_of!(SmcccFilter, base),
            offset_of!(kb::kvm_smccc_filter, base)
        );
        assert_eq!(
            offset_of!(SmcccFilter, nr_functions),
            offset_of!(kb::kvm_smccc_filter, nr_functions)
        );
        assert_eq!(
            offset_of!(SmcccFilter, action),
            offset_of!(kb::kvm_smccc_filter, action)
        );
        assert_eq!(
            offset_of!(SmcccFilter, pad),
            offset_of!(kb::kvm_smccc_filter, pad)
        );

        assert_eq!(REG_ARM64, kb::KVM_REG_ARM64);
        assert_eq!(REG_SIZE_U64, kb::KVM_REG_SIZE_U64);
        assert_eq!(REG_ARM_COPROC_SHIFT, kb::KVM_REG_ARM_COPROC_SHIFT);
        assert_eq!(REG_ARM_CORE, u64::from(kb::KVM_REG_ARM_CORE));
        assert_eq!(REG_ARM64_SYSREG, u64::from(kb::KVM_REG_ARM64_SYSREG));
        assert_eq!(REG_ARM_FW, u64::from(kb::KVM_REG_ARM_FW));
        assert_eq!(
            REG_ARM_FW_FEAT_BMAP,
            u64::from(kb::KVM_REG_ARM_FW_FEAT_BMAP)
        );
        assert_eq!(STD_HYP_BIT_PV_TIME, kb::KVM_REG_ARM_STD_HYP_BIT_PV_TIME);
        assert_eq!(STD_BIT_TRNG, kb::KVM_REG_ARM_STD_BIT_TRNG_V1_0);

        assert_eq!(
            kvm_regs_offset::PC as usize,
            offset_of!(kb::kvm_regs, regs) + offset_of!(kb::user_pt_regs, pc)
        );
        assert_eq!(
            kvm_regs_offset::PSTATE as usize,
            offset_of!(kb::kvm_regs, regs) + offset_of!(kb::user_pt_regs, pstate)
        );
        assert_eq!(
            kvm_regs_offset::SP as usize,
            offset_of!(kb::user_pt_regs, sp)
        );
        assert_eq!(
            kvm_regs_offset::SP_EL1 as usize,
            offset_of!(kb::kvm_regs, sp_el1)
        );
        assert_eq!(
            kvm_regs_offset::ELR_EL1 as usize,
            offset_of!(kb::kvm_regs, elr_el1)
        );
        assert_eq!(
            kvm_regs_offset::SPSR_EL1 as usize,
            offset_of!(kb::kvm_regs, spsr)
        );
        assert_eq!(
            kvm_regs_offset::X0 as usize + 8 * 30,
            offset_of!(kb::user_pt_regs, regs) + 30 * size_of::<u64>()
        );

        assert_eq!(
            size_of::<CounterOffset>(),
            size_of::<kb::kvm_arm_counter_offset>()
        );
        assert_eq!(
            offset_of!(CounterOffset, reserved),
            offset_of!(kb::kvm_arm_counter_offset, reserved)
        );
        assert_eq!(KVM_CAP_COUNTER_OFFSET, kb::KVM_CAP_COUNTER_OFFSET);
        assert_eq!(KVM_EXIT_HYPERCALL, kb::KVM_EXIT_HYPERCALL);
    }
}
