//! The VM-wide server: its tables, locks and cross-vCPU routing.
//!
//! # Locking rules
//!
//! There are two kinds of lock ([`Lock`]: a sleeping mutex with `std`, a
//! spin lock without), and a fixed order:
//!
//! 1. the **shared lock** (`Sdei::shared`): shared events, bindings, the
//!    routing decisions;
//! 2. **one vCPU lock** (`VcpuSlot::state`): that vCPU's private events and
//!    saved contexts.
//!
//! A thread takes the shared lock before a vCPU lock, holds at most one
//! vCPU lock at a time, and never takes a vCPU lock while it holds the
//! shared lock except for the one vCPU its operation concerns. So no
//! operation under the shared lock waits on N vCPU locks, and nothing can
//! deadlock. The interrupt hook is called after both are released.
//!
//! Everything another thread needs from a vCPU without its lock is an
//! atomic in its [`VcpuSlot`], written by the vCPU's own thread (`gate`,
//! `busy`, the `pending` mirror) or by the router under the shared lock
//! (`shared_for_me`); `hint` is set by anyone and cleared by the vCPU. All
//! of them are `SeqCst`: the protocols below are Dekker-style (publish your
//! own state, then read the other side's), which needs a single order.
//!
//! **Work under the shared lock is bounded by the event count, never by
//! the vCPU count.** `RM_ANY` routing finds the lowest able vCPU in two
//! [`ReadySet`]s (vCPUs that may be open and idle; open and not running a
//! critical handler) instead of scanning vCPUs; a raise routes its own
//! event, a completion or an unmask the events that wait (bitmap
//! `Sdei::waiting`), a mask or a handler entry the events routed to that
//! vCPU (`shared_for_me`). `INTERRUPT_RELEASE` reads a per-event count of
//! vCPUs using a private slot instead of every vCPU's state. PPIs are
//! looked up in a lock-free table and touch only their vCPU's lock.
//!
//! **Hot calls take no VM-wide lock.** `PE_MASK`/`PE_UNMASK` are one
//! read-modify-write of the vCPU's `gate` plus loads; `EVENT_CONTEXT`
//! takes no lock (it reads the `busy` level, then the top saved context's
//! register from its atomic copy `ctx`); `EVENT_STATUS` and a private
//! `EVENT_COMPLETE` take only their vCPU's lock (a shared `EVENT_STATUS`
//! reads a per-event atomic). They take the
//! shared lock only when an atomic says shared work is theirs: a shared
//! event routed to them, or one waiting that they could now take.
//!
//! **An `RM_ANY` trigger never strands.** A vCPU that becomes less able
//! (`PE_MASK`, entering a handler, a reset) publishes that first and then
//! reads `shared_for_me`: events routed to it that it can no longer take
//! are routed again. The router claims a vCPU by setting its bit in
//! `shared_for_me` first and then re-reading its `gate` and `busy`: if it
//! became unable meanwhile, the router takes the bit back and looks
//! further. One of the two always sees the other. Symmetrically, a vCPU
//! that becomes able publishes that (and its `ReadySet` bits) and then
//! reads `waiting`; a router that finds nobody publishes `waiting` and
//! then looks once more.
//!
//! **Gates.** A vCPU takes no delivery while any bit of its `gate` is
//! set. Bit [`GATE_MASKED`] is the SDEI PE mask, bit [`GATE_OFF`] the
//! power state (`CPU_OFF`/`CPU_ON`, module `power`). Closing a gate is a
//! read-modify-write followed by `PE_MASK`'s path (route on what is routed
//! here); opening one is a read-modify-write followed, when every gate is
//! open, by `PE_UNMASK`'s path (join the candidate sets, route what
//! waits). Routing, delivery, restore checks and the ready sets read
//! `gate != 0` and need nothing else.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use fwcall_smccc::sync::Lock;
use fwcall_smccc::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
use fwcall_smccc::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64};
use fwcall_smccc::{CALL_REGS, Mpidr, VcpuIndex};

use crate::config::{CpuFeatures, MAX_VCPUS, Priority, SdeiConfig, SdeiConfigError, SdeiVersion};
use crate::events::{EventRef, EventTable};
use crate::hook::{HookCall, InterruptHook};
use crate::ready::ReadySet;
use crate::state_machine::HandlerState;

