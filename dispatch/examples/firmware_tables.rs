//! Writes fwcall's firmware description of two sample VMs into a directory,
//! for CI to check with the ACPI and device-tree tools
//! (`dispatch/tests-firmware-tables.sh`):
//!
//! * `sdei.dat`, `hest.dat`: the `SDEI` table and a HEST of three `GHESv2`
//!   sources on SDEI events;
//! * `hvc.dtb`: SDEI and PSCI 1.1 over `HVC`, the PV-time region carved out
//!   of a memory node (so `reserved-memory` is needed);
//! * `smc.dtb`: PSCI 0.2 over `SMC`, no SDEI, PV time outside memory;
//! * `request.txt`: what was asked for, one `FILE|KEY|VALUE` a line, the
//!   values in the hex widths `iasl` prints, so the check compares the
//!   tools' reading of the bytes with the request rather than with the
//!   encoder.
//!
//! ```sh
//! cargo run -p fwcall --example firmware_tables --features fdt,acpi -- OUTDIR
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;

use fwcall::acpi::{AcpiIds, GhesV2Source, Hest, SdeiTable};
use fwcall::fdt::{FdtOptions, FirmwareNodes, PsciVersion};
use fwcall::{Conduit, EventDecl, EventKind, Gpa, MemoryRegion, NoMemory, Priority, Vm, VmConfig};

