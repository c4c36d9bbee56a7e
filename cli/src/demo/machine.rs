//! The demo's VMM: vCPU register files, guest memory, and the exit loop
//! around fwcall (call, apply the outcome, ask for deliveries for the
//! vCPU served and the vCPUs kicked).

use super::DemoResult;
use super::ui::{Style, Ui};
use fwcall::pvtime::lpt::LptRecord;
use fwcall::{Call, Conduit, FunctionId, Interrupted, Kicks, VcpuIndex, VmConfig, ids};
use fwcall_conformance::decode;
use fwcall_conformance::memory::SimMemory;
use fwcall_conformance::recorder::RecordingVm;
use fwcall_conformance::vcpu::SimVcpu;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

type DemoVm = RecordingVm<Arc<SimMemory>, Box<dyn Write>>;

/// Calls of one function: how many, and how long fwcall took.
#[derive(Default)]
struct Timing {
    calls: usize,
    total: Duration,
    max: Duration,
}

pub(super) struct Machine<'o> {
    vm: DemoVm,
    mem: Arc<SimMemory>,
    pub(super) cpus: Vec<SimVcpu>,
    pub(super) ui: Ui<'o>,
    timings: BTreeMap<String, Timing>,
    delivered: BTreeMap<u32, usize>,
}

impl<'o> Machine<'o> {
    pub(super) fn new(vm: DemoVm, mem: Arc<SimMemory>, ui: Ui<'o>) -> Self {
        let n = vm.vm().vcpu_count();
        Machine {
            vm,
            mem,
            cpus: (0..n as u32).map(SimVcpu::new).collect(),
            ui,
            timings: BTreeMap::new(),
            delivered: BTreeMap::new(),
        }
    }

    pub(super) fn cpu(&self, i: usize) -> &SimVcpu {
        &self.cpus[i]
    }

    /// What the guest was doing: PC, PSTATE and x0.. before the next event.
    pub(super) fn set(&mut self, i: usize, pc: u64, pstate: u64, x: &[u64]) {
        let c = &mut self.cpus[i];
        c.pc = pc;
        c.pstate = pstate;
        c.x[..x.len()].copy_from_slice(x);
    }

    pub(super) fn set_pc(&mut self, i: usize, pc: u64) {
        self.cpus[i].pc = pc;
    }

    /// Guest memory, little-endian.
    pub(super) fn read(&self, addr: u64, bytes: usize) -> u64 {
        self.mem.read_le(addr, bytes).unwrap_or(u64::MAX)
    }

    pub(super) fn stolen_ns(&self, i: usize) -> u64 {
        self.vm
            .vm()
            .vcpu(VcpuIndex(i as u32))
            .map_or(0, |v| v.stolen_ns())
    }

    pub(super) fn lpt(&self) -> LptRecord {
        super::read_lpt(&self.mem).unwrap_or_else(|| {
            LptRecord::new(0, 0, 0, &fwcall::pvtime::lpt::Coefficients::IDENTITY)
        })
    }

    /// What the guest's counter reads when the host counter shows `native`.
    pub(super) fn guest_counter(&self, native: u64) -> u64 {
        super::guest_pv(&self.mem, native).unwrap_or(0)
    }

    /// The guest on vCPU `i` makes an HVC: the exit handler hands the
    /// registers to fwcall, applies the outcome, and asks for deliveries.
    /// Returns x0 afterwards.
    pub(super) fn call(&mut self, i: usize, fid: FunctionId, args: &[u64]) -> u64 {
        self.call_inner(i, fid, args, None)
    }

    /// A call whose x0 must be `want`; the check shows on the call's line.
    pub(super) fn call_expect(
        &mut self,
        i: usize,
        fid: FunctionId,
        args: &[u64],
        want: u64,
    ) -> u64 {
        self.call_inner(i, fid, args, Some(want))
    }

