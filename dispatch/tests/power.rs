//! PSCI and TRNG through the VM: routing, feature words, the SDEI coupling,
//! `Vm::reset`, and snapshots of power state and of the PSCI/TRNG ABI.

use std::sync::{Arc, Mutex};

use fwcall::sdei::SdeiStateError;
use fwcall::snapshot::{FormatError, RestoreError, format, inspect};
use fwcall::trng::DeterministicSource;
use fwcall::{
    Call, FeatureRegister, FunctionId, Gpa, InterruptHook, MemoryRegion, NoMemory, Outcome,
    PowerAction, PowerState, PsciConfig, PsciVersion, Reply, ResetKind, Service, ServiceError,
    SmcccVersion, StdFeatures, TrngConfig, VcpuIndex, Vm, VmConfig, ids,
};

const RAM: MemoryRegion = MemoryRegion {
    base: Gpa(0x4000_0000),
    size: 0x1000_0000,
};
const ENTRY: u64 = 0x4008_0000;
const HANDLER: u64 = 0xffff_8000_1000_0000;

fn config(vcpus: u32, psci: Option<PsciVersion>, trng: bool) -> VmConfig {
    let mut c = VmConfig::new(vcpus);
    c.ram = vec![RAM];
    c.psci = psci.map(PsciConfig::new);
    c.trng = trng.then(TrngConfig::default);
    c
}

fn vm(vcpus: u32) -> Vm<NoMemory> {
    let mut vm = Vm::new(config(vcpus, Some(PsciVersion::V1_1), true), NoMemory).unwrap();
    vm.set_entropy_source(Box::new(DeterministicSource::new(5)));
    vm
}

fn call(vm: &Vm<NoMemory>, v: u32, fid: FunctionId, args: &[u64]) -> Outcome {
    vm.vcpu(VcpuIndex(v)).unwrap().handle(&Call::new(fid, args))
}

fn x0(vm: &Vm<NoMemory>, v: u32, fid: FunctionId, args: &[u64]) -> i64 {
    match call(vm, v, fid, args).reply {
        Reply::Return { regs, .. } => regs[0] as i64,
        other => panic!("{other:?}"),
    }
}

fn on(vm: &Vm<NoMemory>, target: u64) {
    assert_eq!(x0(vm, 0, ids::PSCI_CPU_ON_64, &[target, ENTRY, 0]), 0);
}

#[test]
fn psci_and_trng_are_off_by_default() {
    let vm = Vm::new(VmConfig::new(2), NoMemory).unwrap();
    for f in [
        ids::PSCI_VERSION,
        ids::PSCI_CPU_ON_64,
        ids::TRNG_VERSION,
        ids::TRNG_RND64,
    ] {
        assert_eq!(call(&vm, 0, f, &[1, ENTRY, 0]).reply, Reply::NOT_SUPPORTED);
    }
    assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::On);
    assert_eq!(vm.features().std, StdFeatures::SDEI);
}

#[test]
fn psci_and_trng_route_and_set_their_feature_bits() {
    let vm = vm(2);
    assert_eq!(
        vm.features().std,
        StdFeatures::SDEI | StdFeatures::PSCI | StdFeatures::TRNG
    );
    assert_eq!(x0(&vm, 0, ids::PSCI_VERSION, &[]), 0x1_0001);
    assert_eq!(x0(&vm, 0, ids::TRNG_VERSION, &[]), 0x1_0000);
    assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::Off);
    let out = call(&vm, 0, ids::PSCI_CPU_ON_64, &[1, ENTRY, 9]);
    assert!(matches!(out.power, Some(PowerAction::CpuOn(s)) if s.context_id == 9));
    assert_eq!(vm.vcpu(VcpuIndex(1)).unwrap().power_state(), PowerState::On);
}

#[test]
fn sve_hint_is_stripped_before_psci() {
    let vm = vm(1);
    let hinted = FunctionId(ids::PSCI_VERSION.raw() | FunctionId::SVE_HINT_BIT);
    assert_eq!(x0(&vm, 0, hinted, &[]), 0x1_0001);
}

