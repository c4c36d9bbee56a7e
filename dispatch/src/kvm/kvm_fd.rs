//! The adapter over kvm-ioctls (aarch64 only): registers through the
//! one-reg ioctls, the filter through the VM's device attributes.

use kvm_ioctls::{VcpuExit, VcpuFd, VmFd};

use fwcall_pvtime::GuestMemoryAccess;

use super::abi;
use super::exit::HypercallExit;
use super::filter::{FilterPlan, FilterRange};
use super::firmware::{FirmwareError, sync_firmware_registers};
use super::power::MpState;
use super::regs::{Reg, VcpuRegisters};
use super::run::{Exit, RunVcpu};
use crate::Vm;

impl VcpuRegisters for VcpuFd {
    type Error = kvm_ioctls::Error;

    fn get(&mut self, reg: Reg) -> Result<u64, Self::Error> {
        read_one_reg(self, reg.kvm_id())
    }

    fn set(&mut self, reg: Reg, value: u64) -> Result<(), Self::Error> {
        write_one_reg(self, reg.kvm_id(), value)
    }
}

/// `KVM_GET_ONE_REG` of a 64-bit register.
pub fn read_one_reg(vcpu: &VcpuFd, id: u64) -> Result<u64, kvm_ioctls::Error> {
    let mut bytes = [0u8; 8];
    vcpu.get_one_reg(id, &mut bytes)?;
    Ok(u64::from_ne_bytes(bytes))
}

/// `KVM_SET_ONE_REG` of a 64-bit register.
pub fn write_one_reg(vcpu: &VcpuFd, id: u64, value: u64) -> Result<(), kvm_ioctls::Error> {
    vcpu.set_one_reg(id, &value.to_ne_bytes()).map(|_| ())
}

/// A filter range KVM refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "KVM refused SMCCC filter range {range} (EEXIST: overlaps a range or the reserved Arm Architecture calls; EBUSY: a vCPU already ran; ENXIO/EINVAL: the host predates Linux 6.4): {source}"
)]
pub struct FilterInstallError {
    /// The range.
    pub range: FilterRange,
    /// KVM's error.
    #[source]
    pub source: kvm_ioctls::Error,
}

/// Installs every range of `plan` with `FWD_TO_USER` on the VM. Call it
/// once, before any vCPU runs.
pub fn install_filter(vm: &VmFd, plan: &FilterPlan) -> Result<(), FilterInstallError> {
    for range in plan.ranges() {
        let filter = range.to_kvm();
        let attr = kvm_bindings::kvm_device_attr {
            flags: 0,
            group: abi::ARM_VM_SMCCC_CTRL,
            attr: abi::ARM_VM_SMCCC_FILTER,
            // KVM copies the struct during the ioctl; `filter` outlives it.
            addr: &filter as *const abi::SmcccFilter as u64,
        };
        vm.set_device_attr(&attr)
            .map_err(|source| FilterInstallError {
                range: range.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Whether the host kernel has the SMCCC filter (Linux 6.4+).
pub fn has_smccc_filter(vm: &VmFd) -> bool {
    let attr = kvm_bindings::kvm_device_attr {
        flags: 0,
        group: abi::ARM_VM_SMCCC_CTRL,
        attr: abi::ARM_VM_SMCCC_FILTER,
        addr: 0,
    };
    vm.has_device_attr(&attr).is_ok()
}

/// [`sync_firmware_registers`] through `vcpu`'s one-reg ioctls (the
/// registers are VM-wide; any initialised vCPU will do).
pub fn sync_firmware<M: GuestMemoryAccess>(
    vm: &Vm<M>,
    vcpu: &VcpuFd,
) -> Result<(), FirmwareError<kvm_ioctls::Error>> {
    sync_firmware_registers(
        vm,
        |id| read_one_reg(vcpu, id),
        |id, v| write_one_reg(vcpu, id, v),
    )
}

impl RunVcpu for VcpuFd {
    type Other<'a> = VcpuExit<'a>;

    fn set_immediate_exit(&mut self, on: bool) {
        self.set_kvm_immediate_exit(u8::from(on));
    }

    fn run(&mut self) -> Result<Exit<'_, VcpuExit<'_>>, kvm_ioctls::Error> {
        match VcpuFd::run(self) {
            Ok(VcpuExit::Hypercall(h)) => Ok(Exit::Hypercall(HypercallExit::from(&h))),
            Ok(VcpuExit::MmioRead(addr, data)) => Ok(Exit::MmioRead { addr, data }),
            Ok(VcpuExit::MmioWrite(addr, data)) => Ok(Exit::MmioWrite { addr, data }),
            Ok(VcpuExit::SystemEvent(kind, data)) => Ok(Exit::SystemEvent { kind, data }),
            Ok(VcpuExit::Intr) => Ok(Exit::Interrupted),
            Ok(other) => Ok(Exit::Other(other)),
            // EINTR: a signal or immediate_exit. EAGAIN: KVM asks to be
            // called again (a vCPU woken while blocked).
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                Ok(Exit::Interrupted)
            }
            Err(e) => Err(e),
        }
    }

    fn set_mp_state(&mut self, state: MpState) -> Result<(), kvm_ioctls::Error> {
        VcpuFd::set_mp_state(
            self,
            kvm_bindings::kvm_mp_state {
                mp_state: state.kvm(),
            },
        )
    }
}
