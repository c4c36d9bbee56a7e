//! `fwcall demo`: a simulated 4-vCPU arm64 VM driven through fwcall's
//! public API exactly as a VMM's exit loop drives it, printed as a
//! timeline. Every step checks what it got, like a test; the demo passes
//! only if every check holds.
//!
//! ```
//! let mut out = Vec::new();
//! let result = fwcall_cli::demo::run(&mut out, false, None);
//! assert!(result.failures.is_empty(), "{:?}", result.failures);
//! assert!(String::from_utf8(out).unwrap().contains("SDEI_EVENT_COMPLETE_AND_RESUME"));
//! ```

mod machine;
pub mod ui;

use fwcall::pvtime::lpt::{LptRecord, guest_read_pv};
use fwcall::{
    EventDecl, EventKind, Gpa, LptConfig, MemoryRegion, Mpidr, Priority, SdeiConfig, Vm, VmConfig,
    ids,
};
use fwcall_conformance::config::MemRegion;
use fwcall_conformance::memory::SimMemory;
use fwcall_conformance::recorder::RecordingVm;
use machine::Machine;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;
use ui::{Style, Ui};

/// Guest RAM: 256 MiB at 1 GiB.
const RAM: MemRegion = MemRegion {
    base: 0x4000_0000,
    size: 0x1000_0000,
};
/// The VMM's own 64 KiB region outside RAM for PV-time structures.
const PV_REGION: MemRegion = MemRegion {
    base: 0x0a10_0000,
    size: 0x1_0000,
};
/// vCPU i's stolen-time record is at `ST_BASE + 64 i`.
const ST_BASE: u64 = 0x0a10_0000;
/// The VM-wide LPT structure.
const LPT_IPA: u64 = 0x0a10_f000;
/// The counter frequency the guest is promised everywhere (Armv8.6's).
const PV_HZ: u32 = 1_000_000_000;
/// The source host's counter.
const SOURCE_HZ: u32 = 62_500_000;
/// The destination host's counter.
const DEST_HZ: u32 = 25_000_000;

/// A private normal event the VMM raises as a pseudo-NMI (hard-lockup
/// watchdog).
const EV_WATCHDOG: u32 = 0x40;
/// A shared critical event: a firmware-first RAS error.
const EV_RAS: u32 = 0x41;
/// A shared normal event: "you have just been migrated".
const EV_MIGRATED: u32 = 0x42;

/// Linux's SDEI entry point (`__sdei_asm_handler`), a kernel VA.
const HANDLER: u64 = 0xffff_8000_0801_2000;
/// The critical handler's entry point.
const CRITICAL_HANDLER: u64 = 0xffff_8000_0801_3000;
/// Where an idle CPU waits (`cpu_do_idle`).
const IDLE: u64 = 0xffff_8000_0800_1a40;
/// `VBAR_EL1`: the kernel's vector table.
const VBAR: u64 = 0xffff_8000_0801_0000;
/// The IRQ vector for an exception from EL0 (AArch64).
const IRQ_FROM_EL0: u64 = VBAR + 0x480;
/// `EL1h` with D, A, I and F masked.
const EL1H_MASKED: u64 = 0x3c5;
/// `EL0t` with nothing masked.
const EL0T: u64 = 0;
/// The per-CPU handler argument Linux passes (a kernel pointer).
fn arg(cpu: usize) -> u64 {
    0xffff_0000_0123_4000 + 0x100 * cpu as u64
}

/// How the demo went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoResult {
    /// Checks that held.
    pub passed: usize,
    /// Checks that failed (empty when the demo passed).
    pub failures: Vec<String>,
    /// Calls fwcall served.
    pub calls: usize,
    /// SDEI handler entries.
    pub deliveries: usize,
}

impl DemoResult {
    /// 0 when every check held, else 1.
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.failures.is_empty())
    }
}

