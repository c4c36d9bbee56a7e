//! A parsed trace: the `vm` line and the directives after it.

use crate::config::{Setting, VmSpec};
use crate::pattern::Pattern;
use crate::value::Value;
use crate::vcpu::Reg;
use fwcall_smccc::Conduit;

/// A whole trace, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The file name used in messages.
    pub file: String,
    /// The `vm` line's number.
    pub vm_line: usize,
    /// The VM the `vm` and `event` lines describe.
    pub spec: VmSpec,
    /// Whether the `vm` line ends in `-> error`.
    pub vm_expects_error: bool,
    /// Every other directive, in order (`event` lines are folded into `spec`).
    pub lines: Vec<Line>,
}

/// One directive with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// The directive's text without its comment, for `--verbose`.
    pub text: String,
    /// What it says.
    pub directive: Directive,
}

/// Access width of a `mem` directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
}

impl Width {
    /// Size in bytes.
    pub fn bytes(self) -> usize {
        match self {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
            Width::U64 => 8,
        }
    }

    /// Size in bits.
    pub fn bits(self) -> u32 {
        self.bytes() as u32 * 8
    }
}

/// What a call asked the VMM to do with the whole VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemRequest {
    /// `SYSTEM_OFF`.
    Off,
    /// `SYSTEM_RESET` or `SYSTEM_RESET2`.
    Reset,
}

impl std::fmt::Display for SystemRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SystemRequest::Off => "off",
            SystemRequest::Reset => "reset",
        })
    }
}

/// Which vCPU a `delivered` directive checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveredOn {
    /// A named vCPU.
    Vcpu(Value),
    /// Exactly one vCPU, whichever it was.
    Any,
}

/// One directive after `vm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Directive {
    /// `set VCPU REG=VALUE ...`.
    Set {
        /// The vCPU.
        vcpu: Value,
        /// Registers and values, applied left to right.
        regs: Vec<(Reg, Value)>,
    },
    /// `call`/`smc VCPU FUNC [ARG ...] [-> PAT ...]`.
    Call {
        /// HVC (`call`) or SMC (`smc`).
        conduit: Conduit,
        /// The calling vCPU.
        vcpu: Value,
        /// x0.
        func: Value,
        /// x1, x2, ...
        args: Vec<Value>,
        /// Patterns for x0, x1, ...
        pats: Vec<Pattern>,
    },
    /// `expect VCPU REG=PAT ... [power=on|off]`.
    Expect {
        /// The vCPU.
        vcpu: Value,
        /// Registers and patterns.
        checks: Vec<(Reg, Pattern)>,
        /// The power state to check, if given (v1.1).
        power: Option<bool>,
    },
    /// `system off|reset|none` (v1.1).
    System {
        /// What the last action directive must have asked of the VMM.
        want: Option<SystemRequest>,
    },
    /// `vm-reset` (v1.1).
    VmReset,
    /// `delivered VCPU|any EVENT|none`.
    Delivered {
        /// Which vCPU.
        on: DeliveredOn,
        /// The event, or `None` for `none`.
        event: Option<Value>,
    },
    /// `irq INTID [VCPU]`.
    Irq {
        /// The INTID.
        intid: Value,
        /// The target vCPU (PPIs).
        vcpu: Option<Value>,
    },
    /// `raise EVENT [VCPU]`.
    Raise {
        /// The event.
        event: Value,
        /// The target vCPU (private events).
        vcpu: Option<Value>,
    },
    /// `vcpu-reset VCPU`.
    VcpuReset {
        /// The vCPU.
        vcpu: Value,
    },
    /// `steal VCPU NS`.
    Steal {
        /// The vCPU.
        vcpu: Value,
        /// Nanoseconds.
        ns: Value,
    },
    /// `mem ADDR WIDTH = VALUE`.
    MemWrite {
        /// Address.
        addr: Value,
        /// Width.
        width: Width,
        /// Value.
        value: Value,
    },
    /// `mem ADDR WIDTH == PAT`.
    MemCheck {
        /// Address.
        addr: Value,
        /// Width.
        width: Width,
        /// Pattern.
        pat: Pattern,
    },
    /// `snapshot NAME`.
    Snapshot {
        /// The name.
        name: String,
    },
    /// `restore NAME [KEY=VALUE ...] [-> ok|error]`.
    Restore {
        /// The snapshot's name.
        name: String,
        /// Keys overriding the `vm` line.
        overrides: Vec<Setting>,
        /// Whether the restore is expected to succeed.
        expect_ok: bool,
    },
}
