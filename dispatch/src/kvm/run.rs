//! The run loop, as types: what a vCPU is still owed, and the only order in
//! which fwcall's work may happen before `KVM_RUN`.
//!
//! [`Runner`] owns the vCPU and remembers what KVM still owes it: on arm64
//! an MMIO exit is finished (the loaded value written into the target
//! register, the PC stepped past the access) only inside the *next*
//! `KVM_RUN` (`kvm_arch_vcpu_ioctl_run` calls `kvm_handle_mmio_return`
//! before it looks at `immediate_exit`). Every round goes through three
//! steps, each produced only by the one before:
//!
//! 1. [`Runner::prepare`] settles what is owed (one `KVM_RUN` with
//!    `immediate_exit = 1` after an MMIO exit: KVM completes the access
//!    and returns `EINTR` without entering the guest), then clears
//!    `immediate_exit`. From here on a kick stops the next `KVM_RUN`. The
//!    VMM checks its own stop and pause requests on the [`Prepared`] step.
//! 2. [`Prepared::deliver`] accounts stolen time, then enters a pending
//!    SDEI handler (after the completion, so the saved context has the
//!    loaded value and the PC after the access).
//! 3. [`Ready::run`] is `KVM_RUN`; its [`Exit`] tells the runner what KVM
//!    owes next.
//!
//! With fwcall serving PSCI ([`Runner::with_power`]), the runner also owes
//! its vCPU a power-off after `CPU_OFF` (or at boot, for a secondary):
//! `prepare` then parks the thread on its [`PowerLines`] line until a
//! `CPU_ON` posts a start, and applies that start (registers, then
//! `KVM_SET_MP_STATE(RUNNABLE)`) before anything else touches the vCPU.
//! See [PSCI in userspace](super#psci-in-userspace).
//!
//! There is no other way to deliver, and no way to run without the first
//! two steps, so a loop that delivers before the completion run or checks
//! for work before clearing `immediate_exit` does not compile.

use core::fmt;

use fwcall_pvtime::{GuestMemoryAccess, MemoryError};
use fwcall_sdei::Delivery;
use fwcall_smccc::{Outcome, PowerAction, Reply, VcpuIndex, budget};
use std::sync::Arc;

use super::exit::{HypercallExit, KvmVcpu, RegisterError};
use super::power::{LineRef, MpState, PowerLines, StartContext, Woke};
use super::regs::{Reg, VcpuRegisters};

/// An exit, as the run loop hands it to the VMM.
#[derive(Debug)]
pub enum Exit<'a, O> {
    /// A forwarded SMCCC call (`KVM_EXIT_HYPERCALL`): serve it with
    /// [`Runner::serve`] (or answer it yourself).
    Hypercall(HypercallExit),
    /// An MMIO load (`KVM_EXIT_MMIO`): fill `data`. KVM writes it into the
    /// target register, and steps the PC, inside the next `KVM_RUN`; the
    /// runner makes that run before anything else happens to the vCPU.
    MmioRead {
        /// Guest physical address.
        addr: u64,
        /// The bytes to return to the guest.
        data: &'a mut [u8],
    },
    /// An MMIO store: KVM steps the PC inside the next `KVM_RUN`.
    MmioWrite {
        /// Guest physical address.
        addr: u64,
        /// The bytes the guest stored.
        data: &'a [u8],
    },
    /// `KVM_EXIT_SYSTEM_EVENT` (PSCI `SYSTEM_OFF`, `SYSTEM_RESET`, ...).
    SystemEvent {
        /// `KVM_SYSTEM_EVENT_*`.
        kind: u32,
        /// The event's data words.
        data: &'a [u64],
    },
    /// `KVM_RUN` returned `EINTR`: a kick (or `immediate_exit`). Loop: the
    /// next round delivers what the kicker left. Also what a round of a
    /// powered-off vCPU returns, without `KVM_RUN`, when its thread was
    /// woken without a start ([`PowerLines::wake`]).
    Interrupted,
    /// Any other exit, as the vCPU reported it.
    Other(O),
}

impl<O> Exit<'_, O> {
    /// What the vCPU is owed after this exit.
    pub fn owes(&self) -> Owed {
        Owed {
            completion_run: matches!(self, Exit::MmioRead { .. } | Exit::MmioWrite { .. }),
            start: false,
        }
    }
}

