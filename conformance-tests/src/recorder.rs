//! The trace recorder: a wrapper a VMM puts around its `fwcall::Vm` to
//! write everything it does to fwcall as an fwtrace, with what fwcall
//! answered as the expectations. Attach the file to a bug report; anyone
//! replays it with `fwcall replay FILE`.
//!
//! ```
//! use fwcall::{Call, NoMemory, VcpuIndex, Vm, VmConfig, ids};
//! use fwcall_conformance::recorder::RecordingVm;
//!
//! let vm = Vm::new(VmConfig::new(2), NoMemory).unwrap();
//! let rec = RecordingVm::new(vm, Vec::new());
//! rec.handle(VcpuIndex(1), &Call::new(ids::SDEI_VERSION, &[])).unwrap();
//! let (_vm, trace) = rec.finish().unwrap();
//! let text = String::from_utf8(trace.unwrap()).unwrap();
//! assert!(text.contains("\ncall 1 0xc4000020 -> 0x1000100667763\n"));
//! ```
//!
//! # How the recording stays replayable
//!
//! The replayer plays the VMM with its own register file per vCPU, and
//! runs its delivery step right after each directive, for the vCPU the
//! directive concerned and for the vCPUs it kicked (fwtrace, "The simulated
//! vCPU"). The recorder keeps the same register file (its *shadow*) and
//! remembers, per vCPU, the last directive whose step asks that vCPU. When
//! the VMM's own delivery check enters an event, the recorder writes
//! `set` lines for whatever differs between the VMM's registers and the
//! shadow *before* that directive, and the `delivered`/`expect` checks
//! right after it, so the replayer enters the handler at the same point
//! with the same interrupted context. This holds for a VMM that asks where
//! fwcall's contract says to ask: the vCPU it just served and the vCPUs an
//! outcome named to kick. A delivery found elsewhere is written with a
//! `# note:` so a failed replay says why.
//!
//! Lines are buffered only as far back as the oldest such directive still
//! open; everything older is written at once.

use crate::vcpu::SimVcpu;
use fwcall::snapshot::{RestoreError, SnapshotError};
use fwcall::{
    Call, Conduit, Delivery, EventKind, Gpa, GuestMemoryAccess, Interrupted, IrqOutcome, Kicks,
    MemoryError, Mpidr, Outcome, PowerAction, Priority, RaiseError, Reply, VcpuError, VcpuIndex,
    Vm, VmConfig,
};
use fwcall_smccc::CALL_REGS;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard};

/// Formats a value the way a person writes a trace: small negative
/// numbers (error codes) in decimal, small numbers in decimal, the rest in
/// hexadecimal.
pub fn value(v: u64) -> String {
    let s = v as i64;
    if (-0x100..0).contains(&s) {
        s.to_string()
    } else if v < 10 {
        v.to_string()
    } else {
        format!("{v:#x}")
    }
}

/// How many argument registers (x1..) a known function reads.
fn arity(fid: fwcall::FunctionId) -> usize {
    use fwcall::ids::*;
    match fid.without_sve_hint() {
        SDEI_EVENT_REGISTER => 5,
        SDEI_EVENT_ROUTING_SET => 3,
        SDEI_EVENT_GET_INFO | SDEI_EVENT_SIGNAL => 2,
        SMCCC_ARCH_FEATURES
        | SMCCC_ARCH_SOC_ID
        | SMCCC_ARCH_SOC_ID_64
        | SMCCC_ARCH_WORKAROUND_2
        | SDEI_EVENT_ENABLE
        | SDEI_EVENT_DISABLE
        | SDEI_EVENT_CONTEXT
        | SDEI_EVENT_COMPLETE
        | SDEI_EVENT_COMPLETE_AND_RESUME
        | SDEI_EVENT_UNREGISTER
        | SDEI_EVENT_STATUS
        | SDEI_INTERRUPT_BIND
        | SDEI_INTERRUPT_RELEASE
        | SDEI_FEATURES
        | PV_TIME_FEATURES => 1,
        // PSCI, TRNG and the rest: the register budget (one source).
        other => fwcall::smccc::budget::lookup(other).map_or(0, |b| usize::from(b.args)),
    }
}

