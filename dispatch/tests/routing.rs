//! The dispatcher's rules: routing, feature words, conventions, services.

use std::collections::BTreeMap;
use std::sync::Mutex;

use fwcall::smccc::{Owner, ReturnCode, Workaround2Level, WorkaroundLevel};
use fwcall::{
    Call, Conduit, ConfigError, FeatureError, FeatureRegister, FunctionId, Gpa, GuestMemoryAccess,
    MemoryError, MemoryRegion, Mpidr, NoMemory, Outcome, Reply, Service, ServiceError,
    SmcccVersion, VcpuIndex, Vm, VmConfig, ids,
};
use proptest::prelude::*;

/// A byte-addressed guest memory limited to its regions.
#[derive(Debug, Default)]
struct Mem {
    regions: Vec<MemoryRegion>,
    bytes: Mutex<BTreeMap<u64, u8>>,
}

impl Mem {
    fn new(regions: &[MemoryRegion]) -> Self {
        Mem {
            regions: regions.to_vec(),
            bytes: Mutex::default(),
        }
    }
    fn inside(&self, addr: Gpa, len: u64) -> Result<(), MemoryError> {
        let end = addr
            .0
            .checked_add(len)
            .ok_or(MemoryError::OutOfRange { addr, len })?;
        if self
            .regions
            .iter()
            .any(|r| addr.0 >= r.base.0 && end <= r.base.0 + r.size)
        {
            Ok(())
        } else {
            Err(MemoryError::OutOfRange { addr, len })
        }
    }
    fn u64_at(&self, addr: u64) -> u64 {
        let b = self.bytes.lock().unwrap();
        let mut v = [0u8; 8];
        for (i, x) in v.iter_mut().enumerate() {
            *x = *b.get(&(addr + i as u64)).unwrap_or(&0);
        }
        u64::from_le_bytes(v)
    }
}

impl GuestMemoryAccess for Mem {
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
        self.write_bytes(addr, &value.to_le_bytes())
    }
    fn write_bytes(&self, addr: Gpa, data: &[u8]) -> Result<(), MemoryError> {
        self.inside(addr, data.len() as u64)?;
        let mut b = self.bytes.lock().unwrap();
        for (i, v) in data.iter().enumerate() {
            b.insert(addr.0 + i as u64, *v);
        }
        Ok(())
    }
    fn read_bytes(&self, addr: Gpa, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.inside(addr, buf.len() as u64)?;
        let b = self.bytes.lock().unwrap();
        for (i, v) in buf.iter_mut().enumerate() {
            *v = *b.get(&(addr.0 + i as u64)).unwrap_or(&0);
        }
        Ok(())
    }
}

const RAM: MemoryRegion = MemoryRegion {
    base: Gpa(0x4000_0000),
    size: 0x1000_0000,
};
const PVT: MemoryRegion = MemoryRegion {
    base: Gpa(0x0a10_0000),
    size: 0x1_0000,
};

fn placed_config(vcpus: u32) -> VmConfig {
    let mut c = VmConfig::new(vcpus);
    c.ram = vec![RAM];
    c.reserved = vec![PVT];
    c.pvtime.stolen_time_base = Some(PVT.base);
    c
}

fn placed_vm(vcpus: u32) -> Vm<Mem> {
    Vm::new(placed_config(vcpus), Mem::new(&[RAM, PVT])).unwrap()
}

fn call(vm: &Vm<impl GuestMemoryAccess>, vcpu: u32, fid: FunctionId, args: &[u64]) -> Outcome {
    vm.vcpu(VcpuIndex(vcpu))
        .unwrap()
        .handle(&Call::new(fid, args))
}

fn x0(o: &Outcome) -> u64 {
    match o.reply {
        Reply::Return { regs, .. } => regs[0],
        ref other => panic!("expected a plain return, got {other:?}"),
    }
}

const NS: u64 = ReturnCode::NotSupported.to_x0();

#[test]
fn unknown_id_in_every_owner_answers_not_supported_in_x0_only() {
    let vm = placed_vm(1);
    for oen in 0u8..64 {
        for conv in [0u32, 1 << 30] {
            // Function number 0x1234 is unassigned in every owner fwcall serves.
            let fid = FunctionId(0x8000_0000 | conv | (oen as u32) << 24 | 0x1234);
            let o = call(&vm, 0, fid, &[11, 22, 33]);
            let written: Vec<_> = o.reply.written_x().collect();
            assert_eq!(written, vec![(0, NS)], "{fid:?}");
            assert!(o.kicks.is_empty());
        }
    }
}

