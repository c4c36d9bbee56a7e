//! The VM, its vCPU handles and the guest memory the VMM lends them.

use core::ffi::c_void;

use fwcall::snapshot::SnapshotError;
use fwcall::{
    Call, Conduit, FeatureError, FeatureRegister, Gpa, GuestMemoryAccess, Interrupted, MemoryError,
    PowerState, RaiseError, RestoreError, VcpuIndex, Vm,
};

use crate::config::fwcall_config;
use crate::types::{
    FWCALL_CONDUIT_HVC, FWCALL_CONDUIT_SMC, FWCALL_NO_VCPU, fwcall_delivery, fwcall_interrupted,
    fwcall_kicks, fwcall_outcome,
};
use crate::{
    FWCALL_E_BUFFER_TOO_SMALL, FWCALL_E_CONFIG, FWCALL_E_FEATURES, FWCALL_E_INCOMPATIBLE,
    FWCALL_E_INTERNAL, FWCALL_E_INVALID_ARGUMENT, FWCALL_E_MEMORY, FWCALL_E_NO_SUCH_VCPU,
    FWCALL_E_NULL, FWCALL_E_SDEI_OFF, FWCALL_E_SNAPSHOT_FORMAT, FWCALL_E_SNAPSHOT_STATE,
    FWCALL_E_UNKNOWN_EVENT, FWCALL_E_VCPU_REQUIRED, FWCALL_OK, fail, guard, guard_void, input,
    output, put,
};

/// Guest memory as the VMM lends it: three functions and the context
/// pointer they get back. Each returns 0 on success and anything else on
/// failure (fwcall then reports the access as refused). A `NULL` function
/// fails every access of its kind.
///
/// fwcall writes only the PV-time structures the configuration placed
/// (stolen-time records, the LPT structure), and reads them back only to
/// check them. Calls come from the thread that makes the fwcall call that
/// needs them: `write_u64` from a vCPU thread accounting its own stolen
/// time, the others from `fwcall_vm_start`, `PV_TIME_ST` and restores; so
/// the functions must be callable from any thread at once. They must not
/// unwind (no C++ exception, no `longjmp` out of them) and must not call
/// back into fwcall for the same vCPU.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fwcall_memory {
    /// Passed back as the first argument of each function.
    pub ctx: *mut c_void,
    /// Stores `value` little-endian at guest physical address `gpa` as one
    /// single-copy-atomic 64-bit store (`gpa` is 8-byte aligned).
    pub write_u64: Option<unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, value: u64) -> i32>,
    /// Copies `len` bytes from `data` to guest memory at `gpa`.
    pub write_bytes: Option<
        unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, data: *const u8, len: usize) -> i32,
    >,
    /// Fills `buf` with `len` bytes of guest memory at `gpa`.
    pub read_bytes:
        Option<unsafe extern "C" fn(ctx: *mut c_void, gpa: u64, buf: *mut u8, len: usize) -> i32>,
}

/// The VMM's callbacks behind fwcall's memory trait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CMemory(Option<fwcall_memory>);

// SAFETY: fwcall_vm_new's contract makes the VMM promise that the
// callbacks and their context may be used from any thread at once; the
// struct itself is three function pointers and a pointer fwcall never
// dereferences.
unsafe impl Send for CMemory {}
// SAFETY: as for Send: shared use is what the contract allows.
unsafe impl Sync for CMemory {}

const REFUSED: &str = "the VMM's memory callback returned an error";

fn refused(addr: Gpa, len: usize) -> MemoryError {
    MemoryError::Refused {
        addr,
        len: len as u64,
        reason: REFUSED,
    }
}

