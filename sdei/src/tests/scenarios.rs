//! Dispatch, delivery and completion rules (§9, §11–§14), multi-vCPU.

use std::sync::{Arc, Mutex};
use std::vec::Vec;

use fwcall_smccc::VcpuIndex;

use super::sim::*;
use crate::{InterruptHook, Interrupted, Sdei, SdeiConfig, pstate};

fn signal_self(s: &mut Sim, v: u32) -> u64 {
    s.call(v, SIGNAL, &[0, mpidr(v)])
}

#[test]
fn vcpus_start_masked_and_receive_nothing_until_unmasked() {
    let mut s = Sim::new(1);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.got(0), None);
    s.unmask(0);
    assert_eq!(
        s.got(0),
        Some(EV_PRIV_NORMAL),
        "pending trigger delivered at unmask"
    );
}

#[test]
fn handler_entry_sets_x0_to_x3_and_leaves_x4_to_x17_elr_spsr() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0xabcd);
    s.unmask(0);
    for i in 4..31 {
        s.regs[0].x[i] = 0x1000 + i as u64;
    }
    s.regs[0].elr = 0x5555;
    s.regs[0].spsr = 0x6666;
    s.regs[0].pc = 0xffff_0000_0000_1234;
    s.regs[0].pstate = 0x6000_0005; // EL1h, ZC flags, interrupts unmasked
    let before = s.regs[0];
    assert_eq!(signal_self(&mut s, 0), OK);
    assert_eq!(s.got(0), Some(0));
    let r = s.regs[0];
    // x0 was the SIGNAL result (0) when the context was saved.
    assert_eq!(&r.x[..4], &[0, 0xabcd, before.pc, before.pstate]);
    assert_eq!(&r.x[4..], &before.x[4..]);
    assert_eq!((r.elr, r.spsr), (0x5555, 0x6666));
    assert_eq!(r.pc, ENTRY);
    assert_eq!(r.pstate, 0x6000_0000 | 0x3c5);
}

#[test]
fn handler_entry_pstate_follows_exception_entry_rules() {
    let config = SdeiConfig {
        cpu_features: "pan,ssbs,mte,nmi".parse().unwrap(),
        ..test_config()
    };
    let mut s = Sim::with_config(1, &config);
    s.ready(0, 0, ENTRY, 0);
    s.unmask(0);
    // EL0t with SS, PAN clear; SCTLR: SPAN = 0, DSSBS = 1, SPINTMASK = 0.
    s.regs[0].pstate = 1 << 21;
    s.regs[0].sctlr = pstate::SCTLR_DSSBS;
    signal_self(&mut s, 0);
    let want = 0x3c5 | pstate::PAN | pstate::TCO | pstate::SSBS | pstate::ALLINT;
    assert_eq!(s.regs[0].pstate, want);
}

#[test]
fn context_reads_the_interrupted_registers_and_complete_restores_them() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    s.unmask(0);
    for i in 0..18 {
        s.regs[0].x[i] = 0x100 + i as u64;
    }
    let pc = s.regs[0].pc;
    // Signal with x1/x2 = args; the saved x0 is the call's result 0.
    signal_self(&mut s, 0);
    let saved: Vec<u64> = (0..18).map(|i| s.call(0, CONTEXT, &[i])).collect();
    assert_eq!(saved[0], 0);
    assert_eq!(saved[1], 0, "x1 = event argument of SIGNAL");
    assert_eq!(saved[2], mpidr(0));
    for (i, v) in saved.iter().enumerate().skip(3) {
        assert_eq!(*v, 0x100 + i as u64);
    }
    // Clobber everything the handler may; COMPLETE brings the context back.
    for i in 0..18 {
        s.regs[0].x[i] = 0xdead;
    }
    s.call(0, COMPLETE, &[1]); // FAILED status is accepted
    assert_eq!(s.regs[0].pc, pc);
    assert_eq!(s.regs[0].pstate, 0x3c5);
    assert_eq!(s.regs[0].x[0], 0, "x0 restored, no status written");
    assert_eq!(s.regs[0].x[1], 0);
    assert_eq!(s.regs[0].x[5], 0x105);
}

