//! What the engine needs from a firmware-call server.
//!
//! The engine is generic over [`Target`], so it can drive the real `fwcall`
//! crate (see `target_fwcall`) as well as small mocks in tests. Every
//! operation is fallible: a server refusing something is an observation the
//! engine reports, never a panic.

use crate::config::VmSpec;
use crate::memory::SimMemory;
use fwcall_smccc::{Call, Kicks, Outcome, VcpuIndex};
use std::sync::Arc;

/// A refusal or failure reported by the server, as text for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError(pub String);

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

/// The context an SDEI delivery interrupts, and the handler entry it
/// gets: fwcall's own types, so the engine and a VMM speak alike.
pub use fwcall::{Delivery, Interrupted};

/// A firmware-call server the engine can drive as a VMM would.
pub trait Target: Sized {
    /// Builds and starts a server from the trace's VM description.
    /// `mpidrs[i]` is vCPU i's MPIDR; `mem` is the guest memory the server
    /// may touch. An `Err` is the server refusing the configuration.
    fn build(spec: &VmSpec, mpidrs: &[u64], mem: Arc<SimMemory>) -> Result<Self, TargetError>;

    /// Builds a server from `spec` and restores `snapshot` into it.
    fn restore(
        spec: &VmSpec,
        mpidrs: &[u64],
        mem: Arc<SimMemory>,
        snapshot: &[u8],
    ) -> Result<Self, TargetError>;

    /// Serves one HVC/SMC exit of `vcpu`.
    fn call(&mut self, vcpu: VcpuIndex, call: &Call) -> Result<Outcome, TargetError>;

    /// Asks, before `vcpu` resumes, whether an SDEI event is entered now.
    fn take_delivery(
        &mut self,
        vcpu: VcpuIndex,
        interrupted: &Interrupted,
    ) -> Result<Option<Delivery>, TargetError>;

    /// The VMM raises a declared platform event.
    fn raise(&mut self, event: u32, vcpu: Option<VcpuIndex>) -> Result<Kicks, TargetError>;

    /// A guest interrupt fired.
    fn irq(&mut self, intid: u32, vcpu: Option<VcpuIndex>) -> Result<Kicks, TargetError>;

    /// The VMM resets a vCPU (power-on, `CPU_ON`).
    fn vcpu_reset(&mut self, vcpu: VcpuIndex) -> Result<Kicks, TargetError>;

    /// The VMM accounts stolen time.
    fn steal(&mut self, vcpu: VcpuIndex, ns: u64) -> Result<(), TargetError>;

    /// Saves the whole server state.
    fn snapshot(&mut self) -> Result<Vec<u8>, TargetError>;

    /// Decodes a snapshot into a human-readable summary.
    fn inspect(bytes: &[u8]) -> Result<String, TargetError>;

    /// The VMM resets the whole VM after a system reset (fwtrace v1.1
    /// `vm-reset`): every service back to its boot state.
    fn vm_reset(&mut self) -> Result<(), TargetError> {
        Err(TargetError("this server cannot reset the VM".into()))
    }

    /// Which vCPUs the server has on (`true`) after a restore, in order
    /// (fwtrace v1.1: a snapshot carries the power state).
    fn powered_on(&mut self) -> Result<Vec<bool>, TargetError> {
        Err(TargetError("this server keeps no power state".into()))
    }
}
