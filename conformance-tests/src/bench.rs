//! `fwcall bench`: a quick measurement of the library's share of an exit,
//! printed next to a baseline from the same run, with the budgets of the
//! performance issue and whether each holds.
//!
//! Each figure is the median over batches of calls timed with `Instant`.
//! The baseline is an *empty call*: a VMM service that answers 0, called
//! through the same [`fwcall::Vcpu::handle`] and the same outer loop, so a
//! ratio says how much a real call costs over the unavoidable minimum and
//! survives a noisy machine. Heap allocations per call are counted by the
//! binary's counting allocator, handed in as a closure. Results are taken
//! by reference (`black_box(&out)`), as a VMM applies them, so the figure
//! does not include a copy a real exit handler never makes.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use fwcall::trng::DeterministicSource;
use fwcall::{
    Call, EventDecl, EventKind, Gpa, GuestMemoryAccess, Interrupted, MemoryError, MemoryRegion,
    Outcome, Priority, PsciConfig, PsciVersion, Reply, SdeiConfig, Service, TrngConfig, VcpuIndex,
    Vm, VmConfig, ids,
};

/// Guest memory for benchmarks: the PV-time region as atomic words, so a
/// record write costs what a store into a VMM's mapping costs.
#[derive(Debug)]
pub struct WordMemory {
    base: u64,
    words: Vec<AtomicU64>,
}

impl WordMemory {
    /// Memory covering `size` bytes from `base`.
    pub fn new(base: u64, size: u64) -> Self {
        WordMemory {
            base,
            words: (0..size / 8).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn index(&self, addr: Gpa, len: usize) -> Result<usize, MemoryError> {
        let err = || MemoryError::OutOfRange {
            addr,
            len: len as u64,
        };
        let off = addr.0.checked_sub(self.base).ok_or_else(err)?;
        let end = off.checked_add(len as u64).ok_or_else(err)?;
        if end > self.words.len() as u64 * 8 || off % 8 != 0 || len % 8 != 0 {
            return Err(err());
        }
        Ok((off / 8) as usize)
    }
}

impl GuestMemoryAccess for WordMemory {
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
        let i = self.index(addr, 8)?;
        self.words[i].store(value, Ordering::Relaxed);
        Ok(())
    }

    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        let i = self.index(addr, data.len())?;
        for (k, chunk) in data.chunks_exact(8).enumerate() {
            let mut w = [0; 8];
            w.copy_from_slice(chunk);
            self.words[i + k].store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
        Ok(())
    }

    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
        let i = self.index(addr, buf.len())?;
        for (k, chunk) in buf.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&self.words[i + k].load(Ordering::Relaxed).to_le_bytes());
        }
        Ok(())
    }
}

/// The empty call of the baseline.
#[derive(Debug)]
struct Empty;

impl Service for Empty {
    fn name(&self) -> &str {
        "empty"
    }
    fn call(&self, _vcpu: VcpuIndex, _call: &Call) -> Outcome {
        Outcome::reply(Reply::x0(0))
    }
}

const EMPTY_FID: u32 = 0xC600_0100;
const PVT_BASE: u64 = 0x0a10_0000;
const NORMAL_EVENT: u32 = 0x100;
const CRITICAL_EVENT: u32 = 0x200;
const ENTRY: u64 = 0xffff_8000_1000_0000;

type BenchVm = Vm<Arc<WordMemory>>;

fn config(vcpus: u32) -> (VmConfig, u64) {
    let mut c = VmConfig::new(vcpus);
    c.ram = vec![MemoryRegion {
        base: Gpa(0x4000_0000),
        size: 0x1000_0000,
    }];
    let table = (vcpus as u64 * 64).div_ceil(0x1_0000) * 0x1_0000;
    c.reserved = vec![MemoryRegion {
        base: Gpa(PVT_BASE),
        size: table,
    }];
    c.pvtime.stolen_time_base = Some(Gpa(PVT_BASE));
    let sdei = SdeiConfig {
        events: vec![
            EventDecl {
                number: NORMAL_EVENT,
                kind: EventKind::Private,
                priority: Priority::Normal,
            },
            EventDecl {
                number: CRITICAL_EVENT,
                kind: EventKind::Private,
                priority: Priority::Critical,
            },
        ],
        ..SdeiConfig::default()
    };
    c.sdei = Some(sdei);
    // PSCI with every vCPU on (the calls below run on all of them), TRNG.
    c.psci = Some(PsciConfig {
        version: PsciVersion::V1_1,
        boot: (0..vcpus).map(VcpuIndex).collect(),
    });
    c.trng = Some(TrngConfig::default());
    (c, table)
}

