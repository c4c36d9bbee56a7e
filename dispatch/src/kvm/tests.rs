//! The adapter against a plain register file: the code path a KVM vCPU
//! takes, on any host.

use alloc::vec::Vec;
use core::convert::Infallible;

use fwcall_smccc::{
    CALL_REGS, Context, El1Regs, FunctionId, Kicks, Reply, SmcccVersion, VcpuIndex, ids,
};
use proptest::prelude::*;

use super::*;
use crate::features::{FirmwareFeatures, StdFeatures, StdHypFeatures};
use crate::{Delivery, EventDecl, EventKind, NoMemory, Priority, Vm};

const NOT_SUPPORTED: u64 = u64::MAX;

fn hvc(fid: FunctionId) -> HypercallExit {
    HypercallExit {
        nr: u64::from(fid.raw()),
        flags: 0,
    }
}

fn numbered() -> RegisterFile {
    let mut r = RegisterFile::default();
    for (i, x) in r.x.iter_mut().enumerate() {
        *x = 0x1000 + i as u64;
    }
    r.pc = 0xffff_8000_0000_1004;
    r.pstate = 0x3c5;
    r.elr_el1 = 0xe1;
    r.spsr_el1 = 0x5b;
    r.sctlr_el1 = 0x30d0_1805;
    r
}

fn vm(vcpus: u32) -> Vm<NoMemory> {
    Vm::new(vm_config(vcpus), NoMemory).unwrap()
}

/// A platform event the VMM may raise (event 0 is the guest's to signal).
const PLATFORM_EVENT: u32 = 0x100;

fn vm_with_platform_event(vcpus: u32) -> Vm<NoMemory> {
    let mut c = vm_config(vcpus);
    if let Some(sdei) = c.sdei.as_mut() {
        sdei.events.push(EventDecl {
            number: PLATFORM_EVENT,
            kind: EventKind::Private,
            priority: Priority::Normal,
        });
    }
    Vm::new(c, NoMemory).unwrap()
}

// --- exit flags and decoding -------------------------------------------------

#[test]
fn flag_bit0_means_smc_and_clear_means_hvc() {
    assert_eq!(
        HypercallExit { nr: 0, flags: 0 }.conduit(),
        crate::Conduit::Hvc
    );
    assert_eq!(
        HypercallExit { nr: 0, flags: 1 }.conduit(),
        crate::Conduit::Smc
    );
    assert!(!HypercallExit { nr: 0, flags: 1 }.is_16bit());
    assert!(HypercallExit { nr: 0, flags: 2 }.is_16bit());
}

#[test]
fn function_id_comes_from_the_exit_and_arguments_from_x1_up() {
    let mut regs = numbered();
    let Decoded::Call(call) = decode(hvc(ids::SDEI_EVENT_REGISTER), 17, &mut regs).unwrap() else {
        panic!("refused")
    };
    assert_eq!(call.fid(), ids::SDEI_EVENT_REGISTER);
    assert_eq!(
        call.x[0], 0xC400_0021,
        "X0 is the ID KVM reported, not the register file's value"
    );
    for n in 1..CALL_REGS {
        assert_eq!(call.x[n], 0x1000 + n as u64);
    }
    assert_eq!(regs.reads, 17);
    assert_eq!(regs.writes, 0);
}

#[test]
fn decode_reads_only_the_registers_asked_for() {
    let mut regs = numbered();
    let Decoded::Call(call) = decode(hvc(ids::SDEI_EVENT_REGISTER), 5, &mut regs).unwrap() else {
        panic!("refused")
    };
    assert_eq!(regs.reads, 5);
    assert_eq!(call.x[5], 0x1005);
    assert!(call.x[6..].iter().all(|v| *v == 0));
}

#[test]
fn smccc_1_1_never_reads_past_x7() {
    let vm = vm(1);
    let mut svc = vm_config(1);
    svc.smccc_version = SmcccVersion::V1_1;
    let mut vm2 = Vm::new(svc, NoMemory).unwrap();
    vm2.add_service(0xC600_0010..=0xC600_001F, 3, alloc::boxed::Box::new(Dice))
        .unwrap();
    assert_eq!(vm2.argument_registers(FunctionId(0xC600_0010)), 7);
    assert_eq!(vm.argument_registers(ids::SDEI_EVENT_REGISTER), 5);
}

