//! The server's complete state as plain data, for snapshots and migration.
//!
//! [`Sdei::state`] exports it (take it while every vCPU is paused);
//! [`Sdei::restore`] builds a server from a configuration and a state,
//! validating every field: any input gives a server or a typed error.

use alloc::vec::Vec;
use fwcall_smccc::sync::atomic::Ordering::SeqCst;

use fwcall_smccc::{CALL_REGS, Mpidr};

use crate::config::{Priority, SdeiConfig, SdeiConfigError};
use crate::events::{EventRef, Origin};
use crate::server::{GATE_MASKED, GATE_OFF, Handler, Routing, Saved, Sdei, SharedInstance};
use crate::state_machine::HandlerState;

/// Everything the server holds.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SdeiState {
    /// Every shared event, in ascending event number.
    pub shared: Vec<SharedEventState>,
    /// Every dynamic slot (private slots, then shared), ascending.
    pub slots: Vec<SlotState>,
    /// One entry per vCPU.
    pub vcpus: Vec<VcpuSdeiState>,
}

/// One shared event's instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SharedEventState {
    /// Event number.
    pub event: u32,
    /// `EVENT_STATUS` bits (0, 1, 3, 4, 5 or 7).
    pub status: u8,
    /// Handler entry (0 when unregistered).
    pub entry: u64,
    /// Handler argument (0 when unregistered).
    pub arg: u64,
    /// Routing mode (`Any` when unregistered).
    pub routing: Routing,
    /// `RM_PE` affinity (0 otherwise).
    pub affinity: u64,
    /// A trigger is waiting.
    pub pending: bool,
    /// The vCPU the pending trigger is routed to, if chosen.
    pub target: Option<u32>,
    /// The vCPU running its handler.
    pub running_on: Option<u32>,
}

/// One dynamic slot's binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SlotState {
    /// The slot's event number.
    pub event: u32,
    /// The bound INTID.
    pub intid: Option<u32>,
}

/// One vCPU's state.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VcpuSdeiState {
    /// PE-masked.
    pub masked: bool,
    /// Every private event, in ascending event number.
    pub private: Vec<PrivateEventState>,
    /// Saved contexts, oldest first (0..=2; a normal one under a critical one).
    pub stack: Vec<SavedContextState>,
}

/// One private event's instance on one vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PrivateEventState {
    /// Event number.
    pub event: u32,
    /// `EVENT_STATUS` bits.
    pub status: u8,
    /// Handler entry (0 when unregistered).
    pub entry: u64,
    /// Handler argument (0 when unregistered).
    pub arg: u64,
    /// A trigger is waiting.
    pub pending: bool,
}

/// A context interrupted by a dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SavedContextState {
    /// The event whose handler runs.
    pub event: u32,
    /// Interrupted `X0..X17`.
    pub x: [u64; CALL_REGS],
    /// Interrupted `PC`.
    pub pc: u64,
    /// Interrupted `PSTATE`.
    pub pstate: u64,
    /// `SCTLR_EL1` at the dispatch.
    pub sctlr_el1: u64,
}

