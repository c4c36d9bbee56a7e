//! A reference model of the SDEI server, written straight from
//! `shared/spec/sdei.md` and, where the spec leaves a choice open, from
//! the choices the SDEI section of `DESIGN.md` records. It never looks at the
//! server's code: the `differential` fuzz target runs both side by side
//! and any difference in a result, a delivery or the state is a finding.
//!
//! Small and single-threaded on purpose: plain structs, a `BTreeMap` of
//! private instances per vCPU, one of shared instances, the §7 table as a
//! `match` ([`table::next`]).
//!
//! ```
//! use fwcall_conformance::model::{Answer, Model, ModelConfig, Saved};
//!
//! let mut m = Model::new(ModelConfig::new(2));
//! let call = |f: u32, a: &[u64]| {
//!     let mut x = [0u64; 18];
//!     x[0] = f as u64;
//!     x[1..=a.len()].copy_from_slice(a);
//!     x
//! };
//! assert_eq!(m.call(1, &call(0xc400_0021, &[0, 0x1000, 7, 0, 0])), Some(Answer::Value(0)));
//! assert_eq!(m.call(1, &call(0xc400_0022, &[0])), Some(Answer::Value(0)));
//! assert_eq!(m.call(1, &call(0xc400_002c, &[])), Some(Answer::Value(0)));
//! assert_eq!(m.call(0, &call(0xc400_002f, &[0, 0x8000_0001])), Some(Answer::Value(0)));
//! let d = m.take_delivery(1, &Saved { pc: 0x2000, pstate: 0x5, ..Saved::default() }).unwrap();
//! assert_eq!((d.event, d.pc, d.x[1], d.x[2]), (0, 0x1000, 7, 0x2000));
//! ```

pub mod pstate;
pub mod table;

use std::collections::BTreeMap;

use fwcall::{Context, CpuFeatures, El1Regs, EventDecl, EventKind, Priority, SdeiVersion};
use table::{Action, next};

/// `SDEI_SUCCESS`.
pub const SUCCESS: i64 = 0;
/// `SDEI_NOT_SUPPORTED`.
pub const NOT_SUPPORTED: i64 = -1;
/// `SDEI_INVALID_PARAMETERS`.
pub const INVALID: i64 = -2;
/// `SDEI_DENIED`.
pub const DENIED: i64 = -3;
/// `SDEI_PENDING`.
pub const PENDING: i64 = -5;
/// `SDEI_OUT_OF_RESOURCE`.
pub const OUT_OF_RESOURCE: i64 = -10;

/// First private dynamic slot's event number (DESIGN.md, SDEI).
pub const PRIVATE_SLOT_BASE: u32 = 0x4000_0000;
/// First shared dynamic slot's event number (DESIGN.md, SDEI).
pub const SHARED_SLOT_BASE: u32 = 0x4001_0000;
/// The MPIDR affinity fields Aff3..Aff0 (§6.2).
const AFFINITY: u64 = 0xff_00ff_ffff;
/// Bits a raw `MPIDR_EL1` read may carry besides affinity: RES1, U, MT.
const MPIDR_FLAGS: u64 = (1 << 31) | (1 << 30) | (1 << 24);
/// The vendor word fwcall reports in `SDEI_VERSION` (DESIGN.md, SDEI).
const VENDOR: u64 = 0x0066_7763;

/// What the model is built from: the same facts a `VmConfig` gives fwcall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    /// Reported version.
    pub version: SdeiVersion,
    /// Platform events (event 0 is implicit).
    pub events: Vec<EventDecl>,
    /// Private (PPI) dynamic slots.
    pub private_slots: u16,
    /// Shared (SPI) dynamic slots.
    pub shared_slots: u16,
    /// Guest CPU features for exception-entry `PSTATE`.
    pub cpu_features: CpuFeatures,
    /// One MPIDR per vCPU.
    pub mpidrs: Vec<u64>,
    /// vCPUs `0..boot` are powered on at start and after a system reset,
    /// the others off (PSCI served); `mpidrs.len()` when the hypervisor
    /// owns power.
    pub boot: usize,
}

impl ModelConfig {
    /// `vcpus` vCPUs with KVM's default MPIDRs, SDEI 1.1, event 0 only,
    /// 4 private and 8 shared slots, `PAN`.
    pub fn new(vcpus: u32) -> Self {
        ModelConfig {
            version: SdeiVersion::V1_1,
            events: Vec::new(),
            private_slots: 4,
            shared_slots: 8,
            cpu_features: CpuFeatures::PAN,
            mpidrs: (0..vcpus)
                .map(|i| fwcall::Mpidr::kvm_default(i).0)
                .collect(),
            boot: vcpus as usize,
        }
    }
}

/// One row of the event table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Event {
    shared: bool,
    critical: bool,
    /// Index into the private or shared binding table, for a dynamic slot.
    slot: Option<usize>,
}

