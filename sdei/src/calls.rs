//! The 19 SDEI calls. Each check follows TF-A's order (spec §2.1).

use fwcall_smccc::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};

use fwcall_smccc::{Call, Kicks, Mpidr, Outcome, Reply, VcpuIndex};

use crate::config::SdeiVersion;
use crate::events::{EventRef, Origin};
use crate::hook::{HookCall, HookLog};
use crate::server::{BUSY_IDLE, FIRST_PPI, GATE_MASKED, Routing, Sdei, SharedTable, VcpuState};
use crate::state_machine::{Action, HandlerState, transition, unregister_result};
use crate::{Priority, SdeiError};

type R = Result<u64, SdeiError>;
use SdeiError::{Denied, InvalidParameters as Invalid, OutOfResource, Pending};

/// SDEI function numbers (offset from `0xC400_0020`).
mod fnum {
    pub const VERSION: u32 = 0x00;
    pub const REGISTER: u32 = 0x01;
    pub const ENABLE: u32 = 0x02;
    pub const DISABLE: u32 = 0x03;
    pub const CONTEXT: u32 = 0x04;
    pub const COMPLETE: u32 = 0x05;
    pub const COMPLETE_AND_RESUME: u32 = 0x06;
    pub const UNREGISTER: u32 = 0x07;
    pub const STATUS: u32 = 0x08;
    pub const GET_INFO: u32 = 0x09;
    pub const ROUTING_SET: u32 = 0x0A;
    pub const PE_MASK: u32 = 0x0B;
    pub const PE_UNMASK: u32 = 0x0C;
    pub const INTERRUPT_BIND: u32 = 0x0D;
    pub const INTERRUPT_RELEASE: u32 = 0x0E;
    pub const SIGNAL: u32 = 0x0F;
    pub const FEATURES: u32 = 0x10;
    pub const PRIVATE_RESET: u32 = 0x11;
    pub const SHARED_RESET: u32 = 0x12;
}

/// First SMC64 SDEI function ID.
pub const SDEI_SMC64_BASE: u32 = 0xC400_0020;
/// Last implemented SMC64 SDEI function ID (`SDEI_SHARED_RESET`).
pub const SDEI_SMC64_LAST: u32 = 0xC400_0032;

/// `GET_INFO` selectors.
pub mod info {
    /// 0 private, 1 shared.
    pub const EV_TYPE: u64 = 0;
    /// 1 if `EVENT_SIGNAL` can raise the event (event 0 only).
    pub const EV_SIGNALED: u64 = 1;
    /// 0 normal, 1 critical.
    pub const EV_PRIORITY: u64 = 2;
    /// 0 `RM_ANY`, 1 `RM_PE` (shared, registered).
    pub const EV_ROUTING_MODE: u64 = 3;
    /// The `RM_PE` affinity (shared, registered, `RM_PE`).
    pub const EV_ROUTING_AFF: u64 = 4;
}

/// Whether an address passes the entry-point check: any non-zero address
/// (a VMM cannot cheaply validate guest virtual addresses, and Linux may
/// use a high trampoline alias).
pub(crate) const fn valid_entry(addr: u64) -> bool {
    addr != 0
}

#[inline(always)]
fn reply(r: R) -> Reply {
    // One constructor call for both arms keeps the reply built in place.
    Reply::x0(match r {
        Ok(v) => v,
        Err(e) => e.value() as u64,
    })
}

