//! The run loop against the fake vCPU: MMIO completion before delivery,
//! the handler's first instruction, and kicks at every interleaving point.

use alloc::vec::Vec;
use core::convert::Infallible;

use fwcall_smccc::{FunctionId, VcpuIndex, ids};

use super::fake::{FakeExit, FakeVcpu, GuestOp, Points};
use super::*;
use crate::{CpuFeatures, EventDecl, EventKind, NoMemory, Priority, Vm};

const EVENT: u32 = 0x100;
const ENTRY: u64 = 0xffff_8000_0010_0000;
const ARG: u64 = 0xfeed;
const BOOT_PC: u64 = 0xffff_8000_0800_0000;
/// The UART's line-status register, and what it reads.
const LSR: u64 = 0x0900_0005;
const LSR_VALUE: u8 = 0x60;

fn vm_with(features: CpuFeatures) -> Vm<NoMemory> {
    let mut c = vm_config(1);
    if let Some(sdei) = c.sdei.as_mut() {
        sdei.events.push(EventDecl {
            number: EVENT,
            kind: EventKind::Private,
            priority: Priority::Normal,
        });
        sdei.cpu_features = features;
    }
    Vm::new(c, NoMemory).unwrap()
}

fn vm() -> Vm<NoMemory> {
    vm_with(CpuFeatures::default())
}

fn boot_regs() -> RegisterFile {
    let mut r = RegisterFile {
        pc: BOOT_PC,
        pstate: 0x3c5,
        sctlr_el1: 0x30d0_1805,
        ..Default::default()
    };
    for (i, x) in r.x.iter_mut().enumerate() {
        *x = 0xa000 + i as u64;
    }
    r
}

/// The calls that make the event deliverable: register, enable, unmask.
fn arm_event() -> Vec<GuestOp> {
    let e = u64::from(EVENT);
    alloc::vec![
        GuestOp::hvc(ids::SDEI_EVENT_REGISTER, &[e, ENTRY, ARG, 0, 0]),
        GuestOp::hvc(ids::SDEI_EVENT_ENABLE, &[e]),
        GuestOp::hvc(ids::SDEI_PE_UNMASK, &[]),
    ]
}

/// What the loop saw.
#[derive(Debug, Default)]
struct Seen {
    /// Each handler entry.
    deliveries: Vec<crate::Delivery>,
    /// Each served call: its ID, X0 and the PC after it.
    served: Vec<(FunctionId, u64, u64)>,
}

/// The documented loop, with a device whose read raises the event (a
/// watchdog about to bite), until the guest spins.
fn drive(vm: &Vm<NoMemory>, runner: &mut Runner<FakeVcpu<'_>>, seen: &mut Seen) {
    let me = KvmVcpu::new(vm, VcpuIndex(0)).unwrap();
    for _ in 0..64 {
        let prepared = runner.prepare(&me).unwrap();
        let ready = prepared.deliver(|| 0).unwrap();
        if let Some(d) = ready.delivery() {
            seen.deliveries.push(d.clone());
        }
        match ready.run().unwrap() {
            Exit::Hypercall(h) => {
                runner.serve(&me, h).unwrap();
                let r = &runner.vcpu().regs;
                seen.served.push((h.fid(), r.x[0], r.pc));
            }
            Exit::MmioRead { data, .. } => {
                data[0] = LSR_VALUE;
                vm.raise(EVENT, Some(VcpuIndex(0))).unwrap();
            }
            Exit::MmioWrite { .. } | Exit::Interrupted => {}
            Exit::SystemEvent { .. } => panic!("no system event in these scripts"),
            Exit::Other(FakeExit::Spinning) => return,
            Exit::Other(FakeExit::Stopped) => panic!("no power-off in these scripts"),
        }
    }
    panic!("the loop did not settle");
}