    fn call_inner(&mut self, i: usize, fid: FunctionId, args: &[u64], want: Option<u64>) -> u64 {
        let c = &mut self.cpus[i];
        c.x[0] = u64::from(fid.raw());
        c.x[1..=args.len()].copy_from_slice(args);
        let call = Call {
            x: c.call_regs(),
            conduit: Conduit::Hvc,
        };
        let t = Instant::now();
        let outcome = self.vm.handle(VcpuIndex(i as u32), &call);
        let took = t.elapsed();
        let Ok(outcome) = outcome else {
            self.ui.check(false, &format!("cpu{i} does not exist"));
            return u64::MAX;
        };
        let name = ids::name(fid).unwrap_or("unknown").to_string();
        let e = self.timings.entry(name).or_default();
        e.calls += 1;
        e.total += took;
        e.max = e.max.max(took);
        self.cpus[i].apply(&outcome.reply);
        let line = format!(
            "{} -> {}",
            decode::call(&call),
            decode::reply(&call, &outcome.reply)
        );
        let x0 = self.cpus[i].x[0];
        let verdict = want.map(|w| {
            (
                x0 == w,
                format!(
                    "expected x0 = {}, got {}",
                    fwcall_conformance::recorder::value(w),
                    fwcall_conformance::recorder::value(x0)
                ),
            )
        });
        self.ui.call_line(&format!("cpu{i}"), &line, verdict);
        self.step(Some(i), &outcome.kicks);
        x0
    }

    /// The VMM raises a platform event; returns the vCPU that entered a
    /// handler for it, if any.
    pub(super) fn raise(&mut self, event: u32, target: Option<usize>, why: &str) -> Option<usize> {
        let on = target.map(|t| format!(" on cpu{t}")).unwrap_or_default();
        self.ui
            .event("vmm", Style::Vmm, &format!("{why}: raise({event:#x}){on}"));
        match self.vm.raise(event, target.map(|t| VcpuIndex(t as u32))) {
            Ok(kicks) => {
                if !kicks.is_empty() {
                    let named: Vec<String> =
                        kicks.ids().iter().map(|k| format!("cpu{}", k.0)).collect();
                    let who = if kicks.all() {
                        "every vCPU".into()
                    } else {
                        named.join(", ")
                    };
                    self.ui
                        .event("vmm", Style::Dim, &format!("kicks {who} out of the guest"));
                }
                self.step(target, &kicks)
                    .into_iter()
                    .find(|(_, e)| *e == event)
                    .map(|(cpu, _)| cpu)
            }
            Err(e) => {
                self.ui
                    .check(false, &format!("raise({event:#x}) refused: {e}"));
                None
            }
        }
    }

    /// Checks a handler entry on vCPU `i`.
    pub(super) fn expect_entry(
        &mut self,
        i: usize,
        event: u32,
        entry: u64,
        arg: u64,
        pc: u64,
        pstate: u64,
    ) {
        let c = self.cpus[i].clone();
        let ok = c.pc == entry
            && c.x[0] == u64::from(event)
            && c.x[1] == arg
            && c.x[2] == pc
            && c.x[3] == pstate;
        self.ui.check(
            ok,
            &format!(
                "cpu{i} entered event {event:#x} at its handler with x1 = its argument, x2/x3 = the interrupted PC/PSTATE \
                 (got pc={:#x} x0={:#x} x1={:#x} x2={:#x} x3={:#x})",
                c.pc, c.x[0], c.x[1], c.x[2], c.x[3]
            ),
        );
        self.ui
            .check_eq("handler PSTATE: EL1h, DAIF masked", c.pstate & 0x3cf, 0x3c5);
    }

    /// The VMM accounts stolen time for vCPU `i`.
    pub(super) fn steal(&mut self, i: usize, ns: u64) {
        if let Err(e) = self.vm.account_steal(VcpuIndex(i as u32), ns) {
            self.ui
                .check(false, &format!("account_steal on cpu{i} failed: {e}"));
        }
        self.step(Some(i), &Kicks::none());
    }

    /// What a VMM does before resuming vCPUs: the served vCPU first, then
    /// every kicked one in ascending order, each asked once. Returns the
    /// handler entries made.
    fn step(&mut self, concerned: Option<usize>, kicks: &Kicks) -> Vec<(usize, u32)> {
        let n = self.cpus.len();
        let mut queue = BTreeSet::new();
        let add = |q: &mut BTreeSet<usize>, k: &Kicks| {
            if k.all() {
                q.extend(0..n);
            }
            q.extend(k.ids().iter().map(|v| v.get()).filter(|v| *v < n));
        };
        add(&mut queue, kicks);
        let mut seen = vec![false; n];
        let mut next = concerned;
        let mut entered = Vec::new();
        while let Some(i) = next.take().or_else(|| queue.pop_first()) {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let v = VcpuIndex(i as u32);
            if !self.vm.has_pending_delivery(v) {
                continue;
            }
            let c = &self.cpus[i];
            let now = Interrupted {
                x: c.call_regs(),
                pc: c.pc,
                pstate: c.pstate,
                sctlr_el1: c.sctlr,
            };
            let Some(d) = self.vm.take_delivery(v, &now) else {
                continue;
            };
            let c = &mut self.cpus[i];
            c.x[..4].copy_from_slice(&d.x);
            c.pc = d.pc;
            c.pstate = d.pstate;
            *self.delivered.entry(d.event).or_default() += 1;
            entered.push((i, d.event));
            self.ui.event(
                &format!("cpu{i}"),
                Style::Delivery,
                &format!(
                    "<= SDEI event {:#x} entered at {:#x} (arg {:#x}; interrupted pc {:#x}, pstate {:#x})",
                    d.event, d.pc, d.x[1], d.x[2], d.x[3]
                ),
            );
            add(&mut queue, &d.kicks);
        }
        entered
    }