/// One handler instance: the §8 status bits plus what REGISTER recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Instance {
    /// `EVENT_STATUS` value.
    pub status: u8,
    /// Handler entry (0 when unregistered).
    pub entry: u64,
    /// Handler argument (0 when unregistered).
    pub arg: u64,
    /// A trigger is waiting.
    pub pending: bool,
}

/// A shared event's single instance and its routing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedInstance {
    /// The handler instance.
    pub inst: Instance,
    /// `RM_PE` (else `RM_ANY`).
    pub rm_pe: bool,
    /// Stored affinity (`RM_PE` only; 0 otherwise).
    pub affinity: u64,
    /// The vCPU a waiting trigger is routed to.
    pub target: Option<usize>,
    /// The vCPU running its handler.
    pub running_on: Option<usize>,
}

/// The context a dispatch interrupted, as the VMM handed it over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Saved {
    /// `X0..X17`.
    pub x: [u64; 18],
    /// `PC`.
    pub pc: u64,
    /// `PSTATE`.
    pub pstate: u64,
    /// `SCTLR_EL1`.
    pub sctlr: u64,
}

/// One outstanding dispatch on a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The running event.
    pub event: u32,
    /// What it interrupted.
    pub saved: Saved,
}

/// One vCPU (PE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pe {
    /// The SDEI mask (§9): set at creation and reset.
    pub masked: bool,
    /// Private instances by event number.
    pub private: BTreeMap<u32, Instance>,
    /// Outstanding dispatches, oldest first (at most normal + critical).
    pub stack: Vec<Frame>,
    /// Powered off (PSCI `CPU_OFF`, or not booted): it takes no delivery
    /// and is never chosen for `RM_ANY` (psci-trng.md §8).
    pub off: bool,
}

/// A handler entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelDelivery {
    /// The event entered.
    pub event: u32,
    /// `X0..X3`: event, argument, interrupted PC, interrupted PSTATE.
    pub x: [u64; 4],
    /// The handler entry.
    pub pc: u64,
    /// Entry `PSTATE`.
    pub pstate: u64,
}

/// What a call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `X0` only.
    Value(u64),
    /// A completion: the whole context.
    Restore(Context),
}

/// Why the VMM's `raise` is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaiseRefusal {
    /// Not declared.
    UnknownEvent,
    /// Event 0 or a dynamic slot.
    NotRaisable,
    /// A private event without a vCPU.
    VcpuRequired,
    /// A vCPU outside the VM.
    NoSuchVcpu,
}

/// The reference model.
#[derive(Clone, Debug)]
pub struct Model {
    version: SdeiVersion,
    features: CpuFeatures,
    mpidrs: Vec<u64>,
    events: BTreeMap<u32, Event>,
    /// The vCPUs.
    pub pes: Vec<Pe>,
    /// Shared instances by event number.
    pub shared: BTreeMap<u32, SharedInstance>,
    /// INTID bound to each private slot.
    pub private_bindings: Vec<Option<u32>>,
    /// INTID bound to each shared slot.
    pub shared_bindings: Vec<Option<u32>>,
    /// vCPUs on after a system reset.
    boot: usize,
}

fn value(v: i64) -> Option<Answer> {
    Some(Answer::Value(v as u64))
}

impl Model {
    /// A fresh model: everything unregistered, every vCPU masked.
    pub fn new(config: ModelConfig) -> Self {
        let mut events = BTreeMap::new();
        events.insert(
            0,
            Event {
                shared: false,
                critical: false,
                slot: None,
            },
        );
        for d in &config.events {
            let e = Event {
                shared: d.kind == EventKind::Shared,
                critical: d.priority == Priority::Critical,
                slot: None,
            };
            events.insert(d.number, e);
        }
        for i in 0..config.private_slots {
            let e = Event {
                shared: false,
                critical: false,
                slot: Some(usize::from(i)),
            };
            events.insert(PRIVATE_SLOT_BASE + u32::from(i), e);
        }
        for j in 0..config.shared_slots {
            let e = Event {
                shared: true,
                critical: false,
                slot: Some(usize::from(j)),
            };
            events.insert(SHARED_SLOT_BASE + u32::from(j), e);
        }
        let private: BTreeMap<u32, Instance> = events
            .iter()
            .filter(|(_, e)| !e.shared)
            .map(|(n, _)| (*n, Instance::default()))
            .collect();
        let shared = events
            .iter()
            .filter(|(_, e)| e.shared)
            .map(|(n, _)| (*n, SharedInstance::default()))
            .collect();
        let pe = Pe {
            masked: true,
            private,
            stack: Vec::new(),
            off: false,
        };
        let mut pes = vec![pe; config.mpidrs.len()];
        for p in pes.iter_mut().skip(config.boot) {
            p.off = true;
        }
        Model {
            version: config.version,
            features: config.cpu_features,
            pes,
            boot: config.boot,
            mpidrs: config.mpidrs,
            events,
            shared,
            private_bindings: vec![None; usize::from(config.private_slots)],
            shared_bindings: vec![None; usize::from(config.shared_slots)],
        }
    }