#[test]
fn delivery_after_an_mmio_load_saves_the_pc_after_the_access_and_the_loaded_value() {
    let vm = vm();
    let mut guest = arm_event();
    guest.push(GuestOp::Load {
        addr: LSR,
        rt: 5,
        len: 1,
    });
    // The handler reads the interrupted X5 as Linux reads X0..X3, then
    // completes.
    guest.push(GuestOp::hvc(ids::SDEI_EVENT_CONTEXT, &[5]));
    guest.push(GuestOp::hvc(ids::SDEI_EVENT_COMPLETE, &[0]));
    let load_pc = BOOT_PC + 3 * 4;
    let mut runner = Runner::new(FakeVcpu::new(boot_regs(), guest));
    let mut seen = Seen::default();
    drive(&vm, &mut runner, &mut seen);

    assert_eq!(seen.deliveries.len(), 1, "one delivery");
    let d = &seen.deliveries[0];
    assert_eq!(d.x[2], load_pc + 4, "the saved PC is after the access");
    assert_eq!(d.x[..2], [u64::from(EVENT), ARG]);
    let context = seen.served[3];
    assert_eq!(
        (context.0, context.1),
        (ids::SDEI_EVENT_CONTEXT, u64::from(LSR_VALUE)),
        "the loaded value reached Xt before the context was saved"
    );
    let fake = runner.vcpu();
    assert_eq!(
        fake.entries[fake.entries.len() - 3..],
        [ENTRY, ENTRY + 4, load_pc + 4],
        "the handler starts at its first instruction; COMPLETE resumes after the load"
    );
    assert_eq!(fake.regs.x[5], u64::from(LSR_VALUE), "COMPLETE restores Xt");
    assert_eq!(fake.regs.pc, load_pc + 4, "the load is not replayed");
    assert_eq!(runner.traffic().completion_runs, 1);
    assert_eq!(runner.traffic().deliveries, 1);
}

#[test]
fn the_handlers_first_instruction_is_never_skipped_after_a_store_either() {
    let vm = vm();
    let mut guest = arm_event();
    guest.push(GuestOp::Store {
        addr: 0x0900_0000,
        rt: 7,
        len: 1,
    });
    let mut runner = Runner::new(FakeVcpu::new(boot_regs(), guest));
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut seen = Seen::default();
    // Serve the three calls and take the store exit.
    drive_until_mmio(&vm, &me, &mut runner, &mut seen);
    assert!(runner.owed().completion_run, "KVM owes the store's PC step");
    vm.raise(EVENT, Some(VcpuIndex(0))).unwrap();
    let ready = runner.prepare(&me).unwrap().deliver(|| 0).unwrap();
    assert!(ready.delivery().is_some());
    assert!(matches!(
        ready.run().unwrap(),
        Exit::Other(FakeExit::Spinning)
    ));
    let fake = runner.vcpu();
    assert_eq!(fake.entries.last(), Some(&ENTRY));
    assert_eq!(fake.regs.x[2], BOOT_PC + 4 * 4, "saved PC after the store");
    assert!(!fake.owes_mmio());
}