/// What a vCPU is owed before its guest may run again (and before fwcall
/// may read its context).
///
/// Settled by [`Runner::prepare`], in field order: KVM owes the
/// completion of an MMIO access; then, with fwcall serving PSCI, the VMM
/// owes an off vCPU its power-off and the start a `CPU_ON` posts for it
/// (applied on the target's own thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Owed {
    /// KVM finishes the last exit inside the next `KVM_RUN` (MMIO: the
    /// loaded value into the target register, the PC past the access).
    pub completion_run: bool,
    /// The vCPU is powered off (PSCI `CPU_OFF`, or off at boot): it may
    /// not run until a `CPU_ON` start is applied. `prepare` parks its
    /// thread until then.
    pub start: bool,
}

impl Owed {
    /// Nothing is owed.
    pub const NOTHING: Owed = Owed {
        completion_run: false,
        start: false,
    };

    /// Whether anything is owed.
    pub const fn is_nothing(&self) -> bool {
        !self.completion_run && !self.start
    }
}

/// A vCPU the run loop can drive: its registers, its `immediate_exit` flag
/// and `KVM_RUN`. Implemented for kvm-ioctls' `VcpuFd` on aarch64, and by
/// [`FakeVcpu`](super::fake::FakeVcpu), a model of KVM's run semantics for
/// tests on any host.
pub trait RunVcpu: VcpuRegisters {
    /// Exits the loop does not interpret, handed to the VMM as
    /// [`Exit::Other`].
    type Other<'a>: fmt::Debug
    where
        Self: 'a;

    /// Sets (`true`) or clears `kvm_run.immediate_exit`.
    fn set_immediate_exit(&mut self, on: bool);

    /// `KVM_RUN`. `EINTR` (a signal, or `immediate_exit`) is
    /// [`Exit::Interrupted`], not an error.
    #[allow(clippy::type_complexity)]
    fn run(&mut self) -> Result<Exit<'_, Self::Other<'_>>, Self::Error>;

    /// `KVM_SET_MP_STATE`: the run loop powers the vCPU off
    /// ([`MpState::Stopped`]) at `CPU_OFF` and on ([`MpState::Runnable`])
    /// when it applies a `CPU_ON` start.
    fn set_mp_state(&mut self, state: MpState) -> Result<(), Self::Error>;
}

/// Register accesses and runs a [`Runner`] made: the cost of the embedding
/// in ioctls. Add them up over vCPUs with `+`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Hypercalls served with [`Runner::serve`].
    pub calls: u64,
    /// Registers read while serving them (`KVM_GET_ONE_REG`).
    pub call_reads: u64,
    /// Registers written while serving them (`KVM_SET_ONE_REG`).
    pub call_writes: u64,
    /// What serving them may cost by the register budget
    /// ([`fwcall::smccc::budget`](fwcall_smccc::budget)): the argument
    /// registers each function takes plus the registers its reply may
    /// write. `call_reads + call_writes` never exceeds it.
    pub call_budget: u64,
    /// SDEI handler entries.
    pub deliveries: u64,
    /// Registers read for them.
    pub delivery_reads: u64,
    /// Registers written for them.
    pub delivery_writes: u64,
    /// `KVM_RUN`s that entered (or tried to enter) the guest.
    pub runs: u64,
    /// `KVM_RUN`s with `immediate_exit = 1` that only completed an exit.
    pub completion_runs: u64,
    /// PSCI `CPU_ON` starts applied to this vCPU.
    pub starts: u64,
    /// Registers read for power: the caller's `PSTATE` and `SCTLR_EL1` at
    /// each `CPU_ON` it made (outside the call's budget).
    pub power_reads: u64,
    /// Registers written for power: each applied start.
    pub power_writes: u64,
    /// Times the thread parked, powered off.
    pub parks: u64,
}

impl Traffic {
    /// Every register read (`KVM_GET_ONE_REG`).
    pub const fn reads(&self) -> u64 {
        self.call_reads + self.delivery_reads + self.power_reads
    }

