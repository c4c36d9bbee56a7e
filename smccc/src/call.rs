//! A call as the VMM hands it over, and the outcome it gets back.
//!
//! The VMM reads `X0..X17` at the exit, builds a [`Call`], and applies the
//! [`Outcome`]: it writes exactly the registers the [`Reply`] names and kicks
//! the vCPUs in [`Kicks`]. Nothing is written behind its back.

use crate::{Convention, FunctionId, PowerAction};

/// Number of general-purpose registers a call may use: `X0..X17`.
pub const CALL_REGS: usize = 18;

/// How the guest entered the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Conduit {
    /// `HVC #0`.
    #[default]
    Hvc,
    /// `SMC #0`, trapped by the hypervisor.
    Smc,
}

/// The index of a vCPU in its VM, from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct VcpuIndex(pub u32);

impl VcpuIndex {
    /// As a `usize`, for indexing tables.
    pub const fn get(self) -> usize {
        self.0 as usize
    }
}

impl core::fmt::Display for VcpuIndex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "vcpu{}", self.0)
    }
}

/// The registers of one call: `X0` (the function ID in `W0`) to `X17`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Call {
    /// `X0..X17` as the guest left them.
    pub x: [u64; CALL_REGS],
    /// HVC or SMC.
    pub conduit: Conduit,
}

impl Call {
    /// A call with `X0 = fid` and `X1..` = `args` (the rest zero), over HVC.
    pub fn new(fid: FunctionId, args: &[u64]) -> Self {
        let mut x = [0; CALL_REGS];
        x[0] = fid.raw() as u64;
        for (slot, a) in x[1..].iter_mut().zip(args) {
            *slot = *a;
        }
        Call {
            x,
            conduit: Conduit::Hvc,
        }
    }

    /// The function ID (`W0`).
    pub const fn fid(&self) -> FunctionId {
        FunctionId::from_register(self.x[0])
    }

    /// Argument `n` (1..=17) as the function's convention sees it: SMC32
    /// calls see only the low 32 bits. Out-of-range `n` reads as 0.
    pub const fn arg(&self, n: usize) -> u64 {
        if n >= CALL_REGS {
            return 0;
        }
        match self.fid().convention() {
            Convention::Smc32 => self.x[n] as u32 as u64,
            Convention::Smc64 => self.x[n],
        }
    }
}

/// What to write into the calling vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A plain return: write `X0..X(n-1)` with `regs[..n]`, leave every
    /// other register (and the PC: the hypervisor already moved it) alone.
    Return {
        /// The values; only the first `count` are written.
        regs: [u64; CALL_REGS],
        /// How many registers to write, 1..=18.
        count: u8,
    },
    /// Replace the context (SDEI completion): write `X0..X17`, `PC` and
    /// `PSTATE`, and, when present, `ELR_EL1` and `SPSR_EL1`.
    Restore(Context),
    /// Write nothing (a call that does not return a value).
    Nothing,
}

impl Reply {
    /// Return one value in `X0`.
    #[inline(always)]
    pub const fn x0(v: u64) -> Self {
        let mut regs = [0; CALL_REGS];
        regs[0] = v;
        Reply::Return { regs, count: 1 }
    }

    /// Return a signed value in `X0` (sign-extended).
    #[inline(always)]
    pub const fn signed(v: i64) -> Self {
        Self::x0(v as u64)
    }

    /// Return `X0` and `X1` (a revision: major, minor).
    #[inline(always)]
    pub const fn x0_1(v: [u64; 2]) -> Self {
        let mut regs = [0; CALL_REGS];
        regs[0] = v[0];
        regs[1] = v[1];
        Reply::Return { regs, count: 2 }
    }

    /// Return `X0..X3`.
    #[inline(always)]
    pub const fn x0_3(v: [u64; 4]) -> Self {
        let mut regs = [0; CALL_REGS];
        regs[0] = v[0];
        regs[1] = v[1];
        regs[2] = v[2];
        regs[3] = v[3];
        Reply::Return { regs, count: 4 }
    }

    /// `NOT_SUPPORTED` in `X0`, nothing else changed.
    pub const NOT_SUPPORTED: Self = Self::signed(crate::error::NOT_SUPPORTED);

    /// Applies the SMC32 result rule: results are 32-bit, so each written
    /// register is zero-extended from its low 32 bits. SMC64 is unchanged.
    pub fn for_convention(self, convention: Convention) -> Self {
        match (self, convention) {
            (Reply::Return { mut regs, count }, Convention::Smc32) => {
                for r in regs.iter_mut() {
                    *r = *r as u32 as u64;
                }
                Reply::Return { regs, count }
            }
            (other, _) => other,
        }
    }

    /// The registers this reply writes, as `(index, value)`: handy for a
    /// VMM's apply loop and for tests. `Restore` yields `X0..X17` only.
    pub fn written_x(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let (regs, n): (&[u64; CALL_REGS], usize) = match self {
            Reply::Return { regs, count } => (regs, (*count as usize).min(CALL_REGS)),
            Reply::Restore(ctx) => (&ctx.x, CALL_REGS),
            Reply::Nothing => (&[0; CALL_REGS], 0),
        };
        regs.iter().copied().enumerate().take(n)
    }

    /// Applies the reply to a register file held as plain values: `x` is
    /// `X0..X17`. Returns the PC/PSTATE/EL1 writes for a `Restore`.
    pub fn apply_x(&self, x: &mut [u64; CALL_REGS]) -> Option<&Context> {
        for (i, v) in self.written_x() {
            x[i] = v;
        }
        match self {
            Reply::Restore(ctx) => Some(ctx),
            _ => None,
        }
    }
}