/// Shared-event routing mode (`EVENT_REGISTER` flags bit 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Routing {
    /// `RM_ANY` (0): any unmasked vCPU.
    #[default]
    Any,
    /// `RM_PE` (1): only the vCPU whose affinity was given.
    Pe,
}

impl Routing {
    /// The flag value.
    pub const fn bits(self) -> u64 {
        match self {
            Routing::Any => 0,
            Routing::Pe => 1,
        }
    }
}

/// `busy` mirror values: the priority of the top-most running handler.
pub(crate) const BUSY_IDLE: u8 = 0;
pub(crate) const BUSY_NORMAL: u8 = 1;
pub(crate) const BUSY_CRITICAL: u8 = 2;

/// `gate` bit: the SDEI PE mask (`PE_MASK`/`PE_UNMASK`).
pub(crate) const GATE_MASKED: u8 = 1 << 0;
/// `gate` bit: the vCPU is powered off (`Sdei::power_off`/`power_on`).
pub(crate) const GATE_OFF: u8 = 1 << 1;

/// One saved (interrupted) context.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Saved {
    pub event: u32,
    pub which: EventRef,
    pub priority: Priority,
    pub x: [u64; CALL_REGS],
    pub pc: u64,
    pub pstate: u64,
    pub sctlr: u64,
}

/// A private handler's registration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Handler {
    pub entry: u64,
    pub arg: u64,
}

/// One vCPU's private SDEI state (behind its lock).
#[derive(Debug)]
pub(crate) struct VcpuState {
    pub registered: u64,
    pub enabled: u64,
    pub running: u64,
    pub pending: u64,
    pub handlers: Vec<Handler>,
    pub stack: heapless::Vec<Saved, 2>,
}

impl VcpuState {
    pub fn new(n_private: usize) -> Self {
        VcpuState {
            registered: 0,
            enabled: 0,
            running: 0,
            pending: 0,
            handlers: alloc::vec![Handler::default(); n_private],
            stack: heapless::Vec::new(),
        }
    }

    pub fn state(&self, i: usize) -> HandlerState {
        let b = |m: u64, s: u32| (((m >> i) & 1) as u8) << s;
        HandlerState::from_bits(b(self.registered, 0) | b(self.enabled, 1) | b(self.running, 2))
            .unwrap_or_default()
    }

    /// Instances that are not unregistered-and-idle (state 0).
    pub fn in_use(&self) -> u64 {
        self.registered | self.running
    }

    fn put(&mut self, i: usize, s: HandlerState) {
        let bit = 1u64 << i;
        let put = |m: &mut u64, on: bool| {
            if on { *m |= bit } else { *m &= !bit }
        };
        put(&mut self.registered, s.registered());
        put(&mut self.enabled, s.enabled());
        put(&mut self.running, s.running());
    }

    /// The priority of the top-most running handler, as a busy level.
    pub fn busy(&self) -> u8 {
        match self.stack.last() {
            None => BUSY_IDLE,
            Some(s) if s.priority == Priority::Critical => BUSY_CRITICAL,
            Some(_) => BUSY_NORMAL,
        }
    }

    /// Private events that could be entered right now.
    pub fn deliverable_private(&self, table: &EventTable, gated: bool) -> u64 {
        if gated {
            return 0;
        }
        self.pending
            & self.registered
            & self.enabled
            & !self.running
            & allowed(self.busy(), table.private_critical)
    }
}

/// The events a vCPU at `busy` may enter: anything when idle, critical
/// events over a normal handler, nothing over a critical one.
pub(crate) const fn allowed(busy: u8, critical: u64) -> u64 {
    match busy {
        BUSY_IDLE => u64::MAX,
        BUSY_NORMAL => critical,
        _ => 0,
    }
}

/// Whether a vCPU at `busy` may take an event of `priority`.
pub(crate) const fn allows(busy: u8, priority: Priority) -> bool {
    match priority {
        Priority::Normal => busy == BUSY_IDLE,
        Priority::Critical => busy != BUSY_CRITICAL,
    }
}