#[test]
fn complete_and_resume_looks_like_an_irq_from_the_interrupted_context() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    s.unmask(0);
    s.regs[0].pc = 0x40_1000;
    s.regs[0].pstate = 0x8000_0000; // EL0t, N set, PAN clear
    s.regs[0].sctlr = 0; // SPAN = 0: PAN set on exception entry
    signal_self(&mut s, 0);
    s.regs[0].sctlr = pstate::SCTLR_SPAN; // changed later: the saved one counts
    s.regs[0].elr = 0x1111;
    s.call(0, RESUME, &[0xffff_8000_0000_1480]);
    let r = s.regs[0];
    assert_eq!(r.pc, 0xffff_8000_0000_1480);
    assert_eq!((r.elr, r.spsr), (0x40_1000, 0x8000_0000));
    assert_eq!(r.pstate, 0x8000_0000 | pstate::PAN | 0x3c5);
    assert_eq!(s.status(0, 0), 3);
}

#[test]
fn resume_to_address_zero_is_denied_and_the_handler_keeps_running() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    s.unmask(0);
    signal_self(&mut s, 0);
    assert_eq!(s.call(0, RESUME, &[0]), DENIED);
    assert_eq!(s.status(0, 0), 7);
}

#[test]
fn pe_mask_while_a_handler_runs_succeeds_and_completion_still_works() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    s.unmask(0);
    let pc = s.regs[0].pc;
    signal_self(&mut s, 0);
    assert_eq!(s.call(0, PE_MASK, &[]), 1);
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.regs[0].pc, pc);
}

#[test]
fn critical_preempts_a_running_normal_handler_and_unwinds_in_order() {
    let mut s = Sim::new(1);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 1);
    s.ready(0, EV_PRIV_CRIT, ENTRY2, 2);
    s.unmask(0);
    let pc0 = s.regs[0].pc;
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.got(0), Some(EV_PRIV_NORMAL));
    s.regs[0].pc = ENTRY + 0x40; // the normal handler runs a bit
    s.regs[0].x[7] = 0x77;
    s.raise(EV_PRIV_CRIT, Some(0));
    assert_eq!(s.got(0), Some(EV_PRIV_CRIT));
    assert_eq!(
        s.regs[0].x[2],
        ENTRY + 0x40,
        "critical interrupted the normal handler"
    );
    assert_eq!(
        s.call(0, CONTEXT, &[7]),
        0x77,
        "context of the most recent dispatch"
    );
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.regs[0].pc, ENTRY + 0x40);
    assert_eq!(s.status(0, EV_PRIV_NORMAL), 7);
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.regs[0].pc, pc0);
}

/// `EVENT_CONTEXT` reads the top saved context without the vCPU lock:
/// it must follow every change of the stack (nested entry, completion
/// back into the outer handler, the last completion, power off, reset).
#[test]
fn context_follows_the_top_saved_context() {
    let mut s = Sim::new(1);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 1);
    s.ready(0, EV_PRIV_CRIT, ENTRY2, 2);
    s.unmask(0);
    for i in 4..18 {
        s.regs[0].x[i] = 0x100 + i as u64;
    }
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.got(0), Some(EV_PRIV_NORMAL));
    for i in 4..18 {
        assert_eq!(s.call(0, CONTEXT, &[i as u64]), 0x100 + i as u64);
    }
    // The normal handler changes registers; a critical event nests.
    for i in 4..18 {
        s.regs[0].x[i] = 0x200 + i as u64;
    }
    s.raise(EV_PRIV_CRIT, Some(0));
    assert_eq!(s.got(0), Some(EV_PRIV_CRIT));
    for i in 4..18 {
        assert_eq!(s.call(0, CONTEXT, &[i as u64]), 0x200 + i as u64);
    }
    // Back in the normal handler: its own interrupted context again.
    s.call(0, COMPLETE, &[0]);
    for i in 4..18 {
        assert_eq!(s.call(0, CONTEXT, &[i as u64]), 0x100 + i as u64);
    }
    assert_eq!(s.call(0, CONTEXT, &[18]), INVALID);
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.call(0, CONTEXT, &[4]), DENIED, "nothing running");
    // A handler discarded by power off or reset leaves no context.
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.got(0), Some(EV_PRIV_NORMAL));
    s.power_off(0);
    assert_eq!(s.call(0, CONTEXT, &[4]), DENIED, "discarded by CPU_OFF");
    s.power_on(0);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 1);
    s.unmask(0);
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.got(0), Some(EV_PRIV_NORMAL));
    s.reset(0);
    assert_eq!(s.call(0, CONTEXT, &[4]), DENIED, "discarded by reset");
}

