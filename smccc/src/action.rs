//! Power and system actions: what a call asks the VMM to do to a vCPU or to
//! the whole VM besides writing the caller's registers.
//!
//! PSCI's `CPU_ON`, `CPU_OFF`, `CPU_SUSPEND`, `SYSTEM_OFF` and
//! `SYSTEM_RESET(2)` change power state, which only the VMM can apply. The
//! server never does it behind the VMM's back: it returns a [`PowerAction`]
//! in [`crate::Outcome::power`], and the VMM applies it with whatever its
//! hypervisor offers (one-reg writes and `KVM_SET_MP_STATE`, a
//! Hypervisor.framework vCPU start, a simulator).

use crate::VcpuIndex;

/// What the VMM must do after a call, beyond the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    /// `CPU_ON` succeeded: power on [`CpuStart::target`], give it the
    /// registers [`CpuStart`] describes and kick it. The server already
    /// reports the target on.
    CpuOn(CpuStart),
    /// `CPU_OFF`: power the calling vCPU off. It makes no further call and
    /// runs no guest code until a `CPU_ON` names it; its registers are left
    /// as they are (the call does not return).
    CpuOff,
    /// `CPU_SUSPEND` (a standby or retention state): the caller may be held
    /// as by `WFI` until its next wake-up event (an interrupt, a kick).
    /// Resuming it at once is also correct; the reply is already `SUCCESS`.
    Standby,
    /// `SYSTEM_OFF`: end the VM. Every vCPU stops for good.
    SystemOff,
    /// `SYSTEM_RESET` or `SYSTEM_RESET2`: reset the whole VM (every vCPU's
    /// registers, the boot images, and fwcall's state with `Vm::reset`),
    /// then boot it again.
    SystemReset(ResetKind),
}

impl PowerAction {
    /// Whether the action ends or resets the whole VM.
    pub const fn is_system(&self) -> bool {
        matches!(self, PowerAction::SystemOff | PowerAction::SystemReset(_))
    }
}

/// Which reset a guest asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetKind {
    /// `SYSTEM_RESET`: a cold reset.
    Cold,
    /// `SYSTEM_RESET2` with reset type 0 (`SYSTEM_WARM_RESET`), and the
    /// cookie the guest passed (Linux passes 0; the VMM may ignore it).
    Warm {
        /// `x2` of the call (its low 32 bits for the SMC32 form).
        cookie: u64,
    },
}

/// How a vCPU powered on by `CPU_ON` starts (PSCI's rules for the entry
/// state of a PE; DEN0022 as implemented by TF-A and KVM).
///
/// * `PC` = [`entry`](Self::entry), `X0` = [`context_id`](Self::context_id),
///   `X1..X30` = 0 (and the FP/SIMD registers 0).
/// * `PSTATE` = [`CpuStart::pstate`]: AArch64, the caller's exception
///   level with `SP_ELx`, `D`, `A`, `I` and `F` masked (`0x3c5` from EL1).
/// * `SCTLR_EL1` = the vCPU's reset value (MMU and caches off) with the
///   endianness bit `EE` copied from the caller: [`CpuStart::sctlr_el1`].
/// * Other system registers keep the values a VMM gives at vCPU reset;
///   `MPIDR_EL1` never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuStart {
    /// The vCPU to power on.
    pub target: VcpuIndex,
    /// Its first `PC` (a physical address: the MMU is off).
    pub entry: u64,
    /// Its `X0`.
    pub context_id: u64,
}

impl CpuStart {
    /// `PSTATE.{D,A,I,F}`: all masked at entry.
    pub const DAIF_MASKED: u64 = 0xf << 6;
    /// `SCTLR_ELx.EE` (bit 25): data accesses at EL1 are big-endian.
    pub const SCTLR_EE: u64 = 1 << 25;

    /// The target's `PSTATE`, from the caller's (in SPSR format): AArch64
    /// at the caller's exception level (EL1 if the caller was EL0 or
    /// AArch32, which cannot call PSCI from a guest), using `SP_ELx`, with
    /// D, A, I and F masked. `0x3c5` for a caller at EL1, `0x3c9` at EL2.
    ///
    /// ```
    /// use fwcall_smccc::{CpuStart, VcpuIndex};
    /// let s = CpuStart { target: VcpuIndex(1), entry: 0x4008_0000, context_id: 0 };
    /// assert_eq!(s.pstate(0x3c5), 0x3c5);
    /// assert_eq!(s.pstate(0x0), 0x3c5);  // an EL1t caller with nothing masked
    /// assert_eq!(s.pstate(0x3c9), 0x3c9); // EL2h (nested virtualization)
    /// ```
    pub const fn pstate(&self, caller_pstate: u64) -> u64 {
        let aarch32 = caller_pstate & (1 << 4) != 0;
        let el = if aarch32 {
            1
        } else {
            match (caller_pstate >> 2) & 3 {
                0 | 1 => 1,
                n => n,
            }
        };
        Self::DAIF_MASKED | (el << 2) | 1
    }

    /// The target's `SCTLR_EL1`: its reset value with `EE` taken from the
    /// caller's `SCTLR_EL1`, so the started PE has the caller's data
    /// endianness (KVM and TF-A do this; PSCI asks for it).
    ///
    /// ```
    /// use fwcall_smccc::{CpuStart, VcpuIndex};
    /// let s = CpuStart { target: VcpuIndex(1), entry: 0x4008_0000, context_id: 0 };
    /// assert_eq!(s.sctlr_el1(0x30d0_0800, 0x0200_0000), 0x32d0_0800);
    /// assert_eq!(s.sctlr_el1(0x32d0_0800, 0), 0x30d0_0800);
    /// ```
    pub const fn sctlr_el1(&self, target_reset: u64, caller: u64) -> u64 {
        (target_reset & !Self::SCTLR_EE) | (caller & Self::SCTLR_EE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_pe_is_aarch64_spx_with_daif_masked() {
        let s = CpuStart {
            target: VcpuIndex(0),
            entry: 0,
            context_id: 0,
        };
        // EL1t with NZCV set: only the mode, SP selection and DAIF matter.
        assert_eq!(s.pstate(0xf000_0004), 0x3c5);
        // An AArch32 caller (bit 4) still starts an AArch64 EL1h PE.
        assert_eq!(s.pstate(0x1d3), 0x3c5);
        assert_eq!(s.pstate(0xc), 0x3cd); // EL3 would be kept (never a guest)
    }

    #[test]
    fn system_actions_are_named() {
        assert!(PowerAction::SystemOff.is_system());
        assert!(PowerAction::SystemReset(ResetKind::Cold).is_system());
        assert!(!PowerAction::CpuOff.is_system());
        assert!(!PowerAction::Standby.is_system());
    }
}
