//! The adapter from the engine's [`Target`] to the `fwcall` crate: the
//! replayer drives `fwcall::Vm` exactly as a VMM's exit loop would.

use crate::config::{EventPriority, EventScope, MemRegion, SdeiVersion, VmSpec};
use crate::memory::SimMemory;
use crate::target::{Delivery, Interrupted, Target, TargetError};
use fwcall::trng::DeterministicSource;
use fwcall::{
    CpuFeatures, EventDecl, EventKind, Gpa, GuestMemoryAccess, IrqOutcome, LptConfig, MemoryError,
    MemoryRegion, Priority, PsciConfig, SdeiConfig, TrngConfig, Vm, VmConfig,
};
use fwcall_smccc::arch::{Workaround2Level, WorkaroundLevel};
use fwcall_smccc::{Call, Kicks, Mpidr, Outcome, SocId, VcpuIndex, Workarounds};
use std::sync::Arc;

impl GuestMemoryAccess for SimMemory {
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
        self.write_le(addr.0, 8, value)
            .map_err(|e| MemoryError::OutOfRange {
                addr: Gpa(e.addr),
                len: e.len,
            })
    }

    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        self.write(addr.0, data)
            .map_err(|e| MemoryError::OutOfRange {
                addr: Gpa(e.addr),
                len: e.len,
            })
    }

    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.read(addr.0, buf).map_err(|e| MemoryError::OutOfRange {
            addr: Gpa(e.addr),
            len: e.len,
        })
    }
}

/// The `fwcall` server over the replayer's simulated memory.
#[derive(Debug)]
pub struct FwcallTarget {
    vm: Vm<Arc<SimMemory>>,
}

fn err(e: impl std::fmt::Display) -> TargetError {
    TargetError(e.to_string())
}

fn region(r: &MemRegion) -> MemoryRegion {
    MemoryRegion::new(r.base, r.size)
}

fn hz(key: &str, v: u64) -> Result<u32, TargetError> {
    u32::try_from(v).map_err(|_| {
        TargetError(format!(
            "{key} {v} does not fit the server's 32-bit frequency"
        ))
    })
}

/// Translates the trace's VM description into a `VmConfig`.
pub fn vm_config(spec: &VmSpec, mpidrs: &[u64]) -> Result<VmConfig, TargetError> {
    let mut c = VmConfig::new(spec.vcpus);
    c.mpidrs = mpidrs.iter().map(|m| Mpidr(*m)).collect();
    if let Some(v) = spec.smccc {
        c.smccc_version = v;
    }
    c.sdei = match spec.sdei {
        None => None,
        Some(v) => {
            let mut s = SdeiConfig {
                version: match v {
                    SdeiVersion::V1_0 => fwcall::SdeiVersion::V1_0,
                    SdeiVersion::V1_1 => fwcall::SdeiVersion::V1_1,
                },
                ..SdeiConfig::default()
            };
            let slots = |key: &str, n: u32| {
                u16::try_from(n)
                    .map_err(|_| TargetError(format!("{key}={n}: the server takes at most 65535")))
            };
            if let Some(n) = spec.sdei_private_slots {
                s.private_slots = slots("sdei_private_slots", n)?;
            }
            if let Some(n) = spec.sdei_shared_slots {
                s.shared_slots = slots("sdei_shared_slots", n)?;
            }
            let f = spec.features;
            let mut cpu = CpuFeatures::empty();
            for (on, flag) in [
                (f.pan, CpuFeatures::PAN),
                (f.ssbs, CpuFeatures::SSBS),
                (f.mte, CpuFeatures::MTE),
                (f.bti, CpuFeatures::BTI),
                (f.nmi, CpuFeatures::NMI),
            ] {
                cpu.set(flag, on);
            }
            s.cpu_features = cpu;
            s.events = spec
                .events
                .iter()
                .map(|e| EventDecl {
                    number: e.number,
                    kind: match e.scope {
                        EventScope::Private => EventKind::Private,
                        EventScope::Shared => EventKind::Shared,
                    },
                    priority: match e.priority {
                        EventPriority::Normal => Priority::Normal,
                        EventPriority::Critical => Priority::Critical,
                    },
                })
                .collect();
            Some(s)
        }
    };
    c.pvtime.enabled = spec.pvtime;
    c.pvtime.stolen_time_base = spec.pvtime_ipa.map(Gpa);
    c.pvtime.native_hz = hz("native_hz", spec.native_hz)?;
    // `lpt=on` without `lpt_ipa` is LPT left unplaced: the guest sees none.
    c.pvtime.lpt = match (spec.lpt, spec.lpt_ipa) {
        (true, Some(ipa)) => Some(LptConfig {
            ipa: Gpa(ipa),
            pv_hz: hz("pv_hz", spec.pv_hz)?,
        }),
        _ => None,
    };
    let mut regions = spec.mem.iter().map(region);
    c.ram = regions.next().into_iter().collect();
    c.reserved = regions.collect();
    c.psci = spec.psci.map(|version| PsciConfig {
        version,
        boot: (0..spec.boot_count()).map(VcpuIndex).collect(),
    });
    c.trng = spec.trng.then(TrngConfig::default);
    let level =
        |key: &str, l: u8| TargetError(format!("{key}={l} is not a level the server knows"));
    c.workarounds = Workarounds {
        wa1: WorkaroundLevel::from_level(spec.workaround_1.into())
            .ok_or_else(|| level("workaround_1", spec.workaround_1))?,
        wa2: Workaround2Level::from_level(spec.workaround_2.into())
            .ok_or_else(|| level("workaround_2", spec.workaround_2))?,
        wa3: WorkaroundLevel::from_level(spec.workaround_3.into())
            .ok_or_else(|| level("workaround_3", spec.workaround_3))?,
    };
    // The words go in as given: `VmConfig` refuses bit 31, which is what
    // a `vm ... soc_id=0x80000000:0 -> error` trace checks.
    c.soc_id = spec.soc_id.map(|w| SocId {
        version: w.version,
        revision: w.revision,
    });
    Ok(c)
}

