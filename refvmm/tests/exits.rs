//! The reference VMM's exit path on a fake register file: the same
//! `VcpuExits`, fwcall configuration and guest memory the KVM build uses,
//! driven through the calls a Linux guest makes.

use fwcall::kvm::{FilterPlan, HypercallExit, KvmVcpu, RegisterFile, check_firmware_registers};
use fwcall::{FunctionId, VcpuIndex, ids};
use refvmm::control::{self, PauseGate};
use refvmm::exits::{Devices, VcpuExits};
use refvmm::firmware::{self, FwVm, PLATFORM_EVENT};
use refvmm::layout::{PVTIME_BASE, UART_BASE};
use refvmm::memory::GuestMem;
use refvmm::stats::Stats;
use vm_memory::{Bytes, GuestAddress};

const MPIDRS: [u64; 2] = [0x8000_0000, 0x8000_0001];

fn machine() -> (GuestMem, FwVm) {
    let mem = GuestMem::new(16 << 20).unwrap();
    let vm = firmware::build(
        firmware::config(&MPIDRS, 16 << 20, true),
        mem.pvtime.clone(),
    )
    .unwrap();
    (mem, vm)
}

fn hvc(fid: FunctionId) -> HypercallExit {
    HypercallExit {
        nr: u64::from(fid.raw()),
        flags: 0,
    }
}

/// One guest call on `regs`: arguments in X1.., result in X0.
fn call(
    exits: &VcpuExits<'_, firmware::FwMemory>,
    regs: &mut RegisterFile,
    fid: FunctionId,
    args: &[u64],
) -> u64 {
    regs.x[1..=args.len()].copy_from_slice(args);
    exits.hypercall(hvc(fid), regs).unwrap();
    regs.x[0]
}

#[test]
fn linux_boot_calls_are_served_and_pv_time_lands_outside_ram() {
    let (mem, vm) = machine();
    let stats = Stats::default();
    let exits = VcpuExits::new(KvmVcpu::new(&vm, VcpuIndex(1)).unwrap(), &stats);
    let mut regs = RegisterFile {
        pc: 0xffff_8000_0800_0000,
        pstate: 0x3c5,
        ..Default::default()
    };

    assert_eq!(call(&exits, &mut regs, ids::SDEI_VERSION, &[]) >> 48, 1);
    assert_eq!(call(&exits, &mut regs, ids::SDEI_PRIVATE_RESET, &[]), 0);
    assert_eq!(call(&exits, &mut regs, ids::SDEI_SHARED_RESET, &[]), 0);
    assert_eq!(call(&exits, &mut regs, ids::SDEI_PE_UNMASK, &[]), 0);
    assert_eq!(
        call(
            &exits,
            &mut regs,
            ids::PV_TIME_FEATURES,
            &[u64::from(ids::PV_TIME_ST.raw())]
        ),
        0
    );
    // vCPU 1's record is the second 64-byte slot of the PV-time region.
    assert_eq!(
        call(&exits, &mut regs, ids::PV_TIME_ST, &[]),
        PVTIME_BASE + 64
    );

    exits.vcpu().vcpu().account_steal(1_500_000).unwrap();
    let stolen: u64 = mem
        .pvtime
        .read_obj(GuestAddress(PVTIME_BASE + 64 + 8))
        .unwrap();
    assert_eq!(stolen, 1_500_000);
    assert_eq!(
        regs.pc, 0xffff_8000_0800_0000,
        "the adapter never moves the PC"
    );
    assert_eq!(stats.calls_of(ids::SDEI_VERSION), 1);
    assert_eq!(stats.calls_of(ids::PV_TIME_ST), 1);
}

#[test]
fn event_0_raised_by_the_vmm_is_entered_and_completed() {
    let (_mem, vm) = machine();
    let stats = Stats::default();
    let exits = VcpuExits::new(KvmVcpu::new(&vm, VcpuIndex(0)).unwrap(), &stats);
    let mut regs = RegisterFile {
        pc: 0x4008_0000,
        pstate: 0x3c5,
        ..Default::default()
    };
    regs.x[9] = 0x99;
    let (entry, arg) = (0xffff_8000_0012_3400, 0xabcd);
    assert_eq!(
        call(
            &exits,
            &mut regs,
            ids::SDEI_EVENT_REGISTER,
            &[0, entry, arg, 0, 0]
        ),
        0
    );
    assert_eq!(call(&exits, &mut regs, ids::SDEI_EVENT_ENABLE, &[0]), 0);
    assert_eq!(call(&exits, &mut regs, ids::SDEI_PE_UNMASK, &[]), 0);
    let resumed = regs;

    // The control thread raises event 0 on every vCPU; only vCPU 0 registered it.
    let kicks = control::raise(&vm, 0).unwrap();
    assert!(kicks.contains(VcpuIndex(0)));
    assert!(exits.before_run(&mut regs).unwrap().is_empty());
    assert_eq!(regs.pc, entry);
    assert_eq!(regs.x[..4], [0, arg, resumed.pc, resumed.pstate]);
    assert_eq!(stats.deliveries_of(0), 1);

    call(&exits, &mut regs, ids::SDEI_EVENT_COMPLETE, &[0]);
    assert_eq!(
        (regs.pc, regs.pstate, regs.x[9]),
        (resumed.pc, resumed.pstate, 0x99)
    );
    assert!(exits.before_run(&mut regs).unwrap().is_empty());
    assert_eq!(stats.deliveries_of(0), 1, "one raise, one delivery");
}

