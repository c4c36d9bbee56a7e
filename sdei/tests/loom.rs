//! Model checking of the SDEI server's lock-free protocol with loom: every
//! interleaving (within a preemption bound) of the real server code, whose
//! locks and atomics `fwcall_smccc::sync` swaps for loom's under
//! `--cfg loom`.
//!
//! Run (what `.ci/run` does):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p fwcall-sdei --release --test loom
//! ```
//!
//! Properties checked in every explored execution:
//! * **no lost trigger**: after the threads stop, every accepted trigger is
//!   delivered by draining the vCPUs (and the vCPU it waits for was told,
//!   by a kick and by `has_pending`);
//! * **no double delivery**: each trigger is entered exactly once (no two
//!   triggers of one event coalesce in these scenarios, so the count is
//!   exact);
//! * **no delivery to a masked or powered-off vCPU**: a vCPU thread that
//!   masked itself or powered off (`CPU_OFF`) is never handed a delivery;
//! * **no stranding**: a shared `RM_ANY` trigger not yet taken is routed
//!   to a vCPU that can take it, never left with a busy or masked one
//!   while another could take it;
//! * **no deadlock**: loom fails any execution where every thread blocks.
//!
//! The preemption bound defaults to 5 (`LOOM_MAX_PREEMPTIONS` overrides
//! it): the protocol bugs these tests were checked to catch (each Dekker
//! half removed in turn, the hint cleared late) need one or two; 5 runs
//! in a few seconds, 6 in about ten.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;

use fwcall_sdei::{EventDecl, EventKind, Interrupted, Priority, Sdei, SdeiConfig};
use fwcall_smccc::{Call, Kicks, Mpidr, Reply, VcpuIndex, ids};

const PRIVATE: u32 = 0x10;
const SHARED: u32 = 0x20;
const SHARED_CRITICAL: u32 = 0x21;
const ENTRY: u64 = 0xffff_8000_1000_0000;
const V0: VcpuIndex = VcpuIndex(0);
const V1: VcpuIndex = VcpuIndex(1);

fn check(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        b.preemption_bound = Some(5);
    }
    b.check(f);
}

/// Two vCPUs, a private normal platform event and a shared normal and a
/// shared critical one (both RM_ANY when registered), no dynamic slots. `setup` runs single-threaded first.
fn server(setup: impl Fn(&Sdei)) -> Arc<Sdei> {
    let decl = |number, kind, priority| EventDecl {
        number,
        kind,
        priority,
    };
    let config = SdeiConfig {
        events: vec![
            decl(PRIVATE, EventKind::Private, Priority::Normal),
            decl(SHARED, EventKind::Shared, Priority::Normal),
            decl(SHARED_CRITICAL, EventKind::Shared, Priority::Critical),
        ],
        private_slots: 0,
        shared_slots: 0,
        ..SdeiConfig::default()
    };
    let sdei = Sdei::new(&config, &[Mpidr::kvm_default(0), Mpidr::kvm_default(1)]).unwrap();
    setup(&sdei);
    Arc::new(sdei)
}

fn ok(sdei: &Sdei, v: VcpuIndex, fid: fwcall_smccc::FunctionId, args: &[u64]) -> Kicks {
    let out = sdei.call(v, &Call::new(fid, args));
    match out.reply {
        Reply::Return { regs, .. } => assert!((regs[0] as i64) >= 0, "{fid:?} failed"),
        other => panic!("{fid:?}: {other:?}"),
    }
    out.kicks
}

fn ready(sdei: &Sdei, v: VcpuIndex, event: u32) {
    ok(
        sdei,
        v,
        ids::SDEI_EVENT_REGISTER,
        &[event as u64, ENTRY, 0, 0, 0],
    );
    ok(sdei, v, ids::SDEI_EVENT_ENABLE, &[event as u64]);
}

fn complete(sdei: &Sdei, v: VcpuIndex) -> Kicks {
    let out = sdei.call(v, &Call::new(ids::SDEI_EVENT_COMPLETE, &[0]));
    assert!(
        matches!(out.reply, Reply::Restore(_)),
        "COMPLETE: {:?}",
        out.reply
    );
    out.kicks
}

const NOW: Interrupted = Interrupted {
    x: [0; 18],
    pc: 0x1000,
    pstate: 0x3c5,
    sctlr_el1: 1 << 23,
};