    // ---- lookups -------------------------------------------------------

    /// The event number in a register: bits 63:32 must be zero and the
    /// number must be in the table (§5, DESIGN: no truncation).
    fn event_arg(&self, reg: u64) -> Result<(u32, Event), i64> {
        let n = u32::try_from(reg).map_err(|_| INVALID)?;
        self.events.get(&n).map(|e| (n, *e)).ok_or(INVALID)
    }

    /// The vCPU an MPIDR argument names, if it is a well-formed MPIDR of
    /// one of the VM's vCPUs.
    fn pe_of(&self, mpidr: u64) -> Option<usize> {
        if mpidr & !(AFFINITY | MPIDR_FLAGS) != 0 {
            return None;
        }
        self.mpidrs
            .iter()
            .position(|m| m & AFFINITY == mpidr & AFFINITY)
    }

    fn inst(&self, pe: usize, n: u32, ev: Event) -> Instance {
        if ev.shared {
            self.shared.get(&n).map(|s| s.inst)
        } else {
            self.pes.get(pe).and_then(|p| p.private.get(&n)).copied()
        }
        .unwrap_or_default()
    }

    fn inst_mut(&mut self, pe: usize, n: u32, ev: Event) -> Option<&mut Instance> {
        if ev.shared {
            self.shared.get_mut(&n).map(|s| &mut s.inst)
        } else {
            self.pes.get_mut(pe).and_then(|p| p.private.get_mut(&n))
        }
    }

    fn is_critical(&self, n: u32) -> bool {
        self.events.get(&n).is_some_and(|e| e.critical)
    }

    fn slot_bound(&self, ev: Event) -> bool {
        match (ev.slot, ev.shared) {
            (None, _) => true,
            (Some(s), false) => self.private_bindings.get(s).copied().flatten().is_some(),
            (Some(s), true) => self.shared_bindings.get(s).copied().flatten().is_some(),
        }
    }

    // ---- guest calls -----------------------------------------------------

    /// Serves a call from vCPU `pe` with `X0..X17` = `x`, as fwcall's
    /// front door would. `None` when the ID is not in the SDEI range (the
    /// model has nothing to say about it).
    pub fn call(&mut self, pe: usize, x: &[u64; 18]) -> Option<Answer> {
        let fid = x[0] as u32;
        let fast = fid & (1 << 31) != 0;
        let owner = (fid >> 24) & 0x3f;
        let number = fid & 0xffff;
        if !fast || owner != 4 || !(0x20..=0x3f).contains(&number) {
            return None;
        }
        // SMCCC: bits 23:17 must be zero; bit 16 (SVE hint) is not identity.
        if fid & (0x7f << 17) != 0 || fid & (1 << 30) == 0 {
            return value(NOT_SUPPORTED);
        }
        let a = |i: usize| x[i];
        match number - 0x20 {
            0x00 => Some(Answer::Value(self.version_word())),
            0x01 => value(
                self.register(pe, a(1), a(2), a(3), a(4), a(5))
                    .map_or_else(|e| e, |()| SUCCESS),
            ),
            0x02 => value(self.enable(pe, a(1), Action::Enable)),
            0x03 => value(self.enable(pe, a(1), Action::Disable)),
            0x04 => value(self.context(pe, a(1))),
            0x05 => self.complete(pe, None),
            0x06 => self.complete(pe, Some(a(1))),
            0x07 => value(self.unregister_call(pe, a(1))),
            0x08 => value(
                self.event_arg(a(1))
                    .map_or_else(|e| e, |(n, ev)| i64::from(self.inst(pe, n, ev).status)),
            ),
            0x09 => value(self.get_info(pe, a(1), a(2))),
            0x0a => value(self.routing_set(a(1), a(2), a(3))),
            0x0b => value(self.mask(pe)),
            0x0c => value(self.unmask(pe)),
            0x0d => value(self.bind(a(1))),
            0x0e => value(self.release_call(a(1))),
            0x0f => value(self.signal(a(1), a(2))),
            0x10 => value(self.features(a(1))),
            0x11 => value(self.private_reset(pe)),
            0x12 => value(self.shared_reset()),
            _ => value(NOT_SUPPORTED),
        }
    }

    fn version_word(&self) -> u64 {
        let minor = match self.version {
            SdeiVersion::V1_0 => 0,
            SdeiVersion::V1_1 => 1,
        };
        (1 << 48) | (minor << 32) | VENDOR
    }

