//! The trace recorder: whatever a VMM does through `RecordingVm`, the
//! recording replays with `fwcall replay` and passes.

use fwcall::{
    Call, Conduit, EventDecl, EventKind, FunctionId, Gpa, Interrupted, Kicks, LptConfig,
    MemoryRegion, Priority, SdeiConfig, VcpuIndex, Vm, VmConfig, ids,
};
use fwcall_conformance::config::MemRegion;
use fwcall_conformance::recorder::RecordingVm;
use fwcall_conformance::target_fwcall::FwcallTarget;
use fwcall_conformance::vcpu::SimVcpu;
use fwcall_conformance::{RunOptions, SimMemory, Verdict, replay};
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

const RAM: MemRegion = MemRegion {
    base: 0x4000_0000,
    size: 0x1000_0000,
};
const PV: MemRegion = MemRegion {
    base: 0x0a10_0000,
    size: 0x1_0000,
};

/// A writer the test can read back after the recorder took it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn replays(trace: &str) {
    let r = replay::<FwcallTarget>("recorded.fwt", trace.as_bytes(), RunOptions::default());
    assert_eq!(
        r.verdict,
        Verdict::Pass,
        "the recording does not replay:\n{trace}"
    );
}

fn config(vcpus: u32) -> VmConfig {
    let mut c = VmConfig::new(vcpus);
    c.ram = vec![MemoryRegion::new(RAM.base, RAM.size)];
    c.reserved = vec![MemoryRegion::new(PV.base, PV.size)];
    c.pvtime.stolen_time_base = Some(Gpa(PV.base));
    c.pvtime.lpt = Some(LptConfig {
        ipa: Gpa(PV.base + 0xf000),
        pv_hz: 1_000_000_000,
    });
    c.sdei = Some(SdeiConfig {
        events: vec![
            EventDecl {
                number: 0x10,
                kind: EventKind::Private,
                priority: Priority::Normal,
            },
            EventDecl {
                number: 0x11,
                kind: EventKind::Private,
                priority: Priority::Critical,
            },
            EventDecl {
                number: 0x20,
                kind: EventKind::Shared,
                priority: Priority::Normal,
            },
        ],
        ..SdeiConfig::default()
    });
    c
}

/// A minimal VMM around a `RecordingVm`: register files, and the delivery
/// step fwcall's contract asks for (the served vCPU, then kicked ones).
struct Vmm {
    vm: RecordingVm<Arc<SimMemory>, Shared>,
    mem: Arc<SimMemory>,
    cpus: Vec<SimVcpu>,
}

impl Vmm {
    fn new(config: VmConfig, out: Shared) -> Vmm {
        let mem = Arc::new(SimMemory::new(vec![RAM, PV]));
        let vm = Vm::new(config, mem.clone()).unwrap();
        vm.start().unwrap();
        let n = vm.vcpu_count() as u32;
        Vmm {
            vm: RecordingVm::new(vm, out),
            mem,
            cpus: (0..n).map(SimVcpu::new).collect(),
        }
    }

    fn call(&mut self, i: usize, fid: FunctionId, args: &[u64], conduit: Conduit) {
        let c = &mut self.cpus[i];
        c.x[0] = u64::from(fid.raw());
        c.x[1..=args.len()].copy_from_slice(args);
        let call = Call {
            x: c.call_regs(),
            conduit,
        };
        let out = self.vm.handle(VcpuIndex(i as u32), &call).unwrap();
        c.apply(&out.reply);
        let caller_pstate = c.pstate;
        match out.power {
            // The VMM starts the target as PSCI says a PE starts.
            Some(fwcall::PowerAction::CpuOn(start)) => {
                let t = &mut self.cpus[start.target.get()];
                t.x = [0; 31];
                t.x[0] = start.context_id;
                t.pc = start.entry;
                t.pstate = start.pstate(caller_pstate);
            }
            // It resets the whole VM: fwcall's state and every register.
            Some(fwcall::PowerAction::SystemReset(_)) => {
                self.vm.reset_vm();
                let n = self.cpus.len() as u32;
                self.cpus = (0..n).map(SimVcpu::new).collect();
                return;
            }
            _ => {}
        }
        self.step(Some(i), &out.kicks);
    }

