//! SDEI delivery rules through the public server API, each named after the
//! DEN0054 rule (or fwcall contract) it checks: the pending hint is never
//! stale-false, an event is dispatched once per trigger, PRIVATE_RESET
//! with a running event is DENIED, and RM_ANY finds an able vCPU in any
//! word of a large VM.

use fwcall_sdei::{EventDecl, EventKind, Interrupted, Priority, Sdei, SdeiConfig};
use fwcall_smccc::{Call, FunctionId, Mpidr, Reply, VcpuIndex, ids};

const ENTRY: u64 = 0xffff_8000_1000_0000;
const P1: u32 = 0x10;
const P2: u32 = 0x11;
const SHARED: u32 = 0x20;
/// SDEI_EVENT_STATUS bits (DEN0054 §5.1.12): registered, enabled, running.
const REGISTERED: u64 = 1;
const ENABLED: u64 = 2;
const RUNNING: u64 = 4;
/// DENIED (DEN0054 §5.2, return codes).
const DENIED: i64 = -3;
/// REGISTER flags: RM_ANY 0, RM_PE 1.
const RM_PE: u64 = 1;

fn server(vcpus: u32) -> Sdei {
    let decl = |number, kind| EventDecl {
        number,
        kind,
        priority: Priority::Normal,
    };
    let config = SdeiConfig {
        events: vec![
            decl(P1, EventKind::Private),
            decl(P2, EventKind::Private),
            decl(SHARED, EventKind::Shared),
        ],
        ..SdeiConfig::default()
    };
    let mpidrs: Vec<Mpidr> = (0..vcpus).map(Mpidr::kvm_default).collect();
    Sdei::new(&config, &mpidrs).unwrap()
}

fn call(s: &Sdei, v: u32, fid: FunctionId, args: &[u64]) -> i64 {
    match s.call(VcpuIndex(v), &Call::new(fid, args)).reply {
        Reply::Return { regs, .. } => regs[0] as i64,
        other => panic!("{fid}: unexpected reply {other:?}"),
    }
}

fn register(s: &Sdei, v: u32, event: u32, flags: u64, affinity: u64) {
    let e = u64::from(event);
    assert_eq!(
        call(
            s,
            v,
            ids::SDEI_EVENT_REGISTER,
            &[e, ENTRY, 0x77, flags, affinity]
        ),
        0
    );
    assert_eq!(call(s, v, ids::SDEI_EVENT_ENABLE, &[e]), 0);
}

fn take(s: &Sdei, v: u32) -> Option<u32> {
    let now = Interrupted {
        pc: 0x4000,
        pstate: 0x3c5,
        ..Default::default()
    };
    s.take_delivery(VcpuIndex(v), &now).map(|d| d.event)
}

/// `has_pending` false means no delivery is waiting: unmasking a vCPU with a
/// private event pending must raise the hint.
#[test]
fn pending_hint_set_at_unmask_for_a_pending_private_event() {
    let s = server(1);
    register(&s, 0, P1, 0, 0);
    s.raise(P1, Some(VcpuIndex(0))).unwrap();
    assert_eq!(take(&s, 0), None, "masked: nothing is entered");
    assert_eq!(call(&s, 0, ids::SDEI_PE_UNMASK, &[]), 0);
    assert!(
        s.has_pending(VcpuIndex(0)),
        "a delivery waits but the hint is clear"
    );
    assert_eq!(take(&s, 0), Some(P1));
}

/// The same for a shared RM_PE event that waits on its (masked) target.
#[test]
fn pending_hint_set_at_unmask_for_a_shared_event_routed_here() {
    let s = server(2);
    let target = Mpidr::kvm_default(1).0;
    register(&s, 0, SHARED, RM_PE, target);
    s.raise(SHARED, None).unwrap();
    assert_eq!(take(&s, 1), None, "masked: nothing is entered");
    assert_eq!(call(&s, 1, ids::SDEI_PE_UNMASK, &[]), 0);
    assert!(
        s.has_pending(VcpuIndex(1)),
        "a delivery waits but the hint is clear"
    );
    assert_eq!(take(&s, 1), Some(SHARED));
}

