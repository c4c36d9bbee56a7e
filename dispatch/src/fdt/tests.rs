//! The nodes, read back with an independent parser (the `fdt` crate), and
//! checked against what the same VM answers to the guest.

extern crate std;

use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::features::FeatureRegister;
use crate::pvtime::AtomicMemory;
use crate::{Call, Gpa, NoMemory, VcpuIndex, VmConfig, ids};

const RAM: MemoryRegion = MemoryRegion::new(0x4000_0000, 0x1000_0000);
const PVTIME: MemoryRegion = MemoryRegion::new(0x0a10_0000, 0x1_0000);

// A VM with RAM and a reserved PV-time region outside it, placed.
fn config() -> VmConfig {
    let mut c = VmConfig::new(2);
    c.ram = vec![RAM];
    c.reserved = vec![PVTIME];
    c.pvtime.stolen_time_base = Some(PVTIME.base);
    c
}

// A whole tree: root cells, a memory node, then fwcall's nodes.
fn tree(nodes: &FirmwareNodes) -> Vec<u8> {
    let mut f = FdtWriter::new().unwrap();
    let root = f.begin_node("").unwrap();
    f.property_string("compatible", "linux,dummy-virt").unwrap();
    f.property_u32("#address-cells", 2).unwrap();
    f.property_u32("#size-cells", 2).unwrap();
    let mem = f.begin_node("memory@40000000").unwrap();
    f.property_string("device_type", "memory").unwrap();
    f.property_array_u64("reg", &[RAM.base.0, RAM.size])
        .unwrap();
    f.end_node(mem).unwrap();
    nodes.write(&mut f).unwrap();
    f.end_node(root).unwrap();
    f.finish().unwrap()
}

fn prop<'a>(dt: &'a ::fdt::Fdt<'_>, path: &str, name: &str) -> Option<&'a [u8]> {
    dt.find_node(path)?
        .properties()
        .find(|p| p.name == name)
        .map(|p| p.value)
}

fn nodes_for<M: GuestMemoryAccess>(vm: &Vm<M>, options: &FdtOptions<'_>) -> FirmwareNodes {
    FirmwareNodes::for_vm(vm, options).unwrap()
}

fn x0<M: GuestMemoryAccess>(vm: &Vm<M>, call: Call) -> u64 {
    let out = vm.vcpu(VcpuIndex(0)).unwrap().handle(&call);
    let mut regs = call.x;
    let _ = out.reply.apply_x(&mut regs);
    regs[0]
}

#[test]
fn sdei_node_names_the_binding_and_the_conduit() {
    for (conduit, method) in [(Conduit::Hvc, b"hvc\0"), (Conduit::Smc, b"smc\0")] {
        let vm = Vm::new(config(), NoMemory).unwrap();
        let options = FdtOptions {
            conduit,
            ..FdtOptions::default()
        };
        let blob = tree(&nodes_for(&vm, &options));
        let dt = ::fdt::Fdt::new(&blob).unwrap();
        assert_eq!(
            prop(&dt, "/firmware/sdei", "compatible"),
            Some(&b"arm,sdei-1.0\0"[..])
        );
        assert_eq!(prop(&dt, "/firmware/sdei", "method"), Some(&method[..]));
    }
}

#[test]
fn sdei_node_absent_when_sdei_is_not_configured() {
    let mut c = config();
    c.sdei = None;
    let vm = Vm::new(c, NoMemory).unwrap();
    let blob = tree(&nodes_for(&vm, &FdtOptions::default()));
    let dt = ::fdt::Fdt::new(&blob).unwrap();
    assert!(dt.find_node("/firmware").is_none());
    assert!(dt.find_node("/firmware/sdei").is_none());
}

#[test]
fn sdei_node_absent_when_the_feature_words_switch_sdei_off() {
    let vm = Vm::new(config(), NoMemory).unwrap();
    vm.set_features(FeatureRegister::Std, 0).unwrap();
    assert_eq!(nodes_for(&vm, &FdtOptions::default()).sdei(), None);
}

