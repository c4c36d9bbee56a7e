//! The KVM/arm64 embedding: hypercall exits, the SMCCC filter, firmware
//! registers and SDEI delivery (feature `kvm`).
//!
//! KVM answers most SMCCC calls itself (the Arm Architecture calls, PSCI,
//! TRNG, its vendor calls). Since Linux 6.4 a VMM can ask it to forward
//! ranges of function IDs as `KVM_EXIT_HYPERCALL`; fwcall serves those.
//! This module is the glue, in four pieces:
//!
//! 1. **The filter** ([`FilterPlan`]): the ranges to install with
//!    `FWD_TO_USER` before any vCPU runs: SDEI (and its SMC32 aliases,
//!    which fwcall refuses), PV time, the Standard Hypervisor queries, and
//!    the VMM's own [`Service`](crate::Service) ranges.
//! 2. **Agreement** ([`sync_firmware_registers`],
//!    [`check_firmware_registers`]): KVM answers `SMCCC_ARCH_FEATURES` and
//!    `SMCCC_VERSION` itself, so its `STD_HYP_BMAP` PV-time bit must match
//!    what fwcall serves and fwcall must use KVM's SMCCC version 1.1
//!    ([`vm_config`]). A mismatch is a typed [`FirmwareError`].
//! 3. **Exits** ([`KvmVcpu::serve`]): decode `kvm_run.hypercall` into a
//!    [`Call`](crate::Call) (arguments read through [`VcpuRegisters`]),
//!    let fwcall handle it, write the result back. The PC is never moved:
//!    KVM already stepped over the `HVC`/`SMC`.
//! 4. **Delivery** ([`KvmVcpu::deliver_pending`]): before every `KVM_RUN`,
//!    enter a pending SDEI handler. Another thread that raised an event (or
//!    a call that signalled one) gets [`Kicks`](crate::Kicks): the VMM
//!    kicks those vCPUs out of `KVM_RUN` ([`kick_targets`]).
//!
//! [`VcpuRegisters`] is implemented for kvm-ioctls' `VcpuFd` on aarch64 and
//! for the plain [`RegisterFile`] everywhere, which drives the same code in
//! tests on any host.
//!
//! # Kicking a vCPU
//!
//! A vCPU thread sits in `KVM_RUN` until the guest exits. To make it take a
//! delivery now, the VMM sends its thread a signal (a real-time signal with
//! a handler that does nothing but set `kvm_run.immediate_exit = 1`, and no
//! `SA_RESTART`). Either the thread is inside `KVM_RUN`, which returns
//! `EINTR`, or it is about to enter, and `immediate_exit` makes that
//! `KVM_RUN` return `EINTR` at once: no kick is lost between the pending
//! check and the ioctl. The thread then clears `immediate_exit`, calls
//! [`KvmVcpu::deliver_pending`] and runs again. A kicked vCPU with nothing
//! to take just re-enters the guest, so spurious kicks are harmless.
//!
//! # The run loop
//!
//! ```ignore
//! use fwcall::kvm::{self, HypercallExit, KvmVcpu};
//! use kvm_ioctls::VcpuExit;
//!
//! // Once, before any vCPU runs (vm_fd: kvm_ioctls::VmFd, vm: fwcall::Vm).
//! kvm::install_filter(&vm_fd, &kvm::FilterPlan::for_vm(&vm))?;
//! kvm::sync_firmware(&vm, &vcpu_fds[0])?;
//! // Never set KVM_ARM_VCPU_PVTIME_IPA: fwcall writes the records.
//!
//! // On each vCPU thread.
//! let me = KvmVcpu::new(&vm, index)?;
//! loop {
//!     me.vcpu().account_steal(run_delay_since_last_time())?;
//!     if let Some(d) = me.deliver_pending(&mut vcpu_fd)? {
//!         kick(kvm::kick_targets(&d.kicks, Some(index), vm.vcpu_count()));
//!     }
//!     vcpu_fd.set_kvm_immediate_exit(0);
//!     match vcpu_fd.run() {
//!         Ok(VcpuExit::Hypercall(h)) => {
//!             let exit = HypercallExit::from(&h);
//!             let outcome = me.serve(exit, &mut vcpu_fd)?;
//!             kick(kvm::kick_targets(&outcome.kicks, Some(index), vm.vcpu_count()));
//!         }
//!         Ok(VcpuExit::MmioRead(..) | VcpuExit::MmioWrite(..)) => { /* devices */ }
//!         Ok(VcpuExit::SystemEvent(..)) => break,
//!         Err(e) if e.errno() == libc::EINTR => {} // kicked: loop to deliver
//!         other => panic!("{other:?}"),
//!     }
//! }
//! ```
//!
//! The reference VMM (`refvmm/` in the fwcall repository) is this loop,
//! compiled and booting Linux.

pub mod abi;
mod exit;
pub mod fake;
mod features;
mod filter;
mod firmware;
#[cfg(target_arch = "aarch64")]
mod kvm_fd;
mod regs;
mod run;

pub use exit::{Decoded, HypercallExit, KvmVcpu, RegisterError, apply_reply, decode, kick_targets};
pub use features::cpu_features;
pub use filter::{FilterError, FilterPlan, FilterRange};
pub use firmware::{
    FirmwareError, FirmwareRule, KVM_SMCCC_VERSION, check_firmware_registers, firmware_rules,
    sync_firmware_registers, vm_config,
};
#[cfg(target_arch = "aarch64")]
pub use kvm_fd::{
    FilterInstallError, has_smccc_filter, install_filter, read_one_reg, sync_firmware,
    write_one_reg,
};
pub use regs::{Reg, RegisterFile, VcpuRegisters};
pub use run::{Exit, LoopError, Owed, Prepared, Ready, RunVcpu, Runner, Traffic};

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod loop_tests;
#[cfg(test)]
mod tests;