#[test]
fn cleared_feature_bits_hide_the_services_and_hand_power_back() {
    let vm = vm(2);
    vm.set_features(FeatureRegister::Std, StdFeatures::SDEI.bits())
        .unwrap();
    assert_eq!(
        call(&vm, 0, ids::PSCI_VERSION, &[]).reply,
        Reply::NOT_SUPPORTED
    );
    assert_eq!(
        call(&vm, 0, ids::TRNG_VERSION, &[]).reply,
        Reply::NOT_SUPPORTED
    );
    assert_eq!(
        x0(
            &vm,
            0,
            ids::SMCCC_ARCH_FEATURES,
            &[ids::PSCI_CPU_ON_64.raw() as u64]
        ),
        -1
    );
    assert_eq!(
        x0(
            &vm,
            0,
            ids::SMCCC_ARCH_FEATURES,
            &[ids::TRNG_RND64.raw() as u64]
        ),
        -1
    );
    // The hypervisor owns power now: every vCPU counts as on, for SDEI too.
    assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::On);
    assert_eq!(vm.sdei().unwrap().is_powered_off(VcpuIndex(1)), Some(false));
    sdei_setup(&vm, 1);
    assert_eq!(x0(&vm, 0, ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0001]), 0);
    let v1 = vm.vcpu(VcpuIndex(1)).unwrap();
    assert!(v1.take_delivery(&Default::default()).is_some());
}

#[test]
fn arch_features_is_truthful_for_psci_and_trng() {
    let vm = vm(1);
    let af = |f: u32| x0(&vm, 0, ids::SMCCC_ARCH_FEATURES, &[f as u64]);
    for f in [
        ids::PSCI_VERSION,
        ids::PSCI_CPU_ON_64,
        ids::PSCI_FEATURES,
        ids::PSCI_SYSTEM_RESET2,
    ] {
        assert_eq!(af(f.raw()), 0, "{f:?}");
    }
    for f in [
        ids::TRNG_VERSION,
        ids::TRNG_FEATURES,
        ids::TRNG_GET_UUID,
        ids::TRNG_RND32,
        ids::TRNG_RND64,
    ] {
        assert_eq!(af(f.raw()), 0, "{f:?}");
    }
    for f in [
        0xC400_0000u32,
        0x8400_0005,
        0x8400_000E,
        0x8400_001F,
        0xC400_0050,
        0x8400_0054,
    ] {
        assert_eq!(af(f), -1, "{f:#x}");
    }
    let old = Vm::new(config(1, Some(PsciVersion::V0_2), false), NoMemory).unwrap();
    assert_eq!(
        x0(
            &old,
            0,
            ids::SMCCC_ARCH_FEATURES,
            &[ids::PSCI_FEATURES.raw() as u64]
        ),
        -1
    );
}

#[test]
fn psci_features_reports_the_vm_smccc_version() {
    let mut c = config(1, Some(PsciVersion::V1_0), false);
    c.smccc_version = SmcccVersion::V1_0;
    let vm = Vm::new(c, NoMemory).unwrap();
    assert_eq!(
        x0(
            &vm,
            0,
            ids::PSCI_FEATURES,
            &[ids::SMCCC_VERSION.raw() as u64]
        ),
        -1
    );
}

#[derive(Debug)]
struct Own;
impl Service for Own {
    fn name(&self) -> &str {
        "own-psci"
    }
    fn call(&self, _: VcpuIndex, _: &Call) -> Outcome {
        Outcome::reply(Reply::x0(0x2))
    }
}

#[test]
fn a_vmm_may_serve_psci_itself_only_while_fwcalls_is_off() {
    let mut off = Vm::new(VmConfig::new(1), NoMemory).unwrap();
    off.add_service(0x8400_0000..=0x8400_001F, 3, Box::new(Own))
        .unwrap();
    assert_eq!(x0(&off, 0, ids::PSCI_VERSION, &[]), 2);
    let mut on = vm(1);
    let e = on
        .add_service(0x8400_0000..=0x8400_0000, 3, Box::new(Own))
        .unwrap_err();
    assert!(
        matches!(e, ServiceError::Reserved { owner: "PSCI", .. }),
        "{e}"
    );
    let e = on
        .add_service(0xC400_0053..=0xC400_0053, 3, Box::new(Own))
        .unwrap_err();
    assert!(
        matches!(e, ServiceError::Reserved { owner: "TRNG", .. }),
        "{e}"
    );
}

