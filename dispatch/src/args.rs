//! How many argument registers a call reads: the routing of
//! [`Vm::handle`](crate::Vcpu::handle), asked before the call is made, so
//! that a VMM whose register reads are syscalls (KVM) reads no more than
//! the function takes.

use fwcall_pvtime::GuestMemoryAccess;
use fwcall_smccc::{FunctionId, Owner, budget};

use crate::features::{StdFeatures, StdHypFeatures};
use crate::vm::{PSCI_FIRST, PSCI_LAST, SDEI_FIRST, SDEI_LAST, TRNG_FIRST, TRNG_LAST, Vm};

impl<M: GuestMemoryAccess> Vm<M> {
    /// How many argument registers (`X1..Xn`) a call with function ID
    /// `fid` (as the guest passed it in `W0`) reads on this VM: its
    /// [`budget`] row for a function the VM serves under its configuration
    /// and feature words, what a VMM [`Service`](crate::Service) declares
    /// for its range, and 0 for anything answered `NOT_SUPPORTED`
    /// (unknown, malformed, refused or switched-off IDs). Never more than
    /// the SMCCC version allows.
    ///
    /// A VMM that reads only `X1..Xn` into the [`Call`](crate::Call) (the
    /// rest zero) gets exactly the outcome it would get from all of them.
    ///
    /// ```
    /// use fwcall::{Vm, VmConfig, NoMemory, FeatureRegister, ids};
    ///
    /// let vm = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    /// assert_eq!(vm.argument_registers(ids::SDEI_EVENT_REGISTER), 5);
    /// assert_eq!(vm.argument_registers(ids::SDEI_PE_MASK), 0);
    /// vm.set_features(FeatureRegister::Std, 0).unwrap(); // SDEI off
    /// assert_eq!(vm.argument_registers(ids::SDEI_EVENT_REGISTER), 0);
    ///
    /// // PSCI and TRNG count once configured (and while their bits are set).
    /// let mut config = VmConfig::new(2);
    /// config.psci = Some(fwcall::PsciConfig::default());
    /// config.trng = Some(fwcall::TrngConfig::default());
    /// let vm = Vm::new(config, NoMemory).unwrap();
    /// assert_eq!(vm.argument_registers(ids::PSCI_CPU_ON_64), 3);
    /// assert_eq!(vm.argument_registers(ids::TRNG_RND64), 1);
    /// assert_eq!(vm.argument_registers(ids::PSCI_MIGRATE), 0); // NOT_SUPPORTED
    /// ```
    pub fn argument_registers(&self, fid: FunctionId) -> usize {
        let version = self.arch.version;
        if !fid.is_well_formed(version) {
            return 0;
        }
        let fid = fid.for_lookup(version);
        let table = || budget::lookup(fid).map_or(0, |b| b.args);
        let n = match fid.owner() {
            Owner::Arch => self.arch.argument_registers(fid),
            Owner::StandardSecure if (SDEI_FIRST..=SDEI_LAST).contains(&fid.number()) => {
                let on = self.sdei.is_some() && self.features.std().contains(StdFeatures::SDEI);
                if on { table() } else { 0 }
            }
            Owner::StandardSecure if (PSCI_FIRST..=PSCI_LAST).contains(&fid.number()) => {
                // Unimplemented at the served version: NOT_SUPPORTED, no arguments.
                match self.psci_served() {
                    Some(p) if p.implements(fid) => table(),
                    Some(_) => 0,
                    // A VMM may serve PSCI itself when fwcall does not.
                    None if self.psci.is_none() => self.vmm_service_arguments(fid),
                    None => 0,
                }
            }
            Owner::StandardSecure if (TRNG_FIRST..=TRNG_LAST).contains(&fid.number()) => {
                match &self.trng {
                    Some(_) if self.features.std().contains(StdFeatures::TRNG) => table(),
                    Some(_) => 0,
                    None => self.vmm_service_arguments(fid),
                }
            }
            Owner::StandardHypervisor => {
                let on = self.features.std_hyp().contains(StdHypFeatures::PV_TIME);
                if on { table() } else { 0 }
            }
            _ => self.vmm_service_arguments(fid),
        };
        usize::from(n.min(version.max_arguments()))
    }

    /// What a VMM [`Service`](crate::Service) declares for `fid`, 0 if none covers it.
    fn vmm_service_arguments(&self, fid: FunctionId) -> u8 {
        self.service_for(fid)
            .map_or(0, |r| r.service.argument_registers(fid))
    }
}