impl GuestMemoryAccess for CMemory {
    #[inline]
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
        match self.0 {
            Some(fwcall_memory {
                ctx,
                write_u64: Some(f),
                ..
            }) => {
                // SAFETY: a function the VMM gave for exactly this use,
                // called with its own context; it takes no pointer of ours.
                if unsafe { f(ctx, addr.0, value) } == 0 {
                    Ok(())
                } else {
                    Err(refused(addr, 8))
                }
            }
            _ => Err(MemoryError::OutOfRange { addr, len: 8 }),
        }
    }

    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        match self.0 {
            Some(fwcall_memory {
                ctx,
                write_bytes: Some(f),
                ..
            }) => {
                // SAFETY: `data` is valid for reads of `data.len()` bytes
                // for the whole call; the VMM's function only reads it.
                if unsafe { f(ctx, addr.0, data.as_ptr(), data.len()) } == 0 {
                    Ok(())
                } else {
                    Err(refused(addr, data.len()))
                }
            }
            _ => Err(MemoryError::OutOfRange {
                addr,
                len: data.len() as u64,
            }),
        }
    }

    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
        match self.0 {
            Some(fwcall_memory {
                ctx,
                read_bytes: Some(f),
                ..
            }) => {
                // SAFETY: `buf` is valid for writes of `buf.len()` bytes
                // for the whole call and nothing else aliases it.
                if unsafe { f(ctx, addr.0, buf.as_mut_ptr(), buf.len()) } == 0 {
                    Ok(())
                } else {
                    Err(refused(addr, buf.len()))
                }
            }
            _ => Err(MemoryError::OutOfRange {
                addr,
                len: buf.len() as u64,
            }),
        }
    }
}

/// A VM (opaque): made by `fwcall_vm_new` or `fwcall_vm_restore`,
/// freed by `fwcall_vm_free`.
pub struct fwcall_vm {
    vm: Vm<CMemory>,
    /// One handle per vCPU, pointing back at `vm` (the box never moves).
    vcpus: Box<[fwcall_vcpu]>,
}

impl core::fmt::Debug for fwcall_vm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.vm.fmt(f)
    }
}

/// One vCPU of a VM (opaque): from `fwcall_vm_vcpu`, valid until the VM
/// is freed; never freed by itself.
#[derive(Debug)]
pub struct fwcall_vcpu {
    vm: *const Vm<CMemory>,
    index: u32,
}

impl fwcall_vcpu {
    /// The fwcall handle.
    #[inline(always)]
    fn get(&self) -> Result<fwcall::Vcpu<'_, CMemory>, i32> {
        // SAFETY: `vm` points into the fwcall_vm that owns this handle,
        // which outlives it (fwcall_vm_vcpu's contract).
        let vm = unsafe { &*self.vm };
        vm.vcpu(VcpuIndex(self.index))
            .map_err(|_| FWCALL_E_NO_SUCH_VCPU)
    }
}

fn boxed(vm: Vm<CMemory>) -> *mut fwcall_vm {
    let raw = Box::into_raw(Box::new(fwcall_vm {
        vm,
        vcpus: Box::new([]),
    }));
    // SAFETY: `raw` is a fresh, valid, unaliased allocation; the handles
    // point at its `vm` field through the raw pointer, so no later move of
    // a `Box` invalidates them (the allocation stays put until
    // fwcall_vm_free).
    unsafe {
        let at: *const Vm<CMemory> = &raw const (*raw).vm;
        let n = (*raw).vm.vcpu_count() as u32;
        (*raw).vcpus = (0..n).map(|index| fwcall_vcpu { vm: at, index }).collect();
    }
    raw
}

/// The memory argument of construction: `NULL` lends none.
///
/// # Safety
///
/// `mem` is `NULL` or valid for reads of a `fwcall_memory`.
unsafe fn memory(mem: *const fwcall_memory) -> CMemory {
    // SAFETY: forwarded from the caller's contract.
    CMemory(unsafe { mem.as_ref() }.copied())
}

fn restore_code(e: &RestoreError) -> i32 {
    match e {
        RestoreError::Format(_) => FWCALL_E_SNAPSHOT_FORMAT,
        RestoreError::Incompatible(_) => FWCALL_E_INCOMPATIBLE,
        RestoreError::Destination(_) => FWCALL_E_CONFIG,
        _ => FWCALL_E_SNAPSHOT_STATE,
    }
}

