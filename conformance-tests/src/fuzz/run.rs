//! Runs a [`Sequence`] on a [`Machine`], checking invariants after every
//! step and, when a reference model rides along, comparing every result,
//! delivery and state with it.

use std::collections::VecDeque;

use fwcall::sdei::SdeiState;
use fwcall::{Conduit, Kicks, Priority, RaiseError, Reply, VcpuIndex};

use super::machine::{Entered, Machine, Regs};
use super::ops::{EVENTS, MAX_STEPS, Sequence, Step};
use crate::model::{Answer, Model, RaiseRefusal, Saved};

const LEGAL_STATUS: [u8; 6] = [0, 1, 3, 4, 5, 7];

/// The simulated VMM plus the checks.
#[derive(Debug)]
pub struct Runner {
    /// The VMM.
    pub m: Machine,
    /// The reference model, for the differential target.
    pub model: Option<Model>,
    /// What each vCPU's outstanding dispatches interrupted, as the VMM saw it.
    shadow: Vec<Vec<Regs>>,
    /// Step counter, for messages.
    step: usize,
    /// When set, counts what the run exercised (calls by result, deliveries
    /// by nesting depth): `corpus_coverage` in the tests reports it.
    pub coverage: Option<std::collections::BTreeMap<String, u64>>,
}

fn fail(step: usize, what: std::fmt::Arguments<'_>) -> ! {
    panic!("step {step}: {what}")
}

impl Runner {
    /// A fresh VM for `seq.setup`; with `differential`, a model too.
    pub fn new(seq: &Sequence, differential: bool) -> Self {
        let m = Machine::new(seq.setup);
        let model = differential.then(|| Model::new(seq.setup.model_config()));
        let shadow = vec![Vec::new(); m.vcpus()];
        Runner {
            m,
            model,
            shadow,
            step: 0,
            coverage: None,
        }
    }

    /// Runs every step (at most [`MAX_STEPS`]) and the final drain.
    pub fn run(seq: &Sequence, differential: bool) {
        Runner::new(seq, differential).run_all(seq);
    }

    /// [`Runner::run`] on this runner (to read its coverage afterwards).
    pub fn run_all(&mut self, seq: &Sequence) {
        self.check_state();
        for step in seq.steps.iter().take(MAX_STEPS) {
            self.step += 1;
            self.apply(step);
        }
        self.drain();
    }

    fn vcpu(&self, v: u8) -> usize {
        usize::from(v) % self.m.vcpus()
    }