impl Sdei {
    /// Serves one SDEI call made by `vcpu`.
    ///
    /// `call.x[0]` holds the function ID (the SVE hint already stripped).
    /// SMC32 aliases, IDs past `SDEI_SHARED_RESET` and unknown vCPUs get
    /// `NOT_SUPPORTED`. Apply the outcome's reply, then ask
    /// [`Sdei::take_delivery`] before resuming, and kick the vCPUs named.
    ///
    /// ```
    /// use fwcall_sdei::{Sdei, SdeiConfig};
    /// use fwcall_smccc::{ids, Call, Mpidr, Reply, VcpuIndex};
    /// let sdei = Sdei::new(&SdeiConfig::default(), &[Mpidr::kvm_default(0)]).unwrap();
    /// let v0 = VcpuIndex(0);
    /// // Every vCPU starts masked: the first PE_MASK changes nothing.
    /// assert_eq!(sdei.call(v0, &Call::new(ids::SDEI_PE_MASK, &[])).reply, Reply::x0(0));
    /// assert_eq!(sdei.call(v0, &Call::new(ids::SDEI_PE_UNMASK, &[])).reply, Reply::x0(0));
    /// assert_eq!(sdei.call(v0, &Call::new(ids::SDEI_PE_MASK, &[])).reply, Reply::x0(1));
    /// ```
    pub fn call(&self, vcpu: VcpuIndex, call: &Call) -> Outcome {
        let fid = call.fid().raw();
        let v = vcpu.0;
        if v as usize >= self.vcpus.len() {
            return Outcome::not_supported();
        }
        // The calls Linux makes on every idle transition and every event
        // take a short path without hook bookkeeping.
        let mut kicks = Kicks::none();
        let r = match fid.wrapping_sub(SDEI_SMC64_BASE) {
            fnum::PE_MASK => self.pe_mask(v, &mut kicks),
            fnum::PE_UNMASK => self.pe_unmask(v, &mut kicks),
            fnum::CONTEXT => self.context(v, call.x[1]),
            fnum::STATUS => self.status(v, call.x[1]),
            fnum::VERSION => Ok(self.version.to_word()),
            fnum::COMPLETE => return self.complete(v, None),
            _ => return self.call_slow(v, call),
        };
        // One construction site, so the outcome is built in the caller's slot.
        Outcome::new(reply(r), kicks)
    }

    #[inline(never)]
    fn call_slow(&self, v: u32, call: &Call) -> Outcome {
        let fid = call.fid().raw();
        if !(SDEI_SMC64_BASE..=SDEI_SMC64_LAST).contains(&fid) {
            return Outcome::not_supported();
        }
        let x = &call.x;
        let mut kicks = Kicks::none();
        let mut log = HookLog::new();
        let r = match fid - SDEI_SMC64_BASE {
            fnum::VERSION => Ok(self.version.to_word()),
            fnum::REGISTER => self.register(v, x[1], x[2], x[3], x[4], x[5], &mut log),
            fnum::ENABLE => self.enable(v, x[1], true, &mut kicks),
            fnum::DISABLE => self.enable(v, x[1], false, &mut kicks),
            fnum::CONTEXT => self.context(v, x[1]),
            fnum::COMPLETE => return self.complete(v, None),
            fnum::COMPLETE_AND_RESUME => return self.complete(v, Some(x[1])),
            fnum::UNREGISTER => self.unregister(v, x[1], &mut kicks, &mut log),
            fnum::STATUS => self.status(v, x[1]),
            fnum::GET_INFO => self.get_info(x[1], x[2]),
            fnum::ROUTING_SET => self.routing_set(x[1], x[2], x[3], &mut kicks, &mut log),
            fnum::PE_MASK => self.pe_mask(v, &mut kicks),
            fnum::PE_UNMASK => self.pe_unmask(v, &mut kicks),
            fnum::INTERRUPT_BIND => self.interrupt_bind(x[1]),
            fnum::INTERRUPT_RELEASE => self.interrupt_release(v, x[1]),
            fnum::SIGNAL => self.signal(x[1], x[2], &mut kicks),
            fnum::FEATURES => self.features(x[1]),
            fnum::PRIVATE_RESET => self.private_reset(v, &mut log),
            fnum::SHARED_RESET => self.shared_reset(v, &mut kicks),
            _ => return Outcome::not_supported(),
        };
        self.run_hooks(&log);
        Outcome::new(reply(r), kicks)
    }