    /// Every register write (`KVM_SET_ONE_REG`).
    pub const fn writes(&self) -> u64 {
        self.call_writes + self.delivery_writes + self.power_writes
    }
}

impl core::ops::Add for Traffic {
    type Output = Traffic;

    fn add(self, o: Traffic) -> Traffic {
        Traffic {
            calls: self.calls + o.calls,
            call_reads: self.call_reads + o.call_reads,
            call_writes: self.call_writes + o.call_writes,
            call_budget: self.call_budget + o.call_budget,
            deliveries: self.deliveries + o.deliveries,
            delivery_reads: self.delivery_reads + o.delivery_reads,
            delivery_writes: self.delivery_writes + o.delivery_writes,
            runs: self.runs + o.runs,
            completion_runs: self.completion_runs + o.completion_runs,
            starts: self.starts + o.starts,
            power_reads: self.power_reads + o.power_reads,
            power_writes: self.power_writes + o.power_writes,
            parks: self.parks + o.parks,
        }
    }
}

impl core::iter::Sum for Traffic {
    fn sum<I: Iterator<Item = Traffic>>(iter: I) -> Traffic {
        iter.fold(Traffic::default(), |a, b| a + b)
    }
}

/// Why a round of the run loop failed.
#[derive(Debug, thiserror::Error)]
pub enum LoopError<E> {
    /// A register access failed.
    #[error(transparent)]
    Register(#[from] RegisterError<E>),
    /// `KVM_RUN` failed.
    #[error("KVM_RUN failed: {0}")]
    Run(#[source] E),
    /// The completion run (`immediate_exit = 1`) entered the guest and
    /// exited instead of returning `EINTR`.
    #[error(
        "the completion run (KVM_RUN with immediate_exit = 1) returned an exit instead of EINTR: the exit ({0}) would be lost; is immediate_exit wired to this vCPU's kvm_run?"
    )]
    CompletionExited(&'static str),
    /// Writing the guest's stolen-time record failed.
    #[error("writing stolen time: {0}")]
    Steal(#[source] MemoryError),
    /// `KVM_SET_MP_STATE` failed.
    #[error("KVM_SET_MP_STATE({0:?}) failed: {1}")]
    MpState(MpState, #[source] E),
    /// fwcall served PSCI `CPU_ON`/`CPU_OFF` on a runner without power
    /// lines: nothing could start or park the vCPU.
    #[error(
        "fwcall served PSCI {0}, but this vCPU's runner has no power lines: build every runner with Runner::with_power when the VM serves PSCI"
    )]
    NoPowerLines(&'static str),
    /// A start was posted for a vCPU the power lines do not have.
    #[error("PSCI CPU_ON started {0}, which has no power line")]
    NoLine(VcpuIndex),
}

/// The vCPU of one thread, with what it is still owed: the only way to
/// deliver an SDEI event and to run the guest. See [the run loop](super#the-run-loop).
#[derive(Debug)]
pub struct Runner<V> {
    vcpu: V,
    owed: Owed,
    traffic: Traffic,
    power: Option<LineRef>,
    /// The vCPU is parked off and `KVM_SET_MP_STATE(STOPPED)` was done.
    stopped: bool,
}

/// Counts the register accesses made through it into one pair of counters.
struct Counted<'a, V> {
    vcpu: &'a mut V,
    reads: &'a mut u64,
    writes: &'a mut u64,
}

impl<V: VcpuRegisters> VcpuRegisters for Counted<'_, V> {
    type Error = V::Error;

    fn get(&mut self, reg: Reg) -> Result<u64, V::Error> {
        *self.reads += 1;
        self.vcpu.get(reg)
    }

    fn set(&mut self, reg: Reg, value: u64) -> Result<(), V::Error> {
        *self.writes += 1;
        self.vcpu.set(reg, value)
    }
}

impl<V: RunVcpu> Runner<V> {
    /// Takes over `vcpu`, initialised and owing nothing (never run, or
    /// completed by its previous runner).
    pub fn new(vcpu: V) -> Self {
        Runner {
            vcpu,
            owed: Owed::NOTHING,
            traffic: Traffic::default(),
            power: None,
            stopped: false,
        }
    }

