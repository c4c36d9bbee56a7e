//! Property tests: hostile call sequences and hostile snapshots.

use std::vec;
use std::vec::Vec;

use fwcall_smccc::Mpidr;
use proptest::prelude::*;

use super::sim::*;
use crate::Sdei;

const N: u32 = 3;

#[derive(Clone, Debug)]
enum Step {
    Call(u32, u32, [u64; 5]),
    Raise(u32, u32),
    Irq(u32, u32),
    Reset(u32),
    Handler(u32, u64),
    /// `CPU_OFF` (false) or `CPU_ON` (true) of a vCPU.
    Power(u32, bool),
}

fn interesting() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(4),
        Just(17),
        Just(18),
        Just(20),
        Just(40),
        Just(EV_PRIV_NORMAL as u64),
        Just(EV_PRIV_CRIT as u64),
        Just(EV_SHARED_NORMAL as u64),
        Just(EV_SHARED_CRIT as u64),
        Just(SLOT_PRIVATE0 as u64),
        Just(SLOT_SHARED0 as u64),
        Just(0x8000_0000),
        Just(0x8000_0001),
        Just(0x8000_0002),
        Just(ENTRY),
        Just(u64::MAX),
        Just(1 << 32),
        any::<u64>(),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let v = 0..N;
    prop_oneof![
        6 => (v.clone(), 0xC400_0020u32..=0xC400_0034, [interesting(), interesting(), interesting(), interesting(), interesting()])
            .prop_map(|(v, f, a)| Step::Call(v, f, a)),
        1 => (v.clone(), 0x8400_001Fu32..=0x8400_0040, [interesting(), interesting(), interesting(), interesting(), interesting()])
            .prop_map(|(v, f, a)| Step::Call(v, f, a)),
        2 => (prop::sample::select(&[EV_PRIV_NORMAL, EV_PRIV_CRIT, EV_SHARED_NORMAL, EV_SHARED_CRIT][..]), v.clone())
            .prop_map(|(e, v)| Step::Raise(e, v)),
        1 => (prop::sample::select(&[20u32, 23, 40, 41, 5][..]), v.clone()).prop_map(|(i, v)| Step::Irq(i, v)),
        1 => v.clone().prop_map(Step::Reset),
        1 => (v.clone(), interesting()).prop_map(|(v, x)| Step::Handler(v, x)),
        1 => (v, any::<bool>()).prop_map(|(v, on)| Step::Power(v, on)),
    ]
}