/// The source VM's configuration.
pub fn source_config() -> VmConfig {
    let mut c = VmConfig::new(4);
    c.ram = vec![MemoryRegion::new(RAM.base, RAM.size)];
    c.reserved = vec![MemoryRegion::new(PV_REGION.base, PV_REGION.size)];
    c.sdei = Some(SdeiConfig {
        events: vec![
            EventDecl {
                number: EV_WATCHDOG,
                kind: EventKind::Private,
                priority: Priority::Normal,
            },
            EventDecl {
                number: EV_RAS,
                kind: EventKind::Shared,
                priority: Priority::Critical,
            },
            EventDecl {
                number: EV_MIGRATED,
                kind: EventKind::Shared,
                priority: Priority::Normal,
            },
        ],
        ..SdeiConfig::default()
    });
    c.pvtime.stolen_time_base = Some(Gpa(ST_BASE));
    c.pvtime.native_hz = SOURCE_HZ;
    c.pvtime.lpt = Some(LptConfig {
        ipa: Gpa(LPT_IPA),
        pv_hz: PV_HZ,
    });
    c
}

/// Runs the demo, printing the timeline on `out` (ANSI colours when
/// `colour`), and recording an fwtrace of the whole session on `record`.
pub fn run(out: &mut dyn Write, colour: bool, record: Option<Box<dyn Write>>) -> DemoResult {
    let started = Instant::now();
    let mut ui = Ui::new(out, colour);
    ui.line(&ui.paint(
        Style::Heading,
        "fwcall demo: a simulated 4-vCPU arm64 VM, driven through fwcall's public API as a VMM drives it",
    ));
    ui.line(&ui.paint(
        Style::Dim,
        "  (cpuN = the guest on vCPU N making an HVC; vmm = the VMM acting on its own; ok = a check that held)",
    ));
    let mem = Arc::new(SimMemory::new(vec![RAM, PV_REGION]));
    let config = source_config();
    let vm = match Vm::new(config.clone(), mem.clone()) {
        Ok(vm) => vm,
        Err(e) => {
            ui.check(
                false,
                &format!("Vm::new refused the demo's configuration: {e}"),
            );
            return DemoResult {
                failures: ui.failures,
                ..DemoResult::default()
            };
        }
    };
    if let Err(e) = vm.start() {
        ui.check(false, &format!("Vm::start failed: {e}"));
    }
    let recording = record.is_some();
    let rvm = match record {
        Some(w) => RecordingVm::new(vm, w),
        None => RecordingVm::passthrough(vm),
    };
    let mut m = Machine::new(rvm, mem, ui);

    boot(&mut m, &config);
    sdei_probe(&mut m);
    pvtime_probe(&mut m);
    register_events(&mut m);
    nmi_while_masked(&mut m);
    critical_preempts_normal(&mut m);
    stolen_time(&mut m);
    migrate(&mut m, &config);
    m.summary(started.elapsed(), recording);
    m.finish()
}

fn boot(m: &mut Machine<'_>, c: &VmConfig) {
    m.ui.heading("1. Boot: the VMM builds the VM");
    m.ui.event(
        "vmm",
        Style::Vmm,
        &format!(
            "Vm::new: {} vCPUs, SMCCC {}, SDEI 1.1 with events {EV_WATCHDOG:#x} (private normal, watchdog), \
             {EV_RAS:#x} (shared critical, RAS), {EV_MIGRATED:#x} (shared normal, migration notice)",
            c.vcpu_count(),
            c.smccc_version
        ),
    );
    m.ui.event(
        "vmm",
        Style::Vmm,
        &format!(
            "PV time: stolen-time records at {ST_BASE:#x} (64 bytes per vCPU), LPT at {LPT_IPA:#x}, \
             both in a reserved region outside RAM; host counter {}, guest promised {}",
            mhz(SOURCE_HZ),
            mhz(PV_HZ)
        ),
    );
    m.ui.event(
        "vmm",
        Style::Vmm,
        "Vm::start(): LPT structure published before any vCPU runs",
    );
    let rec = m.lpt();
    m.ui.check_qty("LPT sequence_number", rec.sequence_number.get(), 2);
    m.ui.check_qty(
        "LPT native_freq (Hz)",
        u64::from(rec.native_freq.get()),
        u64::from(SOURCE_HZ),
    );
    m.ui.check_qty(
        "LPT pv_freq (Hz)",
        u64::from(rec.pv_freq.get()),
        u64::from(PV_HZ),
    );
}

