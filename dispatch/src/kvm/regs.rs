//! The registers the adapter reads and writes, and the trait it reaches them
//! through.

use core::convert::Infallible;

use super::abi::{self, kvm_regs_offset};

/// A vCPU register the adapter touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// `X0..X30`; indices above 30 are clamped to 30.
    X(u8),
    /// The program counter.
    Pc,
    /// `PSTATE`, in SPSR format.
    Pstate,
    /// `ELR_EL1`.
    ElrEl1,
    /// `SPSR_EL1`.
    SpsrEl1,
    /// `SCTLR_EL1`.
    SctlrEl1,
    /// `ID_AA64PFR1_EL1` (read-only: BTI, SSBS, MTE, NMI).
    IdAa64Pfr1El1,
    /// `ID_AA64MMFR1_EL1` (read-only: PAN).
    IdAa64Mmfr1El1,
}

impl Reg {
    /// `Xn`, or `None` past `X30`.
    pub const fn x(n: usize) -> Option<Reg> {
        if n <= 30 { Some(Reg::X(n as u8)) } else { None }
    }

    /// The `KVM_GET_ONE_REG`/`KVM_SET_ONE_REG` ID. `ELR_EL1` and `SPSR_EL1`
    /// are core registers (fields of `struct kvm_regs`), `SCTLR_EL1` a
    /// system register. `X(n)` above 30 is clamped to `X30` (build it with
    /// [`Reg::x`] to avoid that).
    pub const fn kvm_id(self) -> u64 {
        match self {
            Reg::X(n) => {
                abi::core_reg_id(kvm_regs_offset::X0 + 8 * if n > 30 { 30 } else { n as u64 })
            }
            Reg::Pc => abi::core_reg_id(kvm_regs_offset::PC),
            Reg::Pstate => abi::core_reg_id(kvm_regs_offset::PSTATE),
            Reg::ElrEl1 => abi::core_reg_id(kvm_regs_offset::ELR_EL1),
            Reg::SpsrEl1 => abi::core_reg_id(kvm_regs_offset::SPSR_EL1),
            Reg::SctlrEl1 => abi::SCTLR_EL1,
            Reg::IdAa64Pfr1El1 => abi::ID_AA64PFR1_EL1,
            Reg::IdAa64Mmfr1El1 => abi::ID_AA64MMFR1_EL1,
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        const X: [&str; 31] = [
            "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
            "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25",
            "x26", "x27", "x28", "x29", "x30",
        ];
        match self {
            Reg::X(n) => X.get(n as usize).copied().unwrap_or("x?"),
            Reg::Pc => "pc",
            Reg::Pstate => "pstate",
            Reg::ElrEl1 => "elr_el1",
            Reg::SpsrEl1 => "spsr_el1",
            Reg::SctlrEl1 => "sctlr_el1",
            Reg::IdAa64Pfr1El1 => "id_aa64pfr1_el1",
            Reg::IdAa64Mmfr1El1 => "id_aa64mmfr1_el1",
        }
    }
}

impl core::fmt::Display for Reg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Access to one stopped vCPU's registers: KVM's one-reg ioctls, a
/// hypervisor framework's register calls, or a plain array in tests.
///
/// The adapter calls it only on the vCPU's own thread, while the vCPU is
/// out of the guest.
pub trait VcpuRegisters {
    /// What the underlying access reports on failure.
    type Error;

    /// Reads one register.
    fn get(&mut self, reg: Reg) -> Result<u64, Self::Error>;

    /// Writes one register.
    fn set(&mut self, reg: Reg, value: u64) -> Result<(), Self::Error>;
}

impl<T: VcpuRegisters + ?Sized> VcpuRegisters for &mut T {
    type Error = T::Error;

    fn get(&mut self, reg: Reg) -> Result<u64, Self::Error> {
        (**self).get(reg)
    }

    fn set(&mut self, reg: Reg, value: u64) -> Result<(), Self::Error> {
        (**self).set(reg, value)
    }
}

/// A register file held as plain values: a stand-in for a vCPU in tests,
/// and the natural shape for a hypervisor that hands over all registers at
/// an exit. It also counts accesses so tests can check what was touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegisterFile {
    /// `X0..X30`.
    pub x: [u64; 31],
    /// The program counter.
    pub pc: u64,
    /// `PSTATE`.
    pub pstate: u64,
    /// `ELR_EL1`.
    pub elr_el1: u64,
    /// `SPSR_EL1`.
    pub spsr_el1: u64,
    /// `SCTLR_EL1`.
    pub sctlr_el1: u64,
    /// `ID_AA64PFR1_EL1`.
    pub id_aa64pfr1_el1: u64,
    /// `ID_AA64MMFR1_EL1`.
    pub id_aa64mmfr1_el1: u64,
    /// Number of reads so far.
    pub reads: u32,
    /// Number of writes so far.
    pub writes: u32,
}

impl RegisterFile {
    fn slot(&mut self, reg: Reg) -> &mut u64 {
        match reg {
            // Same clamp as `Reg::kvm_id`, never a panic.
            Reg::X(n) => &mut self.x[(n as usize).min(30)],
            Reg::Pc => &mut self.pc,
            Reg::Pstate => &mut self.pstate,
            Reg::ElrEl1 => &mut self.elr_el1,
            Reg::SpsrEl1 => &mut self.spsr_el1,
            Reg::SctlrEl1 => &mut self.sctlr_el1,
            Reg::IdAa64Pfr1El1 => &mut self.id_aa64pfr1_el1,
            Reg::IdAa64Mmfr1El1 => &mut self.id_aa64mmfr1_el1,
        }
    }
}

impl VcpuRegisters for RegisterFile {
    type Error = Infallible;

    fn get(&mut self, reg: Reg) -> Result<u64, Infallible> {
        self.reads = self.reads.saturating_add(1);
        Ok(*self.slot(reg))
    }

    fn set(&mut self, reg: Reg, value: u64) -> Result<(), Infallible> {
        self.writes = self.writes.saturating_add(1);
        *self.slot(reg) = value;
        Ok(())
    }
}