/// Makes a VM from `config` (copied; free it when you like) and the guest
/// memory `mem` (copied; `NULL` lends no memory, enough without PV time),
/// and writes it to `*out`. Call `fwcall_vm_start` before any vCPU runs.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_CONFIG` (details:
/// `fwcall_last_error`).
///
/// Thread safety: any thread. The callbacks in `mem` will be called from
/// any thread at once (see `fwcall_memory`).
///
/// # Safety
///
/// `config` is `NULL` or a live configuration no other thread writes;
/// `mem` is `NULL` or valid for reads, and its functions stay callable
/// with its `ctx` until the VM is freed; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_new(
    config: *const fwcall_config,
    mem: *const fwcall_memory,
    out: *mut *mut fwcall_vm,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { input(config) }?;
        let out = output(out)?;
        // SAFETY: forwarded from this function's contract.
        let mem = unsafe { memory(mem) };
        let vm = Vm::new(c.c.clone(), mem).map_err(|e| fail(FWCALL_E_CONFIG, e))?;
        // SAFETY: `out` is non-null and the caller made it writable.
        unsafe { put(out, boxed(vm)) };
        Ok(FWCALL_OK)
    })
}

/// Makes a VM from the destination's `config` and `mem` and loads the
/// snapshot `blob[0..len]` into it, then writes it to `*out`. Everything
/// is checked first: a refused restore makes nothing. Afterwards call
/// `fwcall_vm_start` before any vCPU runs.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_CONFIG` (the destination
/// configuration itself), `FWCALL_E_SNAPSHOT_FORMAT` (not a valid
/// snapshot: truncated, corrupted), `FWCALL_E_INCOMPATIBLE` (the
/// destination cannot serve the snapshot's guest ABI),
/// `FWCALL_E_SNAPSHOT_STATE`; `fwcall_last_error` names the
/// reason.
///
/// Thread safety: any thread.
///
/// # Safety
///
/// As `fwcall_vm_new`, and `blob` is valid for reads of `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_restore(
    config: *const fwcall_config,
    mem: *const fwcall_memory,
    blob: *const u8,
    len: usize,
    out: *mut *mut fwcall_vm,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { input(config) }?;
        let out = output(out)?;
        if blob.is_null() {
            return Err(FWCALL_E_NULL);
        }
        // SAFETY: non-null, and the caller gives `len` readable bytes.
        let blob = unsafe { core::slice::from_raw_parts(blob, len) };
        // SAFETY: forwarded from this function's contract.
        let mem = unsafe { memory(mem) };
        let vm = Vm::restore(c.c.clone(), mem, blob).map_err(|e| fail(restore_code(&e), e))?;
        // SAFETY: `out` is non-null and the caller made it writable.
        unsafe { put(out, boxed(vm)) };
        Ok(FWCALL_OK)
    })
}

/// Frees a VM and its vCPU handles. `NULL` is ignored.
///
/// Thread safety: no other call on this VM or its vCPUs may run or follow.
///
/// # Safety
///
/// `vm` is `NULL` or from `fwcall_vm_new`/`fwcall_vm_restore`, not
/// freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_free(vm: *mut fwcall_vm) {
    guard_void(|| {
        if !vm.is_null() {
            // SAFETY: a pointer from Box::into_raw in `boxed`, handed back
            // exactly once.
            drop(unsafe { Box::from_raw(vm) });
        }
    })
}

/// Prepares guest-visible state before any vCPU runs: rewrites the
/// stolen-time records the guest enabled and publishes the LPT structure
/// (each only when the feature words switch it on). Call it once after
/// `fwcall_vm_new` and once after `fwcall_vm_restore`, after writing
/// the feature words.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_MEMORY`.
///
/// Thread safety: any thread, with no vCPU running.
///
/// # Safety
///
/// `vm` is `NULL` or a live VM.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_start(vm: *const fwcall_vm) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { input(vm) }?;
        vm.vm.start().map_err(|e| fail(FWCALL_E_MEMORY, e))?;
        Ok(FWCALL_OK)
    })
}

/// Writes the number of vCPUs to `*out`.
///
/// Errors: `FWCALL_E_NULL`. Thread safety: any thread, any time.
///
/// # Safety
///
/// `vm` is `NULL` or a live VM; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_vcpu_count(vm: *const fwcall_vm, out: *mut u32) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { input(vm) }?;
        let out = output(out)?;
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(out, vm.vcpus.len() as u32) };
        Ok(FWCALL_OK)
    })
}

