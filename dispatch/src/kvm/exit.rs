//! From a hypercall exit to a [`Call`], from an [`Outcome`] or a
//! [`Delivery`] back to registers.

use fwcall_pvtime::GuestMemoryAccess;
use fwcall_sdei::{CpuFeatures, Delivery, Interrupted};
use fwcall_smccc::{CALL_REGS, Call, Conduit, FunctionId, Kicks, Outcome, Reply, VcpuIndex};

use super::abi;
use super::regs::{Reg, VcpuRegisters};
use crate::{Vcpu, VcpuError, Vm};

/// A `KVM_EXIT_HYPERCALL` as KVM reports it in `kvm_run.hypercall`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HypercallExit {
    /// The SMCCC function ID (`W0`).
    pub nr: u64,
    /// `KVM_HYPERCALL_EXIT_SMC` | `KVM_HYPERCALL_EXIT_16BIT`.
    pub flags: u64,
}

impl HypercallExit {
    /// The conduit the guest used.
    pub const fn conduit(&self) -> Conduit {
        if self.flags & abi::HYPERCALL_EXIT_SMC != 0 {
            Conduit::Smc
        } else {
            Conduit::Hvc
        }
    }

    /// Whether the trapping instruction was 16-bit (T32 code in `AArch32` state).
    pub const fn is_16bit(&self) -> bool {
        self.flags & abi::HYPERCALL_EXIT_16BIT != 0
    }

    /// The function ID.
    pub const fn fid(&self) -> FunctionId {
        FunctionId::from_register(self.nr)
    }
}

#[cfg(target_arch = "aarch64")]
impl From<&kvm_ioctls::HypercallExit<'_>> for HypercallExit {
    /// kvm-ioctls exposes the low 32 bits of the flags word as `longmode`;
    /// both flags live there.
    fn from(e: &kvm_ioctls::HypercallExit<'_>) -> Self {
        HypercallExit {
            nr: e.nr,
            flags: u64::from(e.longmode),
        }
    }
}

/// A register access that failed, naming the register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} {reg} of the calling vCPU: {source}", if *.write { "write" } else { "read" })]
pub struct RegisterError<E> {
    /// The register.
    pub reg: Reg,
    /// Whether it was a write.
    pub write: bool,
    /// What the register access reported.
    #[source]
    pub source: E,
}

pub(crate) fn get<R: VcpuRegisters>(
    regs: &mut R,
    reg: Reg,
) -> Result<u64, RegisterError<R::Error>> {
    regs.get(reg).map_err(|source| RegisterError {
        reg,
        write: false,
        source,
    })
}

pub(crate) fn set<R: VcpuRegisters>(
    regs: &mut R,
    reg: Reg,
    value: u64,
) -> Result<(), RegisterError<R::Error>> {
    regs.set(reg, value).map_err(|source| RegisterError {
        reg,
        write: true,
        source,
    })
}

/// What a hypercall exit asks of fwcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A call to serve.
    Call(Call),
    /// A call the adapter refuses without asking fwcall: a T32 (16-bit)
    /// `HVC`/`SMC` comes from an `AArch32` guest, and every service fwcall
    /// serves is AArch64-only. Apply the reply (`NOT_SUPPORTED`).
    Refused(Reply),
}

/// Decodes a hypercall exit: the function ID comes from the exit, the
/// arguments `X1..=X(args)` from the registers (the rest of `Call::x` is
/// zero). Ask the VM how many with [`Vm::argument_registers`]: reading more
/// costs a `KVM_GET_ONE_REG` each and changes nothing. The PC is not
/// touched: KVM has already moved it past the `HVC`/`SMC`.
pub fn decode<R: VcpuRegisters>(
    exit: HypercallExit,
    args: usize,
    regs: &mut R,
) -> Result<Decoded, RegisterError<R::Error>> {
    if exit.is_16bit() {
        return Ok(Decoded::Refused(Reply::NOT_SUPPORTED));
    }
    let mut x = [0u64; CALL_REGS];
    x[0] = u64::from(exit.fid().raw());
    for (n, slot) in x.iter_mut().enumerate().skip(1).take(args) {
        if let Some(reg) = Reg::x(n) {
            *slot = get(regs, reg)?;
        }
    }
    Ok(Decoded::Call(Call {
        x,
        conduit: exit.conduit(),
    }))
}