#[test]
fn yielding_calls_answer_not_supported() {
    let vm = placed_vm(1);
    for fid in [0x0000_0000u32, 0x0400_0020, 0x4400_0020, 0x0500_0021] {
        assert_eq!(x0(&call(&vm, 0, FunctionId(fid), &[])), NS, "{fid:#x}");
    }
}

#[test]
fn reserved_fid_bits_make_a_call_malformed() {
    let vm = placed_vm(1);
    for bit in 17..24 {
        let fid = FunctionId(ids::SMCCC_VERSION.raw() | 1 << bit);
        assert_eq!(x0(&call(&vm, 0, fid, &[])), NS, "bit {bit}");
    }
}

#[test]
fn sve_hint_is_stripped_from_smccc_1_3() {
    let hinted = FunctionId(ids::SMCCC_VERSION.raw() | FunctionId::SVE_HINT_BIT);
    for (v, want) in [
        (SmcccVersion::V1_3, 0x10003),
        (SmcccVersion::V1_4, 0x10004),
        (SmcccVersion::V1_2, NS),
    ] {
        let mut c = VmConfig::new(1);
        c.smccc_version = v;
        let vm = Vm::new(c, NoMemory).unwrap();
        assert_eq!(x0(&call(&vm, 0, hinted, &[])), want, "SMCCC {v}");
    }
}

#[test]
fn smccc_1_0_serves_no_arch_calls() {
    let mut c = VmConfig::new(1);
    c.smccc_version = SmcccVersion::V1_0;
    let vm = Vm::new(c, NoMemory).unwrap();
    assert_eq!(x0(&call(&vm, 0, ids::SMCCC_VERSION, &[])), NS);
    assert_eq!(
        x0(&call(
            &vm,
            0,
            ids::SMCCC_ARCH_FEATURES,
            &[ids::SMCCC_VERSION.raw() as u64]
        )),
        NS
    );
}

#[test]
fn smc32_arguments_ignore_the_upper_half() {
    let vm = placed_vm(1);
    let q = ids::PV_TIME_FEATURES.raw() as u64 | 0xdead_beef_0000_0000;
    assert_eq!(x0(&call(&vm, 0, ids::SMCCC_ARCH_FEATURES, &[q])), 0);
}

#[test]
fn smc32_results_are_32_bit_and_errors_stay_sign_extended() {
    let vm = placed_vm(1);
    let o = call(&vm, 0, ids::call_uid(5), &[]);
    for (_, v) in o.reply.written_x() {
        assert_eq!(v >> 32, 0, "UID words are zero-extended: {v:#x}");
    }
    let o = call(&vm, 0, FunctionId(0x8100_0000), &[]);
    assert_eq!(x0(&o), u64::MAX);
}

#[test]
fn both_conduits_are_served_alike() {
    let vm = placed_vm(1);
    let v = vm.vcpu(VcpuIndex(0)).unwrap();
    let mut c = Call::new(ids::SMCCC_VERSION, &[]);
    let hvc = v.handle(&c);
    c.conduit = Conduit::Smc;
    assert_eq!(v.handle(&c), hvc);
}

#[test]
fn arch_features_reports_pv_time_only_when_on_and_placed() {
    let q = [ids::PV_TIME_FEATURES.raw() as u64];
    assert_eq!(x0(&call(&placed_vm(1), 0, ids::SMCCC_ARCH_FEATURES, &q)), 0);

    let unplaced = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    assert_eq!(x0(&call(&unplaced, 0, ids::SMCCC_ARCH_FEATURES, &q)), NS);

    let mut off = placed_config(1);
    off.pvtime.enabled = false;
    let off = Vm::new(off, Mem::new(&[RAM, PVT])).unwrap();
    assert_eq!(x0(&call(&off, 0, ids::SMCCC_ARCH_FEATURES, &q)), NS);
}