    /// One step, its delivery step, and the checks.
    pub fn apply(&mut self, step: &Step) {
        let setup = self.m.setup;
        let (concerned, kicks) = match *step {
            Step::Call {
                vcpu,
                func,
                args,
                smc,
            } => {
                let v = self.vcpu(vcpu);
                if self.m.is_off(v) {
                    // An off vCPU runs no code: it makes no call.
                    return;
                }
                let mut x = [u64::from(func.id()), 0, 0, 0, 0, 0];
                for (slot, a) in x[1..].iter_mut().zip(args) {
                    *slot = a.value(&setup);
                }
                (
                    Some(v),
                    self.call(v, x, if smc { Conduit::Smc } else { Conduit::Hvc }),
                )
            }
            Step::Raise { event, vcpu } => {
                let e = Sequence::raise_event(event);
                let target = vcpu.map(usize::from);
                let got = self.m.vm.raise(e, target.map(|t| VcpuIndex(t as u32)));
                if let Some(model) = &mut self.model {
                    let want = model.raise(e, target);
                    let got_kind = got.as_ref().map(|_| ()).map_err(refusal);
                    if got_kind != want {
                        fail(
                            self.step,
                            format_args!(
                                "raise({e:#x}, {target:?}): server {got:?}, model {want:?}"
                            ),
                        );
                    }
                }
                let private = EVENTS
                    .iter()
                    .any(|d| d.0 == e && d.1 == fwcall::EventKind::Private);
                let concerned = target.filter(|t| private && *t < self.m.vcpus());
                (concerned, got.unwrap_or_default())
            }
            Step::Irq { intid, vcpu } => {
                let i = intid.value();
                let target = vcpu.map(usize::from);
                let out = self.m.vm.irq(i, target.map(|t| VcpuIndex(t as u32)));
                let (taken, kicks) = match out {
                    fwcall::IrqOutcome::NotBound => (false, Kicks::none()),
                    fwcall::IrqOutcome::Sdei(k) => (true, k),
                };
                if let Some(model) = &mut self.model {
                    let want = model.irq(i, target);
                    if taken != want {
                        fail(
                            self.step,
                            format_args!(
                                "irq({i}, {target:?}): server took it: {taken}, model: {want}"
                            ),
                        );
                    }
                }
                (target.filter(|t| *t < self.m.vcpus()), kicks)
            }
            Step::Reset { vcpu } => {
                let v = self.vcpu(vcpu);
                let Ok(h) = self.m.vm.vcpu(VcpuIndex(v as u32)) else {
                    fail(self.step, format_args!("no vCPU {v}"))
                };
                let kicks = h.reset();
                self.m.regs[v] = Regs::default();
                self.shadow[v].clear();
                if let Some(model) = &mut self.model {
                    model.reset_vcpu(v);
                }
                (Some(v), kicks)
            }
            Step::Steal { vcpu, ns } => {
                let v = self.vcpu(vcpu);
                let Ok(h) = self.m.vm.vcpu(VcpuIndex(v as u32)) else {
                    fail(self.step, format_args!("no vCPU {v}"))
                };
                let before = h.stolen_ns();
                // The record may be unplaced by the guest; the total still counts.
                let _ = h.account_steal(u64::from(ns));
                let after = h.stolen_ns();
                if after != before.saturating_add(u64::from(ns)) {
                    fail(
                        self.step,
                        format_args!("stolen time {before} + {ns} became {after}"),
                    );
                }
                (Some(v), Kicks::none())
            }
            Step::Regs {
                vcpu,
                pc,
                pstate,
                sctlr,
                x,
            } => {
                let v = self.vcpu(vcpu);
                if self.m.is_off(v) {
                    return;
                }
                let r = &mut self.m.regs[v];
                r.pc = pc;
                r.pstate = pstate;
                r.sctlr = sctlr;
                r.x[..4].copy_from_slice(&x);
                (Some(v), Kicks::none())
            }
            Step::Snapshot => {
                self.m.snapshot_restore();
                // A restored VM resumes every vCPU: all of them ask.
                let mut all = Kicks::none();
                (0..self.m.vcpus()).for_each(|v| all.add(VcpuIndex(v as u32)));
                (None, all)
            }
        };
        self.delivery_step(concerned, &kicks);
        self.check_state();
    }

