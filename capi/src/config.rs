//! The configuration, built by calls: everything a VM promises its guest.
//!
//! Thread safety of every `fwcall_config_*` function: a configuration is
//! plain data owned by the caller; use each one from one thread at a time.
//! Different configurations may be used from different threads at once.

use fwcall::smccc::{Mpidr, SocId};
use fwcall::{
    CpuFeatures, EventDecl, EventKind, Gpa, LptConfig, MemoryRegion, Priority, PsciConfig,
    PsciVersion, SdeiConfig, SdeiVersion, SmcccVersion, TrngConfig, VcpuIndex, VmConfig,
};

use crate::{
    FWCALL_E_CONFIG, FWCALL_E_INVALID_ARGUMENT, FWCALL_E_NO_SUCH_VCPU, FWCALL_E_NULL,
    FWCALL_E_SDEI_OFF, FWCALL_OK, fail, guard, guard_void, output, put,
};

/// A VM configuration under construction (opaque). Made by
/// `fwcall_config_new`, freed by `fwcall_config_free`; a VM copies
/// what it needs, so free it whenever convenient after
/// `fwcall_vm_new` or `fwcall_vm_restore`.
#[derive(Debug)]
pub struct fwcall_config {
    pub(crate) c: VmConfig,
}

/// No SDEI: the SDEI range answers `NOT_SUPPORTED`.
pub const FWCALL_SDEI_NONE: u32 = 0;
/// SDEI 1.0.
pub const FWCALL_SDEI_V1_0: u32 = 1;
/// SDEI 1.1 (the default).
pub const FWCALL_SDEI_V1_1: u32 = 2;

/// A private event: one instance per vCPU.
pub const FWCALL_EVENT_PRIVATE: u32 = 0;
/// A shared event: one instance, routed to one vCPU per trigger.
pub const FWCALL_EVENT_SHARED: u32 = 1;
/// Normal priority.
pub const FWCALL_PRIORITY_NORMAL: u32 = 0;
/// Critical priority.
pub const FWCALL_PRIORITY_CRITICAL: u32 = 1;

/// Guest CPU feature `FEAT_PAN` (handler-entry `PSTATE.PAN`).
pub const FWCALL_CPU_PAN: u32 = 1 << 0;
/// Guest CPU feature `FEAT_SSBS`.
pub const FWCALL_CPU_SSBS: u32 = 1 << 1;
/// Guest CPU feature `FEAT_MTE`.
pub const FWCALL_CPU_MTE: u32 = 1 << 2;
/// Guest CPU feature `FEAT_BTI`.
pub const FWCALL_CPU_BTI: u32 = 1 << 3;
/// Guest CPU feature `FEAT_NMI`.
pub const FWCALL_CPU_NMI: u32 = 1 << 4;

/// No PSCI from fwcall (the hypervisor's, e.g. KVM's in-kernel PSCI).
pub const FWCALL_PSCI_NONE: u32 = 0;
/// PSCI 0.2.
pub const FWCALL_PSCI_V0_2: u32 = 1;
/// PSCI 1.0.
pub const FWCALL_PSCI_V1_0: u32 = 2;
/// PSCI 1.1.
pub const FWCALL_PSCI_V1_1: u32 = 3;

/// The configuration behind a pointer the caller owns.
///
/// # Safety
///
/// `p` is null or a live configuration from `fwcall_config_new` that no
/// other thread uses meanwhile.
unsafe fn cfg<'a>(p: *mut fwcall_config) -> Result<&'a mut VmConfig, i32> {
    // SAFETY: forwarded from the caller's contract.
    unsafe { p.as_mut() }.map(|c| &mut c.c).ok_or(FWCALL_E_NULL)
}

/// The SDEI part, or `FWCALL_E_SDEI_OFF` when SDEI is not configured.
fn sdei(c: &mut VmConfig) -> Result<&mut SdeiConfig, i32> {
    c.sdei.as_mut().ok_or(FWCALL_E_SDEI_OFF)
}

