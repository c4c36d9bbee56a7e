//! The guest CPU features that shape an SDEI handler's entry `PSTATE`, read
//! from the vCPU itself.

use fwcall_sdei::CpuFeatures;

use super::exit::RegisterError;
use super::regs::{Reg, VcpuRegisters};

/// The features of the vCPU behind `regs`, from its `ID_AA64PFR1_EL1` (BT,
/// SSBS, MTE, NMI) and `ID_AA64MMFR1_EL1` (PAN), as KVM exposes them to
/// the guest (after `KVM_ARM_VCPU_INIT` and any ID-register writes by the
/// VMM). Put the result in `SdeiConfig::cpu_features`: the handler-entry
/// `PSTATE` (TCO, SSBS, ALLINT, PAN, BTYPE) then matches what the PE would
/// produce. Two `KVM_GET_ONE_REG`s, once per VM.
///
/// ```
/// use fwcall::kvm::{RegisterFile, cpu_features};
/// use fwcall::CpuFeatures;
///
/// let mut vcpu = RegisterFile {
///     id_aa64pfr1_el1: 1 << 4,   // SSBS
///     id_aa64mmfr1_el1: 1 << 20, // PAN
///     ..Default::default()
/// };
/// assert_eq!(cpu_features(&mut vcpu).unwrap(), CpuFeatures::PAN | CpuFeatures::SSBS);
/// ```
pub fn cpu_features<R: VcpuRegisters>(
    regs: &mut R,
) -> Result<CpuFeatures, RegisterError<R::Error>> {
    let read = |regs: &mut R, reg| {
        regs.get(reg).map_err(|source| RegisterError {
            reg,
            write: false,
            source,
        })
    };
    let pfr1 = read(regs, Reg::IdAa64Pfr1El1)?;
    let mmfr1 = read(regs, Reg::IdAa64Mmfr1El1)?;
    Ok(CpuFeatures::from_id_registers(pfr1, mmfr1))
}