const RAM: MemoryRegion = MemoryRegion::new(0x4000_0000, 0x1000_0000);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: firmware_tables OUTDIR")?,
    );
    std::fs::create_dir_all(&dir)?;
    let mut request = String::new();

    // ACPI: three platform events, one source each.
    let mut config = VmConfig::new(4);
    config.ram = vec![RAM];
    let events = [
        (0x200, Priority::Normal),
        (0x201, Priority::Critical),
        (0x7fff_fff0, Priority::Normal),
    ];
    for (number, priority) in events {
        config.sdei.as_mut().ok_or("SDEI")?.events.push(EventDecl {
            number,
            kind: EventKind::Shared,
            priority,
        });
    }
    let vm = Vm::new(config, NoMemory)?;
    let ids = AcpiIds {
        oem_id: *b"FWTEST",
        oem_table_id: *b"CHECKTBL",
        oem_revision: 0x1234_5678,
        creator_id: *b"FWCL",
        creator_revision: 0x0000_0102,
    };
    let mut sources = Vec::new();
    for (i, (event, _)) in events.iter().enumerate() {
        let base = 0x0901_0000 + 0x100 * i as u64;
        let mut s = GhesV2Source::new(i as u16 + 1, *event, Gpa(base), Gpa(base + 8));
        s.records_to_preallocate = i as u32 + 1;
        s.max_sections_per_record = 2;
        s.max_raw_data_length = 0x800 + i as u32;
        s.error_block_length = 0x1000 - 4 * i as u32;
        s.enabled = i != 2;
        if i == 2 {
            s.related_source_id = Some(1);
            s.read_ack_preserve = 0xffff_ffff_0000_0000;
            s.read_ack_write = 0x8000_0000;
        }
        sources.push(s);
    }
    std::fs::write(dir.join("sdei.dat"), SdeiTable::for_vm(&vm, &ids)?.to_vec())?;
    std::fs::write(
        dir.join("hest.dat"),
        Hest::for_vm(&vm, &ids, &sources)?.to_vec(),
    )?;
    for file in ["sdei", "hest"] {
        let r = &mut request;
        writeln!(r, "{file}|Oem ID|\"{}\"", std::str::from_utf8(&ids.oem_id)?)?;
        writeln!(
            r,
            "{file}|Oem Table ID|\"{}\"",
            std::str::from_utf8(&ids.oem_table_id)?
        )?;
        writeln!(r, "{file}|Oem Revision|{:08X}", ids.oem_revision)?;
        writeln!(
            r,
            "{file}|Asl Compiler ID|\"{}\"",
            std::str::from_utf8(&ids.creator_id)?
        )?;
        writeln!(
            r,
            "{file}|Asl Compiler Revision|{:08X}",
            ids.creator_revision
        )?;
    }
    writeln!(request, "hest|Error Source Count|{:08X}", sources.len())?;
    for (i, s) in sources.iter().enumerate() {
        let n = i + 1;
        let r = &mut request;
        writeln!(r, "hest|{n}.Source Id|{:04X}", s.source_id)?;
        writeln!(
            r,
            "hest|{n}.Related Source Id|{:04X}",
            s.related_source_id.unwrap_or(0xffff)
        )?;
        writeln!(r, "hest|{n}.Enabled|{:02X}", u8::from(s.enabled))?;
        writeln!(
            r,
            "hest|{n}.Records To Preallocate|{:08X}",
            s.records_to_preallocate
        )?;
        writeln!(
            r,
            "hest|{n}.Max Sections Per Record|{:08X}",
            s.max_sections_per_record
        )?;
        writeln!(
            r,
            "hest|{n}.Max Raw Data Length|{:08X}",
            s.max_raw_data_length
        )?;
        writeln!(
            r,
            "hest|{n}.Error Status Address.Address|{:016X}",
            s.error_status_address.0
        )?;
        writeln!(r, "hest|{n}.Vector|{:08X}", s.sdei_event)?;
        writeln!(
            r,
            "hest|{n}.Error Status Block Length|{:08X}",
            s.error_block_length
        )?;
        writeln!(
            r,
            "hest|{n}.Read Ack Register.Address|{:016X}",
            s.read_ack_register.0
        )?;
        writeln!(r, "hest|{n}.Read Ack Preserve|{:016X}", s.read_ack_preserve)?;
        writeln!(r, "hest|{n}.Read Ack Write|{:016X}", s.read_ack_write)?;
    }

    // Device tree over HVC: PV time carved out of the one memory node.
    let pvtime = MemoryRegion::new(0x4ff0_0000, 0x1_0000);
    let mut config = VmConfig::new(2);
    config.ram = vec![MemoryRegion::new(RAM.base.0, pvtime.base.0 - RAM.base.0)];
    config.reserved = vec![pvtime];
    config.pvtime.stolen_time_base = Some(pvtime.base);
    let vm = Vm::new(config, NoMemory)?;
    let declared = [RAM];
    let options = FdtOptions {
        conduit: Conduit::Hvc,
        psci: Some(PsciVersion::V1_1),
        memory: Some(&declared),
    };
    std::fs::write(
        dir.join("hvc.dtb"),
        tree(&FirmwareNodes::for_vm(&vm, &options)?)?,
    )?;
    let r = &mut request;
    writeln!(r, "hvc|/firmware/sdei|method|hvc")?;
    writeln!(r, "hvc|/psci|method|hvc")?;
    writeln!(r, "hvc|/psci|version|1.1")?;
    writeln!(
        r,
        "hvc|/reserved-memory/pvtime@{:x}|reg|{:#x} {:#x}",
        pvtime.base.0, pvtime.base.0, pvtime.size
    )?;

    // Device tree over SMC: no SDEI, PV time outside memory.
    let outside = MemoryRegion::new(0x0a10_0000, 0x1_0000);
    let mut config = VmConfig::new(2);
    config.ram = vec![RAM];
    config.reserved = vec![outside];
    config.pvtime.stolen_time_base = Some(outside.base);
    config.sdei = None;
    let vm = Vm::new(config, NoMemory)?;
    let options = FdtOptions {
        conduit: Conduit::Smc,
        psci: Some(PsciVersion::V0_2),
        memory: None,
    };
    std::fs::write(
        dir.join("smc.dtb"),
        tree(&FirmwareNodes::for_vm(&vm, &options)?)?,
    )?;
    writeln!(request, "smc|/psci|method|smc")?;
    writeln!(request, "smc|/psci|version|0.2")?;
    writeln!(request, "smc|/firmware/sdei|absent|")?;
    writeln!(request, "smc|/reserved-memory|absent|")?;

    std::fs::write(dir.join("request.txt"), request)?;
    println!(
        "wrote sdei.dat hest.dat hvc.dtb smc.dtb request.txt to {}",
        dir.display()
    );
    Ok(())
}

/// A minimal bootable-shaped tree around fwcall's nodes.
fn tree(nodes: &FirmwareNodes) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut f = vm_fdt::FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_string("compatible", "linux,dummy-virt")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    let mem = f.begin_node(&format!("memory@{:x}", RAM.base.0))?;
    f.property_string("device_type", "memory")?;
    f.property_array_u64("reg", &[RAM.base.0, RAM.size])?;
    f.end_node(mem)?;
    nodes.write(&mut f)?;
    f.end_node(root)?;
    Ok(f.finish()?)
}
