//! One test per served function: the adapter reads exactly the argument
//! registers of its budget row and writes exactly what the reply defines,
//! counted through a counting register file.

use alloc::vec::Vec;

use fwcall_pvtime::AtomicMemory;
use fwcall_smccc::budget::{self, Budget};
use fwcall_smccc::{FunctionId, SocId, VcpuIndex, ids};

use super::*;
use crate::{
    EventDecl, EventKind, FeatureRegister, Gpa, LptConfig, MemoryRegion, Priority, PsciConfig,
    PsciVersion, TrngConfig, Vm, VmConfig,
};

const EVENT: u64 = 0x100;
const ENTRY: u64 = 0xffff_8000_0010_0000;
const SHARED: u64 = 0x200;
const PVT: u64 = 0x0a10_0000;
const MPIDR0: u64 = 0x8000_0000;
/// The affinity of vCPU 1 (PSCI takes affinity fields only, no RES1 bit),
/// off at boot (PSCI boots vCPU 0 only): the `CPU_ON` target.
const MPIDR1: u64 = 0x1;
/// A `CPU_ON` entry point in RAM.
const START: u64 = 0x4008_0000;
const STD_HYP_CALL_COUNT: FunctionId = ids::call_count(5);
const STD_HYP_CALL_UID: FunctionId = ids::call_uid(5);
const STD_HYP_REVISION: FunctionId = ids::revision(5);

/// A VM that serves every function of every table: SMCCC 1.4, a SoC ID,
/// workarounds offered, SDEI with a platform event, PV time placed with
/// LPT, PSCI 1.1 (vCPU 0 on, vCPU 1 off) and TRNG.
fn vm() -> Vm<AtomicMemory> {
    let mut c = VmConfig::new(2);
    c.soc_id = Some(SocId::new(0x3, 0x3b, 0x1234, 1).unwrap());
    c.workarounds.wa1 = fwcall_smccc::WorkaroundLevel::Avail;
    c.workarounds.wa2 = fwcall_smccc::Workaround2Level::Avail;
    c.workarounds.wa3 = fwcall_smccc::WorkaroundLevel::Avail;
    c.psci = Some(PsciConfig::new(PsciVersion::V1_1));
    c.trng = Some(TrngConfig::default());
    c.ram = alloc::vec![MemoryRegion {
        base: Gpa(0x4000_0000),
        size: 0x1000_0000,
    }];
    c.reserved = alloc::vec![MemoryRegion {
        base: Gpa(PVT),
        size: 0x1_0000,
    }];
    c.pvtime.stolen_time_base = Some(Gpa(PVT));
    c.pvtime.lpt = Some(LptConfig {
        ipa: Gpa(PVT + 0x8000),
        pv_hz: 1_000_000_000,
    });
    if let Some(s) = c.sdei.as_mut() {
        s.events.push(EventDecl {
            number: EVENT as u32,
            kind: EventKind::Private,
            priority: Priority::Normal,
        });
        s.events.push(EventDecl {
            number: SHARED as u32,
            kind: EventKind::Shared,
            priority: Priority::Normal,
        });
    }
    let mem = AtomicMemory::new(&c.reserved);
    let vm = Vm::new(c, mem).unwrap();
    vm.start().unwrap();
    vm
}

fn hvc(fid: FunctionId) -> HypercallExit {
    HypercallExit {
        nr: u64::from(fid.raw()),
        flags: 0,
    }
}

fn call(me: &KvmVcpu<'_, AtomicMemory>, regs: &mut RegisterFile, fid: FunctionId, args: &[u64]) {
    regs.x[1..=args.len()].copy_from_slice(args);
    me.serve(hvc(fid), regs).unwrap();
}

/// A running handler for event 0x100 on vCPU 0.
fn in_handler(vm: &Vm<AtomicMemory>, me: &KvmVcpu<'_, AtomicMemory>, regs: &mut RegisterFile) {
    call(me, regs, ids::SDEI_EVENT_REGISTER, &[EVENT, ENTRY, 7, 0, 0]);
    call(me, regs, ids::SDEI_EVENT_ENABLE, &[EVENT]);
    call(me, regs, ids::SDEI_PE_UNMASK, &[]);
    vm.raise(EVENT as u32, Some(VcpuIndex(0))).unwrap();
    assert!(me.deliver_pending(regs).unwrap().is_some());
}