/// Why a state was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdeiStateError {
    /// The destination configuration itself is invalid.
    #[error("the configuration is invalid: {0}")]
    Config(#[from] SdeiConfigError),
    /// vCPU count differs.
    #[error(
        "the state has {found} vCPUs but the VM has {expected}: restore into a VM of the same size"
    )]
    VcpuCount {
        /// vCPUs in the VM.
        expected: usize,
        /// vCPUs in the state.
        found: usize,
    },
    /// The event lists differ from the configuration.
    #[error(
        "the {what} events in the state are not those of the configuration: declare the same events on both hosts"
    )]
    EventsDiffer {
        /// `private`, `shared` or `slot`.
        what: &'static str,
    },
    /// Status bits that are not a state.
    #[error(
        "event {event:#x} has status {status}, which is not a handler state (legal: 0, 1, 3, 4, 5, 7)"
    )]
    BadStatus {
        /// The event.
        event: u32,
        /// The bits.
        status: u8,
    },
    /// Registration fields inconsistent with the status.
    #[error(
        "event {event:#x}: entry, argument or routing disagree with the status (registered needs a non-zero entry; unregistered needs all zero)"
    )]
    BadRegistration {
        /// The event.
        event: u32,
    },
    /// Pending without registration, or a target without a routable trigger.
    #[error(
        "event {event:#x}: a pending trigger without a registration, or a target vCPU without a routable trigger or out of range"
    )]
    BadPending {
        /// The event.
        event: u32,
    },
    /// A pending shared trigger routed to a vCPU that cannot take it.
    #[error(
        "event {event:#x}: its pending trigger is routed to vCPU {vcpu}, which cannot take it (masked, busy at the event's priority, or not the RM_PE vCPU); fwcall never writes such a state"
    )]
    UnableTarget {
        /// The event.
        event: u32,
        /// The vCPU named as its target.
        vcpu: u32,
    },
    /// A pending shared trigger waits with no vCPU chosen while one could
    /// take it.
    #[error(
        "event {event:#x}: its pending trigger waits with no vCPU chosen although vCPU {vcpu} could take it; fwcall never writes such a state"
    )]
    StrandedTrigger {
        /// The event.
        event: u32,
        /// The lowest vCPU that could take it.
        vcpu: u32,
    },
    /// Running bits and saved contexts disagree.
    #[error("event {event:#x}: the running bit, running vCPU and saved contexts disagree")]
    RunningMismatch {
        /// The event.
        event: u32,
    },
    /// A saved-context stack that cannot happen.
    #[error(
        "vCPU {vcpu}: saved contexts must be at most two, of known events, a normal one under a critical one"
    )]
    BadStack {
        /// The vCPU.
        vcpu: usize,
    },
    /// A vCPU that is powered off holds a running handler (`CPU_OFF`
    /// discards them).
    #[error(
        "vCPU {vcpu} is powered off but has a handler running (saved contexts); fwcall discards them at CPU_OFF, so the state is corrupt"
    )]
    HandlerOnOffVcpu {
        /// The vCPU.
        vcpu: usize,
    },
    /// A pending `RM_ANY` trigger routed to a vCPU that is powered off.
    #[error(
        "event {event:#x}: its RM_ANY trigger is routed to vCPU {vcpu}, which is powered off; fwcall routes triggers away at CPU_OFF, so the state is corrupt"
    )]
    RoutedToOffVcpu {
        /// The event.
        event: u32,
        /// The vCPU named as its target.
        vcpu: u32,
    },
    /// A binding that cannot happen.
    #[error(
        "slot {event:#x}: INTID binding invalid (PPI 16..=31 for private slots, SPI 32..=1019 for shared, each once, bound while in use)"
    )]
    BadBinding {
        /// The slot's event.
        event: u32,
    },
}

type E = SdeiStateError;

fn status(event: u32, bits: u8) -> Result<HandlerState, E> {
    HandlerState::from_bits(bits).ok_or(E::BadStatus {
        event,
        status: bits,
    })
}

fn check_registration(event: u32, s: HandlerState, entry: u64, arg: u64) -> Result<(), E> {
    let ok = if s.registered() {
        entry != 0
    } else {
        entry == 0 && arg == 0
    };
    ok.then_some(()).ok_or(E::BadRegistration { event })
}