/// A shared event's pending trigger and its target, from the state.
fn routing_of(sdei: &Sdei, event: u32) -> (bool, Option<u32>) {
    let st = sdei.state();
    let e = st.shared.iter().find(|e| e.event == event).unwrap();
    (e.pending, e.target)
}

fn shared_routing(sdei: &Sdei) -> (bool, Option<u32>) {
    routing_of(sdei, SHARED)
}

fn assert_not_stranded(sdei: &Sdei, kicks: &[Kicks]) {
    assert_event_not_stranded(sdei, SHARED, kicks)
}

/// A waiting shared trigger must be routed to a vCPU that can take it
/// (unmasked, and idle for a normal event or not running a critical
/// handler for a critical one) whenever one exists, and that vCPU must
/// have been told (kicked, and `has_pending`).
fn assert_event_not_stranded(sdei: &Sdei, event: u32, kicks: &[Kicks]) {
    let st = sdei.state();
    let critical = event == SHARED_CRITICAL;
    let off = |i: usize| sdei.is_powered_off(VcpuIndex(i as u32)) == Some(true);
    let can_take = |(i, v): (usize, &fwcall_sdei::VcpuSdeiState)| {
        !v.masked
            && !off(i)
            && match v.stack.last() {
                None => true,
                Some(top) => critical && top.event != SHARED_CRITICAL && v.stack.len() < 2,
            }
    };
    let able: Vec<u32> = (0..2)
        .filter(|&v| can_take((v as usize, &st.vcpus[v as usize])))
        .collect();
    let (pending, target) = routing_of(sdei, event);
    if !pending {
        return;
    }
    match target {
        Some(t) => {
            assert!(
                able.contains(&t),
                "trigger routed to vCPU {t}, which cannot take it (able: {able:?})"
            );
            assert!(sdei.has_pending(VcpuIndex(t)), "vCPU {t} not hinted");
            assert!(
                kicks.iter().any(|k| k.contains(VcpuIndex(t))),
                "vCPU {t} never kicked"
            );
        }
        None => assert!(
            able.is_empty(),
            "trigger waits although {able:?} could take it"
        ),
    }
}

/// Takes and completes everything on every vCPU until nothing moves;
/// returns the events entered, per vCPU.
fn drain(sdei: &Sdei) -> [Vec<u32>; 2] {
    let mut got: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    loop {
        let mut moved = false;
        for v in [V0, V1] {
            while let Some(d) = sdei.take_delivery(v, &NOW) {
                assert_eq!(sdei.is_masked(v), Some(false), "delivery to a masked vCPU");
                assert_eq!(
                    sdei.is_powered_off(v),
                    Some(false),
                    "delivery to a powered-off vCPU"
                );
                got[v.get()].push(d.event);
                complete(sdei, v);
                moved = true;
            }
        }
        if !moved {
            return got;
        }
    }
}

fn count(got: &[Vec<u32>; 2], event: u32) -> usize {
    got.iter().flatten().filter(|e| **e == event).count()
}

/// `PE_MASK` on vCPU 0 against the VMM routing a shared trigger: it must
/// end up on vCPU 1 (the only unmasked one), never parked on vCPU 0.
#[test]
fn pe_mask_against_routing_of_a_shared_trigger() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, SHARED);
            ok(s, V0, ids::SDEI_PE_UNMASK, &[]);
            ok(s, V1, ids::SDEI_PE_UNMASK, &[]);
        });
        let s = sdei.clone();
        let vcpu0 = thread::spawn(move || {
            let k = ok(&s, V0, ids::SDEI_PE_MASK, &[]);
            // Masked: nothing may be entered here now.
            assert!(
                s.take_delivery(V0, &NOW).is_none(),
                "delivery to a masked vCPU"
            );
            k
        });
        let raised = sdei.raise(SHARED, None).unwrap();
        let masked = vcpu0.join().unwrap();
        assert_not_stranded(&sdei, &[raised, masked]);
        assert_eq!(shared_routing(&sdei).1, Some(1));
        let got = drain(&sdei);
        assert_eq!(got[1], [SHARED]);
        assert!(got[0].is_empty());
    });
}