#[test]
fn nothing_preempts_a_critical_handler() {
    let mut s = Sim::new(1);
    s.ready(0, EV_PRIV_CRIT, ENTRY2, 0);
    s.ready(0, EV_SHARED_CRIT, ENTRY2, 0);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.raise(EV_PRIV_CRIT, Some(0));
    assert_eq!(s.got(0), Some(EV_PRIV_CRIT));
    s.raise(EV_SHARED_CRIT, None);
    assert_eq!(s.got(0), None, "critical over critical");
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.got(0), None, "normal over critical");
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.got(0), Some(EV_SHARED_CRIT), "critical before normal");
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.got(0), Some(EV_PRIV_NORMAL));
}

#[test]
fn a_normal_event_never_preempts_a_normal_handler() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(signal_self(&mut s, 0), OK);
    assert_eq!(s.got(0), None);
    s.call(0, COMPLETE, &[0]);
    assert_eq!(
        s.got(0),
        Some(0),
        "completion immediately delivers the next"
    );
}

#[test]
fn pending_order_is_critical_then_private_then_lowest_number() {
    let mut s = Sim::new(1);
    for ev in [
        0,
        EV_PRIV_NORMAL,
        EV_PRIV_CRIT,
        EV_SHARED_NORMAL,
        EV_SHARED_CRIT,
    ] {
        s.ready(0, ev, ENTRY, 0);
    }
    s.raise(EV_SHARED_NORMAL, None);
    s.raise(EV_PRIV_NORMAL, Some(0));
    s.raise(EV_SHARED_CRIT, None);
    s.raise(EV_PRIV_CRIT, Some(0));
    s.unmask(0);
    let mut order = std::vec![s.got(0).unwrap()];
    loop {
        s.call(0, COMPLETE, &[0]);
        match s.got(0) {
            Some(e) => order.push(e),
            None => break,
        }
    }
    assert_eq!(
        order,
        [
            EV_PRIV_CRIT,
            EV_SHARED_CRIT,
            EV_PRIV_NORMAL,
            EV_SHARED_NORMAL
        ]
    );
}

#[test]
fn triggers_coalesce_while_pending() {
    let mut s = Sim::new(1);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    for _ in 0..3 {
        s.raise(EV_PRIV_NORMAL, Some(0));
    }
    s.unmask(0);
    assert_eq!(s.got(0), Some(EV_PRIV_NORMAL));
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.got(0), None, "three triggers, one delivery");
}

#[test]
fn triggers_of_unregistered_events_are_dropped() {
    let mut s = Sim::new(1);
    s.unmask(0);
    s.raise(EV_PRIV_NORMAL, Some(0));
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    assert_eq!(s.got(0), None);
}

#[test]
fn unregister_drops_a_pending_trigger() {
    let mut s = Sim::new(1);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.call(0, UNREGISTER, &[EV_PRIV_NORMAL as u64]), OK);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    s.unmask(0);
    assert_eq!(s.got(0), None);
}

#[test]
fn unregister_while_running_is_pending_and_finishes_at_complete() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    s.unmask(0);
    signal_self(&mut s, 0);
    assert_eq!(s.call(0, UNREGISTER, &[0]), PENDING);
    assert_eq!(s.status(0, 0), 4);
    assert_eq!(s.call(0, CONTEXT, &[0]), 0, "context still readable");
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.status(0, 0), 0);
    assert_eq!(s.call(0, UNREGISTER, &[0]), DENIED);
}

#[test]
fn shared_rm_any_reaches_the_lowest_unmasked_idle_vcpu() {
    let mut s = Sim::new(4);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(2);
    s.unmask(3);
    s.raise(EV_SHARED_NORMAL, None);
    assert_eq!(s.got_any(), [(2, EV_SHARED_NORMAL)]);
    assert_eq!(
        s.status(0, EV_SHARED_NORMAL),
        7,
        "running shows on every vCPU"
    );
    // Triggered again while running on vCPU 2: waits (never nests anywhere).
    s.raise(EV_SHARED_NORMAL, None);
    assert!(s.got_any().is_empty());
    s.call(2, COMPLETE, &[0]);
    assert_eq!(s.got_any(), [(2, EV_SHARED_NORMAL)]);
}

