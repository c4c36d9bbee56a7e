//! PSCI under KVM: what fwcall's power outcomes mean for a KVM vCPU (see
//! the parent module's "PSCI in userspace").

use std::boxed::Box;
use std::sync::{Condvar, Mutex, MutexGuard};

use fwcall_smccc::{CpuStart, Outcome, PowerAction, ResetKind, VcpuIndex};

use super::regs::Reg;

/// `KVM_MP_STATE_*` values the run loop sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MpState {
    /// `KVM_MP_STATE_RUNNABLE` (0): the vCPU may run.
    Runnable,
    /// `KVM_MP_STATE_STOPPED` (5): powered off (a `KVM_RUN` would wait).
    Stopped,
}

impl MpState {
    /// The `kvm_mp_state.mp_state` value.
    pub const fn kvm(self) -> u32 {
        match self {
            MpState::Runnable => 0,
            MpState::Stopped => 5,
        }
    }
}

/// The registers a vCPU powered on by `CPU_ON` starts with (PSCI's entry
/// state, see [`CpuStart`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StartContext {
    /// `PC`: the entry point (a physical address; the MMU is off).
    pub entry: u64,
    /// `X0`: the guest's context ID. `X1..X30` are zero.
    pub context_id: u64,
    /// `PSTATE`: AArch64 at the caller's EL, `SP_ELx`, D/A/I/F masked.
    pub pstate: u64,
    /// `SCTLR_EL1`: its reset value (MMU and caches off) with the caller's
    /// endianness bit.
    pub sctlr_el1: u64,
}

impl StartContext {
    /// The start for `start`, given the caller's `PSTATE` and `SCTLR_EL1`
    /// and the target's reset `SCTLR_EL1`.
    ///
    /// ```
    /// use fwcall::kvm::StartContext;
    /// use fwcall::{CpuStart, VcpuIndex};
    /// let s = CpuStart { target: VcpuIndex(1), entry: 0x4008_0000, context_id: 9 };
    /// // A big-endian EL1 caller with its MMU on.
    /// let ctx = StartContext::new(&s, 0x3c5, 0x0200_0001 | 0x30d0_0800, 0x00c5_0078);
    /// assert_eq!(ctx.pstate, 0x3c5);
    /// assert_eq!(ctx.sctlr_el1, 0x02c5_0078); // reset value, EE copied, M stays off
    /// ```
    pub const fn new(
        start: &CpuStart,
        caller_pstate: u64,
        caller_sctlr: u64,
        reset_sctlr: u64,
    ) -> Self {
        StartContext {
            entry: start.entry,
            context_id: start.context_id,
            pstate: start.pstate(caller_pstate),
            sctlr_el1: start.sctlr_el1(reset_sctlr, caller_sctlr),
        }
    }

    /// The register writes that apply it, in order: `X0..X30`, `PC`,
    /// `PSTATE`, `SCTLR_EL1` (34 `KVM_SET_ONE_REG`s, once per power-on).
    pub fn writes(&self) -> impl Iterator<Item = (Reg, u64)> + '_ {
        let x = (0..=30u8).map(move |n| (Reg::X(n), if n == 0 { self.context_id } else { 0 }));
        x.chain([
            (Reg::Pc, self.entry),
            (Reg::Pstate, self.pstate),
            (Reg::SctlrEl1, self.sctlr_el1),
        ])
    }
}

/// How a `SYSTEM_*` call ends the VM, for the VMM to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemEnd {
    /// `SYSTEM_OFF`: stop every vCPU for good.
    Off,
    /// `SYSTEM_RESET` / `SYSTEM_RESET2`: reset the VM and boot it again.
    Reset(ResetKind),
}