/// For a successful `TRNG_RND32`/`TRNG_RND64` reply, the bits of `X1..X3`
/// that must be zero (index 1..=3; `X0` is checked exactly): the entropy
/// itself differs between the recording and the replay.
fn entropy_layout(call: &Call, regs: &[u64]) -> Option<[Option<u64>; 4]> {
    use fwcall::ids::{TRNG_RND32, TRNG_RND64};
    let fid = call.fid().without_sve_hint();
    let (width, max) = match fid {
        TRNG_RND32 => (32u32, 96u32),
        TRNG_RND64 => (64, 192),
        _ => return None,
    };
    let bits = call.x[1] as u32;
    if regs.first() != Some(&0) || bits == 0 || bits > max {
        return None;
    }
    let mut zero = [None; 4];
    // X3 holds the lowest bits, then X2, then X1.
    for (k, slot) in zero.iter_mut().skip(1).enumerate() {
        let low = (2 - k as u32) * width;
        let valid = bits.saturating_sub(low).min(width);
        let keep = if valid == 64 {
            u64::MAX
        } else {
            (1u64 << valid) - 1
        };
        *slot = Some(!keep);
    }
    Some(zero)
}

/// The `vm` keys (in fwtrace's order) that describe `config`, and notes on
/// whatever fwtrace cannot express.
pub fn vm_keys(config: &VmConfig) -> (Vec<(&'static str, String)>, Vec<String>) {
    let mut keys = Vec::new();
    let mut notes = Vec::new();
    keys.push(("vcpus", config.vcpu_count().to_string()));
    keys.push(("smccc", config.smccc_version.to_string()));
    match &config.sdei {
        None => keys.push(("sdei", "off".into())),
        Some(s) => {
            keys.push((
                "sdei",
                match s.version {
                    fwcall::SdeiVersion::V1_0 => "1.0".into(),
                    _ => "1.1".into(),
                },
            ));
            keys.push(("sdei_private_slots", s.private_slots.to_string()));
            keys.push(("sdei_shared_slots", s.shared_slots.to_string()));
            let f = s.cpu_features;
            let names: Vec<&str> = [
                (fwcall::CpuFeatures::PAN, "pan"),
                (fwcall::CpuFeatures::SSBS, "ssbs"),
                (fwcall::CpuFeatures::MTE, "mte"),
                (fwcall::CpuFeatures::BTI, "bti"),
                (fwcall::CpuFeatures::NMI, "nmi"),
            ]
            .into_iter()
            .filter(|(flag, _)| f.contains(*flag))
            .map(|(_, n)| n)
            .collect();
            keys.push((
                "features",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(",")
                },
            ));
        }
    }
    let pv = &config.pvtime;
    keys.push(("pvtime", if pv.enabled { "on" } else { "off" }.into()));
    if let Some(b) = pv.stolen_time_base {
        keys.push(("pvtime_ipa", format!("{:#x}", b.0)));
    }
    match &pv.lpt {
        Some(l) => {
            keys.push(("lpt", "on".into()));
            keys.push(("lpt_ipa", format!("{:#x}", l.ipa.0)));
            keys.push(("pv_hz", l.pv_hz.to_string()));
        }
        None => keys.push(("lpt", "off".into())),
    }
    keys.push(("native_hz", pv.native_hz.to_string()));
    if config.ram.len() == 1 {
        let regions: Vec<String> = config
            .ram
            .iter()
            .chain(&config.reserved)
            .map(|r| format!("{:#x}:{:#x}", r.base.0, r.size))
            .collect();
        keys.push(("mem", regions.join(",")));
    } else {
        notes.push(format!(
            "the VM declares {} RAM regions; fwtrace's `mem` has exactly one (the replay uses its default RAM)",
            config.ram.len()
        ));
    }
    match &config.psci {
        None => keys.push(("psci", "off".into())),
        Some(p) => {
            keys.push(("psci", p.version.to_string()));
            // fwtrace's `boot` is a count: vCPUs 0..boot-1.
            let k = p.boot.len();
            let prefix = p.boot.iter().enumerate().all(|(i, v)| v.get() == i);
            if prefix && k >= 1 {
                keys.push(("boot", k.to_string()));
            } else {
                notes.push(format!(
                    "PSCI boots vCPUs {:?}; fwtrace's `boot` names vCPUs 0..N-1 only (the replay boots vCPU 0)",
                    p.boot.iter().map(|v| v.get()).collect::<Vec<_>>()
                ));
            }
        }
    }
    match &config.trng {
        None => keys.push(("trng", "off".into())),
        Some(t) => {
            keys.push(("trng", "on".into()));
            if *t != fwcall::TrngConfig::default() {
                notes.push("TRNG has a UUID of its own; fwtrace cannot say so (the replay answers with the default UUID)".into());
            }
        }
    }
    // fwcall's extension keys, in KVM's firmware-register levels.
    let w = &config.workarounds;
    keys.push(("workaround_1", (w.wa1 as u8).to_string()));
    keys.push(("workaround_2", (w.wa2 as u8).to_string()));
    keys.push(("workaround_3", (w.wa3 as u8).to_string()));
    keys.push((
        "soc_id",
        match &config.soc_id {
            None => "off".into(),
            Some(s) => format!("{:#x}:{:#x}", s.version, s.revision),
        },
    ));
    (keys, notes)
}