/// `PE_UNMASK` against routing: vCPU 1 is busy with a private handler and
/// vCPU 0 unmasks while the VMM raises: the trigger reaches vCPU 0.
#[test]
fn pe_unmask_against_routing_of_a_shared_trigger() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, SHARED);
            ready(s, V1, PRIVATE);
            ok(s, V1, ids::SDEI_PE_UNMASK, &[]);
            s.raise(PRIVATE, Some(V1)).unwrap();
            assert_eq!(s.take_delivery(V1, &NOW).unwrap().event, PRIVATE);
        });
        let s = sdei.clone();
        let vcpu0 = thread::spawn(move || ok(&s, V0, ids::SDEI_PE_UNMASK, &[]));
        let raised = sdei.raise(SHARED, None).unwrap();
        let unmasked = vcpu0.join().unwrap();
        assert_not_stranded(&sdei, &[raised, unmasked]);
        assert_eq!(
            shared_routing(&sdei).1,
            Some(0),
            "waits for nobody but vCPU 0"
        );
        let got = drain(&sdei);
        assert_eq!(got[0], [SHARED]);
        assert_eq!(
            got[1],
            [] as [u32; 0],
            "vCPU 1's private handler was already entered"
        );
    });
}

/// Issue 14's window: the VMM raises a shared trigger while vCPU 0's
/// thread is entering a private handler. Whatever the interleaving, the
/// trigger must not wait for that handler while vCPU 1 idles unmasked.
#[test]
fn raise_against_private_delivery_on_the_vcpu_thread() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, PRIVATE);
            ready(s, V0, SHARED);
            ok(s, V0, ids::SDEI_PE_UNMASK, &[]);
            ok(s, V1, ids::SDEI_PE_UNMASK, &[]);
            s.raise(PRIVATE, Some(V0)).unwrap();
        });
        let s = sdei.clone();
        let vcpu0 = thread::spawn(move || {
            let d = s.take_delivery(V0, &NOW).expect("the private trigger");
            (d.event, d.kicks)
        });
        let raised = sdei.raise(SHARED, None).unwrap();
        let (first, entry_kicks) = vcpu0.join().unwrap();
        // Private before shared at equal priority, whatever came first.
        assert_eq!(first, PRIVATE);
        assert_not_stranded(&sdei, &[raised, entry_kicks]);
        assert_eq!(shared_routing(&sdei).1, Some(1));
        let got = drain(&sdei);
        assert_eq!(got[1], [SHARED]);
        assert_eq!(count(&got, SHARED), 1);
    });
}

/// A raise from the VMM thread against deliveries and completions on the
/// vCPU thread: the trigger is entered exactly once, on the vCPU thread or
/// by the drain, never lost and never twice.
#[test]
fn raise_against_delivery_and_completion_on_the_vcpu_thread() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, SHARED);
            ok(s, V0, ids::SDEI_PE_UNMASK, &[]);
        });
        let s = sdei.clone();
        let vcpu0 = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                if let Some(d) = s.take_delivery(V0, &NOW) {
                    got.push(d.event);
                    complete(&s, V0);
                }
            }
            got
        });
        let raised = sdei.raise(SHARED, None).unwrap();
        let mut got = vcpu0.join().unwrap();
        assert_not_stranded(&sdei, &[raised]);
        got.extend(drain(&sdei)[0].iter().copied());
        assert_eq!(got, [SHARED]);
    });
}

/// The hint `has_pending` reads against `take_delivery` clearing it: a
/// trigger that lands while the vCPU thread is asking is never lost (the
/// hint stays set for the next resume) and never entered twice.
#[test]
fn has_pending_against_take_delivery() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, PRIVATE);
            ok(s, V0, ids::SDEI_PE_UNMASK, &[]);
        });
        let s = sdei.clone();
        let vcpu0 = thread::spawn(move || {
            // One resume: ask, take if told.
            if s.has_pending(V0) {
                s.take_delivery(V0, &NOW).map(|d| d.event)
            } else {
                None
            }
        });
        let kicks = sdei.raise(PRIVATE, Some(V0)).unwrap();
        let first = vcpu0.join().unwrap();
        if first.is_none() {
            // Not taken on that resume: the next one must be told.
            assert!(
                sdei.has_pending(V0),
                "trigger pending but the hint was lost"
            );
            assert!(kicks.contains(V0), "trigger pending but no kick");
        }
        let got = drain(&sdei);
        let total = first.iter().count() + count(&got, PRIVATE);
        assert_eq!(total, 1, "entered {total} times");
    });
}

