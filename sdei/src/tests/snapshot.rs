//! Snapshot export and validated restore.

use std::vec::Vec;

use fwcall_smccc::Mpidr;

use super::sim::*;
use crate::{Routing, Sdei, SdeiStateError as E};

fn mpidrs(n: u32) -> Vec<Mpidr> {
    (0..n).map(Mpidr::kvm_default).collect()
}

/// A busy 3-vCPU server: nesting on vCPU 0, a shared event running on
/// vCPU 1, bindings, pending triggers, one `RM_PE` registration.
pub fn busy_sim() -> Sim {
    let mut s = Sim::new(3);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 1);
    s.ready(0, EV_PRIV_CRIT, ENTRY2, 2);
    s.ready(0, 0, ENTRY, 3);
    let sev = s.call(0, BIND, &[40]);
    assert_eq!(s.call(0, REGISTER, &[sev, ENTRY, 4, 1, mpidr(2)]), OK);
    assert_eq!(s.call(0, ENABLE, &[sev]), OK);
    let pev = s.call(0, BIND, &[20]);
    assert_eq!(s.call(2, REGISTER, &[pev, ENTRY, 5, 0, 0]), OK);
    s.ready(1, EV_SHARED_NORMAL, ENTRY, 6);
    s.unmask(0);
    s.unmask(1);
    s.raise(EV_PRIV_NORMAL, Some(0));
    s.raise(EV_PRIV_CRIT, Some(0));
    s.raise(EV_SHARED_NORMAL, None);
    assert_eq!(s.got(1), Some(EV_SHARED_NORMAL));
    s.call(0, SIGNAL, &[0, mpidr(0)]); // pends behind the running handlers
    s.irq(40, None); // RM_PE to masked vCPU 2: routed, waiting there
    s
}

#[test]
fn state_restore_state_is_identical() {
    let s = busy_sim();
    let st = s.sdei.state();
    assert_eq!(st.vcpus[0].stack.len(), 2);
    assert_eq!(st.vcpus[1].stack.len(), 1);
    assert!(st.shared.iter().any(|e| e.target == Some(2)));
    let back = Sdei::restore(&test_config(), &mpidrs(3), &st).unwrap();
    assert_eq!(back.state(), st);
}

#[test]
fn restored_server_continues_where_the_source_stopped() {
    let s = busy_sim();
    let back = Sdei::restore(&test_config(), &mpidrs(3), &s.sdei.state()).unwrap();
    let mut t = Sim::from_sdei(back);
    t.regs = s.regs.clone();
    // The critical handler interrupted the normal one at its entry.
    let crit_pc = ENTRY;
    t.call(0, COMPLETE, &[0]);
    assert_eq!(
        t.regs[0].pc, crit_pc,
        "critical completes into the normal handler"
    );
    t.call(0, COMPLETE, &[0]);
    assert_eq!(
        t.got(0),
        Some(0),
        "pending signal delivered after the normal completes"
    );
    t.unmask(2);
    assert_eq!(t.got(2), Some(SLOT_SHARED0));
}

#[test]
fn restored_server_answers_context_from_the_restored_stack() {
    let s = busy_sim();
    let st = s.sdei.state();
    let back = Sdei::restore(&test_config(), &mpidrs(3), &st).unwrap();
    let mut t = Sim::from_sdei(back);
    for (v, want) in [(0u32, &st.vcpus[0]), (1, &st.vcpus[1])] {
        let top = want.stack.last().unwrap();
        for i in 0..18 {
            assert_eq!(t.call(v, CONTEXT, &[i]), top.x[i as usize], "vCPU {v} X{i}");
        }
    }
    assert_eq!(t.call(2, CONTEXT, &[0]), DENIED);
    // The inner completes: the outer context, restored too, is the top.
    t.call(0, COMPLETE, &[0]);
    let outer = &st.vcpus[0].stack[0];
    for i in 0..18 {
        assert_eq!(t.call(0, CONTEXT, &[i]), outer.x[i as usize]);
    }
}

#[cfg(feature = "std")]
#[test]
fn restore_rejects_vcpu_count_mismatch() {
    let s = busy_sim();
    let r = Sdei::restore(&test_config(), &mpidrs(2), &s.sdei.state());
    assert!(matches!(
        r,
        Err(E::VcpuCount {
            expected: 2,
            found: 3
        })
    ));
}