impl Sdei {
    /// Exports the whole state. Take it while every vCPU is paused.
    ///
    /// ```
    /// use fwcall_sdei::{Sdei, SdeiConfig};
    /// use fwcall_smccc::Mpidr;
    /// let config = SdeiConfig::default();
    /// let mpidrs = [Mpidr::kvm_default(0)];
    /// let sdei = Sdei::new(&config, &mpidrs).unwrap();
    /// let copy = Sdei::restore(&config, &mpidrs, &sdei.state()).unwrap();
    /// assert_eq!(copy.state(), sdei.state());
    /// ```
    pub fn state(&self) -> SdeiState {
        let t = self.shared.lock();
        let shared = t
            .events
            .iter()
            .zip(&self.table.shared)
            .map(|(e, info)| SharedEventState {
                event: info.number,
                status: e.state.bits(),
                entry: e.entry,
                arg: e.arg,
                routing: e.routing,
                affinity: e.affinity,
                pending: e.pending,
                target: e.target,
                running_on: e.running_on,
            })
            .collect();
        let private_slots = self
            .table
            .private
            .iter()
            .zip(&t.private_bind)
            .filter(|(i, _)| i.origin == Origin::Slot);
        let shared_slots = self
            .table
            .shared
            .iter()
            .zip(&t.shared_bind)
            .filter(|(i, _)| i.origin == Origin::Slot);
        let slots = private_slots
            .chain(shared_slots)
            .map(|(i, b)| SlotState {
                event: i.number,
                intid: *b,
            })
            .collect();
        for (i, e) in t.events.iter().enumerate() {
            debug_assert_eq!(
                self.shared_status.get(i).map(|m| m.load(SeqCst)),
                Some(e.state.bits()),
                "shared status mirror of event index {i}"
            );
        }
        // One vCPU lock at a time, never under the shared lock (the vCPUs
        // are paused, so the two reads see one state).
        drop(t);
        let vcpus = self
            .vcpus
            .iter()
            .map(|s| {
                let st = s.state.lock();
                VcpuSdeiState {
                    masked: s.gate.load(SeqCst) & GATE_MASKED != 0,
                    private: self
                        .table
                        .private
                        .iter()
                        .enumerate()
                        .map(|(i, info)| {
                            let h = st.handlers.get(i).copied().unwrap_or_default();
                            debug_assert_eq!(
                                s.status.get(i).map(|m| m.load(SeqCst)),
                                Some(st.state(i).bits()),
                                "private status mirror of event index {i}"
                            );
                            PrivateEventState {
                                event: info.number,
                                status: st.state(i).bits(),
                                entry: h.entry,
                                arg: h.arg,
                                pending: st.pending & (1 << i) != 0,
                            }
                        })
                        .collect(),
                    stack: st
                        .stack
                        .iter()
                        .map(|c| SavedContextState {
                            event: c.event,
                            x: c.x,
                            pc: c.pc,
                            pstate: c.pstate,
                            sctlr_el1: c.sctlr,
                        })
                        .collect(),
                }
            })
            .collect();
        SdeiState {
            shared,
            slots,
            vcpus,
        }
    }

    /// Builds a server from `config` and `mpidrs` (as [`Sdei::new`]) and
    /// loads `state` into it, after checking every field against the
    /// configuration and the invariants the server relies on. Never
    /// panics. Install the hook afterwards and call
    /// [`Sdei::replay_diversions`] so the VMM re-diverts bound interrupts.
    ///
    /// ```
    /// use fwcall_sdei::{Sdei, SdeiConfig, SdeiStateError};
    /// use fwcall_smccc::Mpidr;
    /// let config = SdeiConfig::default();
    /// let sdei = Sdei::new(&config, &[Mpidr::kvm_default(0)]).unwrap();
    /// let mut state = sdei.state();
    /// state.vcpus[0].private[0].status = 2; // enabled but not registered
    /// assert!(matches!(
    ///     Sdei::restore(&config, &[Mpidr::kvm_default(0)], &state),
    ///     Err(SdeiStateError::BadStatus { event: 0, status: 2 })
    /// ));
    /// ```
    pub fn restore(config: &SdeiConfig, mpidrs: &[Mpidr], state: &SdeiState) -> Result<Self, E> {
        Self::restore_with_power(config, mpidrs, state, &[])
    }

