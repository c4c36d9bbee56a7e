//! The fwcall side of the machine: its configuration and the guest-memory
//! access it writes PV-time records through.

use std::sync::atomic::{AtomicU64, Ordering};

use fwcall::pvtime::vm_memory::VmMemory;
use fwcall::sdei::SdeiVersion;
use fwcall::{
    Call, ConfigError, EventDecl, EventKind, Gpa, MemoryRegion, Mpidr, Outcome, Priority, Reply,
    Service, ServiceError, VcpuIndex, Vm,
};
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

/// What this VMM offers a guest: by default everything it can serve. A
/// destination started with less (an older SDEI version, PV time off, no
/// VMM service) must refuse a guest that saw more; the command line can
/// ask for less to test exactly that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    /// SDEI at this version, or `None` for no SDEI.
    pub sdei: Option<SdeiVersion>,
    /// PV time (stolen time).
    pub pvtime: bool,
    /// The VMM's own service ([`InfoService`]).
    pub vmm_service: bool,
    /// PSCI served by fwcall (`--psci fwcall`, the default); `false`: KVM
    /// keeps it (`--psci kvm`).
    pub psci: bool,
    /// TRNG served by fwcall (`--trng fwcall`, the default); `false`: KVM
    /// keeps it (`--trng kvm`).
    pub trng: bool,
}

impl Default for Offer {
    fn default() -> Self {
        Offer {
            sdei: Some(SdeiVersion::V1_1),
            pvtime: true,
            vmm_service: true,
            psci: true,
            trng: true,
        }
    }
}

/// The configuration: KVM's SMCCC version, the vCPUs' real MPIDRs, SDEI
/// with event 0 and [`PLATFORM_EVENT`], and PV time placed in its own
/// region outside RAM.
pub fn config(mpidrs: &[u64], ram_size: u64, sdei: bool) -> fwcall::VmConfig {
    let offer = Offer {
        sdei: sdei.then_some(SdeiVersion::V1_1),
        ..Offer::default()
    };
    config_offering(mpidrs, ram_size, &offer)
}

/// The configuration for what `offer` says (see [`config`]).
pub fn config_offering(mpidrs: &[u64], ram_size: u64, offer: &Offer) -> fwcall::VmConfig {
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
    c.pvtime.enabled = offer.pvtime;
    // PSCI 1.1, vCPU 0 on at boot (the others wait for CPU_ON).
    c.psci = offer.psci.then(fwcall::PsciConfig::default);
    c.trng = offer.trng.then(fwcall::TrngConfig::default);
    match (offer.sdei, c.sdei.as_mut()) {
        (Some(version), Some(s)) => {
            s.version = version;
            s.events.push(EventDecl {
                number: PLATFORM_EVENT,
                kind: EventKind::Private,
                priority: Priority::Normal,
            });
        }
        _ => c.sdei = None,
    }
    c
}

/// The VMM's own service: vendor-specific hypervisor calls (owner 6) far
/// from the numbers KVM uses there. `INFO_VERSION` answers the service's
/// version in X0.
pub const INFO_SERVICE_FID: u32 = 0xC600_FE00;
/// `INFO_RESUME`: X0 = 0, X1 = the guest's counter when the VM was last
/// paused for a save, X2 = the counter it resumed at in this VMM (both 0 on
/// a VM that never moved). `X2 - X1` is the time the guest was not told
/// about (0 under the `pause` policy).
pub const INFO_RESUME_FID: u32 = 0xC600_FE01;
/// Its bit in fwcall's `VENDOR_HYP` feature word.
pub const INFO_SERVICE_BIT: u32 = 0;
/// What `INFO_VERSION` answers: 1.0.
pub const INFO_SERVICE_VERSION: u64 = 0x1_0000;

/// Where the guest's counter paused and resumed, for `INFO_RESUME`.
#[derive(Debug, Default)]
pub struct ResumeInfo {
    paused: AtomicU64,
    resumed: AtomicU64,
}

impl ResumeInfo {
    /// Records a resume (before any vCPU runs).
    pub fn set(&self, paused: u64, resumed: u64) {
        self.paused.store(paused, Ordering::Relaxed);
        self.resumed.store(resumed, Ordering::Release);
    }

    /// `(paused, resumed)`.
    pub fn get(&self) -> (u64, u64) {
        let resumed = self.resumed.load(Ordering::Acquire);
        (self.paused.load(Ordering::Relaxed), resumed)
    }
}

/// This process's resume (one VM per refvmm process).
pub static LAST_RESUME: ResumeInfo = ResumeInfo {
    paused: AtomicU64::new(0),
    resumed: AtomicU64::new(0),
};

/// A service of the VMM's own, served through fwcall like SDEI and PV
/// time: its version, and where the guest's counter last resumed. It
/// makes the guest ABI include a VMM service that must travel with the
/// guest (a destination without it refuses the guest).
#[derive(Debug)]
pub struct InfoService;

impl Service for InfoService {
    fn name(&self) -> &str {
        "refvmm-info"
    }

    fn call(&self, _vcpu: VcpuIndex, call: &Call) -> Outcome {
        if call.x[0] as u32 == INFO_RESUME_FID {
            let (paused, resumed) = LAST_RESUME.get();
            return Outcome::reply(Reply::x0_3([0, paused, resumed, 0]));
        }
        Outcome::reply(Reply::x0(INFO_SERVICE_VERSION))
    }
}

/// Adds the VMM's services `offer` names (before the guest's first call;
/// again after every restore).
pub fn add_services(vm: &mut FwVm, offer: &Offer) -> Result<(), ServiceError> {
    if offer.vmm_service {
        vm.add_service(
            INFO_SERVICE_FID..=INFO_RESUME_FID,
            INFO_SERVICE_BIT,
            Box::new(InfoService),
        )?;
    }
    Ok(())
}

/// Builds the server over the PV-time mapping and publishes what must be
/// visible before the first `KVM_RUN`.
pub fn build(config: fwcall::VmConfig, pvtime: GuestMemoryMmap) -> Result<FwVm, BuildError> {
    build_offering(config, pvtime, &Offer::default())
}

/// [`build`], with the VMM services `offer` names added.
pub fn build_offering(
    config: fwcall::VmConfig,
    pvtime: GuestMemoryMmap,
    offer: &Offer,
) -> Result<FwVm, BuildError> {
    let mut vm = Vm::new(config, VmMemory(pvtime))?;
    add_services(&mut vm, offer)?;
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
    let mut new =
        Vm::restore(config, VmMemory(pvtime), &blob).map_err(|e| format!("restore: {e}"))?;
    // The same VMM takes the VM back: it offers again every service the
    // guest saw.
    let offer = Offer {
        vmm_service: new.unserved_vendor_features().bits() & (1 << INFO_SERVICE_BIT) != 0,
        ..Offer::default()
    };
    add_services(&mut new, &offer).map_err(|e| format!("restore: {e}"))?;
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
    /// A VMM service could not be added.
    #[error("fwcall service: {0}")]
    Service(#[from] ServiceError),
}