fn drive_until_mmio(
    vm: &Vm<NoMemory>,
    me: &KvmVcpu<'_, NoMemory>,
    runner: &mut Runner<FakeVcpu<'_>>,
    seen: &mut Seen,
) {
    let _ = vm;
    loop {
        let exit = runner
            .prepare(me)
            .unwrap()
            .deliver(|| 0)
            .unwrap()
            .run()
            .unwrap();
        match exit {
            Exit::Hypercall(h) => {
                runner.serve(me, h).unwrap();
                let r = &runner.vcpu().regs;
                seen.served.push((h.fid(), r.x[0], r.pc));
            }
            Exit::MmioRead { .. } | Exit::MmioWrite { .. } => return,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The loop the issue found in the old docs, written by hand against the
/// fake: deliver right after the MMIO exit, before KVM completed it. The
/// fake must show the corruption, or the tests above prove nothing.
#[test]
fn the_fake_catches_a_delivery_before_the_completion_run() {
    let vm = vm();
    let mut guest = arm_event();
    guest.push(GuestOp::Load {
        addr: LSR,
        rt: 5,
        len: 1,
    });
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut fake = FakeVcpu::new(boot_regs(), guest);
    let load_pc = BOOT_PC + 3 * 4;
    loop {
        fake.set_immediate_exit(false);
        me.deliver_pending(&mut fake).unwrap();
        match fake.run().unwrap() {
            Exit::Hypercall(h) => {
                me.serve(h, &mut fake).unwrap();
            }
            Exit::MmioRead { data, .. } => {
                data[0] = LSR_VALUE;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    vm.raise(EVENT, Some(VcpuIndex(0))).unwrap();
    me.deliver_pending(&mut fake).unwrap();
    assert_eq!(fake.regs.x[2], load_pc, "saved the PC of the access itself");
    assert!(matches!(
        fake.run().unwrap(),
        Exit::Other(FakeExit::Spinning)
    ));
    assert_eq!(
        fake.entries.last(),
        Some(&(ENTRY + 4)),
        "KVM's PC step landed on the handler's first instruction"
    );
    assert_eq!(
        fake.regs.x[5],
        u64::from(LSR_VALUE),
        "and the load overwrote the handler's register"
    );
}

// --- kicks at every interleaving point ------------------------------------

/// Where a kick can land in one round, in order. `run` points exist twice:
/// before KVM reads `immediate_exit`, and inside the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Round {
    /// Owing nothing: clear, steal, check, run.
    Fresh,
    /// Owing an MMIO completion: set, completion run, clear, steal, check,
    /// run.
    AfterMmio,
}

/// Runs `round` with a kick landing at point `k` (the kicker raises the
/// event, then signals). Returns `None` when point `k` is past the round,
/// else whether the event was entered before the guest would block.
fn kick_landing_at(round: Round, k: usize) -> Option<bool> {
    let vm = vm();
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut guest = arm_event();
    if round == Round::AfterMmio {
        guest.push(GuestOp::Load {
            addr: LSR,
            rt: 5,
            len: 1,
        });
    }
    let fake = FakeVcpu::new(boot_regs(), guest);
    let points = fake.points();
    let mut runner = Runner::new(fake);
    let mut seen = Seen::default();
    if round == Round::AfterMmio {
        drive_until_mmio(&vm, &me, &mut runner, &mut seen);
    } else {
        drive_until_mmio_or_spin(&me, &mut runner);
    }
    let start = points.count();
    points.kick_at(start + k, || {
        vm.raise(EVENT, Some(VcpuIndex(0))).unwrap();
    });
    // The loop, with the steal sample as a point of its own (between the
    // clear and the pending check).
    for _ in 0..8 {
        let ready = runner
            .prepare(&me)
            .unwrap()
            .deliver(|| {
                points.point();
                0
            })
            .unwrap();
        match ready.run().unwrap() {
            Exit::Interrupted => continue,
            Exit::Other(FakeExit::Spinning) => {
                points.landed()?;
                return Some(runner.vcpu().entries.last() == Some(&ENTRY));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("no spin after 8 rounds")
}

fn drive_until_mmio_or_spin(me: &KvmVcpu<'_, NoMemory>, runner: &mut Runner<FakeVcpu<'_>>) {
    // Serve the three calls; the fourth entry spins (no MMIO in the script),
    // which ends this set-up with the vCPU owing nothing.
    for _ in 0..3 {
        let exit = runner
            .prepare(me)
            .unwrap()
            .deliver(|| 0)
            .unwrap()
            .run()
            .unwrap();
        let Exit::Hypercall(h) = exit else {
            panic!("expected a call")
        };
        runner.serve(me, h).unwrap();
    }
}

#[test]
fn a_kick_at_any_point_between_the_pending_check_and_the_ioctl_is_never_lost() {
    for round in [Round::Fresh, Round::AfterMmio] {
        let mut points = 0;
        while let Some(delivered) = kick_landing_at(round, points) {
            assert!(
                delivered,
                "{round:?}: a kick landing at point {points} was lost"
            );
            points += 1;
        }
        // Fresh: before the clear, after it, the steal sample, before
        // KVM_RUN reads immediate_exit, in the guest; after the MMIO also
        // before the set, inside the completion run.
        let want = if round == Round::Fresh { 4 } else { 6 };
        assert!(
            points >= want,
            "{round:?}: only {points} interleaving points enumerated"
        );
    }
}

/// The old documented order (check, then clear `immediate_exit`) against
/// the same fake and the same enumeration: some point must lose the kick,
/// or the enumeration above proves nothing.
#[test]
fn checking_before_clearing_loses_a_kick_and_the_enumeration_sees_it() {
    let mut lost = Vec::new();
    for k in 0.. {
        let vm = vm();
        let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
        let mut fake = FakeVcpu::new(boot_regs(), arm_event());
        for _ in 0..3 {
            let Exit::Hypercall(h) = fake.run().unwrap() else {
                panic!()
            };
            me.serve(h, &mut fake).unwrap();
        }
        let points: Points<'_> = fake.points();
        points.kick_at(points.count() + k, || {
            vm.raise(EVENT, Some(VcpuIndex(0))).unwrap();
        });
        let mut spun = None;
        for _ in 0..8 {
            points.point(); // the steal sample
            me.deliver_pending(&mut fake).unwrap();
            fake.set_immediate_exit(false);
            match fake.run().unwrap() {
                Exit::Interrupted => continue,
                Exit::Other(FakeExit::Spinning) => {
                    spun = Some(fake.entries.last() == Some(&ENTRY));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if points.landed().is_none() {
            break;
        }
        if spun == Some(false) {
            lost.push(k);
        }
    }
    assert!(!lost.is_empty(), "the wrong order must lose a kick");
}

// --- what the runner owes, and its errors ------------------------------------

#[test]
fn an_mmio_exit_is_owed_until_the_next_prepare_and_then_completed() {
    let vm = vm();
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let guest = [GuestOp::Load {
        addr: LSR,
        rt: 9,
        len: 2,
    }];
    let mut runner = Runner::new(FakeVcpu::new(boot_regs(), guest));
    assert!(runner.owed().is_nothing());
    match runner.prepare(&me).unwrap().deliver(|| 0).unwrap().run() {
        Ok(Exit::MmioRead { data, .. }) => data.copy_from_slice(&[0x34, 0x12]),
        other => panic!("{other:?}"),
    }
    assert!(runner.owed().completion_run);
    assert_eq!(runner.vcpu().regs.pc, BOOT_PC, "nothing completed yet");
    let prepared = runner.prepare(&me).unwrap();
    drop(prepared); // a pause: the vCPU is complete and may be saved
    assert!(runner.owed().is_nothing());
    let fake = runner.vcpu();
    assert_eq!((fake.regs.x[9], fake.regs.pc), (0x1234, BOOT_PC + 4));
    assert!(!fake.entries.contains(&(BOOT_PC + 4)), "no guest entry");
    assert!(!runner.vcpu().owes_mmio());
}

/// A vCPU whose `immediate_exit` is not wired: the completion run enters
/// the guest and exits.
#[derive(Debug, Default)]
struct Deaf {
    regs: RegisterFile,
    runs: u32,
}

impl VcpuRegisters for Deaf {
    type Error = Infallible;
    fn get(&mut self, reg: Reg) -> Result<u64, Infallible> {
        self.regs.get(reg)
    }
    fn set(&mut self, reg: Reg, value: u64) -> Result<(), Infallible> {
        self.regs.set(reg, value)
    }
}

impl RunVcpu for Deaf {
    type Other<'a> = ();
    fn set_immediate_exit(&mut self, _: bool) {}
    fn set_mp_state(&mut self, _: MpState) -> Result<(), Infallible> {
        Ok(())
    }
    fn run(&mut self) -> Result<Exit<'_, ()>, Infallible> {
        self.runs += 1;
        Ok(if self.runs == 1 {
            Exit::MmioWrite { addr: 0, data: &[] }
        } else {
            Exit::Hypercall(HypercallExit {
                nr: u64::from(ids::SDEI_VERSION.raw()),
                flags: 0,
            })
        })
    }
}

#[test]
fn a_completion_run_that_enters_the_guest_is_an_error_not_a_lost_exit() {
    let vm = vm();
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut runner = Runner::new(Deaf::default());
    let _ = runner.prepare(&me).unwrap().deliver(|| 0).unwrap().run();
    let e = runner.prepare(&me).unwrap_err();
    assert!(matches!(e, LoopError::CompletionExited("hypercall")), "{e}");
    assert!(alloc::format!("{e}").contains("immediate_exit"));
    assert!(runner.owed().completion_run, "still owed: try again");
}

#[test]
fn delivery_traffic_is_the_dispatch_budget() {
    // PAN (the default) makes the entry PSTATE depend on SCTLR_EL1.SPAN.
    for (features, reads) in [
        (CpuFeatures::default(), 21),
        (CpuFeatures::MTE | CpuFeatures::BTI, 20),
    ] {
        let vm = vm_with(features);
        let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
        let mut runner = Runner::new(FakeVcpu::new(boot_regs(), arm_event()));
        drive_until_mmio_or_spin(&me, &mut runner);
        vm.raise(EVENT, Some(VcpuIndex(0))).unwrap();
        let before = runner.traffic();
        let ready = runner.prepare(&me).unwrap().deliver(|| 0).unwrap();
        assert!(ready.delivery().is_some());
        let _ = ready.run();
        let t = runner.traffic();
        assert_eq!(
            (
                t.delivery_reads - before.delivery_reads,
                t.delivery_writes - before.delivery_writes
            ),
            (reads, u64::from(fwcall_smccc::budget::DELIVERY_WRITES)),
            "{features:?}"
        );
        assert!(reads <= u64::from(fwcall_smccc::budget::DELIVERY_READS));
        assert_eq!(t.deliveries, 1);
    }
}

#[test]
fn steal_is_accounted_in_the_deliver_step() {
    let vm = vm();
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut runner = Runner::new(FakeVcpu::new(boot_regs(), []));
    let _ = runner.prepare(&me).unwrap().deliver(|| 1234).unwrap();
    assert_eq!(me.vcpu().stolen_ns(), 1234);
}
