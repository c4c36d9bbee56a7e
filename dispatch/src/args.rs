//! How many argument registers a call reads: the routing of
//! [`Vm::handle`](crate::Vcpu::handle), asked before the call is made, so
//! that a VMM whose register reads are syscalls (KVM) reads no more than
//! the function takes.

use fwcall_pvtime::GuestMemoryAccess;
use fwcall_smccc::{FunctionId, Owner, budget};

use crate::features::{StdFeatures, StdHypFeatures};
use crate::vm::{SDEI_FIRST, SDEI_LAST, Vm};

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
            Owner::StandardHypervisor => {
                let on = self.features.std_hyp().contains(StdHypFeatures::PV_TIME);
                if on { table() } else { 0 }
            }
            _ => self
                .service_for(fid)
                .map_or(0, |r| r.service.argument_registers(fid)),
        };
        usize::from(n.min(version.max_arguments()))
    }
}
