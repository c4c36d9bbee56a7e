//! What of PV time must survive a snapshot or a migration (§7.3), as plain
//! data, and the rules a restore checks.

use alloc::vec::Vec;

use crate::config::PvTimeConfigError;
use crate::memory::Gpa;

/// One vCPU's PV-time state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VcpuPvState {
    /// Total stolen nanoseconds accounted so far (what the record shows).
    pub stolen_ns: u64,
    /// Whether the guest asked for its record with `PV_TIME_ST`: fwcall
    /// then keeps the record up to date.
    pub guest_enabled: bool,
}

/// The LPT part of the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LptState {
    /// Where the structure lives.
    pub ipa: Gpa,
    /// The frequency promised to the guest; a destination must promise the same.
    pub pv_hz: u32,
    /// The native frequency of the last publication (the source host's).
    pub native_hz: u32,
    /// The last sequence number published (0: never).
    pub sequence: u64,
    /// Whether the guest asked for the structure with `PV_TIME_LPT`.
    pub guest_queried: bool,
}

/// Everything PV time needs to continue on another host or after a restore.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PvTimeState {
    /// Whether PV time was on.
    pub enabled: bool,
    /// The stolen-time table base.
    pub stolen_time_base: Option<Gpa>,
    /// One entry per vCPU, in index order.
    pub vcpus: Vec<VcpuPvState>,
    /// LPT, if configured.
    pub lpt: Option<LptState>,
    /// The native counter frequency of the host that saved this state.
    pub native_hz: u32,
}

/// A state fwcall refuses to restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PvTimeStateError {
    /// The destination configuration is itself invalid.
    #[error("destination PV-time configuration is invalid: {0}")]
    Config(#[from] PvTimeConfigError),
    /// The vCPU counts differ.
    #[error(
        "the saved PV-time state has {found} vCPUs but the destination VM has {expected}; restore into a VM with the same vCPUs"
    )]
    VcpuCount {
        /// The destination's count.
        expected: usize,
        /// The state's count.
        found: usize,
    },
    /// PV time was on and is off at the destination (or the reverse).
    #[error(
        "PV time is {saved} in the saved state but {dest} at the destination; the guest has already discovered the service, keep the same setting"
    )]
    EnabledChanged {
        /// `"on"`/`"off"` in the state.
        saved: &'static str,
        /// `"on"`/`"off"` at the destination.
        dest: &'static str,
    },
    /// The stolen-time table moved.
    #[error(
        "the stolen-time table moved from {saved:?} to {dest:?}; the guest has mapped the old address, restore with the same base"
    )]
    PlacementChanged {
        /// The state's base.
        saved: Option<Gpa>,
        /// The destination's base.
        dest: Option<Gpa>,
    },
    /// A vCPU is marked enabled but no table is placed.
    #[error(
        "vcpu{vcpu} is marked as using stolen time but the saved state places no table; the state is corrupt"
    )]
    EnabledWithoutTable {
        /// The vCPU index.
        vcpu: usize,
    },
    /// LPT present on one side only.
    #[error(
        "LPT is {saved} in the saved state but {dest} at the destination; LPT cannot be dropped once the guest may use it"
    )]
    LptChanged {
        /// `"on"`/`"off"` in the state.
        saved: &'static str,
        /// `"on"`/`"off"` at the destination.
        dest: &'static str,
    },
    /// The LPT structure moved.
    #[error("the LPT structure moved from {saved} to {dest}; restore with the same address")]
    LptMoved {
        /// The state's address.
        saved: Gpa,
        /// The destination's address.
        dest: Gpa,
    },
    /// The PV frequency changed.
    #[error(
        "the LPT PV frequency changed from {saved} Hz to {dest} Hz; it is fixed for the VM's life, restore with the same pv_hz"
    )]
    PvFrequencyChanged {
        /// The state's frequency.
        saved: u32,
        /// The destination's frequency.
        dest: u32,
    },
    /// The LPT sequence number has bit 0 set.
    #[error(
        "the saved LPT sequence number {0:#x} has the reserved bit 0 set; the state is corrupt"
    )]
    OddSequence(u64),
}

pub(crate) const fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
