//! A tiny simulated VMM around `fwcall::Vm`: registers per vCPU, guest
//! memory that records every write fwcall makes, and the exit loop's
//! bookkeeping (apply outcomes, ask for deliveries, follow kicks).

use std::sync::{Arc, Mutex};

use fwcall::{
    Call, Conduit, Delivery, Gpa, GuestMemoryAccess, Interrupted, Kicks, MemoryError, PowerAction,
    Reply, VcpuIndex, Vm,
};

use super::ops::{RAM, RESERVED, Setup};
use crate::config::MemRegion;
use crate::memory::SimMemory;

/// Guest memory that remembers writes outside the ranges fwcall may touch.
#[derive(Debug)]
pub struct WatchedMemory {
    inner: SimMemory,
    writable: Vec<(u64, u64)>,
    stray: Mutex<Vec<(u64, u64)>>,
}

impl WatchedMemory {
    /// RAM plus the reserved region, with `writable` the only ranges
    /// fwcall is allowed to write.
    pub fn new(writable: Vec<(u64, u64)>) -> Self {
        let regions = [RAM, RESERVED]
            .iter()
            .map(|r| MemRegion {
                base: r.base.0,
                size: r.size,
            })
            .collect();
        WatchedMemory {
            inner: SimMemory::new(regions),
            writable,
            stray: Mutex::new(Vec::new()),
        }
    }

    fn check(&self, addr: u64, len: u64) {
        let inside = self.writable.iter().any(|&(base, size)| {
            addr >= base && addr.checked_add(len).is_some_and(|end| end <= base + size)
        });
        if !inside && let Ok(mut s) = self.stray.lock() {
            s.push((addr, len));
        }
    }

    /// Writes that landed outside the allowed ranges so far.
    pub fn stray_writes(&self) -> Vec<(u64, u64)> {
        self.stray.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Reads guest memory (for tests).
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        self.inner.read_le(addr, 8).ok()
    }
}

impl GuestMemoryAccess for WatchedMemory {
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
        self.check(addr.0, 8);
        self.inner.write_u64(addr, value)
    }

    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        self.check(addr.0, data.len() as u64);
        self.inner.write_bytes(addr, data)
    }

    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.inner.read_bytes(addr, buf)
    }
}

/// One simulated vCPU's registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regs {
    /// `X0..X17`.
    pub x: [u64; 18],
    /// `PC`.
    pub pc: u64,
    /// `PSTATE`.
    pub pstate: u64,
    /// `SCTLR_EL1`.
    pub sctlr: u64,
}

impl Default for Regs {
    fn default() -> Self {
        Regs {
            x: [0; 18],
            pc: 0xffff_8000_2000_0000,
            pstate: 0x3c5,
            sctlr: 1 << 23,
        }
    }
}

impl Regs {
    /// What a delivery would interrupt.
    pub fn interrupted(&self) -> Interrupted {
        Interrupted {
            x: self.x,
            pc: self.pc,
            pstate: self.pstate,
            sctlr_el1: self.sctlr,
        }
    }
}

/// The VMM: a VM, its memory and its vCPUs' registers.
#[derive(Debug)]
pub struct Machine {
    /// The setup it was built from.
    pub setup: Setup,
    /// The server.
    pub vm: Vm<Arc<WatchedMemory>>,
    /// The memory.
    pub mem: Arc<WatchedMemory>,
    /// Registers per vCPU.
    pub regs: Vec<Regs>,
    /// The power action of the last call, if it asked for one.
    pub power: Option<PowerAction>,
}

/// What one delivery step did on one vCPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entered {
    /// The vCPU.
    pub vcpu: usize,
    /// What it interrupted.
    pub interrupted: Regs,
    /// The handler entry, if any.
    pub delivery: Option<Delivery>,
    /// What `has_pending_delivery` said before asking.
    pub hinted: bool,
}

impl Machine {
    /// Builds and starts the VM for `setup`.
    pub fn new(setup: Setup) -> Self {
        let mem = Arc::new(WatchedMemory::new(setup.writable()));
        let vm = match Vm::new(setup.vm_config(), mem.clone()) {
            Ok(vm) => vm,
            Err(e) => panic!("the fuzz setup {setup:?} must be a valid VM: {e}"),
        };
        if let Err(e) = vm.start() {
            panic!("start() of a fresh VM failed: {e}");
        }
        Machine {
            setup,
            vm,
            mem,
            regs: vec![Regs::default(); setup.vcpu_count()],
            power: None,
        }
    }