    /// A guest call: the server's reply, checked against the model and the
    /// VMM's record of saved contexts.
    fn call(&mut self, v: usize, x: [u64; 6], conduit: Conduit) -> Kicks {
        let mut regs = self.m.regs[v].x;
        regs[..6].copy_from_slice(&x);
        let want = self.model.as_mut().and_then(|m| m.call(v, &regs));
        let (reply, mut kicks) = self.m.call(v, x, conduit);
        self.follow_power(v, &reply, &mut kicks);
        if let Some(want) = want {
            let same = match (&want, &reply) {
                (Answer::Value(w), Reply::Return { regs, count: 1 }) => regs[0] == *w,
                (Answer::Restore(w), Reply::Restore(g)) => w == g,
                _ => false,
            };
            if !same {
                fail(
                    self.step,
                    format_args!("vCPU {v} call {x:#x?}: server {reply:?}, model {want:?}"),
                );
            }
        }
        if let Some(cov) = &mut self.coverage {
            let name = fwcall::smccc::ids::name(fwcall::FunctionId(x[0] as u32)).unwrap_or("other");
            let result = match reply {
                Reply::Restore(c) if c.el1.is_some() => "resumed".to_string(),
                Reply::Restore(_) => "restored".to_string(),
                Reply::Return { regs, .. } => match regs[0] as i64 {
                    v @ (-10 | -5 | -3 | -2 | -1) => v.to_string(),
                    0 => "0".to_string(),
                    _ => "value".to_string(),
                },
                Reply::Nothing => "nothing".to_string(),
            };
            *cov.entry(format!("{name} -> {result}")).or_default() += 1;
        }
        if let Reply::Restore(ctx) = reply {
            let Some(saved) = self.shadow[v].pop() else {
                fail(
                    self.step,
                    format_args!("vCPU {v}: a completion restored a context nobody saved: {ctx:?}"),
                );
            };
            let resumed = x[0] as u32 & 0xffff == 0x26;
            let ok = ctx.x == saved.x
                && if resumed {
                    ctx.pc == x[1]
                        && ctx
                            .el1
                            .is_some_and(|e| e.elr == saved.pc && e.spsr == saved.pstate)
                } else {
                    ctx.pc == saved.pc && ctx.pstate == saved.pstate && ctx.el1.is_none()
                };
            if !ok {
                fail(
                    self.step,
                    format_args!(
                        "vCPU {v}: completion {ctx:?} does not restore the saved {saved:?}"
                    ),
                );
            }
        }
        kicks
    }

    /// What a VMM does with a PSCI outcome, mirrored into the model (which
    /// learns power state only this way, so the two are compared on it).
    fn follow_power(&mut self, v: usize, reply: &Reply, kicks: &mut Kicks) {
        let _ = reply;
        let Some(action) = self.m.power.take() else {
            return;
        };
        match action {
            fwcall::PowerAction::CpuOn(start) => {
                let t = start.target.get();
                if let Some(model) = &mut self.model {
                    if !model.is_off(t) {
                        fail(
                            self.step,
                            format_args!("CPU_ON of vCPU {t} succeeded but the model has it on"),
                        );
                    }
                    model.power_on(t);
                }
                if let Some(s) = self.shadow.get_mut(t) {
                    s.clear();
                }
            }
            fwcall::PowerAction::CpuOff => {
                if let Some(model) = &mut self.model {
                    model.power_off(v);
                }
                self.shadow[v].clear();
            }
            fwcall::PowerAction::SystemReset(_) => {
                // The VMM resets the whole VM, then every vCPU resumes.
                self.m.system_reset();
                if let Some(model) = &mut self.model {
                    model.system_reset();
                }
                self.shadow.iter_mut().for_each(Vec::clear);
                (0..self.m.vcpus()).for_each(|w| kicks.add(VcpuIndex(w as u32)));
            }
            // A VMM that declines to end the VM resumes the caller, which
            // sees INTERNAL_FAILURE; standby returns at once.
            _ => {}
        }
    }

    /// Asks the concerned vCPU, then every vCPU, then any vCPU a delivery
    /// kicked; then checks that nothing deliverable was left behind.
    fn delivery_step(&mut self, concerned: Option<usize>, kicks: &Kicks) {
        let n = self.m.vcpus();
        let mut kicked = vec![kicks.all(); n];
        for k in kicks.ids() {
            match kicked.get_mut(k.get()) {
                Some(slot) => *slot = true,
                None => fail(
                    self.step,
                    format_args!("kick names {k}, which does not exist"),
                ),
            }
        }
        let mut queue: VecDeque<usize> = concerned.into_iter().chain(0..n).collect();
        let mut asked = 0;
        while let Some(v) = queue.pop_front() {
            asked += 1;
            if asked > 4 * n + 2 {
                fail(
                    self.step,
                    format_args!("deliveries keep kicking each other"),
                );
            }
            let e = self.ask(v);
            if let Some(d) = &e.delivery {
                if Some(v) != concerned && !kicked[v] {
                    fail(
                        self.step,
                        format_args!(
                            "vCPU {v} had event {:#x} to enter but nobody kicked it",
                            d.event
                        ),
                    );
                }
                for k in d.kicks.ids() {
                    if let Some(slot) = kicked.get_mut(k.get()) {
                        *slot = true;
                        queue.push_back(k.get());
                    }
                }
                if d.kicks.all() {
                    kicked.iter_mut().for_each(|k| *k = true);
                    queue.extend(0..n);
                }
            }
        }
        for v in 0..n {
            if let Some(d) = self.ask(v).delivery {
                fail(
                    self.step,
                    format_args!(
                        "vCPU {v}: event {:#x} still deliverable after the delivery step",
                        d.event
                    ),
                );
            }
        }
    }

