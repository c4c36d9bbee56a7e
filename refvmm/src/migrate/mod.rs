//! Whole-VM save and restore: a running guest leaves one refvmm process
//! as a directory and continues in another.
//!
//! **Saving** (SIGPWR with `--save-to DIR`): every vCPU thread leaves
//! `KVM_RUN` and stops; then, with nothing running, the VMM reads the
//! guest's counter and the realtime clock, fwcall's snapshot, every vCPU
//! register `KVM_GET_REG_LIST` names (core, system, timer and firmware
//! pseudo-registers) and the MP state, the vGICv3, the UART, the PV-time
//! region and guest RAM, writes them as an [`image`] and exits.
//!
//! **Restoring** (`--restore DIR`), in this order, before any vCPU runs:
//!
//! 1. read and check the image (format version, sizes, checksums) and the
//!    counter frequency;
//! 2. restore fwcall's snapshot into what this VMM offers and add the VMM's
//!    services back: a guest that saw more than this destination offers is
//!    refused here ([`compat`]);
//! 3. create the KVM VM with RAM mapped privately from the image (the file
//!    is never written), the vCPUs and the vGIC;
//! 4. write the firmware pseudo-registers back (an older host refuses what
//!    it does not know) and check them against fwcall's snapshot
//!    (`fwcall::kvm::check_firmware_registers`);
//! 5. write every other register, then the MP states;
//! 6. replay the vGIC ([`gic`]), load the PV-time region and start fwcall,
//!    install the SMCCC filter fwcall's restored feature words call for;
//! 7. set the counter offset by the policy ([`clock`]), immediately before
//!    the vCPU threads start.
//!
//! Both sides report their downtime and the share of it spent in fwcall.

pub mod clock;
pub mod compat;
pub mod gic;
pub mod image;
pub mod regs;
#[cfg(target_arch = "aarch64")]
pub mod restore;
#[cfg(target_arch = "aarch64")]
pub mod save;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use clock::Policy;
pub use compat::Refusal;

/// Time spent in one direction of a migration, and how much of it fwcall
/// took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Downtime {
    /// The whole span (pause to saved, or restore start to first `KVM_RUN`).
    pub total: Duration,
    /// Spent inside fwcall (snapshot; or restore, start and the firmware
    /// agreement check).
    pub fwcall: Duration,
}

impl Downtime {
    /// fwcall's share of the total, in percent.
    pub fn fwcall_percent(&self) -> f64 {
        if self.total.is_zero() {
            return 0.0;
        }
        100.0 * self.fwcall.as_secs_f64() / self.total.as_secs_f64()
    }
}

impl fmt::Display for Downtime {
    /// `total-us=N fwcall-us=M fwcall-share=P%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "total-us={} fwcall-us={} fwcall-share={:.3}%",
            self.total.as_micros(),
            self.fwcall.as_micros(),
            self.fwcall_percent()
        )
    }
}

/// What the restore line reports once the first vCPU entered the guest.
#[derive(Clone, Debug)]
pub struct RestoreReport {
    /// When the restore started.
    pub started: Instant,
    /// Time spent in fwcall.
    pub fwcall: Duration,
    /// The rest of the line (directory, policy, counter).
    pub detail: String,
    /// The host count when the guest's counter was set (0: unknown).
    pub counter_set_at: u64,
    /// The counter frequency.
    pub freq_hz: u64,
}

/// The migration state of a running VMM, shared by its threads.
#[derive(Debug, Default)]
pub struct Session {
    save_at: OnceLock<Instant>,
    first_run: OnceLock<Instant>,
    pending_report: Mutex<Option<RestoreReport>>,
    /// The host counter when the last vCPU thread left its run loop.
    stopped_at: AtomicU64,
    /// ... and when the first one did (0: none yet).
    first_stopped_at: AtomicU64,
    /// The host counter when the last vCPU thread left the start gate.
    gate_left_at: AtomicU64,
    /// Holds the vCPU threads of a restored VM right before their first
    /// `KVM_RUN`, so its counter is set at the last moment.
    gate_armed: AtomicBool,
    gate: Mutex<Gate>,
    gate_changed: Condvar,
}