    fn step(&mut self, concerned: Option<usize>, kicks: &Kicks) {
        let n = self.cpus.len();
        let mut queue: BTreeSet<usize> = if kicks.all() {
            (0..n).collect()
        } else {
            kicks.ids().iter().map(|v| v.get()).collect()
        };
        let mut seen = vec![false; n];
        let mut next = concerned;
        while let Some(i) = next.take().or_else(|| queue.pop_first()) {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let v = VcpuIndex(i as u32);
            if !self.vm.has_pending_delivery(v) {
                continue;
            }
            let c = &mut self.cpus[i];
            let now = Interrupted {
                x: c.call_regs(),
                pc: c.pc,
                pstate: c.pstate,
                sctlr_el1: c.sctlr,
            };
            if let Some(d) = self.vm.take_delivery(v, &now) {
                c.x[..4].copy_from_slice(&d.x);
                c.pc = d.pc;
                c.pstate = d.pstate;
                if d.kicks.all() {
                    queue.extend(0..n);
                }
                queue.extend(d.kicks.ids().iter().map(|v| v.get()));
            }
        }
    }

    fn raise(&mut self, event: u32, cpu: Option<usize>) {
        if let Ok(k) = self.vm.raise(event, cpu.map(|c| VcpuIndex(c as u32))) {
            self.step(cpu, &k);
        }
    }
}

/// A tiny deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One random session: calls the Linux client makes (and some it does
/// not), raises, interrupts, steal, vCPU resets, guest progress between
/// exits, snapshots and restores onto hosts with other counters.
fn random_session(seed: u64, ops: usize) -> String {
    let out = Shared::default();
    let mut vmm = Vmm::new(config(3), out.clone());
    let mut rng = Rng(seed | 1);
    let events = [0u64, 0x10, 0x11, 0x20, 0x99];
    let mut last_blob = None;
    // Start from what a Linux guest sets up, so events get delivered.
    for cpu in 0..3 {
        for ev in [0, 0x10, 0x11] {
            vmm.call(
                cpu,
                ids::SDEI_EVENT_REGISTER,
                &[ev, 0xffff_8000_0800_0000 + 0x100 * ev, ev, 0, 0],
                Conduit::Hvc,
            );
            vmm.call(cpu, ids::SDEI_EVENT_ENABLE, &[ev], Conduit::Hvc);
        }
        vmm.call(cpu, ids::SDEI_PE_UNMASK, &[], Conduit::Hvc);
    }
    vmm.call(
        0,
        ids::SDEI_EVENT_REGISTER,
        &[0x20, 0xffff_8000_0800_2000, 0x20, 0, 0],
        Conduit::Hvc,
    );
    vmm.call(0, ids::SDEI_EVENT_ENABLE, &[0x20], Conduit::Hvc);
    for _ in 0..ops {
        let cpu = rng.below(3) as usize;
        let ev = events[rng.below(events.len() as u64) as usize];
        let conduit = if rng.below(8) == 0 {
            Conduit::Smc
        } else {
            Conduit::Hvc
        };
        match rng.below(26) {
            0 | 1 => vmm.call(
                cpu,
                ids::SDEI_EVENT_REGISTER,
                &[
                    ev,
                    0xffff_8000_0800_0000 + 0x100 * ev,
                    rng.next(),
                    rng.below(2),
                    0x8000_0000 + rng.below(3),
                ],
                conduit,
            ),
            2 | 3 => vmm.call(cpu, ids::SDEI_EVENT_ENABLE, &[ev], conduit),
            4 => vmm.call(cpu, ids::SDEI_EVENT_DISABLE, &[ev], conduit),
            5 => vmm.call(cpu, ids::SDEI_EVENT_UNREGISTER, &[ev], conduit),
            6 => vmm.call(cpu, ids::SDEI_PE_UNMASK, &[], conduit),
            7 if rng.below(3) == 0 => vmm.call(cpu, ids::SDEI_PE_MASK, &[], conduit),
            8 => vmm.call(cpu, ids::SDEI_EVENT_CONTEXT, &[rng.below(20)], conduit),
            9 => vmm.call(cpu, ids::SDEI_EVENT_COMPLETE, &[rng.below(2)], conduit),
            10 => vmm.call(
                cpu,
                ids::SDEI_EVENT_COMPLETE_AND_RESUME,
                &[0xffff_8000_0801_0280],
                conduit,
            ),
            11 => vmm.call(
                cpu,
                ids::SDEI_EVENT_SIGNAL,
                &[0, 0x8000_0000 + rng.below(3)],
                conduit,
            ),
            12 => vmm.call(cpu, ids::PV_TIME_ST, &[], conduit),
            13 => {
                let ns = rng.below(1_000_000);
                let _ = vmm.vm.account_steal(VcpuIndex(cpu as u32), ns);
                vmm.step(Some(cpu), &Kicks::none());
            }
            14 | 24 | 25 => vmm.raise(ev as u32, Some(cpu)),
            15 | 20..=23 => {
                // The guest ran: new PC, PSTATE and scratch registers.
                let c = &mut vmm.cpus[cpu];
                c.pc = 0xffff_8000_0900_0000 + rng.below(0x1000) * 4;
                c.pstate = [0x3c5, 0x5, 0x0, 0x6000_03c5][rng.below(4) as usize];
                c.x[rng.below(18) as usize] = rng.next();
                c.sctlr = if rng.below(2) == 0 { 0x80_0000 } else { 0 };
            }
            16 => {
                let k = vmm.vm.reset(VcpuIndex(cpu as u32)).unwrap();
                let mpidr = vmm.cpus[cpu].mpidr;
                vmm.cpus[cpu] = SimVcpu::new(cpu as u32);
                vmm.cpus[cpu].mpidr = mpidr;
                vmm.step(Some(cpu), &k);
            }
            17 => last_blob = vmm.vm.snapshot().ok(),
            18 => {
                if let Some(blob) = &last_blob {
                    let mut dest = config(3);
                    dest.pvtime.native_hz =
                        [25_000_000, 62_500_000, 100_000_000][rng.below(3) as usize];
                    let mem = Arc::new(vmm.mem.with_regions(vmm.mem.regions().to_vec()));
                    if vmm.vm.restore(dest, mem.clone(), blob).is_ok() {
                        vmm.mem = mem;
                        let mut all = Kicks::none();
                        (0..3).for_each(|i| all.add(VcpuIndex(i)));
                        vmm.step(None, &all);
                    }
                }
            }
            _ => vmm.call(cpu, ids::SDEI_EVENT_STATUS, &[ev], conduit),
        }
    }
    let (_, _) = vmm.vm.finish().unwrap();
    out.text()
}