    /// [`Sdei::restore`] for a VM whose vCPU `i` is powered off when
    /// `powered_off[i]` is true (missing entries: on), as after
    /// [`Sdei::power_off`]. The state must be one fwcall can reach: an off
    /// vCPU has no handler running ([`SdeiStateError::HandlerOnOffVcpu`])
    /// and no `RM_ANY` trigger routed to it
    /// ([`SdeiStateError::RoutedToOffVcpu`]); it may keep private
    /// registrations (`CPU_ON` resets them).
    ///
    /// ```
    /// use fwcall_sdei::{Interrupted, Sdei, SdeiConfig, SdeiStateError};
    /// use fwcall_smccc::{ids, Call, Mpidr, VcpuIndex};
    /// let config = SdeiConfig::default();
    /// let mpidrs = [Mpidr::kvm_default(0), Mpidr::kvm_default(1)];
    /// let sdei = Sdei::new(&config, &mpidrs).unwrap();
    /// let v1 = VcpuIndex(1);
    /// sdei.call(v1, &Call::new(ids::SDEI_EVENT_REGISTER, &[0, 0x1000, 0, 0, 0]));
    /// sdei.call(v1, &Call::new(ids::SDEI_EVENT_ENABLE, &[0]));
    /// sdei.call(v1, &Call::new(ids::SDEI_PE_UNMASK, &[]));
    /// sdei.call(v1, &Call::new(ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0001]));
    /// sdei.take_delivery(v1, &Interrupted::default()).unwrap();
    /// // A handler runs on vCPU 1: it cannot be off in a consistent state.
    /// assert_eq!(
    ///     Sdei::restore_with_power(&config, &mpidrs, &sdei.state(), &[false, true]).unwrap_err(),
    ///     SdeiStateError::HandlerOnOffVcpu { vcpu: 1 }
    /// );
    /// assert!(Sdei::restore_with_power(&config, &mpidrs, &sdei.state(), &[true, false]).is_ok());
    /// ```
    pub fn restore_with_power(
        config: &SdeiConfig,
        mpidrs: &[Mpidr],
        state: &SdeiState,
        powered_off: &[bool],
    ) -> Result<Self, E> {
        let off = |v: usize| powered_off.get(v).copied().unwrap_or(false);
        let sdei = Sdei::new(config, mpidrs)?;
        let n = sdei.vcpus.len();
        if state.vcpus.len() != n {
            return Err(E::VcpuCount {
                expected: n,
                found: state.vcpus.len(),
            });
        }
        let same_numbers = |infos: &[crate::events::EventInfo],
                            numbers: &mut dyn Iterator<Item = u32>| {
            let mut it = infos.iter();
            loop {
                match (it.next(), numbers.next()) {
                    (None, None) => return true,
                    (Some(a), Some(b)) if a.number == b => {}
                    _ => return false,
                }
            }
        };
        if !same_numbers(
            &sdei.table.shared,
            &mut state.shared.iter().map(|e| e.event),
        ) {
            return Err(E::EventsDiffer { what: "shared" });
        }
        for v in &state.vcpus {
            if !same_numbers(&sdei.table.private, &mut v.private.iter().map(|e| e.event)) {
                return Err(E::EventsDiffer { what: "private" });
            }
        }

        // Private instances and stacks.
        let mut running_shared: Vec<Option<u32>> = alloc::vec![None; sdei.table.shared.len()];
        for (vi, (vs, slot)) in state.vcpus.iter().zip(sdei.vcpus.iter()).enumerate() {
            let mut st = slot.state.lock();
            for (i, p) in vs.private.iter().enumerate() {
                let s = status(p.event, p.status)?;
                check_registration(p.event, s, p.entry, p.arg)?;
                if p.pending && !s.registered() {
                    return Err(E::BadPending { event: p.event });
                }
                sdei.set_private(vi as u32, &mut st, i, s);
                if p.pending {
                    st.pending |= 1 << i;
                }
                if let Some(h) = st.handlers.get_mut(i) {
                    *h = Handler {
                        entry: p.entry,
                        arg: p.arg,
                    };
                }
            }
            if vs.stack.len() > 2 {
                return Err(E::BadStack { vcpu: vi });
            }
            if off(vi) && !vs.stack.is_empty() {
                return Err(E::HandlerOnOffVcpu { vcpu: vi });
            }
            let mut on_stack_private = 0u64;
            for (depth, c) in vs.stack.iter().enumerate() {
                let which = sdei.table.lookup(c.event).ok_or(E::BadStack { vcpu: vi })?;
                let info = *sdei.table.info(which);
                let expected = if vs.stack.len() == 2 && depth == 0 {
                    Some(Priority::Normal)
                } else if depth == 1 {
                    Some(Priority::Critical)
                } else {
                    None
                };
                if expected.is_some_and(|p| p != info.priority) {
                    return Err(E::BadStack { vcpu: vi });
                }
                match which {
                    EventRef::Private(i) => {
                        if on_stack_private & (1 << i) != 0 || !st.state(i).running() {
                            return Err(E::RunningMismatch { event: c.event });
                        }
                        on_stack_private |= 1 << i;
                    }
                    EventRef::Shared(i) => {
                        let slot_ref = running_shared.get_mut(i).ok_or(E::BadStack { vcpu: vi })?;
                        if slot_ref.is_some() {
                            return Err(E::RunningMismatch { event: c.event });
                        }
                        *slot_ref = Some(vi as u32);
                    }
                }
                let _ = st.stack.push(Saved {
                    event: c.event,
                    which,
                    priority: info.priority,
                    x: c.x,
                    pc: c.pc,
                    pstate: c.pstate,
                    sctlr: c.sctlr_el1,
                });
            }
            if st.running != on_stack_private {
                let i = (st.running ^ on_stack_private).trailing_zeros() as usize;
                let event = sdei.table.private.get(i).map_or(0, |e| e.number);
                return Err(E::RunningMismatch { event });
            }
            let masked = if vs.masked { GATE_MASKED } else { 0 };
            let powered = if off(vi) { GATE_OFF } else { 0 };
            slot.gate.store(masked | powered, SeqCst);
            slot.pending.store(st.pending, SeqCst);
            slot.publish_context(&st);
            slot.busy.store(st.busy(), SeqCst);
        }
        // The lowest vCPU able to take a normal / a critical event, if any.
        let able = |p: Priority| (0..n as u32).find(|&v| sdei.slot(v).can_take(p));
        let able_normal = able(Priority::Normal);
        let able_critical = able(Priority::Critical);

        // Shared instances.
        let mut t = sdei.shared.lock();
        let mut waiting = 0u64;
        for (i, s) in state.shared.iter().enumerate() {
            let event = s.event;
            let hs = status(event, s.status)?;
            check_registration(event, hs, s.entry, s.arg)?;
            let routing_ok = match (hs.registered(), s.routing) {
                (false, r) => r == Routing::Any && s.affinity == 0,
                (true, Routing::Any) => s.affinity == 0,
                (true, Routing::Pe) => {
                    Mpidr(s.affinity).affinity() == s.affinity
                        && sdei.vcpu_by_affinity(s.affinity).is_some()
                }
            };
            if !routing_ok {
                return Err(E::BadRegistration { event });
            }
            if s.pending && !hs.registered() {
                return Err(E::BadPending { event });
            }
            let on_stack = running_shared.get(i).copied().flatten();
            if hs.running() != s.running_on.is_some() || on_stack != s.running_on {
                return Err(E::RunningMismatch { event });
            }
            let inst = SharedInstance {
                state: hs,
                entry: s.entry,
                arg: s.arg,
                routing: s.routing,
                affinity: s.affinity,
                pending: s.pending,
                target: s.target,
                running_on: s.running_on,
            };
            let priority = sdei.shared_priority(i);
            match (s.target, s.routing) {
                (Some(tg), _) if !inst.routable() || tg as usize >= n => {
                    return Err(E::BadPending { event });
                }
                (Some(tg), Routing::Pe) if sdei.vcpu_by_affinity(s.affinity) != Some(tg) => {
                    return Err(E::UnableTarget { event, vcpu: tg });
                }
                (Some(tg), Routing::Any) if off(tg as usize) => {
                    return Err(E::RoutedToOffVcpu { event, vcpu: tg });
                }
                (Some(tg), Routing::Any) if !sdei.slot(tg).can_take(priority) => {
                    return Err(E::UnableTarget { event, vcpu: tg });
                }
                (Some(tg), _) => {
                    sdei.slot(tg).shared_for_me.fetch_or(1 << i, SeqCst);
                }
                (None, _) if !inst.routable() => {}
                (None, Routing::Pe) => {
                    let vcpu = sdei.vcpu_by_affinity(s.affinity).unwrap_or(0);
                    return Err(E::StrandedTrigger { event, vcpu });
                }
                (None, Routing::Any) => {
                    let first = match priority {
                        Priority::Normal => able_normal,
                        Priority::Critical => able_critical,
                    };
                    if let Some(vcpu) = first {
                        return Err(E::StrandedTrigger { event, vcpu });
                    }
                    waiting |= 1u64 << i;
                }
            }
            if let Some(m) = sdei.shared_status.get(i) {
                crate::server::publish_status(m, hs);
            }
            if let Some(e) = t.events.get_mut(i) {
                *e = inst;
            }
        }

        // Bindings.
        let slot_events: Vec<EventRef> = (0..sdei.table.private.len())
            .map(EventRef::Private)
            .chain((0..sdei.table.shared.len()).map(EventRef::Shared))
            .filter(|r| sdei.table.info(*r).origin == Origin::Slot)
            .collect();
        if slot_events.len() != state.slots.len() {
            return Err(E::EventsDiffer { what: "slot" });
        }
        let mut seen: Vec<u32> = Vec::new();
        let mut bound = 0u32;
        for (which, s) in slot_events.iter().zip(&state.slots) {
            let event = sdei.table.info(*which).number;
            if s.event != event {
                return Err(E::EventsDiffer { what: "slot" });
            }
            let in_use = match *which {
                EventRef::Private(i) => sdei
                    .private_in_use
                    .get(i)
                    .is_some_and(|c| c.load(SeqCst) != 0),
                EventRef::Shared(i) => state.shared.get(i).is_some_and(|e| e.status != 0),
            };
            let bad = E::BadBinding { event };
            match s.intid {
                None if in_use => return Err(bad),
                None => {}
                Some(intid) => {
                    let kind_ok = match which {
                        EventRef::Private(_) => (16..=31).contains(&intid),
                        EventRef::Shared(_) => (32..=1019).contains(&intid),
                    };
                    if !kind_ok || seen.contains(&intid) {
                        return Err(bad);
                    }
                    seen.push(intid);
                    bound += 1;
                    if let EventRef::Private(i) = *which {
                        sdei.set_ppi(intid, Some(i));
                    }
                }
            }
            let b = match *which {
                EventRef::Private(i) => t.private_bind.get_mut(i),
                EventRef::Shared(i) => t.shared_bind.get_mut(i),
            };
            if let Some(b) = b {
                *b = s.intid;
            }
        }
        drop(t);
        sdei.waiting.store(waiting, SeqCst);
        sdei.bound.store(bound, SeqCst);
        for (v, slot) in sdei.vcpus.iter().enumerate() {
            let st = slot.state.lock();
            sdei.refresh_hint(slot, &st);
            if !slot.gated() {
                let _ = sdei.became_able(v as u32, st.busy());
            }
        }
        Ok(sdei)
    }
}
