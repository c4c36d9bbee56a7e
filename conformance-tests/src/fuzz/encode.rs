//! The inverse of [`Sequence::from_bytes`]: the bytes `arbitrary` decodes
//! back into a given sequence, so conformance traces can seed the
//! fuzzers' corpora ([`from_trace`]). Follows `arbitrary` 1.x's layout:
//! integers little-endian, `bool` one byte, `Option` a `bool` then the
//! value, an enum a `u32` scaled onto the variant count. A unit test
//! checks the round trip, so a change in that layout is caught.

use fwcall::Conduit;

use super::ops::{Arg, EVENTS, Func, Intid, Sequence, Setup, Step};
use crate::trace::{Directive, Trace};
use crate::value::Value;
use crate::vcpu::Reg;

fn variant(out: &mut Vec<u8>, k: u64, count: u64) {
    let d = (k << 32).div_ceil(count);
    out.extend_from_slice(&(d as u32).to_le_bytes());
}

fn flag(out: &mut Vec<u8>, b: bool) {
    out.push(u8::from(b));
}

fn opt_u8(out: &mut Vec<u8>, v: Option<u8>) {
    flag(out, v.is_some());
    if let Some(v) = v {
        out.push(v);
    }
}

fn setup(out: &mut Vec<u8>, s: &Setup) {
    out.extend_from_slice(&[
        s.vcpus,
        u8::from(s.v1_0),
        s.features,
        s.private_slots,
        s.shared_slots,
        u8::from(s.lpt),
        s.psci,
    ]);
}

fn func(out: &mut Vec<u8>, f: Func) {
    match f {
        Func::Sdei(n) => {
            variant(out, 0, 9);
            out.push(n);
        }
        Func::SdeiVariant {
            n,
            smc32,
            sve,
            reserved,
        } => {
            variant(out, 1, 9);
            out.extend_from_slice(&[n, u8::from(smc32), u8::from(sve), u8::from(reserved)]);
        }
        Func::PvFeatures => variant(out, 2, 9),
        Func::PvSt => variant(out, 3, 9),
        Func::PvLpt => variant(out, 4, 9),
        Func::SmcccVersion => variant(out, 5, 9),
        Func::ArchFeatures => variant(out, 6, 9),
        Func::Raw(id) => {
            variant(out, 7, 9);
            out.extend_from_slice(&id.to_le_bytes());
        }
        Func::Psci(n) => {
            variant(out, 8, 9);
            out.push(n);
        }
    }
}

