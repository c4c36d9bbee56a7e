//! The control path: raising SDEI events while the guest runs, and the
//! pause gate used to snapshot fwcall with every vCPU out of the guest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

use fwcall::{Call, GuestMemoryAccess, Kicks, RaiseError, Vm, ids};

/// Raises `event` on every vCPU and returns the vCPUs to kick.
///
/// A declared platform event goes through [`Vm::raise`]. Event 0 is the
/// guest's software-signalled event, which no platform raises; the VMM
/// fires it the way a PE would, with `SDEI_EVENT_SIGNAL(0, target)` served
/// on the target's own handle (the call's result is discarded, nothing is
/// written to that vCPU's registers).
pub fn raise<M: GuestMemoryAccess>(vm: &Vm<M>, event: u32) -> Result<Kicks, RaiseError> {
    let mut kicks = Kicks::none();
    for vcpu in vm.vcpus() {
        if event == 0 {
            let Some(mpidr) = vm.config().mpidrs.get(vcpu.index().get()) else {
                continue;
            };
            let out = vcpu.handle(&Call::new(ids::SDEI_EVENT_SIGNAL, &[0, mpidr.0]));
            kicks.extend(&out.kicks);
        } else {
            kicks.extend(&vm.raise(event, Some(vcpu.index()))?);
        }
    }
    Ok(kicks)
}

static RAISE_REQUESTED: AtomicBool = AtomicBool::new(false);
static SNAPSHOT_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the control thread to raise the event once (SIGUSR1). Only an
/// atomic store: safe in a signal handler.
pub fn request_raise() {
    RAISE_REQUESTED.store(true, Ordering::Release);
}

/// Asks the control thread for a snapshot/restore cycle (SIGUSR2).
pub fn request_snapshot() {
    SNAPSHOT_REQUESTED.store(true, Ordering::Release);
}

/// Takes a pending raise request.
pub fn take_raise_request() -> bool {
    RAISE_REQUESTED.swap(false, Ordering::AcqRel)
}

/// Takes a pending snapshot request.
pub fn take_snapshot_request() -> bool {
    SNAPSHOT_REQUESTED.swap(false, Ordering::AcqRel)
}

/// Stops every vCPU thread outside `KVM_RUN` and lets one thread work on
/// the paused machine.
#[derive(Debug, Default)]
pub struct PauseGate {
    requested: AtomicBool,
    parked: Mutex<usize>,
    changed: Condvar,
}

impl PauseGate {
    /// Whether a pause is requested: vCPU threads check it before every
    /// `KVM_RUN`, after clearing `immediate_exit`.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Requests a pause. The caller then kicks every vCPU and calls
    /// [`PauseGate::wait_parked`].
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
    }

    /// Waits until every vCPU thread still running (`running()` re-reads
    /// the count, since a thread may stop meanwhile) is parked, or until
    /// `give_up()` says so. Returns whether all parked.
    pub fn wait_parked(&self, running: impl Fn() -> usize, give_up: impl Fn() -> bool) -> bool {
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        while *parked < running() {
            if give_up() {
                return false;
            }
            let tick = std::time::Duration::from_millis(10);
            parked = self
                .changed
                .wait_timeout(parked, tick)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Ends the pause.
    pub fn release(&self) {
        let _guard = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        self.requested.store(false, Ordering::Release);
        self.changed.notify_all();
    }

    /// Called by a vCPU thread that saw [`PauseGate::requested`]: parks
    /// until the pause ends.
    pub fn park(&self) {
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        *parked += 1;
        self.changed.notify_all();
        while self.requested.load(Ordering::Acquire) {
            parked = self.changed.wait(parked).unwrap_or_else(|e| e.into_inner());
        }
        *parked -= 1;
    }
}
