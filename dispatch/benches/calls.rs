//! The hot paths through the public API. Run: `cargo bench -p fwcall --bench calls`.
//!
//! Budgets (the performance issue, medians on the project's machine): a
//! fast call (`SMCCC_VERSION`, `PV_TIME_ST`, `SDEI_EVENT_STATUS`) <= 20 ns,
//! `PE_MASK` + `PE_UNMASK` <= 30 ns, the SDEI cycle <= 300 ns, steal
//! accounting with the record write <= 20 ns, `PSCI_VERSION` and
//! `AFFINITY_INFO` <= 20 ns, the same cost at 1 and 512
//! vCPUs, no heap allocation (divan's allocation profiler counts them).
//! `fwcall bench` runs the same measurements with verdicts.

use divan::{AllocProfiler, Bencher, black_box};
use fwcall::pvtime::AtomicMemory;
use fwcall::{Call, FunctionId, Gpa, Interrupted, MemoryRegion, VcpuIndex, Vm, VmConfig, ids};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const ENTRY: u64 = 0xffff_8000_1000_0000;
const NOW: Interrupted = Interrupted {
    x: [7; 18],
    pc: 0xffff_8000_1020_0000,
    pstate: 0x3c5,
    sctlr_el1: 0x0080_0000,
};

fn main() {
    divan::main();
}

/// `vcpus` vCPUs, PV time placed, event 0 registered, enabled and
/// unmasked everywhere, every record enabled.
fn vm(vcpus: u32) -> Vm<AtomicMemory> {
    let table = (vcpus as u64 * 64).div_ceil(0x1_0000) * 0x1_0000;
    let reserved = MemoryRegion {
        base: Gpa(0x0a10_0000),
        size: table,
    };
    let mut c = VmConfig::new(vcpus);
    c.ram = vec![MemoryRegion {
        base: Gpa(0x4000_0000),
        size: 0x1000_0000,
    }];
    c.reserved = vec![reserved];
    c.pvtime.stolen_time_base = Some(reserved.base);
    let vm = Vm::new(c, AtomicMemory::new(&[reserved])).unwrap();
    for v in vm.vcpus() {
        v.handle(&Call::new(ids::SDEI_EVENT_REGISTER, &[0, ENTRY, 0, 0, 0]));
        v.handle(&Call::new(ids::SDEI_EVENT_ENABLE, &[0]));
        v.handle(&Call::new(ids::SDEI_PE_UNMASK, &[]));
        v.handle(&Call::new(ids::PV_TIME_ST, &[]));
    }
    vm
}

#[divan::bench]
fn decode_function_id(b: Bencher) {
    b.with_inputs(|| FunctionId(0xC400_0021 | FunctionId::SVE_HINT_BIT))
        .bench_values(|f| {
            let f = f.for_lookup(fwcall::SmcccVersion::V1_4);
            black_box((
                f.owner(),
                f.number(),
                f.convention(),
                f.is_well_formed(fwcall::SmcccVersion::V1_4),
            ))
        });
}

#[divan::bench(args = ["SMCCC_VERSION", "SMCCC_ARCH_FEATURES", "SDEI_VERSION", "SDEI_EVENT_STATUS", "PV_TIME_ST", "unknown"])]
fn call(b: Bencher, name: &str) {
    let vm = vm(4);
    let v = vm.vcpu(VcpuIndex(0)).unwrap();
    let c = match name {
        "SMCCC_ARCH_FEATURES" => Call::new(
            ids::SMCCC_ARCH_FEATURES,
            &[ids::PV_TIME_FEATURES.raw() as u64],
        ),
        "SDEI_EVENT_STATUS" => Call::new(ids::SDEI_EVENT_STATUS, &[0]),
        "unknown" => Call::new(FunctionId(0xC300_1234), &[]),
        n => Call::new(ids::by_name(n).unwrap(), &[]),
    };
    b.bench(|| {
        black_box(&v.handle(black_box(&c)));
    });
}

#[divan::bench(args = [1, 512])]
fn pe_mask_unmask(b: Bencher, vcpus: u32) {
    let vm = vm(vcpus);
    // The last vCPU: its cost must not depend on how many come before it.
    let v = vm.vcpu(VcpuIndex(vcpus - 1)).unwrap();
    let (mask, unmask) = (
        Call::new(ids::SDEI_PE_MASK, &[]),
        Call::new(ids::SDEI_PE_UNMASK, &[]),
    );
    b.bench(|| {
        black_box(&v.handle(black_box(&mask)));
        black_box(&v.handle(black_box(&unmask)));
    });
}

#[divan::bench]
fn sdei_cycle(b: Bencher) {
    let vm = vm(2);
    let v = vm.vcpu(VcpuIndex(0)).unwrap();
    let target = vm.config().mpidrs[0].0;
    b.bench(|| {
        black_box(&v.handle(&Call::new(ids::SDEI_EVENT_SIGNAL, &[0, target])));
        black_box(v.take_delivery(black_box(&NOW)));
        for i in 0..4 {
            black_box(&v.handle(&Call::new(ids::SDEI_EVENT_CONTEXT, &[i])));
        }
        black_box(&v.handle(&Call::new(ids::SDEI_EVENT_COMPLETE, &[0])));
    });
}

#[divan::bench]
fn steal_accounting(b: Bencher) {
    let vm = vm(2);
    let v = vm.vcpu(VcpuIndex(1)).unwrap();
    b.bench(|| black_box(v.account_steal(black_box(1))));
}

/// PSCI and TRNG on a 4-vCPU VM serving them (every vCPU on).
#[divan::bench(args = ["PSCI_VERSION", "PSCI_AFFINITY_INFO_64", "TRNG_VERSION"])]
fn psci_trng(b: Bencher, name: &str) {
    let mut c = VmConfig::new(4);
    c.psci = Some(fwcall::PsciConfig {
        version: fwcall::PsciVersion::V1_1,
        boot: (0..4).map(VcpuIndex).collect(),
    });
    c.trng = Some(fwcall::TrngConfig::default());
    let vm = Vm::new(c, fwcall::NoMemory).unwrap();
    let v = vm.vcpu(VcpuIndex(0)).unwrap();
    let call = Call::new(ids::by_name(name).unwrap(), &[3, 0]);
    b.bench(|| {
        black_box(&v.handle(black_box(&call)));
    });
}
