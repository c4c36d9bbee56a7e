//! What a vCPU thread does with each exit, written against fwcall's
//! register trait so the same code runs on KVM and, in tests, on a plain
//! register file.

use std::io::Write;
use std::sync::Mutex;

use fwcall::kvm::{HypercallExit, KvmVcpu, RegisterError, VcpuRegisters};
use fwcall::{GuestMemoryAccess, Kicks};

use crate::layout::{UART_BASE, UART_SIZE};
use crate::stats::Stats;
use crate::uart::Uart;

/// The exit handling of one vCPU.
#[derive(Debug)]
pub struct VcpuExits<'a, M> {
    me: KvmVcpu<'a, M>,
    stats: &'a Stats,
}

impl<'a, M: GuestMemoryAccess> VcpuExits<'a, M> {
    /// Exit handling for the vCPU `me` adapts.
    pub fn new(me: KvmVcpu<'a, M>, stats: &'a Stats) -> Self {
        VcpuExits { me, stats }
    }

    /// The adapter.
    pub fn vcpu(&self) -> &KvmVcpu<'a, M> {
        &self.me
    }

    /// `KVM_EXIT_HYPERCALL`: every forwarded call goes to fwcall. Returns
    /// the other vCPUs to kick.
    pub fn hypercall<R: VcpuRegisters>(
        &self,
        exit: HypercallExit,
        regs: &mut R,
    ) -> Result<Kicks, RegisterError<R::Error>> {
        self.stats.call(exit.fid());
        let out = self.me.serve(exit, regs)?;
        if let fwcall::Reply::Return { regs: r, .. } = &out.reply {
            self.log_result(exit.fid(), r[0]);
        }
        Ok(out.kicks)
    }

    /// Logs what the end-to-end checks read: every SDEI call answered with
    /// an error code, and each vCPU's stolen time when its guest asks for
    /// the record. Each line is one write, so guest console output cannot
    /// land inside it.
    fn log_result(&self, fid: fwcall::FunctionId, x0: u64) {
        use fwcall::ids;
        let fid = fid.without_sve_hint();
        let sdei = ids::SDEI_RANGE_START.raw()..ids::SDEI_RANGE_START.raw() + ids::SDEI_RANGE_LEN;
        let in_sdei = sdei.contains(&fid.raw()) || sdei.contains(&fid.alias().raw());
        // EVENT_CONTEXT returns a saved register (kernel addresses look
        // negative), not a status.
        let status = fid != ids::SDEI_EVENT_CONTEXT && fid != ids::SDEI_EVENT_CONTEXT.alias();
        if in_sdei && status && fwcall::sdei::SdeiError::try_from(x0).is_ok() {
            self.stats.sdei_error();
            let line = format!(
                "fwcall-sdei-error vcpu={} call={} result={}\n",
                self.me.index().0,
                fid,
                x0 as i64
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        if fid == ids::PV_TIME_ST {
            let line = format!(
                "fwcall-steal vcpu={} stolen-ns={}\n",
                self.me.index().0,
                self.me.vcpu().stolen_ns()
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    /// Before each `KVM_RUN`: enter a pending SDEI handler, if any.
    /// Returns the vCPUs to kick.
    pub fn before_run<R: VcpuRegisters>(
        &self,
        regs: &mut R,
    ) -> Result<Kicks, RegisterError<R::Error>> {
        match self.me.deliver_pending(regs)? {
            Some(d) => {
                self.stats.delivered(d.event);
                Ok(d.kicks)
            }
            None => Ok(Kicks::none()),
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
