//! The adapter from the engine's [`Target`] to the `fwcall` crate.
//!
//! Placeholder until the dispatcher compiles: every operation reports that
//! the server is not built in.

use crate::config::VmSpec;
use crate::memory::SimMemory;
use crate::target::{Delivery, Interrupted, Target, TargetError};
use fwcall_smccc::{Call, Kicks, Outcome, VcpuIndex};
use std::sync::Arc;

/// The `fwcall` server, driven as a VMM drives it.
#[derive(Debug)]
pub struct FwcallTarget;

fn missing<T>() -> Result<T, TargetError> {
    Err(TargetError(
        "the fwcall server is not built into this binary yet".into(),
    ))
}

impl Target for FwcallTarget {
    fn build(_: &VmSpec, _: &[u64], _: Arc<SimMemory>) -> Result<Self, TargetError> {
        missing()
    }
    fn restore(_: &VmSpec, _: &[u64], _: Arc<SimMemory>, _: &[u8]) -> Result<Self, TargetError> {
        missing()
    }
    fn call(&mut self, _: VcpuIndex, _: &Call) -> Result<Outcome, TargetError> {
        missing()
    }
    fn take_delivery(&mut self, _: VcpuIndex, _: &Interrupted) -> Result<Option<Delivery>, TargetError> {
        missing()
    }
    fn raise(&mut self, _: u32, _: Option<VcpuIndex>) -> Result<Kicks, TargetError> {
        missing()
    }
    fn irq(&mut self, _: u32, _: Option<VcpuIndex>) -> Result<Kicks, TargetError> {
        missing()
    }
    fn vcpu_reset(&mut self, _: VcpuIndex) -> Result<Kicks, TargetError> {
        missing()
    }
    fn steal(&mut self, _: VcpuIndex, _: u64) -> Result<(), TargetError> {
        missing()
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, TargetError> {
        missing()
    }
    fn inspect(_: &[u8]) -> Result<String, TargetError> {
        missing()
    }
}