/// Writes the handle of vCPU `index` to `*out`. The handle lives as long
/// as the VM; asking again returns the same pointer.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_NO_SUCH_VCPU`.
///
/// Thread safety: any thread, any time.
///
/// # Safety
///
/// `vm` is `NULL` or a live VM; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_vcpu(
    vm: *const fwcall_vm,
    index: u32,
    out: *mut *const fwcall_vcpu,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { input(vm) }?;
        let out = output(out)?;
        let v = vm.vcpus.get(index as usize).ok_or(FWCALL_E_NO_SUCH_VCPU)?;
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(out, v as *const fwcall_vcpu) };
        Ok(FWCALL_OK)
    })
}

/// Raises platform SDEI event `event` (declared with
/// `fwcall_config_add_sdei_event`); `vcpu` names the target of a
/// private event (`FWCALL_NO_VCPU` for a shared one, whose routing
/// decides). Writes the vCPUs to kick to `*kicks`. A trigger for an
/// unregistered event is dropped (success, no kicks); one for a disabled,
/// masked or busy target stays pending.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_SDEI_OFF`, `FWCALL_E_UNKNOWN_EVENT`,
/// `FWCALL_E_VCPU_REQUIRED`, `FWCALL_E_NO_SUCH_VCPU`.
///
/// Thread safety: any thread, any time, concurrently with vCPU threads
/// (it is made for the VMM's device or RAS thread). No allocation.
///
/// # Safety
///
/// `vm` is `NULL` or a live VM; `kicks` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_raise(
    vm: *const fwcall_vm,
    event: u32,
    vcpu: u32,
    kicks: *mut fwcall_kicks,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { input(vm) }?;
        let kicks = output(kicks)?;
        let target = (vcpu != FWCALL_NO_VCPU).then_some(VcpuIndex(vcpu));
        let k = vm.vm.raise(event, target).map_err(|e| match e {
            RaiseError::SdeiOff => FWCALL_E_SDEI_OFF,
            RaiseError::Sdei(e) => match e {
                fwcall::sdei::RaiseError::UnknownEvent(_)
                | fwcall::sdei::RaiseError::NotRaisable(_) => FWCALL_E_UNKNOWN_EVENT,
                fwcall::sdei::RaiseError::VcpuRequired(_) => FWCALL_E_VCPU_REQUIRED,
                fwcall::sdei::RaiseError::NoSuchVcpu(_) => FWCALL_E_NO_SUCH_VCPU,
            },
        })?;
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(kicks, fwcall_kicks::from(&k)) };
        Ok(FWCALL_OK)
    })
}

/// `STD` feature word (bit 0 SDEI, bit 1 PSCI, bit 2 TRNG).
pub const FWCALL_FEATURES_STD: u32 = 0;
/// `STD_HYP` feature word (bit 0 PV time, bit 1 LPT).
pub const FWCALL_FEATURES_STD_HYP: u32 = 1;
/// `VENDOR_HYP` feature word (the VMM's own services).
pub const FWCALL_FEATURES_VENDOR_HYP: u32 = 2;

fn register(r: u32) -> Result<FeatureRegister, i32> {
    match r {
        FWCALL_FEATURES_STD => Ok(FeatureRegister::Std),
        FWCALL_FEATURES_STD_HYP => Ok(FeatureRegister::StdHyp),
        FWCALL_FEATURES_VENDOR_HYP => Ok(FeatureRegister::VendorHyp),
        _ => Err(FWCALL_E_INVALID_ARGUMENT),
    }
}

/// Writes the feature word `reg` (`FWCALL_FEATURES_*`) in force to `*out`:
/// the guest's firmware ABI, to save with the VM.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT`.
///
/// Thread safety: any thread, any time.
///
/// # Safety
///
/// `vm` is `NULL` or a live VM; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_features(vm: *const fwcall_vm, reg: u32, out: *mut u64) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { input(vm) }?;
        let out = output(out)?;
        let r = register(reg)?;
        let f = vm.vm.features();
        let word = match r {
            FeatureRegister::Std => f.std.bits(),
            FeatureRegister::StdHyp => f.std_hyp.bits(),
            FeatureRegister::VendorHyp => f.vendor_hyp.bits(),
        };
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(out, word) };
        Ok(FWCALL_OK)
    })
}