    fn ask(&mut self, v: usize) -> Entered {
        let want = self.model.as_mut().and_then(|m| {
            let r = self.m.regs[v];
            m.take_delivery(
                v,
                &Saved {
                    x: r.x,
                    pc: r.pc,
                    pstate: r.pstate,
                    sctlr: r.sctlr,
                },
            )
        });
        let e = self.m.ask(v);
        if let Some(d) = &e.delivery {
            if !e.hinted {
                fail(
                    self.step,
                    format_args!(
                        "vCPU {v}: has_pending_delivery() was false but event {:#x} was entered",
                        d.event
                    ),
                );
            }
            self.shadow[v].push(e.interrupted);
            let depth = self.shadow[v].len();
            if let Some(cov) = &mut self.coverage {
                *cov.entry(format!("delivery of {:#x} at depth {depth}", d.event))
                    .or_default() += 1;
            }
            let i = e.interrupted;
            if d.x != [u64::from(d.event), d.x[1], i.pc, i.pstate] {
                fail(
                    self.step,
                    format_args!(
                        "vCPU {v}: entry registers {:#x?} for interrupted {i:?}",
                        d.x
                    ),
                );
            }
        }
        if self.model.is_some() {
            let got = e.delivery.as_ref().map(|d| (d.event, d.x, d.pc, d.pstate));
            let want = want.map(|d| (d.event, d.x, d.pc, d.pstate));
            if got != want {
                fail(
                    self.step,
                    format_args!("vCPU {v} delivery: server {got:#x?}, model {want:#x?}"),
                );
            }
        }
        e
    }

    /// A VMM resuming every vCPU (after a restore): each asks for a
    /// delivery, then the invariants.
    pub fn resume_all(&mut self) {
        let mut all = Kicks::none();
        (0..self.m.vcpus()).for_each(|v| all.add(VcpuIndex(v as u32)));
        self.delivery_step(None, &all);
        self.check_state();
    }

    /// Takes the server's saved contexts as what the VMM saw (after a
    /// restore of a blob the VMM did not produce itself).
    pub fn adopt_saved_contexts(&mut self) {
        let st = self.state();
        for (v, c) in st.vcpus.iter().enumerate() {
            if let Some(shadow) = self.shadow.get_mut(v) {
                *shadow = c
                    .stack
                    .iter()
                    .map(|f| Regs {
                        x: f.x,
                        pc: f.pc,
                        pstate: f.pstate,
                        sctlr: f.sctlr_el1,
                    })
                    .collect();
            }
        }
    }

    /// The server's whole SDEI state.
    pub fn state(&self) -> SdeiState {
        match self.m.vm.sdei() {
            Some(s) => s.state(),
            None => fail(self.step, format_args!("the fuzzed VM has SDEI")),
        }
    }