/// One trigger, one dispatch (DEN0054 §6: a dispatched event is no longer
/// pending), for every private event, whatever its index.
#[test]
fn one_trigger_dispatches_once() {
    for event in [P1, P2] {
        let s = server(1);
        register(&s, 0, event, 0, 0);
        assert_eq!(call(&s, 0, ids::SDEI_PE_UNMASK, &[]), 0);
        s.raise(event, Some(VcpuIndex(0))).unwrap();
        assert_eq!(take(&s, 0), Some(event));
        let e = u64::from(event);
        assert_eq!(
            call(&s, 0, ids::SDEI_EVENT_STATUS, &[e]),
            (REGISTERED | ENABLED | RUNNING) as i64
        );
        s.call(VcpuIndex(0), &Call::new(ids::SDEI_EVENT_COMPLETE, &[0]));
        assert_eq!(take(&s, 0), None, "event {event:#x} entered twice");
        assert_eq!(
            call(&s, 0, ids::SDEI_EVENT_STATUS, &[e]),
            (REGISTERED | ENABLED) as i64
        );
    }
}

/// PRIVATE_RESET with a handler running answers DENIED, after
/// unregistering every other private event (DEN0054 §5.1.16).
#[test]
fn private_reset_with_a_running_event_is_denied() {
    let s = server(1);
    register(&s, 0, P1, 0, 0);
    register(&s, 0, P2, 0, 0);
    assert_eq!(call(&s, 0, ids::SDEI_PE_UNMASK, &[]), 0);
    s.raise(P1, Some(VcpuIndex(0))).unwrap();
    assert_eq!(take(&s, 0), Some(P1));
    assert_eq!(call(&s, 0, ids::SDEI_PRIVATE_RESET, &[]), DENIED);
    assert_eq!(call(&s, 0, ids::SDEI_EVENT_STATUS, &[u64::from(P2)]), 0);
    // With nothing running, the reset succeeds.
    let s = server(1);
    register(&s, 0, P1, 0, 0);
    assert_eq!(call(&s, 0, ids::SDEI_PRIVATE_RESET, &[]), 0);
    assert_eq!(call(&s, 0, ids::SDEI_EVENT_STATUS, &[u64::from(P1)]), 0);
}

/// RM_ANY goes to an unmasked, idle vCPU (DEN0054 §6.2) even in a VM of
/// several 64-vCPU words, and even when a vCPU that unmasked and masked
/// again sits below it.
#[test]
fn rm_any_reaches_an_able_vcpu_in_a_high_word() {
    let s = server(512);
    register(&s, 0, SHARED, 0, 0);
    // vCPU 70 was able once and is masked again.
    assert_eq!(call(&s, 70, ids::SDEI_PE_UNMASK, &[]), 0);
    assert_eq!(call(&s, 70, ids::SDEI_PE_MASK, &[]), 1);
    assert_eq!(call(&s, 390, ids::SDEI_PE_UNMASK, &[]), 0);
    let kicks = s.raise(SHARED, None).unwrap();
    assert!(kicks.contains(VcpuIndex(390)), "{kicks:?}");
    assert_eq!(take(&s, 70), None);
    assert_eq!(take(&s, 390), Some(SHARED));
}

const SHARED_B: u32 = 0x21;
const CRITICAL: u32 = 0x30;

/// A server with two normal shared events and one critical shared event.
fn shared_server(vcpus: u32) -> Sdei {
    let decl = |number, priority| EventDecl {
        number,
        kind: EventKind::Shared,
        priority,
    };
    let config = SdeiConfig {
        events: vec![
            EventDecl {
                number: P1,
                kind: EventKind::Private,
                priority: Priority::Normal,
            },
            decl(SHARED, Priority::Normal),
            decl(SHARED_B, Priority::Normal),
            decl(CRITICAL, Priority::Critical),
        ],
        ..SdeiConfig::default()
    };
    let mpidrs: Vec<Mpidr> = (0..vcpus).map(Mpidr::kvm_default).collect();
    Sdei::new(&config, &mpidrs).unwrap()
}

