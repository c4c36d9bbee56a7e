//! Every way a guest can ask agrees with the feature words, and a call
//! reads no argument register its function does not take.

use std::sync::Mutex;

use fwcall::pvtime::AtomicMemory;
use fwcall::smccc::{SocId, budget};
use fwcall::{
    Call, EventDecl, EventKind, FeatureRegister, FunctionId, Gpa, GuestMemoryAccess, LptConfig,
    MemoryError, MemoryRegion, Priority, Reply, VcpuIndex, Vm, VmConfig, ids,
};
use proptest::prelude::*;

const PVT: u64 = 0x0a10_0000;
const LPT: u64 = PVT + 0x8000;
const NOT_SUPPORTED: i64 = -1;

/// Guest memory that records every write.
#[derive(Debug)]
struct Recording {
    mem: AtomicMemory,
    writes: Mutex<Vec<(u64, usize)>>,
}

impl GuestMemoryAccess for Recording {
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
        self.writes.lock().unwrap().push((addr.0, 8));
        self.mem.write_u64(addr, value)
    }
    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        self.writes.lock().unwrap().push((addr.0, data.len()));
        self.mem.write_bytes(addr, data)
    }
    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.mem.read_bytes(addr, buf)
    }
}

fn config(placed: bool, lpt: bool) -> VmConfig {
    let mut c = VmConfig::new(2);
    c.ram = vec![MemoryRegion {
        base: Gpa(0x4000_0000),
        size: 0x1000_0000,
    }];
    c.reserved = vec![MemoryRegion {
        base: Gpa(PVT),
        size: 0x1_0000,
    }];
    if placed {
        c.pvtime.stolen_time_base = Some(Gpa(PVT));
    }
    if lpt {
        c.pvtime.lpt = Some(LptConfig {
            ipa: Gpa(LPT),
            pv_hz: 1_000_000_000,
        });
    }
    c
}

fn vm(placed: bool, lpt: bool) -> Vm<Recording> {
    let c = config(placed, lpt);
    let mem = Recording {
        mem: AtomicMemory::new(&c.reserved),
        writes: Mutex::default(),
    };
    Vm::new(c, mem).unwrap()
}

