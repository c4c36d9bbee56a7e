//! The guest physical memory map. Everything the device tree, the memslots
//! and the fwcall configuration agree on lives here, once.

/// Base of guest RAM.
pub const RAM_BASE: u64 = 0x4000_0000;

/// The PV-time records: a memslot of its own, **outside RAM**. A guest
/// reuses any RAM page for itself, so records placed in RAM get overwritten
/// and corrupt the kernel; out here nobody but fwcall writes.
pub const PVTIME_BASE: u64 = 0x0a10_0000;
/// 64 KiB: one 64-byte record per vCPU, 1024 vCPUs at most; a whole 64 KiB
/// page so a guest with 64 KiB pages maps nothing else with it.
pub const PVTIME_SIZE: u64 = 0x1_0000;

/// GICv3 distributor.
pub const GICD_BASE: u64 = 0x0800_0000;
/// Distributor size.
pub const GICD_SIZE: u64 = 0x1_0000;
/// GICv3 redistributors, one frame pair per vCPU.
pub const GICR_BASE: u64 = 0x080a_0000;
/// Size of one vCPU's redistributor (RD + SGI frames).
pub const GICR_STRIDE: u64 = 0x2_0000;

/// The 8250 UART.
pub const UART_BASE: u64 = 0x0900_0000;
/// Its register window.
pub const UART_SIZE: u64 = 0x1000;

/// Most vCPUs the layout has room for: redistributors end below the UART.
pub const MAX_VCPUS: u32 = ((UART_BASE - GICR_BASE) / GICR_STRIDE) as u32;

/// Where the device tree goes: the last 2 MiB of RAM.
pub const fn dtb_addr(ram_size: u64) -> u64 {
    RAM_BASE + ram_size - (2 << 20)
}

/// Largest device tree accepted (Linux maps at most 2 MiB of it).
pub const DTB_MAX: u64 = 2 << 20;

/// The redistributor region size for `vcpus` vCPUs.
pub const fn gicr_size(vcpus: u32) -> u64 {
    GICR_STRIDE * vcpus as u64
}

// The layout is checked when it is compiled: no region overlaps another,
// the redistributors of MAX_VCPUS fit, and PV time stays outside RAM.
const _: () = assert!(GICD_BASE + GICD_SIZE <= GICR_BASE);
const _: () = assert!(GICR_BASE + gicr_size(MAX_VCPUS) <= UART_BASE);
const _: () = assert!(UART_BASE + UART_SIZE <= PVTIME_BASE);
const _: () = assert!(
    PVTIME_BASE + PVTIME_SIZE <= RAM_BASE,
    "PV time must stay outside RAM"
);
const _: () = assert!(PVTIME_SIZE >= 64 * MAX_VCPUS as u64);