/// `ELR_EL1` and `SPSR_EL1` values to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct El1Regs {
    /// `ELR_EL1`.
    pub elr: u64,
    /// `SPSR_EL1`.
    pub spsr: u64,
}

/// A whole vCPU context as fwcall writes it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Context {
    /// `X0..X17`.
    pub x: [u64; CALL_REGS],
    /// `PC`.
    pub pc: u64,
    /// `PSTATE`, in SPSR format.
    pub pstate: u64,
    /// `ELR_EL1`/`SPSR_EL1` to write too (`COMPLETE_AND_RESUME` only).
    pub el1: Option<El1Regs>,
}

/// Maximum number of vCPUs one outcome names individually; more become "kick all".
pub const KICKS_INLINE: usize = 4;

/// The other vCPUs the VMM must kick out of the guest so that they pick up
/// a delivery (for a vCPU whose thread is running guest code right now).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Kicks {
    ids: heapless::Vec<VcpuIndex, KICKS_INLINE>,
    all: bool,
}

impl Kicks {
    /// No kicks.
    #[inline(always)]
    pub const fn none() -> Self {
        Kicks {
            ids: heapless::Vec::new(),
            all: false,
        }
    }

    /// Every vCPU: after a restore, say, when any of them may have work.
    pub const fn everyone() -> Self {
        Kicks {
            ids: heapless::Vec::new(),
            all: true,
        }
    }

    /// Adds a vCPU (deduplicated). Past [`KICKS_INLINE`] the set degrades
    /// to "kick all", which is always safe: a kicked vCPU with nothing to
    /// take simply re-enters the guest.
    pub fn add(&mut self, v: VcpuIndex) {
        if self.all || self.ids.contains(&v) {
            return;
        }
        if self.ids.push(v).is_err() {
            self.all = true;
            self.ids.clear();
        }
    }

    /// Merges another set into this one.
    pub fn extend(&mut self, other: &Kicks) {
        if other.all {
            self.all = true;
            self.ids.clear();
        } else {
            for v in &other.ids {
                self.add(*v);
            }
        }
    }

    /// Whether every vCPU must be kicked.
    pub const fn all(&self) -> bool {
        self.all
    }

    /// Whether nothing is to be kicked.
    pub fn is_empty(&self) -> bool {
        !self.all && self.ids.is_empty()
    }

    /// The vCPUs named individually (empty when [`Kicks::all`]).
    pub fn ids(&self) -> &[VcpuIndex] {
        &self.ids
    }

    /// Whether `v` must be kicked.
    pub fn contains(&self, v: VcpuIndex) -> bool {
        self.all || self.ids.contains(&v)
    }
}

/// Everything the VMM does after a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What to write into the calling vCPU.
    pub reply: Reply,
    /// Which vCPUs to kick (possibly including the caller: it needs no kick,
    /// as it asks for a delivery before resuming anyway).
    pub kicks: Kicks,
    /// A power or system action for the VMM to apply after the reply
    /// (PSCI): power a vCPU on or off, end or reset the VM. `None` for
    /// every other call.
    pub power: Option<PowerAction>,
}

impl Outcome {
    /// An outcome that writes `reply` and kicks `kicks`, with no power action.
    #[inline(always)]
    pub const fn new(reply: Reply, kicks: Kicks) -> Self {
        Outcome {
            reply,
            kicks,
            power: None,
        }
    }

    /// An outcome that writes `reply` and kicks nobody.
    #[inline(always)]
    pub const fn reply(reply: Reply) -> Self {
        Self::new(reply, Kicks::none())
    }

    /// `NOT_SUPPORTED` in `X0`, nothing else.
    #[inline(always)]
    pub const fn not_supported() -> Self {
        Self::reply(Reply::NOT_SUPPORTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smc32_arguments_ignore_upper_halves() {
        let c = Call::new(FunctionId(0x8000_0001), &[0xffff_ffff_8000_0000]);
        assert_eq!(c.arg(1), 0x8000_0000);
        let c = Call::new(FunctionId(0xC000_0002), &[0xffff_ffff_0000_0002]);
        assert_eq!(c.arg(1), 0xffff_ffff_0000_0002);
        assert_eq!(c.arg(18), 0);
    }

    #[test]
    fn smc32_results_are_zero_extended_32_bit() {
        let r = Reply::signed(-1).for_convention(Convention::Smc32);
        assert_eq!(
            r.written_x().collect::<heapless::Vec<_, 1>>()[..],
            [(0, 0xffff_ffff)]
        );
        let r = Reply::signed(-1).for_convention(Convention::Smc64);
        assert_eq!(r.written_x().next(), Some((0, u64::MAX)));
    }

    #[test]
    fn return_writes_only_count_registers() {
        let mut x = [7u64; CALL_REGS];
        Reply::x0(5).apply_x(&mut x);
        assert_eq!(x[0], 5);
        assert!(x[1..].iter().all(|v| *v == 7));
        Reply::Nothing.apply_x(&mut x);
        assert_eq!(x[0], 5);
    }

    #[test]
    fn kicks_deduplicate_and_degrade_to_all() {
        let mut k = Kicks::none();
        assert!(k.is_empty());
        k.add(VcpuIndex(1));
        k.add(VcpuIndex(1));
        assert_eq!(k.ids(), &[VcpuIndex(1)]);
        for i in 2..=KICKS_INLINE as u32 + 1 {
            k.add(VcpuIndex(i));
        }
        assert!(k.all());
        assert!(k.contains(VcpuIndex(99)));
    }
}
