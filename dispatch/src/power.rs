//! Power state, and where other services follow it.
//!
//! fwcall's PSCI (`fwcall_psci`) keeps each vCPU's power state. This module
//! is the one seam between PSCI's transitions and the other services:
//! [`Coupling`] is the [`PowerHook`] PSCI calls inside `CPU_ON` and
//! `CPU_OFF`, and [`Vm::reset`] puts every service back to its boot state.
//!
//! What SDEI does today, through its public API only:
//! * `CPU_OFF`: the caller's SDEI state is reset as at boot (private events
//!   unregistered, a handler in progress discarded, the PE masked), so an
//!   off vCPU is masked: it takes no delivery and is never chosen for
//!   `RM_ANY`.
//! * `CPU_ON`: nothing more to do, the target's SDEI state is already the
//!   boot state (from `CPU_OFF`, from VM start, or from [`Vm::reset`]).
//! * [`Vm::reset`]: every SDEI state back to the defaults.

use alloc::boxed::Box;
use alloc::vec::Vec;

use fwcall_psci::{PowerHook, PowerState};
use fwcall_pvtime::GuestMemoryAccess;
use fwcall_sdei::Sdei;
use fwcall_smccc::{Kicks, VcpuIndex};
use fwcall_trng::EntropySource;

use crate::config::VmConfig;
use crate::vm::Vm;

/// What PSCI's transitions do to the other services of one VM.
#[derive(Debug)]
pub(crate) struct Coupling<'a> {
    sdei: Option<&'a Sdei>,
}

impl<'a> Coupling<'a> {
    #[inline]
    pub(crate) fn of<M>(vm: &'a Vm<M>) -> Self {
        Coupling {
            sdei: vm.sdei.as_ref(),
        }
    }
}

impl PowerHook for Coupling<'_> {
    fn cpu_on(&self, _target: VcpuIndex) -> Kicks {
        // The target's SDEI state is the boot state already (see above).
        Kicks::none()
    }

    fn cpu_off(&self, vcpu: VcpuIndex) -> Kicks {
        match self.sdei {
            Some(s) => s.reset_vcpu(vcpu),
            None => Kicks::none(),
        }
    }
}

/// The guest's RAM as `(base, size)` pairs, where `CPU_ON` entry points
/// must lie.
pub(crate) fn ram_pairs(config: &VmConfig) -> Vec<(u64, u64)> {
    config.ram.iter().map(|r| (r.base.0, r.size)).collect()
}

/// The entropy source a VM starts with.
pub(crate) fn default_entropy() -> Box<dyn EntropySource> {
    #[cfg(feature = "std")]
    {
        Box::new(fwcall_trng::OsEntropy)
    }
    #[cfg(not(feature = "std"))]
    {
        Box::new(fwcall_trng::NoSource)
    }
}

impl<M: GuestMemoryAccess> Vm<M> {
    /// A vCPU's power state: from fwcall's PSCI when it serves PSCI;
    /// otherwise every vCPU counts as on (the hypervisor owns power).
    /// `Off` for a vCPU that does not exist.
    ///
    /// ```
    /// use fwcall::{NoMemory, PowerState, PsciConfig, VcpuIndex, Vm, VmConfig};
    /// let mut config = VmConfig::new(2);
    /// config.psci = Some(PsciConfig::default()); // vCPU 0 boots, vCPU 1 waits for CPU_ON
    /// let vm = Vm::new(config, NoMemory).unwrap();
    /// assert_eq!(vm.power_state(VcpuIndex(0)), PowerState::On);
    /// assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::Off);
    /// ```
    #[inline]
    pub fn power_state(&self, vcpu: VcpuIndex) -> PowerState {
        if vcpu.get() >= self.config.vcpu_count() {
            return PowerState::Off;
        }
        match self.psci_served() {
            Some(p) => p.power_state(vcpu),
            None => PowerState::On,
        }
    }

    /// Puts every service back to its boot state for a system reset (after
    /// a `SYSTEM_RESET`/`SYSTEM_RESET2` action, or a reboot the VMM decides
    /// on): all SDEI state back to the defaults (bound interrupts are given
    /// back through the hook), and with PSCI the boot vCPUs on and the
    /// others off. The guest ABI (versions, feature words) and PV time
    /// (record addresses, enabled records, stolen-time totals) survive.
    ///
    /// Pause every vCPU first; then reset their registers, reload the boot
    /// images, and start the vCPUs that [`Vm::power_state`] says are on.
    ///
    /// ```
    /// use fwcall::{Call, NoMemory, PowerAction, PowerState, PsciConfig, Reply, VcpuIndex, Vm, VmConfig, ids};
    ///
    /// let mut config = VmConfig::new(2);
    /// config.psci = Some(PsciConfig::default());
    /// let vm = Vm::new(config, NoMemory).unwrap();
    /// let v0 = vm.vcpu(VcpuIndex(0)).unwrap();
    /// v0.handle(&Call::new(ids::PSCI_CPU_ON_64, &[1, 0x4008_0000, 0]));
    /// v0.handle(&Call::new(ids::SDEI_EVENT_REGISTER, &[0, 0x1000, 0, 0, 0]));
    /// let out = v0.handle(&Call::new(ids::PSCI_SYSTEM_RESET, &[]));
    /// assert!(matches!(out.power, Some(PowerAction::SystemReset(_))));
    ///
    /// vm.reset();
    /// assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::Off);
    /// assert_eq!(v0.handle(&Call::new(ids::SDEI_EVENT_STATUS, &[0])).reply, Reply::x0(0));
    /// ```
    pub fn reset(&self) {
        if let Some(s) = &self.sdei {
            // Nothing is registered afterwards, so nothing is left to kick.
            let _ = s.reset_all();
        }
        if let Some(p) = &self.psci {
            p.reset();
        }
    }
}