    /// §2.1 `EVENT_REGISTER`, in TF-A's order.
    fn register(
        &mut self,
        pe: usize,
        event: u64,
        entry: u64,
        arg: u64,
        flags: u64,
        aff: u64,
    ) -> Result<(), i64> {
        if entry == 0 || flags > 1 || (flags == 1 && self.pe_of(aff).is_none()) {
            return Err(INVALID);
        }
        let (n, ev) = self.event_arg(event)?;
        let state = self.inst(pe, n, ev).status;
        let new = next(state, Action::Register).ok_or(DENIED)?;
        if !self.slot_bound(ev) {
            return Err(DENIED);
        }
        let inst = self.inst_mut(pe, n, ev).ok_or(DENIED)?;
        *inst = Instance {
            status: new,
            entry,
            arg,
            pending: false,
        };
        if let Some(s) = self.shared.get_mut(&n) {
            s.rm_pe = flags == 1;
            s.affinity = if s.rm_pe { aff & AFFINITY } else { 0 };
            s.target = None;
        }
        Ok(())
    }

    /// ENABLE and DISABLE: unknown → INVALID, forbidden cell → DENIED.
    fn enable(&mut self, pe: usize, event: u64, action: Action) -> i64 {
        let (n, ev) = match self.event_arg(event) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let Some(new) = next(self.inst(pe, n, ev).status, action) else {
            return DENIED;
        };
        if let Some(i) = self.inst_mut(pe, n, ev) {
            i.status = new;
        }
        self.route();
        SUCCESS
    }

    fn context(&self, pe: usize, index: u64) -> i64 {
        if index >= 18 {
            return INVALID;
        }
        match self.pes.get(pe).and_then(|p| p.stack.last()) {
            Some(f) => f.saved.x[index as usize] as i64,
            None => DENIED,
        }
    }

    /// COMPLETE (`resume` = None) and `COMPLETE_AND_RESUME` (§14).
    fn complete(&mut self, pe: usize, resume: Option<u64>) -> Option<Answer> {
        let Some(frame) = self.pes.get(pe).and_then(|p| p.stack.last()).copied() else {
            return value(DENIED);
        };
        if resume == Some(0) {
            return value(DENIED);
        }
        self.pes[pe].stack.pop();
        let action = if resume.is_some() {
            Action::CompleteResume
        } else {
            Action::Complete
        };
        self.finish(pe, frame.event, action);
        let s = frame.saved;
        let ctx = match resume {
            None => Context {
                x: s.x,
                pc: s.pc,
                pstate: s.pstate,
                el1: None,
            },
            Some(addr) => Context {
                x: s.x,
                pc: addr,
                pstate: pstate::exception_entry(s.pstate, s.sctlr, self.features),
                el1: Some(El1Regs {
                    elr: s.pc,
                    spsr: s.pstate,
                }),
            },
        };
        self.route();
        Some(Answer::Restore(ctx))
    }

    /// The running bit of `n` clears (its dispatch on `pe` is over).
    fn finish(&mut self, pe: usize, n: u32, action: Action) {
        let Some(ev) = self.events.get(&n).copied() else {
            return;
        };
        if let Some(i) = self.inst_mut(pe, n, ev) {
            i.status = next(i.status, action).unwrap_or(i.status & 3);
        }
        if let Some(s) = self.shared.get_mut(&n) {
            s.running_on = None;
        }
    }

    /// UNREGISTER on one instance: the §7 rules plus the result codes layered
    /// on them (PENDING while running).
    fn unregister(&mut self, pe: usize, n: u32, ev: Event) -> i64 {
        let state = self.inst(pe, n, ev).status;
        let Some(new) = next(state, Action::Unregister) else {
            return if state & 4 != 0 { PENDING } else { DENIED };
        };
        if let Some(i) = self.inst_mut(pe, n, ev) {
            *i = Instance {
                status: new,
                ..Instance::default()
            };
        }
        if let Some(s) = self.shared.get_mut(&n) {
            s.rm_pe = false;
            s.affinity = 0;
            s.target = None;
        }
        if new & 4 != 0 { PENDING } else { SUCCESS }
    }

    fn unregister_call(&mut self, pe: usize, event: u64) -> i64 {
        let r = match self.event_arg(event) {
            Ok((n, ev)) => self.unregister(pe, n, ev),
            Err(e) => e,
        };
        self.route();
        r
    }

    /// §6.3 selectors.
    fn get_info(&self, pe: usize, event: u64, selector: u64) -> i64 {
        let (n, ev) = match self.event_arg(event) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let registered = self.inst(pe, n, ev).status & 1 != 0;
        let s = self.shared.get(&n).copied().unwrap_or_default();
        match selector {
            0 => i64::from(ev.shared),
            1 => i64::from(n == 0),
            2 => i64::from(ev.critical),
            3 | 4 if !ev.shared => INVALID,
            3 | 4 if !registered => DENIED,
            3 => i64::from(s.rm_pe),
            4 if !s.rm_pe => INVALID,
            4 => s.affinity as i64,
            _ => INVALID,
        }
    }

