//! The replayer: plays the VMM for a parsed trace against a [`Target`].
//!
//! It owns the simulated vCPUs and guest memory, builds the server lazily
//! (after every `event` line, at the first directive that needs it, or at
//! the end of the trace), runs the directives in order, and stops at the
//! first expectation that fails.

use crate::config::{EventScope, VmSpec};
use crate::decode;
use crate::memory::SimMemory;
use crate::parse::{check_fits, parse_trace};
use crate::pattern::Pattern;
use crate::target::{Delivery, Interrupted, Target};
use crate::trace::{DeliveredOn, Directive, Line, SystemRequest, Trace};
use crate::value::{Value, Vars, show_u64};
use crate::vcpu::SimVcpu;
use fwcall_smccc::{
    CALL_REGS, Call, Conduit, Convention, FunctionId, Kicks, Outcome, PowerAction, Reply, VcpuIndex,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Where a run stopped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The trace's file name.
    pub file: String,
    /// 1-based line of the directive that stopped the run.
    pub line: usize,
    /// What was expected and what happened.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The result of replaying one trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every expectation held (or the `vm -> error` refusal happened).
    Pass,
    /// An expectation failed.
    Failed(Failure),
    /// The trace itself is malformed.
    Malformed(Failure),
}

impl Verdict {
    /// The exit status fwtrace assigns: 0 pass, 1 failed, 2 malformed.
    pub fn exit_code(&self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Failed(_) => 1,
            Verdict::Malformed(_) => 2,
        }
    }

    /// The failure, if any.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Verdict::Pass => None,
            Verdict::Failed(f) | Verdict::Malformed(f) => Some(f),
        }
    }
}

/// What the caller wants recorded during a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Record every directive, decoded, in [`Report::log`].
    pub verbose: bool,
    /// Keep every `snapshot NAME` blob in [`Report::snapshots`].
    pub keep_snapshots: bool,
}

/// Everything a run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Pass, failed or malformed.
    pub verdict: Verdict,
    /// The decoded directives, when [`RunOptions::verbose`].
    pub log: Vec<String>,
    /// `(NAME, bytes)` of each snapshot, when [`RunOptions::keep_snapshots`].
    pub snapshots: Vec<(String, Vec<u8>)>,
}

/// Parses and runs a trace given as bytes.
///
/// ```
/// use fwcall_conformance::{replay, RunOptions, target_fwcall::FwcallTarget};
///
/// let trace = b"vm vcpus=1\ncall 0 0x80000000 -> 0x10004  # SMCCC_VERSION\n";
/// let report = replay::<FwcallTarget>("t.fwt", trace, RunOptions::default());
/// assert_eq!(report.verdict.exit_code(), 0);
///
/// let wrong = b"vm vcpus=1\ncall 0 0x80000000 -> 0x10001\n";
/// let report = replay::<FwcallTarget>("t.fwt", wrong, RunOptions::default());
/// assert_eq!(report.verdict.failure().unwrap().to_string(), "t.fwt:2: expected x0=0x10001, got 0x10004");
/// ```
pub fn replay<T: Target>(file: &str, bytes: &[u8], opts: RunOptions) -> Report {
    match parse_trace(file, bytes) {
        Ok(trace) => run::<T>(&trace, opts),
        Err(e) => Report {
            verdict: Verdict::Malformed(Failure {
                file: e.file,
                line: e.line,
                message: e.message,
            }),
            log: Vec::new(),
            snapshots: Vec::new(),
        },
    }
}

/// Runs a parsed trace in a fresh server.
pub fn run<T: Target>(trace: &Trace, opts: RunOptions) -> Report {
    let mut e = Engine::<T>::new(trace, opts);
    let verdict = match e.run_all() {
        Ok(()) => Verdict::Pass,
        Err(stop) => {
            let failure = |line: Option<usize>, message| Failure {
                file: trace.file.clone(),
                line: line.unwrap_or(e.line),
                message,
            };
            match stop {
                Stop::Refused => Verdict::Pass,
                Stop::Fail(line, m) => Verdict::Failed(failure(line, m)),
                Stop::Malformed(m) => Verdict::Malformed(failure(None, m)),
            }
        }
    };
    Report {
        verdict,
        log: e.log.unwrap_or_default(),
        snapshots: e.saved,
    }
}