/// Per-vCPU bookkeeping: the replayer's view of its registers, and the
/// absolute line number of the last directive whose delivery step asks it.
#[derive(Debug)]
struct Shadow {
    regs: SimVcpu,
    ask: Option<usize>,
}

/// The recording core: turns VMM events into fwtrace lines. [`RecordingVm`]
/// drives it; use it directly only to record a server of your own.
#[derive(Debug)]
pub struct Recorder<W: Write> {
    out: W,
    /// Lines not yet written; `lines[0]` has absolute number `written`.
    lines: VecDeque<String>,
    written: usize,
    vcpus: Vec<Shadow>,
    /// The `vm` line's keys, for `restore` overrides.
    base_keys: Vec<(&'static str, String)>,
    snapshots: Vec<(String, Vec<u8>)>,
    error: Option<io::Error>,
}

impl<W: Write> Recorder<W> {
    /// Starts a trace for a VM built from `config`: a header, the `vm`
    /// line, its `event` lines, and `set mpidr=` for MPIDRs that are not
    /// KVM's defaults.
    pub fn new(config: &VmConfig, out: W) -> Self {
        let (keys, notes) = vm_keys(config);
        let n = config.vcpu_count();
        let mut r = Recorder {
            out,
            lines: VecDeque::new(),
            written: 0,
            vcpus: (0..n)
                .map(|i| Shadow {
                    regs: SimVcpu::new(i as u32),
                    ask: None,
                })
                .collect(),
            base_keys: keys.clone(),
            snapshots: Vec::new(),
            error: None,
        };
        r.push(format!(
            "# Recorded by fwcall-conformance {} (RecordingVm). Replay: fwcall replay FILE",
            env!("CARGO_PKG_VERSION")
        ));
        for note in notes {
            r.push(format!("# note: {note}"));
        }
        let kv: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
        r.push(format!("vm {}", kv.join(" ")));
        if let Some(s) = &config.sdei {
            for e in &s.events {
                let kind = match e.kind {
                    EventKind::Private => "private",
                    EventKind::Shared => "shared",
                };
                let prio = match e.priority {
                    Priority::Normal => "normal",
                    Priority::Critical => "critical",
                };
                r.push(format!(
                    "event {} {kind} {prio}",
                    value(u64::from(e.number))
                ));
            }
        }
        for (i, m) in config.mpidrs.iter().enumerate() {
            if *m != Mpidr::kvm_default(i as u32) {
                r.push(format!("set {i} mpidr={:#x}", m.0));
                if let Some(s) = r.vcpus.get_mut(i) {
                    s.regs.mpidr = m.0;
                }
            }
        }
        r.flush_settled();
        r
    }

    /// The absolute number the next line gets.
    fn end(&self) -> usize {
        self.written + self.lines.len()
    }

    fn push(&mut self, line: String) -> usize {
        self.lines.push_back(line);
        self.end() - 1
    }

    /// Inserts `new` before absolute line `at`, moving later ask points.
    fn insert(&mut self, at: usize, new: Vec<String>) {
        let k = new.len();
        if k == 0 {
            return;
        }
        let rel = at.saturating_sub(self.written).min(self.lines.len());
        for (j, l) in new.into_iter().enumerate() {
            self.lines.insert(rel + j, l);
        }
        for s in &mut self.vcpus {
            if let Some(a) = s.ask.as_mut()
                && *a >= at
            {
                *a += k;
            }
        }
    }

    /// Removes the `expect V ...` lines among the checks that follow
    /// absolute line `at`, moving later ask points back.
    fn drop_checks_after(&mut self, at: usize, v: VcpuIndex) {
        let prefix = format!("expect {} ", v.0);
        let mut rel = at.saturating_sub(self.written) + 1;
        while let Some(l) = self.lines.get(rel) {
            let is_check =
                l.starts_with("expect ") || l.starts_with("delivered ") || l.starts_with("mem ");
            if !is_check || l.contains(" = ") {
                break;
            }
            if l.starts_with(&prefix) {
                self.lines.remove(rel);
                let gone = self.written + rel;
                for s in &mut self.vcpus {
                    if let Some(a) = s.ask.as_mut()
                        && *a > gone
                    {
                        *a -= 1;
                    }
                }
            } else {
                rel += 1;
            }
        }
    }

