//! What the VMM does to the server outside guest calls: raise platform
//! events, report bound interrupts, reset vCPUs.

use fwcall_smccc::sync::atomic::Ordering::SeqCst;

use fwcall_smccc::{Kicks, VcpuIndex};

use crate::events::{EventRef, Origin};
use crate::hook::{HookCall, HookLog};
use crate::server::{BUSY_IDLE, FIRST_PPI, GATE_MASKED, Sdei, VcpuState, bits};
use crate::state_machine::{Action, HandlerState, transition};

/// Why [`Sdei::raise`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RaiseError {
    /// Not in the event table.
    #[error("event {0:#x} was not declared: declare it in SdeiConfig::events first")]
    UnknownEvent(u32),
    /// Event 0 or a dynamic slot: not the VMM's to raise.
    #[error(
        "event {0:#x} is not a platform event (event 0 is raised by EVENT_SIGNAL, slots by their interrupt)"
    )]
    NotRaisable(u32),
    /// A private event needs a vCPU.
    #[error("event {0:#x} is private: say which vCPU to raise it on")]
    VcpuRequired(u32),
    /// The vCPU does not exist.
    #[error("{0} does not exist in this VM")]
    NoSuchVcpu(VcpuIndex),
}

/// What [`Sdei::irq`] made of a guest interrupt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IrqOutcome {
    /// Not an SDEI trigger now: deliver it to the guest as an interrupt.
    NotBound,
    /// Taken as an SDEI trigger; kick these vCPUs.
    Sdei(Kicks),
}

impl Sdei {
    /// Raises a platform event declared in the configuration. A private
    /// event needs `vcpu`; a shared one is routed by its registration and
    /// `vcpu` is ignored. A trigger for an unregistered event is dropped
    /// (`Ok` with no kicks); one for a registered but disabled, masked or
    /// busy target stays pending (triggers coalesce).
    ///
    /// ```
    /// use fwcall_sdei::{EventDecl, EventKind, Priority, RaiseError, Sdei, SdeiConfig};
    /// use fwcall_smccc::{Mpidr, VcpuIndex};
    /// let decl = EventDecl { number: 7, kind: EventKind::Private, priority: Priority::Critical };
    /// let config = SdeiConfig { events: vec![decl], ..Default::default() };
    /// let sdei = Sdei::new(&config, &[Mpidr::kvm_default(0)]).unwrap();
    /// assert_eq!(sdei.raise(7, None), Err(RaiseError::VcpuRequired(7)));
    /// assert!(sdei.raise(7, Some(VcpuIndex(0))).unwrap().is_empty()); // not registered: dropped
    /// ```
    pub fn raise(&self, event: u32, vcpu: Option<VcpuIndex>) -> Result<Kicks, RaiseError> {
        let which = self
            .table
            .lookup(event)
            .ok_or(RaiseError::UnknownEvent(event))?;
        if self.table.info(which).origin != Origin::Platform {
            return Err(RaiseError::NotRaisable(event));
        }
        match which {
            EventRef::Private(i) => {
                let v = vcpu.ok_or(RaiseError::VcpuRequired(event))?;
                if v.get() >= self.vcpus.len() {
                    return Err(RaiseError::NoSuchVcpu(v));
                }
                Ok(self.trigger_private(v.0, i))
            }
            EventRef::Shared(i) => Ok(self.trigger_shared(i)),
        }
    }

    /// Reports that guest interrupt `intid` fired (`vcpu` required for a
    /// PPI). If it is bound to an event registered for it, the event is
    /// triggered; otherwise the VMM delivers it as an interrupt.
    ///
    /// ```
    /// use fwcall_sdei::{IrqOutcome, Sdei, SdeiConfig};
    /// use fwcall_smccc::Mpidr;
    /// let sdei = Sdei::new(&SdeiConfig::default(), &[Mpidr::kvm_default(0)]).unwrap();
    /// assert_eq!(sdei.irq(40, None), IrqOutcome::NotBound);
    /// ```
    pub fn irq(&self, intid: u32, vcpu: Option<VcpuIndex>) -> IrqOutcome {
        if self.bound.load(SeqCst) == 0 {
            return IrqOutcome::NotBound;
        }
        if let Some(entry) = intid
            .checked_sub(FIRST_PPI)
            .and_then(|k| self.ppi.get(k as usize))
        {
            // A PPI: the lock-free table and this vCPU's lock only.
            let index = entry.load(SeqCst);
            let Some(i) = (index as usize).checked_sub(1) else {
                return IrqOutcome::NotBound;
            };
            let Some(v) = vcpu.filter(|v| v.get() < self.vcpus.len()) else {
                return IrqOutcome::NotBound;
            };
            let slot = self.slot(v.0);
            let mut st = slot.state.lock();
            // Still bound to this slot: releasing needs the instance
            // unregistered here, which our lock holds off.
            if entry.load(SeqCst) != index || !st.state(i).registered() {
                return IrqOutcome::NotBound;
            }
            st.pending |= 1u64 << i;
            slot.pending.store(st.pending, SeqCst);
            let mut kicks = Kicks::none();
            if self.refresh_hint(slot, &st) {
                kicks.add(v);
            }
            return IrqOutcome::Sdei(kicks);
        }
        let mut t = self.shared.lock();
        let Some(i) = t.shared_bind.iter().position(|b| *b == Some(intid)) else {
            return IrqOutcome::NotBound;
        };
        let mut kicks = Kicks::none();
        match t.events.get_mut(i) {
            Some(e) if e.state.registered() => e.pending = true,
            _ => return IrqOutcome::NotBound,
        }
        self.route(&mut t, i, &mut kicks);
        IrqOutcome::Sdei(kicks)
    }