fn x0(vm: &Vm<impl GuestMemoryAccess>, fid: FunctionId, args: &[u64]) -> i64 {
    match vm
        .vcpu(VcpuIndex(0))
        .unwrap()
        .handle(&Call::new(fid, args))
        .reply
    {
        Reply::Return { regs, .. } => regs[0] as i64,
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// ARCH_FEATURES, PV_TIME_FEATURES, the call itself and the OEN 5 call
    /// count agree with the STD_HYP word, whatever the word and the
    /// configuration; start() writes memory only for what is switched on.
    #[test]
    fn every_way_of_asking_agrees_with_the_feature_words(
        placed in any::<bool>(), lpt in any::<bool>(), word in 0u64..4,
    ) {
        let vm = vm(placed, lpt);
        let word = word & vm.supported_features().std_hyp.bits();
        vm.set_features(FeatureRegister::StdHyp, word).unwrap();
        vm.start().unwrap();
        let pv_on = word & 1 != 0;
        // LPT is reached through PV_TIME_FEATURES: its bit means nothing without PV time.
        let lpt_on = pv_on && word & 2 != 0;

        // start(): nothing unless PV time is on; the LPT structure only with its bit.
        let writes = vm.memory().writes.lock().unwrap().clone();
        if lpt_on {
            prop_assert!(!writes.is_empty());
        }
        for (addr, len) in &writes {
            prop_assert!(lpt_on, "wrote {len} bytes at {addr:#x} with LPT off");
            prop_assert!(*addr >= LPT && addr + *len as u64 <= LPT + 64);
        }

        let arch = |f: FunctionId| x0(&vm, ids::SMCCC_ARCH_FEATURES, &[f.raw().into()]);
        let pvf = |f: FunctionId| x0(&vm, ids::PV_TIME_FEATURES, &[f.raw().into()]);
        for f in [ids::PV_TIME_FEATURES, ids::PV_TIME_ST, ids::PV_TIME_LPT] {
            let via_arch = arch(f);
            let via_pvf = if pv_on { pvf(f) } else { NOT_SUPPORTED };
            prop_assert_eq!(via_arch, via_pvf, "{:?}: ARCH_FEATURES vs PV_TIME_FEATURES", ids::name(f));
            // The call answers (not -1) exactly when it is reported.
            let answered = match f {
                ids::PV_TIME_FEATURES => x0(&vm, f, &[ids::PV_TIME_FEATURES.raw().into()]),
                _ => x0(&vm, f, &[]),
            };
            prop_assert_eq!(answered != NOT_SUPPORTED, via_arch == 0, "{:?}: the call itself", ids::name(f));
        }
        // The call count: the functions the words switch on.
        let count = x0(&vm, ids::call_count(5), &[]);
        let want = if pv_on { 2 + i64::from(lpt_on) } else { NOT_SUPPORTED };
        prop_assert_eq!(count, want);
        // The general queries are reported as they are served.
        for q in [ids::call_count(5), ids::call_uid(5), ids::revision(5)] {
            let served = x0(&vm, q, &[]) != NOT_SUPPORTED;
            prop_assert_eq!(arch(q) == 0, served, "{:?}", ids::name(q));
            prop_assert_eq!(served, pv_on);
        }
        // With LPT on and started, its structure is there.
        if lpt_on {
            prop_assert_eq!(x0(&vm, ids::PV_TIME_LPT, &[]) as u64, LPT);
        }
    }
}

#[test]
fn arch_features_of_the_oen5_call_count_is_0_while_it_is_served() {
    let vm = vm(true, false);
    assert_eq!(x0(&vm, ids::call_count(5), &[]), 2);
    assert_eq!(
        x0(&vm, ids::SMCCC_ARCH_FEATURES, &[0x8500_FF00]),
        0,
        "served, so reported"
    );
}

#[test]
fn lpt_configured_but_switched_off_is_off_everywhere_and_never_written() {
    let vm = vm(true, true);
    vm.set_features(FeatureRegister::StdHyp, 1).unwrap();
    vm.start().unwrap();
    let lpt = ids::PV_TIME_LPT.raw().into();
    assert_eq!(x0(&vm, ids::SMCCC_ARCH_FEATURES, &[lpt]), NOT_SUPPORTED);
    assert_eq!(x0(&vm, ids::PV_TIME_FEATURES, &[lpt]), NOT_SUPPORTED);
    assert_eq!(x0(&vm, ids::PV_TIME_LPT, &[]), NOT_SUPPORTED);
    assert_eq!(x0(&vm, ids::call_count(5), &[]), 2);
    assert!(vm.memory().writes.lock().unwrap().is_empty());
}

// --- argument registers ---------------------------------------------------------

const EVENT: u64 = 0x100;

/// A VM serving every table of `budget::all()`: SDEI with a shared
/// event, PV time with LPT, a SoC ID, PSCI 1.1 (vCPU 0 on) and TRNG with a
/// deterministic source; `std_word` and `pv_word` switch services off.
fn full_vm(std_word: u64, pv_word: u64) -> Vm<AtomicMemory> {
    let mut c = config(true, true);
    c.soc_id = Some(SocId::new(1, 2, 3, 4).unwrap());
    c.psci = Some(fwcall::PsciConfig::new(fwcall::PsciVersion::V1_1));
    c.trng = Some(fwcall::TrngConfig::default());
    if let Some(s) = c.sdei.as_mut() {
        s.events.push(EventDecl {
            number: EVENT as u32,
            kind: EventKind::Shared,
            priority: Priority::Normal,
        });
    }
    let mem = AtomicMemory::new(&c.reserved);
    let mut vm = Vm::new(c, mem).unwrap();
    vm.set_entropy_source(Box::new(fwcall::trng::DeterministicSource::new(9)));
    vm.set_features(FeatureRegister::Std, std_word).unwrap();
    vm.set_features(FeatureRegister::StdHyp, pv_word).unwrap();
    vm.start().unwrap();
    vm
}

fn interesting_fid() -> impl Strategy<Value = u32> {
    let table: Vec<u32> = budget::all()
        .flat_map(|(_, rows)| rows.iter().map(|b| b.fid.raw()))
        .collect();
    prop_oneof![
        proptest::sample::select(table.clone()),
        // The same with the SVE hint, or as SMC32 aliases.
        proptest::sample::select(table.clone()).prop_map(|f| f | 1 << 16),
        proptest::sample::select(table).prop_map(|f| f & !0x4000_0000),
        any::<u32>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Reading only the registers `argument_registers` names gives the
    /// outcome all of them give: the budget never drops an argument.
    #[test]
    fn reading_only_the_budgeted_arguments_changes_no_outcome(
        fid in interesting_fid(),
        x in proptest::array::uniform17(prop_oneof![
            any::<u64>(), Just(0u64), Just(EVENT), Just(0x8000_0000u64), 0u64..32,
            Just(0x4008_0000u64), Just(ids::PSCI_VERSION.raw() as u64),
        ]),
        std_word in 0u64..8, pv_word in 0u64..4, in_handler in any::<bool>(),
    ) {
        let sdei_on = std_word & 1 != 0;
        let set_up = || {
            let vm = full_vm(std_word, pv_word);
            if in_handler && sdei_on {
                let v = vm.vcpu(VcpuIndex(0)).unwrap();
                v.handle(&Call::new(ids::SDEI_EVENT_REGISTER, &[EVENT, 0x4000, 1, 0, 0]));
                v.handle(&Call::new(ids::SDEI_EVENT_ENABLE, &[EVENT]));
                v.handle(&Call::new(ids::SDEI_PE_UNMASK, &[]));
                vm.raise(EVENT as u32, None).unwrap();
                let now = fwcall::Interrupted { x: [3; 18], pc: 0x8000, pstate: 0x3c5, sctlr_el1: 0 };
                v.take_delivery(&now);
            }
            vm
        };
        let (a, b) = (set_up(), set_up());
        let n = a.argument_registers(FunctionId(fid));
        prop_assert!(n <= 17);
        let mut all = Call::new(FunctionId(fid), &[]);
        all.x[1..].copy_from_slice(&x);
        let mut only = all;
        for r in only.x.iter_mut().skip(1 + n) {
            *r = 0;
        }
        let va = a.vcpu(VcpuIndex(0)).unwrap();
        let vb = b.vcpu(VcpuIndex(0)).unwrap();
        prop_assert_eq!(va.handle(&all), vb.handle(&only), "{:#x} with {} arguments", fid, n);
        // And the VMs are left in the same state.
        prop_assert_eq!(a.snapshot().unwrap(), b.snapshot().unwrap());
    }
}

/// The KVM adapter moves exactly the registers of the PSCI and TRNG rows:
/// it reads `args` and writes what the reply defines (`X0` for PSCI,
/// `X0..X3` for a successful TRNG `GET_UUID`/`RND`, `X0` for an error,
/// nothing for a successful `CPU_OFF`).
#[cfg(feature = "kvm")]
#[test]
fn kvm_adapter_moves_exactly_the_psci_and_trng_budget() {
    use fwcall::kvm::{HypercallExit, KvmVcpu, RegisterFile};
    for (_, rows) in budget::OPT_IN_TABLES {
        for row in *rows {
            let cases: Vec<(Vec<u64>, bool)> = match row.fid {
                ids::PSCI_CPU_ON | ids::PSCI_CPU_ON_64 => vec![(vec![1, 0x4008_0000, 7], true)],
                ids::PSCI_AFFINITY_INFO | ids::PSCI_AFFINITY_INFO_64 => vec![(vec![0, 0], true)],
                ids::PSCI_FEATURES => vec![(vec![ids::PSCI_VERSION.raw() as u64], true)],
                // The system calls answer INTERNAL_FAILURE along with their
                // action (for a VMM that declines).
                ids::PSCI_SYSTEM_RESET2 | ids::PSCI_SYSTEM_RESET2_64 => vec![(vec![0, 0], false)],
                ids::PSCI_SYSTEM_OFF | ids::PSCI_SYSTEM_RESET => vec![(vec![], false)],
                ids::TRNG_FEATURES => vec![(vec![ids::TRNG_RND64.raw() as u64], true)],
                ids::TRNG_RND32 => vec![(vec![96], true), (vec![0], false), (vec![97], false)],
                ids::TRNG_RND64 => vec![(vec![192], true), (vec![1], true), (vec![0], false)],
                _ => vec![(vec![0], true)],
            };
            for (args, ok) in cases {
                let vm = full_vm(7, 3);
                let me = KvmVcpu::new(&vm, VcpuIndex(0)).unwrap();
                let mut regs = RegisterFile {
                    pc: 0xffff_8000_0800_0000,
                    pstate: 0x3c5,
                    ..Default::default()
                };
                for (i, x) in regs.x.iter_mut().enumerate().skip(1) {
                    *x = 0x5a00 + i as u64;
                }
                regs.x[1..=args.len()].copy_from_slice(&args);
                let exit = HypercallExit {
                    nr: u64::from(row.fid.raw()),
                    flags: 0,
                };
                let out = me.serve(exit, &mut regs).unwrap();
                let name = ids::name(row.fid).unwrap_or("?");
                assert_eq!(regs.reads, u32::from(row.args), "{name}{args:x?}: reads");
                let writes = match out.reply {
                    Reply::Nothing => 0,
                    Reply::Return { regs: r, .. } => {
                        assert_eq!((r[0] as i64) >= 0, ok, "{name}{args:x?}: {}", r[0] as i64);
                        if ok { row.writes } else { 1 }
                    }
                    Reply::Restore(_) => panic!("{name}"),
                };
                assert_eq!(regs.writes, u32::from(writes), "{name}{args:x?}: writes");
                if row.fid == ids::PSCI_CPU_OFF {
                    assert_eq!(regs.writes, 0, "a successful CPU_OFF writes nothing");
                }
            }
        }
    }
}

#[test]
fn psci_and_trng_read_no_arguments_when_switched_off_or_not_configured() {
    let fids = [
        ids::PSCI_CPU_ON_64,
        ids::PSCI_AFFINITY_INFO,
        ids::TRNG_RND64,
    ];
    let vm = full_vm(1, 3); // SDEI only
    for f in fids {
        assert_eq!(vm.argument_registers(f), 0, "{f:?} switched off");
    }
    let vm = Vm::new(config(false, false), fwcall::NoMemory).unwrap();
    for f in fids {
        assert_eq!(vm.argument_registers(f), 0, "{f:?} not configured");
    }
    let vm = full_vm(7, 3);
    for (f, n) in [
        (ids::PSCI_CPU_ON_64, 3),
        (ids::PSCI_AFFINITY_INFO, 2),
        (ids::TRNG_RND64, 1),
    ] {
        assert_eq!(vm.argument_registers(f), n, "{f:?}");
    }
    // Unimplemented PSCI functions answer NOT_SUPPORTED: nothing to read.
    assert_eq!(vm.argument_registers(ids::PSCI_MIGRATE), 0);
    assert_eq!(vm.argument_registers(FunctionId(0xC400_0000)), 0);
}