#[test]
fn config_refuses_bad_boot_sets_and_uuids() {
    let mut c = config(2, Some(PsciVersion::V1_0), false);
    c.psci.as_mut().unwrap().boot = vec![VcpuIndex(2)];
    let e = Vm::new(c, NoMemory).unwrap_err();
    assert_eq!(
        e.to_string(),
        "PSCI: PSCI boot vcpu2 does not exist: the VM has 2 vCPUs"
    );
    let mut c = config(1, None, true);
    c.trng = Some(TrngConfig {
        uuid: fwcall::smccc::Uid([0xff; 16]),
    });
    assert!(Vm::new(c, NoMemory).is_err());
}

fn sdei_setup(vm: &Vm<NoMemory>, v: u32) {
    assert_eq!(
        x0(vm, v, ids::SDEI_EVENT_REGISTER, &[0, HANDLER, 0, 0, 0]),
        0
    );
    assert_eq!(x0(vm, v, ids::SDEI_EVENT_ENABLE, &[0]), 0);
    assert_eq!(x0(vm, v, ids::SDEI_PE_UNMASK, &[]), 0);
}

#[test]
fn cpu_off_gates_the_caller_and_cpu_on_resets_its_sdei_state() {
    let vm = vm(2);
    on(&vm, 1);
    sdei_setup(&vm, 1);
    let out = call(&vm, 1, ids::PSCI_CPU_OFF, &[0x1_0000]);
    assert_eq!(
        (out.reply, out.power),
        (Reply::Nothing, Some(PowerAction::CpuOff))
    );
    let sdei = vm.sdei().unwrap();
    assert_eq!(sdei.is_powered_off(VcpuIndex(1)), Some(true));
    assert_eq!(sdei.is_masked(VcpuIndex(1)), Some(false), "mask untouched");
    // An off vCPU cannot be signalled, and takes no delivery.
    assert_eq!(x0(&vm, 0, ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0001]), -2);
    let v1 = vm.vcpu(VcpuIndex(1)).unwrap();
    assert!(v1.take_delivery(&Default::default()).is_none());
    // CPU_ON resets it as at boot: unregistered and masked.
    on(&vm, 1);
    assert_eq!(sdei.is_powered_off(VcpuIndex(1)), Some(false));
    assert_eq!(x0(&vm, 1, ids::SDEI_EVENT_STATUS, &[0]), 0);
    assert_eq!(x0(&vm, 1, ids::SDEI_PE_MASK, &[]), 0);
}

#[test]
fn vcpus_off_at_boot_are_off_for_sdei_until_cpu_on() {
    let vm = vm(3);
    let sdei = vm.sdei().unwrap();
    let off = |v| sdei.is_powered_off(VcpuIndex(v));
    assert_eq!(
        (off(0), off(1), off(2)),
        (Some(false), Some(true), Some(true))
    );
    on(&vm, 2);
    assert_eq!(off(2), Some(false));
}

#[test]
fn cpu_off_in_a_handler_discards_the_dispatch() {
    let vm = vm(2);
    on(&vm, 1);
    sdei_setup(&vm, 1);
    assert_eq!(x0(&vm, 0, ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0001]), 0);
    let v1 = vm.vcpu(VcpuIndex(1)).unwrap();
    assert!(v1.take_delivery(&Default::default()).is_some());
    call(&vm, 1, ids::PSCI_CPU_OFF, &[]);
    on(&vm, 1);
    assert_eq!(
        call(&vm, 1, ids::SDEI_EVENT_COMPLETE, &[0]).reply,
        Reply::signed(-3)
    );
}

