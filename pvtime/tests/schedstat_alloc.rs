//! Reading the run delay on the vCPU's hot path allocates nothing: counted
//! with a counting global allocator (the one `fwcall bench` uses).
#![cfg(target_os = "linux")]

use std::alloc::System;
use std::path::Path;

use fwcall_pvtime::schedstat::{RunDelay, THREAD_SELF};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

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
        let region = Region::new(GLOBAL);
        let mut total = 0u64;
        for _ in 0..1000 {
            total = total.wrapping_add(steal.take_ns().unwrap());
        }
        let stats = region.change();
        assert_eq!(
            (stats.allocations, stats.reallocations),
            (0, 0),
            "{}: {stats:?}",
            path.display()
        );
        std::hint::black_box(total);
    }
    std::fs::remove_file(&own).unwrap();
}