impl SystemEnd {
    /// The system action of a served call, if it has one.
    ///
    /// ```
    /// use fwcall::kvm::SystemEnd;
    /// use fwcall::{Outcome, PowerAction, Reply, ResetKind};
    /// let mut out = Outcome::reply(Reply::x0(0));
    /// assert_eq!(SystemEnd::of(&out), None);
    /// out.power = Some(PowerAction::SystemReset(ResetKind::Cold));
    /// assert_eq!(SystemEnd::of(&out), Some(SystemEnd::Reset(ResetKind::Cold)));
    /// ```
    pub const fn of(outcome: &Outcome) -> Option<SystemEnd> {
        match outcome.power {
            Some(PowerAction::SystemOff) => Some(SystemEnd::Off),
            Some(PowerAction::SystemReset(k)) => Some(SystemEnd::Reset(k)),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    /// A start posted and not yet taken.
    start: Option<StartContext>,
    /// The VMM wants the thread back without a start.
    woken: bool,
    /// The thread is waiting on the line.
    parked: bool,
}

#[derive(Debug, Default)]
struct Line {
    slot: Mutex<Slot>,
    cv: Condvar,
}

impl Line {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A panic while holding the lock leaves plain data: still usable.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a parked vCPU thread woke up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woke {
    /// A `CPU_ON` start, taken from the slot.
    Start(StartContext),
    /// [`PowerLines::wake`]: back to the loop, still off.
    Woken,
}

/// One power line per vCPU: where `CPU_ON` posts a start for the target's
/// thread, and where an off vCPU's thread parks. Shared by every runner of
/// a VM (in an `Arc`); it outlives fwcall snapshot cycles, since starts
/// are VMM state. See [PSCI in userspace](super#psci-in-userspace).
#[derive(Debug)]
pub struct PowerLines {
    lines: Box<[Line]>,
    reset_sctlr: u64,
}

impl PowerLines {
    /// Lines for `vcpus` vCPUs whose `SCTLR_EL1` reset value is
    /// `reset_sctlr` (read it from a vCPU after `KVM_ARM_VCPU_INIT`,
    /// before it runs or is restored; KVM gives every vCPU the same).
    pub fn new(vcpus: usize, reset_sctlr: u64) -> Self {
        PowerLines {
            lines: (0..vcpus).map(|_| Line::default()).collect(),
            reset_sctlr,
        }
    }

    /// The `SCTLR_EL1` reset value started vCPUs get (with the caller's
    /// `EE`).
    pub const fn reset_sctlr(&self) -> u64 {
        self.reset_sctlr
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Posts a start for `target` and wakes its thread if it is parked.
    /// `false` if `target` has no line. A runner does this on `CPU_ON`.
    pub fn post(&self, target: VcpuIndex, start: StartContext) -> bool {
        let Some(line) = self.lines.get(target.get()) else {
            return false;
        };
        line.lock().start = Some(start);
        line.cv.notify_all();
        true
    }

    /// Takes `vcpu`'s pending start, if any. For a VMM whose vCPU threads
    /// have all stopped (before a save, say): a start posted after the
    /// target's thread left its loop is still owed to it; apply it with
    /// [`apply_start`](super::apply_start).
    pub fn take(&self, vcpu: VcpuIndex) -> Option<StartContext> {
        self.lines.get(vcpu.get())?.lock().start.take()
    }

    /// Whether a start is waiting for `vcpu`.
    pub fn pending(&self, vcpu: VcpuIndex) -> bool {
        self.lines
            .get(vcpu.get())
            .is_some_and(|l| l.lock().start.is_some())
    }

    /// Whether `vcpu`'s thread is parked on its line right now.
    pub fn parked(&self, vcpu: VcpuIndex) -> bool {
        self.lines.get(vcpu.get()).is_some_and(|l| l.lock().parked)
    }

    /// Gives `vcpu`'s thread back to its loop without a start (part of a
    /// kick: the VMM wants to stop or pause). A wake sent before the
    /// thread parks is kept, so it is never lost either.
    pub fn wake(&self, vcpu: VcpuIndex) {
        if let Some(line) = self.lines.get(vcpu.get()) {
            line.lock().woken = true;
            line.cv.notify_all();
        }
    }

    /// [`PowerLines::wake`] on every line.
    pub fn wake_all(&self) {
        for v in 0..self.lines.len() {
            self.wake(VcpuIndex(v as u32));
        }
    }

    /// Drops every pending start and wake (a system reset, with every vCPU
    /// thread stopped).
    pub fn clear(&self) {
        for l in self.lines.iter() {
            let mut s = l.lock();
            s.start = None;
            s.woken = false;
        }
    }

    /// Whether a wake for `vcpu` has not been taken yet.
    #[cfg(test)]
    pub(crate) fn wake_pending(&self, vcpu: VcpuIndex) -> bool {
        self.lines.get(vcpu.get()).is_some_and(|l| l.lock().woken)
    }

    /// Parks until a start or a wake; `None` if `vcpu` has no line.
    pub(crate) fn wait(&self, vcpu: VcpuIndex) -> Option<Woke> {
        let line = self.lines.get(vcpu.get())?;
        let mut s = line.lock();
        loop {
            if let Some(start) = s.start.take() {
                s.parked = false;
                return Some(Woke::Start(start));
            }
            if core::mem::take(&mut s.woken) {
                s.parked = false;
                return Some(Woke::Woken);
            }
            s.parked = true;
            s = line.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Drops a wake left over from before a start (the thread is running
    /// again; kicks for a running vCPU go through `immediate_exit`).
    pub(crate) fn unwake(&self, vcpu: VcpuIndex) {
        if let Some(l) = self.lines.get(vcpu.get()) {
            l.lock().woken = false;
        }
    }
}

/// The lines a runner uses: the VM's, and its own index.
#[derive(Clone, Debug)]
pub(crate) struct LineRef {
    pub(crate) lines: std::sync::Arc<PowerLines>,
    pub(crate) index: VcpuIndex,
}