/// Writes feature word `reg` (`FWCALL_FEATURES_*`): switches services off
/// (or back on) for this guest. Only before the guest's first call;
/// rewriting the current value is always accepted.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT`,
/// `FWCALL_E_FEATURES` (unsupported bits, or the guest already called).
///
/// Thread safety: any thread, before the vCPUs run.
///
/// # Safety
///
/// `vm` is `NULL` or a live VM.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_set_features(vm: *const fwcall_vm, reg: u32, value: u64) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { input(vm) }?;
        let r = register(reg)?;
        vm.vm
            .set_features(r, value)
            .map_err(|e: FeatureError| fail(FWCALL_E_FEATURES, e))?;
        Ok(FWCALL_OK)
    })
}

/// Puts every service back to its boot state for a system reset (after a
/// `FWCALL_POWER_SYSTEM_RESET*` action): SDEI state to its defaults, PSCI
/// power states to the boot set. The guest ABI and PV-time totals survive.
///
/// Errors: `FWCALL_E_NULL`. Thread safety: with every vCPU paused.
///
/// # Safety
///
/// `vm` is `NULL` or a live VM.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_reset(vm: *const fwcall_vm) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { input(vm) }?.vm.reset();
        Ok(FWCALL_OK)
    })
}

fn snapshot(vm: &fwcall_vm) -> Result<Vec<u8>, i32> {
    vm.vm
        .snapshot()
        .map_err(|e: SnapshotError| fail(FWCALL_E_INTERNAL, e))
}

/// Writes to `*size` the number of bytes `fwcall_vm_snapshot` needs now.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INTERNAL` (more than 2^32 of
/// something). Thread safety: with every vCPU paused (out of the guest and
/// out of fwcall); it encodes the whole state, so call it once.
///
/// # Safety
///
/// `vm` is `NULL` or a live VM; `size` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_snapshot_size(vm: *const fwcall_vm, size: *mut usize) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { input(vm) }?;
        let size = output(size)?;
        let n = snapshot(vm)?.len();
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(size, n) };
        Ok(FWCALL_OK)
    })
}

/// Saves fwcall's whole state into `buf[0..len]` and writes its length to
/// `*written`. If `len` is too small (or `buf` is `NULL`), nothing is
/// copied, `*written` is the size needed and the result is
/// `FWCALL_E_BUFFER_TOO_SMALL`. The VMM's interrupt routing, services and
/// host-local baselines are not part of it.
///
/// Errors: `FWCALL_E_NULL` (`vm` or `written`), `FWCALL_E_BUFFER_TOO_SMALL`,
/// `FWCALL_E_INTERNAL`.
///
/// Thread safety: with every vCPU paused (out of the guest and out of
/// fwcall). Allocates (the blob is encoded, then copied).
///
/// # Safety
///
/// `vm` is `NULL` or a live VM; `buf` is `NULL` or valid for writes of
/// `len` bytes; `written` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vm_snapshot(
    vm: *const fwcall_vm,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let vm = unsafe { input(vm) }?;
        let written = output(written)?;
        let blob = snapshot(vm)?;
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(written, blob.len()) };
        if buf.is_null() || len < blob.len() {
            return Err(FWCALL_E_BUFFER_TOO_SMALL);
        }
        // SAFETY: `buf` has `len >= blob.len()` writable bytes, and our
        // freshly allocated blob cannot overlap it.
        unsafe { core::ptr::copy_nonoverlapping(blob.as_ptr(), buf, blob.len()) };
        Ok(FWCALL_OK)
    })
}

/// The vCPU behind a handle pointer.
///
/// # Safety
///
/// `v` is `NULL` or a handle from `fwcall_vm_vcpu` of a live VM.
#[inline(always)]
unsafe fn vcpu<'a>(v: *const fwcall_vcpu) -> Result<fwcall::Vcpu<'a, CMemory>, i32> {
    // SAFETY: forwarded from the caller's contract.
    let h: &'a fwcall_vcpu = unsafe { input(v) }?;
    h.get()
}