#[test]
fn smc_conduit_reaches_the_call() {
    let mut regs = numbered();
    let exit = HypercallExit {
        nr: u64::from(ids::SDEI_VERSION.raw()),
        flags: abi::HYPERCALL_EXIT_SMC,
    };
    let Decoded::Call(call) = decode(exit, 0, &mut regs).unwrap() else {
        panic!()
    };
    assert_eq!(call.conduit, crate::Conduit::Smc);
}

#[test]
fn sixteen_bit_call_is_refused_with_not_supported_and_nothing_else() {
    let vm = vm(1);
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut regs = numbered();
    let before = regs;
    let exit = HypercallExit {
        nr: u64::from(ids::SDEI_VERSION.raw()),
        flags: abi::HYPERCALL_EXIT_16BIT,
    };
    let out = me.serve(exit, &mut regs).unwrap();
    assert_eq!(out.reply, Reply::NOT_SUPPORTED);
    assert_eq!(regs.x[0], NOT_SUPPORTED);
    assert_eq!(regs.reads, 0);
    assert_eq!(
        (&regs.x[1..], regs.pc, regs.pstate),
        (&before.x[1..], before.pc, before.pstate)
    );
}

// --- applying replies ----------------------------------------------------------

#[test]
fn return_writes_only_its_registers_and_never_the_pc() {
    let mut regs = numbered();
    let before = regs;
    apply_reply(&Reply::x0_3([1, 2, 3, 4]), &mut regs).unwrap();
    assert_eq!(regs.x[..4], [1, 2, 3, 4]);
    assert_eq!(regs.x[4..], before.x[4..]);
    assert_eq!(
        (regs.pc, regs.pstate, regs.elr_el1, regs.spsr_el1),
        (before.pc, before.pstate, 0xe1, 0x5b)
    );
    assert_eq!(regs.writes, 4);
}

#[test]
fn nothing_writes_nothing() {
    let mut regs = numbered();
    apply_reply(&Reply::Nothing, &mut regs).unwrap();
    assert_eq!(regs.writes, 0);
}

#[test]
fn restore_writes_x0_to_x17_pc_and_pstate_and_keeps_el1_without_el1() {
    let mut regs = numbered();
    let mut x = [0u64; CALL_REGS];
    x.iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = 0xa0 + i as u64);
    apply_reply(
        &Reply::Restore(Context {
            x,
            pc: 0x8000,
            pstate: 0x3c5,
            el1: None,
        }),
        &mut regs,
    )
    .unwrap();
    assert_eq!(regs.x[..18], x);
    assert_eq!(regs.x[18], 0x1000 + 18, "X18 and above belong to the guest");
    assert_eq!((regs.pc, regs.pstate), (0x8000, 0x3c5));
    assert_eq!((regs.elr_el1, regs.spsr_el1), (0xe1, 0x5b));
}

#[test]
fn restore_with_el1_writes_elr_and_spsr() {
    let mut regs = numbered();
    let el1 = Some(El1Regs {
        elr: 0x7777,
        spsr: 0x3c4,
    });
    apply_reply(
        &Reply::Restore(Context {
            x: [0; CALL_REGS],
            pc: 0x9000,
            pstate: 0x3c5,
            el1,
        }),
        &mut regs,
    )
    .unwrap();
    assert_eq!(
        (regs.elr_el1, regs.spsr_el1, regs.pc),
        (0x7777, 0x3c4, 0x9000)
    );
}

#[test]
fn interrupted_context_is_x0_to_x17_pc_pstate_and_sctlr() {
    let mut regs = numbered();
    let i = super::exit::read_interrupted(&mut regs, true).unwrap();
    assert_eq!(i.x[..], numbered().x[..18]);
    assert_eq!(
        (i.pc, i.pstate, i.sctlr_el1),
        (0xffff_8000_0000_1004, 0x3c5, 0x30d0_1805)
    );
    assert_eq!(regs.writes, 0);
}