fn sdei_probe(m: &mut Machine<'_>) {
    m.ui.heading("2. Linux probes SDEI (drivers/firmware/arm_sdei.c)");
    let v = m.call(0, ids::SDEI_VERSION, &[]);
    m.ui.check(
        v >> 63 == 0 && (v >> 48) & 0x7fff == 1,
        "SDEI major version 1: Linux will use it",
    );
    for cpu in 0..4 {
        m.call_expect(cpu, ids::SDEI_PRIVATE_RESET, &[], 0);
    }
    m.call_expect(0, ids::SDEI_SHARED_RESET, &[], 0);
    for cpu in 0..4 {
        m.call_expect(cpu, ids::SDEI_PE_UNMASK, &[], 0);
    }
}

fn pvtime_probe(m: &mut Machine<'_>) {
    m.ui.heading("3. Linux probes PV time (arch/arm64/kernel/paravirt.c)");
    let v = m.call(0, ids::SMCCC_VERSION, &[]);
    m.ui.check(
        v >= 0x1_0001 && v >> 31 == 0,
        "SMCCC 1.1 or later: ARCH_FEATURES exists",
    );
    m.call_expect(
        0,
        ids::SMCCC_ARCH_FEATURES,
        &[u64::from(ids::PV_TIME_FEATURES.raw())],
        0,
    );
    m.call_expect(
        0,
        ids::PV_TIME_FEATURES,
        &[u64::from(ids::PV_TIME_ST.raw())],
        0,
    );
    for cpu in 0..4 {
        let ipa = m.call_expect(cpu, ids::PV_TIME_ST, &[], ST_BASE + 64 * cpu as u64);
        let rev = m.read(ipa, 4);
        let attr = m.read(ipa + 4, 4);
        m.ui.check(
            rev == 0 && attr == 0,
            &format!("the 64 bytes at {ipa:#x} hold revision 0 and attributes 0 (else Linux gives up with -ENXIO)"),
        );
    }
    m.call_expect(
        0,
        ids::PV_TIME_FEATURES,
        &[u64::from(ids::PV_TIME_LPT.raw())],
        0,
    );
    m.call_expect(0, ids::PV_TIME_LPT, &[], LPT_IPA);
    let one_second = m.guest_counter(u64::from(SOURCE_HZ));
    m.ui.event(
        "cpu0",
        Style::Dim,
        &format!("reads the counter through LPT: 1 s of host ticks ({SOURCE_HZ}) reads as {one_second} ticks"),
    );
    m.ui.check_qty("one second in guest ticks", one_second, u64::from(PV_HZ));
}

fn register_events(m: &mut Machine<'_>) {
    m.ui.heading("4. The guest registers a normal and a critical event");
    for cpu in 0..4 {
        m.call_expect(
            cpu,
            ids::SDEI_EVENT_GET_INFO,
            &[u64::from(EV_WATCHDOG), 2],
            0,
        );
        m.call_expect(
            cpu,
            ids::SDEI_EVENT_REGISTER,
            &[u64::from(EV_WATCHDOG), HANDLER, arg(cpu), 0, 0],
            0,
        );
        m.call_expect(cpu, ids::SDEI_EVENT_ENABLE, &[u64::from(EV_WATCHDOG)], 0);
    }
    m.call_expect(0, ids::SDEI_EVENT_GET_INFO, &[u64::from(EV_RAS), 2], 1);
    m.call_expect(0, ids::SDEI_EVENT_GET_INFO, &[u64::from(EV_RAS), 0], 1);
    let cpu2 = Mpidr::kvm_default(2).0;
    m.call_expect(
        0,
        ids::SDEI_EVENT_REGISTER,
        &[u64::from(EV_RAS), CRITICAL_HANDLER, arg(9), 1, cpu2],
        0,
    );
    m.call_expect(0, ids::SDEI_EVENT_ENABLE, &[u64::from(EV_RAS)], 0);
    m.call_expect(
        0,
        ids::SDEI_EVENT_REGISTER,
        &[u64::from(EV_MIGRATED), HANDLER, arg(8), 0, 0],
        0,
    );
    m.call_expect(0, ids::SDEI_EVENT_ENABLE, &[u64::from(EV_MIGRATED)], 0);
    m.call_expect(1, ids::SDEI_EVENT_STATUS, &[u64::from(EV_WATCHDOG)], 3);
    for cpu in 0..4 {
        m.set_pc(cpu, IDLE);
    }
    m.ui.event(
        "guest",
        Style::Dim,
        &format!("the CPUs go idle (WFI in cpu_do_idle at {IDLE:#x})"),
    );
}