    /// Takes over `vcpu` of a VM whose PSCI fwcall serves: vCPU `index`,
    /// on its `lines`. `off`: the vCPU is powered off now (a secondary at
    /// boot, created with `KVM_ARM_VCPU_POWER_OFF`, or off in a restored
    /// VM: `vm.power_state(index) == PowerState::Off`); its first
    /// `prepare` parks until a `CPU_ON` start.
    pub fn with_power(vcpu: V, lines: Arc<PowerLines>, index: VcpuIndex, off: bool) -> Self {
        let mut r = Runner::new(vcpu);
        r.power = Some(LineRef { lines, index });
        r.owed.start = off;
        // KVM_ARM_VCPU_POWER_OFF (or a restored MP state) already stopped it.
        r.stopped = off;
        r
    }

    /// The vCPU, for the VMM's own ioctls. Running it is the runner's job
    /// (kvm-ioctls' `run` takes `&mut`).
    pub fn vcpu(&self) -> &V {
        &self.vcpu
    }

    /// What the vCPU is owed right now.
    pub fn owed(&self) -> Owed {
        self.owed
    }

    /// The register accesses and runs so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Gives the vCPU back. Call [`Runner::prepare`] first if it will run
    /// again or be saved: a vCPU that still owes a completion run has a
    /// stale PC until it gets one.
    pub fn into_inner(self) -> V {
        self.vcpu
    }

    /// Step 1: settles what the vCPU is owed, then clears
    /// `immediate_exit`. A kick that lands after this stops the next
    /// `KVM_RUN`, so check the VMM's own stop or pause requests on the
    /// returned [`Prepared`] (dropping it is fine: nothing is owed any
    /// more, the vCPU's registers are final and may be saved).
    pub fn prepare<'r, 'a, 'vm, M: GuestMemoryAccess>(
        &'r mut self,
        me: &'a KvmVcpu<'vm, M>,
    ) -> Result<Prepared<'r, 'a, 'vm, M, V>, LoopError<V::Error>> {
        if self.owed.completion_run {
            self.vcpu.set_immediate_exit(true);
            let unexpected = match self.vcpu.run() {
                Ok(Exit::Interrupted) => None,
                Ok(other) => Some(exit_name(&other)),
                Err(e) => return Err(LoopError::Run(e)),
            };
            self.traffic.completion_runs += 1;
            if let Some(name) = unexpected {
                return Err(LoopError::CompletionExited(name));
            }
            self.owed.completion_run = false;
        }
        let off = self.owed.start && !self.take_start()?;
        self.vcpu.set_immediate_exit(false);
        Ok(Prepared {
            runner: self,
            me,
            off,
        })
    }

    /// The vCPU is off: stop it in KVM (once), park until a start or a
    /// wake, apply a start. `true` if the vCPU is on again.
    fn take_start(&mut self) -> Result<bool, LoopError<V::Error>> {
        let Some(line) = self.power.clone() else {
            return Err(LoopError::NoPowerLines("CPU_OFF"));
        };
        if !self.stopped {
            self.vcpu
                .set_mp_state(MpState::Stopped)
                .map_err(|e| LoopError::MpState(MpState::Stopped, e))?;
            self.stopped = true;
        }
        self.traffic.parks += 1;
        match line.lines.wait(line.index) {
            Some(Woke::Start(start)) => {
                self.apply(&start)?;
                // Kicks meant for the parked thread are done with.
                line.lines.unwake(line.index);
                Ok(true)
            }
            Some(Woke::Woken) => Ok(false),
            None => Err(LoopError::NoLine(line.index)),
        }
    }

    fn apply(&mut self, start: &StartContext) -> Result<(), LoopError<V::Error>> {
        let t = &mut self.traffic;
        write_start(
            &mut Counted {
                vcpu: &mut self.vcpu,
                reads: &mut t.power_reads,
                writes: &mut t.power_writes,
            },
            start,
        )?;
        self.vcpu
            .set_mp_state(MpState::Runnable)
            .map_err(|e| LoopError::MpState(MpState::Runnable, e))?;
        self.owed.start = false;
        self.stopped = false;
        self.traffic.starts += 1;
        Ok(())
    }

    /// Serves a hypercall exit with fwcall: reads exactly the argument
    /// registers the function takes, writes exactly the registers the
    /// reply defines (see [`KvmVcpu::serve`]). Returns the outcome so the
    /// VMM can kick `outcome.kicks` and end its loop on a
    /// [`SystemEnd`](super::SystemEnd).
    ///
    /// A PSCI power action is carried out here: `CPU_ON` posts the
    /// target's [`StartContext`] on its line (reading this vCPU's
    /// `PSTATE` and `SCTLR_EL1`); `CPU_OFF` leaves this vCPU owing a
    /// start, so the next [`Runner::prepare`] parks it.
    pub fn serve<M: GuestMemoryAccess>(
        &mut self,
        me: &KvmVcpu<'_, M>,
        exit: HypercallExit,
    ) -> Result<Outcome, LoopError<V::Error>> {
        let outcome = self.serve_call(me, exit)?;
        match &outcome.power {
            Some(PowerAction::CpuOn(start)) => {
                let Some(line) = &self.power else {
                    return Err(LoopError::NoPowerLines("CPU_ON"));
                };
                let t = &mut self.traffic;
                let mut regs = Counted {
                    vcpu: &mut self.vcpu,
                    reads: &mut t.power_reads,
                    writes: &mut t.power_writes,
                };
                let pstate = super::exit::get(&mut regs, Reg::Pstate)?;
                let sctlr = super::exit::get(&mut regs, Reg::SctlrEl1)?;
                let ctx = StartContext::new(start, pstate, sctlr, line.lines.reset_sctlr());
                if !line.lines.post(start.target, ctx) {
                    return Err(LoopError::NoLine(start.target));
                }
            }
            Some(PowerAction::CpuOff) => {
                if self.power.is_none() {
                    return Err(LoopError::NoPowerLines("CPU_OFF"));
                }
                self.owed.start = true;
            }
            _ => {}
        }
        Ok(outcome)
    }

    fn serve_call<M: GuestMemoryAccess>(
        &mut self,
        me: &KvmVcpu<'_, M>,
        exit: HypercallExit,
    ) -> Result<Outcome, RegisterError<V::Error>> {
        self.traffic.calls += 1;
        let t = &mut self.traffic;
        let outcome = me.serve(
            exit,
            &mut Counted {
                vcpu: &mut self.vcpu,
                reads: &mut t.call_reads,
                writes: &mut t.call_writes,
            },
        )?;
        t.call_budget += call_budget(me, exit, &outcome);
        Ok(outcome)
    }

    /// The vCPU's registers for a VMM that answers an exit itself (its
    /// own hypercalls, a device); counted with the calls.
    pub fn registers(&mut self) -> impl VcpuRegisters<Error = V::Error> + '_ {
        let t = &mut self.traffic;
        Counted {
            vcpu: &mut self.vcpu,
            reads: &mut t.call_reads,
            writes: &mut t.call_writes,
        }
    }
}