fn run(s: &mut Sim, st: &Step) {
    let off = |s: &Sim, v: u32| s.sdei.is_powered_off(fwcall_smccc::VcpuIndex(v)) == Some(true);
    match *st {
        // An off vCPU runs no code, so it makes no call.
        Step::Call(v, ..) | Step::Handler(v, _) if off(s, v) => {}
        Step::Power(v, true) if off(s, v) => s.power_on(v),
        Step::Power(v, false) if !off(s, v) => s.power_off(v),
        Step::Power(..) => {}
        Step::Call(v, fid, a) => {
            let r = s.call(v, fid, &a);
            if fid == STATUS && (r as i64) >= 0 {
                assert!([0, 1, 3, 4, 5, 7].contains(&r), "status {r}");
            }
            if fid & 0x4000_0000 == 0 {
                assert_eq!(r, NOT_SUPPORTED);
            }
            if (r as i64) < 0 && ![0xC400_0024, 0xC400_0025, 0xC400_0026].contains(&fid) {
                assert!(
                    [-1i64, -2, -3, -5, -10].contains(&(r as i64)),
                    "code {r:#x}"
                );
            }
        }
        Step::Raise(e, v) => {
            let k = s.sdei.raise(e, Some(fwcall_smccc::VcpuIndex(v))).unwrap();
            s.settle(v, k);
        }
        Step::Irq(i, v) => {
            s.irq(i, Some(v));
        }
        Step::Reset(v) => s.reset(v),
        Step::Handler(v, x) => {
            // The guest handler does something: clobber registers, move PC.
            let r = &mut s.regs[v as usize];
            r.x[0] = x;
            r.x[1] = x;
            r.pc = x;
            r.pstate = x & 0xf00f_03ff;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_call_sequences_never_panic_and_keep_invariants(steps in prop::collection::vec(step(), 1..60)) {
        let config = test_config();
        let mut s = Sim::with_config(N, &config);
        for st in &steps {
            run(&mut s, st);
            s.check_invariants(&config);
        }
    }

    #[test]
    fn mutated_snapshots_never_panic_and_restore_consistently(
        steps in prop::collection::vec(step(), 0..40),
        muts in prop::collection::vec((0usize..16, any::<u64>()), 1..6),
    ) {
        let config = test_config();
        let mut s = Sim::with_config(N, &config);
        for st in &steps {
            run(&mut s, st);
        }
        let mut state = s.sdei.state();
        for (what, val) in muts {
            mutate(&mut state, what, val);
        }
        let mpidrs: Vec<Mpidr> = (0..N).map(Mpidr::kvm_default).collect();
        let off: Vec<bool> = (0..N)
            .map(|v| s.sdei.is_powered_off(fwcall_smccc::VcpuIndex(v)) == Some(true))
            .collect();
        if let Ok(back) = Sdei::restore_with_power(&config, &mpidrs, &state, &off) {
            prop_assert_eq!(back.state(), state);
            // And it keeps working.
            let mut t = Sim::from_sdei(back);
            for st in &steps {
                run(&mut t, st);
                t.check_invariants(&config);
            }
        }
    }
}

fn pick<T>(v: &mut [T], val: u64) -> Option<&mut T> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    v.get_mut((val as usize) % n)
}

fn mutate(s: &mut crate::SdeiState, what: usize, val: u64) {
    let small = (val % 9) as u8;
    let vcpu = (val >> 8) as usize % (s.vcpus.len().max(1));
    match what {
        0 => {
            if let Some(e) = pick(&mut s.shared, val >> 16) {
                e.status = small;
            }
        }
        1 => {
            if let Some(p) = s
                .vcpus
                .get_mut(vcpu)
                .and_then(|v| pick(&mut v.private, val >> 16))
            {
                p.status = small;
            }
        }
        2 => {
            if let Some(p) = s
                .vcpus
                .get_mut(vcpu)
                .and_then(|v| pick(&mut v.private, val >> 16))
            {
                p.pending ^= true;
            }
        }
        3 => {
            if let Some(e) = pick(&mut s.shared, val >> 16) {
                e.pending ^= true;
            }
        }
        4 => {
            if let Some(e) = pick(&mut s.shared, val >> 16) {
                e.target = if val & 1 == 0 {
                    None
                } else {
                    Some((val >> 1) as u32 % 5)
                };
            }
        }
        5 => {
            if let Some(e) = pick(&mut s.shared, val >> 16) {
                e.running_on = if val & 1 == 0 {
                    None
                } else {
                    Some((val >> 1) as u32 % 5)
                };
            }
        }
        6 => {
            if let Some(v) = s.vcpus.get_mut(vcpu) {
                v.stack.pop();
            }
        }
        7 => {
            if let Some(v) = s.vcpus.get_mut(vcpu) {
                v.stack.push(crate::SavedContextState {
                    event: (val >> 32) as u32 % 0x30,
                    ..Default::default()
                });
            }
        }
        8 => {
            if let Some(b) = pick(&mut s.slots, val >> 16) {
                b.intid = if val & 1 == 0 {
                    None
                } else {
                    Some((val >> 1) as u32 % 1100)
                };
            }
        }
        9 => {
            if let Some(v) = s.vcpus.get_mut(vcpu) {
                v.masked ^= true;
            }
        }
        10 => {
            if let Some(e) = pick(&mut s.shared, val >> 16) {
                e.affinity = val >> 20;
                e.routing = if val & 1 == 0 {
                    crate::Routing::Any
                } else {
                    crate::Routing::Pe
                };
            }
        }
        11 => {
            if let Some(p) = s
                .vcpus
                .get_mut(vcpu)
                .and_then(|v| pick(&mut v.private, val >> 16))
            {
                p.entry = val & 0xff;
            }
        }
        12 => {
            s.vcpus.pop();
        }
        13 => {
            if let Some(e) = pick(&mut s.shared, val >> 16) {
                e.event = val as u32;
            }
        }
        14 => {
            if let Some(v) = s.vcpus.get_mut(vcpu)
                && let Some(c) = pick(&mut v.stack, val >> 16)
            {
                c.event = (val >> 24) as u32 % 0x30;
            }
        }
        _ => {
            if let Some(e) = pick(&mut s.shared, val >> 16) {
                e.entry = val & 0xf;
                e.arg = val >> 60;
            }
        }
    }
}