/// A VM like the demo's with `vcpus` vCPUs: PV time placed, a private
/// normal and a private critical platform event registered, enabled and
/// unmasked on every vCPU, and the empty service added.
pub fn bench_vm(vcpus: u32) -> BenchVm {
    let (c, table) = config(vcpus);
    let mut vm = Vm::new(c, Arc::new(WordMemory::new(PVT_BASE, table))).expect("benchmark VM");
    vm.add_service(EMPTY_FID..=EMPTY_FID, 0, Box::new(Empty))
        .expect("empty service");
    vm.set_entropy_source(Box::new(DeterministicSource::new(1)));
    vm.start().expect("start");
    for v in vm.vcpus() {
        for e in [0, NORMAL_EVENT, CRITICAL_EVENT] {
            expect_ok(v.handle(&Call::new(
                ids::SDEI_EVENT_REGISTER,
                &[e as u64, ENTRY, 0x1234, 0, 0],
            )));
            expect_ok(v.handle(&Call::new(ids::SDEI_EVENT_ENABLE, &[e as u64])));
        }
        expect_ok(v.handle(&Call::new(ids::SDEI_PE_UNMASK, &[])));
        expect_ok(v.handle(&Call::new(ids::PV_TIME_ST, &[])));
    }
    vm
}

fn expect_ok(o: Outcome) {
    match o.reply {
        Reply::Return { regs, .. } if (regs[0] as i64) >= 0 => {}
        other => panic!("benchmark setup call failed: {other:?}"),
    }
}

const NOW: Interrupted = Interrupted {
    x: [7; 18],
    pc: 0xffff_8000_1020_0000,
    pstate: 0x3c5,
    sctlr_el1: 0x0080_0000,
};

/// One SDEI cycle on `vcpu`: a self-signal of event 0, the delivery, four
/// `EVENT_CONTEXT` reads (as Linux does) and `EVENT_COMPLETE`.
fn sdei_cycle(vm: &BenchVm, vcpu: VcpuIndex) {
    let v = vm.vcpu(vcpu).expect("vcpu");
    let target = vm.config().mpidrs[vcpu.get()].0;
    black_box(&v.handle(&Call::new(ids::SDEI_EVENT_SIGNAL, &[0, target])));
    let d = v.take_delivery(black_box(&NOW));
    debug_assert!(d.is_some());
    for i in 0..4 {
        black_box(&v.handle(&Call::new(ids::SDEI_EVENT_CONTEXT, &[i])));
    }
    black_box(&v.handle(&Call::new(ids::SDEI_EVENT_COMPLETE, &[0])));
}

/// A critical event preempting a running normal one, both completed.
fn nesting_cycle(vm: &BenchVm, vcpu: VcpuIndex) {
    let v = vm.vcpu(vcpu).expect("vcpu");
    let _ = vm.raise(NORMAL_EVENT, Some(vcpu));
    let d = v.take_delivery(&NOW);
    debug_assert!(d.is_some());
    let _ = vm.raise(CRITICAL_EVENT, Some(vcpu));
    let d = v.take_delivery(&NOW);
    debug_assert!(d.is_some());
    black_box(&v.handle(&Call::new(ids::SDEI_EVENT_COMPLETE, &[0])));
    black_box(&v.handle(&Call::new(ids::SDEI_EVENT_COMPLETE, &[0])));
}

/// The calls a VMM has already read from the registers at the exit.
struct MaskCalls {
    mask: Call,
    unmask: Call,
}

impl MaskCalls {
    fn new() -> Self {
        MaskCalls {
            mask: Call::new(ids::SDEI_PE_MASK, &[]),
            unmask: Call::new(ids::SDEI_PE_UNMASK, &[]),
        }
    }
}

fn mask_pair(v: &fwcall::Vcpu<'_, Arc<WordMemory>>, calls: &MaskCalls) {
    black_box(&v.handle(black_box(&calls.mask)));
    black_box(&v.handle(black_box(&calls.unmask)));
}

