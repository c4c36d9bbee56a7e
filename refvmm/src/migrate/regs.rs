//! vCPU registers as `KVM_GET_REG_LIST` names them: their sizes, which
//! ones the migration treats specially (the counters, the firmware
//! pseudo-registers), their names in messages, and the order they are
//! written back in.

use fwcall::kvm::abi;

/// `KVM_REG_SIZE_MASK`: bits 55:52 of an ID give log2 of the size in bytes.
const SIZE_SHIFT: u32 = 52;
const SIZE_MASK: u64 = 0xf << SIZE_SHIFT;
/// The largest register KVM/arm64 has: an SVE Z register at 2048 bits.
pub const MAX_REG_BYTES: usize = 256;

/// The coprocessor field (bits 31:16) of an arm64 register ID.
const fn coproc(id: u64) -> u64 {
    (id >> abi::REG_ARM_COPROC_SHIFT) & 0xffff
}

/// The size in bytes of the register `id`, or `None` for an encoding
/// larger than any arm64 register.
///
/// ```
/// use refvmm::migrate::regs::reg_size;
/// assert_eq!(reg_size(0x6030_0000_0010_0040), Some(8)); // PC
/// assert_eq!(reg_size(0x6040_0000_0010_0054), Some(16)); // V0
/// ```
pub const fn reg_size(id: u64) -> Option<usize> {
    let log2 = (id & SIZE_MASK) >> SIZE_SHIFT;
    let bytes = 1usize << log2;
    if bytes > MAX_REG_BYTES {
        None
    } else {
        Some(bytes)
    }
}

/// `KVM_REG_ARM_TIMER_CTL`: the virtual timer's control register.
pub const TIMER_CTL: u64 = abi::sys_reg_id(3, 3, 14, 3, 1);
/// `KVM_REG_ARM_TIMER_CVAL`: the virtual timer's deadline, in the guest's
/// own counter (the UAPI swapped its encoding with `TIMER_CNT`; these are
/// the UAPI's values).
pub const TIMER_CVAL: u64 = abi::sys_reg_id(3, 3, 14, 0, 2);
/// `KVM_REG_ARM_TIMER_CNT`: the guest's virtual count.
pub const TIMER_CNT: u64 = abi::sys_reg_id(3, 3, 14, 3, 2);
/// `KVM_REG_ARM_PTIMER_CNT`: the guest's physical count (Linux 6.4+).
pub const PTIMER_CNT: u64 = abi::sys_reg_id(3, 3, 14, 0, 1);
/// `MPIDR_EL1`.
pub const MPIDR_EL1: u64 = abi::sys_reg_id(3, 0, 0, 0, 5);

/// The guest's counters: never written back as saved values. The VM's
/// counter offset (or the `TIMER_CNT` fallback) decides where they resume.
pub const fn is_counter(id: u64) -> bool {
    id == TIMER_CNT || id == PTIMER_CNT
}

/// A firmware pseudo-register (`KVM_REG_ARM_FW` or `KVM_REG_ARM_FW_FEAT_BMAP`):
/// the hypercall ABI the guest saw.
pub const fn is_firmware(id: u64) -> bool {
    id & 0xff00_0000_0000_0000 == abi::REG_ARM64
        && (coproc(id) == coproc(abi::REG_ARM_FW)
            || coproc(id) == coproc(abi::REG_ARM_FW_FEAT_BMAP))
}

/// The name of a register for messages: the UAPI's for firmware and timer
/// registers and the core registers, an encoding otherwise.
///
/// ```
/// use refvmm::migrate::regs::name;
/// assert_eq!(name(0x6030_0000_0016_0001), "KVM_REG_ARM_STD_HYP_BMAP");
/// assert_eq!(name(0x6030_0000_0010_0040), "PC");
/// assert_eq!(name(0x6030_0000_0013_c080), "sysreg 3,0,1,0,0");
/// ```
pub fn name(id: u64) -> String {
    let fw = [
        (abi::PSCI_VERSION, "KVM_REG_ARM_PSCI_VERSION"),
        (abi::fw_reg_id(1), "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1"),
        (abi::fw_reg_id(2), "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2"),
        (abi::fw_reg_id(3), "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3"),
        (abi::STD_BMAP, "KVM_REG_ARM_STD_BMAP"),
        (abi::STD_HYP_BMAP, "KVM_REG_ARM_STD_HYP_BMAP"),
        (abi::VENDOR_HYP_BMAP, "KVM_REG_ARM_VENDOR_HYP_BMAP"),
        (abi::fw_feat_bmap_reg_id(3), "KVM_REG_ARM_VENDOR_HYP_BMAP_2"),
        (TIMER_CTL, "KVM_REG_ARM_TIMER_CTL"),
        (TIMER_CVAL, "KVM_REG_ARM_TIMER_CVAL"),
        (TIMER_CNT, "KVM_REG_ARM_TIMER_CNT"),
        (PTIMER_CNT, "KVM_REG_ARM_PTIMER_CNT"),
    ];
    if let Some((_, n)) = fw.iter().find(|(i, _)| *i == id) {
        return (*n).to_string();
    }
    let low = id & 0xffff;
    match coproc(id) {
        0x10 => {
            // struct kvm_regs, indexed in 32-bit words.
            let byte = low * 4;
            match byte {
                0..=240 if byte.is_multiple_of(8) => format!("X{}", byte / 8),
                248 => "SP".into(),
                256 => "PC".into(),
                264 => "PSTATE".into(),
                272 => "SP_EL1".into(),
                280 => "ELR_EL1".into(),
                288..=320 if byte.is_multiple_of(8) => format!("SPSR[{}]", (byte - 288) / 8),
                336..=832 if (byte - 336).is_multiple_of(16) => format!("V{}", (byte - 336) / 16),
                _ => format!("core+{byte:#x}"),
            }
        }
        0x13 => format!(
            "sysreg {},{},{},{},{}",
            (low >> 14) & 3,
            (low >> 11) & 7,
            (low >> 7) & 15,
            (low >> 3) & 15,
            low & 7
        ),
        0x14 => format!("firmware register {low:#x}"),
        0x16 => format!("firmware feature bitmap {low:#x}"),
        _ => format!("register {id:#018x}"),
    }
}

