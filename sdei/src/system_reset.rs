//! The whole-VM reset: every SDEI state back to what `Sdei::new` built.
//!
//! Kept apart and small on purpose: it composes the per-vCPU reset and
//! `SHARED_RESET`. Power gates are left as they are: the VMM (dispatch's
//! `Vm::reset`) then powers each vCPU as its boot set says, with
//! `Sdei::power_off`/`Sdei::power_on`.

use fwcall_smccc::{Kicks, VcpuIndex};

use crate::hook::HookLog;
use crate::server::Sdei;

impl Sdei {
    /// Resets everything for a system reset (PSCI `SYSTEM_RESET`): every
    /// vCPU as [`Sdei::reset_vcpu`] (private events unregistered, handlers
    /// discarded, masked), then every shared event unregistered and every
    /// interrupt binding released (the hook gets its interrupts back).
    /// Power gates are untouched (see [`Sdei::power_off`]). Pause every
    /// vCPU first. Returns the vCPUs to kick (none in practice:
    /// nothing is left to deliver).
    ///
    /// ```
    /// use fwcall_sdei::{Sdei, SdeiConfig};
    /// use fwcall_smccc::{ids, Call, Mpidr, Reply, VcpuIndex};
    /// let sdei = Sdei::new(&SdeiConfig::default(), &[Mpidr::kvm_default(0)]).unwrap();
    /// let v0 = VcpuIndex(0);
    /// sdei.call(v0, &Call::new(ids::SDEI_EVENT_REGISTER, &[0, 0x1000, 0, 0, 0]));
    /// sdei.reset_all();
    /// assert_eq!(sdei.call(v0, &Call::new(ids::SDEI_EVENT_STATUS, &[0])).reply, Reply::x0(0));
    /// ```
    pub fn reset_all(&self) -> Kicks {
        let mut kicks = Kicks::none();
        for v in 0..self.vcpus.len() {
            kicks.extend(&self.reset_vcpu(VcpuIndex(v as u32)));
        }
        let mut log = HookLog::new();
        {
            let mut t = self.shared.lock();
            // Nothing runs any more, so this cannot be denied.
            // (it routes each event it touches, so no waiting trigger is left).
            let _ = self.shared_reset_locked(&mut t, &mut log, &mut kicks);
        }
        self.run_hooks(&log);
        kicks
    }
}