#[test]
fn random_sessions_replay() {
    let (mut delivered, mut restored, mut sets) = (0, 0, 0);
    for seed in 1..=40u64 {
        let trace = random_session(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 120);
        let r = replay::<FwcallTarget>("random.fwt", trace.as_bytes(), RunOptions::default());
        assert_eq!(r.verdict, Verdict::Pass, "seed {seed}:\n{trace}");
        delivered += trace.matches("\ndelivered ").count();
        restored += trace.matches("\nrestore ").count();
        sets += trace.matches("\nset ").count();
    }
    // The sessions did exercise what makes recording hard.
    assert!(
        delivered >= 20 && restored >= 5 && sets >= 20,
        "{delivered} deliveries, {restored} restores, {sets} sets"
    );
}

#[test]
fn a_delivery_after_the_guest_moved_on_sets_its_registers_before_the_kicking_directive() {
    let out = Shared::default();
    let mut vmm = Vmm::new(config(2), out.clone());
    vmm.call(
        1,
        ids::SDEI_EVENT_REGISTER,
        &[0, 0x1000, 0x77, 0, 0],
        Conduit::Hvc,
    );
    vmm.call(1, ids::SDEI_EVENT_ENABLE, &[0], Conduit::Hvc);
    vmm.call(1, ids::SDEI_PE_UNMASK, &[], Conduit::Hvc);
    // vCPU 1 runs on; when vCPU 0 signals it, it exits somewhere else.
    vmm.cpus[1].pc = 0xffff_8000_0123_4560;
    vmm.cpus[1].x[5] = 0x55;
    vmm.call(0, ids::SDEI_EVENT_SIGNAL, &[0, 0x8000_0001], Conduit::Hvc);
    assert_eq!(vmm.cpus[1].pc, 0x1000, "vCPU 1 entered the handler");
    vmm.call(1, ids::SDEI_EVENT_COMPLETE, &[0], Conduit::Hvc);
    vmm.vm.finish().unwrap();
    let t = out.text();
    let set = t.find("set 1 x5=0x55 pc=0xffff800001234560").expect(&t);
    let signal = t.find("call 0 0xc400002f 0 0x80000001 -> 0").expect(&t);
    let delivered = t.find("delivered 1 0").expect(&t);
    assert!(set < signal && signal < delivered, "{t}");
    assert!(t.contains("expect 1 pc=0xffff800001234560"), "{t}");
    replays(&t);
}