fn nmi_while_masked(m: &mut Machine<'_>) {
    m.ui.heading("5. A pseudo-NMI while the guest has interrupts masked");
    let stuck = 0xffff_8000_0834_5670;
    m.set(1, stuck, EL1H_MASKED, &[0xa0, 0xa1, 0xa2, 0xa3]);
    m.ui.event(
        "cpu1",
        Style::Dim,
        &format!(
            "spins in a lock at {stuck:#x} with PSTATE.DAIF all set: a hard lockup no IRQ can reach"
        ),
    );
    m.raise(EV_WATCHDOG, Some(1), "the watchdog fires");
    m.expect_entry(1, EV_WATCHDOG, HANDLER, arg(1), stuck, EL1H_MASKED);
    for n in 0..4u64 {
        m.call_expect(1, ids::SDEI_EVENT_CONTEXT, &[n], 0xa0 + n);
    }
    m.ui.event(
        "cpu1",
        Style::Dim,
        "the handler prints a backtrace; it interrupted EL1 with IRQs masked, so it completes with COMPLETE",
    );
    m.call(1, ids::SDEI_EVENT_COMPLETE, &[0]);
    m.ui.check_eq("cpu1 resumes at the interrupted PC", m.cpu(1).pc, stuck);
    m.ui.check_eq("with the interrupted PSTATE", m.cpu(1).pstate, EL1H_MASKED);
    m.ui.check_eq("and its x0", m.cpu(1).x[0], 0xa0);
}

fn critical_preempts_normal(m: &mut Machine<'_>) {
    m.ui.heading("6. A critical event preempts a normal handler");
    let user = 0x0000_aaaa_0000_1234;
    m.set(2, user, EL0T, &[0xb0, 0xb1, 0xb2, 0xb3]);
    m.cpus[2].vbar = VBAR;
    m.ui.event(
        "cpu2",
        Style::Dim,
        &format!("runs user space at {user:#x} (EL0, interrupts unmasked)"),
    );
    m.raise(EV_WATCHDOG, Some(2), "the watchdog fires on cpu2");
    m.expect_entry(2, EV_WATCHDOG, HANDLER, arg(2), user, EL0T);
    let inside = HANDLER + 0x40;
    m.set(2, inside, EL1H_MASKED, &[0xc0, 0xc1, 0xc2, 0xc3]);
    m.ui.event(
        "cpu2",
        Style::Dim,
        &format!("the normal handler runs, now at {inside:#x}"),
    );
    m.raise(
        EV_RAS,
        None,
        "a RAS error (shared, critical, routed to cpu2)",
    );
    m.expect_entry(2, EV_RAS, CRITICAL_HANDLER, arg(9), inside, EL1H_MASKED);
    m.call_expect(2, ids::SDEI_EVENT_CONTEXT, &[0], 0xc0);
    m.call_expect(2, ids::SDEI_EVENT_STATUS, &[u64::from(EV_WATCHDOG)], 7);
    m.call(2, ids::SDEI_EVENT_COMPLETE, &[0]);
    m.ui.check_eq("back in the normal handler at", m.cpu(2).pc, inside);
    m.ui.check_eq("with its x0", m.cpu(2).x[0], 0xc0);
    m.call_expect(2, ids::SDEI_EVENT_CONTEXT, &[0], 0xb0);
    m.ui.event(
        "cpu2",
        Style::Dim,
        "it interrupted EL0 with IRQs unmasked: Linux resumes through its IRQ vector",
    );
    m.call(2, ids::SDEI_EVENT_COMPLETE_AND_RESUME, &[IRQ_FROM_EL0]);
    m.ui.check_eq(
        "PC = VBAR_EL1 + 0x480 (IRQ from EL0)",
        m.cpu(2).pc,
        IRQ_FROM_EL0,
    );
    m.ui.check_eq("ELR_EL1 = the interrupted PC", m.cpu(2).elr, user);
    m.ui.check_eq("SPSR_EL1 = the interrupted PSTATE", m.cpu(2).spsr, EL0T);
    m.ui.check_eq(
        "PSTATE mode and DAIF: EL1h, masked",
        m.cpu(2).pstate & 0x3cf,
        EL1H_MASKED,
    );
    m.ui.check_eq("x0 restored", m.cpu(2).x[0], 0xb0);
}