#[test]
fn delivery_writes_x0_to_x3_pc_and_pstate_only() {
    let mut regs = numbered();
    let before = regs;
    let d = Delivery {
        event: 0,
        x: [0, 0xa1, 0xa2, 0xa3],
        pc: 0x5000,
        pstate: 0x3c5,
        kicks: Kicks::none(),
    };
    super::exit::apply_delivery(&d, &mut regs).unwrap();
    assert_eq!(regs.x[..4], [0, 0xa1, 0xa2, 0xa3]);
    assert_eq!(regs.x[4..], before.x[4..]);
    assert_eq!((regs.pc, regs.pstate), (0x5000, 0x3c5));
    assert_eq!(
        (regs.elr_el1, regs.spsr_el1),
        (before.elr_el1, before.spsr_el1)
    );
    assert_eq!(regs.writes, 6);
}

/// A register access that fails on one register.
struct Broken(Reg);

impl VcpuRegisters for Broken {
    type Error = &'static str;
    fn get(&mut self, reg: Reg) -> Result<u64, &'static str> {
        if reg == self.0 { Err("EFAULT") } else { Ok(0) }
    }
    fn set(&mut self, reg: Reg, _: u64) -> Result<(), &'static str> {
        if reg == self.0 { Err("EFAULT") } else { Ok(()) }
    }
}

#[test]
fn register_errors_name_the_register_and_the_direction() {
    let e = decode(hvc(ids::SDEI_EVENT_ROUTING_SET), 3, &mut Broken(Reg::X(3))).unwrap_err();
    assert_eq!(
        e,
        RegisterError {
            reg: Reg::X(3),
            write: false,
            source: "EFAULT"
        }
    );
    let e = apply_reply(&Reply::x0(0), &mut Broken(Reg::X(0))).unwrap_err();
    assert!(e.write);
    assert_eq!(
        alloc::format!("{e}"),
        "cannot write x0 of the calling vCPU: EFAULT"
    );
}

// --- end to end through fwcall ---------------------------------------------------

#[test]
fn sdei_version_is_served_and_the_pc_left_to_kvm() {
    let vm = vm(1);
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut regs = numbered();
    let out = me.serve(hvc(ids::SDEI_VERSION), &mut regs).unwrap();
    assert!(out.kicks.is_empty());
    assert_eq!(regs.x[0] >> 48, 1, "SDEI major version 1");
    assert_eq!(regs.pc, numbered().pc);
}

#[test]
fn sdei_smc32_alias_is_not_supported() {
    let vm = vm(1);
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut regs = numbered();
    me.serve(hvc(FunctionId(0x8400_0020)), &mut regs).unwrap();
    assert_eq!(regs.x[0] as u32, u32::MAX, "NOT_SUPPORTED in W0");
}

fn call(me: &KvmVcpu<'_, NoMemory>, regs: &mut RegisterFile, fid: FunctionId, args: &[u64]) -> i64 {
    for (n, a) in args.iter().enumerate() {
        regs.x[n + 1] = *a;
    }
    me.serve(hvc(fid), regs).unwrap();
    regs.x[0] as i64
}

#[test]
fn raised_event_is_entered_before_the_next_run_and_completion_restores_the_context() {
    let vm = vm_with_platform_event(2);
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut regs = numbered();
    let (entry, arg) = (0xffff_8000_0010_0000u64, 0xfeed);
    assert_eq!(
        call(
            &me,
            &mut regs,
            ids::SDEI_EVENT_REGISTER,
            &[u64::from(PLATFORM_EVENT), entry, arg, 0, 0]
        ),
        0
    );
    assert_eq!(
        call(
            &me,
            &mut regs,
            ids::SDEI_EVENT_ENABLE,
            &[u64::from(PLATFORM_EVENT)]
        ),
        0
    );
    assert_eq!(call(&me, &mut regs, ids::SDEI_PE_UNMASK, &[]), 0);
    assert_eq!(
        me.deliver_pending(&mut regs).unwrap(),
        None,
        "nothing raised yet"
    );

    // Another thread raises the event for vCPU 0.
    let kicks = vm.raise(PLATFORM_EVENT, Some(VcpuIndex(0))).unwrap();
    assert!(kicks.contains(VcpuIndex(0)));
    let resumed = regs;
    let d = me.deliver_pending(&mut regs).unwrap().expect("a delivery");
    assert_eq!(d.event, PLATFORM_EVENT);
    assert_eq!(
        regs.x[..4],
        [u64::from(PLATFORM_EVENT), arg, resumed.pc, resumed.pstate]
    );
    assert_eq!(regs.pc, entry);
    assert_eq!(regs.pstate & 0x1f, 0b0_0101, "handler runs at EL1h");
    assert_eq!(regs.pstate & 0x3c0, 0x3c0, "with DAIF masked");

    // The handler completes: the interrupted context comes back whole.
    regs.x[5] = 0xdead;
    me.serve(hvc(ids::SDEI_EVENT_COMPLETE), &mut regs).unwrap();
    assert_eq!(regs.x[..18], resumed.x[..18]);
    assert_eq!((regs.pc, regs.pstate), (resumed.pc, resumed.pstate));
    assert_eq!(me.deliver_pending(&mut regs).unwrap(), None);
}

