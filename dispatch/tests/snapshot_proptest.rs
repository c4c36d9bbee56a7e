//! Property: a VM restored from a snapshot answers every following call,
//! delivery, raise, interrupt, reset and steal exactly as the original
//! does (whatever handlers were running when it was taken), and ends in
//! the same state, byte for byte.

#[path = "snapshot_sim.rs"]
mod sim;

use fwcall::FunctionId;
use fwcall::ids::*;
use proptest::prelude::*;
use sim::{Sim, Step, rich_config};

const EVENTS: [u64; 8] = [
    0,
    0x100,
    0x101,
    0x200,
    0x201,
    0x4000_0000,
    0x4001_0000,
    0x999,
];
const VCPUS: u32 = 3;

#[derive(Clone, Debug)]
enum Op {
    Call {
        v: usize,
        fid: FunctionId,
        args: Vec<u64>,
    },
    Raise {
        event: u32,
        v: Option<u32>,
    },
    Irq {
        intid: u32,
        v: Option<u32>,
    },
    Reset {
        v: usize,
    },
    Steal {
        v: usize,
        ns: u64,
    },
}

fn event() -> impl Strategy<Value = u64> {
    prop::sample::select(EVENTS.to_vec())
}

fn vcpu() -> impl Strategy<Value = usize> {
    0..VCPUS as usize
}

fn call() -> impl Strategy<Value = Op> {
    let entry = prop::sample::select(vec![0u64, 0xffff_8000_1000_0000, 0xffff_8000_1000_4000]);
    let affinity = prop::sample::select(vec![
        0u64,
        0x8000_0000,
        0x8000_0001,
        0x8000_0002,
        0x8000_0007,
    ]);
    prop_oneof![
        (vcpu(), event(), entry, any::<u8>(), 0u64..3, affinity).prop_map(
            |(v, e, entry, arg, flags, aff)| Op::Call {
                v,
                fid: SDEI_EVENT_REGISTER,
                args: vec![e, entry, u64::from(arg), flags, aff]
            }
        ),
        (
            vcpu(),
            event(),
            prop::sample::select(vec![
                SDEI_EVENT_ENABLE,
                SDEI_EVENT_DISABLE,
                SDEI_EVENT_UNREGISTER,
                SDEI_EVENT_STATUS,
                SDEI_EVENT_GET_INFO,
            ])
        )
            .prop_map(|(v, e, fid)| Op::Call {
                v,
                fid,
                args: vec![e, 0]
            }),
        (vcpu(), 0u64..20).prop_map(|(v, r)| Op::Call {
            v,
            fid: SDEI_EVENT_CONTEXT,
            args: vec![r]
        }),
        (vcpu(), prop::sample::select(vec![0u64, 1])).prop_map(|(v, r)| Op::Call {
            v,
            fid: SDEI_EVENT_COMPLETE,
            args: vec![r]
        }),
        vcpu().prop_map(|v| Op::Call {
            v,
            fid: SDEI_EVENT_COMPLETE_AND_RESUME,
            args: vec![0xffff_8000_2000_0000]
        }),
        (
            vcpu(),
            prop::sample::select(vec![
                SDEI_PE_MASK,
                SDEI_PE_UNMASK,
                SDEI_PRIVATE_RESET,
                SDEI_SHARED_RESET
            ])
        )
            .prop_map(|(v, fid)| Op::Call {
                v,
                fid,
                args: vec![]
            }),
        (vcpu(), event(), 0u64..4).prop_map(|(v, e, t)| Op::Call {
            v,
            fid: SDEI_EVENT_SIGNAL,
            args: vec![e, 0x8000_0000 | t]
        }),
        (
            vcpu(),
            event(),
            0u64..2,
            prop::sample::select(vec![0u64, 0x8000_0001])
        )
            .prop_map(|(v, e, m, a)| Op::Call {
                v,
                fid: SDEI_EVENT_ROUTING_SET,
                args: vec![e, m, a]
            }),
        (vcpu(), prop::sample::select(vec![20u64, 40, 41])).prop_map(|(v, i)| Op::Call {
            v,
            fid: SDEI_INTERRUPT_BIND,
            args: vec![i]
        }),
        (vcpu(), event()).prop_map(|(v, e)| Op::Call {
            v,
            fid: SDEI_INTERRUPT_RELEASE,
            args: vec![e]
        }),
        (
            vcpu(),
            prop::sample::select(vec![PV_TIME_ST, PV_TIME_LPT, PV_TIME_FEATURES])
        )
            .prop_map(|(v, fid)| Op::Call {
                v,
                fid,
                args: vec![u64::from(PV_TIME_LPT.raw())]
            }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => call(),
        1 => (prop::sample::select(vec![0x100u32, 0x101, 0x200, 0x201]), vcpu()).prop_map(|(event, v)| Op::Raise {
            event,
            v: (event < 0x200).then_some(v as u32)
        }),
        1 => (prop::sample::select(vec![20u32, 40, 41]), vcpu()).prop_map(|(intid, v)| Op::Irq {
            intid,
            v: (intid < 32).then_some(v as u32)
        }),
        1 => (vcpu(), 0u64..10_000).prop_map(|(v, ns)| Op::Steal { v, ns }),
        1 => vcpu().prop_map(|v| Op::Reset { v }),
    ]
}

fn apply(s: &mut Sim, op: &Op) -> Step {
    match op {
        Op::Call { v, fid, args } => s.call(*v, *fid, args),
        Op::Raise { event, v } => s.raise(*event, *v),
        Op::Irq { intid, v } => s.irq(*intid, *v),
        Op::Reset { v } => s.reset(*v),
        Op::Steal { v, ns } => s.steal(*v, *ns),
    }
}

/// A start that makes handlers likely: every vCPU registers, enables and
/// unmasks the private events.
fn warm(s: &mut Sim) {
    for v in 0..VCPUS as usize {
        for e in [0u64, 0x100, 0x101] {
            s.call(
                v,
                SDEI_EVENT_REGISTER,
                &[e, 0xffff_8000_1000_0000 + e, e, 0, 0],
            );
            s.call(v, SDEI_EVENT_ENABLE, &[e]);
        }
        s.call(v, SDEI_PE_UNMASK, &[]);
        s.call(v, PV_TIME_ST, &[]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn restored_vm_answers_the_next_calls_exactly_as_the_original(
        before in prop::collection::vec(op(), 0..40),
        after in prop::collection::vec(op(), 1..40),
    ) {
        let mut original = Sim::new(rich_config(VCPUS));
        warm(&mut original);
        for o in &before {
            apply(&mut original, o);
        }
        let blob = original.vm.snapshot().unwrap();
        let mut restored = original.restored(rich_config(VCPUS), &blob).unwrap();
        // The restored VM was started (LPT sequence + 2); so is the original,
        // as its VMM would after resuming from a pause with a snapshot.
        original.vm.start().unwrap();
        for o in &after {
            let a = apply(&mut original, o);
            let b = apply(&mut restored, o);
            prop_assert_eq!(a, b, "{:?}", o);
            prop_assert_eq!(&original.regs, &restored.regs, "{:?}", o);
        }
        prop_assert_eq!(original.memory_bytes(), restored.memory_bytes());
        prop_assert_eq!(original.vm.snapshot().unwrap(), restored.vm.snapshot().unwrap());
    }
}
