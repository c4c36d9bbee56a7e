//! Entering a handler (spec §11–§12) and leaving it (§13–§14).

use core::sync::atomic::Ordering::SeqCst;

use fwcall_smccc::{CALL_REGS, Context, El1Regs, Kicks, Outcome, Reply, VcpuIndex};

use crate::SdeiError;
use crate::calls::valid_entry;
use crate::events::EventRef;
use crate::pstate::exception_entry;
use crate::server::{Saved, Sdei, allowed};
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
        let v = vcpu.0;
        slot.hint.store(false, SeqCst);
        let for_me = slot.shared_for_me.load(SeqCst);
        let mut shared = (for_me != 0).then(|| self.shared.lock());
        let mut st = slot.state.lock();
        slot.pending.store(st.pending, SeqCst);
        let masked = slot.masked.load(SeqCst);
        if masked || st.stack.is_full() {
            return None;
        }
        let busy = st.busy();
        let private = st.deliverable_private(&self.table, masked);
        let mut shared_cand = 0u64;
        if let Some(t) = shared.as_mut() {
            let mask = allowed(busy, self.table.shared_critical);
            for (i, e) in t.events.iter().enumerate() {
                let bit = 1u64 << i;
                if for_me & bit == 0 {
                    continue;
                }
                if e.target == Some(v) && e.routable() {
                    shared_cand |= bit & mask;
                } else {
                    slot.shared_for_me.fetch_and(!bit, SeqCst);
                }
            }
        }
        let lowest = |m: u64| (m != 0).then(|| m.trailing_zeros() as usize);
        let pc_ = self.table.private_critical;
        let sc = self.table.shared_critical;
        let which = lowest(private & pc_)
            .map(EventRef::Private)
            .or_else(|| lowest(shared_cand & sc).map(EventRef::Shared))
            .or_else(|| lowest(private & !pc_).map(EventRef::Private))
            .or_else(|| lowest(shared_cand & !sc).map(EventRef::Shared))?;
        let info = *self.table.info(which);
        let (entry, arg) = match which {
            EventRef::Private(i) => {
                let s = st.state(i);
                let next = transition(s, Action::Dispatch)?;
                st.set_state(i, next);
                st.pending &= !(1u64 << i);
                slot.pending.store(st.pending, SeqCst);
                let h = st.handlers.get(i).copied().unwrap_or_default();
                (h.entry, h.arg)
            }
            EventRef::Shared(i) => {
                let t = shared.as_mut()?;
                let e = t.events.get_mut(i)?;
                e.state = transition(e.state, Action::Dispatch)?;
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
        slot.busy.store(st.busy(), SeqCst);
        self.refresh_hint(slot, &st);
        drop(st);
        let mut kicks = Kicks::none();
        if let Some(t) = shared.as_mut() {
            // Other shared events routed here may now find an idle vCPU.
            self.reroute(t, &mut kicks);
        }
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
                st.set_state(i, transition(s, Action::Complete).unwrap_or(s));
            }
            EventRef::Shared(i) => {
                if let Some(e) = shared.as_mut().and_then(|t| t.events.get_mut(i)) {
                    e.state = transition(e.state, Action::Complete).unwrap_or(e.state);
                    e.running_on = None;
                }
            }
        }
        slot.busy.store(st.busy(), SeqCst);
        self.refresh_hint(slot, &st);
        drop(st);
        let mut kicks = Kicks::none();
        if shared.is_none() && self.waiting.load(SeqCst) != 0 {
            shared = Some(self.shared.lock());
        }
        if let Some(t) = shared.as_mut() {
            self.reroute(t, &mut kicks);
        }
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
