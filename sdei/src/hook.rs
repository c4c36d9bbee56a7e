//! The VMM's side of interrupt binding.

use fwcall_smccc::VcpuIndex;

/// Told when a guest interrupt bound with `SDEI_INTERRUPT_BIND` becomes an
/// SDEI trigger and when it goes back to being an ordinary interrupt.
///
/// Between `divert` and `give_back` the VMM must not inject the interrupt
/// into the guest's GIC; it reports it with [`crate::Sdei::irq`] instead.
/// The server calls the hook after releasing its locks, so the hook may
/// call back into the server.
pub trait InterruptHook: Send + Sync {
    /// `intid` now triggers an SDEI event: on REGISTER of a bound event, and
    /// on `ROUTING_SET` of one. `target` is the vCPU it concerns: the
    /// registering vCPU for a PPI, the `RM_PE` target for an SPI, or
    /// `None` for an `RM_ANY` SPI.
    fn divert(&self, intid: u32, target: Option<VcpuIndex>);

    /// `intid` is an ordinary interrupt again (UNREGISTER, resets).
    fn give_back(&self, intid: u32);

    /// Like [`InterruptHook::give_back`], naming the vCPU for a PPI (a
    /// private binding is given back per vCPU). Defaults to `give_back`.
    fn give_back_on(&self, intid: u32, vcpu: Option<VcpuIndex>) {
        let _ = vcpu;
        self.give_back(intid);
    }
}

/// A hook call recorded under a lock and made after it is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HookCall {
    Divert(u32, Option<VcpuIndex>),
    GiveBack(u32, Option<VcpuIndex>),
}

/// At most one call per event of one kind per operation (64 each).
pub(crate) type HookLog = heapless::Vec<HookCall, 64>;
