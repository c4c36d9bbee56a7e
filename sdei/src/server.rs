//! The VM-wide server: its tables, locks and cross-vCPU routing.
//!
//! Locking (fixed order, never reversed): the shared table first, then at
//! most one vCPU lock at a time, or several in ascending index order. Hot
//! calls on a vCPU's own events (`PE_MASK`/`PE_UNMASK`, `EVENT_CONTEXT`,
//! `EVENT_COMPLETE` of a private event) take only that vCPU's lock, and
//! take the shared lock only when an atomic says shared work is waiting.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::SeqCst};

use fwcall_smccc::{CALL_REGS, Kicks, Mpidr, VcpuIndex};

use crate::config::{CpuFeatures, MAX_VCPUS, Priority, SdeiConfig, SdeiConfigError, SdeiVersion};
use crate::events::{EventRef, EventTable};
use crate::hook::{HookCall, InterruptHook};
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

    pub fn set_state(&mut self, i: usize, s: HandlerState) {
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
    pub fn deliverable_private(&self, table: &EventTable, masked: bool) -> u64 {
        if masked {
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
    pub state: spin::Mutex<VcpuState>,
    /// "Maybe something to deliver": set by whoever makes an event
    /// deliverable, cleared only at the start of `take_delivery`.
    pub hint: AtomicBool,
    /// The PE mask (authoritative: `PE_MASK`/`PE_UNMASK` are a single swap).
    pub masked: AtomicBool,
    /// Mirror of `VcpuState::pending` ("maybe pending": set before the
    /// mask is checked, made exact again by `take_delivery`).
    pub pending: AtomicU64,
    /// Mirror of `VcpuState::busy()` for routing.
    pub busy: AtomicU8,
    /// Shared events (bits) pending and routed to this vCPU.
    pub shared_for_me: AtomicU64,
}

impl VcpuSlot {
    pub fn new(state: VcpuState) -> Self {
        VcpuSlot {
            masked: AtomicBool::new(true),
            pending: AtomicU64::new(state.pending),
            busy: AtomicU8::new(state.busy()),
            state: spin::Mutex::new(state),
            hint: AtomicBool::new(false),
            shared_for_me: AtomicU64::new(0),
        }
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
    pub(crate) shared: spin::Mutex<SharedTable>,
    pub(crate) vcpus: Box<[VcpuSlot]>,
    /// Shared events pending, enabled and waiting for an eligible vCPU.
    pub(crate) waiting: AtomicU32,
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
        let shared = SharedTable {
            events: alloc::vec![SharedInstance::default(); table.shared.len()],
            private_bind: alloc::vec![None; n_private],
            shared_bind: alloc::vec![None; table.shared.len()],
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
            shared: spin::Mutex::new(shared),
            vcpus,
            waiting: AtomicU32::new(0),
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
        self.vcpus.get(vcpu.get()).map(|s| s.masked.load(SeqCst))
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

    /// Sets the hint if the vCPU (whose lock the caller holds) can take
    /// something now.
    pub(crate) fn refresh_hint(&self, slot: &VcpuSlot, st: &VcpuState) -> bool {
        let masked = slot.masked.load(SeqCst);
        let any = st.deliverable_private(&self.table, masked) != 0
            || (!masked && slot.shared_for_me.load(SeqCst) != 0);
        if any {
            slot.hint.store(true, SeqCst);
        }
        any
    }

    /// Routes every pending shared event again (shared lock held): drops
    /// targets that can no longer take their event, and gives each
    /// routable event without a target one. `RM_PE` goes to its vCPU
    /// whatever its mask (it waits there); `RM_ANY` goes to the lowest-index
    /// vCPU that is unmasked and idle enough for the event's priority, or
    /// waits for one (counted in `waiting`).
    pub(crate) fn reroute(&self, t: &mut SharedTable, kicks: &mut Kicks) {
        self.reroute_pass(t, kicks);
        if self.waiting.load(SeqCst) != 0 {
            // A vCPU may have unmasked or completed after the first pass
            // read its mirrors but before `waiting` was published: it then
            // did not see `waiting`, so look once more.
            self.reroute_pass(t, kicks);
        }
    }

    /// Takes the shared lock and reroutes (the rare tail of hot calls).
    #[cold]
    #[inline(never)]
    pub(crate) fn reroute_cold(&self, kicks: &mut Kicks) {
        let mut t = self.shared.lock();
        self.reroute(&mut t, kicks);
    }

    fn reroute_pass(&self, t: &mut SharedTable, kicks: &mut Kicks) {
        let mut waiting = 0;
        for (i, e) in t.events.iter_mut().enumerate() {
            let bit = 1u64 << i;
            let priority = self
                .table
                .shared
                .get(i)
                .map_or(Priority::Normal, |e| e.priority);
            let routable = e.routable();
            if let Some(tg) = e.target {
                let s = self.slot(tg);
                let keep = routable
                    && match e.routing {
                        Routing::Pe => true,
                        Routing::Any => {
                            !s.masked.load(SeqCst) && allows(s.busy.load(SeqCst), priority)
                        }
                    };
                if keep {
                    continue;
                }
                s.shared_for_me.fetch_and(!bit, SeqCst);
                e.target = None;
            }
            if !routable {
                continue;
            }
            match self.choose(e.routing, e.affinity, priority, bit) {
                Some(tg) => {
                    e.target = Some(tg);
                    kicks.add(VcpuIndex(tg));
                }
                None => waiting += 1,
            }
        }
        self.waiting.store(waiting, SeqCst);
    }

    fn choose(&self, routing: Routing, affinity: u64, priority: Priority, bit: u64) -> Option<u32> {
        let claim = |v: u32, check_mask: bool| {
            let s = self.slot(v);
            s.shared_for_me.fetch_or(bit, SeqCst);
            if check_mask && s.masked.load(SeqCst) {
                // It masked meanwhile; its PE_MASK may not have seen the bit.
                s.shared_for_me.fetch_and(!bit, SeqCst);
                return false;
            }
            s.hint.store(true, SeqCst);
            true
        };
        match routing {
            Routing::Pe => {
                let v = self.vcpu_by_affinity(affinity)?;
                claim(v, false).then_some(v)
            }
            Routing::Any => (0..self.vcpus.len() as u32).find(|&v| {
                let s = self.slot(v);
                !s.masked.load(SeqCst) && allows(s.busy.load(SeqCst), priority) && claim(v, true)
            }),
        }
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
