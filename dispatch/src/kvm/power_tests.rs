//! PSCI under KVM, on the fake vCPU: `CPU_ON` starts, `CPU_OFF` parks,
//! starts that race a park, wakes, system ends, and the firmware registers.

use std::sync::Arc;
use std::vec::Vec;

use fwcall_smccc::{PowerAction, ResetKind, VcpuIndex, ids};

use super::fake::{FakeExit, FakeVcpu, GuestOp};
use super::*;
use crate::{NoMemory, PowerState, PsciConfig, TrngConfig, Vm};

const ENTRY: u64 = 0x4008_0000;
const CONTEXT: u64 = 0x1234_5678_9abc_def0;
const BOOT_PC: u64 = 0x4020_0000;
/// What KVM resets `SCTLR_EL1` to (`sys_regs.c`).
const RESET_SCTLR: u64 = 0x00c5_0078;
/// A running EL1 kernel's `SCTLR_EL1`: MMU, caches on.
const RUNNING_SCTLR: u64 = 0x30d0_5805;

fn psci_vm(vcpus: u32) -> Vm<NoMemory> {
    let mut c = vm_config(vcpus);
    c.psci = Some(PsciConfig::default());
    Vm::new(c, NoMemory).unwrap()
}

fn running_regs() -> RegisterFile {
    let mut r = RegisterFile {
        pc: BOOT_PC,
        pstate: 0x3c5,
        sctlr_el1: RUNNING_SCTLR,
        ..Default::default()
    };
    for (i, x) in r.x.iter_mut().enumerate() {
        *x = 0xdead_0000 + i as u64;
    }
    r
}

/// A round of the documented loop; returns the exit's kind.
#[derive(Debug, PartialEq)]
enum Round {
    Served(Option<PowerAction>),
    Interrupted,
    Spinning,
    Stopped,
}

fn round(me: &KvmVcpu<'_, NoMemory>, runner: &mut Runner<FakeVcpu<'_>>) -> Round {
    let exit = runner
        .prepare(me)
        .unwrap()
        .deliver(|| 0)
        .unwrap()
        .run()
        .unwrap();
    match exit {
        Exit::Hypercall(h) => Round::Served(runner.serve(me, h).unwrap().power),
        Exit::Interrupted => Round::Interrupted,
        Exit::Other(FakeExit::Spinning) => Round::Spinning,
        Exit::Other(FakeExit::Stopped) => Round::Stopped,
        other => panic!("unexpected {other:?}"),
    }
}

fn cpu_on(target: u64) -> GuestOp {
    GuestOp::hvc(ids::PSCI_CPU_ON_64, &[target, ENTRY, CONTEXT])
}

