//! The simulated vCPU register file.

use fwcall_smccc::Mpidr;
use std::fmt;

/// PSTATE at reset: `EL1h` with D, A, I and F masked.
pub const RESET_PSTATE: u64 = 0x3c5;
/// `SCTLR_EL1` at reset: SPAN set (PAN is left alone on exception entry).
pub const RESET_SCTLR: u64 = 0x0080_0000;

/// A register a trace can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// `x0`..`x30`.
    X(u8),
    /// The PC.
    Pc,
    /// PSTATE, in SPSR format.
    Pstate,
    /// `ELR_EL1`.
    Elr,
    /// `SPSR_EL1`.
    Spsr,
    /// `VBAR_EL1`.
    Vbar,
    /// `SCTLR_EL1`.
    Sctlr,
    /// `MPIDR_EL1`.
    Mpidr,
}

impl Reg {
    /// Parses a register name as fwtrace spells it.
    pub fn parse(name: &str) -> Option<Reg> {
        Some(match name {
            "pc" => Reg::Pc,
            "pstate" => Reg::Pstate,
            "elr" => Reg::Elr,
            "spsr" => Reg::Spsr,
            "vbar" => Reg::Vbar,
            "sctlr" => Reg::Sctlr,
            "mpidr" => Reg::Mpidr,
            _ => {
                let digits = name.strip_prefix('x')?;
                // Canonical spelling only: x0..x30, no leading zeros or signs.
                if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
                    return None;
                }
                let n: u8 = digits.parse().ok()?;
                if n > 30 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Reg::X(n)
            }
        })
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reg::X(n) => write!(f, "x{n}"),
            Reg::Pc => f.write_str("pc"),
            Reg::Pstate => f.write_str("pstate"),
            Reg::Elr => f.write_str("elr"),
            Reg::Spsr => f.write_str("spsr"),
            Reg::Vbar => f.write_str("vbar"),
            Reg::Sctlr => f.write_str("sctlr"),
            Reg::Mpidr => f.write_str("mpidr"),
        }
    }
}

/// One simulated vCPU: what a VMM holds for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimVcpu {
    /// `x0`..`x30`.
    pub x: [u64; 31],
    /// The PC.
    pub pc: u64,
    /// PSTATE.
    pub pstate: u64,
    /// `ELR_EL1`.
    pub elr: u64,
    /// `SPSR_EL1`.
    pub spsr: u64,
    /// `VBAR_EL1`.
    pub vbar: u64,
    /// `SCTLR_EL1`.
    pub sctlr: u64,
    /// `MPIDR_EL1`.
    pub mpidr: u64,
}

impl SimVcpu {
    /// vCPU `index` at power-on, with KVM's default MPIDR.
    pub fn new(index: u32) -> Self {
        SimVcpu {
            x: [0; 31],
            pc: 0,
            pstate: RESET_PSTATE,
            elr: 0,
            spsr: 0,
            vbar: 0,
            sctlr: RESET_SCTLR,
            mpidr: Mpidr::kvm_default(index).0,
        }
    }

    /// Reads a register.
    pub fn get(&self, r: Reg) -> u64 {
        match r {
            Reg::X(n) => self.x.get(n as usize).copied().unwrap_or(0),
            Reg::Pc => self.pc,
            Reg::Pstate => self.pstate,
            Reg::Elr => self.elr,
            Reg::Spsr => self.spsr,
            Reg::Vbar => self.vbar,
            Reg::Sctlr => self.sctlr,
            Reg::Mpidr => self.mpidr,
        }
    }

    /// Writes a register.
    pub fn set(&mut self, r: Reg, v: u64) {
        let slot = match r {
            Reg::X(n) => match self.x.get_mut(n as usize) {
                Some(s) => s,
                None => return,
            },
            Reg::Pc => &mut self.pc,
            Reg::Pstate => &mut self.pstate,
            Reg::Elr => &mut self.elr,
            Reg::Spsr => &mut self.spsr,
            Reg::Vbar => &mut self.vbar,
            Reg::Sctlr => &mut self.sctlr,
            Reg::Mpidr => &mut self.mpidr,
        };
        *slot = v;
    }

    /// Writes what a call's reply names, as a VMM applies an outcome:
    /// `x0..x(n-1)` for a return, `x0..x17`, PC, PSTATE (and `ELR_EL1`,
    /// `SPSR_EL1` when given) for a restored context.
    pub fn apply(&mut self, reply: &fwcall_smccc::Reply) {
        let mut x = self.call_regs();
        if let Some(ctx) = reply.apply_x(&mut x) {
            self.pc = ctx.pc;
            self.pstate = ctx.pstate;
            if let Some(el1) = ctx.el1 {
                self.elr = el1.elr;
                self.spsr = el1.spsr;
            }
        }
        self.x[..fwcall_smccc::CALL_REGS].copy_from_slice(&x);
    }

    /// `x0`..`x17`, as a call or an interrupted context carries them.
    pub fn call_regs(&self) -> [u64; fwcall_smccc::CALL_REGS] {
        let mut out = [0; fwcall_smccc::CALL_REGS];
        out.copy_from_slice(&self.x[..fwcall_smccc::CALL_REGS]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_state_matches_the_fwtrace_vcpu_model() {
        let v = SimVcpu::new(0x12);
        assert_eq!(v.pstate, 0x3c5);
        assert_eq!(v.sctlr, 0x80_0000);
        assert_eq!(v.mpidr, 0x8000_0102);
        assert_eq!((v.pc, v.elr, v.spsr, v.vbar), (0, 0, 0, 0));
        assert!(v.x.iter().all(|r| *r == 0));
    }

    #[test]
    fn register_names_are_canonical() {
        assert_eq!(Reg::parse("x0"), Some(Reg::X(0)));
        assert_eq!(Reg::parse("x30"), Some(Reg::X(30)));
        for bad in ["x31", "x", "x01", "x+1", "sp", "X0", "pc0"] {
            assert_eq!(Reg::parse(bad), None, "{bad}");
        }
    }
}