    /// Whether `vcpu` is powered off (it runs no code, makes no call).
    pub fn is_off(&self, vcpu: usize) -> bool {
        self.vm.power_state(VcpuIndex(vcpu as u32)) == fwcall::PowerState::Off
    }

    /// The vCPU count.
    pub fn vcpus(&self) -> usize {
        self.regs.len()
    }

    /// Runs one guest call on `vcpu` and applies the reply to its
    /// registers. Returns the reply and the kicks.
    pub fn call(&mut self, vcpu: usize, x0_5: [u64; 6], conduit: Conduit) -> (Reply, Kicks) {
        let r = &mut self.regs[vcpu];
        r.x[..6].copy_from_slice(&x0_5);
        let call = Call { x: r.x, conduit };
        let Ok(v) = self.vm.vcpu(VcpuIndex(vcpu as u32)) else {
            panic!("vCPU {vcpu} of {} has no handle", self.regs.len());
        };
        let out = v.handle(&call);
        if let Reply::Return { count, .. } = out.reply {
            assert!(
                (1..=18).contains(&count),
                "a Return writes 1..=18 registers, got {count}"
            );
        }
        if let Some(ctx) = out.reply.apply_x(&mut r.x) {
            r.pc = ctx.pc;
            r.pstate = ctx.pstate;
        }
        let caller_pstate = r.pstate;
        self.power = out.power;
        // A VMM starts the target of a CPU_ON as PSCI says a PE starts.
        if let Some(PowerAction::CpuOn(start)) = out.power
            && let Some(t) = self.regs.get_mut(start.target.get())
        {
            *t = Regs {
                x: [0; 18],
                pc: start.entry,
                pstate: start.pstate(caller_pstate),
                sctlr: t.sctlr,
            };
            t.x[0] = start.context_id;
        }
        (out.reply, out.kicks)
    }

    /// The VMM's system reset: [`fwcall::Vm::reset`] and every vCPU's
    /// registers back to their starting values.
    pub fn system_reset(&mut self) {
        self.vm.reset();
        self.regs.iter_mut().for_each(|r| *r = Regs::default());
    }

    /// Asks `vcpu` for a delivery and applies it.
    pub fn ask(&mut self, vcpu: usize) -> Entered {
        let Ok(v) = self.vm.vcpu(VcpuIndex(vcpu as u32)) else {
            panic!("vCPU {vcpu} has no handle");
        };
        let interrupted = self.regs[vcpu];
        let hinted = v.has_pending_delivery();
        let delivery = v.take_delivery(&interrupted.interrupted());
        if let Some(d) = &delivery {
            let r = &mut self.regs[vcpu];
            r.x[..4].copy_from_slice(&d.x);
            r.pc = d.pc;
            r.pstate = d.pstate;
        }
        Entered {
            vcpu,
            interrupted,
            delivery,
            hinted,
        }
    }

    /// Snapshot, restore into a fresh VM over the same memory, snapshot
    /// again: the two blobs must be byte-identical. Then start the new VM
    /// and continue with it.
    pub fn snapshot_restore(&mut self) {
        let blob = match self.vm.snapshot() {
            Ok(b) => b,
            Err(e) => panic!("snapshot of a live VM failed: {e}"),
        };
        let restored = match Vm::restore(self.setup.vm_config(), self.mem.clone(), &blob) {
            Ok(vm) => vm,
            Err(e) => panic!("restoring a fresh snapshot into the same configuration failed: {e}"),
        };
        let again = match restored.snapshot() {
            Ok(b) => b,
            Err(e) => panic!("snapshot of a restored VM failed: {e}"),
        };
        if blob != again {
            let at = blob
                .iter()
                .zip(&again)
                .position(|(a, b)| a != b)
                .unwrap_or(blob.len().min(again.len()));
            panic!(
                "snapshot -> restore -> snapshot differs at byte {at} (lengths {} and {})",
                blob.len(),
                again.len()
            );
        }
        if let Err(e) = restored.start() {
            panic!("start() after restore failed: {e}");
        }
        self.vm = restored;
    }
}