#[test]
fn psci_node_carries_the_compatibles_of_its_version() {
    let cases: [(PsciVersion, &[u8]); 4] = [
        (PsciVersion::V0_2, b"arm,psci-0.2\0"),
        (PsciVersion::V1_0, b"arm,psci-1.0\0arm,psci-0.2\0"),
        (PsciVersion::V1_1, b"arm,psci-1.0\0arm,psci-0.2\0"),
        (PsciVersion::new(1, 3), b"arm,psci-1.0\0arm,psci-0.2\0"),
    ];
    let vm = Vm::new(config(), NoMemory).unwrap();
    for (version, compatible) in cases {
        let options = FdtOptions {
            conduit: Conduit::Smc,
            psci: Some(version),
            ..FdtOptions::default()
        };
        let blob = tree(&nodes_for(&vm, &options));
        let dt = ::fdt::Fdt::new(&blob).unwrap();
        assert_eq!(
            prop(&dt, "/psci", "compatible"),
            Some(compatible),
            "{version}"
        );
        assert_eq!(prop(&dt, "/psci", "method"), Some(&b"smc\0"[..]));
    }
}

#[test]
fn psci_node_absent_unless_asked_for() {
    let vm = Vm::new(config(), NoMemory).unwrap();
    let blob = tree(&nodes_for(&vm, &FdtOptions::default()));
    assert!(::fdt::Fdt::new(&blob).unwrap().find_node("/psci").is_none());
}

#[test]
fn psci_versions_without_a_binding_are_refused() {
    let vm = Vm::new(config(), NoMemory).unwrap();
    for v in [
        PsciVersion::new(0, 1),
        PsciVersion::new(0, 3),
        PsciVersion::new(2, 0),
    ] {
        let options = FdtOptions {
            psci: Some(v),
            ..FdtOptions::default()
        };
        assert_eq!(
            FirmwareNodes::for_vm(&vm, &options),
            Err(FdtError::UnsupportedPsciVersion(v))
        );
    }
}

#[test]
fn psci_version_from_the_kvm_register_word() {
    assert_eq!(PsciVersion::from_word(2), PsciVersion::V0_2);
    assert_eq!(PsciVersion::from_word(0x1_0000), PsciVersion::V1_0);
    assert_eq!(PsciVersion::from_word(0x1_0003), PsciVersion::new(1, 3));
}

#[test]
fn reserved_memory_absent_when_the_region_lies_outside_declared_memory() {
    let vm = Vm::new(config(), NoMemory).unwrap();
    let nodes = nodes_for(&vm, &FdtOptions::default());
    assert!(nodes.reserved().is_empty());
    let blob = tree(&nodes);
    assert!(
        ::fdt::Fdt::new(&blob)
            .unwrap()
            .find_node("/reserved-memory")
            .is_none()
    );
}

#[test]
fn reserved_memory_no_map_when_the_region_lies_inside_declared_memory() {
    // One memory node over everything, PV time carved out of fwcall's RAM.
    let pvtime = MemoryRegion::new(0x4ff0_0000, 0x1_0000);
    let mut c = config();
    c.ram = vec![MemoryRegion::new(RAM.base.0, pvtime.base.0 - RAM.base.0)];
    c.reserved = vec![pvtime];
    c.pvtime.stolen_time_base = Some(pvtime.base);
    let vm = Vm::new(c, NoMemory).unwrap();
    let declared = [RAM];
    let options = FdtOptions {
        memory: Some(&declared),
        ..FdtOptions::default()
    };
    let blob = tree(&nodes_for(&vm, &options));
    let dt = ::fdt::Fdt::new(&blob).unwrap();
    let two = 2u32.to_be_bytes();
    assert_eq!(
        prop(&dt, "/reserved-memory", "#address-cells"),
        Some(&two[..])
    );
    assert_eq!(prop(&dt, "/reserved-memory", "#size-cells"), Some(&two[..]));
    assert_eq!(prop(&dt, "/reserved-memory", "ranges"), Some(&[][..]));
    let node = "/reserved-memory/pvtime@4ff00000";
    let reg: Vec<u8> = [pvtime.base.0, pvtime.size]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    assert_eq!(prop(&dt, node, "reg"), Some(reg.as_slice()));
    assert_eq!(prop(&dt, node, "no-map"), Some(&[][..]));
}

#[test]
fn reserved_regions_are_sorted_and_only_those_inside_declared_memory() {
    let inside_high = MemoryRegion::new(0x4ff0_0000, 0x1_0000);
    let inside_low = MemoryRegion::new(0x4000_0000, 0x1000);
    let mut c = config();
    c.ram = vec![MemoryRegion::new(0x4001_0000, 0x0fe0_0000)];
    c.reserved = vec![inside_high, PVTIME, inside_low];
    c.pvtime.stolen_time_base = Some(PVTIME.base);
    let vm = Vm::new(c, NoMemory).unwrap();
    let declared = [RAM];
    let options = FdtOptions {
        memory: Some(&declared),
        ..FdtOptions::default()
    };
    assert_eq!(
        nodes_for(&vm, &options).reserved(),
        &[inside_low, inside_high]
    );
}