/// Writes this handle's vCPU index to `*out`.
///
/// Errors: `FWCALL_E_NULL`. Thread safety: any thread.
///
/// # Safety
///
/// `vcpu` is `NULL` or a handle of a live VM; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vcpu_index(vcpu: *const fwcall_vcpu, out: *mut u32) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let v = unsafe { self::vcpu(vcpu) }?;
        let out = output(out)?;
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(out, v.index().0) };
        Ok(FWCALL_OK)
    })
}

/// Serves one `HVC`/`SMC` exit. `x` points at the 18 registers `X0..X17`
/// as the guest left them; `conduit` is `FWCALL_CONDUIT_HVC` or
/// `FWCALL_CONDUIT_SMC`. `*out` receives what to write into this vCPU,
/// which other vCPUs to kick and any power action. Any ID nobody serves
/// gets `NOT_SUPPORTED` (-1) in `X0` and nothing else.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT` (conduit). A guest
/// can make no call fail: its errors are SMCCC return codes in `out->x[0]`.
///
/// Thread safety: from this vCPU's thread (one call at a time per vCPU),
/// concurrently with calls on other vCPUs and with `fwcall_vm_raise`.
/// No allocation, no VM-wide lock.
///
/// # Safety
///
/// `vcpu` is `NULL` or a handle of a live VM; `x` is `NULL` or valid for
/// reads of 18 `uint64_t`s; `out` is valid for a write of a
/// `fwcall_outcome` (it may be uninitialised).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vcpu_handle(
    vcpu: *const fwcall_vcpu,
    x: *const u64,
    conduit: u32,
    out: *mut fwcall_outcome,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let v = unsafe { self::vcpu(vcpu) }?;
        let x = x.cast::<[u64; 18]>();
        // SAFETY: forwarded from this function's contract (18 readable
        // u64s; an array of them has the same alignment as one).
        let regs = unsafe { input(x) }?;
        let out = output(out)?;
        let conduit = match conduit {
            FWCALL_CONDUIT_HVC => Conduit::Hvc,
            FWCALL_CONDUIT_SMC => Conduit::Smc,
            _ => return Err(FWCALL_E_INVALID_ARGUMENT),
        };
        let call = Call { x: *regs, conduit };
        let outcome = v.handle(&call);
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { fwcall_outcome::write(&outcome, out) };
        Ok(FWCALL_OK)
    })
}

/// Whether an SDEI delivery may be waiting for this vCPU: 1 (ask
/// `fwcall_vcpu_take_delivery`), 0 (resume), or a negative error. One
/// atomic load: ask before every resume.
///
/// Errors: `FWCALL_E_NULL`. Thread safety: any thread; meant for this
/// vCPU's. No allocation.
///
/// # Safety
///
/// `vcpu` is `NULL` or a handle of a live VM.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vcpu_has_pending(vcpu: *const fwcall_vcpu) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let v = unsafe { self::vcpu(vcpu) }?;
        Ok(i32::from(v.has_pending_delivery()))
    })
}

/// Enters the SDEI event due on this vCPU, if any. `interrupted` is the
/// context the vCPU would otherwise resume (after any reply was applied);
/// fwcall saves it for `EVENT_CONTEXT` and the completion. Returns 1 and
/// fills `*out` when an event is entered (write `X0..X3`, `PC`, `PSTATE`
/// from it and kick `out->kicks`), 0 when none is (`*out` untouched), or a
/// negative error.
///
/// Errors: `FWCALL_E_NULL`.
///
/// Thread safety: from this vCPU's thread, concurrently with other vCPUs
/// and raises. No allocation.
///
/// # Safety
///
/// `vcpu` is `NULL` or a handle of a live VM; `interrupted` is `NULL` or
/// valid for reads; `out` is valid for a write of a `fwcall_delivery`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vcpu_take_delivery(
    vcpu: *const fwcall_vcpu,
    interrupted: *const fwcall_interrupted,
    out: *mut fwcall_delivery,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let v = unsafe { self::vcpu(vcpu) }?;
        // SAFETY: forwarded from this function's contract.
        let i = unsafe { input(interrupted) }?;
        let out = output(out)?;
        let now = Interrupted {
            x: i.x,
            pc: i.pc,
            pstate: i.pstate,
            sctlr_el1: i.sctlr_el1,
        };
        match v.take_delivery(&now) {
            Some(d) => {
                // SAFETY: checked non-null; the caller made it writable.
                unsafe { put(out, fwcall_delivery::from(&d)) };
                Ok(1)
            }
            None => Ok(0),
        }
    })
}

