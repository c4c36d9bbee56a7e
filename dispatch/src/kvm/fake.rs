//! A vCPU that behaves like KVM/arm64 where it matters to fwcall, for tests
//! and documentation on any host.
//!
//! * **Deferred MMIO completion.** An MMIO exit is finished inside the
//!   *next* `KVM_RUN`, before `immediate_exit` is looked at: a load's value
//!   goes into its target register and the PC steps past the access
//!   (Linux `kvm_arch_vcpu_ioctl_run` → `kvm_handle_mmio_return`).
//! * **`immediate_exit`.** A `KVM_RUN` with it set completes what is owed
//!   and returns `EINTR` without entering the guest.
//! * **Signals.** A kick is a signal whose handler sets `immediate_exit`;
//!   one that lands while the guest runs makes `KVM_RUN` return `EINTR`.
//!   [`Points`] numbers every moment a signal can land (before each
//!   register access, before `immediate_exit` is written, before `KVM_RUN`
//!   looks at it, inside the guest, and any point the test adds), so a
//!   test can land a kick at each one in turn.
//! * **Hypercalls.** `HVC` exits with the PC already past the instruction.
//! * **Power.** A vCPU created powered off ([`FakeVcpu::powered_off`], as
//!   `KVM_ARM_VCPU_POWER_OFF`) or set `KVM_MP_STATE_STOPPED` does not enter
//!   the guest: `KVM_RUN` reports [`FakeExit::Stopped`] (a real one would
//!   wait for a power-on that, with PSCI in userspace, nobody sends).
//!
//! The guest is a script of [`GuestOp`]s, one per entry into the guest;
//! with the script empty the guest spins until kicked, which the fake
//! reports as [`FakeExit::Spinning`] (a real `KVM_RUN` would block there).

use std::boxed::Box;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::vec::Vec;

use core::convert::Infallible;

use fwcall_smccc::FunctionId;

use super::exit::HypercallExit;
use super::power::MpState;
use super::regs::{Reg, RegisterFile, VcpuRegisters};
use super::run::{Exit, RunVcpu};

/// What the guest does the next time it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestOp {
    /// A load of `len` bytes (1..=8) from MMIO address `addr` into `Xrt`,
    /// at the current PC.
    Load {
        /// The device address.
        addr: u64,
        /// The target register.
        rt: u8,
        /// Access size in bytes.
        len: u8,
    },
    /// A store of the low `len` bytes of `Xrt` to MMIO address `addr`.
    Store {
        /// The device address.
        addr: u64,
        /// The source register.
        rt: u8,
        /// Access size in bytes.
        len: u8,
    },
    /// `HVC #0` with `X0` = `fid` and `X1..` = `args`, at the current PC.
    Hvc {
        /// The function ID.
        fid: FunctionId,
        /// `X1..` (the other registers keep their values).
        args: Vec<u64>,
    },
    /// A system event (`KVM_EXIT_SYSTEM_EVENT` of this kind).
    SystemEvent(u32),
}

impl GuestOp {
    /// `HVC #0` calling `fid` with `args`.
    pub fn hvc(fid: FunctionId, args: &[u64]) -> Self {
        GuestOp::Hvc {
            fid,
            args: args.to_vec(),
        }
    }
}

/// The exits of the fake that are not the loop's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeExit {
    /// The guest script is done: the guest would now run until kicked, and
    /// a real `KVM_RUN` would block.
    Spinning,
    /// `KVM_RUN` on a stopped (powered-off) vCPU: a real one would wait.
    Stopped,
}

struct Shared<'k> {
    /// `kvm_run.immediate_exit`, written by the thread and by the signal
    /// handler.
    immediate_exit: bool,
    /// Points passed so far.
    count: usize,
    /// The point at which the kick lands, and what the kicker does first
    /// (raise an event, ask for a pause, ...).
    kick: Option<(usize, Box<dyn FnMut() + 'k>)>,
    /// The point at which the kick landed.
    landed: Option<usize>,
}