/// A vCPU's lock plus the atomics other threads read or set without it.
#[repr(align(128))]
pub(crate) struct VcpuSlot {
    pub state: Lock<VcpuState>,
    /// "Maybe something to deliver": set by whoever makes an event
    /// deliverable, cleared only at the start of `take_delivery`.
    pub hint: AtomicBool,
    /// Why the vCPU may take no delivery now (bits; [`GATE_MASKED`],
    /// [`GATE_OFF`]).
    /// Authoritative: `PE_MASK`/`PE_UNMASK` are one read-modify-write.
    pub gate: AtomicU8,
    /// Mirror of `VcpuState::pending` ("maybe pending": set before the
    /// gate is checked, made exact again by `take_delivery`).
    pub pending: AtomicU64,
    /// Mirror of `VcpuState::busy()` for routing (written under the vCPU
    /// lock). Not idle exactly while a context is saved, so
    /// `EVENT_CONTEXT` reads it (acquire) before `ctx`.
    pub busy: AtomicU8,
    /// `X0..X17` of the top saved context while one is saved (written
    /// under the vCPU lock before `busy` is stored): `EVENT_CONTEXT`, a
    /// call of the vCPU's own thread, reads them without the lock.
    pub ctx: [AtomicU64; CALL_REGS],
    /// Shared events (bits) pending and routed to this vCPU (written under
    /// the shared lock).
    pub shared_for_me: AtomicU64,
    /// `EVENT_STATUS` bits of each private event (written under the vCPU
    /// lock with the state; `EVENT_STATUS` reads them without it).
    pub status: Box<[AtomicU8]>,
    /// Mirror of `VcpuState::in_use()` (written under the vCPU lock when
    /// it changes): `CPU_ON` reads it to skip the reset of a vCPU that has
    /// nothing to reset.
    pub in_use: AtomicU64,
}

impl fmt::Debug for VcpuSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VcpuSlot")
            .field("gate", &self.gate.load(SeqCst))
            .field("busy", &self.busy.load(SeqCst))
            .finish_non_exhaustive()
    }
}

impl VcpuSlot {
    pub fn new(state: VcpuState) -> Self {
        let n_private = state.handlers.len();
        VcpuSlot {
            gate: AtomicU8::new(GATE_MASKED),
            pending: AtomicU64::new(state.pending),
            busy: AtomicU8::new(state.busy()),
            ctx: core::array::from_fn(|_| AtomicU64::new(0)),
            state: Lock::new(state),
            hint: AtomicBool::new(false),
            shared_for_me: AtomicU64::new(0),
            status: (0..n_private).map(|_| AtomicU8::new(0)).collect(),
            in_use: AtomicU64::new(0),
        }
    }

    /// Whether a gate is closed (no delivery now).
    #[inline]
    pub fn gated(&self) -> bool {
        self.gate.load(SeqCst) != 0
    }

    /// Publishes the registers of the top saved context, if any, for
    /// `EVENT_CONTEXT` (the caller holds the vCPU lock and stores `busy`
    /// after this, which orders these stores for another thread).
    #[inline]
    pub fn publish_context(&self, st: &VcpuState) {
        if let Some(top) = st.stack.last() {
            for (m, x) in self.ctx.iter().zip(top.x) {
                m.store(x, Relaxed);
            }
        }
    }

    /// Whether the vCPU can take an event of `priority` now, by its atomics.
    #[inline]
    pub fn can_take(&self, priority: Priority) -> bool {
        !self.gated() && allows(self.busy.load(SeqCst), priority)
    }
}

/// The one instance of a shared event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SharedInstance {
    pub state: HandlerState,
    pub entry: u64,
    pub arg: u64,
    pub routing: Routing,
    pub affinity: u64,
    pub pending: bool,
    pub target: Option<u32>,
    pub running_on: Option<u32>,
}

impl SharedInstance {
    pub fn routable(&self) -> bool {
        self.pending && self.state == HandlerState::REGISTERED_ENABLED
    }
}

