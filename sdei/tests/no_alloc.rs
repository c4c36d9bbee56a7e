//! The hot paths never touch the heap: counted with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fwcall_sdei::{EventDecl, EventKind, Interrupted, Priority, Sdei, SdeiConfig};
use fwcall_smccc::{Call, Mpidr, VcpuIndex, ids};

struct Counting;

// Per thread: the test harness's own threads allocate whenever the scheduler
// lets them (its main thread starts waiting for the test after the test has
// begun), and those are not the server's. A const-initialised thread local
// needs no allocation itself; realloc and alloc_zeroed go through alloc.
thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn allocs_here() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn mask_unmask_signal_delivery_context_complete_and_nesting_do_not_allocate() {
    let decl = |number, priority| EventDecl {
        number,
        kind: EventKind::Private,
        priority,
    };
    let config = SdeiConfig {
        events: vec![decl(0x10, Priority::Normal), decl(0x11, Priority::Critical)],
        ..SdeiConfig::default()
    };
    let mpidrs: Vec<Mpidr> = (0..2).map(Mpidr::kvm_default).collect();
    let sdei = Sdei::new(&config, &mpidrs).unwrap();
    let v0 = VcpuIndex(0);
    let calls: Vec<Call> = [
        (ids::SDEI_EVENT_REGISTER, vec![0, 0x1000, 0, 0, 0]),
        (ids::SDEI_EVENT_ENABLE, vec![0]),
        (ids::SDEI_EVENT_REGISTER, vec![0x10, 0x1000, 0, 0, 0]),
        (ids::SDEI_EVENT_ENABLE, vec![0x10]),
        (ids::SDEI_EVENT_REGISTER, vec![0x11, 0x2000, 0, 0, 0]),
        (ids::SDEI_EVENT_ENABLE, vec![0x11]),
    ]
    .into_iter()
    .map(|(f, a)| Call::new(f, &a))
    .collect();
    for c in &calls {
        sdei.call(v0, c);
    }
    let mask = Call::new(ids::SDEI_PE_MASK, &[]);
    let unmask = Call::new(ids::SDEI_PE_UNMASK, &[]);
    let signal = Call::new(ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0000]);
    let context = Call::new(ids::SDEI_EVENT_CONTEXT, &[3]);
    let complete = Call::new(ids::SDEI_EVENT_COMPLETE, &[0]);
    let now = Interrupted::default();

    let before = allocs_here();
    for _ in 0..100 {
        sdei.call(v0, &mask);
        sdei.call(v0, &unmask);
        sdei.call(v0, &signal);
        assert!(sdei.take_delivery(v0, &now).is_some());
        for _ in 0..4 {
            sdei.call(v0, &context);
        }
        sdei.call(v0, &complete);
        sdei.raise(0x10, Some(v0)).unwrap();
        assert!(sdei.take_delivery(v0, &now).is_some());
        sdei.raise(0x11, Some(v0)).unwrap();
        assert!(sdei.take_delivery(v0, &now).is_some());
        sdei.call(v0, &complete);
        sdei.call(v0, &complete);
    }
    assert_eq!(allocs_here() - before, 0);
}