/// Why a run stopped early.
enum Stop {
    /// `vm ... -> error` and the server refused: the trace passes.
    Refused,
    /// An expectation failed (at the given line, or the current one).
    Fail(Option<usize>, String),
    /// The trace is malformed in a way only running it reveals.
    Malformed(String),
}

fn fail<T>(m: String) -> Result<T, Stop> {
    Err(Stop::Fail(None, m))
}

fn malformed<T>(m: String) -> Result<T, Stop> {
    Err(Stop::Malformed(m))
}

struct Engine<'t, T> {
    trace: &'t Trace,
    spec: VmSpec,
    vcpus: Vec<SimVcpu>,
    mem: Arc<SimMemory>,
    target: Option<T>,
    vars: Vars,
    snapshots: HashMap<String, Vec<u8>>,
    /// What the last delivery step entered, per vCPU.
    delivered: Vec<Option<u32>>,
    log: Option<Vec<String>>,
    keep_snapshots: bool,
    saved: Vec<(String, Vec<u8>)>,
    line: usize,
    /// Which vCPUs are on (v1.1): only these call, are set, or resume.
    power: Vec<bool>,
    /// What the last action directive asked of the VMM (v1.1 `system`).
    system: Option<SystemRequest>,
}

/// vCPUs 0..boot-1 on, the rest off.
fn boot_power(spec: &VmSpec) -> Vec<bool> {
    let boot = spec.boot_count();
    (0..spec.vcpus).map(|i| i < boot).collect()
}

impl<'t, T: Target> Engine<'t, T> {
    fn new(trace: &'t Trace, opts: RunOptions) -> Self {
        let n = trace.spec.vcpus;
        Engine {
            trace,
            spec: trace.spec.clone(),
            vcpus: (0..n).map(SimVcpu::new).collect(),
            mem: Arc::new(SimMemory::new(trace.spec.mem.clone())),
            target: None,
            vars: Vars::new(),
            snapshots: HashMap::new(),
            delivered: vec![None; n as usize],
            log: opts.verbose.then(Vec::new),
            keep_snapshots: opts.keep_snapshots,
            saved: Vec::new(),
            line: trace.vm_line,
            power: boot_power(&trace.spec),
            system: None,
        }
    }

    /// A powered-off vCPU makes no call and has no registers to set:
    /// naming it in `what` is a malformed trace, even at run time.
    fn require_on(&self, i: usize, what: &str) -> Result<(), Stop> {
        if self.power.get(i).copied().unwrap_or(false) {
            Ok(())
        } else {
            malformed(format!(
                "vcpu{i} is powered off: `{what}` cannot name it until a CPU_ON powers it on"
            ))
        }
    }

    fn note(&mut self, s: impl FnOnce() -> String) {
        if let Some(log) = self.log.as_mut() {
            log.push(s());
        }
    }

    fn run_all(&mut self) -> Result<(), Stop> {
        for line in &self.trace.lines {
            self.line = line.number;
            self.exec(line)?;
        }
        self.line = self.trace.vm_line;
        self.target()?;
        Ok(())
    }

    fn mpidrs(&self) -> Vec<u64> {
        self.vcpus.iter().map(|v| v.mpidr).collect()
    }

    /// The server, built on first use.
    fn target(&mut self) -> Result<&mut T, Stop> {
        if self.target.is_none() {
            let vm_line = Some(self.trace.vm_line);
            match T::build(&self.spec, &self.mpidrs(), self.mem.clone()) {
                Ok(t) if self.trace.vm_expects_error => {
                    drop(t);
                    return Err(Stop::Fail(
                        vm_line,
                        "expected the server to refuse this configuration (`-> error`), got a working server".into(),
                    ));
                }
                Ok(t) => self.target = Some(t),
                Err(e) if self.trace.vm_expects_error => {
                    self.note(|| format!("vm refused as expected: {e}"));
                    return Err(Stop::Refused);
                }
                Err(e) => {
                    return Err(Stop::Fail(
                        vm_line,
                        format!("expected the server to accept this configuration, got error: {e}"),
                    ));
                }
            }
        }
        match self.target.as_mut() {
            Some(t) => Ok(t),
            None => fail("internal: no server".into()),
        }
    }

