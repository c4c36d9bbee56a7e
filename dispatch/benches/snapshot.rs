//! Snapshot and restore of a large VM. Run: `cargo bench -p fwcall --bench snapshot`.
//!
//! Target (issue 5): snapshot plus restore of a 512-vCPU VM with every
//! private event registered and one handler running per vCPU, under 1 ms
//! together. The blob size is printed before the benches run.

use divan::{Bencher, black_box};
use fwcall::pvtime::AtomicMemory;
use fwcall::{
    Call, EventDecl, EventKind, Gpa, Interrupted, MemoryRegion, Priority, VcpuIndex, Vm, VmConfig,
    ids,
};

const VCPUS: u32 = 512;
const RESERVED: MemoryRegion = MemoryRegion {
    base: Gpa(0x0a10_0000),
    size: 0x1_0000,
};

fn main() {
    let vm = busy_vm();
    let blob = vm.snapshot().unwrap();
    println!(
        "512 vCPUs, 8 private events each, one handler running per vCPU: {} bytes",
        blob.len()
    );
    divan::main();
}

fn config() -> VmConfig {
    let mut c = VmConfig::new(VCPUS);
    c.reserved = vec![RESERVED];
    c.pvtime.stolen_time_base = Some(RESERVED.base);
    let sdei = c.sdei.as_mut().unwrap();
    sdei.events = (0..3)
        .map(|i| EventDecl {
            number: 0x100 + i,
            kind: EventKind::Private,
            priority: if i == 2 {
                Priority::Critical
            } else {
                Priority::Normal
            },
        })
        .collect();
    c
}

/// Every private event (event 0, three platform events, four bound
/// slots) registered and enabled on every vCPU, and one handler running on each.
fn busy_vm() -> Vm<AtomicMemory> {
    let vm = Vm::new(config(), AtomicMemory::new(&[RESERVED])).unwrap();
    vm.start().unwrap();
    let v0 = vm.vcpu(VcpuIndex(0)).unwrap();
    let mut events: Vec<u64> = vec![0, 0x100, 0x101, 0x102];
    for ppi in 16..20 {
        let r = v0.handle(&Call::new(ids::SDEI_INTERRUPT_BIND, &[ppi]));
        events.push(r.reply.written_x().next().unwrap().1);
    }
    for v in vm.vcpus() {
        for &e in &events {
            v.handle(&Call::new(
                ids::SDEI_EVENT_REGISTER,
                &[e, 0xffff_8000_1000_0000 + e, e, 0, 0],
            ));
            v.handle(&Call::new(ids::SDEI_EVENT_ENABLE, &[e]));
        }
        v.handle(&Call::new(ids::PV_TIME_ST, &[]));
        v.handle(&Call::new(ids::SDEI_PE_UNMASK, &[]));
        vm.raise(0x100, Some(v.index())).unwrap();
        let now = Interrupted {
            pc: 0xffff_8000_2000_0000,
            pstate: 0x3c5,
            sctlr_el1: 1 << 23,
            ..Default::default()
        };
        assert!(v.take_delivery(&now).is_some());
        v.account_steal(1234).unwrap();
    }
    vm
}

#[divan::bench]
fn snapshot(bencher: Bencher) {
    let vm = busy_vm();
    bencher.bench_local(|| black_box(&vm).snapshot().unwrap());
}

#[divan::bench]
fn restore(bencher: Bencher) {
    let blob = busy_vm().snapshot().unwrap();
    bencher
        .with_inputs(|| AtomicMemory::new(&[RESERVED]))
        .bench_local_values(|mem| Vm::restore(config(), mem, black_box(&blob)).unwrap());
}

#[divan::bench]
fn snapshot_plus_restore(bencher: Bencher) {
    let vm = busy_vm();
    bencher
        .with_inputs(|| (AtomicMemory::new(&[RESERVED]), config()))
        .bench_local_values(|(mem, cfg)| {
            let blob = black_box(&vm).snapshot().unwrap();
            Vm::restore(cfg, mem, &blob).unwrap()
        });
}