#[test]
fn reserved_region_inside_declared_memory_must_cover_whole_pages() {
    let odd = MemoryRegion::new(0x4ff0_0040, 0x1000);
    let mut c = config();
    c.ram = vec![MemoryRegion::new(RAM.base.0, 0x0ff0_0000)];
    c.reserved = vec![odd];
    c.pvtime.stolen_time_base = Some(odd.base);
    let vm = Vm::new(c, NoMemory).unwrap();
    let declared = [RAM];
    let options = FdtOptions {
        memory: Some(&declared),
        ..FdtOptions::default()
    };
    assert_eq!(
        FirmwareNodes::for_vm(&vm, &options),
        Err(FdtError::UnalignedReservedRegion(odd))
    );
}

#[test]
fn declared_memory_that_is_empty_or_wraps_is_refused() {
    let vm = Vm::new(config(), NoMemory).unwrap();
    for bad in [
        MemoryRegion::new(0x4000_0000, 0),
        MemoryRegion::new(u64::MAX - 10, 100),
    ] {
        let declared = [bad];
        let options = FdtOptions {
            memory: Some(&declared),
            ..FdtOptions::default()
        };
        assert_eq!(
            FirmwareNodes::for_vm(&vm, &options),
            Err(FdtError::BadMemoryRegion(bad))
        );
    }
}

#[test]
fn writer_errors_are_reported_not_swallowed() {
    let vm = Vm::new(config(), NoMemory).unwrap();
    let nodes = nodes_for(&vm, &FdtOptions::default());
    let mut f = FdtWriter::new().unwrap();
    // Open nodes until vm-fdt's depth limit: the next node is refused.
    let mut depth = 0;
    while f.begin_node("n").is_ok() {
        depth += 1;
    }
    assert!(depth > 1);
    assert_eq!(
        nodes.write(&mut f),
        Err(FdtError::Writer(vm_fdt::Error::NodeDepthTooLarge))
    );
}

proptest! {
    // The description never disagrees with the VM: `/firmware/sdei` is
    // there exactly when `SDEI_VERSION` answers, and the stolen-time
    // record `PV_TIME_ST` hands out is never memory the tree gives the
    // guest as RAM without a `no-map` reservation.
    #[test]
    fn description_matches_what_the_vm_serves(
        sdei_configured in any::<bool>(),
        sdei_bit in any::<bool>(),
        carve_out in any::<bool>(),
        smc in any::<bool>(),
    ) {
        let pvtime = if carve_out { MemoryRegion::new(0x4ff0_0000, 0x1_0000) } else { PVTIME };
        let mut c = config();
        if carve_out {
            c.ram = vec![MemoryRegion::new(RAM.base.0, 0x0ff0_0000)];
        }
        if !sdei_configured {
            c.sdei = None;
        }
        c.reserved = vec![pvtime];
        c.pvtime.stolen_time_base = Some(pvtime.base);
        let vm = Vm::new(c, AtomicMemory::new(&[pvtime])).unwrap();
        if !sdei_bit {
            vm.set_features(FeatureRegister::Std, 0).unwrap();
        }
        let declared = [RAM];
        let options = FdtOptions {
            conduit: if smc { Conduit::Smc } else { Conduit::Hvc },
            memory: Some(&declared),
            ..FdtOptions::default()
        };
        let blob = tree(&nodes_for(&vm, &options));
        let dt = ::fdt::Fdt::new(&blob).unwrap();

        let sdei_answers = x0(&vm, Call::new(ids::SDEI_VERSION, &[])) as i64 >= 0;
        prop_assert_eq!(dt.find_node("/firmware/sdei").is_some(), sdei_answers);

        let record = Gpa(x0(&vm, Call::new(ids::PV_TIME_ST, &[])));
        let in_ram = declared.iter().any(|m| m.contains(record, 64));
        let reserved: Vec<MemoryRegion> = dt
            .find_node("/reserved-memory")
            .map(|n| {
                n.children()
                    .filter(|c| c.property("no-map").is_some())
                    .flat_map(|c| c.reg().unwrap())
                    .map(|r| MemoryRegion::new(r.starting_address as u64, r.size.unwrap() as u64))
                    .collect()
            })
            .unwrap_or_default();
        prop_assert!(!in_ram || reserved.iter().any(|r| r.contains(record, 64)));
        prop_assert_eq!(in_ram, carve_out);
    }
}