#[test]
fn masked_vcpu_gets_no_delivery() {
    let vm = vm_with_platform_event(1);
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut regs = numbered();
    call(
        &me,
        &mut regs,
        ids::SDEI_EVENT_REGISTER,
        &[u64::from(PLATFORM_EVENT), 0x4000, 0, 0, 0],
    );
    call(
        &me,
        &mut regs,
        ids::SDEI_EVENT_ENABLE,
        &[u64::from(PLATFORM_EVENT)],
    );
    vm.raise(PLATFORM_EVENT, Some(VcpuIndex(0))).unwrap();
    let before = regs;
    assert_eq!(
        me.deliver_pending(&mut regs).unwrap(),
        None,
        "PEs start masked"
    );
    assert_eq!(regs.pc, before.pc);
}

// --- kicks ---------------------------------------------------------------------

#[test]
fn kick_targets_skip_the_caller_and_expand_all() {
    let mut k = Kicks::none();
    k.add(VcpuIndex(0));
    k.add(VcpuIndex(2));
    k.add(VcpuIndex(9));
    let t: Vec<_> = kick_targets(&k, Some(VcpuIndex(0)), 4).collect();
    assert_eq!(
        t,
        [VcpuIndex(2)],
        "the caller delivers before resuming; 9 does not exist"
    );
    for i in 0..8 {
        k.add(VcpuIndex(i));
    }
    assert!(k.all());
    let t: Vec<_> = kick_targets(&k, Some(VcpuIndex(1)), 3).collect();
    assert_eq!(t, [VcpuIndex(0), VcpuIndex(2)]);
    assert_eq!(kick_targets(&Kicks::none(), None, 3).count(), 0);
}

// --- filter ----------------------------------------------------------------------

fn features(sdei: bool, pv: bool, lpt: bool) -> FirmwareFeatures {
    let mut f = FirmwareFeatures::default();
    if sdei {
        f.std |= StdFeatures::SDEI;
    }
    if pv {
        f.std_hyp |= StdHypFeatures::PV_TIME;
    }
    if lpt {
        f.std_hyp |= StdHypFeatures::PV_TIME_LPT;
    }
    f
}

fn spans(plan: &FilterPlan) -> Vec<(u32, u32)> {
    plan.ranges().iter().map(|r| (r.base, r.count)).collect()
}

#[test]
fn filter_forwards_sdei_both_conventions_and_pv_time() {
    let plan = FilterPlan::for_features(&features(true, true, false));
    assert_eq!(
        spans(&plan),
        [
            (0x8400_0020, 32),
            (0xC400_0020, 32),
            (0x8500_FF00, 4),
            (0xC500_0020, 2)
        ]
    );
    assert!(!plan.forwards(ids::PV_TIME_LPT), "no LPT without its bit");
}

#[test]
fn filter_forwards_lpt_only_with_its_bit() {
    let plan = FilterPlan::for_features(&features(false, true, true));
    assert_eq!(spans(&plan), [(0x8500_FF00, 4), (0xC500_0020, 3)]);
    assert!(plan.forwards(ids::PV_TIME_LPT));
}

#[test]
fn filter_is_empty_with_every_service_off() {
    assert!(
        FilterPlan::for_features(&features(false, false, false))
            .ranges()
            .is_empty()
    );
    assert_eq!(
        spans(&FilterPlan::for_features(&features(true, false, false))),
        [(0x8400_0020, 32), (0xC400_0020, 32)]
    );
}