/// The order registers are written back in: firmware pseudo-registers
/// first (they are the guest ABI, and an older host refuses them before
/// anything else is done), then everything else in `KVM_GET_REG_LIST`
/// order, counters left out.
pub fn restore_order<T>(regs: &[T], id: impl Fn(&T) -> u64) -> Vec<&T> {
    let firmware = regs.iter().filter(|r| is_firmware(id(r)));
    let rest = regs
        .iter()
        .filter(|r| !is_firmware(id(r)) && !is_counter(id(r)));
    firmware.chain(rest).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_the_id() {
        assert_eq!(reg_size(abi::core_reg_id(0)), Some(8));
        assert_eq!(reg_size(0x6020_0000_0010_00d4), Some(4)); // FPSR
        assert_eq!(reg_size(0x6080_0000_0015_0000), Some(256)); // SVE Z0
        assert_eq!(reg_size(0x6090_0000_0000_0000), None);
        assert_eq!(reg_size(0xffff_ffff_ffff_ffff), None);
    }

    #[test]
    fn timer_ids_are_the_uapi_values() {
        // arch/arm64/include/uapi/asm/kvm.h (note CVAL/CNT swapped encodings).
        assert_eq!(TIMER_CTL, 0x6030_0000_0013_df19);
        assert_eq!(TIMER_CNT, 0x6030_0000_0013_df1a);
        assert_eq!(TIMER_CVAL, 0x6030_0000_0013_df02);
        assert_eq!(PTIMER_CNT, 0x6030_0000_0013_df01);
    }

    #[test]
    fn firmware_and_counter_registers_are_recognised() {
        for id in [
            abi::PSCI_VERSION,
            abi::STD_BMAP,
            abi::STD_HYP_BMAP,
            abi::VENDOR_HYP_BMAP,
        ] {
            assert!(is_firmware(id), "{id:#x}");
            assert!(!is_counter(id));
        }
        assert!(!is_firmware(abi::core_reg_id(0)) && !is_firmware(TIMER_CNT));
        assert!(is_counter(TIMER_CNT) && is_counter(PTIMER_CNT) && !is_counter(TIMER_CVAL));
    }

    #[test]
    fn restore_order_puts_firmware_first_and_drops_counters() {
        let list = [
            abi::core_reg_id(0),
            TIMER_CNT,
            abi::STD_HYP_BMAP,
            TIMER_CVAL,
            abi::PSCI_VERSION,
            PTIMER_CNT,
        ];
        let order: Vec<u64> = restore_order(&list, |r| *r).into_iter().copied().collect();
        assert_eq!(
            order,
            [
                abi::STD_HYP_BMAP,
                abi::PSCI_VERSION,
                abi::core_reg_id(0),
                TIMER_CVAL
            ]
        );
    }

    #[test]
    fn names_cover_core_and_firmware_registers() {
        assert_eq!(name(abi::core_reg_id(8 * 30)), "X30");
        assert_eq!(
            name(abi::core_reg_id(abi::kvm_regs_offset::SPSR_EL1)),
            "SPSR[0]"
        );
        assert_eq!(name(abi::core_reg_id(336 + 16 * 31)), "V31");
        assert_eq!(name(abi::PSCI_VERSION), "KVM_REG_ARM_PSCI_VERSION");
        assert_eq!(name(MPIDR_EL1), "sysreg 3,0,0,0,5");
        assert_eq!(name(0x6030_0000_0014_0042), "firmware register 0x42");
    }
}