    fn routing_set(&mut self, event: u64, flags: u64, aff: u64) -> i64 {
        if flags > 1 || (flags == 1 && self.pe_of(aff).is_none()) {
            return INVALID;
        }
        let (n, ev) = match self.event_arg(event) {
            Ok(v) => v,
            Err(e) => return e,
        };
        if !ev.shared || !self.slot_bound(ev) {
            return INVALID;
        }
        if next(self.inst(0, n, ev).status, Action::RoutingSet).is_none() {
            return DENIED;
        }
        if let Some(s) = self.shared.get_mut(&n) {
            s.rm_pe = flags == 1;
            s.affinity = if s.rm_pe { aff & AFFINITY } else { 0 };
        }
        self.route();
        SUCCESS
    }

    fn mask(&mut self, pe: usize) -> i64 {
        let Some(p) = self.pes.get_mut(pe) else {
            return NOT_SUPPORTED;
        };
        let was = p.masked;
        p.masked = true;
        self.route();
        if was { 0 } else { 1 }
    }

    fn unmask(&mut self, pe: usize) -> i64 {
        if let Some(p) = self.pes.get_mut(pe) {
            p.masked = false;
        }
        self.route();
        SUCCESS
    }

    /// §2.1 `INTERRUPT_BIND`: PPI → private slot, SPI → shared slot, the
    /// lowest free one; binding the same INTID again returns its event.
    fn bind(&mut self, intid: u64) -> i64 {
        let Ok(intid) = u32::try_from(intid) else {
            return INVALID;
        };
        let (table, base) = match intid {
            16..=31 => (&mut self.private_bindings, PRIVATE_SLOT_BASE),
            32..=1019 => (&mut self.shared_bindings, SHARED_SLOT_BASE),
            _ => return INVALID,
        };
        if let Some(i) = table.iter().position(|b| *b == Some(intid)) {
            return i64::from(base) + i as i64;
        }
        match table.iter().position(Option::is_none) {
            Some(i) => {
                table[i] = Some(intid);
                i64::from(base) + i as i64
            }
            None => OUT_OF_RESOURCE,
        }
    }

    /// Whether no instance of `n` is registered or running anywhere.
    fn idle_everywhere(&self, n: u32, ev: Event) -> bool {
        if ev.shared {
            self.inst(0, n, ev).status == 0
        } else {
            (0..self.pes.len()).all(|pe| self.inst(pe, n, ev).status == 0)
        }
    }

    fn release(&mut self, n: u32, ev: Event) -> i64 {
        let Some(slot) = ev.slot else { return INVALID };
        if !self.idle_everywhere(n, ev) {
            return DENIED;
        }
        let table = if ev.shared {
            &mut self.shared_bindings
        } else {
            &mut self.private_bindings
        };
        match table.get_mut(slot) {
            Some(b @ Some(_)) => {
                *b = None;
                SUCCESS
            }
            _ => INVALID,
        }
    }

    fn release_call(&mut self, event: u64) -> i64 {
        match self.event_arg(event) {
            Ok((n, ev)) => self.release(n, ev),
            Err(e) => e,
        }
    }

    /// `EVENT_SIGNAL`, fwcall's choice (DESIGN): any target vCPU, which must
    /// be unmasked with event 0 registered and enabled; it is pended there.
    fn signal(&mut self, event: u64, target: u64) -> i64 {
        if event != 0 {
            return INVALID;
        }
        let Some(t) = self.pe_of(target) else {
            return INVALID;
        };
        let p = &mut self.pes[t];
        if p.masked || p.off {
            return INVALID;
        }
        match p.private.get_mut(&0) {
            Some(i) if i.status & 3 == 3 => i.pending = true,
            _ => return INVALID,
        }
        SUCCESS
    }

    fn features(&self, selector: u64) -> i64 {
        match selector {
            0 => {
                i64::from(self.private_bindings.len() as u16)
                    | i64::from(self.shared_bindings.len() as u16) << 16
            }
            1 if self.version == SdeiVersion::V1_1 => 0,
            _ => INVALID,
        }
    }

    /// Unregisters every private event of `pe`; DENIED if one was running.
    fn private_reset(&mut self, pe: usize) -> i64 {
        let Some(p) = self.pes.get(pe) else {
            return NOT_SUPPORTED;
        };
        let mut result = SUCCESS;
        let numbers: Vec<u32> = p.private.keys().copied().collect();
        for n in numbers {
            let Some(ev) = self.events.get(&n).copied() else {
                continue;
            };
            if self.inst(pe, n, ev).status == 0 {
                continue;
            }
            if self.unregister(pe, n, ev) == PENDING {
                result = DENIED;
            }
        }
        self.route();
        result
    }