    fn trigger_private(&self, v: u32, i: usize) -> Kicks {
        let slot = self.slot(v);
        let mut st = slot.state.lock();
        let mut kicks = Kicks::none();
        // Triggers of unregistered events are dropped (§7 DISPATCH column).
        if st.state(i).registered() {
            st.pending |= 1u64 << i;
            slot.pending.store(st.pending, SeqCst);
            if self.refresh_hint(slot, &st) {
                kicks.add(VcpuIndex(v));
            }
        }
        kicks
    }

    fn trigger_shared(&self, i: usize) -> Kicks {
        let mut kicks = Kicks::none();
        let mut t = self.shared.lock();
        if let Some(e) = t.events.get_mut(i)
            && e.state.registered()
        {
            e.pending = true;
            self.route(&mut t, i, &mut kicks);
        }
        kicks
    }

    /// Resets a vCPU (power-on, PSCI `CPU_ON`, system reset): its private
    /// events become unregistered with nothing pending, its in-flight
    /// dispatches are discarded (a shared event running there completes),
    /// and it is masked. Returns the vCPUs to kick for shared events that
    /// had been routed to it.
    ///
    /// ```
    /// use fwcall_sdei::{Sdei, SdeiConfig};
    /// use fwcall_smccc::{ids, Call, Mpidr, VcpuIndex};
    /// let sdei = Sdei::new(&SdeiConfig::default(), &[Mpidr::kvm_default(0)]).unwrap();
    /// sdei.call(VcpuIndex(0), &Call::new(ids::SDEI_PE_UNMASK, &[]));
    /// sdei.reset_vcpu(VcpuIndex(0));
    /// assert_eq!(sdei.is_masked(VcpuIndex(0)), Some(true));
    /// ```
    pub fn reset_vcpu(&self, vcpu: VcpuIndex) -> Kicks {
        let mut kicks = Kicks::none();
        let Some(slot) = self.vcpus.get(vcpu.get()) else {
            return kicks;
        };
        let mut log = HookLog::new();
        {
            let mut t = self.shared.lock();
            let mut st = slot.state.lock();
            // Finish shared events running here; private ones are wiped below.
            while let Some(top) = st.stack.pop() {
                if let EventRef::Shared(i) = top.which
                    && let Some(e) = t.events.get_mut(i)
                {
                    let next = transition(e.state, Action::Complete).unwrap_or(e.state);
                    self.set_shared(e, i, next);
                    e.running_on = None;
                }
            }
            for i in 0..self.table.private.len() {
                if st.state(i).registered() {
                    let intid = t.private_bind.get(i).copied().flatten();
                    let _ = self.unregister_private(&mut st, vcpu.0, i, intid, &mut log);
                }
            }
            // What is left in use (unregister-pending handlers) is discarded.
            for i in bits(st.in_use()) {
                self.set_private(vcpu.0, &mut st, i, HandlerState::UNREGISTERED);
            }
            *st = VcpuState::new(self.table.private.len());
            slot.gate.fetch_or(GATE_MASKED, SeqCst);
            slot.pending.store(0, SeqCst);
            slot.busy.store(BUSY_IDLE, SeqCst);
            slot.hint.store(false, SeqCst);
            drop(st);
            // Masked now: what was routed here moves; what ran here and was
            // triggered again becomes routable.
            self.route_all(&mut t, &mut kicks);
        }
        self.run_hooks(&log);
        kicks
    }

    /// Hook calls for a freshly restored server: `divert` for every bound
    /// interrupt that is registered (per vCPU for PPIs). Call after
    /// [`Sdei::set_interrupt_hook`] on a restored server.
    pub fn replay_diversions(&self) {
        let mut log = alloc::vec::Vec::new();
        let private: alloc::vec::Vec<(usize, u32)> = {
            let t = self.shared.lock();
            for (i, b) in t.shared_bind.iter().enumerate() {
                let Some(intid) = *b else { continue };
                if let Some(e) = t.events.get(i).filter(|e| e.state.registered()) {
                    let target = match e.routing {
                        crate::Routing::Pe => self.vcpu_by_affinity(e.affinity).map(VcpuIndex),
                        crate::Routing::Any => None,
                    };
                    log.push(HookCall::Divert(intid, target));
                }
            }
            t.private_bind
                .iter()
                .enumerate()
                .filter_map(|(i, b)| b.map(|intid| (i, intid)))
                .collect()
        };
        // One vCPU lock at a time, never under the shared lock.
        for (v, s) in self.vcpus.iter().enumerate() {
            let st = s.state.lock();
            for &(i, intid) in &private {
                if st.state(i).registered() {
                    log.push(HookCall::Divert(intid, Some(VcpuIndex(v as u32))));
                }
            }
        }
        self.run_hooks(&log);
    }
}