/// The register budget of one served call: the arguments the function
/// takes, plus the writes its budget row allows (a VMM service's or an
/// unserved ID's reply defines its own).
fn call_budget<M: GuestMemoryAccess>(
    me: &KvmVcpu<'_, M>,
    exit: HypercallExit,
    outcome: &Outcome,
) -> u64 {
    if exit.is_16bit() {
        return reply_writes(&outcome.reply);
    }
    let vm = me.vm();
    let fid = exit.fid();
    let args = vm.argument_registers(fid) as u64;
    let writes = match budget::lookup(fid.for_lookup(vm.config().smccc_version)) {
        Some(b) => u64::from(b.writes),
        None => reply_writes(&outcome.reply),
    };
    args + writes
}

/// The registers `apply_reply` writes for `reply`.
pub(crate) fn reply_writes(reply: &Reply) -> u64 {
    let x = reply.written_x().count() as u64;
    match reply {
        Reply::Restore(ctx) => x + 2 + if ctx.el1.is_some() { 2 } else { 0 },
        _ => x,
    }
}

fn exit_name<O>(exit: &Exit<'_, O>) -> &'static str {
    match exit {
        Exit::Hypercall(_) => "hypercall",
        Exit::MmioRead { .. } => "MMIO read",
        Exit::MmioWrite { .. } => "MMIO write",
        Exit::SystemEvent { .. } => "system event",
        Exit::Interrupted => "EINTR",
        Exit::Other(_) => "another exit",
    }
}

/// Step 2 of a round: nothing is owed and `immediate_exit` is clear. Check
/// the VMM's own stop/pause requests here, then [`Prepared::deliver`].
#[must_use = "a round continues with deliver(), or ends here (pause, stop)"]
#[derive(Debug)]
pub struct Prepared<'r, 'a, 'vm, M, V> {
    runner: &'r mut Runner<V>,
    me: &'a KvmVcpu<'vm, M>,
    /// Powered off, woken without a start: this round runs nothing.
    off: bool,
}