/// Shared events and interrupt bindings (behind the shared lock).
#[derive(Debug)]
pub(crate) struct SharedTable {
    pub events: Vec<SharedInstance>,
    /// INTID bound to each private event index (slots only).
    pub private_bind: Vec<Option<u32>>,
    /// INTID bound to each shared event index (slots only).
    pub shared_bind: Vec<Option<u32>>,
}

/// First PPI INTID; PPIs are 16..=31.
pub(crate) const FIRST_PPI: u32 = 16;

/// An SDEI server for one VM.
///
/// ```
/// use fwcall_sdei::{Sdei, SdeiConfig};
/// use fwcall_smccc::{ids, Call, Mpidr, Reply, VcpuIndex};
///
/// let sdei = Sdei::new(&SdeiConfig::default(), &[Mpidr::kvm_default(0)]).unwrap();
/// let out = sdei.call(VcpuIndex(0), &Call::new(ids::SDEI_VERSION, &[]));
/// assert_eq!(out.reply, Reply::x0(0x0001_0001_0066_7763));
/// ```
pub struct Sdei {
    pub(crate) version: SdeiVersion,
    pub(crate) features: CpuFeatures,
    pub(crate) table: EventTable,
    pub(crate) mpidrs: Vec<Mpidr>,
    /// (affinity, vCPU index), sorted by affinity.
    pub(crate) by_affinity: Vec<(u64, u32)>,
    pub(crate) shared: Lock<SharedTable>,
    pub(crate) vcpus: Box<[VcpuSlot]>,
    /// vCPUs that may be open and idle (able to take a normal event).
    pub(crate) ready_normal: ReadySet,
    /// vCPUs that may be open and not running a critical handler.
    pub(crate) ready_critical: ReadySet,
    /// Shared events (bits) pending, enabled and waiting for an able vCPU
    /// (written under the shared lock).
    pub(crate) waiting: AtomicU64,
    /// `EVENT_STATUS` bits of each shared event (written under the shared
    /// lock with the table; read without it).
    pub(crate) shared_status: Box<[AtomicU8]>,
    /// Per private event: vCPUs whose instance is not unregistered-and-idle
    /// (written under that vCPU's lock).
    pub(crate) private_in_use: Box<[AtomicU32]>,
    /// Private event index + 1 bound to PPI `FIRST_PPI + k`, 0 if none
    /// (written under the shared lock).
    pub(crate) ppi: [AtomicU8; 16],
    /// Number of bound dynamic slots (fast "nothing bound" for `irq`).
    pub(crate) bound: AtomicU32,
    pub(crate) hook: Option<Box<dyn InterruptHook>>,
}

impl fmt::Debug for Sdei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sdei")
            .field("version", &self.version)
            .field("features", &self.features)
            .field("vcpus", &self.vcpus.len())
            .field("private_events", &self.table.private.len())
            .field("shared_events", &self.table.shared.len())
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

pub(crate) fn affinity_index(mpidrs: &[Mpidr]) -> Result<Vec<(u64, u32)>, SdeiConfigError> {
    if mpidrs.is_empty() {
        return Err(SdeiConfigError::NoVcpus);
    }
    if mpidrs.len() > MAX_VCPUS {
        return Err(SdeiConfigError::TooManyVcpus(mpidrs.len()));
    }
    let mut by: Vec<(u64, u32)> = Vec::with_capacity(mpidrs.len());
    for (i, m) in mpidrs.iter().enumerate() {
        if !m.is_well_formed() {
            return Err(SdeiConfigError::MalformedMpidr {
                index: i,
                mpidr: m.0,
            });
        }
        by.push((m.affinity(), i as u32));
    }
    by.sort_unstable();
    if let Some(w) = by.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(SdeiConfigError::DuplicateMpidr {
            first: w[0].1.min(w[1].1) as usize,
            second: w[0].1.max(w[1].1) as usize,
            affinity: w[0].0,
        });
    }
    Ok(by)
}

/// Writes a `EVENT_STATUS` mirror (its writer holds the state's lock).
/// Not part of the routing protocol: release/acquire suffices, and an
/// unchanged value is not written again.
#[inline]
pub(crate) fn publish_status(m: &AtomicU8, s: HandlerState) {
    if m.load(Relaxed) != s.bits() {
        m.store(s.bits(), Release);
    }
}

