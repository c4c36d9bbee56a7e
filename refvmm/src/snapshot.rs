//! A live snapshot of fwcall: pause every vCPU outside the guest, save
//! fwcall's state, drop the server, build a new one from the blob, resume.
//! KVM's own vCPU state is untouched: only the firmware server is cycled,
//! which is exactly what a migration does to it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::firmware;
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

/// With every vCPU thread parked (holding no reference to the server).
fn swap(m: &Machine) -> Result<String, String> {
    let mut slot = m.vm.write().unwrap_or_else(|e| e.into_inner());
    let (new, len) = firmware::snapshot_restore(&slot, m.config.clone(), m.pvtime.clone())?;
    // Replacing the only reference drops the old server.
    let refs = Arc::strong_count(&slot);
    *slot = Arc::new(new);
    Ok(format!(
        "fwcall snapshot: {len} bytes, old instance dropped (refs {refs}), restored and started"
    ))
}
