//! The run loop of a KVM VMM that embeds fwcall, on a fake vCPU that
//! behaves like KVM/arm64 (`fwcall::kvm::fake`), so it runs on any host.
//!
//! The loop between the `run-loop` markers is, word for word, the loop of
//! the reference VMM (`refvmm/src/vcpu.rs`, on a real `VcpuFd`) and of the
//! README; a test keeps the three the same. Around it, a few lines stand in
//! for the VMM: its devices, its statistics and kicks, its stop flag.
//!
//! The guest registers an SDEI event, then reads a device whose read makes
//! the VMM raise that event (a watchdog about to bite). KVM finishes that
//! MMIO load only inside the next `KVM_RUN`; the loop's first step makes
//! that run before the event is entered, so the handler starts at its first
//! instruction and completes back to the instruction after the load, with
//! the loaded value in its register.

use std::cell::{Cell, RefCell};
use std::fmt::Display;

use fwcall::kvm::fake::{FakeVcpu, GuestOp};
use fwcall::kvm::{
    Exit, HypercallExit, KvmVcpu, RegisterFile, Runner, SystemEnd, kick_targets, vm_config,
};
use fwcall::{Delivery, EventDecl, EventKind, NoMemory, Outcome, Priority, VcpuIndex, Vm, ids};

const WATCHDOG: u32 = 0x100;
const WATCHDOG_MMIO: u64 = 0x0a00_0000;
const HANDLER: u64 = 0xffff_8000_0010_0000;
const BOOT_PC: u64 = 0xffff_8000_0800_0000;
const KVM_SYSTEM_EVENT_SHUTDOWN: u32 = 1;
const KVM_SYSTEM_EVENT_RESET: u32 = 2;

/// A failure, with what was being done.
#[derive(Debug)]
struct VmmError(String);

impl Display for VmmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn ctx<T, E: Display>(r: Result<T, E>, what: &str) -> Result<T, VmmError> {
    r.map_err(|e| VmmError(format!("{what}: {e}")))
}

/// Why `run_until_pause` returned.
#[derive(Debug, PartialEq)]
enum Step {
    Pause,
    End(End),
}

#[derive(Debug, PartialEq)]
enum End {
    PowerOff,
    Reset,
}

impl From<SystemEnd> for End {
    fn from(e: SystemEnd) -> Self {
        match e {
            SystemEnd::Off => End::PowerOff,
            SystemEnd::Reset(_) => End::Reset,
        }
    }
}

fn end_of(kind: u32) -> Result<End, VmmError> {
    match kind {
        KVM_SYSTEM_EVENT_SHUTDOWN => Ok(End::PowerOff),
        KVM_SYSTEM_EVENT_RESET => Ok(End::Reset),
        other => Err(VmmError(format!("system event {other}"))),
    }
}

/// The watchdog: reading it past its deadline raises the SDEI event.
struct Devices<'a> {
    vm: &'a Vm<NoMemory>,
}

impl Devices<'_> {
    fn read(&self, addr: u64, data: &mut [u8]) {
        data.fill(0);
        if addr == WATCHDOG_MMIO {
            data[0] = 0x42; // "expired"
            // Another thread would kick the vCPU it names; here it is us.
            let _kicks = self.vm.raise(WATCHDOG, Some(VcpuIndex(0)));
        }
    }

    fn write(&self, _addr: u64, _data: &[u8]) {}
}

/// What the VMM keeps around its vCPU threads.
struct Machine<'a> {
    vm: &'a Vm<NoMemory>,
    devices: Devices<'a>,
    stop: Cell<bool>,
    log: RefCell<Vec<String>>,
}

impl Machine<'_> {
    fn stop_or_pause(&self) -> Option<Step> {
        self.stop.get().then_some(Step::Pause)
    }

    fn kick_for(&self, kicks: &fwcall::Kicks, me: VcpuIndex) {
        for v in kick_targets(kicks, Some(me), self.vm.vcpu_count()) {
            self.log.borrow_mut().push(format!("kick {v}"));
        }
    }

    fn delivered(&self, me: &KvmVcpu<'_, NoMemory>, d: &Delivery) {
        self.log
            .borrow_mut()
            .push(format!("{}: entered event {:#x}", me.index(), d.event));
        self.kick_for(&d.kicks, me.index());
    }

    fn served(&self, me: &KvmVcpu<'_, NoMemory>, h: HypercallExit, out: &Outcome) {
        let name = ids::name(h.fid()).unwrap_or("?");
        self.log
            .borrow_mut()
            .push(format!("{}: {name}", me.index()));
        self.kick_for(&out.kicks, me.index());
    }
}

/// The stolen-time source (refvmm reads schedstat with one `pread`).
struct Steal;