/// Disabling one shared event takes only that event away from its target:
/// another event routed to the same vCPU is still delivered there.
#[test]
fn disabling_one_shared_event_leaves_the_others_routed() {
    let s = shared_server(1);
    register(&s, 0, SHARED, 0, 0);
    register(&s, 0, SHARED_B, 0, 0);
    assert_eq!(call(&s, 0, ids::SDEI_PE_UNMASK, &[]), 0);
    // Neither is entered yet: raise both before the vCPU asks.
    s.raise(SHARED, None).unwrap();
    s.raise(SHARED_B, None).unwrap();
    assert_eq!(
        call(&s, 0, ids::SDEI_EVENT_DISABLE, &[u64::from(SHARED)]),
        0
    );
    assert_eq!(take(&s, 0), Some(SHARED_B));
}

/// A vCPU reset masks the vCPU: an RM_ANY trigger routed to it and not yet
/// entered moves to another able vCPU (DEN0054 §6.2: RM_ANY goes to a PE
/// that can take it).
#[test]
fn vcpu_reset_moves_rm_any_triggers_routed_there() {
    let s = shared_server(2);
    register(&s, 0, SHARED, 0, 0);
    assert_eq!(call(&s, 0, ids::SDEI_PE_UNMASK, &[]), 0);
    assert_eq!(call(&s, 1, ids::SDEI_PE_UNMASK, &[]), 0);
    s.raise(SHARED, None).unwrap();
    let kicks = s.reset_vcpu(VcpuIndex(0));
    assert!(kicks.contains(VcpuIndex(1)), "{kicks:?}");
    assert_eq!(take(&s, 0), None);
    assert_eq!(take(&s, 1), Some(SHARED));
}

/// A critical shared event waiting while every PE is masked goes to a PE
/// that unmasks inside a normal handler: critical events preempt normal
/// ones (DEN0054 §6.3).
#[test]
fn waiting_critical_event_taken_at_unmask_inside_a_normal_handler() {
    let s = shared_server(1);
    register(&s, 0, P1, 0, 0);
    register(&s, 0, CRITICAL, 0, 0);
    assert_eq!(call(&s, 0, ids::SDEI_PE_UNMASK, &[]), 0);
    s.raise(P1, Some(VcpuIndex(0))).unwrap();
    assert_eq!(take(&s, 0), Some(P1));
    assert_eq!(call(&s, 0, ids::SDEI_PE_MASK, &[]), 1);
    s.raise(CRITICAL, None).unwrap();
    assert_eq!(take(&s, 0), None, "masked");
    assert_eq!(call(&s, 0, ids::SDEI_PE_UNMASK, &[]), 0);
    assert_eq!(take(&s, 0), Some(CRITICAL));
}

/// What an interrupt hook was told, in order.
type HookCalls = std::sync::Arc<std::sync::Mutex<Vec<(&'static str, u32, Option<VcpuIndex>)>>>;

#[derive(Default)]
struct Recorded(HookCalls);

impl fwcall_sdei::InterruptHook for Recorded {
    fn divert(&self, intid: u32, target: Option<VcpuIndex>) {
        self.0.lock().unwrap().push(("divert", intid, target));
    }
    fn give_back(&self, intid: u32) {
        self.0.lock().unwrap().push(("give_back", intid, None));
    }
    fn give_back_on(&self, intid: u32, vcpu: Option<VcpuIndex>) {
        self.0.lock().unwrap().push(("give_back", intid, vcpu));
    }
}

/// UNREGISTER of an event bound to a PPI gives the interrupt back for
/// that vCPU (DEN0054 §5.1.5: it is an ordinary interrupt again).
#[test]
fn unregister_of_a_ppi_event_gives_the_interrupt_back() {
    let mut s = server(2);
    let calls = HookCalls::default();
    s.set_interrupt_hook(Box::new(Recorded(calls.clone())));
    let event = call(&s, 1, ids::SDEI_INTERRUPT_BIND, &[27]);
    assert!(event > 0, "bound: {event}");
    register(&s, 1, event as u32, 0, 0);
    assert_eq!(call(&s, 1, ids::SDEI_EVENT_UNREGISTER, &[event as u64]), 0);
    let got = calls.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            ("divert", 27, Some(VcpuIndex(1))),
            ("give_back", 27, Some(VcpuIndex(1)))
        ]
    );
}
