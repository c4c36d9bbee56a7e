//! What a vCPU thread does around the run loop, on any host: statistics
//! and logs of served calls and deliveries, the MMIO devices, and the
//! stolen-time source. The loop itself is in `vcpu.rs` (and, word for
//! word, in fwcall's `examples/kvm_run_loop.rs` on a fake vCPU).

use std::io::Write;
use std::sync::Mutex;

use fwcall::kvm::{HypercallExit, KvmVcpu};
use fwcall::pvtime::schedstat::RunDelay;
use fwcall::{Delivery, GuestMemoryAccess, Outcome};

use crate::layout::{UART_BASE, UART_SIZE};
use crate::stats::Stats;
use crate::uart::Uart;

/// Counts and logs a served call (`fwcall-report`, `fwcall-sdei-error`,
/// `fwcall-steal`).
pub fn served<M: GuestMemoryAccess>(
    stats: &Stats,
    me: &KvmVcpu<'_, M>,
    exit: HypercallExit,
    out: &Outcome,
) {
    stats.call(exit.fid());
    let x0 = match &out.reply {
        fwcall::Reply::Return { regs: r, .. } => Some(r[0]),
        _ => None,
    };
    if let Some(x0) = x0 {
        log_result(stats, me, exit.fid(), x0);
    }
    log_power(me, exit.fid(), x0, out);
}

/// Logs every PSCI call that changes power (`fwcall-psci`): `CPU_ON` with
/// its target, `CPU_OFF`, `SYSTEM_OFF`, `SYSTEM_RESET`, `SYSTEM_RESET2`.
fn log_power<M: GuestMemoryAccess>(
    me: &KvmVcpu<'_, M>,
    fid: fwcall::FunctionId,
    x0: Option<u64>,
    out: &Outcome,
) {
    use fwcall::ids;
    let fid = fid.without_sve_hint();
    let power = [
        ids::PSCI_CPU_ON,
        ids::PSCI_CPU_ON_64,
        ids::PSCI_CPU_OFF,
        ids::PSCI_SYSTEM_OFF,
        ids::PSCI_SYSTEM_RESET,
        ids::PSCI_SYSTEM_RESET2,
        ids::PSCI_SYSTEM_RESET2_64,
    ];
    if !power.contains(&fid) {
        return;
    }
    let target = match out.power {
        Some(fwcall::PowerAction::CpuOn(s)) => format!(" target={}", s.target.0),
        _ => String::new(),
    };
    let result = x0.map_or_else(|| "none".to_string(), |x| (x as i64).to_string());
    let line = format!(
        "fwcall-psci vcpu={} call={}{target} result={result}\n",
        me.index().0,
        ids::name(fid).unwrap_or("?"),
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Counts an SDEI handler entry.
pub fn delivered(stats: &Stats, d: &Delivery) {
    stats.delivered(d.event);
}

/// Logs what the end-to-end checks read: every SDEI call answered with an
/// error code, and each vCPU's stolen time when its guest asks for the
/// record. Each line is one write, so guest console output cannot land
/// inside it.
fn log_result<M: GuestMemoryAccess>(
    stats: &Stats,
    me: &KvmVcpu<'_, M>,
    fid: fwcall::FunctionId,
    x0: u64,
) {
    use fwcall::ids;
    let fid = fid.without_sve_hint();
    let sdei = ids::SDEI_RANGE_START.raw()..ids::SDEI_RANGE_START.raw() + ids::SDEI_RANGE_LEN;
    let in_sdei = sdei.contains(&fid.raw()) || sdei.contains(&fid.alias().raw());
    // EVENT_CONTEXT returns a saved register (kernel addresses look
    // negative), not a status.
    let status = fid != ids::SDEI_EVENT_CONTEXT && fid != ids::SDEI_EVENT_CONTEXT.alias();
    if in_sdei && status && fwcall::sdei::SdeiError::try_from(x0).is_ok() {
        stats.sdei_error();
        let line = format!(
            "fwcall-sdei-error vcpu={} call={} result={}\n",
            me.index().0,
            fid,
            x0 as i64
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    if fid == ids::PV_TIME_ST {
        let line = format!(
            "fwcall-steal vcpu={} stolen-ns={}\n",
            me.index().0,
            me.vcpu().stolen_ns()
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// The stolen-time source of one vCPU thread: its schedstat run delay,
/// read with one `pread` per round (see `fwcall::pvtime::schedstat`). A
/// host without scheduler statistics gives 0, said once.
#[derive(Debug)]
pub struct Steal {
    reader: Option<RunDelay>,
}

impl Steal {
    /// Opens the calling thread's statistics: call it on the vCPU thread.
    pub fn for_this_thread() -> Self {
        let reader = match RunDelay::open() {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("fwcall-refvmm: no stolen time on this thread: {e}");
                None
            }
        };
        Steal { reader }
    }

    /// The run delay since the last call, in ns.
    pub fn take_ns(&mut self) -> u64 {
        let Some(r) = self.reader.as_mut() else {
            return 0;
        };
        match r.take_ns() {
            Ok(ns) => ns,
            Err(e) => {
                eprintln!("fwcall-refvmm: stolen time off: {e}");
                self.reader = None;
                0
            }
        }
    }
}

/// The MMIO devices: the UART, and nothing else (reads of any other
/// address see zeros, writes are dropped).
#[derive(Debug)]
pub struct Devices<W> {
    uart: Mutex<Uart<W>>,
}

impl<W: Write> Devices<W> {
    /// Devices with the console going to `out`.
    pub fn new(out: W) -> Self {
        Devices {
            uart: Mutex::new(Uart::new(out)),
        }
    }

    /// An MMIO read of `data.len()` bytes at `addr`.
    pub fn read(&self, addr: u64, data: &mut [u8]) {
        data.fill(0);
        if let (Some(off), Some(first)) = (uart_offset(addr), data.first_mut())
            && let Ok(u) = self.uart.lock()
        {
            *first = u.read(off);
        }
    }

    /// An MMIO write at `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) {
        if let (Some(off), Some(byte)) = (uart_offset(addr), data.first())
            && let Ok(mut u) = self.uart.lock()
        {
            u.write(off, *byte);
        }
    }

    /// The UART (for tests).
    pub fn uart(&self) -> &Mutex<Uart<W>> {
        &self.uart
    }
}

fn uart_offset(addr: u64) -> Option<u64> {
    addr.checked_sub(UART_BASE).filter(|o| *o < UART_SIZE)
}