#[test]
fn cpu_on_applies_pc_x0_pstate_and_sctlr_once_before_the_targets_next_run() {
    let vm = psci_vm(2);
    let lines = Arc::new(PowerLines::new(2, RESET_SCTLR));
    let me0 = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let me1 = KvmVcpu::new(&vm, VcpuIndex(1)).unwrap();
    let mut boot = Runner::with_power(
        FakeVcpu::new(running_regs(), [cpu_on(1)]),
        lines.clone(),
        VcpuIndex(0),
        false,
    );
    // The secondary, created powered off, whose guest makes one call.
    let mut second = Runner::with_power(
        FakeVcpu::powered_off(running_regs(), [GuestOp::hvc(ids::PSCI_VERSION, &[])]),
        lines.clone(),
        VcpuIndex(1),
        true,
    );
    assert!(second.owed().start);

    let served = round(&me0, &mut boot);
    assert!(matches!(served, Round::Served(Some(PowerAction::CpuOn(_)))));
    assert_eq!(boot.vcpu().regs.x[0], 0, "CPU_ON answered SUCCESS");
    let t = boot.traffic();
    assert_eq!(
        (t.power_reads, t.power_writes),
        (2, 0),
        "the caller reads its PSTATE and SCTLR_EL1, outside the call"
    );
    assert!(t.call_reads + t.call_writes <= t.call_budget, "{t:?}");
    assert!(lines.pending(VcpuIndex(1)));
    assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::On);

    assert_eq!(
        round(&me1, &mut second),
        Round::Served(None),
        "the start was applied, then the guest ran and called"
    );
    let f = second.vcpu();
    assert_eq!(f.entries, [ENTRY], "first entry at the CPU_ON entry point");
    assert_eq!(f.mp_sets, [MpState::Runnable], "one KVM_SET_MP_STATE");
    assert_eq!(f.regs.pstate, 0x3c5);
    assert_eq!(f.regs.sctlr_el1, RESET_SCTLR, "MMU off, little-endian");
    assert_eq!(
        f.regs.x[0] as u32, 0x1_0001,
        "X0 now holds PSCI_VERSION's reply"
    );
    assert!(!lines.pending(VcpuIndex(1)));
    let t = second.traffic();
    assert_eq!((t.starts, t.power_writes), (1, 34));
    assert!(!second.owed().start);

    // Before its reply, X0 was the context ID and X1..X30 zero: check on a
    // second start into a fresh fake without a script.
    let lines2 = Arc::new(PowerLines::new(2, RESET_SCTLR));
    let caller = boot.vcpu().regs;
    let start = fwcall_smccc::CpuStart {
        target: VcpuIndex(1),
        entry: ENTRY,
        context_id: CONTEXT,
    };
    lines2.post(
        VcpuIndex(1),
        StartContext::new(&start, caller.pstate, caller.sctlr_el1, RESET_SCTLR),
    );
    let mut fresh = Runner::with_power(
        FakeVcpu::powered_off(running_regs(), []),
        lines2,
        VcpuIndex(1),
        true,
    );
    assert_eq!(round(&me1, &mut fresh), Round::Spinning);
    let r = fresh.vcpu().regs;
    assert_eq!(r.x[0], CONTEXT);
    assert!(r.x[1..].iter().all(|x| *x == 0), "{:x?}", r.x);
    assert_eq!(r.pc, ENTRY);
    // A second round applies nothing again.
    assert_eq!(round(&me1, &mut fresh), Round::Spinning);
    assert_eq!(fresh.traffic().starts, 1);
    assert_eq!(fresh.vcpu().entries, [ENTRY, ENTRY]);
}

#[test]
fn the_started_pe_gets_the_callers_endianness_and_el() {
    let s = fwcall_smccc::CpuStart {
        target: VcpuIndex(1),
        entry: ENTRY,
        context_id: 0,
    };
    let be = StartContext::new(&s, 0x3c5, RUNNING_SCTLR | CpuStartEe::EE, RESET_SCTLR);
    assert_eq!(be.sctlr_el1, RESET_SCTLR | CpuStartEe::EE);
    assert_eq!(be.sctlr_el1 & 1, 0, "MMU off");
    let el2 = StartContext::new(&s, 0x3c9, RUNNING_SCTLR, RESET_SCTLR);
    assert_eq!(el2.pstate, 0x3c9);
    let writes: Vec<_> = be.writes().collect();
    assert_eq!(writes.len(), 34);
    assert_eq!(writes[0], (Reg::X(0), 0));
    assert_eq!(
        writes[31..],
        [
            (Reg::Pc, ENTRY),
            (Reg::Pstate, 0x3c5),
            (Reg::SctlrEl1, be.sctlr_el1)
        ]
    );
}

struct CpuStartEe;
impl CpuStartEe {
    const EE: u64 = 1 << 25;
}

#[test]
fn a_start_posted_before_the_target_parks_is_not_lost() {
    let vm = psci_vm(2);
    let lines = Arc::new(PowerLines::new(2, RESET_SCTLR));
    let me0 = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let me1 = KvmVcpu::new(&vm, VcpuIndex(1)).unwrap();
    vm.vcpu(VcpuIndex(0))
        .unwrap()
        .handle(&fwcall_smccc::Call::new(
            ids::PSCI_CPU_ON_64,
            &[1, ENTRY, 0],
        ));
    // vCPU 1 is on and calls CPU_OFF; vCPU 0 turns it on again before its
    // thread comes round to park.
    let mut second = Runner::with_power(
        FakeVcpu::new(
            running_regs(),
            [
                GuestOp::hvc(ids::PSCI_CPU_OFF, &[0x1_0000]),
                GuestOp::hvc(ids::PSCI_VERSION, &[]),
            ],
        ),
        lines.clone(),
        VcpuIndex(1),
        false,
    );
    let mut boot = Runner::with_power(
        FakeVcpu::new(running_regs(), [cpu_on(1)]),
        lines.clone(),
        VcpuIndex(0),
        false,
    );
    assert_eq!(
        round(&me1, &mut second),
        Round::Served(Some(PowerAction::CpuOff))
    );
    assert!(second.owed().start, "owes itself a power-off");
    assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::Off);
    assert!(matches!(
        round(&me0, &mut boot),
        Round::Served(Some(PowerAction::CpuOn(_)))
    ));
    // The next round stops it, takes the start at once, and runs it.
    assert_eq!(round(&me1, &mut second), Round::Served(None));
    let f = second.vcpu();
    assert_eq!(f.mp_sets, [MpState::Stopped, MpState::Runnable]);
    assert_eq!(f.entries[1], ENTRY);
    assert_eq!(second.traffic().starts, 1);
}