/// Makes a configuration for `vcpus` vCPUs with fwcall's defaults: KVM's
/// default MPIDRs (vCPU `i` has affinity `i`), SMCCC 1.4, SDEI 1.1 with
/// event 0 only and 4 private / 8 shared binding slots, PV time on but
/// unplaced, no memory regions, PSCI and TRNG off. Writes it to `*out`.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT` (`vcpus` is 0).
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `out` must be valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_new(vcpus: u32, out: *mut *mut fwcall_config) -> i32 {
    guard(|| {
        let out = output(out)?;
        if vcpus == 0 {
            return Err(fail(
                FWCALL_E_INVALID_ARGUMENT,
                "a VM needs at least one vCPU",
            ));
        }
        let c = Box::new(fwcall_config {
            c: VmConfig::new(vcpus),
        });
        // SAFETY: `out` is non-null and the caller made it writable.
        unsafe { put(out, Box::into_raw(c)) };
        Ok(FWCALL_OK)
    })
}

/// Frees a configuration. `NULL` is ignored.
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or from `fwcall_config_new`, not freed before and
/// not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_free(config: *mut fwcall_config) {
    guard_void(|| {
        if !config.is_null() {
            // SAFETY: the caller hands back a pointer from Box::into_raw
            // in fwcall_config_new, exactly once.
            drop(unsafe { Box::from_raw(config) });
        }
    })
}

/// Sets vCPU `vcpu`'s `MPIDR_EL1` (affinity fields and flags; checked for
/// well-formedness and uniqueness when the VM is made).
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_NO_SUCH_VCPU`.
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration (see the module rules).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_mpidr(
    config: *mut fwcall_config,
    vcpu: u32,
    mpidr: u64,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        let slot = c
            .mpidrs
            .get_mut(vcpu as usize)
            .ok_or(FWCALL_E_NO_SUCH_VCPU)?;
        *slot = Mpidr(mpidr);
        Ok(FWCALL_OK)
    })
}

/// Sets the SMCCC version `SMCCC_VERSION` reports (1.0 to 1.4; 1.1 to
/// match KVM, which answers that call itself).
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT` (a version fwcall
/// does not serve).
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_smccc_version(
    config: *mut fwcall_config,
    major: u16,
    minor: u16,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        let v = SmcccVersion::new(major, minor);
        if !v.is_supported() {
            return Err(FWCALL_E_INVALID_ARGUMENT);
        }
        c.smccc_version = v;
        Ok(FWCALL_OK)
    })
}

/// Serves SDEI at `version` (`FWCALL_SDEI_V1_0` or `FWCALL_SDEI_V1_1`), or
/// not at all (`FWCALL_SDEI_NONE`, which drops declared events). Switching
/// from one version to the other keeps the events, slots and features.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT`.
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_sdei(config: *mut fwcall_config, version: u32) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        let v = match version {
            FWCALL_SDEI_NONE => {
                c.sdei = None;
                return Ok(FWCALL_OK);
            }
            FWCALL_SDEI_V1_0 => SdeiVersion::V1_0,
            FWCALL_SDEI_V1_1 => SdeiVersion::V1_1,
            _ => return Err(FWCALL_E_INVALID_ARGUMENT),
        };
        c.sdei.get_or_insert_with(SdeiConfig::default).version = v;
        Ok(FWCALL_OK)
    })
}

