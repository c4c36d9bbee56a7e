//! Run delay of a vCPU thread from `/proc/thread-self/schedstat` (Linux,
//! `std`): the time the thread was runnable but waiting for a host CPU,
//! which is exactly the stolen time of the vCPU it runs.
//!
//! The file holds three numbers: time on CPU (ns), time waiting on a run
//! queue (ns), and the number of time slices. The second is the run delay.
//! Kernels without scheduler statistics report 0 there, so stolen time
//! stays 0.
//!
//! # On the vCPU thread, before every `KVM_RUN`
//!
//! [`RunDelay`] opens the file once, on the vCPU's own thread (`thread-self`
//! names the opener), and each [`RunDelay::take_ns`] is one `pread` at
//! offset 0 into a stack buffer, parsed in place: one syscall (about a
//! microsecond, less than the `KVM_RUN` it precedes) and no allocation. So
//! read it on every round of the run loop, after `immediate_exit` is
//! cleared. A vCPU that sits in the guest for long (timers and IPIs never
//! exit under KVM) only updates its record when it comes out: kick idle
//! vCPUs every few milliseconds (refvmm: 10 ms) to keep the guest's steal
//! clock fresh; a kick with nothing else to do costs one exit.
//!
//! ```no_run
//! use fwcall_pvtime::schedstat::RunDelay;
//! # use fwcall_pvtime::{AtomicMemory, PvTime, PvTimeConfig};
//! # use fwcall_smccc::VcpuIndex;
//! # let pv = PvTime::new(&PvTimeConfig::default(), 1, &[], &[]).unwrap();
//! # let mem = AtomicMemory::default();
//! // On the vCPU thread, once:
//! let mut steal = RunDelay::open()?;
//! // Before every KVM_RUN:
//! let ns = steal.take_ns()?;
//! pv.account(VcpuIndex(0), ns, &mem).unwrap();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The reader lives here, in the `std` part of a `no_std` crate, because
//! it needs a file; `std::os::unix::fs::FileExt::read_at` is `pread`
//! without `unsafe` or `libc`, so the crate stays `forbid(unsafe_code)`.

use std::format;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The file the calling thread's statistics are in.
pub const THREAD_SELF: &str = "/proc/thread-self/schedstat";

/// Room for three 20-digit numbers, two spaces and a newline, with margin.
const LINE: usize = 128;