#[test]
fn cpu_off_parks_the_thread_until_cpu_on_without_running_the_guest() {
    let vm = psci_vm(2);
    let lines = Arc::new(PowerLines::new(2, RESET_SCTLR));
    vm.vcpu(VcpuIndex(0))
        .unwrap()
        .handle(&fwcall_smccc::Call::new(
            ids::PSCI_CPU_ON_64,
            &[1, ENTRY, 0],
        ));
    let (vm, l1) = (&vm, lines.clone());
    std::thread::scope(|s| {
        let target = s.spawn(move || {
            let me1 = KvmVcpu::new(vm, VcpuIndex(1)).unwrap();
            let mut r = Runner::with_power(
                FakeVcpu::new(
                    running_regs(),
                    [
                        GuestOp::hvc(ids::PSCI_CPU_OFF, &[0]),
                        GuestOp::hvc(ids::PSCI_VERSION, &[]),
                    ],
                ),
                l1,
                VcpuIndex(1),
                false,
            );
            let mut rounds = Vec::new();
            loop {
                let x = round(&me1, &mut r);
                let done = x == Round::Spinning;
                rounds.push(x);
                if done {
                    break;
                }
            }
            (rounds, r.vcpu().runs, r.vcpu().entries.clone(), r.traffic())
        });
        // Wait for the park (a yield loop in the test only: the parked
        // thread itself sleeps on its condition variable).
        while !lines.parked(VcpuIndex(1)) {
            std::thread::yield_now();
        }
        assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::Off);
        // A kick without a start: the thread comes round once, runs
        // nothing, parks again.
        lines.wake(VcpuIndex(1));
        while lines.wake_pending(VcpuIndex(1)) || !lines.parked(VcpuIndex(1)) {
            std::thread::yield_now();
        }
        let me0 = KvmVcpu::new(vm, VcpuIndex(0)).unwrap();
        let mut boot = Runner::with_power(
            FakeVcpu::new(running_regs(), [cpu_on(1)]),
            lines.clone(),
            VcpuIndex(0),
            false,
        );
        assert!(matches!(
            round(&me0, &mut boot),
            Round::Served(Some(PowerAction::CpuOn(_)))
        ));
        let (rounds, runs, entries, traffic) = target.join().unwrap();
        assert_eq!(
            rounds,
            [
                Round::Served(Some(PowerAction::CpuOff)),
                Round::Interrupted,  // the wake
                Round::Served(None), // started: PSCI_VERSION
                Round::Spinning,
            ]
        );
        assert_eq!(runs, 3, "no KVM_RUN while off");
        assert_eq!(entries[1], ENTRY);
        assert_eq!((traffic.parks, traffic.starts), (2, 1));
    });
}

#[test]
fn a_runner_without_power_lines_refuses_psci_power_actions() {
    let vm = psci_vm(2);
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut r = Runner::new(FakeVcpu::new(running_regs(), [cpu_on(1)]));
    let h = match r
        .prepare(&me)
        .unwrap()
        .deliver(|| 0)
        .unwrap()
        .run()
        .unwrap()
    {
        Exit::Hypercall(h) => h,
        other => panic!("{other:?}"),
    };
    let e = r.serve(&me, h).unwrap_err();
    assert!(matches!(e, LoopError::NoPowerLines("CPU_ON")), "{e}");
    assert!(std::format!("{e}").contains("Runner::with_power"));
}

