//! The reference VMM's exit path on a fake register file: the same
//! `VcpuExits`, fwcall configuration and guest memory the KVM build uses,
//! driven through the calls a Linux guest makes.

use fwcall::kvm::fake::{FakeExit, FakeVcpu, GuestOp};
use fwcall::kvm::{Exit, FilterPlan, KvmVcpu, RegisterFile, Runner, check_firmware_registers};
use fwcall::{FunctionId, VcpuIndex, ids};
use refvmm::control::{self, PauseGate};
use refvmm::exits::{self, Devices};
use refvmm::firmware::{self, FwMemory, FwVm, PLATFORM_EVENT};
use refvmm::layout::{PVTIME_BASE, UART_BASE};
use refvmm::memory::GuestMem;
use refvmm::stats::Stats;
use vm_memory::{Bytes, GuestAddress};

const MPIDRS: [u64; 2] = [0x8000_0000, 0x8000_0001];
const BOOT_PC: u64 = 0xffff_8000_0800_0000;

fn machine() -> (GuestMem, FwVm) {
    let mem = GuestMem::new(16 << 20).unwrap();
    let vm = firmware::build(
        firmware::config(&MPIDRS, 16 << 20, true),
        mem.pvtime.clone(),
    )
    .unwrap();
    (mem, vm)
}

fn regs() -> RegisterFile {
    RegisterFile {
        pc: BOOT_PC,
        pstate: 0x3c5,
        ..Default::default()
    }
}