#[test]
fn shared_rm_any_skips_busy_vcpus() {
    let mut s = Sim::new(2);
    s.ready(0, 0, ENTRY, 0);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.unmask(1);
    signal_self(&mut s, 0);
    s.raise(EV_SHARED_NORMAL, None);
    assert_eq!(s.got_any(), [(1, EV_SHARED_NORMAL)]);
}

#[test]
fn shared_rm_any_waits_while_all_masked_and_goes_to_the_first_unmasking() {
    let mut s = Sim::new(3);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.raise(EV_SHARED_NORMAL, None);
    assert!(s.got_any().is_empty());
    s.unmask(2);
    assert_eq!(s.got_any(), [(2, EV_SHARED_NORMAL)]);
}

#[test]
fn pe_mask_moves_a_routed_rm_any_event_to_another_vcpu() {
    let mut s = Sim::new(2);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.unmask(1);
    // Route it to vCPU 0 without letting vCPU 0 take it yet.
    let k = s.sdei.raise(EV_SHARED_NORMAL, None).unwrap();
    assert!(k.contains(VcpuIndex(0)));
    assert_eq!(s.call(0, PE_MASK, &[]), 1);
    assert_eq!(s.got_any(), [(1, EV_SHARED_NORMAL)]);
}

/// Issue 14's window: vCPU 0's `take_delivery` read `shared_for_me` (no
/// shared event yet), the VMM then routed a shared `RM_ANY` trigger to vCPU 0
/// (unmasked, idle), and vCPU 0 went on to enter a private handler. The
/// trigger must not wait for that handler while vCPU 1 idles unmasked.
#[test]
fn rm_any_trigger_routed_in_the_entry_window_moves_to_an_idle_vcpu() {
    let mut s = Sim::new(2);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 1);
    s.ready(0, EV_SHARED_NORMAL, ENTRY2, 2);
    s.unmask(0);
    s.unmask(1);
    // A private trigger for vCPU 0, not yet taken.
    s.sdei.raise(EV_PRIV_NORMAL, Some(VcpuIndex(0))).unwrap();
    // The stale read: what `take_delivery` saw before the raise below.
    let seen = s
        .sdei
        .slot(0)
        .shared_for_me
        .load(fwcall_smccc::sync::atomic::Ordering::SeqCst);
    assert_eq!(seen, 0);
    let k = s.sdei.raise(EV_SHARED_NORMAL, None).unwrap();
    assert!(k.contains(VcpuIndex(0)), "routed to the lowest idle vCPU");
    let now = Interrupted {
        pc: 0x4000,
        pstate: 0x3c5,
        sctlr_el1: SPAN,
        ..Default::default()
    };
    let d = s.sdei.enter(0, seen, &now).unwrap();
    assert_eq!(d.event, EV_PRIV_NORMAL);
    assert!(
        d.kicks.contains(VcpuIndex(1)),
        "the trigger moved on: kick vCPU 1"
    );
    assert_eq!(
        s.sdei.take_delivery(VcpuIndex(1), &now).map(|d| d.event),
        Some(EV_SHARED_NORMAL)
    );
    // And vCPU 0, busy, has nothing left routed to it.
    assert!(s.sdei.take_delivery(VcpuIndex(0), &now).is_none());
}

/// The same window when no vCPU is idle: the trigger waits (not routed to
/// the busy vCPU) and goes to the first vCPU that becomes able.
#[test]
fn rm_any_trigger_routed_in_the_entry_window_waits_when_nobody_is_idle() {
    let mut s = Sim::new(2);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 1);
    s.ready(0, EV_SHARED_NORMAL, ENTRY2, 2);
    s.unmask(0);
    s.sdei.raise(EV_PRIV_NORMAL, Some(VcpuIndex(0))).unwrap();
    let k = s.sdei.raise(EV_SHARED_NORMAL, None).unwrap();
    assert!(k.contains(VcpuIndex(0)));
    let now = Interrupted {
        pc: 0x4000,
        pstate: 0x3c5,
        sctlr_el1: SPAN,
        ..Default::default()
    };
    let d = s.sdei.enter(0, 0, &now).unwrap();
    assert_eq!(d.event, EV_PRIV_NORMAL);
    let st = s.sdei.state();
    let e = st
        .shared
        .iter()
        .find(|e| e.event == EV_SHARED_NORMAL)
        .unwrap();
    assert!(
        e.pending && e.target.is_none(),
        "waits, routed to nobody: {e:?}"
    );
    s.unmask(1);
    assert_eq!(s.got(1), Some(EV_SHARED_NORMAL));
}

