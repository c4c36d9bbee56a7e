//! The plain-data structures and constants the header declares, and their
//! conversions from fwcall's Rust values. Every field is a fixed-width
//! integer: nothing a C caller writes can be an invalid Rust value.

use fwcall::{Delivery, Kicks, Outcome, PowerAction, Reply, ResetKind};

/// Number of argument registers a call carries: `X0..X17`.
pub const FWCALL_CALL_REGS: u32 = 18;
/// Most vCPUs a `fwcall_kicks` names one by one; more become "all".
pub const FWCALL_KICKS_INLINE: u32 = 4;
/// "No vCPU" where a vCPU index is optional (`fwcall_vm_raise`).
pub const FWCALL_NO_VCPU: u32 = u32::MAX;

/// The guest entered with `HVC #0`.
pub const FWCALL_CONDUIT_HVC: u32 = 0;
/// The guest entered with `SMC #0` (trapped by the hypervisor).
pub const FWCALL_CONDUIT_SMC: u32 = 1;

/// `fwcall_outcome::reply`: write `x[0..count]`, nothing else (the PC was
/// already moved past the `HVC`/`SMC` by the hypervisor).
pub const FWCALL_REPLY_RETURN: u32 = 0;
/// `fwcall_outcome::reply`: replace the context (an SDEI completion):
/// write `x[0..18]`, `pc` and `pstate`, and `elr_el1`/`spsr_el1` when
/// `has_el1` is 1. Never move the PC afterwards.
pub const FWCALL_REPLY_RESTORE: u32 = 1;
/// `fwcall_outcome::reply`: write nothing.
pub const FWCALL_REPLY_NOTHING: u32 = 2;

/// `fwcall_power::action`: no power action.
pub const FWCALL_POWER_NONE: u32 = 0;
/// `CPU_ON` succeeded: start vCPU `target` with `PC = entry`,
/// `X0 = context_id`, `X1..X30 = 0`, and kick it.
pub const FWCALL_POWER_CPU_ON: u32 = 1;
/// `CPU_OFF`: park the calling vCPU until a `CPU_ON` names it.
pub const FWCALL_POWER_CPU_OFF: u32 = 2;
/// `CPU_SUSPEND`: the caller may idle as with `WFI` (or simply resume).
pub const FWCALL_POWER_STANDBY: u32 = 3;
/// `SYSTEM_OFF`: end the VM.
pub const FWCALL_POWER_SYSTEM_OFF: u32 = 4;
/// `SYSTEM_RESET`: cold-reset the VM (then `fwcall_vm_reset`).
pub const FWCALL_POWER_SYSTEM_RESET: u32 = 5;
/// `SYSTEM_RESET2` warm reset; `cookie` is the guest's argument.
pub const FWCALL_POWER_SYSTEM_WARM_RESET: u32 = 6;

/// The vCPUs to kick out of the guest so they pick up work.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fwcall_kicks {
    /// 1: kick every vCPU (then `count` is 0); 0: only `vcpus[0..count]`.
    pub all: u32,
    /// How many entries of `vcpus` are valid, 0..=4.
    pub count: u32,
    /// vCPU indices.
    pub vcpus: [u32; 4],
}

impl From<&Kicks> for fwcall_kicks {
    #[inline(always)]
    fn from(k: &Kicks) -> Self {
        let mut out = fwcall_kicks {
            all: u32::from(k.all()),
            ..Default::default()
        };
        for (slot, v) in out.vcpus.iter_mut().zip(k.ids()) {
            *slot = v.0;
            out.count += 1;
        }
        out
    }
}

/// A power or system action to apply after the reply (PSCI).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fwcall_power {
    /// A `FWCALL_POWER_*` value.
    pub action: u32,
    /// `FWCALL_POWER_CPU_ON`: the vCPU to start.
    pub target: u32,
    /// `FWCALL_POWER_CPU_ON`: its first `PC`.
    pub entry: u64,
    /// `FWCALL_POWER_CPU_ON`: its `X0`.
    pub context_id: u64,
    /// `FWCALL_POWER_SYSTEM_WARM_RESET`: the guest's cookie.
    pub cookie: u64,
}