/// Median nanoseconds per call of `f`, over `samples` batches of `batch`.
pub fn median_ns(samples: usize, batch: u64, mut f: impl FnMut()) -> f64 {
    for _ in 0..batch.min(10_000) {
        f();
    }
    let mut v: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// The figure.
    pub value: f64,
    /// Its unit (`ns`, `us`, `x`).
    pub unit: &'static str,
    /// The figure divided by the baseline, for per-call rows.
    pub ratio: Option<f64>,
    /// Heap allocations per call, when counted.
    pub allocs: Option<f64>,
    /// The budget, as text (empty when the row has none).
    pub budget: String,
    /// Whether the budget holds (`true` for rows without one).
    pub holds: bool,
}

/// How hard to measure.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Batches per figure.
    pub samples: usize,
    /// Calls per batch.
    pub batch: u64,
}

impl Options {
    /// The default run: well under a minute.
    pub const QUICK: Options = Options {
        samples: 41,
        batch: 20_000,
    };
    /// A smoke run for tests: fast, figures meaningless.
    pub const SMOKE: Options = Options {
        samples: 3,
        batch: 200,
    };
}

/// Counts the heap allocations made while running a closure.
pub type AllocCounter<'a> = &'a dyn Fn(&mut dyn FnMut()) -> u64;

/// Runs every measurement. `allocs` counts heap allocations (pass
/// `&|f| { f(); 0 }` when no counting allocator is installed).
pub fn run(opts: Options, allocs: AllocCounter<'_>) -> Vec<Row> {
    let vm = bench_vm(4);
    let v0 = VcpuIndex(0);
    let mut rows = Vec::new();

    let empty = Call::new(fwcall::FunctionId(EMPTY_FID), &[]);
    let vcpu = vm.vcpu(v0).expect("vcpu 0");
    let baseline = median_ns(opts.samples, opts.batch, || {
        black_box(&vcpu.handle(black_box(&empty)));
    });
    rows.push(Row {
        name: "baseline: empty call".into(),
        value: baseline,
        unit: "ns",
        ratio: Some(1.0),
        allocs: None,
        budget: String::new(),
        holds: true,
    });

    let per_call_allocs = |f: &mut dyn FnMut()| {
        let mut many = || {
            for _ in 0..1000 {
                f();
            }
        };
        allocs(&mut many) as f64 / 1000.0
    };

    // (name, operation, budget in ns (0 = none), also <= 3x baseline)
    type Op<'a> = Box<dyn FnMut() + 'a>;
    let call_op = |c: Call| -> Op<'_> {
        let v = vm.vcpu(v0).expect("vcpu");
        Box::new(move || {
            black_box(&v.handle(black_box(&c)));
        })
    };
    let mut ops: Vec<(&str, Op<'_>, f64, bool)> = vec![
        (
            "decode + route (unknown ID)",
            call_op(Call::new(fwcall::FunctionId(0xC300_1234), &[])),
            0.0,
            false,
        ),
        (
            "SMCCC_VERSION",
            call_op(Call::new(ids::SMCCC_VERSION, &[])),
            20.0,
            true,
        ),
        (
            "SMCCC_ARCH_FEATURES",
            call_op(Call::new(
                ids::SMCCC_ARCH_FEATURES,
                &[ids::PV_TIME_FEATURES.raw() as u64],
            )),
            0.0,
            false,
        ),
        (
            "SDEI_VERSION",
            call_op(Call::new(ids::SDEI_VERSION, &[])),
            0.0,
            false,
        ),
        (
            "SDEI_EVENT_STATUS",
            call_op(Call::new(ids::SDEI_EVENT_STATUS, &[0])),
            20.0,
            true,
        ),
        (
            "PV_TIME_ST",
            call_op(Call::new(ids::PV_TIME_ST, &[])),
            20.0,
            true,
        ),
        (
            "PSCI_VERSION",
            call_op(Call::new(ids::PSCI_VERSION, &[])),
            20.0,
            true,
        ),
        (
            "PSCI_AFFINITY_INFO (level 0)",
            call_op(Call::new(ids::PSCI_AFFINITY_INFO_64, &[0x3, 0])),
            20.0,
            true,
        ),
        (
            "TRNG_RND64 (192 bits, deterministic source)",
            call_op(Call::new(ids::TRNG_RND64, &[192])),
            0.0,
            false,
        ),
        (
            "SDEI_PE_MASK + SDEI_PE_UNMASK",
            {
                let calls = MaskCalls::new();
                Box::new(move || mask_pair(&vcpu, &calls))
            },
            30.0,
            false,
        ),
        (
            "SDEI cycle: signal, delivery, 4 x CONTEXT, COMPLETE",
            Box::new(|| sdei_cycle(&vm, v0)),
            300.0,
            false,
        ),
        (
            "SDEI critical over normal, both completed",
            Box::new(|| nesting_cycle(&vm, v0)),
            0.0,
            false,
        ),
        (
            "steal accounting + record write",
            Box::new(|| {
                black_box(vcpu.account_steal(black_box(1)).ok());
            }),
            20.0,
            false,
        ),
    ];
    for (name, op, budget, ratio_budget) in ops.iter_mut() {
        let ns = median_ns(opts.samples, opts.batch, &mut *op);
        let ratio = ns / baseline.max(f64::MIN_POSITIVE);
        let a = per_call_allocs(&mut *op);
        let mut text = String::new();
        let mut holds = a == 0.0;
        if *budget > 0.0 {
            let _ = write!(text, "<= {budget} ns");
            holds &= ns <= *budget;
        }
        if *ratio_budget {
            text.push_str(" and <= 3x baseline");
            holds &= ratio <= 3.0;
        }
        if text.is_empty() {
            text.push_str("0 allocs");
        } else {
            text.push_str(", 0 allocs");
        }
        rows.push(Row {
            name: (*name).into(),
            value: ns,
            unit: "ns",
            ratio: Some(ratio),
            allocs: Some(a),
            budget: text,
            holds,
        });
    }
    drop(ops);

    rows.push(cpu_on_row(opts, baseline, allocs));
    rows.extend(snapshot_rows(opts));
    rows.push(scaling_row(opts));
    rows.push(threads_row(opts));
    rows
}