#[test]
fn filter_never_touches_what_kvm_keeps() {
    let plan = FilterPlan::for_features(&features(true, true, true));
    for fid in [
        0x8000_0000u32,
        0x8000_0001,
        0xC000_0002,
        0x8000_8000,
        0x8400_0000,
        0xC400_0003,
        0x8400_001F,
        0x8400_0050,
        0x8600_FF01,
        0xC600_0001,
    ] {
        assert!(!plan.forwards(FunctionId(fid)), "{fid:#x} is KVM's");
    }
    for r in plan.ranges() {
        let k = r.to_kvm();
        assert_eq!((k.action, k.pad), (2, [0; 15]));
    }
}

#[test]
fn filter_for_vm_follows_the_feature_words() {
    let vm = vm(2);
    assert_eq!(
        FilterPlan::for_vm(&vm),
        FilterPlan::for_features(&features(true, true, false))
    );
    vm.set_features(crate::FeatureRegister::Std, 0).unwrap();
    assert!(!FilterPlan::for_vm(&vm).forwards(ids::SDEI_VERSION));
}

#[derive(Debug)]
struct Dice;

impl crate::Service for Dice {
    fn name(&self) -> &str {
        "dice"
    }
    fn call(&self, _: VcpuIndex, _: &crate::Call) -> crate::Outcome {
        crate::Outcome::reply(Reply::x0(4))
    }
}

#[test]
fn vm_services_are_forwarded_while_their_feature_bit_is_set() {
    let mut vm = vm(1);
    vm.add_service(0xC600_0010..=0xC600_001F, 3, alloc::boxed::Box::new(Dice))
        .unwrap();
    let plan = FilterPlan::for_vm(&vm);
    assert!(plan.forwards(FunctionId(0xC600_0010)) && plan.forwards(FunctionId(0xC600_001F)));
    assert!(!plan.forwards(FunctionId(0xC600_0020)));
    assert_eq!(plan.ranges().last().map(|r| r.what.as_str()), Some("dice"));
    vm.set_features(crate::FeatureRegister::VendorHyp, 0)
        .unwrap();
    assert!(!FilterPlan::for_vm(&vm).forwards(FunctionId(0xC600_0010)));
}

#[test]
#[allow(clippy::reversed_empty_ranges)] // an empty range is the point of one case
fn service_ranges_are_added_but_never_over_the_arch_range_or_each_other() {
    let plan = FilterPlan::for_features(&features(true, true, false));
    let plan = plan
        .with_service(0xC600_0010..=0xC600_001F, "dice")
        .unwrap();
    assert!(plan.forwards(FunctionId(0xC600_0013)));
    assert!(matches!(
        plan.clone().with_service(0x8000_0000..=0x8000_0001, "x"),
        Err(FilterError::ArchReserved { .. })
    ));
    assert!(matches!(
        plan.clone().with_service(0xC000_FFFF..=0xC100_0000, "x"),
        Err(FilterError::ArchReserved { .. })
    ));
    assert!(matches!(
        plan.clone().with_service(0xC600_001F..=0xC600_0020, "x"),
        Err(FilterError::Overlap { .. })
    ));
    assert!(matches!(
        plan.with_service(0xC600_0030..=0xC600_002F, "x"),
        Err(FilterError::Empty { .. })
    ));
}

// --- firmware registers ----------------------------------------------------------

fn kvm_regs(std_hyp: u64) -> impl FnMut(u64) -> Result<u64, Infallible> {
    move |id| Ok(if id == abi::STD_HYP_BMAP { std_hyp } else { 0 })
}

#[test]
fn pv_time_served_by_fwcall_needs_kvms_pv_time_bit_set() {
    let vm = vm(1);
    assert_eq!(check_firmware_registers(&vm, kvm_regs(1)), Ok(()));
    let e = check_firmware_registers(&vm, kvm_regs(0)).unwrap_err();
    assert!(matches!(
        e,
        FirmwareError::Disagree {
            name: "KVM_REG_ARM_STD_HYP_BMAP",
            current: 0,
            mask: 1,
            required: 1,
            ..
        }
    ));
}