impl<'r, M: GuestMemoryAccess, V: RunVcpu> Prepared<'r, '_, '_, M, V> {
    /// Accounts the stolen time `steal_ns` returns (sampled now, after
    /// `immediate_exit` was cleared, so a refresh kick is never lost),
    /// then enters a pending SDEI handler, if any: reads the interrupted
    /// context, writes the handler entry. Returns the step that runs.
    pub fn deliver(
        self,
        steal_ns: impl FnOnce() -> u64,
    ) -> Result<Ready<'r, V>, LoopError<V::Error>> {
        if self.off {
            return Ok(Ready {
                runner: self.runner,
                delivery: None,
                off: true,
            });
        }
        let ns = steal_ns();
        if ns > 0 {
            self.me.vcpu().account_steal(ns).map_err(LoopError::Steal)?;
        }
        let runner = self.runner;
        let t = &mut runner.traffic;
        let delivery = self.me.deliver_pending(&mut Counted {
            vcpu: &mut runner.vcpu,
            reads: &mut t.delivery_reads,
            writes: &mut t.delivery_writes,
        })?;
        if delivery.is_some() {
            runner.traffic.deliveries += 1;
        }
        Ok(Ready {
            runner,
            delivery,
            off: false,
        })
    }
}

/// Step 3 of a round: the guest may run.
#[must_use = "a round ends with run()"]
#[derive(Debug)]
pub struct Ready<'r, V> {
    runner: &'r mut Runner<V>,
    delivery: Option<Delivery>,
    off: bool,
}

impl<'r, V: RunVcpu> Ready<'r, V> {
    /// The SDEI handler entered in this round, if any: kick the vCPUs its
    /// `kicks` name (see [`kick_targets`](super::kick_targets)).
    pub fn delivery(&self) -> Option<&Delivery> {
        self.delivery.as_ref()
    }

    /// `KVM_RUN`. The exit borrows the vCPU (an MMIO load's buffer is
    /// `kvm_run`'s); the runner remembers what it leaves owed. A powered-off
    /// vCPU does not run: [`Exit::Interrupted`] at once.
    #[allow(clippy::type_complexity)]
    pub fn run(self) -> Result<Exit<'r, V::Other<'r>>, LoopError<V::Error>> {
        if self.off {
            return Ok(Exit::Interrupted);
        }
        let Runner {
            vcpu,
            owed,
            traffic,
            ..
        } = self.runner;
        traffic.runs += 1;
        let exit = vcpu.run().map_err(LoopError::Run)?;
        owed.completion_run = exit.owes().completion_run;
        Ok(exit)
    }
}

/// Applies a `CPU_ON` start to a stopped vCPU: the registers of
/// [`StartContext::writes`], then `KVM_SET_MP_STATE(RUNNABLE)`. The runner
/// does this on the target's thread; a VMM calls it itself only for a start
/// left on a line after every vCPU thread stopped ([`PowerLines::take`]).
pub fn apply_start<V: RunVcpu>(
    vcpu: &mut V,
    start: &StartContext,
) -> Result<(), LoopError<V::Error>> {
    write_start(vcpu, start)?;
    vcpu.set_mp_state(MpState::Runnable)
        .map_err(|e| LoopError::MpState(MpState::Runnable, e))
}

fn write_start<R: VcpuRegisters>(
    regs: &mut R,
    start: &StartContext,
) -> Result<(), RegisterError<R::Error>> {
    for (reg, value) in start.writes() {
        super::exit::set(regs, reg, value)?;
    }
    Ok(())
}