/// Two vCPUs signalling each other with event 0 while each takes and
/// completes what reaches it: both signals are accepted and each is
/// entered exactly once, on its target; no deadlock.
#[test]
fn two_vcpus_signalling_each_other() {
    check(|| {
        let sdei = server(|s| {
            for v in [V0, V1] {
                ready(s, v, 0);
                ok(s, v, ids::SDEI_PE_UNMASK, &[]);
            }
        });
        let spawn = |me: VcpuIndex, other: u32| {
            let s = sdei.clone();
            thread::spawn(move || {
                let k = ok(
                    &s,
                    me,
                    ids::SDEI_EVENT_SIGNAL,
                    &[0, Mpidr::kvm_default(other).0],
                );
                assert!(k.contains(VcpuIndex(other)), "signal must kick its target");
                let mut got = Vec::new();
                if let Some(d) = s.take_delivery(me, &NOW) {
                    got.push(d.event);
                    complete(&s, me);
                }
                got
            })
        };
        let a = spawn(V0, 1);
        let b = spawn(V1, 0);
        let mut got0 = a.join().unwrap();
        let mut got1 = b.join().unwrap();
        let rest = drain(&sdei);
        got0.extend(&rest[0]);
        got1.extend(&rest[1]);
        assert_eq!((got0, got1), (vec![0], vec![0]));
    });
}

/// A shared critical trigger raised while vCPU 0 enters a normal handler
/// and vCPU 1 masks itself: a critical event may preempt a normal handler,
/// so it must end up on vCPU 0 (nested), never waiting for nobody.
#[test]
fn critical_trigger_against_handler_entry_and_pe_mask() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, PRIVATE);
            ready(s, V0, SHARED_CRITICAL);
            ok(s, V0, ids::SDEI_PE_UNMASK, &[]);
            ok(s, V1, ids::SDEI_PE_UNMASK, &[]);
            s.raise(PRIVATE, Some(V0)).unwrap();
        });
        let s0 = sdei.clone();
        let vcpu0 = thread::spawn(move || {
            let d = s0.take_delivery(V0, &NOW).expect("a trigger");
            (d.event, d.kicks)
        });
        let s1 = sdei.clone();
        let vcpu1 = thread::spawn(move || ok(&s1, V1, ids::SDEI_PE_MASK, &[]));
        let raised = sdei.raise(SHARED_CRITICAL, None).unwrap();
        let (first, k0) = vcpu0.join().unwrap();
        let k1 = vcpu1.join().unwrap();
        assert_event_not_stranded(&sdei, SHARED_CRITICAL, &[raised, k0, k1]);
        // What waits, then the handler vCPU 0's thread entered, then the rest.
        let mut all = drain(&sdei);
        complete(&sdei, V0);
        let rest = drain(&sdei);
        for v in 0..2 {
            all[v].extend(&rest[v]);
        }
        assert!(all[1].is_empty(), "vCPU 1 masked itself");
        all[0].push(first);
        all[0].sort_unstable();
        assert_eq!(all[0], [PRIVATE, SHARED_CRITICAL]);
    });
}

/// Three threads: the VMM raises twice, vCPU 0 masks and unmasks, vCPU 1
/// takes and completes. Two raises of one event may merge while the first
/// is pending (DEN0054 §11: one pending bit per instance), so the event is
/// entered once or twice, and never left pending.
#[test]
fn two_raises_against_mask_unmask_and_delivery() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, SHARED);
            ok(s, V0, ids::SDEI_PE_UNMASK, &[]);
            ok(s, V1, ids::SDEI_PE_UNMASK, &[]);
        });
        let s0 = sdei.clone();
        let vcpu0 = thread::spawn(move || {
            let a = ok(&s0, V0, ids::SDEI_PE_MASK, &[]);
            let b = ok(&s0, V0, ids::SDEI_PE_UNMASK, &[]);
            [a, b]
        });
        let s1 = sdei.clone();
        let vcpu1 = thread::spawn(move || {
            let mut got = Vec::new();
            let mut kicks = Vec::new();
            if let Some(d) = s1.take_delivery(V1, &NOW) {
                got.push(d.event);
                kicks.push(d.kicks);
                kicks.push(complete(&s1, V1));
            }
            (got, kicks)
        });
        let r1 = sdei.raise(SHARED, None).unwrap();
        let r2 = sdei.raise(SHARED, None).unwrap();
        let [a, b] = vcpu0.join().unwrap();
        let (mut got, mut kicks) = vcpu1.join().unwrap();
        kicks.extend([r1, r2, a, b]);
        assert_not_stranded(&sdei, &kicks);
        let rest = drain(&sdei);
        got.extend(rest.iter().flatten());
        assert!(matches!(got.len(), 1 | 2), "entered {} times", got.len());
        assert!(!shared_routing(&sdei).0, "still pending after the drain");
    });
}