/// Writes a reply: `X0..X(n-1)` for a return; `X0..X17`, `PC`, `PSTATE`
/// (and `ELR_EL1`/`SPSR_EL1` when given) for a restore; nothing for
/// [`Reply::Nothing`]. A return never moves the PC.
pub fn apply_reply<R: VcpuRegisters>(
    reply: &Reply,
    regs: &mut R,
) -> Result<(), RegisterError<R::Error>> {
    for (n, value) in reply.written_x() {
        if let Some(reg) = Reg::x(n) {
            set(regs, reg, value)?;
        }
    }
    if let Reply::Restore(ctx) = reply {
        if let Some(el1) = ctx.el1 {
            set(regs, Reg::ElrEl1, el1.elr)?;
            set(regs, Reg::SpsrEl1, el1.spsr)?;
        }
        set(regs, Reg::Pc, ctx.pc)?;
        set(regs, Reg::Pstate, ctx.pstate)?;
    }
    Ok(())
}

/// Reads the context an SDEI event would interrupt (DEN0054 §12): `X0..X17`,
/// `PC` and `PSTATE`, and `SCTLR_EL1` only when `sctlr` (a guest CPU
/// feature makes the entry `PSTATE` depend on it); otherwise it reads as 0,
/// which nothing looks at.
pub(crate) fn read_interrupted<R: VcpuRegisters>(
    regs: &mut R,
    sctlr: bool,
) -> Result<Interrupted, RegisterError<R::Error>> {
    let mut x = [0u64; CALL_REGS];
    for (n, slot) in x.iter_mut().enumerate() {
        if let Some(reg) = Reg::x(n) {
            *slot = get(regs, reg)?;
        }
    }
    Ok(Interrupted {
        x,
        pc: get(regs, Reg::Pc)?,
        pstate: get(regs, Reg::Pstate)?,
        sctlr_el1: if sctlr { get(regs, Reg::SctlrEl1)? } else { 0 },
    })
}

/// Writes the entry into an SDEI handler: `X0..X3`, `PC` and `PSTATE`.
pub(crate) fn apply_delivery<R: VcpuRegisters>(
    delivery: &Delivery,
    regs: &mut R,
) -> Result<(), RegisterError<R::Error>> {
    for (n, value) in delivery.x.iter().enumerate() {
        if let Some(reg) = Reg::x(n) {
            set(regs, reg, *value)?;
        }
    }
    set(regs, Reg::Pc, delivery.pc)?;
    set(regs, Reg::Pstate, delivery.pstate)
}

/// One vCPU's side of the adapter: the fwcall [`Vcpu`] handle plus what the
/// adapter needs to know about the VM. Create one per vCPU thread and hand
/// it to the [`Runner`](super::Runner) steps.
///
/// ```
/// use fwcall::kvm::{HypercallExit, KvmVcpu, RegisterFile, vm_config};
/// use fwcall::{Vm, NoMemory, VcpuIndex, ids};
///
/// let vm = Vm::new(vm_config(1), NoMemory).unwrap();
/// let vcpu = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
/// let mut regs = RegisterFile { pc: 0x1004, ..Default::default() };
/// let exit = HypercallExit { nr: ids::SDEI_VERSION.raw().into(), flags: 0 };
/// vcpu.serve(exit, &mut regs).unwrap();
/// assert_eq!(regs.x[0] >> 48, 1); // SDEI 1.x
/// assert_eq!(regs.pc, 0x1004); // the PC is KVM's business
/// assert_eq!((regs.reads, regs.writes), (0, 1)); // SDEI_VERSION takes no argument
/// ```
#[derive(Debug)]
pub struct KvmVcpu<'vm, M> {
    vm: &'vm Vm<M>,
    vcpu: Vcpu<'vm, M>,
    sctlr: bool,
}