#[test]
fn platform_event_is_raised_through_the_vm() {
    let (_mem, vm) = machine();
    let stats = Stats::default();
    let exits = VcpuExits::new(KvmVcpu::new(&vm, VcpuIndex(1)).unwrap(), &stats);
    let mut regs = RegisterFile::default();
    call(
        &exits,
        &mut regs,
        ids::SDEI_EVENT_REGISTER,
        &[u64::from(PLATFORM_EVENT), 0x5000, 0, 0, 0],
    );
    call(
        &exits,
        &mut regs,
        ids::SDEI_EVENT_ENABLE,
        &[u64::from(PLATFORM_EVENT)],
    );
    call(&exits, &mut regs, ids::SDEI_PE_UNMASK, &[]);
    control::raise(&vm, PLATFORM_EVENT).unwrap();
    exits.before_run(&mut regs).unwrap();
    assert_eq!(regs.pc, 0x5000);
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
    let exits = VcpuExits::new(KvmVcpu::new(&vm, VcpuIndex(0)).unwrap(), &stats);
    let mut regs = RegisterFile::default();
    // SMC32 alias of SDEI_VERSION.
    assert_eq!(
        call(&exits, &mut regs, FunctionId(0x8400_0020), &[]) as u32,
        u32::MAX
    );
    // A T32 HVC.
    let exit = HypercallExit {
        nr: u64::from(ids::SDEI_VERSION.raw()),
        flags: 2,
    };
    exits.hypercall(exit, &mut regs).unwrap();
    assert_eq!(regs.x[0], u64::MAX);
}

#[test]
fn machine_config_agrees_with_kvm_when_pv_time_bit_is_set() {
    let (_mem, vm) = machine();
    let kvm_std_hyp = |id: u64| {
        Ok::<_, ()>(if id == fwcall::kvm::abi::STD_HYP_BMAP {
            1
        } else {
            0
        })
    };
    check_firmware_registers(&vm, kvm_std_hyp).unwrap();
    let plan = FilterPlan::for_vm(&vm);
    assert!(plan.forwards(ids::SDEI_EVENT_SIGNAL) && plan.forwards(ids::PV_TIME_ST));
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
fn report_line_has_calls_events_and_stolen_time() {
    let stats = Stats::default();
    stats.call(ids::SDEI_VERSION);
    stats.call(ids::SDEI_VERSION);
    stats.delivered(0);
    stats.kicked(3);
    let line = stats.report(&[10, 20]);
    assert!(line.starts_with("fwcall-report calls="));
    assert!(line.contains("SDEI_VERSION:2"), "{line}");
    assert!(line.contains("events=0x0:1"), "{line}");
    assert!(
        line.ends_with("kicks=3 sdei_errors=0 stolen_ns=10,20"),
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
    let mut regs = RegisterFile {
        pc: 0x4008_0000,
        pstate: 0x3c5,
        ..Default::default()
    };
    {
        let exits = VcpuExits::new(KvmVcpu::new(&vm, VcpuIndex(0)).unwrap(), &stats);
        call(
            &exits,
            &mut regs,
            ids::SDEI_EVENT_REGISTER,
            &[0, 0x7000, 1, 0, 0],
        );
        call(&exits, &mut regs, ids::SDEI_EVENT_ENABLE, &[0]);
        call(&exits, &mut regs, ids::SDEI_PE_UNMASK, &[]);
        call(&exits, &mut regs, ids::PV_TIME_ST, &[]);
        exits.vcpu().vcpu().account_steal(2_000).unwrap();
    }
    let config = firmware::config(&MPIDRS, 16 << 20, true);
    let (restored, len) = firmware::snapshot_restore(&vm, config, mem.pvtime.clone()).unwrap();
    drop(vm);
    assert!(len > 0);
    assert_eq!(restored.vcpu(VcpuIndex(0)).unwrap().stolen_ns(), 2_000);

    // The guest's registration survived: a raise is delivered by the new instance.
    control::raise(&restored, 0).unwrap();
    let exits = VcpuExits::new(KvmVcpu::new(&restored, VcpuIndex(0)).unwrap(), &stats);
    exits.before_run(&mut regs).unwrap();
    assert_eq!(regs.pc, 0x7000);
    exits.vcpu().vcpu().account_steal(500).unwrap();
    let stolen: u64 = mem.pvtime.read_obj(GuestAddress(PVTIME_BASE + 8)).unwrap();
    assert_eq!(stolen, 2_500, "steal keeps counting in the same record");
}