    #[allow(clippy::too_many_arguments)]
    fn register(
        &self,
        v: u32,
        event: u64,
        entry: u64,
        arg: u64,
        flags: u64,
        affinity: u64,
        log: &mut HookLog,
    ) -> R {
        if !valid_entry(entry) {
            return Err(Invalid);
        }
        let routing = match flags {
            0 => Routing::Any,
            1 => Routing::Pe,
            _ => return Err(Invalid),
        };
        let target = match routing {
            Routing::Pe => Some(self.vcpu_by_mpidr(affinity).ok_or(Invalid)?),
            Routing::Any => None,
        };
        let which = self.lookup_arg(event).ok_or(Invalid)?;
        let origin = self.table.info(which).origin;
        match which {
            EventRef::Private(i) => {
                // Binding data lives in the shared table; plain events skip it.
                let t = (origin == Origin::Slot).then(|| self.shared.lock());
                let slot = self.slot(v);
                let mut st = slot.state.lock();
                let next = transition(st.state(i), Action::Register).ok_or(Denied)?;
                let intid = match &t {
                    Some(t) => Some(t.private_bind.get(i).copied().flatten().ok_or(Denied)?),
                    None => None,
                };
                self.set_private(v, &mut st, i, next);
                if let Some(h) = st.handlers.get_mut(i) {
                    *h = crate::server::Handler { entry, arg };
                }
                if let Some(intid) = intid {
                    let _ = log.push(HookCall::Divert(intid, Some(VcpuIndex(v))));
                }
            }
            EventRef::Shared(i) => {
                let mut t = self.shared.lock();
                let bound = t.shared_bind.get(i).copied().flatten();
                let e = t.events.get_mut(i).ok_or(Invalid)?;
                let next = transition(e.state, Action::Register).ok_or(Denied)?;
                if origin == Origin::Slot && bound.is_none() {
                    return Err(Denied);
                }
                self.set_shared(e, i, next);
                e.entry = entry;
                e.arg = arg;
                e.routing = routing;
                e.affinity = match routing {
                    Routing::Pe => Mpidr(affinity).affinity(),
                    Routing::Any => 0,
                };
                if let Some(intid) = bound {
                    let _ = log.push(HookCall::Divert(intid, target.map(VcpuIndex)));
                }
            }
        }
        Ok(0)
    }

    fn enable(&self, v: u32, event: u64, on: bool, kicks: &mut Kicks) -> R {
        let which = self.lookup_arg(event).ok_or(Invalid)?;
        let action = if on { Action::Enable } else { Action::Disable };
        match which {
            EventRef::Private(i) => {
                let slot = self.slot(v);
                let mut st = slot.state.lock();
                let next = transition(st.state(i), action).ok_or(Denied)?;
                self.set_private(v, &mut st, i, next);
                self.refresh_hint(slot, &st);
            }
            EventRef::Shared(i) => {
                let mut t = self.shared.lock();
                let e = t.events.get_mut(i).ok_or(Invalid)?;
                let next = transition(e.state, action).ok_or(Denied)?;
                self.set_shared(e, i, next);
                self.route(&mut t, i, kicks);
            }
        }
        Ok(0)
    }

    fn context(&self, v: u32, index: u64) -> R {
        let index = usize::try_from(index)
            .ok()
            .filter(|i| *i < 18)
            .ok_or(Invalid)?;
        // Without the vCPU lock: only this vCPU's thread enters and
        // completes its handlers, and `busy` (stored after `ctx`) is not
        // idle exactly while a context is saved.
        let slot = self.slot(v);
        if slot.busy.load(SeqCst) == BUSY_IDLE {
            return Err(Denied);
        }
        slot.ctx.get(index).map(|x| x.load(Relaxed)).ok_or(Invalid)
    }

    fn unregister(&self, v: u32, event: u64, kicks: &mut Kicks, log: &mut HookLog) -> R {
        let which = self.lookup_arg(event).ok_or(Invalid)?;
        match which {
            EventRef::Private(i) => {
                let slot_event = self.table.info(which).origin == Origin::Slot;
                let t = slot_event.then(|| self.shared.lock());
                let mut st = self.slot(v).state.lock();
                let intid = t
                    .as_ref()
                    .and_then(|t| t.private_bind.get(i).copied().flatten());
                self.unregister_private(&mut st, v, i, intid, log)
            }
            EventRef::Shared(i) => {
                let mut t = self.shared.lock();
                let r = self.unregister_shared(&mut t, i, log);
                self.route(&mut t, i, kicks);
                r
            }
        }
    }