fn arg(out: &mut Vec<u8>, a: Arg) {
    match a {
        Arg::Zero => variant(out, 0, 8),
        Arg::Event(i) => {
            variant(out, 1, 8);
            out.push(i);
        }
        Arg::Mpidr(i) => {
            variant(out, 2, 8);
            out.push(i);
        }
        Arg::Small(v) => {
            variant(out, 3, 8);
            out.push(v);
        }
        Arg::Intid(v) => {
            variant(out, 4, 8);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Arg::Addr(v) => {
            variant(out, 5, 8);
            out.push(v);
        }
        Arg::Raw(v) => {
            variant(out, 6, 8);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Arg::Ram(v) => {
            variant(out, 7, 8);
            out.push(v);
        }
    }
}

fn step(out: &mut Vec<u8>, s: &Step) {
    match s {
        Step::Call {
            vcpu,
            func: f,
            args,
            smc,
        } => {
            variant(out, 0, 7);
            out.push(*vcpu);
            func(out, *f);
            args.iter().for_each(|a| arg(out, *a));
            flag(out, *smc);
        }
        Step::Raise { event, vcpu } => {
            variant(out, 1, 7);
            out.push(*event);
            opt_u8(out, *vcpu);
        }
        Step::Irq { intid, vcpu } => {
            variant(out, 2, 7);
            match intid {
                Intid::Ppi(n) => {
                    variant(out, 0, 3);
                    out.push(*n);
                }
                Intid::Spi(n) => {
                    variant(out, 1, 3);
                    out.push(*n);
                }
                Intid::Raw(v) => {
                    variant(out, 2, 3);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            opt_u8(out, *vcpu);
        }
        Step::Reset { vcpu } => {
            variant(out, 3, 7);
            out.push(*vcpu);
        }
        Step::Steal { vcpu, ns } => {
            variant(out, 4, 7);
            out.push(*vcpu);
            out.extend_from_slice(&ns.to_le_bytes());
        }
        Step::Regs {
            vcpu,
            pc,
            pstate,
            sctlr,
            x,
        } => {
            variant(out, 5, 7);
            out.push(*vcpu);
            for v in [*pc, *pstate, *sctlr].iter().chain(x) {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Step::Snapshot => variant(out, 6, 7),
    }
}

/// The bytes [`Sequence::from_bytes`] decodes into `seq`.
pub fn to_bytes(seq: &Sequence) -> Vec<u8> {
    let mut out = Vec::new();
    setup(&mut out, &seq.setup);
    for s in &seq.steps {
        step(&mut out, s);
    }
    out
}

fn lit(v: &Value) -> Option<u64> {
    match v {
        Value::Lit(x) => Some(*x),
        Value::Var { .. } => None,
    }
}

fn vcpu_of(v: &Value) -> Option<u8> {
    lit(v).and_then(|x| u8::try_from(x).ok())
}

/// A sequence doing what the trace does, as far as the fuzz VM allows:
/// calls, raises of the events it shares with [`EVENTS`], interrupts,
/// resets, stolen time, register writes and snapshots. Expectations are
/// dropped (the fuzz targets check invariants and the model instead).
pub fn from_trace(trace: &Trace) -> Sequence {
    let spec = &trace.spec;
    let features = spec.features;
    let setup = Setup {
        vcpus: (spec.vcpus.clamp(1, 4) - 1) as u8,
        v1_0: spec.sdei == Some(crate::config::SdeiVersion::V1_0),
        features: u8::from(features.pan)
            | u8::from(features.ssbs) << 1
            | u8::from(features.mte) << 2
            | u8::from(features.bti) << 3
            | u8::from(features.nmi) << 4,
        private_slots: spec.sdei_private_slots.map_or(3, |n| n.min(3) as u8),
        shared_slots: spec.sdei_shared_slots.map_or(3, |n| n.min(3) as u8),
        lpt: spec.lpt,
        psci: match spec.psci {
            None => 0,
            Some(_) => {
                let n = spec.vcpus.clamp(1, 4);
                let boot = spec.boot.unwrap_or(1).clamp(1, n);
                1 | ((boot - 1) as u8) << 1
            }
        },
    };
    let mut regs = vec![super::machine::Regs::default(); 4];
    let mut steps = Vec::new();
    for line in &trace.lines {
        match &line.directive {
            Directive::Call {
                conduit,
                vcpu,
                func: f,
                args,
                ..
            } => {
                let (Some(v), Some(id)) = (vcpu_of(vcpu), lit(f)) else {
                    continue;
                };
                let mut a = [Arg::Zero; 5];
                for (slot, val) in a.iter_mut().zip(args) {
                    *slot = lit(val).map_or(Arg::Zero, Arg::Raw);
                }
                steps.push(Step::Call {
                    vcpu: v,
                    func: Func::Raw(id as u32),
                    args: a,
                    smc: *conduit == Conduit::Smc,
                });
            }
            Directive::Raise { event, vcpu } => {
                let Some(e) = lit(event) else { continue };
                let Some(i) = (0..8u8).find(|i| u64::from(Sequence::raise_event(*i)) == e) else {
                    continue;
                };
                let _ = EVENTS;
                steps.push(Step::Raise {
                    event: i,
                    vcpu: vcpu.as_ref().and_then(vcpu_of),
                });
            }
            Directive::Irq { intid, vcpu } => {
                let Some(i) = lit(intid) else { continue };
                steps.push(Step::Irq {
                    intid: Intid::Raw(i as u32),
                    vcpu: vcpu.as_ref().and_then(vcpu_of),
                });
            }
            Directive::VcpuReset { vcpu } => {
                if let Some(v) = vcpu_of(vcpu) {
                    steps.push(Step::Reset { vcpu: v });
                }
            }
            Directive::Steal { vcpu, ns } => {
                if let (Some(v), Some(ns)) = (vcpu_of(vcpu), lit(ns)) {
                    steps.push(Step::Steal {
                        vcpu: v,
                        ns: ns.min(u64::from(u32::MAX)) as u32,
                    });
                }
            }
            Directive::Set { vcpu, regs: set } => {
                let Some(v) = vcpu_of(vcpu) else { continue };
                let r = &mut regs[usize::from(v) % 4];
                let mut any = false;
                for (reg, val) in set {
                    let Some(val) = lit(val) else { continue };
                    any = true;
                    match reg {
                        Reg::Pc => r.pc = val,
                        Reg::Pstate => r.pstate = val,
                        Reg::Sctlr => r.sctlr = val,
                        Reg::X(i) if *i < 4 => r.x[usize::from(*i)] = val,
                        _ => any = false,
                    }
                }
                if any {
                    let x = [r.x[0], r.x[1], r.x[2], r.x[3]];
                    steps.push(Step::Regs {
                        vcpu: v,
                        pc: r.pc,
                        pstate: r.pstate,
                        sctlr: r.sctlr,
                        x,
                    });
                }
            }
            Directive::Snapshot { .. } => steps.push(Step::Snapshot),
            _ => {}
        }
    }
    Sequence { setup, steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_through_arbitrary() {
        let seq = Sequence {
            setup: Setup {
                vcpus: 2,
                v1_0: true,
                features: 5,
                private_slots: 1,
                shared_slots: 3,
                lpt: true,
                psci: 5,
            },
            steps: vec![
                Step::Call {
                    vcpu: 1,
                    func: Func::Sdei(1),
                    args: [
                        Arg::Zero,
                        Arg::Event(3),
                        Arg::Mpidr(2),
                        Arg::Small(1),
                        Arg::Intid(40),
                    ],
                    smc: false,
                },
                Step::Call {
                    vcpu: 0,
                    func: Func::SdeiVariant {
                        n: 5,
                        smc32: true,
                        sve: false,
                        reserved: true,
                    },
                    args: [
                        Arg::Addr(3),
                        Arg::Raw(u64::MAX),
                        Arg::Zero,
                        Arg::Zero,
                        Arg::Zero,
                    ],
                    smc: true,
                },
                Step::Call {
                    vcpu: 0,
                    func: Func::Raw(0xC500_0021),
                    args: [Arg::Zero; 5],
                    smc: false,
                },
                Step::Call {
                    vcpu: 0,
                    func: Func::PvLpt,
                    args: [Arg::Zero; 5],
                    smc: false,
                },
                Step::Call {
                    vcpu: 0,
                    func: Func::Psci(0x23),
                    args: [
                        Arg::Mpidr(1),
                        Arg::Ram(8),
                        Arg::Small(3),
                        Arg::Zero,
                        Arg::Zero,
                    ],
                    smc: false,
                },
                Step::Raise {
                    event: 2,
                    vcpu: Some(1),
                },
                Step::Raise {
                    event: 3,
                    vcpu: None,
                },
                Step::Irq {
                    intid: Intid::Ppi(3),
                    vcpu: Some(0),
                },
                Step::Irq {
                    intid: Intid::Spi(1),
                    vcpu: None,
                },
                Step::Irq {
                    intid: Intid::Raw(1020),
                    vcpu: None,
                },
                Step::Reset { vcpu: 1 },
                Step::Steal { vcpu: 0, ns: 12345 },
                Step::Regs {
                    vcpu: 1,
                    pc: 1,
                    pstate: 2,
                    sctlr: 3,
                    x: [4, 5, 6, 7],
                },
                Step::Snapshot,
            ],
        };
        assert_eq!(Sequence::from_bytes(&to_bytes(&seq)), seq);
    }
}