#[test]
fn restore_rejects_each_kind_of_impossible_state() {
    let good = busy_sim().sdei.state();
    type Mutation = fn(&mut crate::SdeiState);
    type Check = fn(&E) -> bool;
    let cases: &[(&str, Mutation, Check)] = &[
        (
            "status 2",
            |s| s.vcpus[1].private[0].status = 2,
            |e| matches!(e, E::BadStatus { status: 2, .. }),
        ),
        (
            "status 6",
            |s| s.shared[0].status = 6,
            |e| matches!(e, E::BadStatus { status: 6, .. }),
        ),
        (
            "unknown private event",
            |s| s.vcpus[0].private[1].event = 0x12,
            |e| matches!(e, E::EventsDiffer { .. }),
        ),
        (
            "missing shared event",
            |s| {
                s.shared.pop();
            },
            |e| matches!(e, E::EventsDiffer { .. }),
        ),
        (
            "registered with entry 0",
            |s| s.vcpus[0].private[0].entry = 0,
            |e| matches!(e, E::BadRegistration { .. }),
        ),
        (
            "unregistered with arg",
            |s| s.vcpus[1].private[0].arg = 9,
            |e| matches!(e, E::BadRegistration { .. }),
        ),
        (
            "pending while unregistered",
            |s| s.vcpus[1].private[0].pending = true,
            |e| matches!(e, E::BadPending { .. }),
        ),
        (
            "running without context",
            |s| {
                s.vcpus[0].stack.pop();
            },
            |e| matches!(e, E::RunningMismatch { .. }),
        ),
        (
            "context without running",
            |s| s.vcpus[0].private[2].status = 3,
            |e| matches!(e, E::RunningMismatch { .. }),
        ),
        (
            "critical under normal",
            |s| s.vcpus[0].stack.swap(0, 1),
            |e| matches!(e, E::BadStack { .. }),
        ),
        (
            "three contexts",
            |s| {
                let c = s.vcpus[0].stack[0];
                s.vcpus[0].stack.push(c);
            },
            |e| matches!(e, E::BadStack { .. }),
        ),
        (
            "unknown stacked event",
            |s| s.vcpus[1].stack[0].event = 0x99,
            |e| matches!(e, E::BadStack { .. }),
        ),
        (
            "shared running elsewhere",
            |s| {
                let i = s
                    .shared
                    .iter()
                    .position(|e| e.running_on.is_some())
                    .unwrap();
                s.shared[i].running_on = Some(0);
            },
            |e| matches!(e, E::RunningMismatch { .. }),
        ),
        (
            "rm_pe affinity of no vCPU",
            |s| {
                let i = s
                    .shared
                    .iter()
                    .position(|e| e.routing == Routing::Pe)
                    .unwrap();
                s.shared[i].affinity = 0x7;
            },
            |e| matches!(e, E::BadRegistration { .. }),
        ),
        (
            "target on wrong vCPU",
            |s| {
                let i = s.shared.iter().position(|e| e.target.is_some()).unwrap();
                s.shared[i].target = Some(1);
            },
            |e| matches!(e, E::UnableTarget { vcpu: 1, .. }),
        ),
        (
            "binding of SGI",
            |s| s.slots[0].intid = Some(3),
            |e| matches!(e, E::BadBinding { .. }),
        ),
        (
            "duplicate binding",
            |s| {
                let a = s
                    .slots
                    .iter()
                    .find_map(|b| b.intid.filter(|i| *i >= 32))
                    .unwrap();
                let j = s.slots.iter().rposition(|b| b.intid.is_none()).unwrap();
                s.slots[j].intid = Some(a);
            },
            |e| matches!(e, E::BadBinding { .. }),
        ),
        (
            "registered slot unbound",
            |s| {
                for b in s.slots.iter_mut() {
                    b.intid = None;
                }
            },
            |e| matches!(e, E::BadBinding { .. }),
        ),
    ];
    for (name, mutate, want) in cases {
        let mut st = good.clone();
        mutate(&mut st);
        match Sdei::restore(&test_config(), &mpidrs(3), &st) {
            Err(e) => assert!(want(&e), "{name}: wrong error {e:?}"),
            Ok(_) => panic!("{name}: accepted"),
        }
    }
}

/// Two vCPUs: vCPU 0 runs a private normal handler, vCPU 1 is masked, and
/// a shared normal `RM_ANY` trigger waits with no vCPU able to take it.
fn waiting_sim() -> Sim {
    let mut s = Sim::new(2);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 1);
    s.ready(0, EV_SHARED_NORMAL, ENTRY2, 2);
    s.unmask(0);
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.got(0), Some(EV_PRIV_NORMAL));
    s.raise(EV_SHARED_NORMAL, None);
    assert_eq!(s.got_any(), []);
    s
}

#[test]
fn restore_refuses_a_trigger_routed_to_a_vcpu_that_cannot_take_it() {
    let good = waiting_sim().sdei.state();
    let ev = good
        .shared
        .iter()
        .position(|e| e.event == EV_SHARED_NORMAL)
        .unwrap();
    assert!(good.shared[ev].pending && good.shared[ev].target.is_none());
    Sdei::restore(&test_config(), &mpidrs(2), &good).unwrap();
    // Routed to vCPU 0, unmasked but busy with a normal handler.
    let mut busy = good.clone();
    busy.shared[ev].target = Some(0);
    assert_eq!(
        Sdei::restore(&test_config(), &mpidrs(2), &busy).unwrap_err(),
        E::UnableTarget {
            event: EV_SHARED_NORMAL,
            vcpu: 0
        }
    );
    // Routed to vCPU 1, idle but masked.
    let mut masked = good.clone();
    masked.shared[ev].target = Some(1);
    assert_eq!(
        Sdei::restore(&test_config(), &mpidrs(2), &masked).unwrap_err(),
        E::UnableTarget {
            event: EV_SHARED_NORMAL,
            vcpu: 1
        }
    );
}

#[test]
fn restore_refuses_a_trigger_left_waiting_while_a_vcpu_could_take_it() {
    let good = waiting_sim().sdei.state();
    let ev = good
        .shared
        .iter()
        .position(|e| e.event == EV_SHARED_NORMAL)
        .unwrap();
    let mut stranded = good.clone();
    stranded.vcpus[1].masked = false;
    assert_eq!(
        Sdei::restore(&test_config(), &mpidrs(2), &stranded).unwrap_err(),
        E::StrandedTrigger {
            event: EV_SHARED_NORMAL,
            vcpu: 1
        }
    );
    // The same, routed to the able vCPU, is what fwcall writes.
    stranded.shared[ev].target = Some(1);
    Sdei::restore(&test_config(), &mpidrs(2), &stranded).unwrap();
}

#[test]
fn restored_waiting_trigger_goes_to_the_first_vcpu_that_unmasks() {
    let s = waiting_sim();
    let back = Sdei::restore(&test_config(), &mpidrs(2), &s.sdei.state()).unwrap();
    let mut t = Sim::from_sdei(back);
    t.unmask(1);
    assert_eq!(t.got(1), Some(EV_SHARED_NORMAL));
}