#[test]
fn steal_is_recorded_with_a_check_of_the_guest_record() {
    let out = Shared::default();
    let mut vmm = Vmm::new(config(2), out.clone());
    let _ = vmm.vm.account_steal(VcpuIndex(1), 500);
    vmm.call(1, ids::PV_TIME_ST, &[], Conduit::Hvc);
    let _ = vmm.vm.account_steal(VcpuIndex(1), 250);
    vmm.vm.finish().unwrap();
    let t = out.text();
    assert!(
        t.contains(
            "steal 1 500\ncall 1 0xc5000021 -> 0xa100040\nsteal 1 250\nmem 0xa100048 u64 == 0x2ee\n"
        ),
        "{t}"
    );
    replays(&t);
}

#[test]
fn restores_are_recorded_with_the_destination_differences() {
    let out = Shared::default();
    let mut vmm = Vmm::new(config(2), out.clone());
    let blob = vmm.vm.snapshot().unwrap();
    let mem = Arc::new(vmm.mem.with_regions(vmm.mem.regions().to_vec()));
    assert!(vmm.vm.restore(config(3), mem.clone(), &blob).is_err());
    let mut dest = config(2);
    dest.pvtime.native_hz = 25_000_000;
    vmm.vm.restore(dest, mem, &blob).unwrap();
    vmm.vm.finish().unwrap();
    let t = out.text();
    assert!(t.contains("\nsnapshot snap0\n"), "{t}");
    assert!(t.contains("\nrestore snap0 vcpus=3 -> error"), "{t}");
    assert!(
        t.contains("\nrestore snap0 native_hz=25000000\nmem 0xa10f008 u64 == 4\n"),
        "{t}"
    );
    replays(&t);
}

#[test]
fn smc_calls_and_multi_register_results_are_recorded() {
    let out = Shared::default();
    let mut vmm = Vmm::new(config(1), out.clone());
    vmm.call(0, ids::SMCCC_VERSION, &[], Conduit::Smc);
    vmm.call(0, ids::call_uid(5), &[], Conduit::Hvc);
    vmm.vm.finish().unwrap();
    let t = out.text();
    assert!(t.contains("\nsmc 0 0x80000000 -> 0x10004\n"), "{t}");
    assert!(t.contains("\ncall 0 0x8500ff01 -> 0x"), "{t}");
    replays(&t);
}

#[test]
fn what_fwtrace_cannot_express_is_noted() {
    let mut c = config(1);
    c.trng = Some(fwcall::TrngConfig {
        uuid: fwcall::smccc::Uid([7; 16]),
    });
    let vm = Vm::new(c, Arc::new(SimMemory::new(vec![RAM, PV]))).unwrap();
    let out = Shared::default();
    let rec = RecordingVm::new(vm, out.clone());
    rec.finish().unwrap();
    assert!(
        out.text().contains("# note: TRNG has a UUID of its own"),
        "{}",
        out.text()
    );
}