#[test]
fn shared_rm_pe_reaches_exactly_its_vcpu_and_waits_while_it_is_masked() {
    let mut s = Sim::new(3);
    assert_eq!(
        s.call(
            0,
            REGISTER,
            &[EV_SHARED_NORMAL as u64, ENTRY, 0, 1, mpidr(2)]
        ),
        OK
    );
    assert_eq!(s.call(0, ENABLE, &[EV_SHARED_NORMAL as u64]), OK);
    s.unmask(0);
    s.unmask(1);
    s.raise(EV_SHARED_NORMAL, None);
    assert!(s.got_any().is_empty(), "vCPU 2 is masked");
    s.unmask(2);
    assert_eq!(s.got_any(), [(2, EV_SHARED_NORMAL)]);
}

#[test]
fn signal_reaches_another_vcpu_and_kicks_it() {
    let mut s = Sim::new(2);
    s.ready(1, 0, ENTRY, 0x42);
    s.unmask(1);
    let out = s.sdei.call(
        VcpuIndex(0),
        &fwcall_smccc::Call::new(fwcall_smccc::ids::SDEI_EVENT_SIGNAL, &[0, mpidr(1)]),
    );
    assert_eq!(out.kicks.ids(), &[VcpuIndex(1)]);
    assert!(s.sdei.has_pending(VcpuIndex(1)));
    assert!(!s.sdei.has_pending(VcpuIndex(0)));
    s.settle(0, out.kicks);
    assert_eq!(s.got_any(), [(1, 0)]);
    assert_eq!(s.regs[1].x[1], 0x42);
}

#[test]
fn signal_to_a_target_running_event_0_pends_until_completion() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    s.unmask(0);
    signal_self(&mut s, 0);
    assert_eq!(signal_self(&mut s, 0), OK);
    assert_eq!(s.got(0), None);
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.got(0), Some(0));
}

#[test]
fn vcpu_reset_unregisters_private_events_discards_dispatch_and_masks() {
    let mut s = Sim::new(2);
    s.ready(0, 0, ENTRY, 0);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.raise(EV_SHARED_NORMAL, None);
    assert_eq!(s.got(0), Some(EV_SHARED_NORMAL));
    s.reset(0);
    assert_eq!(s.status(0, 0), 0);
    assert_eq!(
        s.status(1, EV_SHARED_NORMAL),
        3,
        "shared handler finished, still registered"
    );
    assert_eq!(s.call(0, CONTEXT, &[0]), DENIED);
    assert_eq!(s.call(0, PE_MASK, &[]), 0, "masked again");
}

#[test]
fn has_pending_is_false_when_nothing_can_be_delivered() {
    let mut s = Sim::new(1);
    assert!(!s.sdei.has_pending(VcpuIndex(0)));
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    s.sdei.raise(EV_PRIV_NORMAL, Some(VcpuIndex(0))).unwrap();
    assert!(!s.sdei.has_pending(VcpuIndex(0)), "masked");
    s.unmask(0); // the sim takes the delivery
    assert!(!s.sdei.has_pending(VcpuIndex(0)));
    assert_eq!(s.got(0), Some(EV_PRIV_NORMAL));
}

#[derive(Default)]
struct Log(Mutex<Vec<(char, u32, Option<u32>)>>);

impl InterruptHook for Arc<Log> {
    fn divert(&self, intid: u32, target: Option<VcpuIndex>) {
        self.0
            .lock()
            .unwrap()
            .push(('d', intid, target.map(|v| v.0)));
    }
    fn give_back(&self, intid: u32) {
        self.0.lock().unwrap().push(('g', intid, None));
    }
    fn give_back_on(&self, intid: u32, vcpu: Option<VcpuIndex>) {
        self.0.lock().unwrap().push(('g', intid, vcpu.map(|v| v.0)));
    }
}