#[test]
fn pv_time_off_in_fwcall_needs_kvms_bit_clear() {
    let vm = vm(1);
    vm.set_features(crate::FeatureRegister::StdHyp, 0).unwrap();
    assert!(matches!(
        check_firmware_registers(&vm, kvm_regs(1)),
        Err(FirmwareError::Disagree { required: 0, .. })
    ));
    assert_eq!(check_firmware_registers(&vm, kvm_regs(0)), Ok(()));
}

#[test]
fn sync_rewrites_only_the_bit_in_question() {
    let vm = vm(1);
    let reg = core::cell::Cell::new(0b1110u64); // unknown future bits set, PV time clear
    let mut writes = 0;
    sync_firmware_registers(
        &vm,
        |id| {
            Ok::<_, Infallible>(if id == abi::STD_HYP_BMAP {
                reg.get()
            } else {
                0
            })
        },
        |id, v| {
            assert_eq!(id, abi::STD_HYP_BMAP);
            writes += 1;
            reg.set(v);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!((reg.get(), writes), (0b1111, 1));
}

#[test]
fn sync_reports_a_refused_write() {
    let vm = vm(1);
    let e = sync_firmware_registers(&vm, |_| Ok(0), |_, _| Err("EINVAL")).unwrap_err();
    assert_eq!(
        e,
        FirmwareError::Write {
            name: "KVM_REG_ARM_STD_HYP_BMAP",
            value: 1,
            source: "EINVAL"
        }
    );
}

#[test]
fn unreadable_register_is_a_read_error() {
    let vm = vm(1);
    assert!(matches!(
        check_firmware_registers(&vm, |_| Err("ENOENT")),
        Err(FirmwareError::Read {
            source: "ENOENT",
            ..
        })
    ));
}

#[test]
fn fwcall_must_use_kvms_smccc_version() {
    let vm = Vm::new(crate::VmConfig::new(1), NoMemory).unwrap();
    assert!(matches!(
        check_firmware_registers(&vm, kvm_regs(1)),
        Err(FirmwareError::SmcccVersion {
            kvm: SmcccVersion::V1_1,
            ..
        })
    ));
}

// --- properties ------------------------------------------------------------------

proptest! {
    #[test]
    fn a_return_of_n_registers_writes_exactly_x0_to_xn(values in proptest::array::uniform18(any::<u64>()), n in 1u8..=18) {
        let mut regs = numbered();
        let before = regs;
        apply_reply(&Reply::Return { regs: values, count: n }, &mut regs).unwrap();
        let n = n as usize;
        prop_assert_eq!(&regs.x[..n], &values[..n]);
        prop_assert_eq!(&regs.x[n..], &before.x[n..]);
        prop_assert_eq!(regs.pc, before.pc);
    }

    #[test]
    fn decoded_arguments_round_trip_through_a_restore(x in proptest::array::uniform18(any::<u64>()), fid in any::<u32>()) {
        let mut regs = RegisterFile::default();
        regs.x[..18].copy_from_slice(&x);
        let Decoded::Call(call) = decode(HypercallExit { nr: u64::from(fid), flags: 0 }, 17, &mut regs).unwrap() else {
            unreachable!()
        };
        prop_assert_eq!(&call.x[1..], &x[1..]);
        let mut other = RegisterFile::default();
        apply_reply(&Reply::Restore(Context { x: call.x, pc: 1, pstate: 2, el1: None }), &mut other).unwrap();
        prop_assert_eq!(&other.x[1..18], &x[1..]);
        prop_assert_eq!(other.x[0], u64::from(fid));
    }

    #[test]
    fn any_exit_is_served_without_panicking(nr in any::<u64>(), flags in any::<u64>(), x in proptest::array::uniform18(any::<u64>())) {
        let vm = vm(2);
        let me = KvmVcpu::new(&vm, VcpuIndex(1)).unwrap();
        let mut regs = RegisterFile::default();
        regs.x[..18].copy_from_slice(&x);
        let _ = me.serve(HypercallExit { nr, flags }, &mut regs).unwrap();
        let _ = me.deliver_pending(&mut regs).unwrap();
    }
}

// --- CPU features from the vCPU's ID registers -------------------------------

#[test]
fn cpu_features_come_from_the_vcpus_id_registers_one_feature_at_a_time() {
    use crate::CpuFeatures;
    // (ID_AA64PFR1_EL1, ID_AA64MMFR1_EL1) as a vCPU with only that feature
    // reports them (Arm ARM field values, Linux arch/arm64/tools/sysreg).
    let cases = [
        ("none", 0, 0, CpuFeatures::empty()),
        ("PAN (FEAT_PAN)", 0, 1 << 20, CpuFeatures::PAN),
        ("PAN3", 0, 3 << 20, CpuFeatures::PAN),
        ("SSBS (FEAT_SSBS)", 1 << 4, 0, CpuFeatures::SSBS),
        ("SSBS2", 2 << 4, 0, CpuFeatures::SSBS),
        ("MTE (FEAT_MTE)", 1 << 8, 0, CpuFeatures::MTE),
        ("MTE2", 2 << 8, 0, CpuFeatures::MTE),
        ("BTI", 1, 0, CpuFeatures::BTI),
        ("NMI", 1 << 36, 0, CpuFeatures::NMI),
        // Fields next to them mean nothing here: SME, RAS_frac, GCS, LO.
        (
            "neighbours",
            1 << 24 | 1 << 12 | 1 << 44,
            1 << 16,
            CpuFeatures::empty(),
        ),
    ];
    for (what, pfr1, mmfr1, want) in cases {
        let mut regs = RegisterFile {
            id_aa64pfr1_el1: pfr1,
            id_aa64mmfr1_el1: mmfr1,
            ..Default::default()
        };
        assert_eq!(cpu_features(&mut regs).unwrap(), want, "{what}");
        assert_eq!((regs.reads, regs.writes), (2, 0), "two reads, once");
    }
    assert_eq!(Reg::IdAa64Pfr1El1.kvm_id(), abi::sys_reg_id(3, 0, 0, 4, 1));
    assert_eq!(Reg::IdAa64Mmfr1El1.kvm_id(), abi::sys_reg_id(3, 0, 0, 7, 1));
    let e = cpu_features(&mut Broken(Reg::IdAa64Mmfr1El1)).unwrap_err();
    assert_eq!(e.reg, Reg::IdAa64Mmfr1El1);
}

// --- no promise without a path -------------------------------------------------

#[test]
fn kvm_config_offers_no_binding_slots() {
    let vm = vm(1);
    let mut regs = numbered();
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    assert_eq!(
        call(&me, &mut regs, ids::SDEI_FEATURES, &[0]),
        0,
        "BIND_SLOTS"
    );
    assert_eq!(check_firmware_registers(&vm, kvm_regs(1)), Ok(()));
}

#[test]
fn binding_slots_without_an_interrupt_hook_are_refused_and_say_why() {
    let mut c = vm_config(1);
    if let Some(s) = c.sdei.as_mut() {
        s.private_slots = 2;
        s.shared_slots = 1;
    }
    let mut vm = Vm::new(c, NoMemory).unwrap();
    let e = check_firmware_registers(&vm, kvm_regs(1)).unwrap_err();
    assert_eq!(
        e,
        FirmwareError::SlotsWithoutHook {
            private: 2,
            shared: 1
        }
    );
    let msg = alloc::format!("{e}");
    assert!(msg.contains("vGIC owns every interrupt"), "{msg}");
    assert!(
        sync_firmware_registers(&vm, kvm_regs(1), |_, _| Ok(())).is_err(),
        "sync refuses too"
    );

    #[derive(Debug)]
    struct Userspace;
    impl crate::InterruptHook for Userspace {
        fn divert(&self, _: u32, _: Option<VcpuIndex>) {}
        fn give_back(&self, _: u32) {}
    }
    vm.set_interrupt_hook(alloc::boxed::Box::new(Userspace));
    assert!(vm.has_interrupt_hook());
    assert_eq!(check_firmware_registers(&vm, kvm_regs(1)), Ok(()));
}

#[test]
fn slots_do_not_matter_while_sdei_is_switched_off() {
    let mut c = vm_config(1);
    if let Some(s) = c.sdei.as_mut() {
        s.shared_slots = 8;
    }
    let vm = Vm::new(c, NoMemory).unwrap();
    vm.set_features(crate::FeatureRegister::Std, 0).unwrap();
    assert_eq!(check_firmware_registers(&vm, kvm_regs(1)), Ok(()));
}
