//! The call path through the C ABI allocates nothing: `fwcall_vcpu_handle`,
//! `fwcall_vcpu_has_pending`, `fwcall_vcpu_take_delivery`,
//! `fwcall_vcpu_account_steal` and `fwcall_vm_raise` are counted by a
//! global allocator that records every allocation on this thread.

use core::ptr;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::mem::MaybeUninit;

use fwcall_capi::*;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; the count is a
// thread-local cell, which does not allocate once initialised (const).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(p, layout) }
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(p, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// A region of 64-bit words the memory callbacks write into.
struct Words([u64; 16]);
const BASE: u64 = 0x0a10_0000;

unsafe extern "C" fn write_u64(ctx: *mut core::ffi::c_void, gpa: u64, value: u64) -> i32 {
    // SAFETY: ctx is the Words this test lent, used from this thread only.
    let w = unsafe { &mut *ctx.cast::<Words>() };
    match w.0.get_mut(((gpa - BASE) / 8) as usize) {
        Some(slot) => {
            *slot = value;
            0
        }
        None => -1,
    }
}

unsafe extern "C" fn write_bytes(_: *mut core::ffi::c_void, _: u64, _: *const u8, _: usize) -> i32 {
    0 // the record's header: accepted, not checked here
}

#[test]
fn the_call_path_does_not_allocate() {
    let mut words = Words([0; 16]);
    let mem = fwcall_memory {
        ctx: (&mut words as *mut Words).cast(),
        write_u64: Some(write_u64),
        write_bytes: Some(write_bytes),
        read_bytes: None,
    };
    // Setup allocates (configuration, VM; the counter sees it); the call
    // path must not.
    let setup = allocations();
    let (vm, v) = unsafe {
        let mut cfg = ptr::null_mut();
        assert_eq!(fwcall_config_new(2, &mut cfg), FWCALL_OK);
        assert_eq!(fwcall_config_add_reserved(cfg, BASE, 0x1_0000), FWCALL_OK);
        assert_eq!(fwcall_config_place_stolen_time(cfg, BASE), FWCALL_OK);
        assert_eq!(
            fwcall_config_add_sdei_event(cfg, 0x200, FWCALL_EVENT_PRIVATE, FWCALL_PRIORITY_NORMAL),
            FWCALL_OK
        );
        let mut vm = ptr::null_mut();
        assert_eq!(fwcall_vm_new(cfg, &mem, &mut vm), FWCALL_OK);
        fwcall_config_free(cfg);
        let mut v = ptr::null();
        assert_eq!(fwcall_vm_vcpu(vm, 0, &mut v), FWCALL_OK);
        (vm, v)
    };
    let call = |regs: &[u64]| {
        let mut x = [0u64; 18];
        x[..regs.len()].copy_from_slice(regs);
        let mut out = MaybeUninit::<fwcall_outcome>::uninit();
        // SAFETY: a live handle, 18 registers, a writable outcome.
        let rc = unsafe { fwcall_vcpu_handle(v, x.as_ptr(), FWCALL_CONDUIT_HVC, out.as_mut_ptr()) };
        assert_eq!(rc, FWCALL_OK);
        // SAFETY: written by the successful call.
        unsafe { out.assume_init() }
    };
    let before = allocations();
    assert!(before > setup, "the counting allocator saw no allocation");
    for round in 0..100u64 {
        assert_eq!(call(&[0xC400_0020]).x[0] >> 48, 1); // SDEI_VERSION
        if round == 0 {
            assert_eq!(call(&[0xC500_0021]).x[0], BASE); // PV_TIME_ST
            call(&[0xC400_0021, 0x200, 0x8000, 1, 0, 0]); // EVENT_REGISTER
            call(&[0xC400_0022, 0x200]); // EVENT_ENABLE
            call(&[0xC400_002C]); // PE_UNMASK
        }
        let mut kicks = fwcall_kicks::default();
        let mut total = 0;
        let mut d = MaybeUninit::<fwcall_delivery>::uninit();
        let now = fwcall_interrupted {
            pc: 0x1000 + round,
            pstate: 0x3c5,
            ..Default::default()
        };
        // SAFETY: live handles and writable outputs.
        unsafe {
            assert_eq!(fwcall_vm_raise(vm, 0x200, 0, &mut kicks), FWCALL_OK);
            assert_eq!(fwcall_vcpu_has_pending(v), 1);
            assert_eq!(fwcall_vcpu_take_delivery(v, &now, d.as_mut_ptr()), 1);
            assert_eq!(fwcall_vcpu_account_steal(v, 10, &mut total), FWCALL_OK);
        }
        assert_eq!(total, 10 * (round + 1));
        let done = call(&[0xC400_0025, 0]); // EVENT_COMPLETE
        assert_eq!(
            (done.reply, done.pc),
            (FWCALL_REPLY_RESTORE, 0x1000 + round)
        );
    }
    assert_eq!(allocations() - before, 0, "the call path allocated");
    assert_eq!(words.0[1], 1000); // vCPU 0's stolen_time, through write_u64
    // SAFETY: made above, freed once.
    unsafe { fwcall_vm_free(vm) };
}
