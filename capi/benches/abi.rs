//! The cost of the C ABI: the same calls through `fwcall` directly and
//! through the exported `extern "C"` functions (as a C VMM makes them:
//! registers in, outcome struct out, every pointer checked, each entry
//! inside `catch_unwind`).
//!
//! `flock /tmp/bench.lock cargo bench -p fwcall-capi --bench abi`

use core::ptr;
use std::hint::black_box;
use std::mem::MaybeUninit;

use fwcall::{Call, Interrupted, NoMemory, VcpuIndex, Vm, VmConfig, ids};
use fwcall_capi::*;

fn main() {
    divan::main();
}

/// A one-vCPU VM built through the C ABI, with event 0 registered,
/// enabled and unmasked on vCPU 0.
struct CVm {
    vm: *mut fwcall_vm,
    v: *const fwcall_vcpu,
}

impl CVm {
    fn new() -> Self {
        // SAFETY: every pointer is a local or a handle made just before.
        unsafe {
            let mut cfg = ptr::null_mut();
            assert_eq!(fwcall_config_new(1, &mut cfg), FWCALL_OK);
            let mut vm = ptr::null_mut();
            assert_eq!(fwcall_vm_new(cfg, ptr::null(), &mut vm), FWCALL_OK);
            fwcall_config_free(cfg);
            let mut v = ptr::null();
            assert_eq!(fwcall_vm_vcpu(vm, 0, &mut v), FWCALL_OK);
            let c = CVm { vm, v };
            c.call(&[ids::SDEI_EVENT_REGISTER.raw() as u64, 0, 0x8000, 0, 0, 0]);
            c.call(&[ids::SDEI_EVENT_ENABLE.raw() as u64, 0]);
            c.call(&[ids::SDEI_PE_UNMASK.raw() as u64]);
            c
        }
    }

    #[inline(always)]
    fn call(&self, regs: &[u64]) -> fwcall_outcome {
        let mut x = [0u64; 18];
        x[..regs.len()].copy_from_slice(regs);
        let mut out = MaybeUninit::<fwcall_outcome>::uninit();
        // SAFETY: a live handle, 18 registers, a writable outcome.
        let rc = unsafe {
            fwcall_vcpu_handle(
                black_box(self.v),
                x.as_ptr(),
                FWCALL_CONDUIT_HVC,
                out.as_mut_ptr(),
            )
        };
        assert_eq!(rc, FWCALL_OK);
        // SAFETY: written by the successful call.
        unsafe { out.assume_init() }
    }
}

impl Drop for CVm {
    fn drop(&mut self) {
        // SAFETY: made in new(), freed once.
        unsafe { fwcall_vm_free(self.vm) };
    }
}

fn rust_vm() -> Vm<NoMemory> {
    let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    let v = vm.vcpu(VcpuIndex(0)).unwrap();
    v.handle(&Call::new(ids::SDEI_EVENT_REGISTER, &[0, 0x8000, 0, 0, 0]));
    v.handle(&Call::new(ids::SDEI_EVENT_ENABLE, &[0]));
    v.handle(&Call::new(ids::SDEI_PE_UNMASK, &[]));
    vm
}

/// A fast call (`SDEI_VERSION`) through fwcall's Rust API.
#[divan::bench(sample_count = 200, sample_size = 512)]
fn fast_call_rust(b: divan::Bencher) {
    let vm = rust_vm();
    let v = vm.vcpu(VcpuIndex(0)).unwrap();
    let call = Call::new(ids::SDEI_VERSION, &[]);
    b.bench_local(|| black_box(v.handle(black_box(&call))));
}

/// The same call through `fwcall_vcpu_handle`, as a C exit handler makes
/// it: registers in the VMM's array, the outcome in a struct it reuses.
#[divan::bench(sample_count = 200, sample_size = 512)]
fn fast_call_c(b: divan::Bencher) {
    let c = CVm::new();
    let mut x = [0u64; 18];
    x[0] = ids::SDEI_VERSION.raw() as u64;
    let mut out = MaybeUninit::<fwcall_outcome>::uninit();
    b.bench_local(|| {
        // SAFETY: a live handle, 18 registers, a writable outcome.
        let rc = unsafe {
            fwcall_vcpu_handle(
                black_box(c.v),
                black_box(x.as_ptr()),
                FWCALL_CONDUIT_HVC,
                out.as_mut_ptr(),
            )
        };
        black_box((rc, &mut out));
    });
}

/// An SDEI cycle through the Rust API: `EVENT_SIGNAL` to itself, the
/// pending check, the delivery, one `EVENT_CONTEXT`, `COMPLETE`.
#[divan::bench(sample_count = 200, sample_size = 512)]
fn sdei_cycle_rust(b: divan::Bencher) {
    let vm = rust_vm();
    let v = vm.vcpu(VcpuIndex(0)).unwrap();
    let signal = Call::new(ids::SDEI_EVENT_SIGNAL, &[0, 0]);
    let context = Call::new(ids::SDEI_EVENT_CONTEXT, &[1]);
    let complete = Call::new(ids::SDEI_EVENT_COMPLETE, &[0]);
    let now = Interrupted {
        x: [0; 18],
        pc: 0x1000,
        pstate: 0x3c5,
        sctlr_el1: 0,
    };
    b.bench_local(|| {
        black_box(v.handle(&signal));
        assert!(v.has_pending_delivery());
        black_box(v.take_delivery(&now).unwrap());
        black_box(v.handle(&context));
        black_box(v.handle(&complete));
    });
}

/// The same cycle through the C ABI, each call's registers in an array
/// and one outcome struct reused, as a C VMM holds them.
#[divan::bench(sample_count = 200, sample_size = 512)]
fn sdei_cycle_c(b: divan::Bencher) {
    let c = CVm::new();
    let regs = |r: &[u64]| {
        let mut x = [0u64; 18];
        x[..r.len()].copy_from_slice(r);
        x
    };
    let signal = regs(&[ids::SDEI_EVENT_SIGNAL.raw() as u64, 0, 0]);
    let context = regs(&[ids::SDEI_EVENT_CONTEXT.raw() as u64, 1]);
    let complete = regs(&[ids::SDEI_EVENT_COMPLETE.raw() as u64, 0]);
    let now = fwcall_interrupted {
        pc: 0x1000,
        pstate: 0x3c5,
        ..Default::default()
    };
    let mut out = MaybeUninit::<fwcall_outcome>::uninit();
    let mut d = MaybeUninit::<fwcall_delivery>::uninit();
    let v = c.v;
    b.bench_local(|| {
        // SAFETY: a live handle, 18 registers per call, writable outputs.
        unsafe {
            let h = FWCALL_CONDUIT_HVC;
            assert_eq!(
                fwcall_vcpu_handle(v, signal.as_ptr(), h, out.as_mut_ptr()),
                FWCALL_OK
            );
            assert_eq!(fwcall_vcpu_has_pending(v), 1);
            assert_eq!(fwcall_vcpu_take_delivery(v, &now, d.as_mut_ptr()), 1);
            assert_eq!(
                fwcall_vcpu_handle(v, context.as_ptr(), h, out.as_mut_ptr()),
                FWCALL_OK
            );
            assert_eq!(
                fwcall_vcpu_handle(v, complete.as_ptr(), h, out.as_mut_ptr()),
                FWCALL_OK
            );
        }
        black_box((&mut out, &mut d));
    });
}