    fn status(&self, v: u32, event: u64) -> R {
        let which = self.lookup_arg(event).ok_or(Invalid)?;
        let state = match which {
            // The mirrors are written with the state, under its lock.
            EventRef::Private(i) => {
                let bits = self.slot(v).status.get(i).map_or(0, |m| m.load(Acquire));
                HandlerState::from_bits(bits).unwrap_or_default()
            }
            EventRef::Shared(i) => {
                let bits = self.shared_status.get(i).map_or(0, |m| m.load(Acquire));
                HandlerState::from_bits(bits).unwrap_or_default()
            }
        };
        Ok(state.bits() as u64)
    }

    fn get_info(&self, event: u64, selector: u64) -> R {
        let which = self.lookup_arg(event).ok_or(Invalid)?;
        let ev = self.table.info(which);
        match selector {
            info::EV_TYPE => Ok(matches!(which, EventRef::Shared(_)) as u64),
            info::EV_SIGNALED => Ok((ev.number == 0) as u64),
            info::EV_PRIORITY => Ok((ev.priority == Priority::Critical) as u64),
            info::EV_ROUTING_MODE | info::EV_ROUTING_AFF => {
                let EventRef::Shared(i) = which else {
                    return Err(Invalid);
                };
                let t = self.shared.lock();
                let e = t.events.get(i).ok_or(Invalid)?;
                if !e.state.registered() {
                    return Err(Denied);
                }
                match (selector, e.routing) {
                    (info::EV_ROUTING_MODE, r) => Ok(r.bits()),
                    (_, Routing::Any) => Err(Invalid),
                    (_, Routing::Pe) => Ok(e.affinity),
                }
            }
            _ => Err(Invalid),
        }
    }

    fn routing_set(
        &self,
        event: u64,
        flags: u64,
        affinity: u64,
        kicks: &mut Kicks,
        log: &mut HookLog,
    ) -> R {
        let routing = match flags {
            0 => Routing::Any,
            1 => Routing::Pe,
            _ => return Err(Invalid),
        };
        let target = match routing {
            Routing::Pe => Some(self.vcpu_by_mpidr(affinity).ok_or(Invalid)?),
            Routing::Any => None,
        };
        let which = self.lookup_arg(event).ok_or(Invalid)?;
        let EventRef::Shared(i) = which else {
            return Err(Invalid);
        };
        let is_slot = self.table.info(which).origin == Origin::Slot;
        let mut t = self.shared.lock();
        let bound = t.shared_bind.get(i).copied().flatten();
        if is_slot && bound.is_none() {
            return Err(Invalid);
        }
        let e = t.events.get_mut(i).ok_or(Invalid)?;
        e.state = transition(e.state, Action::RoutingSet).ok_or(Denied)?;
        e.routing = routing;
        e.affinity = match routing {
            Routing::Pe => Mpidr(affinity).affinity(),
            Routing::Any => 0,
        };
        if let Some(intid) = bound {
            let _ = log.push(HookCall::Divert(intid, target.map(VcpuIndex)));
        }
        self.route(&mut t, i, kicks);
        Ok(0)
    }

    #[inline]
    fn pe_mask(&self, v: u32, kicks: &mut Kicks) -> R {
        let slot = self.slot(v);
        let before = slot.gate.fetch_or(GATE_MASKED, SeqCst);
        // The gate is published; now the events routed here must find
        // another vCPU (RM_PE ones stay).
        if slot.shared_for_me.load(SeqCst) != 0 {
            self.route_mine_cold(v, u64::MAX, kicks);
        }
        Ok((before & GATE_MASKED == 0) as u64)
    }

    #[inline]
    fn pe_unmask(&self, v: u32, kicks: &mut Kicks) -> R {
        let slot = self.slot(v);
        let before = slot.gate.fetch_and(!GATE_MASKED, SeqCst);
        // Triggers publish `pending` before reading the gate; we publish the
        // gate before reading `pending`: one of us sets the hint.
        if slot.pending.load(SeqCst) != 0 || slot.shared_for_me.load(SeqCst) != 0 {
            slot.hint.store(true, SeqCst);
        }
        if before & !GATE_MASKED == 0 && self.became_able(v, slot.busy.load(SeqCst)) {
            self.route_waiting_cold(kicks);
        }
        Ok(0)
    }