impl<M> Clone for KvmVcpu<'_, M> {
    fn clone(&self) -> Self {
        KvmVcpu {
            vm: self.vm,
            vcpu: self.vcpu,
            sctlr: self.sctlr,
        }
    }
}

impl<'vm, M: GuestMemoryAccess> KvmVcpu<'vm, M> {
    /// The adapter for vCPU `index` of `vm`.
    pub fn new(vm: &'vm Vm<M>, index: VcpuIndex) -> Result<Self, VcpuError> {
        // SCTLR_EL1 decides the entry PSTATE only through PAN, SSBS and NMI.
        let sctlr = vm.config().sdei.as_ref().is_some_and(|s| {
            s.cpu_features
                .intersects(CpuFeatures::PAN | CpuFeatures::SSBS | CpuFeatures::NMI)
        });
        Ok(KvmVcpu {
            vm,
            vcpu: vm.vcpu(index)?,
            sctlr,
        })
    }

    /// The fwcall handle (for `account_steal`, `reset`, ...).
    pub fn vcpu(&self) -> Vcpu<'vm, M> {
        self.vcpu
    }

    /// The VM.
    pub fn vm(&self) -> &'vm Vm<M> {
        self.vm
    }

    /// This vCPU's index.
    pub fn index(&self) -> VcpuIndex {
        self.vcpu.index()
    }

    /// Serves one hypercall exit end to end: decode (reading exactly the
    /// argument registers the function takes), [`Vcpu::handle`], apply
    /// (writing exactly the registers the reply defines). Returns the
    /// outcome (already applied) so the VMM can kick `outcome.kicks` and
    /// keep statistics.
    pub fn serve<R: VcpuRegisters>(
        &self,
        exit: HypercallExit,
        regs: &mut R,
    ) -> Result<Outcome, RegisterError<R::Error>> {
        let args = self.vm.argument_registers(exit.fid());
        let outcome = match decode(exit, args, regs)? {
            Decoded::Call(call) => self.vcpu.handle(&call),
            Decoded::Refused(reply) => Outcome::reply(reply),
        };
        apply_reply(&outcome.reply, regs)?;
        Ok(outcome)
    }

    /// Before the vCPU re-enters the guest: if an SDEI event is waiting,
    /// read the context it interrupts, let fwcall save it, and write the
    /// handler entry. Returns the delivery that was applied (its `kicks`
    /// are for the VMM), or `None`. Costs one atomic load when nothing is
    /// pending.
    ///
    /// Only the run loop calls it ([`Prepared::deliver`](super::Prepared::deliver)),
    /// after the last exit was completed and `immediate_exit` cleared: on
    /// a vCPU that still owes KVM a completion it would save a stale PC.
    pub(crate) fn deliver_pending<R: VcpuRegisters>(
        &self,
        regs: &mut R,
    ) -> Result<Option<Delivery>, RegisterError<R::Error>> {
        if !self.vcpu.has_pending_delivery() {
            return Ok(None);
        }
        let interrupted = read_interrupted(regs, self.sctlr)?;
        match self.vcpu.take_delivery(&interrupted) {
            Some(d) => {
                apply_delivery(&d, regs)?;
                Ok(Some(d))
            }
            None => Ok(None),
        }
    }
}

/// The vCPUs a VMM must kick for `kicks`, given that `me` is the vCPU whose
/// thread asks (it checks for a delivery before resuming anyway) and the VM
/// has `count` vCPUs.
pub fn kick_targets(
    kicks: &Kicks,
    me: Option<VcpuIndex>,
    count: usize,
) -> impl Iterator<Item = VcpuIndex> + '_ {
    let all = kicks.all();
    let n = u32::try_from(count).unwrap_or(u32::MAX);
    let listed = kicks.ids().iter().copied().filter(move |v| v.get() < count);
    let every = (0..if all { n } else { 0 }).map(VcpuIndex);
    every.chain(listed).filter(move |v| Some(*v) != me)
}