/// The seed of the replayer's entropy: the same bytes on every run.
pub const TRNG_SEED: u64 = 0x6677_6374_7261_6365;

fn deterministic(vm: &mut Vm<Arc<SimMemory>>) {
    vm.set_entropy_source(Box::new(DeterministicSource::new(TRNG_SEED)));
}

fn vcpu_of<'a>(
    vm: &'a Vm<Arc<SimMemory>>,
    v: VcpuIndex,
) -> Result<fwcall::Vcpu<'a, Arc<SimMemory>>, TargetError> {
    vm.vcpu(v).map_err(err)
}

impl Target for FwcallTarget {
    fn build(spec: &VmSpec, mpidrs: &[u64], mem: Arc<SimMemory>) -> Result<Self, TargetError> {
        let mut vm = Vm::new(vm_config(spec, mpidrs)?, mem).map_err(err)?;
        deterministic(&mut vm);
        vm.start().map_err(err)?;
        Ok(FwcallTarget { vm })
    }

    /// As a VMM restores: the destination's own configuration, the blob,
    /// then `start()` before any vCPU runs (LPT publishes this host's
    /// coefficients there).
    fn restore(
        spec: &VmSpec,
        mpidrs: &[u64],
        mem: Arc<SimMemory>,
        snapshot: &[u8],
    ) -> Result<Self, TargetError> {
        let mut vm = Vm::restore(vm_config(spec, mpidrs)?, mem, snapshot).map_err(err)?;
        deterministic(&mut vm);
        vm.start().map_err(err)?;
        Ok(FwcallTarget { vm })
    }

    fn call(&mut self, vcpu: VcpuIndex, call: &Call) -> Result<Outcome, TargetError> {
        Ok(vcpu_of(&self.vm, vcpu)?.handle(call))
    }

    fn take_delivery(
        &mut self,
        vcpu: VcpuIndex,
        i: &Interrupted,
    ) -> Result<Option<Delivery>, TargetError> {
        let v = vcpu_of(&self.vm, vcpu)?;
        if !v.has_pending_delivery() {
            return Ok(None);
        }
        Ok(v.take_delivery(i))
    }

    fn raise(&mut self, event: u32, vcpu: Option<VcpuIndex>) -> Result<Kicks, TargetError> {
        self.vm.raise(event, vcpu).map_err(err)
    }

    fn irq(&mut self, intid: u32, vcpu: Option<VcpuIndex>) -> Result<Kicks, TargetError> {
        Ok(match self.vm.irq(intid, vcpu) {
            IrqOutcome::NotBound => Kicks::none(),
            IrqOutcome::Sdei(k) => k,
        })
    }

    fn vcpu_reset(&mut self, vcpu: VcpuIndex) -> Result<Kicks, TargetError> {
        Ok(vcpu_of(&self.vm, vcpu)?.reset())
    }

    fn steal(&mut self, vcpu: VcpuIndex, ns: u64) -> Result<(), TargetError> {
        vcpu_of(&self.vm, vcpu)?
            .account_steal(ns)
            .map(|_| ())
            .map_err(err)
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, TargetError> {
        self.vm.snapshot().map_err(err)
    }

    fn vm_reset(&mut self) -> Result<(), TargetError> {
        self.vm.reset();
        Ok(())
    }

    fn powered_on(&mut self) -> Result<Vec<bool>, TargetError> {
        Ok(self.vm.vcpus().map(|v| v.power_state().is_on()).collect())
    }

    fn inspect(bytes: &[u8]) -> Result<String, TargetError> {
        fwcall::snapshot::inspect(bytes)
            .map(|s| s.to_string().trim_end().to_string())
            .map_err(err)
    }
}
