//! `PSTATE` of an exception taken to EL1 from the interrupted context
//! (sdei.md §12, §14.6, §18.5; fwcall chose the architectural rules).

use fwcall::CpuFeatures;

const EL1H: u64 = 0b0101;
const DAIF: u64 = 0xf << 6;
const NZCV: u64 = 0xf << 28;
/// DIT sits at bit 24 in `SPSR_EL1` for both AArch64 and AArch32 contexts
/// (bit 21 is SS in both; the AArch32 CPSR's own bit 21 is not what the
/// VMM hands over).
const DIT: u32 = 24;
const PAN: u32 = 22;
const TCO: u32 = 25;
const SSBS: u32 = 12;
const ALLINT: u32 = 13;
const SCTLR_SPAN: u32 = 23;
const SCTLR_DSSBS: u32 = 44;
const SCTLR_SPINTMASK: u32 = 62;

fn bit(v: u64, n: u32) -> u64 {
    (v >> n) & 1
}

/// The `PSTATE` (SPSR format) of handler entry or `COMPLETE_AND_RESUME`:
/// `EL1h` with DAIF set; NZCV and DIT kept; PAN set when `SCTLR_EL1.SPAN`
/// is 0, else kept; TCO set with MTE; SSBS from `SCTLR_EL1.DSSBS`; ALLINT = NOT `SCTLR_EL1.SPINTMASK` with
/// NMI; everything else zero.
pub fn exception_entry(old: u64, sctlr: u64, features: CpuFeatures) -> u64 {
    let mut p = EL1H | DAIF | (old & NZCV);
    p |= bit(old, DIT) << DIT;
    if features.contains(CpuFeatures::PAN) {
        let pan = if bit(sctlr, SCTLR_SPAN) == 0 {
            1
        } else {
            bit(old, PAN)
        };
        p |= pan << PAN;
    }
    if features.contains(CpuFeatures::MTE) {
        p |= 1 << TCO;
    }
    if features.contains(CpuFeatures::SSBS) {
        p |= bit(sctlr, SCTLR_DSSBS) << SSBS;
    }
    if features.contains(CpuFeatures::NMI) {
        p |= (1 - bit(sctlr, SCTLR_SPINTMASK)) << ALLINT;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn el1h_with_daif_masked_from_el0() {
        assert_eq!(
            exception_entry(0, 1 << SCTLR_SPAN, CpuFeatures::empty()),
            0x3c5
        );
    }

    #[test]
    fn pan_forced_when_span_clear_kept_when_set() {
        assert_eq!(exception_entry(0, 0, CpuFeatures::PAN) >> PAN & 1, 1);
        assert_eq!(
            exception_entry(0, 1 << SCTLR_SPAN, CpuFeatures::PAN) >> PAN & 1,
            0
        );
        assert_eq!(
            exception_entry(1 << PAN, 1 << SCTLR_SPAN, CpuFeatures::PAN) >> PAN & 1,
            1
        );
    }

    #[test]
    fn nzcv_and_dit_kept_other_bits_dropped() {
        let old = NZCV | 1 << DIT | 1 << 21 | 1 << 20 | 0x3 << 10;
        assert_eq!(
            exception_entry(old, 1 << SCTLR_SPAN, CpuFeatures::empty()),
            NZCV | 1 << DIT | 0x3c5
        );
    }
}