    /// Unregisters every shared event; if one was running (left
    /// unregister-pending) the answer is DENIED and the bindings stay, as
    /// TF-A does (DESIGN); otherwise releases every binding (first failure
    /// returned).
    fn shared_reset(&mut self) -> i64 {
        let numbers: Vec<u32> = self.shared.keys().copied().collect();
        let mut denied = false;
        for n in numbers {
            let Some(ev) = self.events.get(&n).copied() else {
                continue;
            };
            if self.inst(0, n, ev).status == 0 {
                continue;
            }
            denied |= self.unregister(0, n, ev) == PENDING;
        }
        if denied {
            self.route();
            return DENIED;
        }
        let mut result = SUCCESS;
        let slots: Vec<(u32, Event)> = self
            .events
            .iter()
            .filter(|(_, e)| e.slot.is_some())
            .map(|(n, e)| (*n, *e))
            .collect();
        for (n, ev) in slots {
            if self.slot_bound(ev) {
                let r = self.release(n, ev);
                if r != SUCCESS && result == SUCCESS {
                    result = r;
                }
            }
        }
        self.route();
        result
    }

    // ---- the VMM's side --------------------------------------------------

    /// The VMM raises a declared platform event.
    pub fn raise(&mut self, event: u32, pe: Option<usize>) -> Result<(), RaiseRefusal> {
        let ev = *self.events.get(&event).ok_or(RaiseRefusal::UnknownEvent)?;
        if event == 0 || ev.slot.is_some() {
            return Err(RaiseRefusal::NotRaisable);
        }
        let target = if ev.shared {
            0
        } else {
            let pe = pe.ok_or(RaiseRefusal::VcpuRequired)?;
            if pe >= self.pes.len() {
                return Err(RaiseRefusal::NoSuchVcpu);
            }
            pe
        };
        self.trigger(target, event, ev);
        Ok(())
    }

    /// A trigger: pending if the instance is registered, dropped otherwise.
    fn trigger(&mut self, pe: usize, n: u32, ev: Event) {
        if let Some(i) = self.inst_mut(pe, n, ev)
            && i.status & 1 != 0
        {
            i.pending = true;
        }
        self.route();
    }

    /// A guest interrupt fired: `true` when SDEI took it (it is bound and
    /// the bound event is registered).
    pub fn irq(&mut self, intid: u32, pe: Option<usize>) -> bool {
        let (shared, table) = match intid {
            16..=31 => (false, &self.private_bindings),
            32..=1019 => (true, &self.shared_bindings),
            _ => return false,
        };
        let Some(slot) = table.iter().position(|b| *b == Some(intid)) else {
            return false;
        };
        let base = if shared {
            SHARED_SLOT_BASE
        } else {
            PRIVATE_SLOT_BASE
        };
        let n = base + slot as u32;
        let Some(ev) = self.events.get(&n).copied() else {
            return false;
        };
        let pe = match (shared, pe) {
            (true, _) => 0,
            (false, Some(p)) if p < self.pes.len() => p,
            (false, _) => return false,
        };
        if self.inst(pe, n, ev).status & 1 == 0 {
            return false;
        }
        self.trigger(pe, n, ev);
        true
    }

    /// Power-on / `CPU_ON`: private events unregistered, dispatches
    /// discarded (a shared event running there completes), masked.
    pub fn reset_vcpu(&mut self, pe: usize) {
        let Some(p) = self.pes.get_mut(pe) else {
            return;
        };
        for i in p.private.values_mut() {
            *i = Instance::default();
        }
        p.masked = true;
        let frames = std::mem::take(&mut p.stack);
        for f in frames {
            if self.events.get(&f.event).is_some_and(|e| e.shared) {
                self.finish(pe, f.event, Action::Complete);
            }
        }
        self.route();
    }

    /// `CPU_OFF` (psci-trng.md §8; DESIGN.md, PSCI): the vCPU takes nothing
    /// from now on; its dispatches die with it (each handler completes, a
    /// shared one becoming routable elsewhere); its private registrations
    /// and mask stay until `CPU_ON`.
    pub fn power_off(&mut self, pe: usize) {
        let Some(p) = self.pes.get_mut(pe) else {
            return;
        };
        p.off = true;
        let frames = std::mem::take(&mut p.stack);
        for f in frames.iter().rev() {
            self.finish(pe, f.event, Action::Complete);
        }
        self.route();
    }

    /// `CPU_ON` of `pe` (sdei.md §9, §16): reset as at boot, then on.
    pub fn power_on(&mut self, pe: usize) {
        self.reset_vcpu(pe);
        if let Some(p) = self.pes.get_mut(pe) {
            p.off = false;
        }
        self.route();
    }

    /// Whether `pe` is powered off.
    pub fn is_off(&self, pe: usize) -> bool {
        self.pes.get(pe).is_some_and(|p| p.off)
    }

    /// The VMM's system reset (after `SYSTEM_RESET`): every SDEI state back
    /// to the defaults, bindings released, vCPUs `0..boot` on, the rest off.
    pub fn system_reset(&mut self) {
        for pe in 0..self.pes.len() {
            self.reset_vcpu(pe);
        }
        for s in self.shared.values_mut() {
            *s = SharedInstance::default();
        }
        self.private_bindings.iter_mut().for_each(|b| *b = None);
        self.shared_bindings.iter_mut().for_each(|b| *b = None);
        let boot = self.boot;
        for (i, p) in self.pes.iter_mut().enumerate() {
            p.off = i >= boot;
        }
        self.route();
    }