    /// Writes every line no open directive can need again.
    fn flush_settled(&mut self) {
        let keep = self
            .vcpus
            .iter()
            .filter_map(|s| s.ask)
            .min()
            .unwrap_or_else(|| self.end());
        while self.written < keep {
            let Some(l) = self.lines.pop_front() else {
                break;
            };
            self.written += 1;
            if self.error.is_none()
                && let Err(e) = writeln!(self.out, "{l}")
            {
                self.error = Some(e);
            }
        }
    }

    fn shadow(&mut self, v: VcpuIndex) -> Option<&mut Shadow> {
        self.vcpus.get_mut(v.get())
    }

    /// Marks line `at` as the delivery point of `v` and of every vCPU in
    /// `kicks`.
    fn asks(&mut self, at: usize, v: Option<VcpuIndex>, kicks: &Kicks) {
        if kicks.all() {
            for s in &mut self.vcpus {
                s.ask = Some(at);
            }
        }
        for k in v.iter().chain(kicks.ids()) {
            if let Some(s) = self.shadow(*k) {
                s.ask = Some(at);
            }
        }
    }

    /// The VMM found nothing to enter on `v`: until a new directive asks it,
    /// no earlier line can need changing for it.
    pub fn settled(&mut self, v: VcpuIndex) {
        if let Some(s) = self.shadow(v) {
            s.ask = None;
        }
        self.flush_settled();
    }

    /// Writes a comment.
    pub fn note(&mut self, text: &str) {
        for l in text.lines() {
            self.push(format!("# {l}"));
        }
        self.flush_settled();
    }

    /// Records a call and its outcome.
    pub fn call(&mut self, v: VcpuIndex, call: &Call, outcome: &Outcome) {
        let Some(s) = self.shadow(v) else { return };
        // The function's own arguments, for the reader, and every register
        // the replayer would otherwise get wrong.
        let last = (1..CALL_REGS)
            .rev()
            .find(|&i| call.x[i] != s.regs.x[i])
            .unwrap_or(0)
            .max(arity(call.fid()));
        s.regs.x[..CALL_REGS].copy_from_slice(&call.x);
        let mut line = format!(
            "{} {} {:#x}",
            if call.conduit == Conduit::Smc {
                "smc"
            } else {
                "call"
            },
            v.0,
            call.x[0]
        );
        for a in &call.x[1..=last] {
            line.push(' ');
            line.push_str(&value(*a));
        }
        let mut after = Vec::new();
        match &outcome.reply {
            Reply::Return { regs, count } => {
                let n = usize::from(*count).min(CALL_REGS);
                s.regs.x[..n].copy_from_slice(&regs[..n]);
                let random = entropy_layout(call, regs);
                if n > 0 {
                    line.push_str(" ->");
                    for (i, r) in regs[..n.min(4)].iter().enumerate() {
                        line.push(' ');
                        match random.and_then(|z| z.get(i).copied().flatten()) {
                            // Entropy: only the bits that must be zero are
                            // checked (the replayer's source differs).
                            Some(0) => line.push('_'),
                            Some(zero) => line.push_str(&format!("0/{zero:#x}")),
                            None => line.push_str(&value(*r)),
                        }
                    }
                }
                if random.is_some() {
                    // The replayer holds other values there: make any later
                    // use of them differ from the shadow, so it is written.
                    for r in s.regs.x[1..4].iter_mut() {
                        *r = !*r;
                    }
                }
                if n > 4 {
                    let rest: Vec<String> =
                        (4..n).map(|i| format!("x{i}={}", value(regs[i]))).collect();
                    after.push(format!("expect {} {}", v.0, rest.join(" ")));
                }
            }
            Reply::Restore(ctx) => {
                s.regs.x[..CALL_REGS].copy_from_slice(&ctx.x);
                s.regs.pc = ctx.pc;
                s.regs.pstate = ctx.pstate;
                let mut e = format!("expect {} pc={:#x} pstate={:#x}", v.0, ctx.pc, ctx.pstate);
                if let Some(el1) = ctx.el1 {
                    s.regs.elr = el1.elr;
                    s.regs.spsr = el1.spsr;
                    e.push_str(&format!(" elr={:#x} spsr={:#x}", el1.elr, el1.spsr));
                }
                for i in 0..4 {
                    e.push_str(&format!(" x{i}={}", value(ctx.x[i])));
                }
                after.push(e);
            }
            Reply::Nothing => {}
        }
        let caller_pstate = s.regs.pstate;
        // What the replayer does with a power outcome, in its register file.
        match outcome.power {
            Some(PowerAction::CpuOn(start)) => {
                if let Some(t) = self.shadow(start.target) {
                    t.regs.x = [0; 31];
                    t.regs.x[0] = start.context_id;
                    t.regs.pc = start.entry;
                    t.regs.pstate = start.pstate(caller_pstate);
                }
                after.push(format!("expect {} power=on", start.target.0));
            }
            Some(PowerAction::CpuOff) => after.push(format!("expect {} power=off", v.0)),
            Some(PowerAction::SystemOff) => after.push("system off".into()),
            Some(PowerAction::SystemReset(_)) => after.push("system reset".into()),
            Some(PowerAction::Standby) | None => {}
        }
        let at = self.push(line);
        for l in after {
            self.push(l);
        }
        self.asks(at, Some(v), &outcome.kicks);
        self.flush_settled();
    }