impl Steal {
    fn take_ns(&mut self) -> u64 {
        1_000
    }
}

fn run_until_pause(
    m: &Machine<'_>,
    me: &KvmVcpu<'_, NoMemory>,
    runner: &mut Runner<FakeVcpu<'_>>,
    steal: &mut Steal,
) -> Result<Step, VmmError> {
    // run-loop: begin
    loop {
        // 1. Settle what the vCPU is owed (KVM completes an MMIO access only
        //    inside the next KVM_RUN), then clear immediate_exit: from here
        //    on a kick makes the next KVM_RUN return at once.
        let prepared = ctx(runner.prepare(me), "completing the last exit")?;
        if let Some(step) = m.stop_or_pause() {
            return Ok(step); // nothing is owed: the vCPU's state is final
        }
        // 2. Stolen time, then 3. the SDEI handler entry, in this order.
        let ready = ctx(prepared.deliver(|| steal.take_ns()), "delivering")?;
        if let Some(d) = ready.delivery() {
            m.delivered(me, d);
        }
        // 4. KVM_RUN.
        match ctx(ready.run(), "KVM_RUN")? {
            Exit::Hypercall(h) => {
                let out = ctx(runner.serve(me, h), "serving a firmware call")?;
                m.served(me, h, &out);
                if let Some(end) = SystemEnd::of(&out) {
                    return Ok(Step::End(end.into())); // PSCI SYSTEM_OFF/RESET
                }
            }
            Exit::MmioRead { addr, data } => m.devices.read(addr, data),
            Exit::MmioWrite { addr, data } => m.devices.write(addr, data),
            Exit::SystemEvent { kind, .. } => return Ok(Step::End(end_of(kind)?)),
            Exit::Interrupted => {} // kicked: the next round delivers
            Exit::Other(other) => {
                return Err(VmmError(format!("{}: exit {other:?}", me.index())));
            }
        }
    }
    // run-loop: end
}

fn main() {
    let mut config = vm_config(1);
    if let Some(sdei) = config.sdei.as_mut() {
        sdei.events.push(EventDecl {
            number: WATCHDOG,
            kind: EventKind::Private,
            priority: Priority::Critical,
        });
    }
    let vm = Vm::new(config, NoMemory).expect("config");
    let e = u64::from(WATCHDOG);
    let load_pc = BOOT_PC + 3 * 4;
    let guest = [
        GuestOp::hvc(ids::SDEI_EVENT_REGISTER, &[e, HANDLER, 0xfeed, 0, 0]),
        GuestOp::hvc(ids::SDEI_EVENT_ENABLE, &[e]),
        GuestOp::hvc(ids::SDEI_PE_UNMASK, &[]),
        // At load_pc: LDR X5, [watchdog].
        GuestOp::Load {
            addr: WATCHDOG_MMIO,
            rt: 5,
            len: 4,
        },
        // The handler.
        GuestOp::hvc(ids::SDEI_EVENT_COMPLETE, &[0]),
        GuestOp::SystemEvent(KVM_SYSTEM_EVENT_SHUTDOWN),
    ];
    let regs = RegisterFile {
        pc: BOOT_PC,
        pstate: 0x3c5,
        ..Default::default()
    };
    let mut runner = Runner::new(FakeVcpu::new(regs, guest));
    let m = Machine {
        vm: &vm,
        devices: Devices { vm: &vm },
        stop: Cell::new(false),
        log: RefCell::new(Vec::new()),
    };
    let me = KvmVcpu::new(&vm, VcpuIndex(0)).expect("vcpu 0");
    let step = run_until_pause(&m, &me, &mut runner, &mut Steal).unwrap_or_else(|e| panic!("{e}"));

    let fake = runner.vcpu();
    assert_eq!(step, Step::End(End::PowerOff));
    assert!(
        fake.entries.contains(&HANDLER),
        "the handler ran from its first instruction: {:x?}",
        fake.entries
    );
    assert!(!fake.entries.contains(&(HANDLER + 4)));
    assert_eq!(fake.regs.pc, load_pc + 4, "resumed after the load");
    assert_eq!(fake.regs.x[5], 0x42, "with the loaded value");
    let t = runner.traffic();
    assert_eq!(t.completion_runs, 1);
    assert!(t.call_reads + t.call_writes <= t.call_budget);
    for line in m.log.borrow().iter() {
        println!("{line}");
    }
    println!(
        "{} calls: {} register reads, {} writes (budget {}); {} delivery: {} reads, {} writes; {} completion run",
        t.calls,
        t.call_reads,
        t.call_writes,
        t.call_budget,
        t.deliveries,
        t.delivery_reads,
        t.delivery_writes,
        t.completion_runs
    );
}