#[test]
fn system_calls_end_the_loop_and_reset_puts_the_secondaries_back_off() {
    let vm = psci_vm(2);
    let lines = Arc::new(PowerLines::new(2, RESET_SCTLR));
    let me0 = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    for (fid, args, end) in [
        (ids::PSCI_SYSTEM_OFF, &[][..], SystemEnd::Off),
        (
            ids::PSCI_SYSTEM_RESET,
            &[],
            SystemEnd::Reset(ResetKind::Cold),
        ),
        (
            ids::PSCI_SYSTEM_RESET2_64,
            &[0, 7],
            SystemEnd::Reset(ResetKind::Warm { cookie: 7 }),
        ),
    ] {
        let mut r = Runner::with_power(
            FakeVcpu::new(running_regs(), [cpu_on(1), GuestOp::hvc(fid, args)]),
            lines.clone(),
            VcpuIndex(0),
            false,
        );
        let _ = round(&me0, &mut r);
        let exit = r
            .prepare(&me0)
            .unwrap()
            .deliver(|| 0)
            .unwrap()
            .run()
            .unwrap();
        let Exit::Hypercall(h) = exit else {
            panic!("{exit:?}")
        };
        let out = r.serve(&me0, h).unwrap();
        assert_eq!(SystemEnd::of(&out), Some(end), "{fid:?}");
        // The VMM's reset: every thread stopped, then fwcall and the lines.
        vm.reset();
        lines.clear();
        assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::Off);
        assert!(
            !lines.pending(VcpuIndex(1)),
            "the start from before is gone"
        );
    }
}

#[test]
fn the_filter_forwards_psci_and_trng_only_when_fwcall_serves_them() {
    let plain = Vm::new(vm_config(2), NoMemory).unwrap();
    let plan = FilterPlan::for_vm(&plain);
    for fid in [ids::PSCI_VERSION, ids::PSCI_CPU_ON_64, ids::TRNG_RND64] {
        assert!(!plan.forwards(fid), "{fid:?} stays with KVM");
    }
    let mut c = vm_config(2);
    c.psci = Some(PsciConfig::default());
    c.trng = Some(TrngConfig::default());
    let vm = Vm::new(c, NoMemory).unwrap();
    let plan = FilterPlan::for_vm(&vm);
    let spans: Vec<(u32, u32)> = plan.ranges().iter().map(|r| (r.base, r.last())).collect();
    for span in [
        (0x8400_0000, 0x8400_001F),
        (0xC400_0000, 0xC400_001F),
        (0x8400_0050, 0x8400_0053),
        (0xC400_0050, 0xC400_0053),
    ] {
        assert!(spans.contains(&span), "{span:x?} in {spans:x?}");
    }
    assert!(!plan.forwards(fwcall_smccc::FunctionId(0x8400_0054)));
    assert!(!plan.forwards(fwcall_smccc::FunctionId(0x8400_004F)));
    // Every range can be installed next to the others (KVM: EEXIST).
    for (i, a) in plan.ranges().iter().enumerate() {
        for b in &plan.ranges()[i + 1..] {
            assert!(a.last() < b.base || b.last() < a.base, "{a} overlaps {b}");
        }
    }
}

/// KVM's firmware registers as a map, with KVM's refusal of PSCI versions
/// it does not know.
struct Kvm {
    psci: u64,
    std_bmap: u64,
    std_hyp: u64,
}

impl Kvm {
    fn read(&self, id: u64) -> Result<u64, &'static str> {
        match id {
            abi::PSCI_VERSION => Ok(self.psci),
            abi::STD_BMAP => Ok(self.std_bmap),
            abi::STD_HYP_BMAP => Ok(self.std_hyp),
            _ => Err("ENOENT"),
        }
    }
}

#[test]
fn firmware_agreement_sets_kvms_psci_version_and_clears_its_trng_bit() {
    let mut c = vm_config(1);
    c.psci = Some(PsciConfig::new(crate::PsciVersion::V1_0));
    c.trng = Some(TrngConfig::default());
    let vm = Vm::new(c, NoMemory).unwrap();
    // KVM 6.12's defaults: PSCI 1.1, TRNG and PV time on.
    let kvm = std::cell::RefCell::new(Kvm {
        psci: 0x1_0001,
        std_bmap: 1,
        std_hyp: 1,
    });
    let e = check_firmware_registers(&vm, |id| kvm.borrow().read(id)).unwrap_err();
    assert!(
        matches!(
            e,
            FirmwareError::Disagree {
                name: "KVM_REG_ARM_STD_BMAP",
                ..
            }
        ),
        "{e}"
    );
    sync_firmware_registers(
        &vm,
        |id| kvm.borrow().read(id),
        |id, v| {
            let mut k = kvm.borrow_mut();
            match id {
                abi::PSCI_VERSION if [2, 0x1_0000, 0x1_0001].contains(&v) => k.psci = v,
                abi::PSCI_VERSION => return Err("EINVAL"),
                abi::STD_BMAP => k.std_bmap = v,
                abi::STD_HYP_BMAP => k.std_hyp = v,
                _ => return Err("ENOENT"),
            }
            Ok(())
        },
    )
    .unwrap();
    let k = kvm.borrow();
    assert_eq!((k.psci, k.std_bmap, k.std_hyp), (0x1_0000, 0, 1));
    drop(k);
    // A KVM that keeps another version: typed, naming both.
    kvm.borrow_mut().psci = 0x1_0003;
    let e = check_firmware_registers(&vm, |id| kvm.borrow().read(id)).unwrap_err();
    assert!(
        matches!(
            e,
            FirmwareError::PsciVersion {
                fwcall: crate::PsciVersion::V1_0,
                kvm: 0x1_0003
            }
        ),
        "{e}"
    );
    let msg = std::format!("{e}");
    assert!(msg.contains("0x10003") && msg.contains("PSCI 1.0"), "{msg}");
    let e =
        sync_firmware_registers(&vm, |id| kvm.borrow().read(id), |_, _| Err("EINVAL")).unwrap_err();
    assert!(matches!(e, FirmwareError::PsciVersion { .. }), "{e}");
}

