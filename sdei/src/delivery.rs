//! Entering a handler (spec §11–§12) and leaving it (§13–§14).

use fwcall_smccc::sync::atomic::Ordering::SeqCst;

use fwcall_smccc::{CALL_REGS, Context, El1Regs, Kicks, Outcome, Reply, VcpuIndex};

use crate::SdeiError;
use crate::calls::valid_entry;
use crate::events::EventRef;
use crate::pstate::exception_entry;
use crate::server::{Saved, Sdei, allowed, bits};
use crate::state_machine::{Action, transition};

/// What the vCPU would resume with now, as the VMM hands it over before
/// entering the guest (after applying any reply, so `x[0]` already holds a
/// hypercall's result and `pc` is past the HVC/SMC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Interrupted {
    /// `X0..X17`.
    pub x: [u64; CALL_REGS],
    /// `PC`.
    pub pc: u64,
    /// `PSTATE` in SPSR format.
    pub pstate: u64,
    /// `SCTLR_EL1`, for the `PSTATE` of handler entry (and kept for
    /// `COMPLETE_AND_RESUME`).
    pub sctlr_el1: u64,
}

/// A handler entry to perform.
///
/// Write `X0..X3` = [`Delivery::x`], `PC` = [`Delivery::pc`], `PSTATE` =
/// [`Delivery::pstate`]. Leave everything else alone: `X4..X30`, `SP_EL0`,
/// `SP_EL1`, `ELR_EL1`, `SPSR_EL1` and the other system registers keep
/// their interrupted values. Then kick the vCPUs in [`Delivery::kicks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The event entered.
    pub event: u32,
    /// `X0..X3`: event number, handler argument, interrupted `PC`,
    /// interrupted `PSTATE`.
    pub x: [u64; 4],
    /// The registered entry address.
    pub pc: u64,
    /// `EL1h`, DAIF masked, other bits per the exception-entry rules.
    pub pstate: u64,
    /// Other vCPUs to kick (shared events moved away from this vCPU).
    pub kicks: Kicks,
}

impl Sdei {
    /// Enters the next dispatchable event on `vcpu`, if any: call it before
    /// every resume with what the vCPU would resume with.
    ///
    /// Order among several dispatchable events: critical before normal;
    /// at equal priority private before shared; then the lowest event
    /// number. A normal event is entered only on an idle vCPU, a critical
    /// one over nothing or a normal handler.
    ///
    /// ```
    /// use fwcall_sdei::{Interrupted, Sdei, SdeiConfig};
    /// use fwcall_smccc::{ids, Call, Mpidr, VcpuIndex};
    /// let sdei = Sdei::new(&SdeiConfig::default(), &[Mpidr::kvm_default(0)]).unwrap();
    /// let v0 = VcpuIndex(0);
    /// sdei.call(v0, &Call::new(ids::SDEI_EVENT_REGISTER, &[0, 0x1000, 0xab, 0, 0]));
    /// sdei.call(v0, &Call::new(ids::SDEI_EVENT_ENABLE, &[0]));
    /// sdei.call(v0, &Call::new(ids::SDEI_PE_UNMASK, &[]));
    /// sdei.call(v0, &Call::new(ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0000]));
    /// assert!(sdei.has_pending(v0));
    /// let now = Interrupted { pc: 0x4000, pstate: 0x3c5, sctlr_el1: 1 << 23, ..Default::default() };
    /// let d = sdei.take_delivery(v0, &now).unwrap();
    /// assert_eq!((d.event, d.pc, d.x), (0, 0x1000, [0, 0xab, 0x4000, 0x3c5]));
    /// ```
    pub fn take_delivery(&self, vcpu: VcpuIndex, interrupted: &Interrupted) -> Option<Delivery> {
        let slot = self.vcpus.get(vcpu.get())?;
        slot.hint.store(false, SeqCst);
        let for_me = slot.shared_for_me.load(SeqCst);
        self.enter(vcpu.0, for_me, interrupted)
    }