fn stolen_time(m: &mut Machine<'_>) {
    m.ui.heading("7. Stolen time under contention");
    m.ui.event(
        "vmm",
        Style::Dim,
        "5 scheduler ticks of 4 ms; cpu2 and cpu3 share a host CPU with a noisy neighbour",
    );
    // A fixed contention pattern (runnable-but-waiting ns per tick and vCPU).
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for tick in 1..=5 {
        let mut parts = Vec::new();
        for cpu in 0..4usize {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let ns = if cpu >= 2 {
                1_000_000 + seed % 1_500_000
            } else {
                seed % 200_000
            };
            m.steal(cpu, ns);
            parts.push(format!("cpu{cpu} {:.3} ms", ns as f64 / 1e6));
        }
        m.ui.event(
            "vmm",
            Style::Vmm,
            &format!("tick {tick}: account_steal {}", parts.join(", ")),
        );
    }
    m.ui.event(
        "guest",
        Style::Dim,
        "each CPU reads its own record (one 64-bit load):",
    );
    for cpu in 0..4usize {
        let addr = ST_BASE + 64 * cpu as u64;
        let stolen = m.read(addr + 8, 8);
        let total = m.stolen_ns(cpu);
        m.ui.event(
            "guest",
            Style::Dim,
            &format!(
                "cpu{cpu} record at {addr:#x}: revision {} attributes {} stolen_time {stolen} ns",
                m.read(addr, 4),
                m.read(addr + 4, 4)
            ),
        );
        m.ui.check_qty(
            &format!("cpu{cpu}'s record equals the VMM's total (ns)"),
            stolen,
            total,
        );
    }
    let (low, high) = (
        m.stolen_ns(0).max(m.stolen_ns(1)),
        m.stolen_ns(2).min(m.stolen_ns(3)),
    );
    m.ui.check(
        high > low,
        "the contended vCPUs show more stolen time than the others",
    );
}