impl From<Option<PowerAction>> for fwcall_power {
    #[inline(always)]
    fn from(p: Option<PowerAction>) -> Self {
        let action = |action| fwcall_power {
            action,
            ..Default::default()
        };
        match p {
            None => action(FWCALL_POWER_NONE),
            Some(PowerAction::CpuOn(s)) => fwcall_power {
                action: FWCALL_POWER_CPU_ON,
                target: s.target.0,
                entry: s.entry,
                context_id: s.context_id,
                cookie: 0,
            },
            Some(PowerAction::CpuOff) => action(FWCALL_POWER_CPU_OFF),
            Some(PowerAction::Standby) => action(FWCALL_POWER_STANDBY),
            Some(PowerAction::SystemOff) => action(FWCALL_POWER_SYSTEM_OFF),
            Some(PowerAction::SystemReset(ResetKind::Cold)) => action(FWCALL_POWER_SYSTEM_RESET),
            Some(PowerAction::SystemReset(ResetKind::Warm { cookie })) => fwcall_power {
                cookie,
                ..action(FWCALL_POWER_SYSTEM_WARM_RESET)
            },
        }
    }
}

/// What to do after a call (`fwcall_vcpu_handle`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fwcall_outcome {
    /// `FWCALL_REPLY_RETURN`, `FWCALL_REPLY_RESTORE` or `FWCALL_REPLY_NOTHING`.
    pub reply: u32,
    /// How many of `x` to write from `X0` on: 1..=18 for a return, 18 for
    /// a restore, 0 for nothing. Registers past `count` keep their values.
    pub count: u32,
    /// The values of `X0..X17` to write (entries past `count` are 0).
    pub x: [u64; 18],
    /// `FWCALL_REPLY_RESTORE`: the `PC` to write (else 0).
    pub pc: u64,
    /// `FWCALL_REPLY_RESTORE`: the `PSTATE` to write, SPSR format (else 0).
    pub pstate: u64,
    /// 1 when `elr_el1` and `spsr_el1` must be written too
    /// (`COMPLETE_AND_RESUME`), else 0.
    pub has_el1: u32,
    /// Always 0.
    pub reserved: u32,
    /// `ELR_EL1` to write when `has_el1` is 1.
    pub elr_el1: u64,
    /// `SPSR_EL1` to write when `has_el1` is 1.
    pub spsr_el1: u64,
    /// Other vCPUs to kick.
    pub kicks: fwcall_kicks,
    /// A power action to apply after the reply.
    pub power: fwcall_power,
}

impl From<&Outcome> for fwcall_outcome {
    #[inline(always)]
    fn from(o: &Outcome) -> Self {
        let mut out = fwcall_outcome {
            reply: FWCALL_REPLY_NOTHING,
            count: 0,
            x: [0; 18],
            pc: 0,
            pstate: 0,
            has_el1: 0,
            reserved: 0,
            elr_el1: 0,
            spsr_el1: 0,
            kicks: (&o.kicks).into(),
            power: o.power.into(),
        };
        match &o.reply {
            Reply::Return { regs, count } => {
                let n = usize::from(*count).min(regs.len());
                out.reply = FWCALL_REPLY_RETURN;
                out.count = n as u32;
                out.x[..n].copy_from_slice(&regs[..n]);
            }
            Reply::Restore(ctx) => {
                out.reply = FWCALL_REPLY_RESTORE;
                out.count = 18;
                out.x = ctx.x;
                out.pc = ctx.pc;
                out.pstate = ctx.pstate;
                if let Some(el1) = ctx.el1 {
                    out.has_el1 = 1;
                    out.elr_el1 = el1.elr;
                    out.spsr_el1 = el1.spsr;
                }
            }
            Reply::Nothing => {}
        }
        out
    }
}

