//! One vCPU thread: the run loop.
//!
//! The loop in `run_until_pause` is fwcall's documented loop, word for word
//! (fwcall's `examples/kvm_run_loop.rs` runs it on a fake vCPU, the README
//! shows it; `tests/documented_loop.rs` keeps the three the same).

use std::fmt;
use std::sync::atomic::Ordering;

use fwcall::kvm::{Exit, HypercallExit, KvmVcpu, Runner, SystemEnd};
use fwcall::{Delivery, Outcome, VcpuIndex};
use kvm_bindings::{KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN};
use kvm_ioctls::VcpuFd;

use crate::exits::{self, Steal};
use crate::firmware::FwMemory;
use crate::kick;
use crate::vmm::{Machine, VmmError, ctx};

/// Why a vCPU loop ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The guest powered off (PSCI `SYSTEM_OFF`).
    PowerOff,
    /// The guest asked for a reset (PSCI `SYSTEM_RESET`/`SYSTEM_RESET2`):
    /// the VMM reboots it (see `vmm::serve`).
    Reset,
    /// Another vCPU stopped the VM, or the timeout did.
    Stopped,
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            End::PowerOff => "guest powered off",
            End::Reset => "guest reset",
            End::Stopped => "VM stopped",
        })
    }
}

/// Why `run_until_pause` returned.
enum Step {
    End(End),
    Pause,
}

impl From<SystemEnd> for End {
    fn from(e: SystemEnd) -> Self {
        match e {
            SystemEnd::Off => End::PowerOff,
            SystemEnd::Reset(_) => End::Reset,
        }
    }
}

fn end_of(kind: u32) -> Result<End, VmmError> {
    match kind {
        KVM_SYSTEM_EVENT_SHUTDOWN => Ok(End::PowerOff),
        KVM_SYSTEM_EVENT_RESET => Ok(End::Reset),
        other => Err(VmmError(format!("system event {other}"))),
    }
}

impl Machine {
    /// Checked after `immediate_exit` was cleared: a stop or pause
    /// requested later still stops the next `KVM_RUN` (its kick sets it).
    /// A restored VM's vCPUs first wait here, at the migration start gate,
    /// for the guest's counter to be set: the VMM's last step before
    /// `KVM_RUN` (delivery only writes registers).
    fn stop_or_pause(&self) -> Option<Step> {
        self.migration.entering_guest();
        if self.stop.load(Ordering::Acquire) {
            return Some(Step::End(End::Stopped));
        }
        self.gate.requested().then_some(Step::Pause)
    }

    fn delivered(&self, me: &KvmVcpu<'_, FwMemory>, d: &Delivery) {
        exits::delivered(&self.stats, d);
        self.kick_for(&d.kicks, Some(me.index()));
    }

    fn served(&self, me: &KvmVcpu<'_, FwMemory>, h: HypercallExit, out: &Outcome) {
        exits::served(&self.stats, me, h, out);
        self.kick_for(&out.kicks, Some(me.index()));
    }
}

/// Runs vCPU `index` until the VM stops, and hands the vCPU back for a
/// whole-VM save. A loop that stopped owes it nothing (`prepare` settles a
/// pending MMIO completion before the stop check), so its registers are
/// final. `off`: with fwcall's PSCI, the vCPU waits for a `CPU_ON`.
pub fn run(
    m: &Machine,
    index: VcpuIndex,
    mut fd: VcpuFd,
    off: bool,
) -> (Result<End, VmmError>, VcpuFd) {
    kick::arm(&mut fd);
    // The runner owns the vCPU from here: only it runs it, and it remembers
    // what KVM still owes it (and, with fwcall's PSCI, a start it waits
    // for) across pauses and server swaps.
    let mut runner = match &m.power {
        Some(lines) => Runner::with_power(fd, lines.clone(), index, off),
        None => Runner::new(fd),
    };
    let mut steal = Steal::for_this_thread();
    let result = loop {
        // Each round uses the fwcall instance in force; a snapshot cycle
        // replaces it while this thread is parked holding no reference.
        let vm = m.current();
        let me = match KvmVcpu::new(&vm, index) {
            Ok(me) => me,
            Err(e) => break Err(VmmError(e.to_string())),
        };
        match run_until_pause(m, &me, &mut runner, &mut steal) {
            Ok(Step::Pause) => {
                drop(vm);
                m.gate.park();
            }
            Ok(Step::End(end)) => break Ok(end),
            Err(e) => break Err(e),
        }
    };
    m.stats.traffic(runner.traffic());
    kick::disarm();
    (result, runner.into_inner())
}

fn run_until_pause(
    m: &Machine,
    me: &KvmVcpu<'_, FwMemory>,
    runner: &mut Runner<VcpuFd>,
    steal: &mut Steal,
) -> Result<Step, VmmError> {
    // run-loop: begin
    loop {
        // 1. Settle what the vCPU is owed (KVM completes an MMIO access only
        //    inside the next KVM_RUN), then clear immediate_exit: from here
        //    on a kick makes the next KVM_RUN return at once.
        let prepared = ctx(runner.prepare(me), "completing the last exit")?;
        if let Some(step) = m.stop_or_pause() {
            return Ok(step); // nothing is owed: the vCPU's state is final
        }
        // 2. Stolen time, then 3. the SDEI handler entry, in this order.
        let ready = ctx(prepared.deliver(|| steal.take_ns()), "delivering")?;
        if let Some(d) = ready.delivery() {
            m.delivered(me, d);
        }
        // 4. KVM_RUN.
        match ctx(ready.run(), "KVM_RUN")? {
            Exit::Hypercall(h) => {
                let out = ctx(runner.serve(me, h), "serving a firmware call")?;
                m.served(me, h, &out);
                if let Some(end) = SystemEnd::of(&out) {
                    return Ok(Step::End(end.into())); // PSCI SYSTEM_OFF/RESET
                }
            }
            Exit::MmioRead { addr, data } => m.devices.read(addr, data),
            Exit::MmioWrite { addr, data } => m.devices.write(addr, data),
            Exit::SystemEvent { kind, .. } => return Ok(Step::End(end_of(kind)?)),
            Exit::Interrupted => {} // kicked: the next round delivers
            Exit::Other(other) => {
                return Err(VmmError(format!("{}: exit {other:?}", me.index())));
            }
        }
    }
    // run-loop: end
}