/// Declares a platform SDEI event the VMM will raise with
/// `fwcall_vm_raise`: `kind` is `FWCALL_EVENT_PRIVATE` or
/// `FWCALL_EVENT_SHARED`, `priority` `FWCALL_PRIORITY_NORMAL` or
/// `FWCALL_PRIORITY_CRITICAL`. The number is checked when the VM is made
/// (not 0, bit 31 clear, outside the dynamic-slot range, not twice).
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT`,
/// `FWCALL_E_SDEI_OFF` (SDEI is not configured).
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_add_sdei_event(
    config: *mut fwcall_config,
    number: u32,
    kind: u32,
    priority: u32,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        let kind = match kind {
            FWCALL_EVENT_PRIVATE => EventKind::Private,
            FWCALL_EVENT_SHARED => EventKind::Shared,
            _ => return Err(FWCALL_E_INVALID_ARGUMENT),
        };
        let priority = match priority {
            FWCALL_PRIORITY_NORMAL => Priority::Normal,
            FWCALL_PRIORITY_CRITICAL => Priority::Critical,
            _ => return Err(FWCALL_E_INVALID_ARGUMENT),
        };
        sdei(c)?.events.push(EventDecl {
            number,
            kind,
            priority,
        });
        Ok(FWCALL_OK)
    })
}

/// Sets the number of SDEI interrupt-binding slots (private: PPIs, shared:
/// SPIs). A C VMM without an interrupt hook should set both to 0: nothing
/// bound could ever fire.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_SDEI_OFF`.
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_sdei_slots(
    config: *mut fwcall_config,
    private_slots: u16,
    shared_slots: u16,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let s = sdei(unsafe { cfg(config) }?)?;
        s.private_slots = private_slots;
        s.shared_slots = shared_slots;
        Ok(FWCALL_OK)
    })
}

/// Sets the guest CPU features that shape the handler-entry `PSTATE`: an
/// OR of `FWCALL_CPU_*`.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT` (unknown bits),
/// `FWCALL_E_SDEI_OFF`.
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_cpu_features(
    config: *mut fwcall_config,
    features: u32,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let s = sdei(unsafe { cfg(config) }?)?;
        s.cpu_features = CpuFeatures::from_bits(features).ok_or(FWCALL_E_INVALID_ARGUMENT)?;
        Ok(FWCALL_OK)
    })
}

/// Switches PV time on or off (on by default, but unplaced until
/// `fwcall_config_place_stolen_time`).
///
/// Errors: `FWCALL_E_NULL`.
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_pvtime(
    config: *mut fwcall_config,
    enabled: bool,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { cfg(config) }?.pvtime.enabled = enabled;
        Ok(FWCALL_OK)
    })
}

/// Places the stolen-time table: vCPU `i`'s 64-byte record is at
/// `base + 64 * i`. It must be 64-byte aligned, inside a region declared
/// with `fwcall_config_add_reserved` and outside RAM (checked when the
/// VM is made).
///
/// Errors: `FWCALL_E_NULL`.
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_place_stolen_time(
    config: *mut fwcall_config,
    base: u64,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { cfg(config) }?.pvtime.stolen_time_base = Some(Gpa(base));
        Ok(FWCALL_OK)
    })
}

/// Serves Live Physical Time: the structure at `ipa` (64-byte aligned, in
/// a reserved region) and the counter frequency `pv_hz` promised to the
/// guest.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT` (`pv_hz` is 0).
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_lpt(
    config: *mut fwcall_config,
    ipa: u64,
    pv_hz: u32,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        if pv_hz == 0 {
            return Err(FWCALL_E_INVALID_ARGUMENT);
        }
        c.pvtime.lpt = Some(LptConfig {
            ipa: Gpa(ipa),
            pv_hz,
        });
        Ok(FWCALL_OK)
    })
}

/// Sets this host's counter frequency (`CNTFRQ_EL0`) in Hz.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT` (0).
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_native_hz(config: *mut fwcall_config, hz: u32) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        if hz == 0 {
            return Err(FWCALL_E_INVALID_ARGUMENT);
        }
        c.pvtime.native_hz = hz;
        Ok(FWCALL_OK)
    })
}

/// Declares a region of guest RAM (as the guest's device tree or ACPI
/// tables describe it). Overlaps are refused when the VM is made.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT` (`size` is 0).
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_add_ram(
    config: *mut fwcall_config,
    base: u64,
    size: u64,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        c.ram.push(region(base, size)?);
        Ok(FWCALL_OK)
    })
}

/// A guest-physical region from the C arguments; an empty one is refused.
fn region(base: u64, size: u64) -> Result<MemoryRegion, i32> {
    if size == 0 {
        return Err(FWCALL_E_INVALID_ARGUMENT);
    }
    Ok(MemoryRegion {
        base: Gpa(base),
        size,
    })
}

