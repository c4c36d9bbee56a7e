//! vCPU threads hammering the hot calls while another thread raises.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::vec::Vec;

use fwcall_smccc::{Call, Mpidr, Reply, VcpuIndex, ids};

use super::sim::*;
use crate::{Interrupted, Sdei};

/// One vCPU thread: register event 0 and the private platform event,
/// then loop `PE_MASK`/`PE_UNMASK`, signal the other vCPU, and handle whatever
/// gets delivered (CONTEXT + COMPLETE).
fn vcpu_thread(sdei: Arc<Sdei>, v: u32, stop: Arc<AtomicBool>, handled: Arc<AtomicU64>) {
    let me = VcpuIndex(v);
    let call = |fid, args: &[u64]| sdei.call(me, &Call::new(fid, args));
    for ev in [0u64, EV_PRIV_NORMAL as u64] {
        assert_eq!(
            call(ids::SDEI_EVENT_REGISTER, &[ev, ENTRY, ev, 0, 0]).reply,
            Reply::x0(0)
        );
        assert_eq!(call(ids::SDEI_EVENT_ENABLE, &[ev]).reply, Reply::x0(0));
    }
    let other = Mpidr::kvm_default(1 - v).0;
    let mut now = Interrupted {
        pc: 0x1000,
        pstate: 0x5,
        sctlr_el1: SPAN,
        ..Default::default()
    };
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) || i < 2000 {
        i += 1;
        call(ids::SDEI_PE_UNMASK, &[]);
        if i.is_multiple_of(3) {
            call(ids::SDEI_EVENT_SIGNAL, &[0, other]);
        }
        while let Some(d) = sdei.take_delivery(me, &now) {
            assert!(d.pstate & 0x3c0 == 0x3c0);
            for r in 0..4 {
                let Reply::Return { .. } = call(ids::SDEI_EVENT_CONTEXT, &[r]).reply else {
                    panic!("CONTEXT failed while a handler runs")
                };
            }
            let out = call(ids::SDEI_EVENT_COMPLETE, &[0]);
            let Reply::Restore(ctx) = out.reply else {
                panic!("COMPLETE failed: {:?}", out.reply)
            };
            assert_eq!(ctx.pc, now.pc);
            handled.fetch_add(1, Ordering::Relaxed);
        }
        call(ids::SDEI_PE_MASK, &[]);
        now.pc += 4;
    }
    // Drain: unmask and take everything still routed here.
    call(ids::SDEI_PE_UNMASK, &[]);
    while let Some(_d) = sdei.take_delivery(me, &now) {
        call(ids::SDEI_EVENT_COMPLETE, &[0]);
        handled.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn two_vcpu_threads_mask_unmask_and_signal_while_a_third_raises() {
    let mpidrs = [Mpidr::kvm_default(0), Mpidr::kvm_default(1)];
    let sdei = Arc::new(Sdei::new(&test_config(), &mpidrs).unwrap());
    // The shared event is registered up front (RM_ANY).
    let c = Call::new(
        ids::SDEI_EVENT_REGISTER,
        &[EV_SHARED_NORMAL as u64, ENTRY, 0, 0, 0],
    );
    assert_eq!(sdei.call(VcpuIndex(0), &c).reply, Reply::x0(0));
    let c = Call::new(ids::SDEI_EVENT_ENABLE, &[EV_SHARED_NORMAL as u64]);
    assert_eq!(sdei.call(VcpuIndex(0), &c).reply, Reply::x0(0));

    let stop = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..2)
        .map(|v| {
            let (s, st, h) = (sdei.clone(), stop.clone(), handled.clone());
            thread::spawn(move || vcpu_thread(s, v, st, h))
        })
        .collect();
    for i in 0..3000u32 {
        sdei.raise(EV_SHARED_NORMAL, None).unwrap();
        sdei.raise(EV_PRIV_NORMAL, Some(VcpuIndex(i % 2))).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(handled.load(Ordering::Relaxed) > 0);
    // Both vCPUs ended unmasked: whatever is left is deliverable at once.
    let now = Interrupted::default();
    for v in [VcpuIndex(0), VcpuIndex(1), VcpuIndex(0)] {
        while sdei.take_delivery(v, &now).is_some() {
            let out = sdei.call(v, &Call::new(ids::SDEI_EVENT_COMPLETE, &[0]));
            assert!(matches!(out.reply, Reply::Restore(_)));
        }
    }
    // Nothing is left running, and the state is coherent.
    let st = sdei.state();
    assert!(st.vcpus.iter().all(|v| v.stack.is_empty()));
    let shared = st
        .shared
        .iter()
        .find(|e| e.event == EV_SHARED_NORMAL)
        .unwrap();
    assert_eq!(shared.status, 3);
    assert!(
        !shared.pending,
        "a shared trigger was lost on an unmasked idle VM"
    );
    Sdei::restore(&test_config(), &mpidrs, &st).unwrap();
}