#[derive(Debug, Default)]
struct Gate {
    waiting: usize,
}

impl Session {
    /// Records a save request (the pause starts now). Returns false when
    /// one was already made.
    pub fn request_save(&self) -> bool {
        let now = Instant::now();
        self.save_at.set(now).is_ok()
    }

    /// When the save was requested, if it was.
    pub fn save_requested(&self) -> Option<Instant> {
        self.save_at.get().copied()
    }

    /// Called by a vCPU thread right before each `KVM_RUN`. While the
    /// start gate is armed it waits there; the first call after ends the
    /// restore's downtime. Two atomic loads once running.
    #[inline]
    pub fn entering_guest(&self) {
        if self.gate_armed.load(Ordering::Acquire) {
            self.wait_at_gate();
        }
        if self.first_run.get().is_none() {
            let _ = self.first_run.set(Instant::now());
        }
    }

    fn wait_at_gate(&self) {
        self.wait_at_gate_inner();
        #[cfg(target_arch = "aarch64")]
        self.gate_left_at
            .fetch_max(clock::host::counter(), Ordering::AcqRel);
    }

    /// The host count when the last vCPU left the start gate (0: none).
    pub fn gate_left_at(&self) -> u64 {
        self.gate_left_at.load(Ordering::Acquire)
    }

    fn wait_at_gate_inner(&self) {
        match self.gate.lock() {
            Ok(mut g) => g.waiting += 1,
            Err(_) => return,
        }
        self.gate_changed.notify_all();
        // Spin (yielding) rather than sleep: the wait lasts as long as it
        // takes to set the counter offset, and a thread woken from a
        // condition variable would reach KVM_RUN milliseconds later on a
        // loaded host, which the guest would see as a jump of its clock.
        while self.gate_armed.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
    }

    /// Arms the start gate: vCPU threads stop right before their first
    /// `KVM_RUN` until [`Session::open_gate`].
    pub fn arm_gate(&self) {
        self.gate_armed.store(true, Ordering::Release);
    }

    /// Waits until `n` vCPU threads wait at the gate, or `give_up()` (a
    /// thread ended, the VM stopped). Returns whether all arrived.
    pub fn wait_gate_full(&self, n: usize, give_up: impl Fn() -> bool) -> bool {
        let Ok(mut g) = self.gate.lock() else {
            return false;
        };
        while g.waiting < n {
            if give_up() {
                return false;
            }
            g = match self.gate_changed.wait_timeout(g, Duration::from_millis(10)) {
                Ok((g, _)) => g,
                Err(_) => return false,
            };
        }
        true
    }

    /// Lets every vCPU thread enter the guest.
    pub fn open_gate(&self) {
        self.gate_armed.store(false, Ordering::Release);
    }

    /// A vCPU thread left its run loop for good at host count `host_count`
    /// (the latest one is when the guest stopped).
    pub fn vcpu_stopped(&self, host_count: u64) {
        self.stopped_at.fetch_max(host_count, Ordering::AcqRel);
        // The default 0 reads as "none yet": keep the smallest non-zero.
        let _ = self
            .first_stopped_at
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v == 0 || host_count < v).then_some(host_count)
            });
    }

    /// Host ticks between the first and the last vCPU leaving its loop:
    /// how long part of the guest ran while the rest was already stopped.
    pub fn stop_skew(&self) -> u64 {
        let first = self.first_stopped_at.load(Ordering::Acquire);
        self.stopped_at().saturating_sub(first)
    }

    /// The host count when the guest stopped (0 if no vCPU stopped yet).
    pub fn stopped_at(&self) -> u64 {
        self.stopped_at.load(Ordering::Acquire)
    }

    /// Arms the restore line, printed once a vCPU has entered the guest.
    pub fn expect_first_run(&self, report: RestoreReport) {
        if let Ok(mut p) = self.pending_report.lock() {
            *p = Some(report);
        }
    }

    /// The restore line, once (after the first `KVM_RUN`); `None` before or
    /// after.
    pub fn take_restore_line(&self) -> Option<String> {
        let first = *self.first_run.get()?;
        let r = self.pending_report.lock().ok()?.take()?;
        let d = Downtime {
            total: first.saturating_duration_since(r.started),
            fwcall: r.fwcall,
        };
        // How long after the counter was set the last vCPU thread went on to
        // its first KVM_RUN: guest time the VMM itself adds at the resume.
        let gate = self.gate_left_at();
        let entry_us = if gate == 0 || r.counter_set_at == 0 {
            0
        } else {
            clock::ticks_to_ns(gate.saturating_sub(r.counter_set_at), r.freq_hz) / 1000
        };
        Some(format!(
            "fwcall-migrate-restored {} entry-us={entry_us} {d}\n",
            r.detail
        ))
    }
}