#[test]
fn rm_any_never_goes_to_an_off_vcpu() {
    let mut c = config(3, Some(PsciVersion::V1_1), false);
    c.psci.as_mut().unwrap().boot = vec![VcpuIndex(0), VcpuIndex(1), VcpuIndex(2)];
    c.sdei.as_mut().unwrap().events = vec![fwcall::EventDecl {
        number: 0x40,
        kind: fwcall::EventKind::Shared,
        priority: fwcall::Priority::Normal,
    }];
    let vm = Vm::new(c, NoMemory).unwrap();
    assert_eq!(
        x0(&vm, 0, ids::SDEI_EVENT_REGISTER, &[0x40, HANDLER, 0, 0, 0]),
        0
    );
    assert_eq!(x0(&vm, 0, ids::SDEI_EVENT_ENABLE, &[0x40]), 0);
    for v in [0, 1] {
        assert_eq!(x0(&vm, v, ids::SDEI_PE_UNMASK, &[]), 0);
    }
    // vCPU 0 (the lowest, first choice) powers off; the event goes to 1.
    call(&vm, 0, ids::PSCI_CPU_OFF, &[]);
    let k = vm.raise(0x40, None).unwrap();
    assert!(k.contains(VcpuIndex(1)) && !k.contains(VcpuIndex(0)));
    assert!(
        vm.vcpu(VcpuIndex(0))
            .unwrap()
            .take_delivery(&Default::default())
            .is_none()
    );
    assert_eq!(
        vm.vcpu(VcpuIndex(1))
            .unwrap()
            .take_delivery(&Default::default())
            .unwrap()
            .event,
        0x40
    );
}

#[derive(Debug, Default, Clone)]
struct Hook(Arc<Mutex<Vec<String>>>);
impl InterruptHook for Hook {
    fn divert(&self, intid: u32, _: Option<VcpuIndex>) {
        self.0.lock().unwrap().push(format!("divert {intid}"));
    }
    fn give_back(&self, intid: u32) {
        self.0.lock().unwrap().push(format!("give back {intid}"));
    }
}

#[test]
fn vm_reset_puts_every_service_back_to_boot() {
    let mut c = config(2, Some(PsciVersion::V1_1), true);
    c.reserved = vec![MemoryRegion {
        base: Gpa(0x0a10_0000),
        size: 0x1000,
    }];
    c.pvtime.stolen_time_base = Some(Gpa(0x0a10_0000));
    let mut vm = Vm::new(
        c,
        fwcall::pvtime::AtomicMemory::new(&[MemoryRegion {
            base: Gpa(0x0a10_0000),
            size: 0x1000,
        }]),
    )
    .unwrap();
    let hook = Hook::default();
    vm.set_interrupt_hook(Box::new(hook.clone()));
    let v0 = vm.vcpu(VcpuIndex(0)).unwrap();
    let h = |f, a: &[u64]| match v0.handle(&Call::new(f, a)).reply {
        Reply::Return { regs, .. } => regs[0] as i64,
        _ => 0,
    };
    assert_eq!(h(ids::PSCI_CPU_ON_64, &[1, ENTRY, 0]), 0);
    let slot = h(ids::SDEI_INTERRUPT_BIND, &[40]);
    assert_eq!(
        h(ids::SDEI_EVENT_REGISTER, &[slot as u64, HANDLER, 0, 0, 0]),
        0
    );
    assert_eq!(h(ids::SDEI_PE_UNMASK, &[]), 0);
    assert_eq!(h(ids::PV_TIME_ST, &[]), 0x0a10_0000);
    v0.account_steal(500).unwrap();
    let out = v0.handle(&Call::new(ids::PSCI_SYSTEM_RESET2_64, &[0, 0]));
    assert_eq!(
        out.power,
        Some(PowerAction::SystemReset(ResetKind::Warm { cookie: 0 }))
    );

    vm.reset();
    assert_eq!(vm.power_state(VcpuIndex(0)), PowerState::On);
    assert_eq!(vm.power_state(VcpuIndex(1)), PowerState::Off);
    assert_eq!(h(ids::SDEI_EVENT_STATUS, &[slot as u64]), 0);
    assert_eq!(h(ids::SDEI_PE_MASK, &[]), 0, "masked again");
    assert_eq!(*hook.0.lock().unwrap(), ["divert 40", "give back 40"]);
    // The slot is free again; PV time and the guest ABI survive.
    assert_eq!(h(ids::SDEI_INTERRUPT_BIND, &[41]), slot);
    assert_eq!(v0.stolen_ns(), 500);
    assert_eq!(h(ids::PSCI_VERSION, &[]), 0x1_0001);
    assert!(
        vm.set_features(FeatureRegister::Std, 0).is_err(),
        "still frozen"
    );
}