#[test]
fn workarounds_and_soc_id_are_recorded_as_keys() {
    use fwcall::smccc::{SocId, Workaround2Level, WorkaroundLevel, Workarounds};
    let mut c = config(1);
    c.soc_id = Some(SocId {
        version: 0x043b_1234,
        revision: 7,
    });
    c.workarounds = Workarounds {
        wa1: WorkaroundLevel::Avail,
        wa2: Workaround2Level::NotRequired,
        wa3: WorkaroundLevel::NotRequired,
    };
    let out = Shared::default();
    let mut vmm = Vmm::new(c, out.clone());
    let hvc = Conduit::Hvc;
    vmm.call(0, ids::SMCCC_ARCH_SOC_ID, &[0], hvc);
    vmm.call(0, ids::SMCCC_ARCH_SOC_ID, &[1], hvc);
    for wa in [
        ids::SMCCC_ARCH_WORKAROUND_1,
        ids::SMCCC_ARCH_WORKAROUND_2,
        ids::SMCCC_ARCH_WORKAROUND_3,
    ] {
        vmm.call(0, ids::SMCCC_ARCH_FEATURES, &[u64::from(wa.raw())], hvc);
    }
    vmm.vm.finish().unwrap();
    let t = out.text();
    // KVM's firmware-register levels: AVAIL = 1, WA2 NOT_REQUIRED = 3,
    // WA1/3 NOT_REQUIRED = 2.
    for key in [
        " workaround_1=1 ",
        " workaround_2=3 ",
        " workaround_3=2 ",
        " soc_id=0x43b1234:0x7",
    ] {
        assert!(t.contains(key), "no `{key}` in\n{t}");
    }
    assert!(!t.contains("# note:"), "{t}");
    // The answers the guest saw are the expectations, and they replay.
    assert!(t.contains("\ncall 0 0x80000002 0 -> 0x43b1234\n"), "{t}");
    assert!(t.contains("\ncall 0 0x80000001 0x80007fff -> -2\n"), "{t}");
    replays(&t);
}

#[test]
fn passthrough_records_nothing() {
    let vm = Vm::new(config(1), Arc::new(SimMemory::new(vec![RAM, PV]))).unwrap();
    let rec: RecordingVm<_, Shared> = RecordingVm::passthrough(vm);
    let out = rec
        .handle(VcpuIndex(0), &Call::new(ids::SDEI_VERSION, &[]))
        .unwrap();
    assert_eq!(out.reply.written_x().next().map(|(i, _)| i), Some(0));
    let (_, w) = rec.finish().unwrap();
    assert!(w.is_none());
}

#[test]
fn power_and_trng_sessions_replay() {
    let out = Shared::default();
    let mut c = config(3);
    c.psci = Some(fwcall::PsciConfig::new(fwcall::PsciVersion::V1_1)); // vCPU 0 boots
    c.trng = Some(fwcall::TrngConfig::default());
    let mut vmm = Vmm::new(c, out.clone());
    let hvc = Conduit::Hvc;
    let entry = RAM.base + 0x8_0000;
    vmm.call(0, ids::PSCI_CPU_ON_64, &[1, entry, 7], hvc);
    vmm.call(
        1,
        ids::SDEI_EVENT_REGISTER,
        &[0x10, 0xffff_8000_1000_0000, 5, 0, 0],
        hvc,
    );
    vmm.call(1, ids::SDEI_EVENT_ENABLE, &[0x10], hvc);
    vmm.call(1, ids::SDEI_PE_UNMASK, &[], hvc);
    vmm.call(1, ids::TRNG_RND64, &[192], hvc);
    vmm.call(1, ids::TRNG_RND32, &[40], hvc);
    vmm.raise(0x10, Some(1));
    vmm.call(1, ids::SDEI_EVENT_COMPLETE, &[0], hvc);
    vmm.call(1, ids::TRNG_RND64, &[100], hvc);
    vmm.call(0, ids::PSCI_AFFINITY_INFO_64, &[1, 0], hvc);
    vmm.call(1, ids::PSCI_CPU_OFF, &[0x1_0000], hvc);
    vmm.call(0, ids::PSCI_AFFINITY_INFO_64, &[1, 0], hvc);
    vmm.call(0, ids::PSCI_CPU_ON_64, &[1, entry, 8], hvc);
    vmm.call(1, ids::SDEI_EVENT_STATUS, &[0x10], hvc);
    vmm.call(0, ids::PSCI_SYSTEM_RESET, &[], hvc);
    vmm.call(0, ids::PSCI_VERSION, &[], hvc);
    vmm.vm.finish().unwrap();
    let t = out.text();
    for want in [
        " psci=1.1 ",
        " boot=1",
        " trng=on",
        "\nexpect 1 power=on\n",
        "\nexpect 1 power=off\n",
        "\nsystem reset\nvm-reset\n",
        "\ncall 1 0xc4000053 0xc0 -> 0 _ _ _\n",
        // RND32 of 40 bits: w1 zero, w2 bits 39:32 only, w3 whole; upper halves zero.
        " -> 0 0/0xffffffffffffffff 0/0xffffffffffffff00 0/0xffffffff00000000\n",
    ] {
        assert!(t.contains(want), "{want:?} missing from:\n{t}");
    }
    replays(&t);
}
