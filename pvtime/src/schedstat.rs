//! Run delay of the calling thread from `/proc/thread-self/schedstat`
//! (Linux, `std`): the time a vCPU thread was runnable but waiting for a
//! host CPU, which is exactly the stolen time of the vCPU it runs.
//!
//! The file holds three numbers: time on CPU (ns), time waiting on a run
//! queue (ns), and the number of time slices. The second is the run delay.
//! Kernels without scheduler statistics report 0 there, so stolen time
//! stays 0.
//!
//! ```no_run
//! use fwcall_pvtime::schedstat::RunDelayTracker;
//! # use fwcall_pvtime::{AtomicMemory, PvTime, PvTimeConfig};
//! # use fwcall_smccc::VcpuIndex;
//! # let pv = PvTime::new(&PvTimeConfig::default(), 1, &[], &[]).unwrap();
//! # let mem = AtomicMemory::default();
//! // On the vCPU thread, once:
//! let mut tracker = RunDelayTracker::new();
//! // Before every KVM_RUN:
//! let total = tracker.account(&pv, VcpuIndex(0), &mem).unwrap();
//! ```

use std::format;
use std::io;
use std::path::Path;

use fwcall_smccc::VcpuIndex;

use crate::{GuestMemoryAccess, MemoryError, PvTime};

/// The file the calling thread's statistics are in.
pub const THREAD_SELF: &str = "/proc/thread-self/schedstat";

/// The run delay (second field, ns) in the text of a schedstat file.
pub fn parse_run_delay(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Reads the calling thread's run delay in ns.
pub fn read_run_delay() -> io::Result<u64> {
    read_run_delay_from(Path::new(THREAD_SELF))
}

/// Reads a run delay from a schedstat file (e.g. `/proc/self/task/TID/schedstat`).
pub fn read_run_delay_from(path: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    parse_run_delay(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: expected `RUN_NS WAIT_NS SLICES`, got {text:?}",
                path.display()
            ),
        )
    })
}

/// Why accounting from schedstat failed.
#[derive(Debug, thiserror::Error)]
pub enum RunDelayError {
    /// The statistics could not be read.
    #[error("cannot read the vCPU thread's run delay: {0}")]
    Read(#[from] io::Error),
    /// The record could not be written.
    #[error(transparent)]
    Memory(#[from] MemoryError),
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

    /// Reads the calling thread's run delay and returns the increment since
    /// the last sample.
    pub fn sample(&mut self) -> io::Result<u64> {
        read_run_delay().map(|r| self.delta(r))
    }

    /// Samples and accounts the increment to `vcpu`; returns the new total.
    /// Call on the vCPU's thread before it re-enters the guest.
    pub fn account<M: GuestMemoryAccess + ?Sized>(
        &mut self,
        pv: &PvTime,
        vcpu: VcpuIndex,
        mem: &M,
    ) -> Result<u64, RunDelayError> {
        let d = self.sample()?;
        Ok(pv.account(vcpu, d, mem)?)
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
    fn this_thread_can_be_sampled() {
        // Readable on any Linux with /proc; the value may be 0.
        if Path::new(THREAD_SELF).exists() {
            let mut t = RunDelayTracker::new();
            assert_eq!(t.sample().unwrap(), 0);
            t.sample().unwrap();
        }
    }
}