/// The state a call needs to succeed with the most registers written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Before {
    Nothing,
    /// Event 0x100 registered.
    Registered,
    /// Event 0x100 running on vCPU 0.
    Handler,
    /// Shared event 0x200 registered (disabled).
    SharedRegistered,
    /// Event 0 registered, enabled and unmasked on vCPU 0.
    Signalable,
    /// SPI 40 bound.
    Bound,
}

/// The arguments (and the state) that make `fid` succeed with the most
/// registers written.
fn case(fid: FunctionId) -> (Before, Vec<u64>) {
    let q = |f: FunctionId| alloc::vec![u64::from(f.raw())];
    match fid {
        ids::SMCCC_ARCH_FEATURES => (Before::Nothing, q(ids::SMCCC_ARCH_WORKAROUND_1)),
        ids::SMCCC_ARCH_SOC_ID => (Before::Nothing, alloc::vec![1]),
        ids::SMCCC_ARCH_WORKAROUND_2 => (Before::Nothing, alloc::vec![1]),
        ids::SDEI_EVENT_REGISTER => (Before::Nothing, alloc::vec![EVENT, ENTRY, 0, 0, 0]),
        ids::SDEI_EVENT_ENABLE
        | ids::SDEI_EVENT_DISABLE
        | ids::SDEI_EVENT_STATUS
        | ids::SDEI_EVENT_UNREGISTER => (Before::Registered, alloc::vec![EVENT]),
        ids::SDEI_EVENT_CONTEXT => (Before::Handler, alloc::vec![2]),
        ids::SDEI_EVENT_COMPLETE => (Before::Handler, alloc::vec![0]),
        ids::SDEI_EVENT_COMPLETE_AND_RESUME => (Before::Handler, alloc::vec![ENTRY + 0x280]),
        ids::SDEI_EVENT_GET_INFO => (Before::Nothing, alloc::vec![EVENT, 0]),
        ids::SDEI_EVENT_ROUTING_SET => (Before::SharedRegistered, alloc::vec![SHARED, 0, 0]),
        ids::SDEI_INTERRUPT_BIND => (Before::Nothing, alloc::vec![40]),
        ids::SDEI_INTERRUPT_RELEASE => (Before::Bound, alloc::vec![0x4001_0000]),
        ids::SDEI_EVENT_SIGNAL => (Before::Signalable, alloc::vec![0, MPIDR0]),
        ids::SDEI_FEATURES => (Before::Nothing, alloc::vec![0]),
        ids::PV_TIME_FEATURES => (Before::Nothing, q(ids::PV_TIME_ST)),
        ids::PSCI_CPU_SUSPEND | ids::PSCI_CPU_SUSPEND_64 => (Before::Nothing, alloc::vec![0]),
        ids::PSCI_CPU_ON | ids::PSCI_CPU_ON_64 => (Before::Nothing, alloc::vec![MPIDR1, START, 7]),
        ids::PSCI_AFFINITY_INFO | ids::PSCI_AFFINITY_INFO_64 => {
            (Before::Nothing, alloc::vec![MPIDR1, 0])
        }
        ids::PSCI_FEATURES => (Before::Nothing, q(ids::PSCI_CPU_ON_64)),
        // A warm reset with a cookie: both arguments are read.
        ids::PSCI_SYSTEM_RESET2 | ids::PSCI_SYSTEM_RESET2_64 => {
            (Before::Nothing, alloc::vec![0, 0x1234])
        }
        ids::TRNG_FEATURES => (Before::Nothing, q(ids::TRNG_RND64)),
        ids::TRNG_RND32 => (Before::Nothing, alloc::vec![96]),
        ids::TRNG_RND64 => (Before::Nothing, alloc::vec![192]),
        _ => (Before::Nothing, Vec::new()),
    }
}