#[test]
fn without_fwcall_psci_and_trng_kvms_registers_are_left_alone() {
    let vm = Vm::new(vm_config(1), NoMemory).unwrap();
    let kvm = Kvm {
        psci: 0x1_0003,
        std_bmap: 1,
        std_hyp: 1,
    };
    check_firmware_registers(&vm, |id| kvm.read(id)).unwrap();
}

/// The arguments that make a PSCI or TRNG function succeed (or, for the
/// `SYSTEM_*` calls, act) with the most registers written.
fn opt_in_args(fid: fwcall_smccc::FunctionId) -> Vec<u64> {
    let q = |f: fwcall_smccc::FunctionId| std::vec![u64::from(f.raw())];
    match fid {
        ids::PSCI_CPU_SUSPEND | ids::PSCI_CPU_SUSPEND_64 => std::vec![0],
        ids::PSCI_CPU_ON | ids::PSCI_CPU_ON_64 => std::vec![1, ENTRY, CONTEXT],
        ids::PSCI_AFFINITY_INFO | ids::PSCI_AFFINITY_INFO_64 => std::vec![0, 0],
        ids::PSCI_FEATURES => q(ids::PSCI_CPU_ON_64),
        ids::PSCI_SYSTEM_RESET2 | ids::PSCI_SYSTEM_RESET2_64 => std::vec![0, 0],
        ids::TRNG_FEATURES => q(ids::TRNG_RND64),
        ids::TRNG_RND32 => std::vec![96],
        ids::TRNG_RND64 => std::vec![192],
        _ => Vec::new(),
    }
}

/// The budget rows of PSCI and TRNG through the adapter, as `budget_tests`
/// does for the other tables: exactly the arguments read, exactly the
/// reply's registers written (`CPU_OFF` does not return: nothing).
#[test]
fn psci_and_trng_calls_read_their_arguments_and_write_their_reply_only() {
    for row in fwcall_smccc::budget::PSCI
        .iter()
        .chain(fwcall_smccc::budget::TRNG)
    {
        let mut c = vm_config(2);
        c.psci = Some(PsciConfig::default());
        c.trng = Some(TrngConfig::default());
        let vm = Vm::new(c, NoMemory).unwrap();
        let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
        let mut regs = running_regs();
        let args = opt_in_args(row.fid);
        regs.x[1..=args.len()].copy_from_slice(&args);
        let exit = HypercallExit {
            nr: u64::from(row.fid.raw()),
            flags: 0,
        };
        let (r0, w0) = (regs.reads, regs.writes);
        let out = me.serve(exit, &mut regs).unwrap();
        let name = ids::name(row.fid).unwrap_or("?");
        // CPU_OFF does not return; the SYSTEM_* calls answer
        // INTERNAL_FAILURE in case the VMM resumes the caller (as KVM).
        let acts = matches!(out.power, Some(PowerAction::CpuOff))
            || out.power.is_some_and(|p| p.is_system());
        if !acts {
            assert!(
                regs.x[0] as i32 >= 0,
                "{name}: answered {}",
                regs.x[0] as i64
            );
        }
        let want = if row.fid == ids::PSCI_CPU_OFF {
            0
        } else {
            u32::from(row.writes)
        };
        assert_eq!(regs.reads - r0, u32::from(row.args), "{name}: reads");
        assert_eq!(regs.writes - w0, want, "{name}: writes");
    }
}