#[test]
fn snapshot_carries_power_state_and_the_abi() {
    let vm = vm(3);
    on(&vm, 2);
    let blob = vm.snapshot().unwrap();
    let r = Vm::restore(config(3, Some(PsciVersion::V1_1), true), NoMemory, &blob).unwrap();
    let states: Vec<_> = (0..3).map(|i| r.power_state(VcpuIndex(i))).collect();
    assert_eq!(states, [PowerState::On, PowerState::Off, PowerState::On]);
    assert_eq!(r.snapshot().unwrap(), blob, "byte-identical round trip");
    let text = inspect(&blob).unwrap().to_string();
    assert!(
        text.contains("PSCI 1.1\n") && text.contains("TRNG 1.0, UUID"),
        "{text}"
    );
    assert!(text.contains("vcpu1 (MPIDR 0x80000001): off"), "{text}");
}

#[test]
fn restored_vm_serves_the_psci_version_its_guest_saw() {
    let old = Vm::new(config(1, Some(PsciVersion::V1_0), false), NoMemory).unwrap();
    let blob = old.snapshot().unwrap();
    let r = Vm::restore(config(1, Some(PsciVersion::V1_1), true), NoMemory, &blob).unwrap();
    assert_eq!(x0(&r, 0, ids::PSCI_VERSION, &[]), 0x1_0000);
    assert_eq!(
        call(&r, 0, ids::PSCI_SYSTEM_RESET2_64, &[0, 0]).reply,
        Reply::NOT_SUPPORTED
    );
    assert_eq!(
        call(&r, 0, ids::TRNG_VERSION, &[]).reply,
        Reply::NOT_SUPPORTED,
        "TRNG stays hidden"
    );
}

#[test]
fn destinations_offering_less_are_refused_by_name() {
    let blob = vm(2).snapshot().unwrap();
    let err = |c| Vm::restore(c, NoMemory, &blob).unwrap_err().to_string();
    assert_eq!(
        err(config(2, Some(PsciVersion::V1_0), true)),
        "snapshot exposes PSCI 1.1, destination serves PSCI up to 1.0"
    );
    assert_eq!(
        err(config(2, None, true)),
        "feature STD_BMAP bit 1 (PSCI) not served by the destination"
    );
    assert_eq!(
        err(config(2, Some(PsciVersion::V1_1), false)),
        "feature STD_BMAP bit 2 (TRNG) not served by the destination"
    );
    // With the bits cleared by the VMM the sections still name the service.
    let quiet = vm(2);
    quiet
        .set_features(FeatureRegister::Std, StdFeatures::SDEI.bits())
        .unwrap();
    let blob = quiet.snapshot().unwrap();
    let e = Vm::restore(config(2, None, true), NoMemory, &blob).unwrap_err();
    assert_eq!(
        e.to_string(),
        "snapshot exposes PSCI 1.1, destination does not serve PSCI"
    );
    let e = Vm::restore(config(2, Some(PsciVersion::V1_1), false), NoMemory, &blob).unwrap_err();
    assert_eq!(
        e.to_string(),
        "snapshot exposes TRNG 1.0, destination does not serve TRNG"
    );
}

#[test]
fn restored_trng_keeps_the_uuid_its_guest_saw() {
    let mut c = config(1, None, true);
    let uuid = fwcall::smccc::Uid([0x11; 16]);
    c.trng = Some(TrngConfig { uuid });
    let blob = Vm::new(c, NoMemory).unwrap().snapshot().unwrap();
    let r = Vm::restore(config(1, None, true), NoMemory, &blob).unwrap();
    assert_eq!(call(&r, 0, ids::TRNG_GET_UUID, &[]).reply, uuid.reply());
}

#[test]
fn an_off_vcpu_with_a_handler_running_is_refused() {
    let vm = vm(2);
    on(&vm, 1);
    sdei_setup(&vm, 1);
    assert_eq!(x0(&vm, 0, ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0001]), 0);
    let v1 = vm.vcpu(VcpuIndex(1)).unwrap();
    assert!(v1.take_delivery(&Default::default()).is_some());
    let mut c = vm.snapshot_contents();
    c.power.as_mut().unwrap()[1] = PowerState::Off;
    let blob = c.to_bytes().unwrap();
    assert_eq!(
        inspect(&blob).unwrap_err(),
        RestoreError::Sdei(SdeiStateError::HandlerOnOffVcpu { vcpu: 1 })
    );
}