/// Indices of the set bits of `m`, lowest first.
pub(crate) fn bits(mut m: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        (m != 0).then(|| {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            i
        })
    })
}

impl Sdei {
    /// Builds the server for a VM whose vCPU `i` has `mpidrs[i]`. Every vCPU
    /// starts masked with nothing registered.
    ///
    /// ```
    /// use fwcall_sdei::{Sdei, SdeiConfig, SdeiConfigError};
    /// use fwcall_smccc::Mpidr;
    /// let two = [Mpidr::kvm_default(0), Mpidr::kvm_default(1)];
    /// assert!(Sdei::new(&SdeiConfig::default(), &two).is_ok());
    /// assert_eq!(Sdei::new(&SdeiConfig::default(), &[]).unwrap_err(), SdeiConfigError::NoVcpus);
    /// ```
    pub fn new(config: &SdeiConfig, mpidrs: &[Mpidr]) -> Result<Self, SdeiConfigError> {
        let table = EventTable::new(config)?;
        let by_affinity = affinity_index(mpidrs)?;
        let n_private = table.private.len();
        let n_shared = table.shared.len();
        let shared = SharedTable {
            events: alloc::vec![SharedInstance::default(); n_shared],
            private_bind: alloc::vec![None; n_private],
            shared_bind: alloc::vec![None; n_shared],
        };
        let vcpus = mpidrs
            .iter()
            .map(|_| VcpuSlot::new(VcpuState::new(n_private)))
            .collect();
        Ok(Sdei {
            version: config.version,
            features: config.cpu_features,
            table,
            mpidrs: mpidrs.to_vec(),
            by_affinity,
            shared: Lock::new(shared),
            vcpus,
            ready_normal: ReadySet::new(mpidrs.len()),
            ready_critical: ReadySet::new(mpidrs.len()),
            waiting: AtomicU64::new(0),
            shared_status: (0..n_shared).map(|_| AtomicU8::new(0)).collect(),
            private_in_use: (0..n_private).map(|_| AtomicU32::new(0)).collect(),
            ppi: core::array::from_fn(|_| AtomicU8::new(0)),
            bound: AtomicU32::new(0),
            hook: None,
        })
    }

    /// Installs the hook told when a bound interrupt becomes an SDEI
    /// trigger and when it is given back.
    pub fn set_interrupt_hook(&mut self, hook: Box<dyn InterruptHook>) {
        self.hook = Some(hook);
    }

    /// The reported version.
    pub fn version(&self) -> SdeiVersion {
        self.version
    }

    /// Number of vCPUs.
    pub fn vcpu_count(&self) -> usize {
        self.vcpus.len()
    }

    /// The `SDEI_FEATURES(0)` (`BIND_SLOTS`) value: private slots in bits
    /// 15:0, shared slots in bits 31:16.
    ///
    /// ```
    /// use fwcall_sdei::{Sdei, SdeiConfig};
    /// use fwcall_smccc::Mpidr;
    /// let config = SdeiConfig { private_slots: 2, shared_slots: 5, ..Default::default() };
    /// let sdei = Sdei::new(&config, &[Mpidr::kvm_default(0)]).unwrap();
    /// assert_eq!(sdei.features_word(), 0x0005_0002);
    /// ```
    pub fn features_word(&self) -> u64 {
        self.table.private_slot_count() as u64 | (self.table.shared_slot_count() as u64) << 16
    }

    /// The MPIDR of a vCPU.
    pub fn mpidr(&self, vcpu: VcpuIndex) -> Option<Mpidr> {
        self.mpidrs.get(vcpu.get()).copied()
    }

    /// Whether the vCPU is PE-masked (`None` for an unknown vCPU).
    pub fn is_masked(&self, vcpu: VcpuIndex) -> Option<bool> {
        self.vcpus
            .get(vcpu.get())
            .map(|s| s.gate.load(SeqCst) & GATE_MASKED != 0)
    }

