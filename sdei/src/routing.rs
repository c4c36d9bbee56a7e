//! Routing shared events to vCPUs, and the paths by which a vCPU's change
//! of ability reaches the router. The protocol and the locking rules are
//! in the `server` module's documentation.

use fwcall_smccc::sync::atomic::Ordering::SeqCst;
use fwcall_smccc::{Kicks, VcpuIndex};

use crate::config::Priority;
use crate::ready::ReadySet;
use crate::server::{BUSY_CRITICAL, BUSY_IDLE, Routing, Sdei, SharedTable, allowed, bits};

impl Sdei {
    /// The candidate set for events of `priority`.
    fn ready(&self, priority: Priority) -> &ReadySet {
        match priority {
            Priority::Normal => &self.ready_normal,
            Priority::Critical => &self.ready_critical,
        }
    }

    /// Routes shared event `i` (shared lock held). A target that can still
    /// take the event keeps it; otherwise the target is dropped and one is
    /// chosen: `RM_PE` goes to its vCPU whatever that vCPU's state (it
    /// waits there), `RM_ANY` to the lowest-index vCPU able to take the
    /// event's priority, or it waits (its bit in `waiting`). Bounded work:
    /// no scan of vCPUs, no vCPU lock.
    pub(crate) fn route(&self, t: &mut SharedTable, i: usize, kicks: &mut Kicks) {
        let bit = 1u64 << i;
        let priority = self.shared_priority(i);
        let Some(e) = t.events.get_mut(i) else {
            return;
        };
        let routable = e.routable();
        if let Some(tg) = e.target {
            let s = self.slot(tg);
            let keep = routable
                && match e.routing {
                    Routing::Pe => true,
                    Routing::Any => s.can_take(priority),
                };
            if keep {
                return;
            }
            s.shared_for_me.fetch_and(!bit, SeqCst);
            e.target = None;
        }
        if !routable {
            self.set_waiting(bit, false);
            return;
        }
        let mut chosen = self.choose(e.routing, e.affinity, priority, bit);
        if chosen.is_none() {
            // Publish, then look once more: a vCPU that became able after
            // the first look read its state read `waiting` before this.
            self.set_waiting(bit, true);
            chosen = self.choose(e.routing, e.affinity, priority, bit);
        }
        if let Some(tg) = chosen {
            e.target = Some(tg);
            kicks.add(VcpuIndex(tg));
            self.set_waiting(bit, false);
        }
    }

    /// Every shared event (rare operations: resets, restore checks).
    pub(crate) fn route_all(&self, t: &mut SharedTable, kicks: &mut Kicks) {
        for i in 0..t.events.len() {
            self.route(t, i, kicks);
        }
    }

    /// The events that wait for an able vCPU.
    pub(crate) fn route_waiting(&self, t: &mut SharedTable, kicks: &mut Kicks) {
        for i in bits(self.waiting.load(SeqCst)) {
            self.route(t, i, kicks);
        }
    }

    /// The events among `mask` routed to vCPU `v`.
    pub(crate) fn route_mine(&self, t: &mut SharedTable, v: u32, mask: u64, kicks: &mut Kicks) {
        for i in bits(self.slot(v).shared_for_me.load(SeqCst) & mask) {
            self.route(t, i, kicks);
        }
    }

    /// `waiting` is written only under the shared lock: load, then store.
    fn set_waiting(&self, bit: u64, on: bool) {
        let w = self.waiting.load(SeqCst);
        let n = if on { w | bit } else { w & !bit };
        if n != w {
            self.waiting.store(n, SeqCst);
        }
    }

    fn choose(&self, routing: Routing, affinity: u64, priority: Priority, bit: u64) -> Option<u32> {
        match routing {
            Routing::Pe => {
                let v = self.vcpu_by_affinity(affinity)?;
                let s = self.slot(v);
                s.shared_for_me.fetch_or(bit, SeqCst);
                s.hint.store(true, SeqCst);
                Some(v)
            }
            Routing::Any => {
                let set = self.ready(priority);
                set.find(|v| self.claim_any(set, v, priority, bit))
            }
        }
    }

    /// Routes an `RM_ANY` event to candidate `v` if it can take it. The
    /// bit is published before the vCPU's state is read again: a vCPU that
    /// closes a gate or enters a handler publishes that before reading its
    /// bits, so either we see it and take the bit back, or it sees the bit
    /// and routes the event on. A candidate that cannot take the event
    /// leaves the set (and comes back if it became able meanwhile).
    fn claim_any(&self, set: &ReadySet, v: u32, priority: Priority, bit: u64) -> bool {
        let s = self.slot(v);
        if s.can_take(priority) {
            s.shared_for_me.fetch_or(bit, SeqCst);
            if s.can_take(priority) {
                s.hint.store(true, SeqCst);
                return true;
            }
            s.shared_for_me.fetch_and(!bit, SeqCst);
        }
        set.remove(v);
        if s.can_take(priority) {
            set.insert(v);
        }
        false
    }

    /// A vCPU whose gates are open has become able to take events at
    /// `busy` (`PE_UNMASK`, a completion): it joins the candidate sets.
    /// Returns whether shared events wait that it could take, so the
    /// caller routes them (after this, per the protocol).
    #[inline]
    pub(crate) fn became_able(&self, v: u32, busy: u8) -> bool {
        if busy == BUSY_IDLE {
            self.ready_normal.insert(v);
        }
        if busy != BUSY_CRITICAL {
            self.ready_critical.insert(v);
        }
        self.waiting.load(SeqCst) & allowed(busy, self.table.shared_critical) != 0
    }

    /// Routes the waiting events, taking the shared lock (the rare tail of
    /// `PE_UNMASK` and private completions).
    #[cold]
    #[inline(never)]
    pub(crate) fn route_waiting_cold(&self, kicks: &mut Kicks) {
        let mut t = self.shared.lock();
        self.route_waiting(&mut t, kicks);
    }

    /// Routes the events among `mask` routed to `v`, taking the shared
    /// lock (the rare tail of `PE_MASK` and private handler entry).
    #[cold]
    #[inline(never)]
    pub(crate) fn route_mine_cold(&self, v: u32, mask: u64, kicks: &mut Kicks) {
        let mut t = self.shared.lock();
        self.route_mine(&mut t, v, mask, kicks);
    }
}