    fn resolve(&self, v: &Value) -> Result<u64, Stop> {
        match v.resolve(&self.vars) {
            Some(x) => Ok(x),
            None => malformed(format!("{v} is not bound")),
        }
    }

    fn resolve_u32(&self, v: &Value, what: &str) -> Result<u32, Stop> {
        let x = self.resolve(v)?;
        u32::try_from(x).or_else(|_| malformed(format!("{what} {x:#x} does not fit in 32 bits")))
    }

    fn vcpu_index(&self, v: &Value) -> Result<usize, Stop> {
        let x = self.resolve(v)?;
        match usize::try_from(x) {
            Ok(i) if i < self.vcpus.len() => Ok(i),
            _ => malformed(format!(
                "vCPU {x} does not exist: the vm has {} vCPUs",
                self.vcpus.len()
            )),
        }
    }

    fn vcpu_mut(&mut self, i: usize) -> Result<&mut SimVcpu, Stop> {
        match self.vcpus.get_mut(i) {
            Some(v) => Ok(v),
            None => malformed(format!("vCPU {i} does not exist")),
        }
    }

    fn exec(&mut self, line: &Line) -> Result<(), Stop> {
        if matches!(
            line.directive,
            Directive::Call { .. }
                | Directive::Raise { .. }
                | Directive::Irq { .. }
                | Directive::VcpuReset { .. }
                | Directive::VmReset
                | Directive::Steal { .. }
                | Directive::Restore { .. }
        ) {
            self.system = None;
        }
        match &line.directive {
            Directive::Set { vcpu, regs } => {
                let i = self.vcpu_index(vcpu)?;
                self.require_on(i, "set")?;
                for (r, v) in regs {
                    let x = self.resolve(v)?;
                    self.vcpu_mut(i)?.set(*r, x);
                }
                self.note(|| line.text.clone());
                if self.target.is_some() {
                    self.delivery_step(Some(i), &Kicks::none())?;
                }
            }
            Directive::Call {
                conduit,
                vcpu,
                func,
                args,
                pats,
            } => self.call(*conduit, vcpu, func, args, pats)?,
            Directive::Expect {
                vcpu,
                checks,
                power,
            } => {
                let i = self.vcpu_index(vcpu)?;
                for (r, p) in checks {
                    let actual = self.vcpus.get(i).map_or(0, |v| v.get(*r));
                    self.check(p, actual, 64, || format!("vcpu{i} {r}="))?;
                }
                if let Some(want) = power {
                    let got = self.power.get(i).copied().unwrap_or(false);
                    if got != *want {
                        let show = |on: bool| if on { "on" } else { "off" };
                        return fail(format!(
                            "expected vcpu{i} power={}, got {}",
                            show(*want),
                            show(got)
                        ));
                    }
                }
                self.note(|| format!("{} ok", line.text));
            }
            Directive::System { want } => {
                if self.system != *want {
                    let show =
                        |s: Option<SystemRequest>| s.map_or("none".to_string(), |s| s.to_string());
                    return fail(format!(
                        "expected system {}, got {}",
                        show(*want),
                        show(self.system)
                    ));
                }
                self.note(|| format!("{} ok", line.text));
            }
            Directive::VmReset => {
                self.target()?
                    .vm_reset()
                    .or_else(|e| fail(format!("expected vm-reset to succeed, got error: {e}")))?;
                // Registers back to their starting values (the MPIDR is the
                // VMM's assignment and stays); the boot vCPUs on.
                for (i, v) in self.vcpus.iter_mut().enumerate() {
                    let mpidr = v.mpidr;
                    *v = SimVcpu::new(i as u32);
                    v.mpidr = mpidr;
                }
                self.power = boot_power(&self.spec);
                self.note(|| "vm reset".to_string());
                self.delivery_step(None, &Kicks::none())?;
            }
            Directive::Delivered { on, event } => {
                self.delivered_check(on, event.as_ref())?;
                self.note(|| format!("{} ok", line.text));
            }
            Directive::Irq { intid, vcpu } => {
                let intid = self.resolve_u32(intid, "INTID")?;
                let v = vcpu.as_ref().map(|v| self.vcpu_index(v)).transpose()?;
                let kicks = self
                    .target()?
                    .irq(intid, v.map(|i| VcpuIndex(i as u32)))
                    .or_else(|e| {
                        fail(format!(
                            "expected the server to take irq {intid}, got error: {e}"
                        ))
                    })?;
                self.note(|| format!("irq {intid}{}", on_vcpu(v)));
                self.delivery_step(v, &kicks)?;
            }
            Directive::Raise { event, vcpu } => {
                let ev = self.resolve_u32(event, "event")?;
                let v = vcpu.as_ref().map(|v| self.vcpu_index(v)).transpose()?;
                let private = match self.spec.event(ev) {
                    Some(e) => e.scope == EventScope::Private,
                    None if ev == 0 => true,
                    None => return malformed(format!("event {ev} is not declared")),
                };
                if private && v.is_none() {
                    return malformed(format!("event {ev} is private: `raise` needs a VCPU"));
                }
                let kicks = self
                    .target()?
                    .raise(ev, v.map(|i| VcpuIndex(i as u32)))
                    .or_else(|e| {
                        fail(format!(
                            "expected the server to accept raise {ev}, got error: {e}"
                        ))
                    })?;
                self.note(|| format!("raise event {ev}{}", on_vcpu(v)));
                self.delivery_step(v, &kicks)?;
            }
            Directive::VcpuReset { vcpu } => {
                let i = self.vcpu_index(vcpu)?;
                let kicks = self
                    .target()?
                    .vcpu_reset(VcpuIndex(i as u32))
                    .or_else(|e| {
                        fail(format!(
                            "expected vcpu-reset {i} to succeed, got error: {e}"
                        ))
                    })?;
                // Power-on: registers return to reset values; the MPIDR is
                // the VMM's assignment and stays.
                let v = self.vcpu_mut(i)?;
                let mpidr = v.mpidr;
                *v = SimVcpu::new(i as u32);
                v.mpidr = mpidr;
                self.note(|| format!("vcpu{i} reset"));
                self.delivery_step(Some(i), &kicks)?;
            }
            Directive::Steal { vcpu, ns } => {
                let i = self.vcpu_index(vcpu)?;
                let ns = self.resolve(ns)?;
                self.target()?.steal(VcpuIndex(i as u32), ns).or_else(|e| {
                    fail(format!(
                        "expected steal of {ns} ns to be accounted, got error: {e}"
                    ))
                })?;
                self.note(|| format!("vcpu{i} steal {ns} ns"));
                self.delivery_step(Some(i), &Kicks::none())?;
            }
            Directive::MemWrite { addr, width, value } => {
                let a = self.resolve(addr)?;
                let v = self.resolve(value)?;
                check_fits(v, *width).or_else(malformed)?;
                if let Err(e) = self.mem.write_le(a, width.bytes(), v) {
                    return malformed(format!("mem: {e}"));
                }
                self.note(|| format!("mem {a:#x} = {v:#x} ({} bytes)", width.bytes()));
                if self.target.is_some() {
                    self.delivery_step(None, &Kicks::none())?;
                }
            }
            Directive::MemCheck { addr, width, pat } => {
                let a = self.resolve(addr)?;
                let actual = match self.mem.read_le(a, width.bytes()) {
                    Ok(v) => v,
                    Err(e) => return malformed(format!("mem: {e}")),
                };
                self.check(pat, actual, width.bits(), || {
                    format!("mem {a:#x} u{} == ", width.bits())
                })?;
                self.note(|| format!("mem {a:#x} == {actual:#x} ok"));
            }
            Directive::Snapshot { name } => {
                let bytes = self
                    .target()?
                    .snapshot()
                    .or_else(|e| fail(format!("expected a snapshot, got error: {e}")))?;
                self.note(|| format!("snapshot {name}: {} bytes", bytes.len()));
                if self.keep_snapshots {
                    self.saved.push((name.clone(), bytes.clone()));
                }
                self.snapshots.insert(name.clone(), bytes);
            }
            Directive::Restore {
                name,
                overrides,
                expect_ok,
            } => self.restore(name, overrides, *expect_ok)?,
        }
        Ok(())
    }