fn set_up(
    vm: &Vm<AtomicMemory>,
    me: &KvmVcpu<'_, AtomicMemory>,
    regs: &mut RegisterFile,
    before: Before,
) {
    match before {
        Before::Nothing => {}
        Before::Registered => call(me, regs, ids::SDEI_EVENT_REGISTER, &[EVENT, ENTRY, 7, 0, 0]),
        Before::Handler => in_handler(vm, me, regs),
        Before::SharedRegistered => {
            call(
                me,
                regs,
                ids::SDEI_EVENT_REGISTER,
                &[SHARED, ENTRY, 7, 0, 0],
            );
        }
        Before::Signalable => {
            call(me, regs, ids::SDEI_EVENT_REGISTER, &[0, ENTRY, 7, 0, 0]);
            call(me, regs, ids::SDEI_EVENT_ENABLE, &[0]);
            call(me, regs, ids::SDEI_PE_UNMASK, &[]);
        }
        Before::Bound => call(me, regs, ids::SDEI_INTERRUPT_BIND, &[40]),
    }
    assert!(
        (regs.x[0] as i64) >= 0,
        "set-up call failed: {}",
        regs.x[0] as i64
    );
}

/// Serves `row`'s function through the adapter with every register
/// holding a value, and returns the reads and writes it made.
fn traffic(row: &Budget) -> (u32, u32) {
    let vm = vm();
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
    let mut regs = RegisterFile {
        pc: 0xffff_8000_0800_0000,
        pstate: 0x3c5,
        ..Default::default()
    };
    let (before, args) = case(row.fid);
    set_up(&vm, &me, &mut regs, before);
    for (i, x) in regs.x.iter_mut().enumerate().skip(1) {
        *x = 0x5a00 + i as u64;
    }
    regs.x[1..=args.len()].copy_from_slice(&args);
    let (r0, w0) = (regs.reads, regs.writes);
    let out = me.serve(hvc(row.fid), &mut regs).unwrap();
    let x0 = match out.reply {
        crate::Reply::Return { regs, .. } => regs[0] as i64,
        _ => 0,
    };
    // EVENT_CONTEXT returns a saved register, not a status; the system
    // calls answer INTERNAL_FAILURE, which the guest sees only if the VMM
    // did not act on the power action.
    let status = ![
        ids::SDEI_EVENT_CONTEXT,
        ids::PSCI_SYSTEM_OFF,
        ids::PSCI_SYSTEM_RESET,
        ids::PSCI_SYSTEM_RESET2,
        ids::PSCI_SYSTEM_RESET2_64,
    ]
    .contains(&row.fid);
    if status {
        assert!(
            x0 >= 0,
            "{}: answered {x0}",
            ids::name(row.fid).unwrap_or("?")
        );
    }
    (regs.reads - r0, regs.writes - w0)
}

/// The writes of the call that writes most, when that is fewer than the
/// row's "at most": a successful `CPU_OFF` does not return, so it writes
/// nothing (fwcall never refuses it; the row's one register is what an
/// implementation that can refuse would write).
fn most_writes(row: &Budget) -> u8 {
    match row.fid {
        ids::PSCI_CPU_OFF => 0,
        _ => row.writes,
    }
}

fn check(fid: FunctionId) {
    let row = budget::lookup(fid).expect("a budget row");
    let (reads, writes) = traffic(row);
    let name = ids::name(fid).unwrap_or("?");
    assert_eq!(
        reads,
        u32::from(row.args),
        "{name}: reads exactly its arguments"
    );
    assert_eq!(
        writes,
        u32::from(most_writes(row)),
        "{name}: writes exactly what its reply defines"
    );
}

macro_rules! budget_tests {
    ($($test:ident => $fid:expr,)*) => {
        $(
            #[test]
            fn $test() {
                check($fid);
            }
        )*

        /// Every row of every table, the opt-in PSCI and TRNG ones too,
        /// has its test above.
        #[test]
        fn every_budget_row_has_a_test() {
            let tested = [$($fid),*];
            for (table, rows) in budget::all() {
                for row in *rows {
                    assert!(tested.contains(&row.fid), "{table}: {:?} has no test", ids::name(row.fid));
                }
            }
        }
    };
}