#[test]
fn hook_hears_when_a_bound_interrupt_is_diverted_and_given_back() {
    let log = Arc::new(Log::default());
    let mpidrs: Vec<_> = (0..2).map(fwcall_smccc::Mpidr::kvm_default).collect();
    let mut sdei = Sdei::new(&test_config(), &mpidrs).unwrap();
    sdei.set_interrupt_hook(std::boxed::Box::new(log.clone()));
    let mut s = Sim::from_sdei(sdei);
    let sev = s.call(0, BIND, &[40]);
    let pev = s.call(0, BIND, &[23]);
    assert!(log.0.lock().unwrap().is_empty(), "BIND defers to REGISTER");
    assert_eq!(s.call(1, REGISTER, &[sev, ENTRY, 0, 1, mpidr(1)]), OK);
    assert_eq!(s.call(1, REGISTER, &[pev, ENTRY, 0, 0, 0]), OK);
    assert_eq!(s.call(0, UNREGISTER, &[sev]), OK);
    s.reset(1);
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            ('d', 40, Some(1)),
            ('d', 23, Some(1)),
            ('g', 40, None),
            ('g', 23, Some(1))
        ]
    );
}

#[test]
fn bound_ppi_triggers_only_on_vcpus_that_registered_it() {
    let mut s = Sim::new(2);
    let ev = s.call(0, BIND, &[23]);
    assert_eq!(s.call(1, REGISTER, &[ev, ENTRY, 0, 0, 0]), OK);
    assert_eq!(s.call(1, ENABLE, &[ev]), OK);
    s.unmask(0);
    s.unmask(1);
    assert!(!s.irq(23, Some(0)), "vCPU 0 did not register: plain IRQ");
    assert!(s.irq(23, Some(1)));
    assert_eq!(s.got(1), Some(ev as u32));
    assert!(!s.irq(99, None));
}

#[test]
fn config_rejects_event_0_duplicates_negative_reserved_and_bad_vcpus() {
    use crate::{EventDecl, EventKind::*, Priority::*, SdeiConfigError as E};
    let one = [fwcall_smccc::Mpidr::kvm_default(0)];
    let with = |events: Vec<EventDecl>| {
        Sdei::new(
            &SdeiConfig {
                events,
                ..SdeiConfig::default()
            },
            &one,
        )
        .map(|_| ())
    };
    let d = |number, kind| EventDecl {
        number,
        kind,
        priority: Normal,
    };
    assert_eq!(with(std::vec![d(0, Private)]), Err(E::Event0Redeclared));
    assert_eq!(
        with(std::vec![d(5, Private), d(5, Shared)]),
        Err(E::DuplicateEvent(5))
    );
    assert_eq!(
        with(std::vec![d(0x8000_0001, Shared)]),
        Err(E::NegativeEvent(0x8000_0001))
    );
    assert_eq!(
        with(std::vec![d(0x4000_0003, Shared)]),
        Err(E::ReservedEvent(0x4000_0003))
    );
    let many = SdeiConfig {
        shared_slots: 65,
        ..SdeiConfig::default()
    };
    assert_eq!(
        Sdei::new(&many, &one).unwrap_err(),
        E::TooManySharedEvents(65)
    );
    let dup = [
        fwcall_smccc::Mpidr(0x8000_0001),
        fwcall_smccc::Mpidr(0x4000_0001),
    ];
    assert!(matches!(
        Sdei::new(&SdeiConfig::default(), &dup),
        Err(E::DuplicateMpidr {
            first: 0,
            second: 1,
            ..
        })
    ));
    assert!(matches!(
        Sdei::new(&SdeiConfig::default(), &[fwcall_smccc::Mpidr(1 << 50)]),
        Err(E::MalformedMpidr { index: 0, .. })
    ));
}

#[test]
fn raise_refuses_unknown_event_0_slots_and_missing_vcpu() {
    use crate::RaiseError;
    let s = Sim::new(1);
    assert_eq!(
        s.sdei.raise(0x99, None),
        Err(RaiseError::UnknownEvent(0x99))
    );
    assert_eq!(
        s.sdei.raise(0, Some(VcpuIndex(0))),
        Err(RaiseError::NotRaisable(0))
    );
    assert_eq!(
        s.sdei.raise(SLOT_SHARED0, None),
        Err(RaiseError::NotRaisable(SLOT_SHARED0))
    );
    assert_eq!(
        s.sdei.raise(EV_PRIV_NORMAL, None),
        Err(RaiseError::VcpuRequired(EV_PRIV_NORMAL))
    );
    assert_eq!(
        s.sdei.raise(EV_PRIV_NORMAL, Some(VcpuIndex(3))),
        Err(RaiseError::NoSuchVcpu(VcpuIndex(3)))
    );
}

#[test]
fn sdei_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Sdei>();
}
