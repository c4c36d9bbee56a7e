//! `PSTATE` after an exception taken to EL1 (Arm ARM `TakeException`),
//! which is what handler entry and `COMPLETE_AND_RESUME` must look like.
//!
//! Both take the interrupted `PSTATE` (SPSR format, `AArch64` or `AArch32`) as
//! the "old" value and `SCTLR_EL1` as it stood at the dispatch.

use crate::CpuFeatures;

/// `M[4:0]` = `EL1h`.
pub const MODE_EL1H: u64 = 0b0_0101;
/// D, A, I, F (bits 9:6).
pub const DAIF: u64 = 0xf << 6;
/// N, Z, C, V (bits 31:28), kept.
pub const NZCV: u64 = 0xf << 28;
/// `PSTATE.DIT` (bit 24 in both SPSR formats), kept.
pub const DIT: u64 = 1 << 24;
/// `PSTATE.TCO` (bit 25).
pub const TCO: u64 = 1 << 25;
/// `PSTATE.PAN` (bit 22 in both SPSR formats).
pub const PAN: u64 = 1 << 22;
/// `PSTATE.ALLINT` (bit 13).
pub const ALLINT: u64 = 1 << 13;
/// `PSTATE.SSBS` (bit 12, `AArch64` format).
pub const SSBS: u64 = 1 << 12;

/// `SCTLR_EL1.SPAN` (bit 23): 0 means "set PAN on exception entry".
pub const SCTLR_SPAN: u64 = 1 << 23;
/// `SCTLR_EL1.DSSBS` (bit 44): the `SSBS` value on exception entry.
pub const SCTLR_DSSBS: u64 = 1 << 44;
/// `SCTLR_EL1.SPINTMASK` (bit 62): `ALLINT` on entry is its inverse.
pub const SCTLR_SPINTMASK: u64 = 1 << 62;

/// The `PSTATE` of an exception taken to EL1 using `SP_EL1` from a context
/// whose `PSTATE` was `old`.
///
/// Kept: NZCV, DIT. Set: `EL1h`, D, A, I, F. PAN: set when `SCTLR_EL1.SPAN`
/// is 0, else kept (with `FEAT_PAN`). TCO: 1 (with MTE). SSBS:
/// `SCTLR_EL1.DSSBS` (with SSBS). ALLINT: NOT `SCTLR_EL1.SPINTMASK` (with
/// NMI). Everything else (UAO, SS, IL, BTYPE, `AArch32`-only bits) is 0.
///
/// ```
/// use fwcall_sdei::{pstate::exception_entry, CpuFeatures};
/// // EL0 with NZCV = 0b1010 and PAN clear, SCTLR_EL1.SPAN = 0: PAN forced on.
/// let new = exception_entry(0xa000_0000, 0, CpuFeatures::PAN);
/// assert_eq!(new, 0xa000_0000 | 1 << 22 | 0x3c5);
/// ```
pub const fn exception_entry(old: u64, sctlr_el1: u64, features: CpuFeatures) -> u64 {
    let mut new = (old & (NZCV | DIT)) | DAIF | MODE_EL1H;
    if features.contains(CpuFeatures::PAN) {
        if sctlr_el1 & SCTLR_SPAN == 0 {
            new |= PAN;
        } else {
            new |= old & PAN;
        }
    }
    if features.contains(CpuFeatures::MTE) {
        new |= TCO;
    }
    if features.contains(CpuFeatures::SSBS) && sctlr_el1 & SCTLR_DSSBS != 0 {
        new |= SSBS;
    }
    if features.contains(CpuFeatures::NMI) && sctlr_el1 & SCTLR_SPINTMASK == 0 {
        new |= ALLINT;
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: u64 = SCTLR_SPAN;

    #[test]
    fn handler_entry_is_el1h_with_daif_masked() {
        let new = exception_entry(0, SPAN, CpuFeatures::empty());
        assert_eq!(new & 0x3cf, 0x3c5);
    }

    #[test]
    fn nzcv_and_dit_are_kept_everything_else_cleared() {
        // UAO 23, SS 21, IL 20, BTYPE 11:10, M = EL0t
        let old = 0xf000_0000 | DIT | 1 << 23 | 1 << 21 | 1 << 20 | 0b11 << 10;
        let new = exception_entry(old, SPAN, CpuFeatures::empty());
        assert_eq!(new, 0xf000_0000 | DIT | 0x3c5);
    }

    #[test]
    fn pan_is_forced_when_span_clear_and_kept_when_set() {
        assert_eq!(exception_entry(0, 0, CpuFeatures::PAN) & PAN, PAN);
        assert_eq!(exception_entry(0, SPAN, CpuFeatures::PAN) & PAN, 0);
        assert_eq!(exception_entry(PAN, SPAN, CpuFeatures::PAN) & PAN, PAN);
        // Without FEAT_PAN the bit is RES0.
        assert_eq!(exception_entry(PAN, 0, CpuFeatures::empty()) & PAN, 0);
    }

    #[test]
    fn tco_set_with_mte_only() {
        assert_eq!(exception_entry(0, SPAN, CpuFeatures::MTE) & TCO, TCO);
        assert_eq!(exception_entry(TCO, SPAN, CpuFeatures::empty()) & TCO, 0);
    }

    #[test]
    fn ssbs_follows_sctlr_dssbs() {
        let f = CpuFeatures::SSBS;
        assert_eq!(exception_entry(0, SPAN | SCTLR_DSSBS, f) & SSBS, SSBS);
        assert_eq!(exception_entry(SSBS, SPAN, f) & SSBS, 0);
        assert_eq!(
            exception_entry(0, SCTLR_DSSBS, CpuFeatures::empty()) & SSBS,
            0
        );
    }

    #[test]
    fn allint_is_not_spintmask_with_nmi() {
        let f = CpuFeatures::NMI;
        assert_eq!(exception_entry(0, SPAN, f) & ALLINT, ALLINT);
        assert_eq!(
            exception_entry(ALLINT, SPAN | SCTLR_SPINTMASK, f) & ALLINT,
            0
        );
        assert_eq!(
            exception_entry(ALLINT, SPAN, CpuFeatures::empty()) & ALLINT,
            0
        );
    }

    #[test]
    fn aarch32_context_enters_aarch64_el1h() {
        // AArch32 USR (M = 0x10), T bit, GE bits, Q, Z flag.
        let old = 0x4000_0000 | 1 << 27 | 0xf << 16 | 1 << 5 | 0x10;
        let new = exception_entry(old, SPAN, CpuFeatures::empty());
        assert_eq!(new, 0x4000_0000 | 0x3c5);
    }
}
