//! The fwcall side of the machine: its configuration and the guest-memory
//! access it writes PV-time records through.

use fwcall::pvtime::vm_memory::VmMemory;
use fwcall::{ConfigError, EventDecl, EventKind, Gpa, MemoryRegion, Mpidr, Priority, Vm};
use vm_memory::GuestMemoryMmap;

use crate::layout::{PVTIME_BASE, PVTIME_SIZE, RAM_BASE};

/// The guest memory fwcall sees: the PV-time region only.
pub type FwMemory = VmMemory<GuestMemoryMmap>;

/// The firmware server of this VMM.
pub type FwVm = Vm<FwMemory>;

/// A platform event the VMM declares so it can raise it (private, normal
/// priority). Event 0 needs no declaration: it is the guest's
/// software-signalled event, which the VMM fires with `SDEI_EVENT_SIGNAL`
/// (see [`crate::control::raise`]).
pub const PLATFORM_EVENT: u32 = 0x100;

/// The configuration: KVM's SMCCC version, the vCPUs' real MPIDRs, SDEI
/// with event 0 and [`PLATFORM_EVENT`], and PV time placed in its own
/// region outside RAM.
pub fn config(mpidrs: &[u64], ram_size: u64, sdei: bool) -> fwcall::VmConfig {
    let mut c = fwcall::kvm::vm_config(1);
    c.mpidrs = mpidrs.iter().map(|m| Mpidr(*m)).collect();
    c.ram = vec![MemoryRegion {
        base: Gpa(RAM_BASE),
        size: ram_size,
    }];
    c.reserved = vec![MemoryRegion {
        base: Gpa(PVTIME_BASE),
        size: PVTIME_SIZE,
    }];
    c.pvtime.stolen_time_base = Some(Gpa(PVTIME_BASE));
    match (sdei, c.sdei.as_mut()) {
        (true, Some(s)) => s.events.push(EventDecl {
            number: PLATFORM_EVENT,
            kind: EventKind::Private,
            priority: Priority::Normal,
        }),
        _ => c.sdei = None,
    }
    c
}

/// Builds the server over the PV-time mapping and publishes what must be
/// visible before the first `KVM_RUN`.
pub fn build(config: fwcall::VmConfig, pvtime: GuestMemoryMmap) -> Result<FwVm, BuildError> {
    let vm = Vm::new(config, VmMemory(pvtime))?;
    vm.start().map_err(BuildError::Start)?;
    Ok(vm)
}

/// Saves `vm`, and builds a new server from the blob on the same
/// configuration and PV-time mapping, started and ready to run. Returns it
/// and the blob's size. The caller pauses every vCPU first and drops `vm`.
pub fn snapshot_restore(
    vm: &FwVm,
    config: fwcall::VmConfig,
    pvtime: GuestMemoryMmap,
) -> Result<(FwVm, usize), String> {
    let blob = vm.snapshot().map_err(|e| format!("snapshot: {e}"))?;
    let new = Vm::restore(config, VmMemory(pvtime), &blob).map_err(|e| format!("restore: {e}"))?;
    new.start()
        .map_err(|e| format!("start after restore: {e}"))?;
    Ok((new, blob.len()))
}

/// The server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration was refused.
    #[error("fwcall configuration: {0}")]
    Config(#[from] ConfigError),
    /// Publishing the PV-time structures failed.
    #[error("fwcall start: {0}")]
    Start(fwcall::MemoryError),
}
