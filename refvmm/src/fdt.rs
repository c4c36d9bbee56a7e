//! The device tree the guest boots with: memory, CPUs, the GICv3, the
//! architected timer and `chosen`, written here; the firmware nodes (PSCI
//! and SDEI over HVC, reserved memory when needed) written by fwcall's
//! [`fwcall::fdt`] helper from the VM itself, so the tree cannot promise
//! what fwcall does not serve.

use fwcall::fdt::{FdtError, FirmwareNodes};
use vm_fdt::FdtWriter;

use crate::layout::{GICD_BASE, GICD_SIZE, GICR_BASE, RAM_BASE, gicr_size};

/// What the device tree describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdtParams {
    /// Each vCPU's MPIDR affinity (`Aff2:Aff1:Aff0`), in vCPU order.
    pub mpidrs: Vec<u64>,
    /// RAM size (RAM starts at [`RAM_BASE`]).
    pub ram_size: u64,
    /// Kernel command line.
    pub cmdline: String,
    /// The initrd's first byte and one past its last.
    pub initrd: Option<(u64, u64)>,
    /// fwcall's nodes: `/psci`, `/firmware/sdei` when SDEI is served,
    /// `/reserved-memory` when the PV-time region needs it.
    pub firmware: FirmwareNodes,
}

const GIC_PHANDLE: u32 = 1;
/// GIC interrupt specifier: PPI, and level-high.
const GIC_PPI: u32 = 1;
const IRQ_LEVEL_HIGH: u32 = 4;