/// The run delay (second field, ns) in the text of a schedstat file.
pub fn parse_run_delay(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// The run delay in the bytes of a schedstat file, without allocating.
pub fn parse_run_delay_bytes(bytes: &[u8]) -> Option<u64> {
    let field = bytes
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(1)?;
    if field.len() > 20 || field.is_empty() {
        return None;
    }
    field.iter().try_fold(0u64, |acc, b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Reads the calling thread's run delay once, opening the file (for a
/// one-off reading; a vCPU loop keeps a [`RunDelay`]).
pub fn read_run_delay() -> io::Result<u64> {
    read_run_delay_from(Path::new(THREAD_SELF))
}

/// Reads a run delay from a schedstat file once (e.g.
/// `/proc/self/task/TID/schedstat`).
pub fn read_run_delay_from(path: &Path) -> io::Result<u64> {
    RunDelay::open_path(path)?.read()
}

/// Why accounting from schedstat failed.
#[derive(Debug, thiserror::Error)]
pub enum RunDelayError {
    /// The statistics could not be read.
    #[error("cannot read the vCPU thread's run delay: {0}")]
    Read(#[from] io::Error),
    /// The record could not be written.
    #[error(transparent)]
    Memory(#[from] crate::MemoryError),
}

/// Turns successive run-delay readings into increments.
///
/// The baseline is host- and thread-local: it is never saved, and a reading
/// below the baseline (another thread, another host after a restore) only
/// re-bases, it never subtracts from what was accounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunDelayTracker {
    last: Option<u64>,
}

impl RunDelayTracker {
    /// A tracker without a baseline: its first sample accounts nothing.
    pub const fn new() -> Self {
        RunDelayTracker { last: None }
    }

    /// The increment for a reading: 0 on the first one or after the
    /// counter went backwards (re-based), else the difference.
    pub fn delta(&mut self, reading: u64) -> u64 {
        let d = match self.last {
            Some(prev) if reading >= prev => reading - prev,
            _ => 0,
        };
        self.last = Some(reading);
        d
    }
}

/// One thread's schedstat file, kept open, and the increments of its run
/// delay: the stolen-time source of a vCPU thread.
#[derive(Debug)]
pub struct RunDelay {
    file: File,
    tracker: RunDelayTracker,
}

impl RunDelay {
    /// Opens the calling thread's statistics. Call it on the vCPU thread
    /// itself: `thread-self` is resolved when the file is opened.
    pub fn open() -> io::Result<Self> {
        Self::open_path(Path::new(THREAD_SELF))
    }

    /// Opens a schedstat file of any thread.
    pub fn open_path(path: &Path) -> io::Result<Self> {
        Ok(RunDelay {
            file: File::open(path)?,
            tracker: RunDelayTracker::new(),
        })
    }

    /// The run delay now, in ns: one `pread` into a stack buffer, no
    /// allocation (except for the message of an error).
    pub fn read(&self) -> io::Result<u64> {
        let mut buf = [0u8; LINE];
        let n = self.file.read_at(&mut buf, 0)?;
        let line = buf.get(..n).unwrap_or(&buf);
        parse_run_delay_bytes(line).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "schedstat: expected `RUN_NS WAIT_NS SLICES`, got {:?}",
                    std::string::String::from_utf8_lossy(line)
                ),
            )
        })
    }

    /// The run delay accumulated since the last call (0 the first time):
    /// the stolen time to account before the vCPU re-enters the guest.
    pub fn take_ns(&mut self) -> io::Result<u64> {
        let reading = self.read()?;
        Ok(self.tracker.delta(reading))
    }

    /// [`RunDelay::take_ns`], accounted to `vcpu` of `pv`; returns the new
    /// total.
    pub fn account<M: crate::GuestMemoryAccess + ?Sized>(
        &mut self,
        pv: &crate::PvTime,
        vcpu: fwcall_smccc::VcpuIndex,
        mem: &M,
    ) -> Result<u64, RunDelayError> {
        let ns = self.take_ns()?;
        Ok(pv.account(vcpu, ns, mem)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_delay_is_the_second_field() {
        assert_eq!(parse_run_delay("123 456 7\n"), Some(456));
        assert_eq!(parse_run_delay("123"), None);
        assert_eq!(parse_run_delay("a b c"), None);
        for (text, want) in [
            (&b"123 456 7\n"[..], Some(456)),
            (b"  1\t18446744073709551615 3", Some(u64::MAX)),
            (b"1 18446744073709551616 3", None),
            (b"123", None),
            (b"1 4x6 7", None),
            (b"1 -5 7", None),
            (b"", None),
        ] {
            assert_eq!(parse_run_delay_bytes(text), want, "{text:?}");
        }
    }

    #[test]
    fn first_sample_is_a_baseline_and_going_back_rebases() {
        let mut t = RunDelayTracker::new();
        assert_eq!(t.delta(1000), 0);
        assert_eq!(t.delta(1500), 500);
        assert_eq!(
            t.delta(200),
            0,
            "new thread or host: re-base, never subtract"
        );
        assert_eq!(t.delta(260), 60);
    }

    #[test]
    fn the_open_file_is_read_again_from_the_start() {
        let dir = std::env::temp_dir().join(format!("fwcall-schedstat-{}", std::process::id()));
        std::fs::write(&dir, "10 1000 3\n").unwrap();
        let mut r = RunDelay::open_path(&dir).unwrap();
        assert_eq!(r.take_ns().unwrap(), 0, "baseline");
        std::fs::write(&dir, "11 1250 4\n").unwrap();
        assert_eq!(r.take_ns().unwrap(), 250);
        std::fs::write(&dir, "garbage").unwrap();
        let e = r.take_ns().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn this_thread_can_be_sampled() {
        // Readable on any Linux with /proc; the value may be 0.
        if Path::new(THREAD_SELF).exists() {
            let mut t = RunDelay::open().unwrap();
            assert_eq!(t.take_ns().unwrap(), 0);
            t.take_ns().unwrap();
            read_run_delay().unwrap();
        }
    }
}