/// refvmm's loop on a fake vCPU until the guest spins: serves calls
/// through `exits::served`, counts deliveries, and calls `after` with
/// each served call's ID and result (the place a test raises events).
/// Returns every served call's result.
fn drive(
    me: &KvmVcpu<'_, FwMemory>,
    runner: &mut Runner<FakeVcpu<'_>>,
    stats: &Stats,
    mut after: impl FnMut(FunctionId, u64),
) -> Vec<(FunctionId, u64)> {
    let mut results = Vec::new();
    for _ in 0..64 {
        let ready = runner.prepare(me).unwrap().deliver(|| 0).unwrap();
        if let Some(d) = ready.delivery() {
            exits::delivered(stats, d);
        }
        match ready.run().unwrap() {
            Exit::Hypercall(h) => {
                let out = runner.serve(me, h).unwrap();
                exits::served(stats, me, h, &out);
                let x0 = runner.vcpu().regs.x[0];
                results.push((h.fid(), x0));
                after(h.fid(), x0);
            }
            Exit::Interrupted => {}
            Exit::Other(FakeExit::Spinning) => return results,
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("the guest never settled")
}

#[test]
fn linux_boot_calls_are_served_and_pv_time_lands_outside_ram() {
    let (mem, vm) = machine();
    let stats = Stats::default();
    let me = KvmVcpu::new(&vm, VcpuIndex(1)).unwrap();
    let st = u64::from(ids::PV_TIME_ST.raw());
    let guest = [
        GuestOp::hvc(ids::SDEI_VERSION, &[]),
        GuestOp::hvc(ids::SDEI_PRIVATE_RESET, &[]),
        GuestOp::hvc(ids::SDEI_SHARED_RESET, &[]),
        GuestOp::hvc(ids::SDEI_PE_UNMASK, &[]),
        GuestOp::hvc(ids::PV_TIME_FEATURES, &[st]),
        GuestOp::hvc(ids::PV_TIME_ST, &[]),
    ];
    let mut runner = Runner::new(FakeVcpu::new(regs(), guest));
    let r = drive(&me, &mut runner, &stats, |_, _| {});
    assert_eq!(r[0].1 >> 48, 1);
    assert!(r[1..5].iter().all(|(_, x0)| *x0 == 0), "{r:x?}");
    // vCPU 1's record is the second 64-byte slot of the PV-time region.
    assert_eq!(r[5].1, PVTIME_BASE + 64);

    me.vcpu().account_steal(1_500_000).unwrap();
    let stolen: u64 = mem
        .pvtime
        .read_obj(GuestAddress(PVTIME_BASE + 64 + 8))
        .unwrap();
    assert_eq!(stolen, 1_500_000);
    assert_eq!(
        runner.vcpu().regs.pc,
        BOOT_PC + 6 * 4,
        "only KVM moves the PC, once per HVC"
    );
    assert_eq!(stats.calls_of(ids::SDEI_VERSION), 1);
    assert_eq!(stats.calls_of(ids::PV_TIME_ST), 1);
    let t = runner.traffic();
    assert_eq!(
        (t.calls, t.call_reads),
        (6, 1),
        "only PV_TIME_FEATURES takes an argument"
    );
    assert!(t.call_reads + t.call_writes <= t.call_budget);
}

#[test]
fn event_0_raised_by_the_vmm_is_entered_and_completed() {
    let (_mem, vm) = machine();
    let stats = Stats::default();
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let (entry, arg) = (0xffff_8000_0012_3400, 0xabcd);
    let mut start = regs();
    start.x[9] = 0x99;
    let guest = [
        GuestOp::hvc(ids::SDEI_EVENT_REGISTER, &[0, entry, arg, 0, 0]),
        GuestOp::hvc(ids::SDEI_EVENT_ENABLE, &[0]),
        GuestOp::hvc(ids::SDEI_PE_UNMASK, &[]),
        // The handler.
        GuestOp::hvc(ids::SDEI_EVENT_COMPLETE, &[0]),
    ];
    let mut runner = Runner::new(FakeVcpu::new(start, guest));
    let resumed = BOOT_PC + 3 * 4;
    let r = drive(&me, &mut runner, &stats, |fid, _| {
        if fid == ids::SDEI_PE_UNMASK {
            // The control thread raises event 0 on every vCPU; only vCPU 0
            // registered it.
            let kicks = control::raise(&vm, 0).unwrap();
            assert!(kicks.contains(VcpuIndex(0)));
        }
    });
    assert!(r[..3].iter().all(|(_, x0)| *x0 == 0), "{r:x?}");
    let fake = runner.vcpu();
    assert_eq!(
        fake.entries[3], entry,
        "handler entered at its first instruction"
    );
    assert_eq!(stats.deliveries_of(0), 1);
    assert_eq!(
        (fake.regs.pc, fake.regs.pstate, fake.regs.x[9]),
        (resumed, 0x3c5, 0x99),
        "COMPLETE restored the interrupted context"
    );
    assert_eq!(fake.entries.last(), Some(&resumed));
}

#[test]
fn platform_event_is_raised_through_the_vm() {
    let (_mem, vm) = machine();
    let stats = Stats::default();
    // vCPU 0: with fwcall's PSCI the others are off until a CPU_ON.
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let e = u64::from(PLATFORM_EVENT);
    let guest = [
        GuestOp::hvc(ids::SDEI_EVENT_REGISTER, &[e, 0x5000, 0, 0, 0]),
        GuestOp::hvc(ids::SDEI_EVENT_ENABLE, &[e]),
        GuestOp::hvc(ids::SDEI_PE_UNMASK, &[]),
    ];
    let mut runner = Runner::new(FakeVcpu::new(regs(), guest));
    drive(&me, &mut runner, &stats, |fid, _| {
        if fid == ids::SDEI_PE_UNMASK {
            control::raise(&vm, PLATFORM_EVENT).unwrap();
        }
    });
    assert_eq!(runner.vcpu().entries.last(), Some(&0x5000));
    assert_eq!(stats.deliveries_of(PLATFORM_EVENT), 1);
    assert!(
        control::raise(&vm, 0x7777).is_err(),
        "undeclared events are refused"
    );
}

#[test]
fn refused_forms_answer_not_supported() {
    let (_mem, vm) = machine();
    let stats = Stats::default();
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    // SMC32 alias of SDEI_VERSION.
    let guest = [GuestOp::hvc(FunctionId(0x8400_0020), &[])];
    let mut runner = Runner::new(FakeVcpu::new(regs(), guest));
    let r = drive(&me, &mut runner, &stats, |_, _| {});
    assert_eq!(r[0].1 as u32, u32::MAX);
    assert_eq!(runner.traffic().call_reads, 0);
    // A T32 HVC.
    let mut file = regs();
    let exit = fwcall::kvm::HypercallExit {
        nr: u64::from(ids::SDEI_VERSION.raw()),
        flags: 2,
    };
    me.serve(exit, &mut file).unwrap();
    assert_eq!(file.x[0], u64::MAX);
}

#[test]
fn machine_config_agrees_with_kvm_when_pv_time_bit_is_set() {
    let (_mem, vm) = machine();
    // KVM after sync_firmware: PV time advertised, its TRNG off, its PSCI
    // version register at fwcall's 1.1.
    let kvm = |id: u64| {
        Ok::<_, ()>(match id {
            fwcall::kvm::abi::STD_HYP_BMAP => 1,
            fwcall::kvm::abi::PSCI_VERSION => 0x1_0001,
            _ => 0,
        })
    };
    check_firmware_registers(&vm, kvm).unwrap();
    let plan = FilterPlan::for_vm(&vm);
    assert!(plan.forwards(ids::SDEI_EVENT_SIGNAL) && plan.forwards(ids::PV_TIME_ST));
    assert!(plan.forwards(ids::PSCI_CPU_ON_64) && plan.forwards(ids::TRNG_RND64));
    // KVM's own TRNG still on: refused.
    let trng_on = |id: u64| {
        Ok::<_, ()>(match id {
            fwcall::kvm::abi::STD_HYP_BMAP | fwcall::kvm::abi::STD_BMAP => 1,
            fwcall::kvm::abi::PSCI_VERSION => 0x1_0001,
            _ => 0,
        })
    };
    assert!(check_firmware_registers(&vm, trng_on).is_err());
}

#[test]
fn uart_output_and_status_through_mmio() {
    let devices = Devices::new(Vec::new());
    let mut lsr = [0xffu8; 4];
    devices.read(UART_BASE + 5, &mut lsr);
    assert_eq!(lsr, [0x60, 0, 0, 0]);
    for b in b"hi\n" {
        devices.write(UART_BASE, &[*b]);
    }
    devices.write(0x0a00_0000, b"x"); // nothing there
    let mut other = [0xffu8; 4];
    devices.read(0x0a00_0000, &mut other);
    assert_eq!(other, [0; 4]);
    assert_eq!(devices.uart().lock().unwrap().output(), b"hi\n");
}

#[test]
fn report_line_has_calls_events_stolen_time_and_register_traffic() {
    let stats = Stats::default();
    stats.call(ids::SDEI_VERSION);
    stats.call(ids::SDEI_VERSION);
    stats.delivered(0);
    stats.kicked(3);
    stats.traffic(fwcall::kvm::Traffic {
        calls: 2,
        call_reads: 1,
        call_writes: 2,
        call_budget: 4,
        deliveries: 1,
        delivery_reads: 21,
        delivery_writes: 6,
        runs: 9,
        completion_runs: 1,
        starts: 1,
        power_reads: 2,
        power_writes: 34,
        parks: 3,
    });
    stats.rebooted();
    let line = stats.report(&[10, 20]);
    assert!(line.starts_with("fwcall-report calls="));
    assert!(line.contains("SDEI_VERSION:2"), "{line}");
    assert!(line.contains("events=0x0:1"), "{line}");
    assert!(
        line.ends_with(
            "kicks=3 sdei_errors=0 stolen_ns=10,20 served=2 deliveries=1 get_one_reg=24 set_one_reg=42 call_regs=1/2 call_budget=4 completion_runs=1 starts=1 parks=3 reboots=1"
        ),
        "{line}"
    );
}

#[test]
fn pause_gate_parks_threads_until_released() {
    use std::sync::Arc;
    let gate = Arc::new(PauseGate::default());
    gate.request();
    let g = gate.clone();
    let t = std::thread::spawn(move || g.park());
    assert!(gate.wait_parked(|| 1, || false));
    gate.release();
    t.join().unwrap();
    assert!(!gate.requested());
}

#[test]
fn a_snapshot_cycle_keeps_registrations_and_stolen_time() {
    let (mem, vm) = machine();
    let stats = Stats::default();
    let guest = [
        GuestOp::hvc(ids::SDEI_EVENT_REGISTER, &[0, 0x7000, 1, 0, 0]),
        GuestOp::hvc(ids::SDEI_EVENT_ENABLE, &[0]),
        GuestOp::hvc(ids::SDEI_PE_UNMASK, &[]),
        GuestOp::hvc(ids::PV_TIME_ST, &[]),
    ];
    // One runner across both instances, as refvmm's vCPU thread keeps its
    // vCPU while the server is swapped.
    let mut runner = Runner::new(FakeVcpu::new(regs(), guest));
    {
        let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
        drive(&me, &mut runner, &stats, |_, _| {});
        me.vcpu().account_steal(2_000).unwrap();
    }
    let config = firmware::config(&MPIDRS, 16 << 20, true);
    let (restored, len) = firmware::snapshot_restore(&vm, config, mem.pvtime.clone()).unwrap();
    drop(vm);
    assert!(len > 0);
    assert_eq!(restored.vcpu(VcpuIndex(0)).unwrap().stolen_ns(), 2_000);

    // The guest's registration survived: a raise is delivered by the new instance.
    control::raise(&restored, 0).unwrap();
    let me = KvmVcpu::new(&restored, VcpuIndex(0)).unwrap();
    let ready = runner.prepare(&me).unwrap().deliver(|| 500).unwrap();
    assert!(ready.delivery().is_some());
    let _ = ready.run().unwrap();
    assert_eq!(runner.vcpu().entries.last(), Some(&0x7000));
    let stolen: u64 = mem.pvtime.read_obj(GuestAddress(PVTIME_BASE + 8)).unwrap();
    assert_eq!(stolen, 2_500, "steal keeps counting in the same record");
}