static SAVE_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the control thread to save the VM and exit (SIGPWR). Only an
/// atomic store: safe in a signal handler.
pub fn request_save() {
    SAVE_REQUESTED.store(true, Ordering::Release);
}

/// Takes a pending save request.
pub fn take_save_request() -> bool {
    SAVE_REQUESTED.swap(false, Ordering::AcqRel)
}

/// Installs the SIGPWR handler that asks for a save.
#[cfg(target_arch = "aarch64")]
pub fn install_save_signal() -> Result<(), vmm_sys_util::errno::Error> {
    extern "C" fn on_pwr(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
        request_save();
    }
    vmm_sys_util::signal::register_signal_handler(libc::SIGPWR, on_pwr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downtime_reports_fwcall_share() {
        let d = Downtime {
            total: Duration::from_millis(200),
            fwcall: Duration::from_micros(500),
        };
        assert_eq!(
            d.to_string(),
            "total-us=200000 fwcall-us=500 fwcall-share=0.250%"
        );
        let zero = Downtime {
            total: Duration::ZERO,
            fwcall: Duration::ZERO,
        };
        assert_eq!(zero.fwcall_percent(), 0.0);
    }

    #[test]
    fn the_restore_line_waits_for_the_first_run_and_comes_once() {
        let s = Session::default();
        s.expect_first_run(RestoreReport {
            started: Instant::now(),
            fwcall: Duration::from_micros(7),
            detail: "dir=/m policy=pause".into(),
            counter_set_at: 0,
            freq_hz: 1,
        });
        assert_eq!(s.take_restore_line(), None);
        s.entering_guest();
        let line = s.take_restore_line().unwrap();
        assert!(
            line.starts_with("fwcall-migrate-restored dir=/m policy=pause entry-us=0 total-us="),
            "{line}"
        );
        assert!(line.contains(" fwcall-us=7 "));
        assert_eq!(s.take_restore_line(), None);
    }

    #[test]
    fn the_gate_holds_vcpu_threads_until_opened() {
        let s = std::sync::Arc::new(Session::default());
        s.arm_gate();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || s.entering_guest())
            })
            .collect();
        assert!(s.wait_gate_full(2, || false));
        assert!(
            s.first_run.get().is_none(),
            "nobody may run before the gate opens"
        );
        s.open_gate();
        for t in threads {
            t.join().unwrap();
        }
        assert!(s.first_run.get().is_some());
        // A thread that never arrives: the caller gives up.
        let lonely = Session::default();
        lonely.arm_gate();
        assert!(!lonely.wait_gate_full(1, || true));
    }

    #[test]
    fn the_guest_stopped_when_the_last_vcpu_did() {
        let s = Session::default();
        s.vcpu_stopped(30);
        s.vcpu_stopped(10);
        s.vcpu_stopped(20);
        assert_eq!((s.stopped_at(), s.stop_skew()), (30, 20));
    }

    #[test]
    fn a_save_is_requested_once() {
        let s = Session::default();
        assert!(s.save_requested().is_none());
        assert!(s.request_save());
        assert!(!s.request_save());
        assert!(s.save_requested().is_some());
    }
}
