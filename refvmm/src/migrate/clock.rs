//! Guest time across a save and restore.
//!
//! The guest's virtual counter is the host's counter minus a VM-wide
//! offset. The source saves the guest count at the pause with its realtime
//! clock; the destination picks the count to resume at by the policy and
//! sets the offset that presents it, with `fwcall::pvtime::offset`:
//!
//! * `pause`: the count resumes where it stopped; the guest sees no time
//!   pass while it was saved (its wall clock then lags, until NTP or the
//!   guest's own agent corrects it).
//! * `realtime`: the count advances by the realtime that passed between the
//!   pause and the resume, as if the guest had run on; it needs hosts whose
//!   realtime clocks agree (NTP), and a long blackout reaches the guest as
//!   one jump (its timers fire late at once, lockup detectors may speak up).
//!
//! Timer deadlines need nothing: `CNTV_CVAL`/`CNTP_CVAL` are absolute values
//! of the guest's own counter, so restored as saved they keep their
//! meaning under either policy. With `pause` a pending deadline is as far
//! ahead of the guest's count as it was at the pause; with `realtime` a
//! deadline that fell inside the blackout is due at once, exactly as for a
//! guest that was descheduled that long.
//!
//! With `KVM_CAP_COUNTER_OFFSET` (Linux 6.4+) the offset is set once for
//! the whole VM with `KVM_ARM_SET_COUNTER_OFFSET`; after that KVM ignores
//! writes of the counter registers. Without it, each vCPU's
//! `KVM_REG_ARM_TIMER_CNT` is written with the resume count, and KVM
//! derives the offset at the moment of each write: the vCPUs may disagree
//! by the few microseconds between writes.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use fwcall::pvtime::offset::{
    Blackout, HostClock, OffsetError, SavedClock, counter_offset, resume_count,
};

/// How the guest's counter resumes after a restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Resume where it stopped: the blackout is invisible to the guest.
    Pause,
    /// Advance by the realtime the VM spent saved.
    Realtime,
}

impl Policy {
    /// The blackout rule of `fwcall::pvtime::offset`.
    pub const fn blackout(self) -> Blackout {
        match self {
            Policy::Pause => Blackout::Exclude,
            Policy::Realtime => Blackout::Include,
        }
    }

    /// Its command-line name.
    pub const fn name(self) -> &'static str {
        match self {
            Policy::Pause => "pause",
            Policy::Realtime => "realtime",
        }
    }
}

impl FromStr for Policy {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "pause" => Ok(Policy::Pause),
            "realtime" => Ok(Policy::Realtime),
            _ => Err(()),
        }
    }
}

/// Where the guest's counter resumes, as the destination computed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The guest count presented at resume.
    pub guest_count: u64,
    /// The VM counter offset that presents it (host count minus guest count).
    pub offset: u64,
    /// The destination's clocks when it was computed.
    pub now: HostClock,
}

impl Resume {
    /// Guest ticks between the pause and the resume.
    pub fn advance(&self, saved: &SavedClock) -> u64 {
        self.guest_count.wrapping_sub(saved.guest_count)
    }
}

/// Computes the resume point for `saved` on a host whose clocks read `now`.
/// Refuses a destination whose counter runs at another frequency: the
/// guest's timebase would change speed.
pub fn plan(saved: &SavedClock, now: HostClock, policy: Policy) -> Result<Resume, OffsetError> {
    let offset = counter_offset(saved, &now, policy.blackout())?;
    let guest_count = resume_count(saved, now.realtime_ns, policy.blackout())?;
    Ok(Resume {
        guest_count,
        offset,
        now,
    })
}

/// `CLOCK_REALTIME` in nanoseconds.
pub fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Nanoseconds as the guest ticks of a counter at `freq_hz`, and back.
pub fn ticks_to_ns(ticks: u64, freq_hz: u64) -> u64 {
    if freq_hz == 0 {
        return 0;
    }
    u64::try_from(u128::from(ticks) * 1_000_000_000 / u128::from(freq_hz)).unwrap_or(u64::MAX)
}

/// The host's counter and its frequency, read in host userspace.
#[cfg(target_arch = "aarch64")]
pub mod host {
    use std::arch::asm;

    /// `CNTVCT_EL0` as host userspace sees it: the host physical count
    /// (a VHE host runs its EL0 with a zero virtual offset, which is what
    /// KVM's counter offset is subtracted from).
    pub fn counter() -> u64 {
        let v: u64;
        // SAFETY: `isb` and reading CNTVCT_EL0 touch no memory and change
        // no state; Linux lets EL0 read the virtual counter (the vDSO does).
        unsafe { asm!("isb", "mrs {v}, cntvct_el0", v = out(reg) v, options(nomem, nostack)) };
        v
    }

    /// `CNTFRQ_EL0`: the counter frequency in Hz.
    pub fn frequency() -> u64 {
        let v: u64;
        // SAFETY: reading CNTFRQ_EL0 touches no memory and changes no state;
        // EL0 may always read it.
        unsafe { asm!("mrs {v}, cntfrq_el0", v = out(reg) v, options(nomem, nostack)) };
        v
    }

    /// The host clock now: counter and realtime read back to back.
    pub fn now() -> fwcall::pvtime::offset::HostClock {
        let host_count = counter();
        fwcall::pvtime::offset::HostClock {
            host_count,
            realtime_ns: super::realtime_ns(),
            freq_hz: frequency(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u64 = 62_500_000;

    fn saved() -> SavedClock {
        SavedClock {
            guest_count: 1_000_000,
            realtime_ns: 10_000_000_000,
            freq_hz: F,
        }
    }

    fn host(count: u64, realtime_ns: u64) -> HostClock {
        HostClock {
            host_count: count,
            realtime_ns,
            freq_hz: F,
        }
    }

    #[test]
    fn pause_resumes_at_the_saved_count_whatever_the_blackout() {
        let r = plan(&saved(), host(5 << 40, 99_000_000_000), Policy::Pause).unwrap();
        assert_eq!(r.guest_count, 1_000_000);
        assert_eq!((5u64 << 40).wrapping_sub(r.offset), 1_000_000);
        assert_eq!(r.advance(&saved()), 0);
    }

    #[test]
    fn realtime_adds_the_blackout_in_guest_ticks() {
        // 2.5 s later: 156_250_000 ticks at 62.5 MHz.
        let r = plan(&saved(), host(7 << 40, 12_500_000_000), Policy::Realtime).unwrap();
        assert_eq!(r.advance(&saved()), 156_250_000);
        assert_eq!(ticks_to_ns(r.advance(&saved()), F), 2_500_000_000);
        assert_eq!((7u64 << 40).wrapping_sub(r.offset), r.guest_count);
    }

    #[test]
    fn a_destination_counting_at_another_speed_is_refused() {
        let mut now = host(1, 1);
        now.freq_hz = 25_000_000;
        assert!(matches!(
            plan(&saved(), now, Policy::Pause),
            Err(OffsetError::FrequencyMismatch { .. })
        ));
    }

    #[test]
    fn policies_parse_by_name() {
        assert_eq!("pause".parse(), Ok(Policy::Pause));
        assert_eq!("realtime".parse(), Ok(Policy::Realtime));
        assert_eq!("wallclock".parse::<Policy>(), Err(()));
        assert_eq!(Policy::Realtime.name(), "realtime");
    }
}
