//! A tiny VMM: simulated vCPU registers, calls applied as a VMM would,
//! deliveries taken before every "resume".

use std::vec::Vec;

use fwcall_smccc::{Call, FunctionId, Mpidr, Reply, VcpuIndex};

use crate::{EventDecl, EventKind, Interrupted, Priority, Sdei, SdeiConfig};

pub const REGISTER: u32 = 0xC400_0021;
pub const ENABLE: u32 = 0xC400_0022;
pub const DISABLE: u32 = 0xC400_0023;
pub const CONTEXT: u32 = 0xC400_0024;
pub const COMPLETE: u32 = 0xC400_0025;
pub const RESUME: u32 = 0xC400_0026;
pub const UNREGISTER: u32 = 0xC400_0027;
pub const STATUS: u32 = 0xC400_0028;
pub const GET_INFO: u32 = 0xC400_0029;
pub const ROUTING_SET: u32 = 0xC400_002A;
pub const PE_MASK: u32 = 0xC400_002B;
pub const PE_UNMASK: u32 = 0xC400_002C;
pub const BIND: u32 = 0xC400_002D;
pub const RELEASE: u32 = 0xC400_002E;
pub const SIGNAL: u32 = 0xC400_002F;
pub const FEATURES: u32 = 0xC400_0030;
pub const PRIVATE_RESET: u32 = 0xC400_0031;
pub const SHARED_RESET: u32 = 0xC400_0032;
pub const VERSION: u32 = 0xC400_0020;

pub const OK: u64 = 0;
pub const NOT_SUPPORTED: u64 = -1i64 as u64;
pub const INVALID: u64 = -2i64 as u64;
pub const DENIED: u64 = -3i64 as u64;
pub const PENDING: u64 = -5i64 as u64;
pub const OUT_OF_RESOURCE: u64 = -10i64 as u64;

pub const ENTRY: u64 = 0xffff_8000_1000_0000;
pub const ENTRY2: u64 = 0xffff_8000_1000_8000;
pub const SPAN: u64 = 1 << 23;

/// Platform events used by the tests.
pub const EV_PRIV_NORMAL: u32 = 0x10;
pub const EV_PRIV_CRIT: u32 = 0x11;
pub const EV_SHARED_NORMAL: u32 = 0x20;
pub const EV_SHARED_CRIT: u32 = 0x21;
pub const SLOT_PRIVATE0: u32 = 0x4000_0000;
pub const SLOT_SHARED0: u32 = 0x4001_0000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub x: [u64; 31],
    pub pc: u64,
    pub pstate: u64,
    pub elr: u64,
    pub spsr: u64,
    pub sctlr: u64,
}

pub struct Sim {
    pub sdei: Sdei,
    pub regs: Vec<Regs>,
    /// What the last step delivered, per vCPU.
    pub delivered: Vec<Option<u32>>,
}

pub fn platform_events() -> Vec<EventDecl> {
    use EventKind::*;
    use Priority::*;
    [
        (EV_PRIV_NORMAL, Private, Normal),
        (EV_PRIV_CRIT, Private, Critical),
        (EV_SHARED_NORMAL, Shared, Normal),
        (EV_SHARED_CRIT, Shared, Critical),
    ]
    .into_iter()
    .map(|(number, kind, priority)| EventDecl {
        number,
        kind,
        priority,
    })
    .collect()
}

pub fn mpidr(i: u32) -> u64 {
    Mpidr::kvm_default(i).0
}

impl Sim {
    pub fn new(n: u32) -> Self {
        let config = SdeiConfig {
            events: platform_events(),
            ..SdeiConfig::default()
        };
        Self::with_config(n, &config)
    }

    pub fn with_config(n: u32, config: &SdeiConfig) -> Self {
        let mpidrs: Vec<Mpidr> = (0..n).map(Mpidr::kvm_default).collect();
        let sdei = Sdei::new(config, &mpidrs).expect("valid config");
        Self::from_sdei(sdei)
    }

    pub fn from_sdei(sdei: Sdei) -> Self {
        let n = sdei.vcpu_count();
        let regs = (0..n)
            .map(|i| Regs {
                pc: 0x4000_0000 + 0x100 * i as u64,
                pstate: 0x3c5,
                sctlr: SPAN,
                ..Regs::default()
            })
            .collect();
        Sim {
            sdei,
            regs,
            delivered: std::vec![None; n],
        }
    }

    /// `HVC #0` on `v` with `x0 = fid` and `x1.. = args`; returns x0 after
    /// the outcome is applied (and any delivery made).
    pub fn call(&mut self, v: u32, fid: u32, args: &[u64]) -> u64 {
        let vi = v as usize;
        self.regs[vi].x[0] = fid as u64;
        for (i, a) in args.iter().enumerate() {
            self.regs[vi].x[i + 1] = *a;
        }
        let mut call = Call::new(FunctionId(fid), &[]);
        call.x.copy_from_slice(&self.regs[vi].x[..18]);
        let out = self.sdei.call(VcpuIndex(v), &call);
        let r = &mut self.regs[vi];
        match out.reply {
            Reply::Return { regs, count } => {
                let n = count as usize;
                r.x[..n].copy_from_slice(&regs[..n]);
            }
            Reply::Restore(ctx) => {
                r.x[..18].copy_from_slice(&ctx.x);
                r.pc = ctx.pc;
                r.pstate = ctx.pstate;
                if let Some(el1) = ctx.el1 {
                    r.elr = el1.elr;
                    r.spsr = el1.spsr;
                }
            }
            Reply::Nothing => {}
        }
        let x0 = self.regs[vi].x[0];
        self.settle(v, out.kicks);
        x0
    }