/// The interleaving points of one fake vCPU thread, shared with the test
/// (clone it before the fake moves into a runner).
#[derive(Clone)]
pub struct Points<'k>(Rc<RefCell<Shared<'k>>>);

impl core::fmt::Debug for Points<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.0.borrow();
        f.debug_struct("Points")
            .field("count", &s.count)
            .field("immediate_exit", &s.immediate_exit)
            .field("landed", &s.landed)
            .finish_non_exhaustive()
    }
}

impl<'k> Points<'k> {
    /// Lands a kick at point `n`: `kicker` runs (as the other thread does
    /// its work, then signals), then the signal handler sets
    /// `immediate_exit`.
    pub fn kick_at(&self, n: usize, kicker: impl FnMut() + 'k) {
        let mut s = self.0.borrow_mut();
        s.kick = Some((n, Box::new(kicker)));
        s.landed = None;
    }

    /// A point where a signal may land; the fake calls it before each of
    /// its operations, a test adds its own (in a steal sampler, say).
    pub fn point(&self) {
        let fire = {
            let mut s = self.0.borrow_mut();
            let here = s.count;
            s.count += 1;
            match s.kick.take() {
                Some((n, kicker)) if n == here => {
                    s.landed = Some(here);
                    Some(kicker)
                }
                other => {
                    s.kick = other;
                    None
                }
            }
        };
        if let Some(mut kicker) = fire {
            kicker();
            // The signal handler, on this thread.
            self.0.borrow_mut().immediate_exit = true;
        }
    }

    /// Points passed so far.
    pub fn count(&self) -> usize {
        self.0.borrow().count
    }

    /// Where the kick landed, once it did.
    pub fn landed(&self) -> Option<usize> {
        self.0.borrow().landed
    }

    /// `kvm_run.immediate_exit` now.
    pub fn immediate_exit(&self) -> bool {
        self.0.borrow().immediate_exit
    }

    /// A kick now, from another thread: the handler sets `immediate_exit`.
    pub fn kick(&self) {
        self.0.borrow_mut().immediate_exit = true;
    }
}

#[derive(Clone, Copy, Debug)]
struct PendingMmio {
    load: bool,
    rt: u8,
    len: u8,
}

/// The fake vCPU. See the [module](self).
pub struct FakeVcpu<'k> {
    /// Its registers (counting every access).
    pub regs: RegisterFile,
    /// What the guest does on each entry, in order.
    pub guest: VecDeque<GuestOp>,
    /// The PC at each entry into the guest, in order.
    pub entries: Vec<u64>,
    /// `KVM_RUN` calls so far.
    pub runs: u32,
    /// Its MP state.
    pub mp_state: MpState,
    /// Every `KVM_SET_MP_STATE`, in order.
    pub mp_sets: Vec<MpState>,
    mmio: Option<PendingMmio>,
    data: [u8; 8],
    points: Points<'k>,
}

impl core::fmt::Debug for FakeVcpu<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FakeVcpu")
            .field("pc", &self.regs.pc)
            .field("guest", &self.guest)
            .field("entries", &self.entries)
            .field("mmio", &self.mmio)
            .field("points", &self.points)
            .finish_non_exhaustive()
    }
}

impl<'k> FakeVcpu<'k> {
    /// A vCPU with these registers whose guest does `guest`, then spins.
    pub fn new(regs: RegisterFile, guest: impl IntoIterator<Item = GuestOp>) -> Self {
        FakeVcpu {
            regs,
            guest: guest.into_iter().collect(),
            entries: Vec::new(),
            runs: 0,
            mp_state: MpState::Runnable,
            mp_sets: Vec::new(),
            mmio: None,
            data: [0; 8],
            points: Points(Rc::new(RefCell::new(Shared {
                immediate_exit: false,
                count: 0,
                kick: None,
                landed: None,
            }))),
        }
    }

    /// A vCPU created with `KVM_ARM_VCPU_POWER_OFF`: stopped until
    /// `KVM_SET_MP_STATE(RUNNABLE)`.
    pub fn powered_off(regs: RegisterFile, guest: impl IntoIterator<Item = GuestOp>) -> Self {
        let mut f = Self::new(regs, guest);
        f.mp_state = MpState::Stopped;
        f
    }