/// `CPU_OFF` on vCPU 0 (its own thread) against the VMM routing a shared
/// `RM_ANY` trigger: the trigger ends up on vCPU 1, never on the off vCPU,
/// and is entered exactly once.
#[test]
fn cpu_off_against_routing_of_a_shared_trigger() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, SHARED);
            ok(s, V0, ids::SDEI_PE_UNMASK, &[]);
            ok(s, V1, ids::SDEI_PE_UNMASK, &[]);
        });
        let s = sdei.clone();
        let vcpu0 = thread::spawn(move || {
            let k = s.power_off(V0);
            assert!(
                s.take_delivery(V0, &NOW).is_none(),
                "delivery to a powered-off vCPU"
            );
            k
        });
        let raised = sdei.raise(SHARED, None).unwrap();
        let off = vcpu0.join().unwrap();
        assert_not_stranded(&sdei, &[raised, off]);
        assert_eq!(shared_routing(&sdei).1, Some(1));
        let got = drain(&sdei);
        assert_eq!((got[0].len(), got[1].as_slice()), (0, &[SHARED][..]));
    });
}

/// vCPU 0 runs the shared event's handler and powers off inside it while
/// the VMM raises the event again: the dispatch dies with the PE, and the
/// new trigger (pended while it ran, or routed after) reaches vCPU 1
/// exactly once, whatever the interleaving.
#[test]
fn cpu_off_inside_a_shared_handler_against_a_new_trigger() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, SHARED);
            ok(s, V0, ids::SDEI_PE_UNMASK, &[]);
            s.raise(SHARED, None).unwrap();
            assert_eq!(s.take_delivery(V0, &NOW).unwrap().event, SHARED);
            ok(s, V1, ids::SDEI_PE_UNMASK, &[]);
        });
        let s = sdei.clone();
        let vcpu0 = thread::spawn(move || s.power_off(V0));
        let raised = sdei.raise(SHARED, None).unwrap();
        let off = vcpu0.join().unwrap();
        assert_not_stranded(&sdei, &[raised, off]);
        assert!(sdei.state().vcpus[0].stack.is_empty(), "the dispatch died");
        let got = drain(&sdei);
        assert_eq!((got[0].len(), got[1].as_slice()), (0, &[SHARED][..]));
    });
}

/// vCPU 1 is powered on by `CPU_ON` (another vCPU's thread) and unmasks
/// itself (its thread) while the VMM raises a shared trigger that nobody
/// else can take (vCPU 0 is masked): the trigger waits, then reaches
/// vCPU 1 once it unmasks, and is never lost.
#[test]
fn cpu_on_and_unmask_against_routing_of_a_shared_trigger() {
    check(|| {
        let sdei = server(|s| {
            ready(s, V0, SHARED);
            ok(s, V1, ids::SDEI_PE_UNMASK, &[]);
            s.power_off(V1);
        });
        let s = sdei.clone();
        let vcpu1 = thread::spawn(move || {
            let a = s.power_on(V1);
            let b = ok(&s, V1, ids::SDEI_PE_UNMASK, &[]);
            [a, b]
        });
        let raised = sdei.raise(SHARED, None).unwrap();
        let [a, b] = vcpu1.join().unwrap();
        assert_not_stranded(&sdei, &[raised, a, b]);
        assert_eq!(shared_routing(&sdei).1, Some(1));
        let got = drain(&sdei);
        assert_eq!((got[0].len(), got[1].as_slice()), (0, &[SHARED][..]));
    });
}
