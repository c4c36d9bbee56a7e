//! A small mock server for engine tests: just enough behaviour to exercise
//! every engine mechanism (replies of each kind, kicks, deliveries,
//! refusals, snapshots), with rules written here rather than taken from
//! the real server.
#![allow(dead_code)]

use fwcall_conformance::config::{EventScope, VmSpec};
use fwcall_conformance::{Delivery, Interrupted, SimMemory, Target, TargetError};
use fwcall_smccc::{CALL_REGS, Call, Context, El1Regs, Kicks, Outcome, Reply, VcpuIndex};
use std::sync::Arc;

/// `SMCCC_VERSION`: answers the configured version (1.4 by default).
pub const VERSION: u64 = 0x8000_0000;
/// Returns x0..x3 = [x1+1, x2, x3, 0xdd] (count 4).
pub const ECHO: u64 = 0xC600_0001;
/// Queues event x1 for vCPU x2 and kicks it.
pub const QUEUE: u64 = 0xC600_0002;
/// Restores pc=x1, pstate=x2, elr=x3, spsr=x4, x0..x17 = 0x100 + i.
pub const RESTORE: u64 = 0xC600_0003;
/// Writes nothing.
pub const NOTHING: u64 = 0xC600_0004;
/// A buggy reply with count 0.
pub const BAD_COUNT: u64 = 0xC600_0005;
/// Kicks vCPU x1 (which may not exist).
pub const KICK: u64 = 0xC600_0006;
/// Returns 0xffff_ffff_0000_0005 in x0, SMC32 form (the server forgot to
/// truncate: the engine compares only the low 32 bits anyway).
pub const SMC32_WIDE: u64 = 0x8600_0007;
/// Fails the call itself (server error).
pub const BROKEN: u64 = 0xC600_0008;

#[derive(Debug)]
pub struct Mock {
    spec: VmSpec,
    mem: Arc<SimMemory>,
    pending: Vec<Vec<u32>>,
    steal: Vec<u64>,
    calls: u64,
}

impl Mock {
    fn new(spec: &VmSpec, mpidrs: &[u64], mem: Arc<SimMemory>) -> Result<Self, TargetError> {
        if spec.native_hz == 0 {
            return Err(TargetError("native_hz must not be 0".into()));
        }
        if spec.smccc.is_some_and(|v| !v.is_supported()) {
            return Err(TargetError("unsupported SMCCC version".into()));
        }
        assert_eq!(mpidrs.len(), spec.vcpus as usize);
        let n = spec.vcpus as usize;
        Ok(Mock {
            spec: spec.clone(),
            mem,
            pending: vec![Vec::new(); n],
            steal: vec![0; n],
            calls: 0,
        })
    }

    fn slot(&mut self, v: VcpuIndex) -> Result<&mut Vec<u32>, TargetError> {
        self.pending
            .get_mut(v.get())
            .ok_or_else(|| TargetError(format!("no {v}")))
    }
}

fn kick(v: u32) -> Kicks {
    let mut k = Kicks::none();
    k.add(VcpuIndex(v));
    k
}

impl Target for Mock {
    fn build(spec: &VmSpec, mpidrs: &[u64], mem: Arc<SimMemory>) -> Result<Self, TargetError> {
        Mock::new(spec, mpidrs, mem)
    }

    fn restore(
        spec: &VmSpec,
        mpidrs: &[u64],
        mem: Arc<SimMemory>,
        snap: &[u8],
    ) -> Result<Self, TargetError> {
        let mut m = Mock::new(spec, mpidrs, mem)?;
        let text =
            std::str::from_utf8(snap).map_err(|_| TargetError("not a mock snapshot".into()))?;
        let mut parts = text.split(';');
        let n: usize = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(TargetError("bad".into()))?;
        if n != spec.vcpus as usize {
            return Err(TargetError(format!("vCPU count {n} != {}", spec.vcpus)));
        }
        m.calls = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(TargetError("bad".into()))?;
        Ok(m)
    }