#[test]
fn feature_bit_off_answers_not_supported_to_calls_and_arch_features() {
    let vm = placed_vm(1);
    vm.set_features(FeatureRegister::StdHyp, 0).unwrap();
    vm.set_features(FeatureRegister::Std, 0).unwrap();
    let q = [ids::PV_TIME_FEATURES.raw() as u64];
    assert_eq!(x0(&call(&vm, 0, ids::SMCCC_ARCH_FEATURES, &q)), NS);
    assert_eq!(x0(&call(&vm, 0, ids::PV_TIME_ST, &[])), NS);
    assert_eq!(
        x0(&call(
            &vm,
            0,
            ids::PV_TIME_FEATURES,
            &[ids::PV_TIME_ST.raw() as u64]
        )),
        NS
    );
    assert_eq!(x0(&call(&vm, 0, ids::SDEI_VERSION, &[])), NS);
    assert_eq!(x0(&call(&vm, 0, ids::call_count(5), &[])), NS);
}

#[test]
fn feature_change_after_first_call_is_busy() {
    let vm = placed_vm(2);
    call(&vm, 1, ids::SMCCC_VERSION, &[]);
    let e = vm.set_features(FeatureRegister::Std, 0).unwrap_err();
    assert!(
        matches!(
            e,
            FeatureError::Busy {
                register: FeatureRegister::Std,
                ..
            }
        ),
        "{e}"
    );
    vm.set_features(FeatureRegister::Std, vm.features().std.bits())
        .unwrap();
    assert_ne!(x0(&call(&vm, 0, ids::SDEI_VERSION, &[])), NS);
}

#[test]
fn feature_bits_the_config_cannot_serve_are_refused() {
    let mut c = VmConfig::new(1);
    c.sdei = None;
    let vm = Vm::new(c, NoMemory).unwrap();
    assert_eq!(vm.features().std.bits(), 0);
    assert!(matches!(
        vm.set_features(FeatureRegister::Std, 1),
        Err(FeatureError::Unsupported { .. })
    ));
    assert!(
        vm.set_features(FeatureRegister::StdHyp, 0b10).is_err(),
        "LPT is not configured"
    );
    assert!(
        vm.set_features(FeatureRegister::VendorHyp, 1).is_err(),
        "no vendor service added"
    );
}

#[test]
fn arch_features_reports_each_sdei_function_only_while_sdei_is_served() {
    let vm = placed_vm(1);
    let f = |vm: &Vm<Mem>, fid: u32| x0(&call(vm, 0, ids::SMCCC_ARCH_FEATURES, &[fid as u64]));
    for fid in 0xC400_0020..=0xC400_0032u32 {
        assert_eq!(f(&vm, fid), 0, "{fid:#x}");
    }
    // Unassigned SDEI numbers and the SMC32 aliases are not functions.
    for fid in [0xC400_0033u32, 0xC400_003F, 0x8400_0020, 0x8400_0032] {
        assert_eq!(f(&vm, fid) as u32, u32::MAX, "{fid:#x}");
    }
    let off = placed_vm(1);
    off.set_features(FeatureRegister::Std, 0).unwrap();
    assert_eq!(f(&off, 0xC400_0020) as u32, u32::MAX);
}

#[test]
fn sdei_off_leaves_its_range_unserved() {
    let mut c = VmConfig::new(1);
    c.sdei = None;
    let vm = Vm::new(c, NoMemory).unwrap();
    for n in 0x20..=0x3f {
        assert_eq!(x0(&call(&vm, 0, FunctionId(0xC400_0000 | n), &[])), NS);
    }
    assert!(vm.raise(0, Some(VcpuIndex(0))).is_err());
}

#[test]
fn general_queries_of_oen5_describe_fwcalls_pv_time() {
    let vm = placed_vm(1);
    assert_eq!(
        x0(&call(&vm, 0, ids::call_count(5), &[])),
        2,
        "PV_TIME_FEATURES and PV_TIME_ST"
    );
    let o = call(&vm, 0, ids::revision(5), &[]);
    assert_eq!(
        o.reply.written_x().take(2).collect::<Vec<_>>(),
        vec![(0, 1), (1, 0)]
    );
    let o = call(&vm, 0, ids::call_uid(5), &[]);
    assert_ne!(x0(&o) as u32, u32::MAX);
    assert_eq!(o.reply.written_x().count(), 4);
}