    /// Invariants on the server's state, the VMM's view, the memory and
    /// (differential) the model's state.
    pub fn check_state(&self) {
        let st = self.state();
        let step = self.step;
        let config = self.m.vm.config();
        let declared = config
            .sdei
            .as_ref()
            .map(|s| s.events.as_slice())
            .unwrap_or(&[]);
        let critical = |e: u32| {
            declared
                .iter()
                .any(|d| d.number == e && d.priority == Priority::Critical)
        };
        for s in &st.shared {
            if !LEGAL_STATUS.contains(&s.status) {
                fail(
                    step,
                    format_args!("shared event {:#x} has status {}", s.event, s.status),
                );
            }
            if s.pending && s.status & 1 == 0 {
                fail(
                    step,
                    format_args!("shared event {:#x} is pending while unregistered", s.event),
                );
            }
            let running = s.status & 4 != 0;
            let framed = s.running_on.is_some_and(|v| {
                st.vcpus
                    .get(v as usize)
                    .is_some_and(|c| c.stack.iter().any(|f| f.event == s.event))
            });
            if running != framed {
                fail(
                    step,
                    format_args!(
                        "shared event {:#x}: running bit {running}, saved context on {:?}",
                        s.event, s.running_on
                    ),
                );
            }
        }
        for (v, c) in st.vcpus.iter().enumerate() {
            for p in &c.private {
                if !LEGAL_STATUS.contains(&p.status) {
                    fail(
                        step,
                        format_args!("vCPU {v} event {:#x} has status {}", p.event, p.status),
                    );
                }
                if p.pending && p.status & 1 == 0 {
                    fail(
                        step,
                        format_args!(
                            "vCPU {v} event {:#x} is pending while unregistered",
                            p.event
                        ),
                    );
                }
                let framed = c.stack.iter().any(|f| f.event == p.event);
                if (p.status & 4 != 0) != framed {
                    fail(
                        step,
                        format_args!(
                            "vCPU {v} event {:#x}: status {} but saved context: {framed}",
                            p.event, p.status
                        ),
                    );
                }
            }
            let ok_stack = match c.stack.as_slice() {
                [] | [_] => true,
                [a, b] => !critical(a.event) && critical(b.event),
                _ => false,
            };
            if !ok_stack {
                fail(
                    step,
                    format_args!(
                        "vCPU {v} dispatch stack {:?}",
                        c.stack.iter().map(|f| f.event).collect::<Vec<_>>()
                    ),
                );
            }
            let shadow = &self.shadow[v];
            let same = c.stack.len() == shadow.len()
                && c.stack
                    .iter()
                    .zip(shadow)
                    .all(|(f, r)| f.x == r.x && f.pc == r.pc && f.pstate == r.pstate);
            if !same {
                fail(
                    step,
                    format_args!(
                        "vCPU {v}: server saved {:?}, the VMM saw {} interrupted contexts",
                        c.stack,
                        shadow.len()
                    ),
                );
            }
        }
        let mut bound: Vec<u32> = st.slots.iter().filter_map(|s| s.intid).collect();
        let n = bound.len();
        bound.sort_unstable();
        bound.dedup();
        if bound.len() != n {
            fail(
                step,
                format_args!("an INTID is bound to two slots: {:?}", st.slots),
            );
        }
        for s in st.slots.iter().filter(|s| s.intid.is_none()) {
            let used = st
                .shared
                .iter()
                .any(|e| e.event == s.event && e.status != 0)
                || st.vcpus.iter().any(|c| {
                    c.private
                        .iter()
                        .any(|e| e.event == s.event && e.status != 0)
                });
            if used {
                fail(
                    step,
                    format_args!("slot {:#x} is in use but bound to nothing", s.event),
                );
            }
        }
        let stray = self.m.mem.stray_writes();
        if !stray.is_empty() {
            fail(
                step,
                format_args!("fwcall wrote guest memory outside the PV-time region: {stray:#x?}"),
            );
        }
        for v in 0..self.m.vcpus() {
            let off = self.m.is_off(v);
            let gated = self
                .m
                .vm
                .sdei()
                .and_then(|s| s.is_powered_off(VcpuIndex(v as u32)));
            if gated != Some(off) {
                fail(
                    step,
                    format_args!("vCPU {v}: PSCI says off = {off}, SDEI's power gate {gated:?}"),
                );
            }
            if let Some(model) = &self.model
                && model.is_off(v) != off
            {
                fail(
                    step,
                    format_args!(
                        "vCPU {v} off: server {off}, model {} (power changed without an outcome)",
                        model.is_off(v)
                    ),
                );
            }
        }
        if let Some(model) = &self.model {
            compare_state(step, model, &st);
        }
    }