#[test]
fn an_rm_any_trigger_routed_to_an_off_vcpu_is_refused() {
    let mut c = config(2, Some(PsciVersion::V1_1), false);
    c.psci.as_mut().unwrap().boot = vec![VcpuIndex(0), VcpuIndex(1)];
    c.sdei.as_mut().unwrap().events = vec![fwcall::EventDecl {
        number: 0x40,
        kind: fwcall::EventKind::Shared,
        priority: fwcall::Priority::Normal,
    }];
    let vm = Vm::new(c, NoMemory).unwrap();
    assert_eq!(
        x0(&vm, 0, ids::SDEI_EVENT_REGISTER, &[0x40, HANDLER, 0, 0, 0]),
        0
    );
    assert_eq!(x0(&vm, 0, ids::SDEI_EVENT_ENABLE, &[0x40]), 0);
    assert_eq!(x0(&vm, 1, ids::SDEI_PE_UNMASK, &[]), 0);
    assert!(vm.raise(0x40, None).unwrap().contains(VcpuIndex(1)));
    let mut c = vm.snapshot_contents();
    c.power.as_mut().unwrap()[1] = PowerState::Off;
    assert_eq!(
        inspect(&c.to_bytes().unwrap()).unwrap_err(),
        RestoreError::Sdei(SdeiStateError::RoutedToOffVcpu {
            event: 0x40,
            vcpu: 1
        })
    );
}

#[test]
fn an_off_vcpu_keeps_its_registrations_through_a_snapshot_until_cpu_on() {
    let vm = vm(2);
    on(&vm, 1);
    sdei_setup(&vm, 1);
    call(&vm, 1, ids::PSCI_CPU_OFF, &[]);
    let blob = vm.snapshot().unwrap();
    let r = Vm::restore(config(2, Some(PsciVersion::V1_1), true), NoMemory, &blob).unwrap();
    assert_eq!(r.snapshot().unwrap(), blob, "exact round trip");
    let sdei = r.sdei().unwrap();
    assert_eq!(sdei.is_powered_off(VcpuIndex(1)), Some(true));
    assert_eq!(x0(&r, 0, ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0001]), -2);
    on(&r, 1);
    assert_eq!(x0(&r, 1, ids::SDEI_EVENT_STATUS, &[0]), 0);
}

#[test]
fn psci_presence_must_agree() {
    let mut c = vm(2).snapshot_contents();
    c.power = None;
    // The ABI still names PSCI: the encoder writes the section with no
    // states, which the count check refuses.
    assert!(inspect(&c.to_bytes().unwrap()).is_err());
    let mut c = vm(2).snapshot_contents();
    c.power.as_mut().unwrap().pop();
    assert!(inspect(&c.to_bytes().unwrap()).is_err());
}

#[test]
fn an_older_fwcall_would_refuse_the_new_sections() {
    // Strip the ABI of PSCI/TRNG and keep the sections: still refused, as
    // the required sections are present only when the ABI serves them.
    let blob = vm(1).snapshot().unwrap();
    let (_, sections) = format::parse(&blob).unwrap();
    let tags: Vec<_> = sections
        .iter()
        .map(|s| (fwcall::snapshot::Tag(s.tag), s.required))
        .collect();
    assert!(tags.contains(&(fwcall::snapshot::TAG_PSCI, true)));
    assert!(tags.contains(&(fwcall::snapshot::TAG_TRNG, true)));
}

#[test]
fn every_corruption_of_a_psci_trng_blob_is_refused_or_valid() {
    let vm = vm(3);
    on(&vm, 1);
    sdei_setup(&vm, 1);
    let blob = vm.snapshot().unwrap();
    for len in 0..blob.len() {
        assert!(inspect(&blob[..len]).is_err(), "length {len}");
    }
    for i in 0..blob.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = blob.clone();
            b[i] ^= x;
            format::reseal(&mut b);
            if let Ok(r) = Vm::restore(config(3, Some(PsciVersion::V1_1), true), NoMemory, &b) {
                inspect(&r.snapshot().unwrap()).unwrap();
            }
        }
    }
    let _ = FormatError::PsciPresence;
}
