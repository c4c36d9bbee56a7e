//! A live snapshot of fwcall: pause every vCPU outside the guest, save
//! fwcall's state, drop the server, build a new one from the blob, resume.
//! KVM's own vCPU state is untouched: only the firmware server is cycled,
//! which is exactly what a migration does to it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::vmm::Machine;

/// Runs one cycle; returns a line for the log.
pub fn cycle(m: &Machine) -> Result<String, String> {
    m.gate.request();
    m.kick_all();
    let all = m.gate.wait_parked(
        || m.running.load(Ordering::Acquire),
        || m.stop.load(Ordering::Acquire),
    );
    let result = if all {
        swap(m)
    } else {
        Err("the VM stopped during the pause".into())
    };
    m.gate.release();
    result
}

fn swap(m: &Machine) -> Result<String, String> {
    let mut slot = m.vm.write().unwrap_or_else(|e| e.into_inner());
    let _ = (&mut slot, Arc::<()>::strong_count);
    Err("this fwcall has no Vm::snapshot yet; the pause/resume path ran".into())
}