    fn check(
        &mut self,
        p: &Pattern,
        actual: u64,
        bits: u32,
        what: impl FnOnce() -> String,
    ) -> Result<(), Stop> {
        match p.check(actual, bits, &mut self.vars) {
            Ok(true) => Ok(()),
            Ok(false) => {
                let shown = crate::pattern::width_mask(bits) & actual;
                fail(format!(
                    "expected {}{p}, got {}",
                    what(),
                    show_u64(shown, bits)
                ))
            }
            Err(e) => malformed(e),
        }
    }

    fn call(
        &mut self,
        conduit: Conduit,
        vcpu: &Value,
        func: &Value,
        args: &[Value],
        pats: &[Pattern],
    ) -> Result<(), Stop> {
        let i = self.vcpu_index(vcpu)?;
        self.require_on(
            i,
            if conduit == Conduit::Smc {
                "smc"
            } else {
                "call"
            },
        )?;
        let fid = self.resolve(func)?;
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.resolve(a)?);
        }
        let v = self.vcpu_mut(i)?;
        v.x[0] = fid;
        for (slot, a) in v.x[1..CALL_REGS].iter_mut().zip(&vals) {
            *slot = *a;
        }
        let call = Call {
            x: v.call_regs(),
            conduit,
        };
        let outcome = self
            .target()?
            .call(VcpuIndex(i as u32), &call)
            .or_else(|e| {
                fail(format!(
                    "expected the server to answer the call, got error: {e}"
                ))
            })?;
        self.apply(i, &outcome)?;
        self.note(|| {
            let smc = if conduit == Conduit::Smc { "smc " } else { "" };
            format!(
                "vcpu{i} {smc}{} -> {}",
                decode::call(&call),
                decode::reply(&call, &outcome.reply)
            )
        });
        let bits = match FunctionId::from_register(fid).convention() {
            Convention::Smc32 => 32,
            Convention::Smc64 => 64,
        };
        for (n, p) in pats.iter().enumerate() {
            let actual = self.vcpus.get(i).map_or(0, |v| v.x[n]);
            self.check(p, actual, bits, || format!("x{n}="))?;
        }
        self.delivery_step(Some(i), &outcome.kicks)
    }

    fn apply(&mut self, i: usize, outcome: &Outcome) -> Result<(), Stop> {
        let v = self.vcpu_mut(i)?;
        if let Reply::Return { count, .. } = &outcome.reply {
            let n = usize::from(*count);
            if !(1..=CALL_REGS).contains(&n) {
                return fail(format!(
                    "expected a reply writing 1..=18 registers, got count {n}"
                ));
            }
        }
        v.apply(&outcome.reply);
        let caller_pstate = v.pstate;
        match outcome.power {
            None | Some(PowerAction::Standby) => {}
            Some(PowerAction::CpuOff) => {
                if let Some(p) = self.power.get_mut(i) {
                    *p = false;
                }
                self.note(|| format!("vcpu{i} powered off"));
            }
            Some(PowerAction::CpuOn(start)) => {
                let t = start.target.get();
                match self.power.get(t) {
                    None => {
                        return fail(format!(
                            "expected CPU_ON to name an existing vCPU, got vcpu{t} (the vm has {})",
                            self.power.len()
                        ));
                    }
                    Some(true) => {
                        return fail(format!(
                            "expected CPU_ON to start a powered-off vCPU, got vcpu{t}, which is on"
                        ));
                    }
                    Some(false) => {}
                }
                // PSCI's entry state; elr, spsr, vbar, sctlr and mpidr stay.
                let v = self.vcpu_mut(t)?;
                v.x = [0; 31];
                v.x[0] = start.context_id;
                v.pc = start.entry;
                v.pstate = start.pstate(caller_pstate);
                if let Some(p) = self.power.get_mut(t) {
                    *p = true;
                }
                self.note(|| {
                    format!(
                        "vcpu{t} powered on at {:#x} (x0={:#x})",
                        start.entry, start.context_id
                    )
                });
            }
            Some(PowerAction::SystemOff) => self.system = Some(SystemRequest::Off),
            Some(PowerAction::SystemReset(_)) => self.system = Some(SystemRequest::Reset),
        }
        Ok(())
    }

    /// What a VMM does before it lets vCPUs run again: the concerned vCPU
    /// first, then every kicked one in ascending order (including those a
    /// delivery itself kicks), each asked once.
    fn delivery_step(&mut self, concerned: Option<usize>, kicks: &Kicks) -> Result<(), Stop> {
        let n = self.vcpus.len();
        self.delivered = vec![None; n];
        let mut visited = vec![false; n];
        let mut queue = BTreeSet::new();
        self.enqueue(kicks, &mut queue)?;
        let mut next = concerned;
        loop {
            let i = match next.take() {
                Some(i) => i,
                None => match queue.pop_first() {
                    Some(i) => i,
                    None => break,
                },
            };
            // A powered-off vCPU does not resume: nothing to ask.
            if visited.get(i).copied().unwrap_or(true)
                || !self.power.get(i).copied().unwrap_or(false)
            {
                continue;
            }
            if let Some(seen) = visited.get_mut(i) {
                *seen = true;
            }
            let Some(v) = self.vcpus.get(i) else { continue };
            let interrupted = Interrupted {
                x: v.call_regs(),
                pc: v.pc,
                pstate: v.pstate,
                sctlr_el1: v.sctlr,
            };
            let d = self
                .target()?
                .take_delivery(VcpuIndex(i as u32), &interrupted)
                .or_else(|e| {
                    fail(format!(
                        "expected the delivery check of vcpu{i} to succeed, got error: {e}"
                    ))
                })?;
            if let Some(d) = d {
                self.enter(i, &d)?;
                self.enqueue(&d.kicks, &mut queue)?;
            }
        }
        Ok(())
    }

    fn enqueue(&self, kicks: &Kicks, queue: &mut BTreeSet<usize>) -> Result<(), Stop> {
        let n = self.vcpus.len();
        if kicks.all() {
            queue.extend(0..n);
            return Ok(());
        }
        for k in kicks.ids() {
            if k.get() >= n {
                return fail(format!(
                    "expected kicks to name existing vCPUs, got vcpu{} (the vm has {n})",
                    k.0
                ));
            }
            queue.insert(k.get());
        }
        Ok(())
    }

    fn enter(&mut self, i: usize, d: &Delivery) -> Result<(), Stop> {
        let v = self.vcpu_mut(i)?;
        v.x[..4].copy_from_slice(&d.x);
        v.pc = d.pc;
        v.pstate = d.pstate;
        if let Some(slot) = self.delivered.get_mut(i) {
            *slot = Some(d.event);
        }
        self.note(|| {
            format!(
                "vcpu{i} <= SDEI event {} entered at {:#x} (x1={:#x}, interrupted pc={:#x} pstate={:#x}), pstate={:#x}",
                d.event, d.pc, d.x[1], d.x[2], d.x[3], d.pstate
            )
        });
        Ok(())
    }

    fn delivered_check(&mut self, on: &DeliveredOn, event: Option<&Value>) -> Result<(), Stop> {
        let want = event.map(|e| self.resolve_u32(e, "event")).transpose()?;
        let show = |e: Option<u32>| e.map_or("none".to_string(), |e| format!("event {e}"));
        match on {
            DeliveredOn::Vcpu(v) => {
                let i = self.vcpu_index(v)?;
                let got = self.delivered.get(i).copied().flatten();
                if got != want {
                    return fail(format!(
                        "expected delivered on vcpu{i}: {}, got {}",
                        show(want),
                        show(got)
                    ));
                }
            }
            DeliveredOn::Any => {
                let hits: Vec<usize> = (0..self.delivered.len())
                    .filter(|i| self.delivered.get(*i).copied().flatten() == want)
                    .collect();
                if hits.len() != 1 {
                    let got: Vec<String> = self
                        .delivered
                        .iter()
                        .enumerate()
                        .filter_map(|(i, e)| e.map(|e| format!("event {e} on vcpu{i}")))
                        .collect();
                    return fail(format!(
                        "expected {} entered on exactly one vCPU, got {}",
                        show(want),
                        if got.is_empty() {
                            "no delivery".to_string()
                        } else {
                            got.join(", ")
                        }
                    ));
                }
            }
        }
        Ok(())
    }

    fn restore(
        &mut self,
        name: &str,
        overrides: &[crate::config::Setting],
        expect_ok: bool,
    ) -> Result<(), Stop> {
        // The current server must exist (and the `vm` line must have built).
        self.target()?;
        let Some(bytes) = self.snapshots.get(name).cloned() else {
            return malformed(format!("no snapshot named {name}"));
        };
        let mut spec = self.trace.spec.clone();
        for s in overrides {
            spec.apply(s);
        }
        let mem = if spec.mem == self.mem.regions() {
            self.mem.clone()
        } else {
            Arc::new(self.mem.with_regions(spec.mem.clone()))
        };
        let n = spec.vcpus;
        let mpidrs: Vec<u64> = (0..n)
            .map(|i| {
                self.vcpus
                    .get(i as usize)
                    .map_or_else(|| SimVcpu::new(i).mpidr, |v| v.mpidr)
            })
            .collect();
        match (T::restore(&spec, &mpidrs, mem.clone(), &bytes), expect_ok) {
            (Ok(mut t), true) => {
                // The snapshot carries which vCPUs were on.
                let power = if spec.psci.is_some() {
                    t.powered_on().or_else(|e| {
                        fail(format!(
                            "expected the restored server to report its power state, got error: {e}"
                        ))
                    })?
                } else {
                    vec![true; n as usize]
                };
                if power.len() != n as usize {
                    return fail(format!(
                        "expected the power state of {n} vCPUs, got {}",
                        power.len()
                    ));
                }
                self.power = power;
                self.target = Some(t);
                self.mem = mem;
                self.vcpus.truncate(n as usize);
                for i in self.vcpus.len() as u32..n {
                    self.vcpus.push(SimVcpu::new(i));
                }
                self.spec = spec;
                self.note(|| format!("restore {name}: ok"));
                self.delivery_step(None, &Kicks::all_vcpus())
            }
            (Ok(_), false) => fail(format!(
                "expected the restore of {name} to be refused, got a restored server"
            )),
            (Err(e), true) => fail(format!(
                "expected the restore of {name} to succeed, got error: {e}"
            )),
            (Err(e), false) => {
                self.note(|| format!("restore {name}: refused as expected: {e}"));
                self.delivery_step(None, &Kicks::none())
            }
        }
    }
}

fn on_vcpu(v: Option<usize>) -> String {
    v.map(|i| format!(" on vcpu{i}")).unwrap_or_default()
}

/// `Kicks` has no public "all" constructor; build one by overflowing it.
trait KicksAll {
    fn all_vcpus() -> Kicks;
}

impl KicksAll for Kicks {
    fn all_vcpus() -> Kicks {
        let mut k = Kicks::none();
        for i in 0..=fwcall_smccc::call::KICKS_INLINE as u32 {
            k.add(VcpuIndex(i));
        }
        k
    }
}