    /// The end of a sequence: mask everything, complete every handler,
    /// reset everything; then every slot must be free again.
    pub fn drain(&mut self) {
        let n = self.m.vcpus();
        self.power_everything_on();
        for v in 0..n {
            self.call(v, [0xC400_002B, 0, 0, 0, 0, 0], Conduit::Hvc);
        }
        for v in 0..n {
            for _ in 0..3 {
                let _ = self.call(v, [0xC400_0025, 0, 0, 0, 0, 0], Conduit::Hvc);
            }
            if !self.shadow[v].is_empty() {
                fail(
                    self.step,
                    format_args!("vCPU {v}: handlers left after three COMPLETEs"),
                );
            }
        }
        for v in 0..n {
            self.expect_x0(v, 0xC400_0031, 0, "PRIVATE_RESET with nothing running");
        }
        self.expect_x0(
            0,
            0xC400_0032,
            0,
            "SHARED_RESET with nothing registered privately",
        );
        let st = self.state();
        if st.slots.iter().any(|s| s.intid.is_some()) {
            fail(
                self.step,
                format_args!("slots still bound after SHARED_RESET: {:?}", st.slots),
            );
        }
        let private = st.slots.iter().filter(|s| s.event < 0x4001_0000).count() as u64;
        let shared = st.slots.len() as u64 - private;
        for i in 0..private {
            self.expect_x0(
                0,
                0xC400_002D,
                0x4000_0000 + i,
                "BIND into a free private slot",
            );
        }
        for j in 0..shared {
            self.expect_x0(
                0,
                0xC400_002D,
                0x4001_0000 + j,
                "BIND into a free shared slot",
            );
        }
        self.check_state();
    }

    /// Before the drain: every vCPU on, as a guest would bring them up
    /// (`CPU_ON` from the first one that is on; a system reset first if
    /// none is).
    fn power_everything_on(&mut self) {
        let n = self.m.vcpus();
        let Some(first) = (0..n).find(|&v| !self.m.is_off(v)) else {
            self.m.system_reset();
            if let Some(model) = &mut self.model {
                model.system_reset();
            }
            self.shadow.iter_mut().for_each(Vec::clear);
            self.check_state();
            return self.power_everything_on();
        };
        for t in 0..n {
            if self.m.is_off(t) {
                let mpidr = fwcall::Mpidr::kvm_default(t as u32).affinity();
                let x = [0xC400_0003, mpidr, super::ops::RAM.base.0, 0, 0, 0];
                let _ = self.call(first, x, Conduit::Hvc);
                if self.m.is_off(t) {
                    fail(self.step, format_args!("CPU_ON of off vCPU {t} failed"));
                }
            }
        }
        self.check_state();
    }

    fn expect_x0(&mut self, v: usize, fid: u64, want: u64, what: &str) {
        let arg = match fid {
            // BIND takes an INTID; `want` is the slot's event number.
            0xC400_002D if want >= 0x4001_0000 => 32 + (want - 0x4001_0000),
            0xC400_002D => 16 + (want - 0x4000_0000),
            _ => 0,
        };
        let (reply, _) = self.m.call(v, [fid, arg, 0, 0, 0, 0], Conduit::Hvc);
        if let Some(model) = &mut self.model {
            let mut x = self.m.regs[v].x;
            x[..2].copy_from_slice(&[fid, arg]);
            let _ = model.call(v, &x);
        }
        if reply != Reply::x0(want) {
            fail(
                self.step,
                format_args!("{what}: expected {want:#x}, got {reply:?}"),
            );
        }
    }
}