/// Accounts `ns` more nanoseconds of stolen time to this vCPU and, if its
/// guest enabled PV time, writes its record through `write_u64` (one
/// 64-bit store). Writes the new total to `*total` unless `total` is
/// `NULL` (optional).
///
/// Errors: `FWCALL_E_NULL` (`vcpu`), `FWCALL_E_MEMORY` (the store failed;
/// the total is kept and published by the next success).
///
/// Thread safety: from this vCPU's thread (its steal is its own), any
/// time. No allocation.
///
/// # Safety
///
/// `vcpu` is `NULL` or a handle of a live VM; `total` is `NULL` or valid
/// for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vcpu_account_steal(
    vcpu: *const fwcall_vcpu,
    ns: u64,
    total: *mut u64,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let v = unsafe { self::vcpu(vcpu) }?;
        let t = v.account_steal(ns).map_err(|_| FWCALL_E_MEMORY)?;
        if !total.is_null() {
            // SAFETY: non-null, and the caller made it writable.
            unsafe { put(total, t) };
        }
        Ok(FWCALL_OK)
    })
}

/// Writes the stolen time accounted to this vCPU so far (ns) to `*out`.
///
/// Errors: `FWCALL_E_NULL`. Thread safety: any thread, any time.
///
/// # Safety
///
/// `vcpu` is `NULL` or a handle of a live VM; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vcpu_stolen_ns(vcpu: *const fwcall_vcpu, out: *mut u64) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let v = unsafe { self::vcpu(vcpu) }?;
        let out = output(out)?;
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(out, v.stolen_ns()) };
        Ok(FWCALL_OK)
    })
}

/// The vCPU is off (PSCI): run it only after a `CPU_ON` names it.
pub const FWCALL_VCPU_OFF: u32 = 0;
/// The vCPU is on.
pub const FWCALL_VCPU_ON: u32 = 1;
/// A `CPU_ON` naming the vCPU is in progress.
pub const FWCALL_VCPU_ON_PENDING: u32 = 2;

/// Writes the vCPU's power state (`FWCALL_VCPU_*`; always on unless
/// fwcall serves PSCI) to `*out`.
///
/// Errors: `FWCALL_E_NULL`. Thread safety: any thread, any time.
///
/// # Safety
///
/// `vcpu` is `NULL` or a handle of a live VM; `out` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vcpu_power_state(vcpu: *const fwcall_vcpu, out: *mut u32) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let v = unsafe { self::vcpu(vcpu) }?;
        let out = output(out)?;
        let s = match v.power_state() {
            PowerState::Off => FWCALL_VCPU_OFF,
            PowerState::On => FWCALL_VCPU_ON,
            PowerState::OnPending => FWCALL_VCPU_ON_PENDING,
        };
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(out, s) };
        Ok(FWCALL_OK)
    })
}

/// Resets this vCPU's SDEI state as at power-on (when the hypervisor, not
/// fwcall's PSCI, powers it on) and writes the vCPUs to kick to `*kicks`.
///
/// Errors: `FWCALL_E_NULL`. Thread safety: with this vCPU paused.
///
/// # Safety
///
/// `vcpu` is `NULL` or a handle of a live VM; `kicks` is valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_vcpu_reset(
    vcpu: *const fwcall_vcpu,
    kicks: *mut fwcall_kicks,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let v = unsafe { self::vcpu(vcpu) }?;
        let kicks = output(kicks)?;
        let k = v.reset();
        // SAFETY: checked non-null; the caller made it writable.
        unsafe { put(kicks, fwcall_kicks::from(&k)) };
        Ok(FWCALL_OK)
    })
}