    /// Whether a delivery may be waiting for the vCPU: a single atomic
    /// load, to ask before every resume. A `true` may be stale (then
    /// [`Sdei::take_delivery`] returns `None`); a `false` is never stale
    /// with respect to anything that finished before the call.
    pub fn has_pending(&self, vcpu: VcpuIndex) -> bool {
        self.vcpus
            .get(vcpu.get())
            .is_some_and(|s| s.hint.load(SeqCst))
    }

    /// The vCPU whose affinity a register value names, if it is a valid MPIDR.
    pub(crate) fn vcpu_by_mpidr(&self, raw: u64) -> Option<u32> {
        let m = Mpidr(raw);
        if !m.is_well_formed() {
            return None;
        }
        self.vcpu_by_affinity(m.affinity())
    }

    pub(crate) fn vcpu_by_affinity(&self, affinity: u64) -> Option<u32> {
        self.by_affinity
            .binary_search_by_key(&affinity, |(a, _)| *a)
            .ok()
            .and_then(|i| self.by_affinity.get(i))
            .map(|(_, v)| *v)
    }

    /// The event a register names: bits 63:32 must be zero.
    pub(crate) fn lookup_arg(&self, raw: u64) -> Option<EventRef> {
        let number = u32::try_from(raw).ok()?;
        self.table.lookup(number)
    }

    pub(crate) fn slot(&self, v: u32) -> &VcpuSlot {
        // Indices come from validated tables; fall back to vCPU 0 rather
        // than panic if that ever fails.
        self.vcpus.get(v as usize).unwrap_or(&self.vcpus[0])
    }

    /// The priority of shared event `i`.
    pub(crate) fn shared_priority(&self, i: usize) -> Priority {
        self.table
            .shared
            .get(i)
            .map_or(Priority::Normal, |e| e.priority)
    }

    /// Sets private instance `i` of vCPU `v` (whose lock the caller holds),
    /// keeping its `EVENT_STATUS` mirror and the in-use count
    /// `INTERRUPT_RELEASE` reads.
    #[inline]
    pub(crate) fn set_private(&self, v: u32, st: &mut VcpuState, i: usize, s: HandlerState) {
        let slot = self.slot(v);
        let was = (st.in_use() >> i) & 1 != 0;
        st.put(i, s);
        if let Some(m) = slot.status.get(i) {
            publish_status(m, s);
        }
        let now = (st.in_use() >> i) & 1 != 0;
        if was != now {
            // Register/unregister only: a dispatch or completion of a
            // registered instance leaves it in use.
            self.in_use_changed(slot, st.in_use(), i, now);
        }
    }

    /// The rare tail of `set_private`: instance `i` of the vCPU at `slot`
    /// entered (`now`) or left the in-use set, whose new value is `in_use`.
    #[cold]
    #[inline(never)]
    fn in_use_changed(&self, slot: &VcpuSlot, in_use: u64, i: usize, now: bool) {
        slot.in_use.store(in_use, Release);
        if let Some(c) = self.private_in_use.get(i) {
            if now {
                c.fetch_add(1, SeqCst);
            } else {
                c.fetch_sub(1, SeqCst);
            }
        }
    }

    /// Sets shared instance `i`'s state (shared lock held) and its mirror.
    pub(crate) fn set_shared(&self, e: &mut SharedInstance, i: usize, s: HandlerState) {
        e.state = s;
        if let Some(m) = self.shared_status.get(i) {
            publish_status(m, s);
        }
    }

    /// Sets the hint if the vCPU (whose lock the caller holds) can take
    /// something now.
    pub(crate) fn refresh_hint(&self, slot: &VcpuSlot, st: &VcpuState) -> bool {
        let gated = slot.gated();
        let any = st.deliverable_private(&self.table, gated) != 0
            || (!gated && slot.shared_for_me.load(SeqCst) != 0);
        if any {
            slot.hint.store(true, SeqCst);
        }
        any
    }

    /// Runs the hook calls collected while locks were held.
    pub(crate) fn run_hooks(&self, log: &[HookCall]) {
        if let Some(h) = &self.hook {
            for c in log {
                match *c {
                    HookCall::Divert(intid, target) => h.divert(intid, target),
                    HookCall::GiveBack(intid, vcpu) => h.give_back_on(intid, vcpu),
                }
            }
        }
    }
}