#[test]
fn pv_time_st_gives_each_vcpu_its_64_byte_record() {
    let vm = placed_vm(3);
    for i in 0..3 {
        let o = call(&vm, i, ids::PV_TIME_ST, &[]);
        assert_eq!(x0(&o), PVT.base.0 + 64 * i as u64);
    }
    let v = vm.vcpu(VcpuIndex(2)).unwrap();
    v.account_steal(1_000).unwrap();
    v.account_steal(234).unwrap();
    assert_eq!(vm.memory().u64_at(PVT.base.0 + 128 + 8), 1_234);
}

#[derive(Debug)]
struct Fixed(&'static str, u64);

impl Service for Fixed {
    fn name(&self) -> &str {
        self.0
    }
    fn call(&self, _vcpu: VcpuIndex, _call: &Call) -> Outcome {
        Outcome::reply(Reply::x0(self.1))
    }
}

#[test]
fn vmm_services_are_routed_by_range_and_gated_by_their_bit() {
    let mut vm = placed_vm(1);
    vm.add_service(0xC600_0010..=0xC600_001F, 3, Box::new(Fixed("dice", 4)))
        .unwrap();
    vm.add_service(0x8400_0050..=0x8400_0053, 4, Box::new(Fixed("trng", 7)))
        .unwrap();
    assert_eq!(x0(&call(&vm, 0, FunctionId(0xC600_0012), &[])), 4);
    assert_eq!(x0(&call(&vm, 0, FunctionId(0x8400_0050), &[])), 7);
    assert_eq!(x0(&call(&vm, 0, FunctionId(0xC600_0020), &[])), NS);
    let q = [0xC600_0012u64];
    assert_eq!(x0(&call(&vm, 0, ids::SMCCC_ARCH_FEATURES, &q)), 0);

    let mut vm = placed_vm(1);
    vm.add_service(0xC600_0010..=0xC600_001F, 3, Box::new(Fixed("dice", 4)))
        .unwrap();
    vm.set_features(FeatureRegister::VendorHyp, 0).unwrap();
    assert_eq!(x0(&call(&vm, 0, FunctionId(0xC600_0012), &[])), NS);
    assert_eq!(x0(&call(&vm, 0, ids::SMCCC_ARCH_FEATURES, &q)), NS);
}

#[test]
fn vmm_services_may_not_claim_fwcalls_ranges_or_overlap() {
    let mut vm = placed_vm(1);
    let e = vm
        .add_service(0xC400_0030..=0xC400_0040, 0, Box::new(Fixed("x", 0)))
        .unwrap_err();
    assert!(
        matches!(e, ServiceError::Reserved { owner: "SDEI", .. }),
        "{e}"
    );
    let e = vm
        .add_service(0x8000_0000..=0x8000_0001, 0, Box::new(Fixed("x", 0)))
        .unwrap_err();
    assert!(matches!(e, ServiceError::Reserved { .. }));
    vm.add_service(0xC600_0000..=0xC600_00FF, 0, Box::new(Fixed("a", 0)))
        .unwrap();
    let e = vm
        .add_service(0xC600_00F0..=0xC600_0100, 1, Box::new(Fixed("b", 0)))
        .unwrap_err();
    assert!(matches!(e, ServiceError::Overlap { .. }));
    assert!(matches!(
        vm.add_service(
            std::ops::RangeInclusive::new(0xC600_0200, 0xC600_0100),
            1,
            Box::new(Fixed("c", 0))
        ),
        Err(ServiceError::EmptyRange { .. })
    ));
    assert!(matches!(
        vm.add_service(0xC600_0300..=0xC600_0300, 64, Box::new(Fixed("d", 0))),
        Err(ServiceError::BadBit { .. })
    ));
    call(&vm, 0, ids::SMCCC_VERSION, &[]);
    assert!(matches!(
        vm.add_service(0xC600_0400..=0xC600_0400, 2, Box::new(Fixed("late", 0))),
        Err(ServiceError::Started { .. })
    ));
}

#[test]
fn arch_calls_follow_the_config() {
    let mut c = VmConfig::new(1);
    c.smccc_version = SmcccVersion::V1_2;
    c.soc_id = Some(fwcall::smccc::SocId::new(4, 0x3b, 0x42, 9).unwrap());
    c.workarounds.wa1 = WorkaroundLevel::Avail;
    c.workarounds.wa2 = Workaround2Level::NotRequired;
    let vm = Vm::new(c, NoMemory).unwrap();
    assert_eq!(x0(&call(&vm, 0, ids::SMCCC_VERSION, &[])), 0x10002);
    assert_eq!(x0(&call(&vm, 0, ids::SMCCC_ARCH_SOC_ID, &[1])), 9);
    let f = |fid: FunctionId| x0(&call(&vm, 0, ids::SMCCC_ARCH_FEATURES, &[fid.raw() as u64]));
    assert_eq!(f(ids::SMCCC_ARCH_SOC_ID), 0);
    assert_eq!(f(ids::SMCCC_ARCH_WORKAROUND_1), 0);
    assert_eq!(f(ids::SMCCC_ARCH_WORKAROUND_2) as u32 as i32, -2);
    assert_eq!(f(ids::SMCCC_ARCH_WORKAROUND_3) as u32 as i32, -1);
}

#[test]
fn config_errors_name_the_problem() {
    let mut c = VmConfig::new(0);
    assert_eq!(
        Vm::new(c.clone(), NoMemory).unwrap_err(),
        ConfigError::NoVcpus
    );
    c = VmConfig::new(2);
    c.mpidrs[1] = c.mpidrs[0];
    assert!(matches!(
        Vm::new(c, NoMemory).unwrap_err(),
        ConfigError::DuplicateMpidr {
            first: 0,
            second: 1,
            ..
        }
    ));
    let mut c = VmConfig::new(1);
    c.mpidrs[0] = Mpidr(1 << 50);
    assert!(matches!(
        Vm::new(c, NoMemory).unwrap_err(),
        ConfigError::MalformedMpidr { .. }
    ));
    let mut c = VmConfig::new(1);
    c.smccc_version = SmcccVersion::new(1, 9);
    let e = Vm::new(c, NoMemory).unwrap_err();
    assert!(e.to_string().contains("1.9"), "{e}");
    let mut c = VmConfig::new(1);
    c.ram = vec![RAM];
    c.reserved = vec![MemoryRegion {
        base: Gpa(RAM.base.0 + 0x1000),
        size: 0x1000,
    }];
    assert!(matches!(
        Vm::new(c, NoMemory).unwrap_err(),
        ConfigError::OverlappingRegions { .. }
    ));
}

#[test]
fn pv_time_table_inside_ram_is_refused() {
    let mut c = VmConfig::new(2);
    c.ram = vec![RAM];
    c.pvtime.stolen_time_base = Some(Gpa(RAM.base.0 + 0x10_0000));
    let e = Vm::new(c, NoMemory).unwrap_err();
    assert!(matches!(e, ConfigError::PvTime(_)), "{e}");
}

#[test]
fn vcpu_out_of_range_is_an_error() {
    let vm = placed_vm(2);
    let e = vm.vcpu(VcpuIndex(2)).unwrap_err();
    assert_eq!(e.count, 2);
}

fn served(fid: FunctionId) -> bool {
    let n = fid.without_sve_hint();
    match n.owner() {
        Owner::Arch | Owner::StandardHypervisor => true,
        Owner::StandardSecure => (0x20..=0x3f).contains(&n.number()),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_registers_on_any_vcpu_never_panic(x in proptest::array::uniform18(any::<u64>()), vcpu in 0u32..3, smc in any::<bool>()) {
        let vm = placed_vm(3);
        let v = vm.vcpu(VcpuIndex(vcpu)).unwrap();
        let c = Call { x, conduit: if smc { Conduit::Smc } else { Conduit::Hvc } };
        let o = v.handle(&c);
        let fid = c.fid();
        if !served(fid) {
            let written: Vec<_> = o.reply.written_x().collect();
            prop_assert_eq!(written, vec![(0usize, NS)]);
        }
        let _ = v.take_delivery(&fwcall::Interrupted { x, pc: 0, pstate: 0x3c5, sctlr_el1: 0 });
    }

    #[test]
    fn sdei_range_never_panics_with_hostile_arguments(n in 0x20u32..0x40, args in proptest::array::uniform17(any::<u64>()), vcpu in 0u32..3) {
        let vm = placed_vm(3);
        let v = vm.vcpu(VcpuIndex(vcpu)).unwrap();
        let _ = v.handle(&Call::new(FunctionId(0xC400_0000 | n), &args));
        let _ = v.handle(&Call::new(FunctionId(0x8400_0000 | n), &args));
    }
}
