//! Reading the run delay on the vCPU's hot path allocates nothing: counted
//! with a counting global allocator.
#![cfg(target_os = "linux")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use fwcall_pvtime::schedstat::{RunDelay, THREAD_SELF};

struct Counting;

// Per thread: the harness's main thread allocates when it starts waiting for
// the test, which may fall inside the measured loop on a loaded machine. A
// const-initialised thread local needs no allocation; realloc and
// alloc_zeroed go through alloc.
thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
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
static GLOBAL: Counting = Counting;

#[test]
fn take_ns_makes_no_allocation() {
    // A file of our own (always there) and the real one when /proc has it.
    let own = std::env::temp_dir().join(format!("fwcall-schedstat-alloc-{}", std::process::id()));
    std::fs::write(&own, "5 77 1\n").unwrap();
    let mut paths = vec![own.clone()];
    if Path::new(THREAD_SELF).exists() {
        paths.push(THREAD_SELF.into());
    }
    for path in paths {
        let mut steal = RunDelay::open_path(&path).unwrap();
        steal.take_ns().unwrap();
        let before = ALLOCS.with(Cell::get);
        let mut total = 0u64;
        for _ in 0..1000 {
            total = total.wrapping_add(steal.take_ns().unwrap());
        }
        let allocations = ALLOCS.with(Cell::get) - before;
        assert_eq!(allocations, 0, "{}", path.display());
        std::hint::black_box(total);
    }
    std::fs::remove_file(&own).unwrap();
}