    // ---- routing and delivery -------------------------------------------

    fn idle_enough(&self, pe: usize, critical: bool) -> bool {
        let p = &self.pes[pe];
        !p.masked
            && !p.off
            && if critical {
                !p.stack.iter().any(|f| self.is_critical(f.event))
            } else {
                p.stack.is_empty()
            }
    }

    /// Routes waiting shared triggers (DESIGN: `RM_ANY` → lowest-index vCPU
    /// unmasked and idle enough; `RM_PE` → the affinity's vCPU once it is
    /// unmasked). A routed `RM_ANY` trigger keeps its vCPU only while that
    /// vCPU stays unmasked and idle enough: when it masks, or enters
    /// another handler first, the trigger goes to the next such vCPU or
    /// waits (what fwcall does; see DESIGN.md, fuzzing).
    fn route(&mut self) {
        let numbers: Vec<u32> = self.shared.keys().copied().collect();
        for n in numbers {
            let s = self.shared[&n];
            let critical = self.is_critical(n);
            let target = if !(s.inst.pending && s.inst.status == 3) {
                None
            } else if s.rm_pe {
                self.pe_of(s.affinity)
                    .filter(|&t| !self.pes[t].masked && !self.pes[t].off)
            } else if let Some(t) = s.target.filter(|&t| self.idle_enough(t, critical)) {
                Some(t)
            } else {
                (0..self.pes.len()).find(|&t| self.idle_enough(t, critical))
            };
            if let Some(s) = self.shared.get_mut(&n) {
                s.target = target;
            }
        }
    }

    /// The event entered on `pe` now, given what it would resume with:
    /// critical before normal, private before shared, lowest number first
    /// (DESIGN); a normal one only on an idle vCPU, a critical one unless
    /// a critical handler runs (§11 rule 5).
    pub fn take_delivery(&mut self, pe: usize, now: &Saved) -> Option<ModelDelivery> {
        let p = self.pes.get(pe)?;
        if p.masked || p.off {
            return None;
        }
        let private = p
            .private
            .iter()
            .filter(|(_, i)| i.pending && i.status == 3)
            .map(|(n, _)| (*n, false));
        let shared = self
            .shared
            .iter()
            .filter(|(_, s)| s.inst.pending && s.inst.status == 3 && s.target == Some(pe))
            .map(|(n, _)| (*n, true));
        let (n, is_shared) = private
            .chain(shared)
            .filter(|(n, _)| self.idle_enough(pe, self.is_critical(*n)))
            .min_by_key(|(n, shared)| (!self.is_critical(*n), *shared, *n))?;
        let ev = self.events[&n];
        let inst = self.inst_mut(pe, n, ev)?;
        inst.pending = false;
        inst.status = next(inst.status, Action::Dispatch)?;
        let (entry, arg) = (inst.entry, inst.arg);
        if is_shared && let Some(s) = self.shared.get_mut(&n) {
            s.running_on = Some(pe);
            s.target = None;
        }
        self.pes[pe].stack.push(Frame {
            event: n,
            saved: *now,
        });
        self.route();
        Some(ModelDelivery {
            event: n,
            x: [u64::from(n), arg, now.pc, now.pstate],
            pc: entry,
            pstate: pstate::exception_entry(now.pstate, now.sctlr, self.features),
        })
    }

