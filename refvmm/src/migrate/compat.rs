//! Whether this destination may take a saved guest: fwcall's snapshot is
//! restored into what this VMM offers, and anything the guest saw that the
//! destination does not offer refuses the restore with one message that
//! names it, before any vCPU exists.

use fwcall::pvtime::vm_memory::VmMemory;
use fwcall::snapshot::{CompatError, RestoreError};
use fwcall::{CpuFeatures, Vm, VmConfig};
use vm_memory::GuestMemoryMmap;

use crate::firmware::{self, FwVm, INFO_SERVICE_BIT, Offer};

/// A destination refusing a guest: one line saying what is missing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl Refusal {
    /// "the destination offers less than the guest saw: `what`", with a
    /// hint at the option that takes it away.
    pub fn offers_less(what: impl std::fmt::Display, hint: Option<&str>) -> Self {
        let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
        Refusal(format!(
            "the destination offers less than the guest saw: {what}{hint}"
        ))
    }
}

/// The option of this VMM that removes what `e` names, if any.
fn hint(e: &CompatError) -> Option<&'static str> {
    Some(match e {
        CompatError::SdeiVersion { .. } => {
            "start the destination without --sdei-version, or with the guest's version"
        }
        CompatError::SdeiMissing { .. } => "start the destination without --no-sdei",
        CompatError::PvTimeOff => "start the destination without --no-pvtime",
        CompatError::PsciMissing { .. } => "start the destination with --psci fwcall",
        CompatError::TrngMissing => "start the destination with --trng fwcall",
        CompatError::Feature { name, .. } => match *name {
            "SDEI" => "start the destination without --no-sdei",
            "PV_TIME" => "start the destination without --no-pvtime",
            "PSCI" => "start the destination with --psci fwcall",
            "TRNG" => "start the destination with --trng fwcall",
            _ => return None,
        },
        _ => return None,
    })
}

/// The fwcall configuration a destination offering `offer` starts with,
/// for the saved vCPUs and RAM.
pub fn destination_config(
    offer: &Offer,
    mpidrs: &[u64],
    ram_size: u64,
    cpu: CpuFeatures,
) -> VmConfig {
    let mut config = firmware::config_offering(mpidrs, ram_size, offer);
    if let Some(s) = config.sdei.as_mut() {
        s.cpu_features = cpu;
    }
    config
}