/// Builds the flattened device tree.
pub fn build(p: &FdtParams) -> Result<Vec<u8>, FdtError> {
    let mut f = FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_string("compatible", "linux,dummy-virt")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_u32("interrupt-parent", GIC_PHANDLE)?;

    let chosen = f.begin_node("chosen")?;
    f.property_string("bootargs", &p.cmdline)?;
    if let Some((start, end)) = p.initrd {
        f.property_u64("linux,initrd-start", start)?;
        f.property_u64("linux,initrd-end", end)?;
    }
    f.end_node(chosen)?;

    let mem = f.begin_node(&format!("memory@{RAM_BASE:x}"))?;
    f.property_string("device_type", "memory")?;
    f.property_array_u64("reg", &[RAM_BASE, p.ram_size])?;
    f.end_node(mem)?;

    let cpus = f.begin_node("cpus")?;
    f.property_u32("#address-cells", 1)?;
    f.property_u32("#size-cells", 0)?;
    for mpidr in &p.mpidrs {
        // #address-cells = 1 holds Aff2..Aff0, enough below 2^24 vCPUs.
        let reg = (*mpidr & 0xff_ffff) as u32;
        let cpu = f.begin_node(&format!("cpu@{reg:x}"))?;
        f.property_string("device_type", "cpu")?;
        f.property_string("compatible", "arm,arm-v8")?;
        // KVM implements PSCI; CPU_ON brings secondaries up.
        f.property_string("enable-method", "psci")?;
        f.property_u32("reg", reg)?;
        f.end_node(cpu)?;
    }
    f.end_node(cpus)?;

    // PSCI (served by KVM) and SDEI (served by fwcall), as fwcall decided.
    p.firmware.write(&mut f)?;

    let vcpus = u32::try_from(p.mpidrs.len()).unwrap_or(u32::MAX);
    let gic = f.begin_node(&format!("intc@{GICD_BASE:x}"))?;
    f.property_string("compatible", "arm,gic-v3")?;
    f.property_u32("#interrupt-cells", 3)?;
    f.property_null("interrupt-controller")?;
    f.property_array_u64("reg", &[GICD_BASE, GICD_SIZE, GICR_BASE, gicr_size(vcpus)])?;
    f.property_u32("phandle", GIC_PHANDLE)?;
    f.end_node(gic)?;

    // Secure physical, non-secure physical, virtual, hypervisor timer PPIs.
    let timer = f.begin_node("timer")?;
    f.property_string("compatible", "arm,armv8-timer")?;
    f.property_null("always-on")?;
    let mut irqs = Vec::new();
    for ppi in [13, 14, 11, 10] {
        irqs.extend_from_slice(&[GIC_PPI, ppi, IRQ_LEVEL_HIGH]);
    }
    f.property_array_u32("interrupts", &irqs)?;
    f.end_node(timer)?;

    f.end_node(root)?;
    Ok(f.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny reader for the structure block: every property as
    /// (`/path/to/node`, name, value).
    fn properties(blob: &[u8]) -> Vec<(String, String, Vec<u8>)> {
        let be = |at: usize| u32::from_be_bytes(blob[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(be(0), 0xd00d_feed, "FDT magic");
        let (structs, strings) = (be(8), be(12));
        let name_at = |off: usize| {
            let s = &blob[strings + off..];
            String::from_utf8(s[..s.iter().position(|b| *b == 0).unwrap()].to_vec()).unwrap()
        };
        let (mut at, mut path, mut out) = (structs, Vec::<String>::new(), Vec::new());
        loop {
            let token = be(at);
            at += 4;
            match token {
                1 => {
                    let end = at + blob[at..].iter().position(|b| *b == 0).unwrap();
                    path.push(String::from_utf8(blob[at..end].to_vec()).unwrap());
                    at = (end + 4) & !3;
                }
                2 => {
                    path.pop();
                }
                3 => {
                    let (len, name) = (be(at), be(at + 4));
                    let value = blob[at + 8..at + 8 + len].to_vec();
                    out.push((path.join("/"), name_at(name), value));
                    at = (at + 8 + len + 3) & !3;
                }
                4 => {}
                9 => return out,
                t => panic!("bad token {t}"),
            }
        }
    }

    fn params(sdei: bool) -> FdtParams {
        // The nodes come from the VM the VMM builds, as in `vmm.rs`.
        let config = crate::firmware::config(&[0, 1], 256 << 20, sdei);
        let vm = fwcall::Vm::new(config, fwcall::NoMemory).unwrap();
        let options = fwcall::fdt::FdtOptions {
            psci: Some(fwcall::fdt::PsciVersion::V1_1),
            ..Default::default()
        };
        FdtParams {
            mpidrs: vec![0, 1],
            ram_size: 256 << 20,
            cmdline: "console=ttyS0".into(),
            initrd: Some((0x4800_0000, 0x4810_0000)),
            firmware: FirmwareNodes::for_vm(&vm, &options).unwrap(),
        }
    }

    fn find<'a>(
        props: &'a [(String, String, Vec<u8>)],
        path: &str,
        name: &str,
    ) -> Option<&'a [u8]> {
        props
            .iter()
            .find(|(p, n, _)| p == path && n == name)
            .map(|(_, _, v)| v.as_slice())
    }

    #[test]
    fn psci_and_sdei_use_the_hvc_conduit() {
        let props = properties(&build(&params(true)).unwrap());
        assert_eq!(find(&props, "/psci", "method"), Some(b"hvc\0".as_slice()));
        assert_eq!(
            find(&props, "/psci", "compatible"),
            Some(b"arm,psci-1.0\0arm,psci-0.2\0".as_slice())
        );
        assert_eq!(
            find(&props, "/firmware/sdei", "compatible"),
            Some(b"arm,sdei-1.0\0".as_slice())
        );
        assert_eq!(
            find(&props, "/firmware/sdei", "method"),
            Some(b"hvc\0".as_slice())
        );
    }

    #[test]
    fn sdei_node_is_absent_when_sdei_is_off() {
        let props = properties(&build(&params(false)).unwrap());
        assert!(find(&props, "/firmware/sdei", "compatible").is_none());
    }

    #[test]
    fn pvtime_region_outside_ram_needs_no_reserved_memory() {
        let props = properties(&build(&params(true)).unwrap());
        assert!(
            props
                .iter()
                .all(|(p, _, _)| !p.starts_with("/reserved-memory"))
        );
    }

    #[test]
    fn every_vcpu_is_a_psci_cpu_and_memory_and_initrd_are_declared() {
        let props = properties(&build(&params(true)).unwrap());
        for cpu in ["/cpus/cpu@0", "/cpus/cpu@1"] {
            assert_eq!(
                find(&props, cpu, "enable-method"),
                Some(b"psci\0".as_slice())
            );
        }
        let reg: Vec<u8> = [RAM_BASE, 256 << 20]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(
            find(&props, "/memory@40000000", "reg"),
            Some(reg.as_slice())
        );
        assert_eq!(
            find(&props, "/chosen", "linux,initrd-start"),
            Some(0x4800_0000u64.to_be_bytes().as_slice())
        );
        assert_eq!(
            find(&props, "/chosen", "bootargs"),
            Some(b"console=ttyS0\0".as_slice())
        );
    }

    #[test]
    fn redistributors_cover_every_vcpu() {
        let props = properties(&build(&params(true)).unwrap());
        let reg = find(&props, "/intc@8000000", "reg").unwrap();
        let gicr_len = u64::from_be_bytes(reg[24..32].try_into().unwrap());
        assert_eq!(gicr_len, 2 * 0x2_0000);
    }
}
