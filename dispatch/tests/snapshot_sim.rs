//! A small simulated VMM shared by the snapshot tests (included with
//! `#[path]`; as a test target of its own it has nothing to run).
#![allow(dead_code)]

use fwcall::pvtime::AtomicMemory;
use fwcall::{
    Call, FunctionId, Gpa, Interrupted, MemoryRegion, Outcome, Reply, VcpuIndex, Vm, VmConfig,
};

/// The region the PV-time structures live in.
pub const RESERVED: MemoryRegion = MemoryRegion {
    base: Gpa(0x0a10_0000),
    size: 0x1_0000,
};
/// The stolen-time table.
pub const TABLE: Gpa = Gpa(0x0a10_0000);
/// The LPT structure.
pub const LPT: Gpa = Gpa(0x0a10_f000);

/// One vCPU's registers, as a VMM keeps them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regs {
    pub x: [u64; 31],
    pub pc: u64,
    pub pstate: u64,
    pub elr: u64,
    pub spsr: u64,
    pub sctlr: u64,
}

impl Regs {
    pub fn new(i: u32) -> Self {
        Regs {
            x: [0; 31],
            pc: 0xffff_8000_0800_0000 + u64::from(i) * 0x1000,
            pstate: 0x3c5,
            elr: 0,
            spsr: 0,
            sctlr: 0x0080_0000,
        }
    }
}

/// What one step observably did: the call's outcome and the events entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub outcome: Option<Outcome>,
    pub entered: Vec<(u32, u32)>,
}

/// A VM and the registers of its vCPUs.
#[derive(Debug)]
pub struct Sim {
    pub vm: Vm<AtomicMemory>,
    pub regs: Vec<Regs>,
}

/// A configuration with every service on: two private platform events
/// (one critical), two shared ones (one critical), PV time and LPT.
pub fn rich_config(vcpus: u32) -> VmConfig {
    use fwcall::{EventDecl, EventKind, LptConfig, Priority};
    let mut c = VmConfig::new(vcpus);
    c.ram = vec![MemoryRegion {
        base: Gpa(0x4000_0000),
        size: 0x1000_0000,
    }];
    c.reserved = vec![RESERVED];
    c.pvtime.stolen_time_base = Some(TABLE);
    c.pvtime.native_hz = 25_000_000;
    c.pvtime.lpt = Some(LptConfig {
        ipa: LPT,
        pv_hz: 1_000_000_000,
    });
    let sdei = c.sdei.as_mut().unwrap();
    let ev = |number, kind, priority| EventDecl {
        number,
        kind,
        priority,
    };
    sdei.events = vec![
        ev(0x100, EventKind::Private, Priority::Normal),
        ev(0x101, EventKind::Private, Priority::Critical),
        ev(0x200, EventKind::Shared, Priority::Normal),
        ev(0x201, EventKind::Shared, Priority::Critical),
    ];
    c
}

impl Sim {
    pub fn new(config: VmConfig) -> Self {
        let mem = AtomicMemory::new(&config.reserved);
        let n = config.vcpu_count() as u32;
        let vm = Vm::new(config, mem).unwrap();
        vm.start().unwrap();
        Sim {
            vm,
            regs: (0..n).map(Regs::new).collect(),
        }
    }

    /// Restores `blob` into a VM built from `config`, with a copy of this
    /// simulation's memory and registers (they belong to the VMM).
    pub fn restored(&self, config: VmConfig, blob: &[u8]) -> Result<Sim, fwcall::RestoreError> {
        let mem = AtomicMemory::new(&config.reserved);
        copy_memory(self.vm.memory(), &mem, &config.reserved);
        let vm = Vm::restore(config, mem, blob)?;
        vm.start().unwrap();
        Ok(Sim {
            vm,
            regs: self.regs.clone(),
        })
    }

    fn interrupted(&self, v: usize) -> Interrupted {
        let r = &self.regs[v];
        let mut x = [0; 18];
        x.copy_from_slice(&r.x[..18]);
        Interrupted {
            x,
            pc: r.pc,
            pstate: r.pstate,
            sctlr_el1: r.sctlr,
        }
    }

    /// The delivery step of a VMM: `first`, then every vCPU (a superset of
    /// the kicked ones; asking an idle vCPU is harmless).
    pub fn deliver(&mut self, first: usize) -> Vec<(u32, u32)> {
        let mut entered = Vec::new();
        let n = self.regs.len();
        for v in core::iter::once(first).chain(0..n) {
            let vcpu = self.vm.vcpu(VcpuIndex(v as u32)).unwrap();
            if !vcpu.has_pending_delivery() {
                continue;
            }
            let now = self.interrupted(v);
            if let Some(d) = vcpu.take_delivery(&now) {
                let r = &mut self.regs[v];
                r.x[..4].copy_from_slice(&d.x);
                r.pc = d.pc;
                r.pstate = d.pstate;
                entered.push((v as u32, d.event));
            }
        }
        entered
    }