    /// Whether the model would enter an event on `pe` if asked now.
    pub fn has_deliverable(&self, pe: usize) -> bool {
        self.clone().take_delivery(pe, &Saved::default()).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(fid: u32, args: &[u64]) -> [u64; 18] {
        let mut r = [0; 18];
        r[0] = u64::from(fid);
        r[1..=args.len()].copy_from_slice(args);
        r
    }

    fn val(m: &mut Model, pe: usize, fid: u32, args: &[u64]) -> i64 {
        match m.call(pe, &x(fid, args)) {
            Some(Answer::Value(v)) => v as i64,
            other => panic!("expected a value, got {other:?}"),
        }
    }

    fn model() -> Model {
        let mut c = ModelConfig::new(2);
        c.events = vec![
            EventDecl {
                number: 0x11,
                kind: EventKind::Private,
                priority: Priority::Critical,
            },
            EventDecl {
                number: 0x20,
                kind: EventKind::Shared,
                priority: Priority::Normal,
            },
        ];
        Model::new(c)
    }

    fn ready(m: &mut Model, pe: usize, event: u64) {
        assert_eq!(val(m, pe, 0xC400_0021, &[event, 0x1000, 0, 0, 0]), SUCCESS);
        assert_eq!(val(m, pe, 0xC400_0022, &[event]), SUCCESS);
    }

    #[test]
    fn every_pe_starts_masked_and_pe_mask_reports_the_change() {
        let mut m = model();
        assert_eq!(val(&mut m, 0, 0xC400_002B, &[]), 0);
        assert_eq!(val(&mut m, 0, 0xC400_002C, &[]), 0);
        assert_eq!(val(&mut m, 0, 0xC400_002B, &[]), 1);
    }

    #[test]
    fn unregister_while_running_is_pending_and_leaves_status_4() {
        let mut m = model();
        ready(&mut m, 0, 0);
        val(&mut m, 0, 0xC400_002C, &[]);
        assert_eq!(val(&mut m, 1, 0xC400_002F, &[0, 0x8000_0000]), SUCCESS);
        assert!(m.take_delivery(0, &Saved::default()).is_some());
        assert_eq!(val(&mut m, 0, 0xC400_0027, &[0]), PENDING);
        assert_eq!(val(&mut m, 0, 0xC400_0028, &[0]), 4);
        assert_eq!(val(&mut m, 0, 0xC400_0027, &[0]), PENDING);
        assert!(matches!(
            m.call(0, &x(0xC400_0025, &[0])),
            Some(Answer::Restore(_))
        ));
        assert_eq!(val(&mut m, 0, 0xC400_0028, &[0]), 0);
        assert_eq!(val(&mut m, 0, 0xC400_0027, &[0]), DENIED);
    }

    #[test]
    fn critical_preempts_normal_but_normal_never_preempts() {
        let mut m = model();
        ready(&mut m, 0, 0);
        ready(&mut m, 0, 0x11);
        val(&mut m, 0, 0xC400_002C, &[]);
        val(&mut m, 0, 0xC400_002F, &[0, 0x8000_0000]);
        assert_eq!(
            m.take_delivery(0, &Saved::default()).map(|d| d.event),
            Some(0)
        );
        m.raise(0x11, Some(0)).unwrap();
        assert_eq!(
            m.take_delivery(0, &Saved::default()).map(|d| d.event),
            Some(0x11)
        );
        val(&mut m, 0, 0xC400_002F, &[0, 0x8000_0000]);
        assert_eq!(m.take_delivery(0, &Saved::default()), None);
    }

    #[test]
    fn context_index_is_checked_before_the_running_event() {
        let mut m = model();
        assert_eq!(val(&mut m, 0, 0xC400_0024, &[18]), INVALID);
        assert_eq!(val(&mut m, 0, 0xC400_0024, &[0]), DENIED);
    }

    #[test]
    fn private_reset_is_denied_while_a_handler_runs() {
        let mut m = model();
        ready(&mut m, 0, 0);
        val(&mut m, 0, 0xC400_002C, &[]);
        val(&mut m, 0, 0xC400_002F, &[0, 0x8000_0000]);
        m.take_delivery(0, &Saved::default());
        assert_eq!(val(&mut m, 0, 0xC400_0031, &[]), DENIED);
        assert_eq!(val(&mut m, 0, 0xC400_0028, &[0]), 4);
    }

    #[test]
    fn shared_reset_unregisters_every_shared_event_even_after_a_running_one() {
        let mut c = ModelConfig::new(2);
        c.events = [0x1200, 0x1201]
            .map(|number| EventDecl {
                number,
                kind: EventKind::Shared,
                priority: Priority::Normal,
            })
            .to_vec();
        let mut m = Model::new(c);
        ready(&mut m, 0, 0x1200);
        ready(&mut m, 0, 0x1201);
        val(&mut m, 0, 0xC400_002C, &[]);
        m.raise(0x1200, None).unwrap();
        assert!(m.take_delivery(0, &Saved::default()).is_some());
        assert_eq!(val(&mut m, 1, 0xC400_0032, &[]), DENIED);
        assert_eq!(val(&mut m, 1, 0xC400_0028, &[0x1200]), 4);
        assert_eq!(val(&mut m, 1, 0xC400_0028, &[0x1201]), 0);
    }

    #[test]
    fn rm_any_goes_to_the_lowest_unmasked_idle_vcpu() {
        let mut m = model();
        ready(&mut m, 0, 0x20);
        val(&mut m, 1, 0xC400_002C, &[]);
        m.raise(0x20, None).unwrap();
        assert_eq!(m.take_delivery(0, &Saved::default()), None);
        assert_eq!(
            m.take_delivery(1, &Saved::default()).map(|d| d.event),
            Some(0x20)
        );
    }

    #[test]
    fn bind_reuses_the_slot_of_an_already_bound_intid_and_runs_out() {
        let mut c = ModelConfig::new(1);
        c.shared_slots = 1;
        let mut m = Model::new(c);
        assert_eq!(val(&mut m, 0, 0xC400_002D, &[40]), 0x4001_0000);
        assert_eq!(val(&mut m, 0, 0xC400_002D, &[40]), 0x4001_0000);
        assert_eq!(val(&mut m, 0, 0xC400_002D, &[41]), OUT_OF_RESOURCE);
        assert_eq!(val(&mut m, 0, 0xC400_002D, &[15]), INVALID);
    }
}