/// Restores fwcall's snapshot `blob` into what `offer` can serve, over the
/// PV-time mapping, and adds the VMM's services back. The server is not
/// started: the caller loads the PV-time region first.
///
/// Refuses (with one line) a guest that saw an SDEI version, PV time, LPT
/// or a VMM service the destination does not offer, and a snapshot that is
/// not valid.
pub fn restore_fwcall(
    offer: &Offer,
    mpidrs: &[u64],
    ram_size: u64,
    cpu: CpuFeatures,
    pvtime: GuestMemoryMmap,
    blob: &[u8],
) -> Result<FwVm, Refusal> {
    let config = destination_config(offer, mpidrs, ram_size, cpu);
    let mut vm = Vm::restore(config, VmMemory(pvtime), blob).map_err(|e| match e {
        RestoreError::Incompatible(c) => Refusal::offers_less(&c, hint(&c)),
        other => Refusal(format!("fwcall's snapshot cannot be restored: {other}")),
    })?;
    firmware::add_services(&mut vm, offer)
        .map_err(|e| Refusal(format!("cannot add the VMM's services back: {e}")))?;
    let unserved = vm.unserved_vendor_features().bits();
    if unserved != 0 {
        let bit = unserved.trailing_zeros();
        let name = if bit == INFO_SERVICE_BIT {
            "the refvmm-info VMM service"
        } else {
            "a VMM service"
        };
        return Err(Refusal::offers_less(
            format!("feature VENDOR_HYP_BMAP bit {bit} ({name}) not served by the destination"),
            (bit == INFO_SERVICE_BIT).then_some("start the destination without --no-vmm-service"),
        ));
    }
    Ok(vm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::GuestMem;
    use fwcall::sdei::SdeiVersion;
    use fwcall::{Call, VcpuIndex, ids};

    const MPIDRS: [u64; 2] = [0x8000_0000, 0x8000_0001];
    const RAM: u64 = 16 << 20;

    /// A guest that ran on a source offering `offer` and made its boot
    /// calls (so its ABI is frozen), saved.
    fn saved_guest(offer: &Offer) -> Vec<u8> {
        let mem = GuestMem::new(RAM).unwrap();
        let vm = firmware::build_offering(
            firmware::config_offering(&MPIDRS, RAM, offer),
            mem.pvtime.clone(),
            offer,
        )
        .unwrap();
        let v0 = vm.vcpu(VcpuIndex(0)).unwrap();
        v0.handle(&Call::new(ids::SDEI_VERSION, &[]));
        v0.handle(&Call::new(
            ids::PV_TIME_FEATURES,
            &[u64::from(ids::PV_TIME_ST.raw())],
        ));
        vm.snapshot().unwrap()
    }

    fn restore(dest: &Offer, blob: &[u8]) -> Result<FwVm, Refusal> {
        let mem = GuestMem::new(RAM).unwrap();
        restore_fwcall(
            dest,
            &MPIDRS,
            RAM,
            CpuFeatures::default(),
            mem.pvtime.clone(),
            blob,
        )
    }

    #[test]
    fn a_destination_offering_the_same_takes_the_guest_with_its_service() {
        let blob = saved_guest(&Offer::default());
        let vm = restore(&Offer::default(), &blob).unwrap();
        vm.start().unwrap();
        let out = vm.vcpu(VcpuIndex(1)).unwrap().handle(&Call::new(
            fwcall::FunctionId(firmware::INFO_SERVICE_FID),
            &[],
        ));
        assert_eq!(out.reply, fwcall::Reply::x0(firmware::INFO_SERVICE_VERSION));
        firmware::LAST_RESUME.set(5, 9);
        let out = vm.vcpu(VcpuIndex(0)).unwrap().handle(&Call::new(
            fwcall::FunctionId(firmware::INFO_RESUME_FID),
            &[],
        ));
        assert_eq!(out.reply, fwcall::Reply::x0_3([0, 5, 9, 0]));
    }

    #[test]
    fn each_thing_a_destination_lacks_is_refused_by_name() {
        let blob = saved_guest(&Offer::default());
        let cases = [
            (
                Offer {
                    sdei: Some(SdeiVersion::V1_0),
                    ..Offer::default()
                },
                "the destination offers less than the guest saw: snapshot exposes SDEI 1.1, destination serves SDEI up to 1.0 (start the destination without --sdei-version, or with the guest's version)",
            ),
            (
                Offer {
                    sdei: None,
                    ..Offer::default()
                },
                "the destination offers less than the guest saw: feature STD_BMAP bit 0 (SDEI) not served by the destination (start the destination without --no-sdei)",
            ),
            (
                Offer {
                    pvtime: false,
                    ..Offer::default()
                },
                "the destination offers less than the guest saw: feature STD_HYP_BMAP bit 0 (PV_TIME) not served by the destination (start the destination without --no-pvtime)",
            ),
            (
                Offer {
                    vmm_service: false,
                    ..Offer::default()
                },
                "the destination offers less than the guest saw: feature VENDOR_HYP_BMAP bit 0 (the refvmm-info VMM service) not served by the destination (start the destination without --no-vmm-service)",
            ),
        ];
        for (dest, message) in cases {
            assert_eq!(restore(&dest, &blob).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn a_destination_may_offer_more_than_the_guest_saw() {
        let old = Offer {
            sdei: Some(SdeiVersion::V1_0),
            pvtime: false,
            vmm_service: false,
            psci: false,
            trng: false,
        };
        let vm = restore(&Offer::default(), &saved_guest(&old)).unwrap();
        // The guest keeps the ABI it saw: SDEI 1.0, no PV time, no service.
        let v = vm.vcpu(VcpuIndex(0)).unwrap();
        let version = v.handle(&Call::new(ids::SDEI_VERSION, &[]));
        assert_eq!(
            version.reply,
            fwcall::Reply::x0(SdeiVersion::V1_0.to_word())
        );
        let st = v.handle(&Call::new(
            ids::PV_TIME_FEATURES,
            &[u64::from(ids::PV_TIME_ST.raw())],
        ));
        assert_eq!(st.reply, fwcall::Reply::NOT_SUPPORTED);
        assert_eq!(vm.features().vendor_hyp.bits(), 0);
    }

    #[test]
    fn a_damaged_snapshot_is_refused_not_a_panic() {
        let mut blob = saved_guest(&Offer::default());
        let last = blob.len() - 1;
        blob[last] ^= 0xff;
        let e = restore(&Offer::default(), &blob).unwrap_err();
        assert!(
            e.0.starts_with("fwcall's snapshot cannot be restored: "),
            "{e}"
        );
        assert!(restore(&Offer::default(), b"").is_err());
    }
}