    pub(super) fn snapshot(&mut self) -> Option<Vec<u8>> {
        match self.vm.snapshot() {
            Ok(b) => Some(b),
            Err(e) => {
                self.ui.check(false, &format!("snapshot failed: {e}"));
                None
            }
        }
    }

    /// Restores `blob` into a VM built from `config` over a copy of the
    /// guest memory (the destination), then resumes every vCPU.
    pub(super) fn restore(&mut self, config: VmConfig, blob: &[u8]) {
        let dest = Arc::new(self.mem.with_regions(self.mem.regions().to_vec()));
        match self.vm.restore(config, dest.clone(), blob) {
            Ok(()) => {
                self.mem = dest;
                self.ui.event(
                    "vmm",
                    Style::Vmm,
                    "Vm::restore(destination config, memory, snapshot), then start(), before any vCPU runs",
                );
                self.ui.check(true, "the destination accepted the snapshot");
                self.step(None, &all(self.cpus.len()));
            }
            Err(e) => self.ui.check(false, &format!("restore refused: {e}")),
        }
    }

    pub(super) fn summary(&mut self, elapsed: Duration, recording: bool) {
        self.ui.heading("9. Summary");
        let calls: usize = self.timings.values().map(|t| t.calls).sum();
        let total: Duration = self.timings.values().map(|t| t.total).sum();
        let max = self
            .timings
            .values()
            .map(|t| t.max)
            .max()
            .unwrap_or_default();
        let mean = total.checked_div(calls.max(1) as u32).unwrap_or_default();
        self.ui.event(
            "",
            Style::Actor,
            &format!(
                "calls served: {calls} ({} functions); time in fwcall per call: mean {}, max {} (single calls from cold caches{})",
                self.timings.len(),
                show(mean),
                show(max),
                if recording {
                    " (including the recorder)"
                } else {
                    ""
                }
            ),
        );
        let rows: Vec<String> = self
            .timings
            .iter()
            .map(|(name, t)| {
                let mean = t
                    .total
                    .checked_div(t.calls.max(1) as u32)
                    .unwrap_or_default();
                format!(
                    "  {name:<32} {:>3} call{}  mean {:>8}",
                    t.calls,
                    if t.calls == 1 { " " } else { "s" },
                    show(mean)
                )
            })
            .collect();
        for r in rows {
            self.ui.event("", Style::Dim, &r);
        }
        let delivered: usize = self.delivered.values().sum();
        let by_event: Vec<String> = self
            .delivered
            .iter()
            .map(|(e, n)| format!("{e:#x} x{n}"))
            .collect();
        self.ui.event(
            "",
            Style::Actor,
            &format!("events delivered: {delivered} ({})", by_event.join(", ")),
        );
        let failed = self.ui.failures.len();
        let verdict = if failed == 0 {
            self.ui
                .paint(Style::Ok, "PASS: every step behaved as expected")
        } else {
            self.ui
                .paint(Style::Fail, &format!("FAIL: {failed} checks did not hold"))
        };
        self.ui.event(
            "",
            Style::Actor,
            &format!(
                "checks: {} passed, {failed} failed; wall time {}",
                self.ui.passed,
                show(elapsed)
            ),
        );
        self.ui.line(&format!("  {verdict}"));
    }

    pub(super) fn finish(self) -> DemoResult {
        let calls = self.timings.values().map(|t| t.calls).sum();
        let deliveries = self.delivered.values().sum();
        let mut failures = self.ui.failures;
        if let Err(e) = self.vm.finish() {
            failures.push(format!("writing the recording failed: {e}"));
        }
        DemoResult {
            passed: self.ui.passed,
            failures,
            calls,
            deliveries,
        }
    }
}

fn all(n: usize) -> Kicks {
    let mut k = Kicks::none();
    for i in 0..n {
        k.add(VcpuIndex(i as u32));
    }
    k
}

fn show(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}
