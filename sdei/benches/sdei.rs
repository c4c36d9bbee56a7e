//! Hot paths of the SDEI server. Run: `cargo bench -p fwcall-sdei`.
//!
//! Targets (issue 3): PE_MASK + PE_UNMASK < 30 ns; signal → delivery →
//! 4 × EVENT_CONTEXT → COMPLETE < 300 ns; zero heap allocations (the
//! allocation profiler reports counts per iteration).

use divan::{AllocProfiler, Bencher, black_box};
use fwcall_sdei::{EventDecl, EventKind, Interrupted, Priority, Sdei, SdeiConfig};
use fwcall_smccc::{Call, Mpidr, Reply, VcpuIndex, ids};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const V0: VcpuIndex = VcpuIndex(0);
const NORMAL: u32 = 0x10;
const CRITICAL: u32 = 0x11;

fn main() {
    divan::main();
}

fn server() -> Sdei {
    let config = SdeiConfig {
        events: vec![
            EventDecl {
                number: NORMAL,
                kind: EventKind::Private,
                priority: Priority::Normal,
            },
            EventDecl {
                number: CRITICAL,
                kind: EventKind::Private,
                priority: Priority::Critical,
            },
        ],
        ..SdeiConfig::default()
    };
    let mpidrs: Vec<Mpidr> = (0..4).map(Mpidr::kvm_default).collect();
    let sdei = Sdei::new(&config, &mpidrs).unwrap();
    for ev in [0, NORMAL as u64, CRITICAL as u64] {
        let c = Call::new(
            ids::SDEI_EVENT_REGISTER,
            &[ev, 0xffff_8000_1000_0000, ev, 0, 0],
        );
        assert_eq!(sdei.call(V0, &c).reply, Reply::x0(0));
        assert_eq!(
            sdei.call(V0, &Call::new(ids::SDEI_EVENT_ENABLE, &[ev]))
                .reply,
            Reply::x0(0)
        );
    }
    sdei.call(V0, &Call::new(ids::SDEI_PE_UNMASK, &[]));
    sdei
}

const NOW: Interrupted = Interrupted {
    x: [7; 18],
    pc: 0xffff_8000_2000_0000,
    pstate: 0x5,
    sctlr_el1: 1 << 23,
};

#[divan::bench]
fn pe_mask_unmask_pair(b: Bencher) {
    let sdei = server();
    let mask = Call::new(ids::SDEI_PE_MASK, &[]);
    let unmask = Call::new(ids::SDEI_PE_UNMASK, &[]);
    b.bench_local(|| {
        black_box(sdei.call(V0, black_box(&mask)));
        black_box(sdei.call(V0, black_box(&unmask)));
    });
}

#[divan::bench]
fn signal_deliver_4_context_complete(b: Bencher) {
    let sdei = server();
    let signal = Call::new(ids::SDEI_EVENT_SIGNAL, &[0, Mpidr::kvm_default(0).0]);
    let ctx: Vec<Call> = (0..4)
        .map(|i| Call::new(ids::SDEI_EVENT_CONTEXT, &[i]))
        .collect();
    let complete = Call::new(ids::SDEI_EVENT_COMPLETE, &[0]);
    b.bench_local(|| {
        black_box(sdei.call(V0, black_box(&signal)));
        let d = sdei.take_delivery(V0, black_box(&NOW));
        debug_assert!(d.is_some());
        black_box(d);
        for c in &ctx {
            black_box(sdei.call(V0, black_box(c)));
        }
        black_box(sdei.call(V0, black_box(&complete)));
    });
}

#[divan::bench(sample_size = 64)]
fn critical_over_normal_nesting(b: Bencher) {
    let sdei = server();
    let complete = Call::new(ids::SDEI_EVENT_COMPLETE, &[0]);
    b.bench_local(|| {
        black_box(sdei.raise(NORMAL, Some(V0)).unwrap());
        black_box(sdei.take_delivery(V0, &NOW));
        black_box(sdei.raise(CRITICAL, Some(V0)).unwrap());
        black_box(sdei.take_delivery(V0, &NOW));
        black_box(sdei.call(V0, &complete));
        black_box(sdei.call(V0, &complete));
    });
}

#[divan::bench]
fn has_pending_idle(b: Bencher) {
    let sdei = server();
    b.bench_local(|| black_box(sdei.has_pending(black_box(V0))));
}

#[divan::bench]
fn version_call(b: Bencher) {
    let sdei = server();
    let c = Call::new(ids::SDEI_VERSION, &[]);
    b.bench_local(|| black_box(sdei.call(V0, black_box(&c))));
}

/// The floor of any call: building and returning an `Outcome`.
#[divan::bench]
fn outcome_alone(b: Bencher) {
    b.bench_local(|| black_box(fwcall_smccc::Outcome::reply(Reply::x0(black_box(5)))));
}