/// `CPU_ON` that succeeds, on a 512-vCPU VM (SDEI and PSCI on, vCPU 0
/// booted): each sample powers on vCPUs 1..=511 in turn from vCPU 0, and
/// `Vm::reset` (not timed) powers them off again between samples.
fn cpu_on_row(opts: Options, baseline: f64, allocs: AllocCounter<'_>) -> Row {
    const N: u32 = 512;
    let mut c = VmConfig::new(N);
    c.ram = vec![MemoryRegion {
        base: Gpa(0x4000_0000),
        size: 0x1000_0000,
    }];
    c.psci = Some(PsciConfig::new(PsciVersion::V1_1));
    let vm = Vm::new(c, fwcall::NoMemory).expect("CPU_ON VM");
    let v0 = vm.vcpu(VcpuIndex(0)).expect("vcpu 0");
    let calls: Vec<Call> = (1..N)
        .map(|i| {
            let mpidr = fwcall::Mpidr::kvm_default(i).affinity();
            Call::new(ids::PSCI_CPU_ON_64, &[mpidr, 0x4008_0000, i as u64])
        })
        .collect();
    let round = || {
        for c in &calls {
            let out = v0.handle(black_box(c));
            debug_assert_eq!(out.reply, Reply::x0(0));
            black_box(&out);
        }
    };
    let samples = opts.samples.max(3);
    let rounds = (opts.batch / u64::from(N)).max(1);
    let mut per_call: Vec<f64> = (0..samples)
        .map(|_| {
            let mut total = 0.0;
            for _ in 0..rounds {
                vm.reset();
                let t = Instant::now();
                round();
                total += t.elapsed().as_nanos() as f64;
            }
            total / (rounds as f64 * f64::from(N - 1))
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    let ns = per_call[per_call.len() / 2];
    vm.reset();
    let a = allocs(&mut || round()) as f64 / f64::from(N - 1);
    let ratio = ns / baseline.max(f64::MIN_POSITIVE);
    Row {
        name: "PSCI_CPU_ON (succeeds; 512 vCPUs)".into(),
        value: ns,
        unit: "ns",
        ratio: Some(ratio),
        allocs: Some(a),
        budget: "<= 20 ns and <= 3x baseline, 0 allocs".into(),
        holds: ns <= 20.0 && ratio <= 3.0 && a == 0.0,
    }
}

/// Snapshot + restore at 1, 64 and 512 vCPUs, every private event
/// registered and one handler running per vCPU.
fn snapshot_rows(opts: Options) -> Vec<Row> {
    let mut rows = Vec::new();
    for n in [1u32, 64, 512] {
        let vm = bench_vm(n);
        for v in vm.vcpus() {
            let _ = vm.raise(NORMAL_EVENT, Some(v.index()));
            let _ = v.take_delivery(&NOW);
        }
        let (config, table) = config(n);
        let mem = Arc::new(WordMemory::new(PVT_BASE, table));
        let mut size = 0;
        let samples = (opts.samples / 4).max(3);
        let us = median_ns(samples, 1, || {
            let blob = vm.snapshot().expect("snapshot");
            size = blob.len();
            let restored = Vm::restore(config.clone(), mem.clone(), &blob).expect("restore");
            black_box(restored);
        }) / 1000.0;
        let budget = if n == 512 {
            "<= 1000 us".to_string()
        } else {
            String::new()
        };
        rows.push(Row {
            name: format!("snapshot + restore, {n} vCPUs ({size} bytes)"),
            value: us,
            unit: "us",
            ratio: None,
            allocs: None,
            holds: n != 512 || us <= 1000.0,
            budget,
        });
    }
    rows
}

/// The same private calls on a 512-vCPU VM (on its last vCPU) against a
/// 1-vCPU VM: the cost must not grow with the VM.
fn scaling_row(opts: Options) -> Row {
    let small = bench_vm(1);
    let big = bench_vm(512);
    let last = VcpuIndex(511);
    fn work(vm: &BenchVm, v: VcpuIndex) -> impl FnMut() + '_ {
        let vcpu = vm.vcpu(v).expect("vcpu");
        let calls = MaskCalls::new();
        move || {
            mask_pair(&vcpu, &calls);
            black_box(&vcpu.handle(&Call::new(ids::SDEI_EVENT_STATUS, &[NORMAL_EVENT as u64])));
            black_box(&vcpu.handle(&Call::new(ids::PV_TIME_ST, &[])));
        }
    }
    // Interleave the two so drift in the machine's speed hits both.
    let mut a = Vec::new();
    let mut b = Vec::new();
    for _ in 0..5 {
        a.push(median_ns(
            opts.samples / 5 + 1,
            opts.batch,
            work(&small, VcpuIndex(0)),
        ));
        b.push(median_ns(
            opts.samples / 5 + 1,
            opts.batch,
            work(&big, last),
        ));
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let ratio = b[2] / a[2];
    Row {
        name: format!(
            "private calls at 512 vs 1 vCPUs ({:.1} ns vs {:.1} ns)",
            b[2], a[2]
        ),
        value: ratio,
        unit: "x",
        ratio: None,
        allocs: None,
        budget: "<= 1.2x".into(),
        holds: ratio <= 1.2,
    }
}

/// Throughput of private calls from 2 threads on 2 vCPUs against 1 thread.
fn threads_row(opts: Options) -> Row {
    let vm = Arc::new(bench_vm(2));
    let per_thread = opts.batch * 25;
    let run = |threads: u32| -> f64 {
        let barrier = Arc::new(Barrier::new(threads as usize));
        let start = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let vm = vm.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let v = VcpuIndex(t);
                    let vcpu = vm.vcpu(v).expect("vcpu");
                    let calls = MaskCalls::new();
                    let status = Call::new(ids::SDEI_EVENT_STATUS, &[0]);
                    for _ in 0..per_thread {
                        mask_pair(&vcpu, &calls);
                        black_box(&vcpu.handle(black_box(&status)));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("bench thread");
        }
        (threads as u64 * per_thread) as f64 / start.elapsed().as_secs_f64()
    };
    let mut best = 0.0f64;
    for _ in 0..3 {
        let one = run(1);
        let two = run(2);
        best = best.max(two / one);
    }
    Row {
        name: "private calls, 2 threads on 2 vCPUs vs 1 thread".into(),
        value: best,
        unit: "x",
        ratio: None,
        allocs: None,
        budget: ">= 1.7x".into(),
        holds: best >= 1.7,
    }
}

/// Renders the rows as the table `fwcall bench` prints.
pub fn render(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<58} {:>10} {:>9} {:>7}  {:<30} verdict",
        "what", "median", "x empty", "allocs", "budget"
    );
    for r in rows {
        let value = match r.unit {
            "x" => format!("{:.2}x", r.value),
            u => format!("{:.1} {u}", r.value),
        };
        let ratio = r.ratio.map(|x| format!("{x:.2}")).unwrap_or_default();
        let allocs = r.allocs.map(|a| format!("{a}")).unwrap_or_default();
        let verdict = if r.budget.is_empty() {
            ""
        } else if r.holds {
            "holds"
        } else {
            "MISSED"
        };
        let _ = writeln!(
            s,
            "{:<58} {:>10} {:>9} {:>7}  {:<30} {verdict}",
            r.name, value, ratio, allocs, r.budget
        );
    }
    s
}