    /// The guest on `v` calls `fid` with `args`; the VMM applies the
    /// outcome and runs its delivery step.
    pub fn call(&mut self, v: usize, fid: FunctionId, args: &[u64]) -> Step {
        let r = &mut self.regs[v];
        r.x[0] = u64::from(fid.raw());
        for (i, a) in args.iter().enumerate() {
            r.x[i + 1] = *a;
        }
        let mut call = Call::new(fid, &[]);
        call.x.copy_from_slice(&r.x[..18]);
        let out = self.vm.vcpu(VcpuIndex(v as u32)).unwrap().handle(&call);
        let mut regs = call.x;
        if let Some(ctx) = out.reply.apply_x(&mut regs) {
            r.pc = ctx.pc;
            r.pstate = ctx.pstate;
            if let Some(el1) = ctx.el1 {
                r.elr = el1.elr;
                r.spsr = el1.spsr;
            }
        }
        r.x[..18].copy_from_slice(&regs);
        let entered = self.deliver(v);
        Step {
            outcome: Some(out),
            entered,
        }
    }

    /// `X0` of a plain reply.
    pub fn x0(&mut self, v: usize, fid: FunctionId, args: &[u64]) -> u64 {
        match self.call(v, fid, args).outcome.unwrap().reply {
            Reply::Return { regs, .. } => regs[0],
            other => panic!("{fid} gave {other:?}"),
        }
    }

    pub fn raise(&mut self, event: u32, v: Option<u32>) -> Step {
        let ok = self.vm.raise(event, v.map(VcpuIndex)).is_ok();
        let entered = self.deliver(v.unwrap_or(0) as usize);
        Step {
            outcome: ok.then(|| Outcome::reply(Reply::x0(0))),
            entered,
        }
    }

    pub fn irq(&mut self, intid: u32, v: Option<u32>) -> Step {
        let out = self.vm.irq(intid, v.map(VcpuIndex));
        let bound = matches!(out, fwcall::IrqOutcome::Sdei(_));
        let entered = self.deliver(v.unwrap_or(0) as usize);
        Step {
            outcome: bound.then(|| Outcome::reply(Reply::x0(1))),
            entered,
        }
    }

    pub fn reset(&mut self, v: usize) -> Step {
        self.vm.vcpu(VcpuIndex(v as u32)).unwrap().reset();
        self.regs[v] = Regs::new(v as u32);
        Step {
            outcome: None,
            entered: self.deliver(v),
        }
    }

    pub fn steal(&mut self, v: usize, ns: u64) -> Step {
        let total = self
            .vm
            .vcpu(VcpuIndex(v as u32))
            .unwrap()
            .account_steal(ns)
            .unwrap();
        Step {
            outcome: Some(Outcome::reply(Reply::x0(total))),
            entered: Vec::new(),
        }
    }

    /// The reserved region's bytes.
    pub fn memory_bytes(&self) -> Vec<u8> {
        let mut b = vec![0; RESERVED.size as usize];
        fwcall::GuestMemoryAccess::read_bytes(self.vm.memory(), RESERVED.base, &mut b).unwrap();
        b
    }
}

pub fn copy_memory(from: &AtomicMemory, to: &AtomicMemory, regions: &[MemoryRegion]) {
    use fwcall::GuestMemoryAccess;
    for r in regions {
        let mut b = vec![0; r.size as usize];
        if from.read_bytes(r.base, &mut b).is_ok() {
            to.write_bytes(r.base, &b).unwrap();
        }
    }
}

/// A busy VM: registered events everywhere, a bound interrupt, a shared
/// event pending, stolen time, and on vCPU 1 a critical handler running
/// over a normal one.
pub fn busy_sim() -> Sim {
    use fwcall::ids::*;
    let mut s = Sim::new(rich_config(3));
    let entry = |e: u64| 0xffff_8000_1000_0000 + e * 0x100;
    for v in 0..3 {
        for e in [0u64, 0x100, 0x101] {
            assert_eq!(
                s.x0(v, SDEI_EVENT_REGISTER, &[e, entry(e), 0xa0 + e, 0, 0]),
                0
            );
            assert_eq!(s.x0(v, SDEI_EVENT_ENABLE, &[e]), 0);
        }
        s.x0(v, PV_TIME_ST, &[]);
    }
    assert_eq!(
        s.x0(0, SDEI_EVENT_REGISTER, &[0x200, entry(0x200), 0x22, 0, 0]),
        0
    );
    assert_eq!(s.x0(0, SDEI_EVENT_ENABLE, &[0x200]), 0);
    assert_eq!(
        s.x0(
            0,
            SDEI_EVENT_REGISTER,
            &[0x201, entry(0x201), 0x23, 1, 0x8000_0002]
        ),
        0
    );
    let bound = s.x0(0, SDEI_INTERRUPT_BIND, &[40]);
    assert_eq!(
        s.x0(0, SDEI_EVENT_REGISTER, &[bound, entry(7), 0x24, 0, 0]),
        0
    );
    assert_eq!(s.x0(0, PV_TIME_LPT, &[]), LPT.0);
    s.steal(0, 1000);
    s.steal(2, 77);
    // vCPU 1: unmask, enter event 0x100 (normal), then 0x101 (critical) over it.
    s.call(1, SDEI_PE_UNMASK, &[]);
    assert_eq!(s.raise(0x100, Some(1)).entered, vec![(1, 0x100)]);
    s.regs[1].x[5] = 0x5555; // the normal handler's own work
    assert_eq!(s.raise(0x101, Some(1)).entered, vec![(1, 0x101)]);
    // Shared 0x200 raised while every vCPU but 1 is masked: it waits.
    s.raise(0x200, None);
    // Event 0 pending on masked vCPU 2.
    s.call(0, SDEI_EVENT_SIGNAL, &[0, 0x8000_0002]);
    s
}
