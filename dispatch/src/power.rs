//! Power state, and where other services follow it.
//!
//! fwcall's PSCI (`fwcall_psci`) keeps each vCPU's power state. This module
//! is the one seam between PSCI's transitions and the other services:
//! [`Coupling`] is the [`PowerHook`] PSCI calls inside `CPU_ON` and
//! `CPU_OFF`, and [`Vm::reset`] puts every service back to its boot state.
//!
//! What SDEI does (its `power` module has the rules):
//! * `CPU_OFF`: [`Sdei::power_off`] on the caller: it takes no delivery and
//!   is never chosen for `RM_ANY`; a handler in progress there is
//!   discarded; triggers routed to it move.
//! * `CPU_ON`: [`Sdei::power_on`] on the target: private events
//!   unregistered, the PE masked, as at boot.
//! * [`Vm::reset`]: every SDEI state back to the defaults, then each vCPU
//!   powered as PSCI's boot set says.
//!
//! The SDEI power gates follow [`Vm::power_state`]: when fwcall serves
//! PSCI (configured, and its feature bit on) they are PSCI's power state;
//! otherwise the hypervisor owns power and every gate is open (the VMM
//! calls [`Vcpu::reset`](crate::Vcpu::reset) at its power-on).

use alloc::boxed::Box;
use alloc::vec::Vec;

use fwcall_psci::{PowerHook, PowerState};
use fwcall_pvtime::GuestMemoryAccess;
use fwcall_sdei::Sdei;
use fwcall_smccc::{Kicks, VcpuIndex};
use fwcall_trng::EntropySource;

use crate::config::VmConfig;
use crate::features::StdFeatures;
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
    #[inline]
    fn cpu_on(&self, target: VcpuIndex) -> Kicks {
        match self.sdei {
            Some(s) => s.power_on(target),
            None => Kicks::none(),
        }
    }

    fn cpu_off(&self, vcpu: VcpuIndex) -> Kicks {
        match self.sdei {
            Some(s) => s.power_off(vcpu),
            None => Kicks::none(),
        }
    }
}

/// Which vCPUs are off for SDEI when fwcall serves PSCI with `states`
/// and the feature words `std` (all on when PSCI is not served).
pub(crate) fn powered_off(states: Option<&[PowerState]>, std: StdFeatures) -> Vec<bool> {
    match states {
        Some(s) if std.contains(StdFeatures::PSCI) => {
            s.iter().map(|p| *p == PowerState::Off).collect()
        }
        _ => Vec::new(),
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
        self.follow_power();
    }

    /// Sets every vCPU's SDEI power gate from [`Vm::power_state`] (at
    /// construction, after a feature-word write, after a system reset).
    /// Nothing runs meanwhile, so nothing is left to kick.
    pub(crate) fn follow_power(&self) {
        let Some(s) = &self.sdei else { return };
        for v in 0..self.config.vcpu_count() {
            let v = VcpuIndex(v as u32);
            let off = self.power_state(v) == PowerState::Off;
            if off {
                let _ = s.power_off(v);
            } else if s.is_powered_off(v) == Some(true) {
                let _ = s.power_on(v);
            }
        }
    }
}
