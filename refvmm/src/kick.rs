//! Kicking a vCPU thread out of `KVM_RUN`.
//!
//! The kicker sends the vCPU's thread a real-time signal. Its handler runs
//! on that thread and sets `kvm_run.immediate_exit`, so the kick is never
//! lost: inside `KVM_RUN` the signal makes it return `EINTR`; just before
//! it, `immediate_exit` makes the next `KVM_RUN` return `EINTR` at once.
//! The vCPU thread clears `immediate_exit` at the top of its loop, *before*
//! it checks for work, so a kick that arrives after the check still stops
//! the next run.

use std::cell::Cell;
use std::ptr;

use kvm_ioctls::VcpuFd;
use libc::{c_int, c_void, siginfo_t};
use vmm_sys_util::signal::{SIGRTMIN, register_signal_handler};

thread_local! {
    /// This thread's `kvm_run.immediate_exit`, or null on non-vCPU threads.
    static IMMEDIATE_EXIT: Cell<*mut u8> = const { Cell::new(ptr::null_mut()) };
}

extern "C" fn on_kick(_: c_int, _: *mut siginfo_t, _: *mut c_void) {
    // A const-initialised thread-local without a destructor: no allocation,
    // no lock, fine in a signal handler.
    IMMEDIATE_EXIT.with(|p| {
        let p = p.get();
        if !p.is_null() {
            // SAFETY: `p` points into this thread's `kvm_run` mapping, which
            // `arm` registered and `disarm` unregisters before the `VcpuFd`
            // (and with it the mapping) is dropped. The handler runs on the
            // owning thread, which is interrupted, so nothing races the
            // single-byte volatile store.
            unsafe { p.write_volatile(1) };
        }
    });
}

/// The kick signal.
pub fn signal() -> c_int {
    SIGRTMIN()
}

/// Installs the kick handler (once per process, before vCPU threads start).
pub fn install() -> Result<(), vmm_sys_util::errno::Error> {
    register_signal_handler(signal(), on_kick)
}

extern "C" fn on_usr1(_: c_int, _: *mut siginfo_t, _: *mut c_void) {
    crate::control::request_raise();
}

extern "C" fn on_usr2(_: c_int, _: *mut siginfo_t, _: *mut c_void) {
    crate::control::request_snapshot();
}

/// SIGUSR1 raises the configured SDEI event once; SIGUSR2 asks for a
/// snapshot/restore cycle. Both only set a flag the control thread polls.
pub fn install_control_signals() -> Result<(), vmm_sys_util::errno::Error> {
    register_signal_handler(libc::SIGUSR1, on_usr1)?;
    register_signal_handler(libc::SIGUSR2, on_usr2)
}

/// Registers `vcpu`'s `immediate_exit` for kicks aimed at this thread.
pub fn arm(vcpu: &mut VcpuFd) {
    let p = ptr::addr_of_mut!(vcpu.get_kvm_run().immediate_exit);
    IMMEDIATE_EXIT.with(|c| c.set(p));
}

/// Forgets this thread's `immediate_exit`; call before dropping the `VcpuFd`.
pub fn disarm() {
    IMMEDIATE_EXIT.with(|c| c.set(ptr::null_mut()));
}

/// Sends the kick signal to a vCPU thread.
///
/// The `pthread_t` must belong to a thread that has not been joined yet:
/// the VMM joins its vCPU threads only after all of them stopped running
/// (and so stopped kicking each other).
pub fn kick(thread: libc::pthread_t) -> bool {
    // SAFETY: per the contract above `thread` is a live, unjoined thread;
    // `pthread_kill` with a valid signal has no other requirement.
    unsafe { libc::pthread_kill(thread, signal()) == 0 }
}