impl fwcall_outcome {
    /// Writes `o` into `*out` field by field, without building the whole
    /// struct first and copying it (the copy cost more than a fast call).
    ///
    /// # Safety
    ///
    /// `out` is non-null, aligned and valid for writes of a
    /// `fwcall_outcome`; it may be uninitialised.
    #[inline(always)]
    pub(crate) unsafe fn write(o: &Outcome, out: *mut fwcall_outcome) {
        use core::ptr::addr_of_mut;
        let (reply, n, regs, ctx) = match &o.reply {
            Reply::Return { regs, count } => (
                FWCALL_REPLY_RETURN,
                usize::from(*count).min(regs.len()),
                Some(regs),
                None,
            ),
            Reply::Restore(ctx) => (FWCALL_REPLY_RESTORE, 18, Some(&ctx.x), Some(ctx)),
            Reply::Nothing => (FWCALL_REPLY_NOTHING, 0, None, None),
        };
        // SAFETY: every write stays inside `*out`, which the caller made
        // writable; `x` has 18 slots and `n <= 18`; raw writes never read
        // the (possibly uninitialised) old contents.
        unsafe {
            addr_of_mut!((*out).reply).write(reply);
            addr_of_mut!((*out).count).write(n as u32);
            // A fixed-length loop the compiler unrolls into register
            // stores: a variable-length copy became a libc call.
            let x = addr_of_mut!((*out).x).cast::<u64>();
            let zeros = [0u64; 18];
            let src = regs.unwrap_or(&zeros);
            for (i, v) in src.iter().enumerate() {
                x.add(i).write(if i < n { *v } else { 0 });
            }
            let (pc, pstate, el1) = ctx.map_or((0, 0, None), |c| (c.pc, c.pstate, c.el1));
            addr_of_mut!((*out).pc).write(pc);
            addr_of_mut!((*out).pstate).write(pstate);
            addr_of_mut!((*out).has_el1).write(u32::from(el1.is_some()));
            addr_of_mut!((*out).reserved).write(0);
            let el1 = el1.unwrap_or_default();
            addr_of_mut!((*out).elr_el1).write(el1.elr);
            addr_of_mut!((*out).spsr_el1).write(el1.spsr);
            addr_of_mut!((*out).kicks).write((&o.kicks).into());
            addr_of_mut!((*out).power).write(o.power.into());
        }
    }
}

/// The context a vCPU would resume with, handed to
/// `fwcall_vcpu_take_delivery`: `X0..X17`, `PC` and `PSTATE`
/// after any call result was applied, and `SCTLR_EL1`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fwcall_interrupted {
    /// `X0..X17`.
    pub x: [u64; 18],
    /// `PC`.
    pub pc: u64,
    /// `PSTATE`, SPSR format.
    pub pstate: u64,
    /// `SCTLR_EL1` (decides the handler-entry `PSTATE`).
    pub sctlr_el1: u64,
}

/// An SDEI handler entry to perform: write `X0..X3 = x`, `PC = pc`,
/// `PSTATE = pstate`, leave every other register alone, kick `kicks`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fwcall_delivery {
    /// The event entered.
    pub event: u32,
    /// Always 0.
    pub reserved: u32,
    /// `X0..X3`: event number, handler argument, interrupted `PC`,
    /// interrupted `PSTATE`.
    pub x: [u64; 4],
    /// The handler's entry point.
    pub pc: u64,
    /// The handler's `PSTATE` (`EL1h`, DAIF masked, ...).
    pub pstate: u64,
    /// Other vCPUs to kick.
    pub kicks: fwcall_kicks,
}