    /// Records the VMM's whole-VM reset (after a `SYSTEM_RESET`): the
    /// replayer resets every vCPU's registers (keeping MPIDRs) and powers
    /// on the boot vCPUs.
    pub fn vm_reset(&mut self) {
        self.push("vm-reset".into());
        for (i, s) in self.vcpus.iter_mut().enumerate() {
            let mpidr = s.regs.mpidr;
            s.regs = SimVcpu::new(i as u32);
            s.regs.mpidr = mpidr;
            s.ask = None;
        }
        self.flush_settled();
    }

    /// Records the VMM's delivery check on `v` and what it entered.
    pub fn delivery(&mut self, v: VcpuIndex, now: &Interrupted, d: Option<&Delivery>) {
        let Some(d) = d else {
            self.settled(v);
            return;
        };
        let Some(s) = self.shadow(v) else { return };
        let mut sets = Vec::new();
        for i in 0..CALL_REGS {
            if now.x[i] != s.regs.x[i] {
                sets.push(format!("x{i}={}", value(now.x[i])));
            }
        }
        for (name, new, old) in [
            ("pc", now.pc, s.regs.pc),
            ("pstate", now.pstate, s.regs.pstate),
            ("sctlr", now.sctlr_el1, s.regs.sctlr),
        ] {
            if new != old {
                sets.push(format!("{name}={new:#x}"));
            }
        }
        s.regs.x[..CALL_REGS].copy_from_slice(&now.x);
        s.regs.pc = now.pc;
        s.regs.pstate = now.pstate;
        s.regs.sctlr = now.sctlr_el1;
        s.regs.x[..4].copy_from_slice(&d.x);
        s.regs.pc = d.pc;
        s.regs.pstate = d.pstate;
        let checks = vec![
            format!("delivered {} {}", v.0, value(u64::from(d.event))),
            format!(
                "expect {} pc={:#x} pstate={:#x} x0={} x1={} x2={} x3={}",
                v.0,
                d.pc,
                d.pstate,
                value(d.x[0]),
                value(d.x[1]),
                value(d.x[2]),
                value(d.x[3])
            ),
        ];
        let ask = s.ask;
        match ask {
            Some(at) => {
                let set = if sets.is_empty() {
                    Vec::new()
                } else {
                    vec![format!("set {} {}", v.0, sets.join(" "))]
                };
                let moved = set.len();
                self.insert(at, set);
                let at = at + moved;
                // An `expect` this directive left for `v` (a completion's
                // restored context) described the registers before the
                // entry; the replayer checks after it, so it goes.
                self.drop_checks_after(at, v);
                self.insert(at + 1, checks);
                let kicks = d.kicks.clone();
                self.asks(at, None, &kicks);
            }
            None => {
                self.push(format!(
                    "# note: vcpu{} entered event {} at a point where the replayer does not ask it; the replay may differ here",
                    v.0, d.event
                ));
                if !sets.is_empty() {
                    self.push(format!("set {} {}", v.0, sets.join(" ")));
                }
                for c in checks {
                    self.push(c);
                }
            }
        }
        self.flush_settled();
    }