budget_tests! {
    smccc_version => ids::SMCCC_VERSION,
    smccc_arch_features => ids::SMCCC_ARCH_FEATURES,
    smccc_arch_soc_id => ids::SMCCC_ARCH_SOC_ID,
    smccc_arch_workaround_1 => ids::SMCCC_ARCH_WORKAROUND_1,
    smccc_arch_workaround_2 => ids::SMCCC_ARCH_WORKAROUND_2,
    smccc_arch_workaround_3 => ids::SMCCC_ARCH_WORKAROUND_3,
    sdei_version => ids::SDEI_VERSION,
    sdei_event_register => ids::SDEI_EVENT_REGISTER,
    sdei_event_enable => ids::SDEI_EVENT_ENABLE,
    sdei_event_disable => ids::SDEI_EVENT_DISABLE,
    sdei_event_context => ids::SDEI_EVENT_CONTEXT,
    sdei_event_complete => ids::SDEI_EVENT_COMPLETE,
    sdei_event_complete_and_resume => ids::SDEI_EVENT_COMPLETE_AND_RESUME,
    sdei_event_unregister => ids::SDEI_EVENT_UNREGISTER,
    sdei_event_status => ids::SDEI_EVENT_STATUS,
    sdei_event_get_info => ids::SDEI_EVENT_GET_INFO,
    sdei_event_routing_set => ids::SDEI_EVENT_ROUTING_SET,
    sdei_pe_mask => ids::SDEI_PE_MASK,
    sdei_pe_unmask => ids::SDEI_PE_UNMASK,
    sdei_interrupt_bind => ids::SDEI_INTERRUPT_BIND,
    sdei_interrupt_release => ids::SDEI_INTERRUPT_RELEASE,
    sdei_event_signal => ids::SDEI_EVENT_SIGNAL,
    sdei_features => ids::SDEI_FEATURES,
    sdei_private_reset => ids::SDEI_PRIVATE_RESET,
    sdei_shared_reset => ids::SDEI_SHARED_RESET,
    pv_time_features => ids::PV_TIME_FEATURES,
    pv_time_st => ids::PV_TIME_ST,
    pv_time_lpt => ids::PV_TIME_LPT,
    std_hyp_call_count => STD_HYP_CALL_COUNT,
    std_hyp_call_uid => STD_HYP_CALL_UID,
    std_hyp_revision => STD_HYP_REVISION,
    psci_version => ids::PSCI_VERSION,
    psci_cpu_suspend => ids::PSCI_CPU_SUSPEND,
    psci_cpu_suspend_64 => ids::PSCI_CPU_SUSPEND_64,
    psci_cpu_off => ids::PSCI_CPU_OFF,
    psci_cpu_on => ids::PSCI_CPU_ON,
    psci_cpu_on_64 => ids::PSCI_CPU_ON_64,
    psci_affinity_info => ids::PSCI_AFFINITY_INFO,
    psci_affinity_info_64 => ids::PSCI_AFFINITY_INFO_64,
    psci_migrate_info_type => ids::PSCI_MIGRATE_INFO_TYPE,
    psci_system_off => ids::PSCI_SYSTEM_OFF,
    psci_system_reset => ids::PSCI_SYSTEM_RESET,
    psci_features => ids::PSCI_FEATURES,
    psci_system_reset2 => ids::PSCI_SYSTEM_RESET2,
    psci_system_reset2_64 => ids::PSCI_SYSTEM_RESET2_64,
    trng_version => ids::TRNG_VERSION,
    trng_features => ids::TRNG_FEATURES,
    trng_get_uuid => ids::TRNG_GET_UUID,
    trng_rnd32 => ids::TRNG_RND32,
    trng_rnd64 => ids::TRNG_RND64,
}

#[test]
fn unknown_refused_and_switched_off_ids_read_nothing_and_write_x0() {
    let vm = vm();
    let served = [ids::SDEI_EVENT_REGISTER, ids::PV_TIME_FEATURES];
    let unserved = [
        FunctionId(0xC400_0021 & !0x4000_0000), // SMC32 alias of REGISTER
        FunctionId(0xC300_1234),                // nobody's
        FunctionId(0x4400_0021),                // yielding
        FunctionId(0xC47F_0021),                // reserved bits set
        FunctionId(0xC600_0010),                // vendor, no service
    ];
    let count = |vm: &Vm<AtomicMemory>, fid: FunctionId| {
        let me = KvmVcpu::new(vm, VcpuIndex(0)).unwrap();
        let mut regs = RegisterFile::default();
        me.serve(hvc(fid), &mut regs).unwrap();
        (regs.reads, regs.writes)
    };
    for fid in unserved {
        assert_eq!(count(&vm, fid), (0, 1), "{fid:?}");
    }
    let vm = self::vm(); // words freeze at the first call
    vm.set_features(FeatureRegister::Std, 0).unwrap();
    vm.set_features(FeatureRegister::StdHyp, 0).unwrap();
    for fid in served {
        assert_eq!(count(&vm, fid), (0, 1), "{fid:?} switched off");
    }
}
