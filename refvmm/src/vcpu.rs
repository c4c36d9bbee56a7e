//! One vCPU thread: the run loop.

use std::fmt;

use fwcall::VcpuIndex;
use fwcall::kvm::{HypercallExit, KvmVcpu};
use fwcall::pvtime::schedstat::RunDelayTracker;
use kvm_bindings::{KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN};
use kvm_ioctls::{VcpuExit, VcpuFd};

use crate::exits::VcpuExits;
use crate::kick;
use crate::vmm::{Machine, VmmError, ctx};

/// Why a vCPU loop ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The guest powered off (PSCI `SYSTEM_OFF`).
    PowerOff,
    /// The guest asked for a reset, which this VMM treats as a stop.
    Reset,
    /// Another vCPU stopped the VM, or the timeout did.
    Stopped,
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            End::PowerOff => "guest powered off",
            End::Reset => "guest reset (treated as stop)",
            End::Stopped => "VM stopped",
        })
    }
}

enum Step {
    End(End),
    Pause,
}

/// What an exit asks for, copied out of `kvm_run` so the `VcpuFd` is free
/// again for register access.
enum Exit {
    Hypercall(HypercallExit),
    Mmio,
    Handled,
    Interrupted,
    System(u32),
}

/// Runs vCPU `index` until the VM stops. The caller keeps `fd`: a whole-VM
/// save reads it after every vCPU thread stopped.
pub fn run(m: &Machine, index: VcpuIndex, fd: &mut VcpuFd) -> Result<End, VmmError> {
    kick::arm(fd);
    let mut steal = RunDelayTracker::new();
    let result = loop {
        // Each round uses the fwcall instance in force; a snapshot cycle
        // replaces it while this thread is parked holding no reference.
        let vm = m.current();
        let me = match KvmVcpu::new(&vm, index) {
            Ok(me) => me,
            Err(e) => break Err(VmmError(e.to_string())),
        };
        let step = run_until_pause(m, &VcpuExits::new(me, &m.stats), fd, &mut steal);
        match step {
            Ok(Step::Pause) => {
                drop(vm);
                m.gate.park();
            }
            Ok(Step::End(end)) => break Ok(end),
            Err(e) => break Err(e),
        }
    };
    kick::disarm();
    result
}

fn run_until_pause(
    m: &Machine,
    exits: &VcpuExits<'_, crate::firmware::FwMemory>,
    fd: &mut VcpuFd,
    steal: &mut RunDelayTracker,
) -> Result<Step, VmmError> {
    let index = exits.vcpu().index();
    loop {
        // Clear first, check after: a kick landing in between sets it again.
        fd.set_kvm_immediate_exit(0);
        if m.stop.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(Step::End(End::Stopped));
        }
        if m.gate.requested() {
            return Ok(Step::Pause);
        }
        // Stolen time: the run delay this thread accumulated since the last
        // round, written into the guest's record before it runs again.
        if let Ok(ns) = steal.sample() {
            if ns > 0 {
                ctx(exits.vcpu().vcpu().account_steal(ns), "writing stolen time")?;
            }
        }
        let kicks = ctx(exits.before_run(fd), "entering an SDEI handler")?;
        m.kick_for(&kicks, Some(index));

        m.migration.entering_guest();
        let exit = match fd.run() {
            Ok(VcpuExit::Hypercall(h)) => Exit::Hypercall(HypercallExit::from(&h)),
            Ok(VcpuExit::MmioRead(addr, data)) => {
                m.devices.read(addr, data);
                Exit::Mmio
            }
            Ok(VcpuExit::MmioWrite(addr, data)) => {
                m.devices.write(addr, data);
                Exit::Mmio
            }
            Ok(VcpuExit::SystemEvent(ty, _)) => Exit::System(ty),
            Ok(VcpuExit::Intr) => Exit::Interrupted,
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Exit::Interrupted,
            Ok(other) => {
                return Err(VmmError(format!(
                    "vcpu{}: unexpected exit {other:?}",
                    index.0
                )));
            }
            Err(e) => return Err(VmmError(format!("vcpu{}: KVM_RUN: {e}", index.0))),
        };
        match exit {
            Exit::Hypercall(h) => {
                let kicks = ctx(exits.hypercall(h, fd), "serving a firmware call")?;
                m.kick_for(&kicks, Some(index));
            }
            Exit::Mmio => {
                // KVM completes an MMIO access (loads the value, steps the
                // PC) only inside the next KVM_RUN. Run once with
                // immediate_exit so that happens now: a delivery taken
                // before it would save the PC of the access itself, and
                // the step would land on the handler's first instruction.
                fd.set_kvm_immediate_exit(1);
                let _ = fd.run(); // EINTR by design
                fd.set_kvm_immediate_exit(0);
            }
            Exit::Handled | Exit::Interrupted => {}
            Exit::System(KVM_SYSTEM_EVENT_SHUTDOWN) => return Ok(Step::End(End::PowerOff)),
            Exit::System(KVM_SYSTEM_EVENT_RESET) => return Ok(Step::End(End::Reset)),
            Exit::System(other) => {
                return Err(VmmError(format!("vcpu{}: system event {other}", index.0)));
            }
        }
    }
}
