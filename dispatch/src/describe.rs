//! What a VM serves, as its firmware description must state it. Shared by
//! the device-tree and ACPI helpers so the two can never disagree with each
//! other or with the dispatcher.

use fwcall_sdei::EventDecl;

use crate::features::StdFeatures;
use crate::{GuestMemoryAccess, Vm};

/// The SDEI platform events the guest can be told about, or `None` when the
/// VM does not serve SDEI: not configured, or switched off in the feature
/// words in force (a snapshot's, after a restore).
pub(crate) fn sdei_events<M: GuestMemoryAccess>(vm: &Vm<M>) -> Option<&[EventDecl]> {
    let config = vm.config().sdei.as_ref()?;
    vm.features()
        .std
        .contains(StdFeatures::SDEI)
        .then_some(config.events.as_slice())
}