fn refusal(e: &RaiseError) -> RaiseRefusal {
    use fwcall::sdei::RaiseError as S;
    match e {
        RaiseError::Sdei(S::UnknownEvent(_)) => RaiseRefusal::UnknownEvent,
        RaiseError::Sdei(S::NotRaisable(_)) => RaiseRefusal::NotRaisable,
        RaiseError::Sdei(S::VcpuRequired(_)) => RaiseRefusal::VcpuRequired,
        RaiseError::Sdei(S::NoSuchVcpu(_)) => RaiseRefusal::NoSuchVcpu,
        RaiseError::SdeiOff => RaiseRefusal::UnknownEvent,
    }
}

/// The model's and the server's states must agree on everything the
/// guest can observe now or later: masks, status bits, registrations,
/// pending triggers, running vCPUs, saved contexts and bindings.
fn compare_state(step: usize, model: &Model, st: &SdeiState) {
    for s in &st.shared {
        let Some(m) = model.shared.get(&s.event) else {
            fail(
                step,
                format_args!("server has shared event {:#x}, model does not", s.event),
            );
        };
        let got = (
            s.status,
            s.entry,
            s.arg,
            s.routing == fwcall::sdei::Routing::Pe,
            s.affinity,
            s.pending,
            s.running_on,
        );
        let want = (
            m.inst.status,
            m.inst.entry,
            m.inst.arg,
            m.rm_pe,
            m.affinity,
            m.inst.pending,
            m.running_on.map(|v| v as u32),
        );
        if got != want {
            fail(
                step,
                format_args!(
                    "shared event {:#x} (status, entry, arg, rm_pe, affinity, pending, running_on): server {got:x?}, model {want:x?}",
                    s.event
                ),
            );
        }
    }
    if st.shared.len() != model.shared.len() {
        fail(
            step,
            format_args!(
                "{} shared events in the server, {} in the model",
                st.shared.len(),
                model.shared.len()
            ),
        );
    }
    for (v, (c, p)) in st.vcpus.iter().zip(&model.pes).enumerate() {
        if c.masked != p.masked {
            fail(
                step,
                format_args!("vCPU {v} masked: server {}, model {}", c.masked, p.masked),
            );
        }
        let got: Vec<_> = c
            .private
            .iter()
            .map(|e| (e.event, e.status, e.entry, e.arg, e.pending))
            .collect();
        let want: Vec<_> = p
            .private
            .iter()
            .map(|(n, i)| (*n, i.status, i.entry, i.arg, i.pending))
            .collect();
        if got != want {
            fail(
                step,
                format_args!(
                    "vCPU {v} private (event, status, entry, arg, pending): server {got:x?}, model {want:x?}"
                ),
            );
        }
        let got: Vec<_> = c
            .stack
            .iter()
            .map(|f| (f.event, f.x, f.pc, f.pstate, f.sctlr_el1))
            .collect();
        let want: Vec<_> = p
            .stack
            .iter()
            .map(|f| {
                (
                    f.event,
                    f.saved.x,
                    f.saved.pc,
                    f.saved.pstate,
                    f.saved.sctlr,
                )
            })
            .collect();
        if got != want {
            fail(
                step,
                format_args!("vCPU {v} saved contexts: server {got:x?}, model {want:x?}"),
            );
        }
    }
    let got: Vec<_> = st.slots.iter().map(|s| s.intid).collect();
    let want: Vec<_> = model
        .private_bindings
        .iter()
        .chain(&model.shared_bindings)
        .copied()
        .collect();
    if got != want {
        fail(
            step,
            format_args!("slot bindings: server {got:?}, model {want:?}"),
        );
    }
}