/// Declares a region the VMM set aside for fwcall outside RAM (PV-time
/// records, the LPT structure), described to the guest as reserved.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT` (`size` is 0).
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_add_reserved(
    config: *mut fwcall_config,
    base: u64,
    size: u64,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        c.reserved.push(region(base, size)?);
        Ok(FWCALL_OK)
    })
}

/// Sets what `SMCCC_ARCH_SOC_ID` answers (selector 0: `version`, 1:
/// `revision`; bit 31 of each must be clear).
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_INVALID_ARGUMENT` (bit 31 set).
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_soc_id(
    config: *mut fwcall_config,
    version: u32,
    revision: u32,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        let soc = SocId { version, revision };
        soc.validate().map_err(|_| FWCALL_E_INVALID_ARGUMENT)?;
        c.soc_id = Some(soc);
        Ok(FWCALL_OK)
    })
}

/// Serves PSCI at `version` (`FWCALL_PSCI_V0_2`, `_V1_0`, `_V1_1`) or not
/// at all (`FWCALL_PSCI_NONE`). `boot[0..boot_count]` are the vCPUs on at
/// VM start and after a system reset; with `boot_count` 0 (and `boot` then
/// allowed to be `NULL`) only vCPU 0 boots.
///
/// Errors: `FWCALL_E_NULL` (`boot` is `NULL` with a count),
/// `FWCALL_E_INVALID_ARGUMENT`, `FWCALL_E_NO_SUCH_VCPU` (a boot vCPU the
/// configuration does not have).
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration; `boot` is valid for reads
/// of `boot_count` `uint32_t`s when `boot_count` is not 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_psci(
    config: *mut fwcall_config,
    version: u32,
    boot: *const u32,
    boot_count: usize,
) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { cfg(config) }?;
        let v = match version {
            FWCALL_PSCI_NONE => {
                c.psci = None;
                return Ok(FWCALL_OK);
            }
            FWCALL_PSCI_V0_2 => PsciVersion::V0_2,
            FWCALL_PSCI_V1_0 => PsciVersion::V1_0,
            FWCALL_PSCI_V1_1 => PsciVersion::V1_1,
            _ => return Err(FWCALL_E_INVALID_ARGUMENT),
        };
        let mut p = PsciConfig::new(v);
        if boot_count > 0 {
            if boot.is_null() {
                return Err(FWCALL_E_NULL);
            }
            // SAFETY: non-null, and the caller gives `boot_count` readable
            // u32s there.
            let boot = unsafe { core::slice::from_raw_parts(boot, boot_count) };
            if boot.iter().any(|v| *v as usize >= c.mpidrs.len()) {
                return Err(FWCALL_E_NO_SUCH_VCPU);
            }
            p.boot = boot.iter().map(|v| VcpuIndex(*v)).collect();
        }
        c.psci = Some(p);
        Ok(FWCALL_OK)
    })
}

/// Serves TRNG 1.0 (with fwcall's UUID) or not. The entropy comes from the
/// host's generator.
///
/// Errors: `FWCALL_E_NULL`.
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_set_trng(config: *mut fwcall_config, enabled: bool) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { cfg(config) }?.trng = enabled.then(TrngConfig::default);
        Ok(FWCALL_OK)
    })
}

/// Checks the whole configuration as `fwcall_vm_new` will, without
/// making a VM. On failure `fwcall_last_error` says what is wrong.
///
/// Errors: `FWCALL_E_NULL`, `FWCALL_E_CONFIG`.
///
/// Thread safety: one thread at a time per configuration.
///
/// # Safety
///
/// `config` is `NULL` or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fwcall_config_check(config: *const fwcall_config) -> i32 {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let c = unsafe { crate::input(config) }?;
        match fwcall::Vm::new(c.c.clone(), fwcall::NoMemory) {
            Ok(_) => Ok(FWCALL_OK),
            Err(e) => Err(fail(FWCALL_E_CONFIG, e)),
        }
    })
}
