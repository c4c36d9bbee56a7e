//! Per-vCPU power state: one atomic byte per vCPU, no lock.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU8, Ordering};

use fwcall_smccc::VcpuIndex;

/// Whether a vCPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum PowerState {
    /// Off: it runs no guest code and makes no call until a `CPU_ON`.
    #[default]
    Off = 0,
    /// On (running, or idle in a standby state).
    On = 1,
    /// A `CPU_ON` naming it is in progress (for the length of that call).
    OnPending = 2,
}

impl PowerState {
    const fn from_u8(v: u8) -> Self {
        match v {
            1 => PowerState::On,
            2 => PowerState::OnPending,
            _ => PowerState::Off,
        }
    }

    /// Whether the vCPU is on (a `CPU_ON` in progress does not count yet).
    pub const fn is_on(self) -> bool {
        matches!(self, PowerState::On)
    }
}

/// The power state of every vCPU of a VM.
#[derive(Debug)]
pub(crate) struct PowerTable {
    states: Box<[AtomicU8]>,
}

impl PowerTable {
    pub(crate) fn new(states: impl Iterator<Item = PowerState>) -> Self {
        PowerTable {
            states: states.map(|s| AtomicU8::new(s as u8)).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    #[inline]
    pub(crate) fn get(&self, v: usize) -> PowerState {
        self.states.get(v).map_or(PowerState::Off, |s| {
            PowerState::from_u8(s.load(Ordering::Acquire))
        })
    }

    #[inline]
    pub(crate) fn set(&self, v: usize, s: PowerState) {
        if let Some(slot) = self.states.get(v) {
            slot.store(s as u8, Ordering::Release);
        }
    }

    /// Claims an off vCPU for a `CPU_ON`: `Ok` when it was off (now
    /// pending), `Err(current)` otherwise. Two racing `CPU_ON`s for one
    /// target: exactly one wins.
    #[inline]
    pub(crate) fn claim(&self, v: VcpuIndex) -> Result<(), PowerState> {
        let Some(slot) = self.states.get(v.get()) else {
            return Err(PowerState::On);
        };
        slot.compare_exchange(
            PowerState::Off as u8,
            PowerState::OnPending as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .map(|_| ())
        .map_err(PowerState::from_u8)
    }
}
