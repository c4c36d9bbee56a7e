//! The KVM/arm64 embedding: the run loop, hypercall exits, the SMCCC
//! filter and firmware registers (feature `kvm`).
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
//!    ([`vm_config`]); and SDEI may not offer binding slots that nothing
//!    could feed (the in-kernel vGIC owns the interrupts). A mismatch is a
//!    typed [`FirmwareError`]. [`cpu_features`] reads the guest CPU
//!    features SDEI needs from the vCPU's ID registers.
//! 3. **The run loop** ([`Runner`]): the vCPU with what KVM still owes it,
//!    and the only order in which fwcall may act before `KVM_RUN`.
//! 4. **Exits** ([`Runner::serve`], [`KvmVcpu::serve`]): decode
//!    `kvm_run.hypercall` into a [`Call`](crate::Call), reading exactly the
//!    argument registers the function takes
//!    ([`Vm::argument_registers`](crate::Vm::argument_registers), from the
//!    [`budget`](crate::smccc::budget) tables), let fwcall handle it, write
//!    back exactly the registers the reply defines. The PC is never moved:
//!    KVM already stepped over the `HVC`/`SMC`.
//!
//! [`VcpuRegisters`] and [`RunVcpu`] are implemented for kvm-ioctls'
//! `VcpuFd` on aarch64, for the plain [`RegisterFile`], and by
//! [`fake::FakeVcpu`], a model of KVM's run semantics that drives the same
//! code in tests on any host.
//!
//! # The run loop
//!
//! Each round is three steps, each produced only by the one before, so the
//! order cannot be got wrong:
//!
//! 1. [`Runner::prepare`]: settle what the vCPU is owed. KVM/arm64 finishes
//!    an MMIO access (the loaded value into its register, the PC past the
//!    instruction) only inside the *next* `KVM_RUN`, so after an MMIO exit
//!    the runner makes one `KVM_RUN` with `immediate_exit = 1`: KVM
//!    completes the access and returns `EINTR` without entering the guest.
//!    Then it clears `immediate_exit`; check the VMM's own stop and pause
//!    requests on the returned [`Prepared`] (a paused vCPU owes nothing,
//!    so its registers can be saved).
//! 2. [`Prepared::deliver`]: account stolen time, then enter a pending SDEI
//!    handler. Both come after the clear, so a kick that lands any time
//!    from there until KVM reads `immediate_exit` stops the next
//!    `KVM_RUN`, and the round after it sees the work.
//! 3. [`Ready::run`]: `KVM_RUN`. The runner remembers what the exit leaves
//!    owed.
//!
//! The example below (`examples/kvm_run_loop.rs`, run here as a test on the
//! fake vCPU) is the loop of the reference VMM, word for word between the
//! `run-loop` markers, around a stand-in VMM:
//!
//! ```rust
#![doc = include_str!("../../examples/kvm_run_loop.rs")]
//! ```
//!
//! Before any vCPU runs, once: `install_filter(&vm_fd,
//! &FilterPlan::for_vm(&vm))`, `sync_firmware(&vm, &vcpu_fd)` (both
//! aarch64-only), and never `KVM_ARM_VCPU_PVTIME_IPA` (fwcall writes the
//! records).
//!
//! # Kicking a vCPU
//!
//! A vCPU thread sits in `KVM_RUN` until the guest exits. To make it take a
//! delivery now, the VMM sends its thread a signal (a real-time signal with
//! a handler that does nothing but set `kvm_run.immediate_exit = 1`, and no
//! `SA_RESTART`). Either the thread is inside `KVM_RUN`, which returns
//! `EINTR` ([`Exit::Interrupted`]), or it is about to enter, and
//! `immediate_exit` makes that `KVM_RUN` return `EINTR` at once: no kick is
//! lost after [`Runner::prepare`] cleared the flag. A kicked vCPU with
//! nothing to take just re-enters the guest, so spurious kicks are
//! harmless. [`kick_targets`] lists the vCPUs an outcome names.
//!
//! # PSCI in userspace
//!
//! When fwcall serves PSCI (the filter forwards `0x8400_0000..=0x8400_001F`
//! and `0xC400_0000..=0xC400_001F`), KVM no longer starts or stops vCPUs:
//! the VMM does, on fwcall's [`PowerAction`](crate::PowerAction)s. The [`Runner`]
//! does the per-vCPU part, so a VMM only wires a [`PowerLines`] into each
//! runner and acts on [`SystemEnd`]:
//!
//! * **`CPU_ON`**: the caller's runner turns fwcall's [`CpuStart`](crate::CpuStart) into a
//!   [`StartContext`] (reading the caller's `PSTATE` and `SCTLR_EL1`: the
//!   target starts at the caller's exception level with its endianness)
//!   and posts it on the target's line. The target's own thread takes it
//!   in its next [`Runner::prepare`]: one-reg writes
//!   (`X0` = context ID, `X1..X30` = 0, `PC`, `PSTATE`, `SCTLR_EL1` with the
//!   MMU off) and `KVM_SET_MP_STATE(RUNNABLE)`, exactly once, before its
//!   next `KVM_RUN`. Only the vCPU's thread touches its registers.
//! * **`CPU_OFF`**: the caller's runner owes itself a power-off: its next
//!   `prepare` sets `KVM_SET_MP_STATE(STOPPED)` and parks the thread on its
//!   line (a condition variable: no spinning, no `KVM_RUN`) until a start
//!   arrives. A start posted before the thread parks waits in the line's
//!   slot, so it is never lost. A VMM that needs the thread back without a
//!   start (stop, pause, save) calls [`PowerLines::wake`]; the round then
//!   runs nothing (`Exit::Interrupted`) and the thread parks again.
//! * **`SYSTEM_OFF`, `SYSTEM_RESET`, `SYSTEM_RESET2`**: [`SystemEnd::of`]
//!   the outcome ends the VMM's loop; the VMM powers the VM off, or resets
//!   it (every vCPU's registers, the boot images, [`Vm::reset`](crate::Vm::reset),
//!   [`PowerLines::clear`]) and boots it again.
//!
//! ```
//! use fwcall::kvm::{PowerLines, StartContext};
//! use fwcall::VcpuIndex;
//!
//! let lines = PowerLines::new(2, 0x00c5_0078);
//! let ctx = StartContext { entry: 0x4008_0000, context_id: 7, pstate: 0x3c5, sctlr_el1: 0x00c5_0078 };
//! assert!(lines.post(VcpuIndex(1), ctx));
//! assert_eq!(lines.take(VcpuIndex(1)), Some(ctx)); // what a stopped VM's save applies
//! assert_eq!(lines.take(VcpuIndex(1)), None);
//! ```

pub mod abi;
mod exit;
pub mod fake;
mod features;
mod filter;
mod firmware;
#[cfg(target_arch = "aarch64")]
mod kvm_fd;
mod power;
mod regs;
mod run;

pub use exit::{Decoded, HypercallExit, KvmVcpu, RegisterError, apply_reply, decode, kick_targets};
pub use features::cpu_features;
pub use filter::{FilterError, FilterPlan, FilterRange};
pub use firmware::{
    FirmwareError, FirmwareRule, KVM_SMCCC_VERSION, check_firmware_registers, firmware_rules,
    psci_version_rule, sync_firmware_registers, vm_config,
};
#[cfg(target_arch = "aarch64")]
pub use kvm_fd::{
    FilterInstallError, has_smccc_filter, install_filter, read_one_reg, sync_firmware,
    write_one_reg,
};
pub use power::{MpState, PowerLines, StartContext, SystemEnd};
pub use regs::{Reg, RegisterFile, VcpuRegisters};
pub use run::{Exit, LoopError, Owed, Prepared, Ready, RunVcpu, Runner, Traffic, apply_start};

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod loop_tests;
#[cfg(test)]
mod power_tests;
#[cfg(test)]
mod tests;