    /// Records a `raise`.
    pub fn raise(&mut self, event: u32, v: Option<VcpuIndex>, result: &Result<Kicks, RaiseError>) {
        let target = v.map(|v| format!(" {}", v.0)).unwrap_or_default();
        match result {
            Ok(kicks) => {
                let at = self.push(format!("raise {}{target}", value(u64::from(event))));
                self.asks(at, v, kicks);
            }
            Err(e) => {
                self.push(format!(
                    "# raise {}{target} refused: {e}",
                    value(u64::from(event))
                ));
            }
        }
        self.flush_settled();
    }

    /// Records an interrupt report.
    pub fn irq(&mut self, intid: u32, v: Option<VcpuIndex>, outcome: &IrqOutcome) {
        let target = v.map(|v| format!(" {}", v.0)).unwrap_or_default();
        let at = self.push(format!("irq {intid}{target}"));
        let kicks = match outcome {
            IrqOutcome::NotBound => Kicks::none(),
            IrqOutcome::Sdei(k) => k.clone(),
        };
        self.asks(at, v, &kicks);
        self.flush_settled();
    }

    /// Records a vCPU reset: the replayer resets its registers too.
    pub fn reset(&mut self, v: VcpuIndex, kicks: &Kicks) {
        let at = self.push(format!("vcpu-reset {}", v.0));
        if let Some(s) = self.shadow(v) {
            let mpidr = s.regs.mpidr;
            s.regs = SimVcpu::new(v.0);
            s.regs.mpidr = mpidr;
        }
        self.asks(at, Some(v), kicks);
        self.flush_settled();
    }

    /// Records steal accounting and, when known, the record's new value.
    pub fn steal(
        &mut self,
        v: VcpuIndex,
        ns: u64,
        result: &Result<u64, MemoryError>,
        record: Option<(Gpa, u64)>,
    ) {
        match result {
            Ok(_) => {
                let at = self.push(format!("steal {} {ns}", v.0));
                if let Some((addr, stored)) = record {
                    self.push(format!("mem {:#x} u64 == {}", addr.0, value(stored)));
                }
                self.asks(at, Some(v), &Kicks::none());
            }
            Err(e) => {
                self.push(format!("# steal {} {ns} failed: {e}", v.0));
            }
        }
        self.flush_settled();
    }

    /// Records a snapshot; returns the name it was saved under.
    pub fn snapshot(&mut self, result: &Result<Vec<u8>, SnapshotError>) -> Option<String> {
        match result {
            Ok(blob) => {
                let name = format!("snap{}", self.snapshots.len());
                self.push(format!("snapshot {name}"));
                self.snapshots.push((name.clone(), blob.clone()));
                self.flush_settled();
                Some(name)
            }
            Err(e) => {
                self.note(&format!("snapshot failed: {e}"));
                None
            }
        }
    }

    /// Records a restore of `blob` into a VM built from `config`, and the
    /// guest-memory values `checks` read afterwards (`addr`, width in
    /// bytes, value).
    pub fn restore(
        &mut self,
        config: &VmConfig,
        blob: &[u8],
        ok: Result<(), &dyn std::fmt::Display>,
        checks: &[(u64, usize, u64)],
    ) {
        let Some(name) = self
            .snapshots
            .iter()
            .find(|(_, b)| b.as_slice() == blob)
            .map(|(n, _)| n.clone())
        else {
            self.note(
                "restore of a snapshot this recording did not take: fwtrace cannot express it",
            );
            return;
        };
        let (keys, notes) = vm_keys(config);
        for n in notes {
            self.push(format!("# note: {n}"));
        }
        let base: BTreeMap<&str, &String> = self.base_keys.iter().map(|(k, v)| (*k, v)).collect();
        let mut line = format!("restore {name}");
        for (k, v) in &keys {
            if base.get(k) != Some(&v) {
                line.push_str(&format!(" {k}={v}"));
            }
        }
        let dropped: Vec<&str> = self
            .base_keys
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !keys.iter().any(|(k2, _)| k2 == k))
            .collect();
        for k in dropped {
            self.push(format!(
                "# note: the destination drops `{k}`; fwtrace cannot express that"
            ));
        }
        match ok {
            Ok(()) => {
                let at = self.push(line);
                let n = config.vcpu_count();
                self.vcpus.truncate(n);
                for i in self.vcpus.len()..n {
                    self.vcpus.push(Shadow {
                        regs: SimVcpu::new(i as u32),
                        ask: None,
                    });
                }
                for s in &mut self.vcpus {
                    s.ask = Some(at);
                }
                for (addr, width, v) in checks {
                    self.push(format!("mem {addr:#x} u{} == {}", width * 8, value(*v)));
                }
            }
            Err(e) => {
                self.push(format!("{line} -> error   # {e}"));
            }
        }
        self.flush_settled();
    }