    fn interrupt_bind(&self, intid: u64) -> R {
        let intid = u32::try_from(intid).map_err(|_| Invalid)?;
        let private = match intid {
            16..=31 => true,
            32..=1019 => false,
            _ => return Err(Invalid),
        };
        let mut t = self.shared.lock();
        let t = &mut *t;
        let existing = t
            .private_bind
            .iter()
            .position(|b| *b == Some(intid))
            .map(EventRef::Private)
            .or_else(|| {
                t.shared_bind
                    .iter()
                    .position(|b| *b == Some(intid))
                    .map(EventRef::Shared)
            });
        if let Some(r) = existing {
            return Ok(self.table.info(r).number as u64);
        }
        let (infos, binds) = if private {
            (&self.table.private, &mut t.private_bind)
        } else {
            (&self.table.shared, &mut t.shared_bind)
        };
        let (index, (info, bind)) = infos
            .iter()
            .zip(binds.iter_mut())
            .enumerate()
            .find(|(_, (info, b))| info.origin == Origin::Slot && b.is_none())
            .ok_or(OutOfResource)?;
        *bind = Some(intid);
        if private {
            self.set_ppi(intid, Some(index));
        }
        self.bound.fetch_add(1, SeqCst);
        Ok(info.number as u64)
    }

    fn interrupt_release(&self, v: u32, event: u64) -> R {
        let which = self.lookup_arg(event).ok_or(Invalid)?;
        if self.table.info(which).origin != Origin::Slot {
            return Err(Invalid);
        }
        let _ = v;
        let mut t = self.shared.lock();
        self.release_locked(&mut t, which)
    }

    /// `INTERRUPT_RELEASE` of a dynamic slot with the shared lock held.
    /// A private slot must be unregistered and idle on every vCPU: its
    /// in-use count (kept under each vCPU's lock; raising it from zero
    /// needs the shared lock, which REGISTER of a slot takes) must be zero.
    pub(crate) fn release_locked(&self, t: &mut SharedTable, which: EventRef) -> R {
        let free = match which {
            EventRef::Private(i) => self
                .private_in_use
                .get(i)
                .is_some_and(|c| c.load(SeqCst) == 0),
            EventRef::Shared(i) => {
                let state = t.events.get(i).map(|e| e.state).unwrap_or_default();
                transition(state, Action::Release).is_some()
            }
        };
        if !free {
            return Err(Denied);
        }
        let bind = match which {
            EventRef::Private(i) => t.private_bind.get_mut(i),
            EventRef::Shared(i) => t.shared_bind.get_mut(i),
        };
        match bind {
            Some(b @ Some(_)) => {
                if let (EventRef::Private(_), Some(intid)) = (which, *b) {
                    self.set_ppi(intid, None);
                }
                *b = None;
                self.bound.fetch_sub(1, SeqCst);
                Ok(0)
            }
            _ => Err(Invalid),
        }
    }

    /// The lock-free PPI table `irq` reads (shared lock held).
    pub(crate) fn set_ppi(&self, intid: u32, index: Option<usize>) {
        if let Some(e) = intid
            .checked_sub(FIRST_PPI)
            .and_then(|k| self.ppi.get(k as usize))
        {
            e.store(index.map_or(0, |i| i as u8 + 1), SeqCst);
        }
    }

    fn signal(&self, event: u64, target: u64, kicks: &mut Kicks) -> R {
        if event != 0 {
            return Err(Invalid);
        }
        let tv = self.vcpu_by_mpidr(target).ok_or(Invalid)?;
        let slot = self.slot(tv);
        let mut st = slot.state.lock();
        let s = st.state(0);
        if slot.gated() || !s.registered() || !s.enabled() {
            return Err(Invalid);
        }
        st.pending |= 1;
        slot.pending.store(st.pending, SeqCst);
        self.refresh_hint(slot, &st);
        kicks.add(VcpuIndex(tv));
        Ok(0)
    }