fn migrate(m: &mut Machine<'_>, source: &VmConfig) {
    m.ui.heading("8. Live migration in the middle of a handler");
    let user = 0x0000_aaaa_0000_5678;
    m.set(3, user, EL0T, &[0xd0, 0xd1, 0xd2, 0xd3]);
    m.cpus[3].vbar = VBAR;
    m.raise(EV_WATCHDOG, Some(3), "the watchdog fires on cpu3");
    m.expect_entry(3, EV_WATCHDOG, HANDLER, arg(3), user, EL0T);
    m.call_expect(3, ids::SDEI_EVENT_CONTEXT, &[0], 0xd0);
    m.set_pc(3, HANDLER + 0x20);
    let stolen_before: Vec<u64> = (0..4).map(|c| m.stolen_ns(c)).collect();
    m.ui.event(
        "vmm",
        Style::Vmm,
        "pauses every vCPU (cpu3 is inside its handler) and takes a snapshot",
    );
    let blob = match m.snapshot() {
        Some(b) => b,
        None => return,
    };
    let summary = fwcall::snapshot::inspect(&blob);
    m.ui.check(
        summary.is_ok(),
        &format!(
            "snapshot of {} bytes decodes (`fwcall snapshot inspect`)",
            blob.len()
        ),
    );
    m.ui.event(
        "vmm",
        Style::Vmm,
        &format!(
            "destination host: counter at {} instead of {}; guest RAM, the reserved region and vCPU registers copied",
            mhz(DEST_HZ),
            mhz(SOURCE_HZ)
        ),
    );
    let mut dest = source.clone();
    dest.pvtime.native_hz = DEST_HZ;
    m.restore(dest, &blob);
    let rec = m.lpt();
    m.ui.check_qty(
        "LPT republished: sequence_number 2 -> 4",
        rec.sequence_number.get(),
        4,
    );
    m.ui.check_qty(
        "LPT native_freq is the destination's (Hz)",
        u64::from(rec.native_freq.get()),
        u64::from(DEST_HZ),
    );
    m.ui.check_qty(
        "LPT pv_freq unchanged (Hz)",
        u64::from(rec.pv_freq.get()),
        u64::from(PV_HZ),
    );
    m.ui.check_eq(
        "scale_mult = 40 * 2^58 (25 MHz -> 1 GHz)",
        rec.scale_mult.get(),
        40 << 58,
    );
    let one_second = m.guest_counter(u64::from(DEST_HZ));
    m.ui.check_qty(
        "1 s of the new host's ticks still reads as 1 s of guest ticks",
        one_second,
        u64::from(PV_HZ),
    );
    for (cpu, before) in stolen_before.iter().enumerate() {
        let now = m.read(ST_BASE + 64 * cpu as u64 + 8, 8);
        m.ui.check_qty(
            &format!("cpu{cpu}'s stolen_time survived (ns)"),
            now,
            *before,
        );
    }
    m.ui.event("cpu3", Style::Dim, "resumes its handler on the destination");
    m.call_expect(3, ids::SDEI_EVENT_CONTEXT, &[0], 0xd0);
    m.call(3, ids::SDEI_EVENT_COMPLETE_AND_RESUME, &[IRQ_FROM_EL0]);
    m.ui.check_eq(
        "cpu3 leaves the handler through its IRQ vector",
        m.cpu(3).pc,
        IRQ_FROM_EL0,
    );
    m.ui.check_eq(
        "ELR_EL1 = where user space was interrupted",
        m.cpu(3).elr,
        user,
    );
    m.steal(2, 250_000);
    m.ui.check_qty(
        "stolen time keeps counting on the destination (ns)",
        m.read(ST_BASE + 64 * 2 + 8, 8),
        stolen_before[2] + 250_000,
    );
    let taker = m.raise(
        EV_MIGRATED,
        None,
        "tells the guest it moved (migration notice, shared, RM_ANY)",
    );
    m.ui.check(
        taker.is_some(),
        "the migration notice was entered on some vCPU",
    );
    if let Some(cpu) = taker {
        m.ui.check_eq(
            "x0 = the migration event",
            m.cpu(cpu).x[0],
            u64::from(EV_MIGRATED),
        );
        m.call_expect(cpu, ids::PV_TIME_LPT, &[], LPT_IPA);
        m.call(cpu, ids::SDEI_EVENT_COMPLETE, &[0]);
        m.ui.check(m.cpu(cpu).pc != HANDLER, "the notice handler completed");
    }
}

fn mhz(hz: u32) -> String {
    if hz.is_multiple_of(1_000_000_000) {
        format!("{} GHz", hz / 1_000_000_000)
    } else {
        format!("{} MHz", f64::from(hz) / 1e6)
    }
}

/// What `LptRecord::read` and [`guest_read_pv`] need, re-exported for the machine.
pub(crate) fn read_lpt(mem: &SimMemory) -> Option<LptRecord> {
    LptRecord::read(mem, Gpa(LPT_IPA)).ok()
}

pub(crate) fn guest_pv(mem: &SimMemory, native: u64) -> Option<u64> {
    guest_read_pv(mem, Gpa(LPT_IPA), || native, 3)
}

/// `fwcall demo [--record FILE]`: runs the demo on `out`; with a file,
/// records the session there and replays the recording. Returns the exit
/// status: 0 when every check held (and the recording replayed), else 1.
pub fn cli(record: Option<&std::path::Path>, colour: bool, out: &mut dyn Write) -> i32 {
    let sink: Option<Box<dyn Write>> = match record {
        None => None,
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(Box::new(std::io::BufWriter::new(f))),
            Err(e) => {
                let _ = writeln!(out, "error: cannot create {}: {e}", p.display());
                return 1;
            }
        },
    };
    let result = run(out, colour, sink);
    let mut code = result.exit_code();
    if let Some(p) = record {
        let _ = writeln!(
            out,
            "\nRecorded the session as an fwtrace in {}; replaying it:",
            p.display()
        );
        let args = crate::cli::ReplayArgs {
            files: vec![p.to_path_buf()],
            ..Default::default()
        };
        let replayed =
            crate::cli::replay_files::<fwcall_conformance::target_fwcall::FwcallTarget>(&args, out);
        code = code.max(i32::from(replayed != 0));
    }
    code
}