    fn call(&mut self, vcpu: VcpuIndex, call: &Call) -> Result<Outcome, TargetError> {
        self.calls += 1;
        let x = &call.x;
        Ok(match x[0] {
            VERSION => Outcome::reply(Reply::x0(
                self.spec.smccc.unwrap_or_default().to_word().into(),
            )),
            ECHO => Outcome::reply(Reply::x0_3([x[1].wrapping_add(1), x[2], x[3], 0xdd])),
            QUEUE => {
                let target = x[2] as u32;
                self.slot(VcpuIndex(target))?.push(x[1] as u32);
                Outcome::new(Reply::x0(0), kick(target))
            }
            RESTORE => {
                let mut regs = [0; CALL_REGS];
                for (i, r) in regs.iter_mut().enumerate() {
                    *r = 0x100 + i as u64;
                }
                Outcome::reply(Reply::Restore(Context {
                    x: regs,
                    pc: x[1],
                    pstate: x[2],
                    el1: Some(El1Regs {
                        elr: x[3],
                        spsr: x[4],
                    }),
                }))
            }
            NOTHING => Outcome::reply(Reply::Nothing),
            BAD_COUNT => Outcome::reply(Reply::Return {
                regs: [0; CALL_REGS],
                count: 0,
            }),
            KICK => Outcome::new(Reply::x0(0), kick(x[1] as u32)),
            SMC32_WIDE => Outcome::reply(Reply::x0(0xffff_ffff_0000_0005)),
            BROKEN => return Err(TargetError(format!("{vcpu} broke"))),
            _ => Outcome::not_supported(),
        })
    }

    fn take_delivery(
        &mut self,
        vcpu: VcpuIndex,
        i: &Interrupted,
    ) -> Result<Option<Delivery>, TargetError> {
        let q = self.slot(vcpu)?;
        if q.is_empty() {
            return Ok(None);
        }
        let event = q.remove(0);
        // Event 7 chains: entering it on vCPU v queues event 8 on v+1.
        let mut kicks = Kicks::none();
        if event == 7 {
            let next = vcpu.0 + 1;
            if let Some(q) = self.pending.get_mut(next as usize) {
                q.push(8);
                kicks.add(VcpuIndex(next));
            }
        }
        Ok(Some(Delivery {
            event,
            x: [event as u64, 0xa11, i.pc, i.pstate],
            pc: 0xe000 + event as u64,
            // PAN (bit 22) is forced on when SCTLR_EL1.SPAN is clear.
            pstate: if i.sctlr_el1 & 0x80_0000 == 0 {
                0x3c5 | 1 << 22
            } else {
                0x3c5
            },
            kicks,
        }))
    }

    fn raise(&mut self, event: u32, vcpu: Option<VcpuIndex>) -> Result<Kicks, TargetError> {
        let shared = self
            .spec
            .event(event)
            .is_some_and(|e| e.scope == EventScope::Shared);
        let v = match (shared, vcpu) {
            (true, _) => VcpuIndex(self.spec.vcpus - 1),
            (false, Some(v)) => v,
            (false, None) => return Err(TargetError("private needs a vCPU".into())),
        };
        if event == 99 {
            return Err(TargetError("event 99 is refused".into()));
        }
        self.slot(v)?.push(event);
        Ok(if shared {
            Kicks::none().tap_all()
        } else {
            kick(v.0)
        })
    }

    fn irq(&mut self, intid: u32, vcpu: Option<VcpuIndex>) -> Result<Kicks, TargetError> {
        if intid == 40 {
            self.slot(VcpuIndex(0))?.push(40);
            return Ok(kick(0));
        }
        let _ = vcpu;
        Ok(Kicks::none())
    }

    fn vcpu_reset(&mut self, vcpu: VcpuIndex) -> Result<Kicks, TargetError> {
        self.slot(vcpu)?.clear();
        Ok(Kicks::none())
    }

    fn steal(&mut self, vcpu: VcpuIndex, ns: u64) -> Result<(), TargetError> {
        let s = self
            .steal
            .get_mut(vcpu.get())
            .ok_or(TargetError("no vcpu".into()))?;
        *s = s.wrapping_add(ns);
        let total = *s;
        if let Some(base) = self.spec.pvtime_ipa {
            self.mem
                .write_le(base + 64 * vcpu.0 as u64 + 8, 8, total)
                .map_err(|e| TargetError(e.to_string()))?;
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, TargetError> {
        Ok(format!("{};{}", self.spec.vcpus, self.calls).into_bytes())
    }

    fn inspect(bytes: &[u8]) -> Result<String, TargetError> {
        match std::str::from_utf8(bytes) {
            Ok(s) if s.contains(';') => Ok(format!("mock snapshot {s}")),
            _ => Err(TargetError("not a mock snapshot".into())),
        }
    }
}

trait TapAll {
    fn tap_all(self) -> Kicks;
}

impl TapAll for Kicks {
    fn tap_all(mut self) -> Kicks {
        for i in 0..8 {
            self.add(VcpuIndex(i));
        }
        self
    }
}