    /// Writes everything still buffered and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        for s in &mut self.vcpus {
            s.ask = None;
        }
        self.flush_settled();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A `fwcall::Vm` whose every use is recorded as an fwtrace (or, built
/// with [`RecordingVm::passthrough`], not recorded at all, at the cost of
/// one branch). The methods mirror `Vm` and `Vcpu`; a lock serialises
/// the recording, so vCPU threads may share it (recording is for bug
/// reports, not for production speed).
#[derive(Debug)]
pub struct RecordingVm<M, W: Write> {
    vm: Vm<M>,
    rec: Option<Mutex<Recorder<W>>>,
}

impl<M: GuestMemoryAccess, W: Write> RecordingVm<M, W> {
    /// Wraps `vm` and starts the trace on `out` (write it to a file, or a
    /// `Vec<u8>`).
    pub fn new(vm: Vm<M>, out: W) -> Self {
        let rec = Recorder::new(vm.config(), out);
        RecordingVm {
            vm,
            rec: Some(Mutex::new(rec)),
        }
    }

    /// Wraps `vm` without recording anything.
    pub fn passthrough(vm: Vm<M>) -> Self {
        RecordingVm { vm, rec: None }
    }

    /// The VM inside.
    pub fn vm(&self) -> &Vm<M> {
        &self.vm
    }

    fn rec(&self) -> Option<MutexGuard<'_, Recorder<W>>> {
        self.rec
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// [`fwcall::Vcpu::handle`], recorded.
    pub fn handle(&self, vcpu: VcpuIndex, call: &Call) -> Result<Outcome, VcpuError> {
        let v = self.vm.vcpu(vcpu)?;
        match self.rec() {
            None => Ok(v.handle(call)),
            Some(mut r) => {
                let out = v.handle(call);
                r.call(vcpu, call, &out);
                Ok(out)
            }
        }
    }

    /// [`fwcall::Vcpu::has_pending_delivery`] (nothing to record).
    pub fn has_pending_delivery(&self, vcpu: VcpuIndex) -> bool {
        let pending = self.vm.vcpu(vcpu).is_ok_and(|v| v.has_pending_delivery());
        if !pending && let Some(mut r) = self.rec() {
            r.settled(vcpu);
        }
        pending
    }

    /// [`fwcall::Vcpu::take_delivery`], recorded.
    pub fn take_delivery(&self, vcpu: VcpuIndex, now: &Interrupted) -> Option<Delivery> {
        let v = self.vm.vcpu(vcpu).ok()?;
        let mut r = self.rec();
        let d = v.take_delivery(now);
        if let Some(r) = r.as_mut() {
            r.delivery(vcpu, now, d.as_ref());
        }
        d
    }

    /// [`Vm::raise`], recorded.
    pub fn raise(&self, event: u32, vcpu: Option<VcpuIndex>) -> Result<Kicks, RaiseError> {
        let mut r = self.rec();
        let out = self.vm.raise(event, vcpu);
        if let Some(r) = r.as_mut() {
            r.raise(event, vcpu, &out);
        }
        out
    }

    /// [`Vm::irq`], recorded.
    pub fn irq(&self, intid: u32, vcpu: Option<VcpuIndex>) -> IrqOutcome {
        let mut r = self.rec();
        let out = self.vm.irq(intid, vcpu);
        if let Some(r) = r.as_mut() {
            r.irq(intid, vcpu, &out);
        }
        out
    }

    /// [`fwcall::Vcpu::reset`], recorded.
    pub fn reset(&self, vcpu: VcpuIndex) -> Result<Kicks, VcpuError> {
        let v = self.vm.vcpu(vcpu)?;
        let mut r = self.rec();
        let kicks = v.reset();
        if let Some(r) = r.as_mut() {
            r.reset(vcpu, &kicks);
        }
        Ok(kicks)
    }

    /// [`fwcall::Vm::reset`] (the VMM's reaction to `SYSTEM_RESET`), recorded
    /// as `vm-reset`.
    pub fn reset_vm(&self) {
        let mut r = self.rec();
        self.vm.reset();
        if let Some(r) = r.as_mut() {
            r.vm_reset();
        }
    }

    /// [`fwcall::Vcpu::account_steal`], recorded with a check of the
    /// guest's record when the guest enabled it.
    pub fn account_steal(&self, vcpu: VcpuIndex, ns: u64) -> Result<u64, MemoryError> {
        let v = self.vm.vcpu(vcpu).map_err(|_| MemoryError::OutOfRange {
            addr: Gpa(0),
            len: 0,
        })?;
        let mut r = self.rec();
        let out = v.account_steal(ns);
        if let Some(r) = r.as_mut() {
            let pv = self.vm.pvtime();
            let record = pv
                .record_address(vcpu)
                .filter(|_| {
                    pv.guest_enabled(vcpu)
                        && self
                            .vm
                            .features()
                            .std_hyp
                            .contains(fwcall::StdHypFeatures::PV_TIME)
                })
                .and_then(|a| {
                    let field = Gpa(a.0 + 8);
                    let mut b = [0u8; 8];
                    self.vm.memory().read_bytes(field, &mut b).ok()?;
                    Some((field, u64::from_le_bytes(b)))
                });
            r.steal(vcpu, ns, &out, record);
        }
        out
    }

    /// [`Vm::snapshot`], recorded as `snapshot NAME`.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut r = self.rec();
        let out = self.vm.snapshot();
        if let Some(r) = r.as_mut() {
            r.snapshot(&out);
        }
        out
    }

    /// Replaces the VM with `Vm::restore(config, mem, blob)` and starts it,
    /// as a destination VMM does; recorded as `restore NAME KEY=VALUE...`
    /// with the destination's differences, followed by checks of the LPT
    /// structure it republished. On error the current VM stays.
    pub fn restore(
        &mut self,
        config: VmConfig,
        mem: M,
        blob: &[u8],
    ) -> Result<(), RecordedRestoreError> {
        let recorded = config.clone();
        let result = Vm::restore(config, mem, blob)
            .map_err(RecordedRestoreError::Restore)
            .and_then(|vm| {
                // A destination that cannot publish its records is a failed restore.
                vm.start().map_err(RecordedRestoreError::Start)?;
                Ok(vm)
            });
        let out = match result {
            Ok(vm) => {
                self.vm = vm;
                Ok(())
            }
            Err(e) => Err(e),
        };
        let mut checks = Vec::new();
        if out.is_ok()
            && let Some(l) = &self.vm.config().pvtime.lpt
        {
            let mem = self.vm.memory();
            let mut b = [0u8; 8];
            if mem.read_bytes(Gpa(l.ipa.0 + 8), &mut b).is_ok() {
                checks.push((l.ipa.0 + 8, 8, u64::from_le_bytes(b)));
            }
            let mut b = [0u8; 4];
            if mem.read_bytes(Gpa(l.ipa.0 + 16), &mut b).is_ok() {
                checks.push((l.ipa.0 + 16, 4, u64::from(u32::from_le_bytes(b))));
            }
            let mut b = [0u8; 8];
            if mem.read_bytes(Gpa(l.ipa.0 + 24), &mut b).is_ok() {
                checks.push((l.ipa.0 + 24, 8, u64::from_le_bytes(b)));
            }
        }
        if let Some(m) = self.rec.as_mut() {
            let r = m.get_mut().unwrap_or_else(|p| p.into_inner());
            let shown = out
                .as_ref()
                .map(|_| ())
                .map_err(|e| e as &dyn std::fmt::Display);
            r.restore(&recorded, blob, shown, &checks);
        }
        out
    }

    /// Writes a comment into the trace.
    pub fn note(&self, text: &str) {
        if let Some(mut r) = self.rec() {
            r.note(text);
        }
    }

    /// Ends the recording: writes what is buffered and hands back the VM
    /// and the writer (`None` for a passthrough).
    pub fn finish(self) -> io::Result<(Vm<M>, Option<W>)> {
        let w = match self.rec {
            Some(m) => Some(m.into_inner().unwrap_or_else(|p| p.into_inner()).finish()?),
            None => None,
        };
        Ok((self.vm, w))
    }
}

/// A refused [`RecordingVm::restore`].
#[derive(Debug)]
pub enum RecordedRestoreError {
    /// `Vm::restore` refused the snapshot.
    Restore(RestoreError),
    /// The restored VM could not publish its guest-memory structures.
    Start(MemoryError),
}

impl fmt::Display for RecordedRestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordedRestoreError::Restore(e) => write!(f, "{e}"),
            RecordedRestoreError::Start(e) => {
                write!(
                    f,
                    "the restored VM could not publish its PV-time structures: {e}"
                )
            }
        }
    }
}

impl std::error::Error for RecordedRestoreError {}