    /// The replayer's delivery step: the concerned vCPU, then kicked ones.
    pub fn settle(&mut self, v: u32, kicks: fwcall_smccc::Kicks) {
        for d in self.delivered.iter_mut() {
            *d = None;
        }
        let mut todo: Vec<u32> = std::vec![v];
        let n = self.regs.len() as u32;
        for k in 0..n {
            if kicks.contains(VcpuIndex(k)) && k != v {
                todo.push(k);
            }
        }
        let mut i = 0;
        while i < todo.len() {
            let w = todo[i];
            i += 1;
            if let Some(more) = self.deliver(w) {
                for k in 0..n {
                    if more.contains(VcpuIndex(k)) && !todo[i..].contains(&k) {
                        todo.push(k);
                    }
                }
            }
        }
    }

    fn deliver(&mut self, v: u32) -> Option<fwcall_smccc::Kicks> {
        let r = &mut self.regs[v as usize];
        let mut x = [0; 18];
        x.copy_from_slice(&r.x[..18]);
        let now = Interrupted {
            x,
            pc: r.pc,
            pstate: r.pstate,
            sctlr_el1: r.sctlr,
        };
        let d = self.sdei.take_delivery(VcpuIndex(v), &now)?;
        assert_ne!(
            self.sdei.is_powered_off(VcpuIndex(v)),
            Some(true),
            "delivery to a powered-off vCPU"
        );
        r.x[..4].copy_from_slice(&d.x);
        r.pc = d.pc;
        r.pstate = d.pstate;
        self.delivered[v as usize] = Some(d.event);
        Some(d.kicks)
    }

    pub fn raise(&mut self, event: u32, v: Option<u32>) {
        let kicks = self.sdei.raise(event, v.map(VcpuIndex)).expect("raisable");
        self.settle(v.unwrap_or(0), kicks);
    }

    pub fn irq(&mut self, intid: u32, v: Option<u32>) -> bool {
        match self.sdei.irq(intid, v.map(VcpuIndex)) {
            crate::IrqOutcome::NotBound => {
                self.settle(v.unwrap_or(0), fwcall_smccc::Kicks::none());
                false
            }
            crate::IrqOutcome::Sdei(k) => {
                self.settle(v.unwrap_or(0), k);
                true
            }
        }
    }

    pub fn reset(&mut self, v: u32) {
        let k = self.sdei.reset_vcpu(VcpuIndex(v));
        self.settle(v, k);
    }

    /// `CPU_OFF` on `v` (SDEI's part).
    pub fn power_off(&mut self, v: u32) {
        let k = self.sdei.power_off(VcpuIndex(v));
        self.settle(v, k);
    }

    /// `CPU_ON` of `v` (SDEI's part).
    pub fn power_on(&mut self, v: u32) {
        let k = self.sdei.power_on(VcpuIndex(v));
        self.settle(v, k);
    }

    /// Registers, enables and (for private events) unmasks on `v`.
    pub fn ready(&mut self, v: u32, event: u32, entry: u64, arg: u64) {
        assert_eq!(
            self.call(v, REGISTER, &[event as u64, entry, arg, 0, 0]),
            OK
        );
        assert_eq!(self.call(v, ENABLE, &[event as u64]), OK);
    }

    pub fn unmask(&mut self, v: u32) {
        assert_eq!(self.call(v, PE_UNMASK, &[]), OK);
    }

    pub fn status(&mut self, v: u32, event: u32) -> u64 {
        self.call(v, STATUS, &[event as u64])
    }

    /// The delivered event of the last step on `v`.
    pub fn got(&self, v: u32) -> Option<u32> {
        self.delivered[v as usize]
    }

    /// The one vCPU that got something in the last step.
    pub fn got_any(&self) -> Vec<(u32, u32)> {
        self.delivered
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.map(|e| (i as u32, e)))
            .collect()
    }

    /// Asserts the server state survives a snapshot round trip.
    pub fn check_invariants(&self, config: &SdeiConfig) {
        let n = self.regs.len() as u32;
        let mpidrs: Vec<Mpidr> = (0..n).map(Mpidr::kvm_default).collect();
        let st = self.sdei.state();
        let off: Vec<bool> = (0..n)
            .map(|v| self.sdei.is_powered_off(VcpuIndex(v)) == Some(true))
            .collect();
        let back =
            Sdei::restore_with_power(config, &mpidrs, &st, &off).expect("own state restores");
        assert_eq!(back.state(), st);
        for v in 0..n {
            let v = VcpuIndex(v);
            assert_eq!(back.is_powered_off(v), self.sdei.is_powered_off(v));
        }
    }
}

pub fn test_config() -> SdeiConfig {
    SdeiConfig {
        events: platform_events(),
        ..SdeiConfig::default()
    }
}