impl From<&Delivery> for fwcall_delivery {
    #[inline(always)]
    fn from(d: &Delivery) -> Self {
        fwcall_delivery {
            event: d.event,
            reserved: 0,
            x: d.x,
            pc: d.pc,
            pstate: d.pstate,
            kicks: (&d.kicks).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fwcall::{Context, CpuStart, El1Regs, VcpuIndex};

    #[test]
    fn kicks_keep_every_named_vcpu_or_say_all() {
        let mut k = Kicks::none();
        k.add(VcpuIndex(3));
        k.add(VcpuIndex(1));
        let c = fwcall_kicks::from(&k);
        assert_eq!((c.all, c.count, &c.vcpus[..2]), (0, 2, &[3, 1][..]));
        let c = fwcall_kicks::from(&Kicks::everyone());
        assert_eq!((c.all, c.count), (1, 0));
    }

    #[test]
    fn a_return_writes_only_its_count() {
        let o = Outcome::reply(Reply::x0_1([7, 9]));
        let c = fwcall_outcome::from(&o);
        assert_eq!((c.reply, c.count), (FWCALL_REPLY_RETURN, 2));
        assert_eq!(&c.x[..3], &[7, 9, 0]);
        assert_eq!(c.power.action, FWCALL_POWER_NONE);
    }

    #[test]
    fn a_restore_carries_pc_pstate_and_el1() {
        let mut x = [0; 18];
        x[17] = 5;
        let ctx = Context {
            x,
            pc: 0x1000,
            pstate: 0x3c5,
            el1: Some(El1Regs {
                elr: 0x20,
                spsr: 0x5,
            }),
        };
        let c = fwcall_outcome::from(&Outcome::reply(Reply::Restore(ctx)));
        assert_eq!((c.reply, c.count, c.x[17]), (FWCALL_REPLY_RESTORE, 18, 5));
        assert_eq!((c.pc, c.pstate, c.has_el1), (0x1000, 0x3c5, 1));
        assert_eq!((c.elr_el1, c.spsr_el1), (0x20, 0x5));
    }

    #[test]
    fn writing_in_place_equals_converting() {
        let mut x = [3; 18];
        x[0] = 1;
        let outcomes = [
            Outcome::reply(Reply::x0_3([1, 2, 3, 4])),
            Outcome::reply(Reply::Nothing),
            Outcome::reply(Reply::Restore(Context {
                x,
                pc: 9,
                pstate: 5,
                el1: None,
            })),
            Outcome::new(Reply::x0(0), Kicks::everyone()),
        ];
        for o in &outcomes {
            let mut out = core::mem::MaybeUninit::<fwcall_outcome>::uninit();
            // Poison the memory: every byte must be written.
            // SAFETY: writes within the local; then fully initialised by write().
            let written = unsafe {
                out.as_mut_ptr()
                    .cast::<u8>()
                    .write_bytes(0xA5, size_of::<fwcall_outcome>());
                fwcall_outcome::write(o, out.as_mut_ptr());
                out.assume_init()
            };
            assert_eq!(written, fwcall_outcome::from(o), "{o:?}");
        }
    }

    #[test]
    fn power_actions_map_one_to_one() {
        let start = CpuStart {
            target: VcpuIndex(2),
            entry: 0x4008_0000,
            context_id: 0x77,
        };
        let table = [
            (None, FWCALL_POWER_NONE),
            (Some(PowerAction::CpuOn(start)), FWCALL_POWER_CPU_ON),
            (Some(PowerAction::CpuOff), FWCALL_POWER_CPU_OFF),
            (Some(PowerAction::Standby), FWCALL_POWER_STANDBY),
            (Some(PowerAction::SystemOff), FWCALL_POWER_SYSTEM_OFF),
            (
                Some(PowerAction::SystemReset(ResetKind::Cold)),
                FWCALL_POWER_SYSTEM_RESET,
            ),
            (
                Some(PowerAction::SystemReset(ResetKind::Warm { cookie: 9 })),
                FWCALL_POWER_SYSTEM_WARM_RESET,
            ),
        ];
        for (action, code) in table {
            assert_eq!(fwcall_power::from(action).action, code, "{action:?}");
        }
        let on = fwcall_power::from(Some(PowerAction::CpuOn(start)));
        assert_eq!((on.target, on.entry, on.context_id), (2, 0x4008_0000, 0x77));
        let warm = fwcall_power::from(Some(PowerAction::SystemReset(ResetKind::Warm {
            cookie: 9,
        })));
        assert_eq!(warm.cookie, 9);
    }
}