    /// `take_delivery` after its read of `shared_for_me` (`for_me`), which
    /// a router may have added bits to since: tests pass a stale value to
    /// replay that window.
    pub(crate) fn enter(&self, v: u32, for_me: u64, interrupted: &Interrupted) -> Option<Delivery> {
        let slot = self.slot(v);
        let mut shared = (for_me != 0).then(|| self.shared.lock());
        let mut st = slot.state.lock();
        // Make the mirror exact. It is written only under this lock, so an
        // equal value is already published; storing it again (a locked
        // exchange on x86) would order nothing the protocol relies on.
        if slot.pending.load(SeqCst) != st.pending {
            slot.pending.store(st.pending, SeqCst);
        }
        let gated = slot.gated();
        if gated || st.stack.is_full() {
            return None;
        }
        let busy = st.busy();
        let able = allowed(busy, self.table.shared_critical);
        let private = st.deliverable_private(&self.table, gated);
        let mut routed_here = 0u64;
        if let Some(t) = shared.as_ref() {
            for i in bits(for_me) {
                if t.events
                    .get(i)
                    .is_some_and(|e| e.target == Some(v) && e.routable())
                {
                    routed_here |= 1 << i;
                }
            }
            // Bits of events routed elsewhere or no longer routable.
            let stale = for_me & !routed_here;
            if stale != 0 {
                slot.shared_for_me.fetch_and(!stale, SeqCst);
            }
        }
        let lowest = |m: u64| (m != 0).then(|| m.trailing_zeros() as usize);
        let pc_ = self.table.private_critical;
        let sc = self.table.shared_critical;
        let shared_cand = routed_here & able;
        let Some(which) = lowest(private & pc_)
            .map(EventRef::Private)
            .or_else(|| lowest(shared_cand & sc).map(EventRef::Shared))
            .or_else(|| lowest(private & !pc_).map(EventRef::Private))
            .or_else(|| lowest(shared_cand & !sc).map(EventRef::Shared))
        else {
            drop(st);
            // Nothing to enter. An RM_ANY event routed here that this vCPU
            // cannot take should not exist (whoever made it unable routed it
            // on); should one, route it now rather than let it wait. Its new
            // target's hint is set; there is no outcome to carry a kick.
            if let Some(t) = shared.as_mut()
                && routed_here & !able != 0
            {
                self.route_mine(t, v, !able, &mut Kicks::none());
            }
            return None;
        };
        let info = *self.table.info(which);
        let (entry, arg) = match which {
            EventRef::Private(i) => {
                let s = st.state(i);
                let next = transition(s, Action::Dispatch)?;
                self.set_private(v, &mut st, i, next);
                st.pending &= !(1u64 << i);
                slot.pending.store(st.pending, SeqCst);
                let h = st.handlers.get(i).copied().unwrap_or_default();
                (h.entry, h.arg)
            }
            EventRef::Shared(i) => {
                let t = shared.as_mut()?;
                let e = t.events.get_mut(i)?;
                let next = transition(e.state, Action::Dispatch)?;
                self.set_shared(e, i, next);
                e.pending = false;
                e.target = None;
                e.running_on = Some(v);
                slot.shared_for_me.fetch_and(!(1u64 << i), SeqCst);
                (e.entry, e.arg)
            }
        };
        let _ = st.stack.push(Saved {
            event: info.number,
            which,
            priority: info.priority,
            x: interrupted.x,
            pc: interrupted.pc,
            pstate: interrupted.pstate,
            sctlr: interrupted.sctlr_el1,
        });
        let now_busy = st.busy();
        slot.publish_context(&st);
        slot.busy.store(now_busy, SeqCst);
        self.refresh_hint(slot, &st);
        drop(st);
        // Busier now: the busy level is published, so shared events routed
        // here that it no longer allows move on (a router that claimed this
        // vCPU before seeing the new level set its bit before this load).
        let mut kicks = Kicks::none();
        let unable = !allowed(now_busy, sc);
        match shared.as_mut() {
            Some(t) => self.route_mine(t, v, unable, &mut kicks),
            None if slot.shared_for_me.load(SeqCst) & unable != 0 => {
                self.route_mine_cold(v, unable, &mut kicks)
            }
            None => {}
        }
        drop(shared);
        Some(Delivery {
            event: info.number,
            x: [info.number as u64, arg, interrupted.pc, interrupted.pstate],
            pc: entry,
            pstate: exception_entry(interrupted.pstate, interrupted.sctlr_el1, self.features),
            kicks,
        })
    }

    /// `EVENT_COMPLETE` (`resume` = `None`) and `EVENT_COMPLETE_AND_RESUME`.
    pub(crate) fn complete(&self, v: u32, resume: Option<u64>) -> Outcome {
        let denied = Outcome::reply(Reply::signed(SdeiError::Denied.value()));
        let slot = self.slot(v);
        let mut shared = None;
        // At most two rounds: the shared lock must be taken before the vCPU's.
        let (mut st, top) = loop {
            let st = slot.state.lock();
            let Some(top) = st.stack.last().copied() else {
                return denied;
            };
            if matches!(top.which, EventRef::Shared(_)) && shared.is_none() {
                drop(st);
                shared = Some(self.shared.lock());
                continue;
            }
            break (st, top);
        };
        if resume.is_some_and(|a| !valid_entry(a)) {
            return denied;
        }
        st.stack.pop();
        match top.which {
            EventRef::Private(i) => {
                let s = st.state(i);
                self.set_private(v, &mut st, i, transition(s, Action::Complete).unwrap_or(s));
            }
            EventRef::Shared(i) => {
                if let Some(e) = shared.as_mut().and_then(|t| t.events.get_mut(i)) {
                    let next = transition(e.state, Action::Complete).unwrap_or(e.state);
                    self.set_shared(e, i, next);
                    e.running_on = None;
                }
            }
        }
        let now_busy = st.busy();
        slot.publish_context(&st);
        slot.busy.store(now_busy, SeqCst);
        self.refresh_hint(slot, &st);
        drop(st);
        // Less busy now: join the candidate sets (after publishing `busy`),
        // then route what waits for a vCPU like this one.
        let wants = !slot.gated() && self.became_able(v, now_busy);
        let mut kicks = Kicks::none();
        match shared.as_mut() {
            Some(t) => {
                if let EventRef::Shared(i) = top.which {
                    // Triggered again while it ran: routable now.
                    self.route(t, i, &mut kicks);
                }
                if wants {
                    self.route_waiting(t, &mut kicks);
                }
            }
            None if wants => self.route_waiting_cold(&mut kicks),
            None => {}
        }
        drop(shared);
        let ctx = match resume {
            None => Context {
                x: top.x,
                pc: top.pc,
                pstate: top.pstate,
                el1: None,
            },
            Some(addr) => Context {
                x: top.x,
                pc: addr,
                pstate: exception_entry(top.pstate, top.sctlr, self.features),
                el1: Some(El1Regs {
                    elr: top.pc,
                    spsr: top.pstate,
                }),
            },
        };
        Outcome::new(Reply::Restore(ctx), kicks)
    }
}