    fn features(&self, selector: u64) -> R {
        match selector {
            0 => Ok(self.features_word()),
            1 if self.version == SdeiVersion::V1_1 => Ok(0),
            _ => Err(Invalid),
        }
    }

    fn private_reset(&self, v: u32, log: &mut HookLog) -> R {
        let t = self.shared.lock();
        let mut st = self.slot(v).state.lock();
        let mut denied = false;
        for i in 0..self.table.private.len() {
            if st.state(i) == HandlerState::UNREGISTERED {
                continue;
            }
            let intid = t.private_bind.get(i).copied().flatten();
            denied |= self.unregister_private(&mut st, v, i, intid, log) == Err(Pending);
        }
        if denied { Err(Denied) } else { Ok(0) }
    }

    fn shared_reset(&self, _v: u32, kicks: &mut Kicks) -> R {
        let mut log = HookLog::new();
        let r = {
            let mut t = self.shared.lock();
            self.shared_reset_locked(&mut t, &mut log, kicks)
        };
        self.run_hooks(&log);
        r
    }

    /// Unregisters every shared event (a running one is left
    /// unregister-pending and makes the answer DENIED, the others are
    /// unregistered all the same, as `PRIVATE_RESET` does); if none was
    /// running, releases every bound slot (first failure returned).
    pub(crate) fn shared_reset_locked(
        &self,
        t: &mut SharedTable,
        log: &mut HookLog,
        kicks: &mut Kicks,
    ) -> R {
        let mut denied = false;
        for i in 0..t.events.len() {
            if t.events.get(i).map(|e| e.state) == Some(HandlerState::UNREGISTERED) {
                continue;
            }
            denied |= self.unregister_shared(t, i, log) == Err(Pending);
            self.route(t, i, kicks);
        }
        if denied {
            return Err(Denied);
        }
        let mut first: R = Ok(0);
        let bound: heapless::Vec<EventRef, 128> = t
            .private_bind
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_some())
            .map(|(i, _)| EventRef::Private(i))
            .chain(
                t.shared_bind
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.is_some())
                    .map(|(i, _)| EventRef::Shared(i)),
            )
            .collect();
        for which in bound {
            let r = self.release_locked(t, which);
            if first.is_ok() && r.is_err() {
                first = r;
            }
        }
        first
    }

    /// UNREGISTER of private event `i` on a vCPU whose lock is held.
    pub(crate) fn unregister_private(
        &self,
        st: &mut VcpuState,
        v: u32,
        i: usize,
        intid: Option<u32>,
        log: &mut HookLog,
    ) -> Result<u64, SdeiError> {
        let before = st.state(i);
        let (next, r) = unregister_result(before);
        if r == Err(Denied) {
            return Err(Denied);
        }
        self.set_private(v, st, i, next);
        if before.registered() && !next.registered() {
            st.pending &= !(1u64 << i);
            if let Some(h) = st.handlers.get_mut(i) {
                *h = Default::default();
            }
            if let Some(intid) = intid {
                let _ = log.push(HookCall::GiveBack(intid, Some(VcpuIndex(v))));
            }
        }
        r.map(|()| 0)
    }

    /// UNREGISTER of shared event `i` (shared lock held). The caller routes.
    pub(crate) fn unregister_shared(&self, t: &mut SharedTable, i: usize, log: &mut HookLog) -> R {
        let bound = t.shared_bind.get(i).copied().flatten();
        let e = t.events.get_mut(i).ok_or(Invalid)?;
        let before = e.state;
        let (next, r) = unregister_result(before);
        if r == Err(Denied) {
            return Err(Denied);
        }
        self.set_shared(e, i, next);
        if before.registered() && !next.registered() {
            e.pending = false;
            e.entry = 0;
            e.arg = 0;
            e.routing = Routing::Any;
            e.affinity = 0;
            if let Some(intid) = bound {
                let _ = log.push(HookCall::GiveBack(intid, None));
            }
        }
        r.map(|()| 0)
    }
}