    /// The interleaving points (a handle that stays valid after the fake
    /// moved into a runner).
    pub fn points(&self) -> Points<'k> {
        self.points.clone()
    }

    /// Whether KVM still owes this vCPU an MMIO completion.
    pub fn owes_mmio(&self) -> bool {
        self.mmio.is_some()
    }

    fn step_pc(&mut self) {
        self.regs.pc = self.regs.pc.wrapping_add(4);
    }

    fn x(&mut self, rt: u8) -> &mut u64 {
        &mut self.regs.x[usize::from(rt).min(30)]
    }
}

impl VcpuRegisters for FakeVcpu<'_> {
    type Error = Infallible;

    fn get(&mut self, reg: Reg) -> Result<u64, Infallible> {
        self.points.point();
        self.regs.get(reg)
    }

    fn set(&mut self, reg: Reg, value: u64) -> Result<(), Infallible> {
        self.points.point();
        self.regs.set(reg, value)
    }
}

impl RunVcpu for FakeVcpu<'_> {
    type Other<'a>
        = FakeExit
    where
        Self: 'a;

    fn set_immediate_exit(&mut self, on: bool) {
        self.points.point();
        self.points.0.borrow_mut().immediate_exit = on;
    }

    fn set_mp_state(&mut self, state: MpState) -> Result<(), Infallible> {
        self.points.point();
        self.mp_state = state;
        self.mp_sets.push(state);
        Ok(())
    }

    fn run(&mut self) -> Result<Exit<'_, FakeExit>, Infallible> {
        self.runs += 1;
        // A signal may land after the ioctl started, before KVM reads
        // immediate_exit (it is then pending: EINTR all the same).
        self.points.point();
        // kvm_handle_mmio_return: before immediate_exit is looked at.
        if let Some(m) = self.mmio.take() {
            if m.load {
                let n = usize::from(m.len).clamp(1, 8);
                let mut bytes = [0u8; 8];
                bytes[..n].copy_from_slice(&self.data[..n]);
                *self.x(m.rt) = u64::from_le_bytes(bytes);
            }
            self.step_pc();
        }
        if self.points.immediate_exit() {
            return Ok(Exit::Interrupted);
        }
        if self.mp_state == MpState::Stopped {
            return Ok(Exit::Other(FakeExit::Stopped));
        }
        self.entries.push(self.regs.pc);
        // A signal while the guest runs.
        self.points.point();
        if self.points.immediate_exit() {
            return Ok(Exit::Interrupted);
        }
        let Some(op) = self.guest.pop_front() else {
            return Ok(Exit::Other(FakeExit::Spinning));
        };
        Ok(match op {
            GuestOp::Load { addr, rt, len } => {
                let len = len.clamp(1, 8);
                self.mmio = Some(PendingMmio {
                    load: true,
                    rt,
                    len,
                });
                self.data = [0; 8];
                Exit::MmioRead {
                    addr,
                    data: &mut self.data[..usize::from(len)],
                }
            }
            GuestOp::Store { addr, rt, len } => {
                let len = len.clamp(1, 8);
                self.mmio = Some(PendingMmio {
                    load: false,
                    rt,
                    len,
                });
                self.data = self.x(rt).to_le_bytes();
                Exit::MmioWrite {
                    addr,
                    data: &self.data[..usize::from(len)],
                }
            }
            GuestOp::Hvc { fid, args } => {
                self.regs.x[0] = u64::from(fid.raw());
                for (slot, a) in self.regs.x[1..].iter_mut().zip(&args) {
                    *slot = *a;
                }
                // HVC: the exception return address is already past it.
                self.step_pc();
                Exit::Hypercall(HypercallExit {
                    nr: u64::from(fid.raw()),
                    flags: 0,
                })
            }
            GuestOp::SystemEvent(kind) => Exit::SystemEvent { kind, data: &[] },
        })
    }
}
