//! The machine: KVM VM, memslots, vCPUs, vGICv3, the SMCCC filter, fwcall,
//! the vCPU threads and the control thread.

use std::fmt::Display;
use std::io::Stdout;
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, mpsc};
use std::time::{Duration, Instant};

use fwcall::kvm::{
    FilterPlan, PowerLines, abi, apply_start, install_filter, kick_targets, read_one_reg,
    sync_firmware, write_one_reg,
};
use fwcall::{Kicks, Mpidr, PowerState, VcpuIndex, VmConfig};
use kvm_bindings::{
    KVM_ARM_VCPU_POWER_OFF, KVM_ARM_VCPU_PSCI_0_2, KVM_DEV_ARM_VGIC_CTRL_INIT,
    KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_GRP_NR_IRQS,
    KVM_VGIC_V3_ADDR_TYPE_DIST, KVM_VGIC_V3_ADDR_TYPE_REDIST, kvm_create_device, kvm_device_attr,
    kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3, kvm_userspace_memory_region, kvm_vcpu_init,
};
use kvm_ioctls::{Cap, DeviceFd, Kvm, VcpuFd, VmFd};

use crate::cli::Options;
use crate::control::{self, PauseGate};
use crate::exits::Devices;
use crate::firmware::{self, FwVm};
use crate::layout::{GICD_BASE, GICR_BASE};
use crate::memory::GuestMem;
use crate::migrate::{self, Refusal};
use crate::stats::Stats;
use crate::{fdt, kick, snapshot, vcpu};

/// A failure, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VmmError(pub String);

/// Why `run` ended without a report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Something failed.
    #[error(transparent)]
    Vmm(#[from] VmmError),
    /// A restore refused a guest this destination cannot serve as it saw
    /// it (the image is untouched).
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// Adds context to any error.
pub fn ctx<T, E: Display>(r: Result<T, E>, what: &str) -> Result<T, VmmError> {
    r.map_err(|e| VmmError(format!("{what}: {e}")))
}

/// State shared by every thread of the VMM.
#[derive(Debug)]
pub struct Machine {
    /// The firmware server. Replaced whole by a snapshot/restore cycle,
    /// while every vCPU thread is parked and holds no reference to it.
    pub vm: RwLock<Arc<FwVm>>,
    /// Counts for the report.
    pub stats: Stats,
    /// Parks vCPU threads for a snapshot.
    pub gate: PauseGate,
    /// The console and other MMIO.
    pub devices: Devices<Stdout>,
    /// Set when the guest powered off, or on a fatal error.
    pub stop: AtomicBool,
    /// vCPU threads still running their loop.
    pub running: AtomicUsize,
    /// The vCPU threads, for kicks (set once all are started, again at
    /// each reboot).
    pub threads: RwLock<Vec<libc::pthread_t>>,
    /// With fwcall's PSCI: where `CPU_ON` posts starts and off vCPUs park.
    pub power: Option<Arc<PowerLines>>,
    /// fwcall's configuration, kept for restores.
    pub config: fwcall::VmConfig,
    /// The PV-time mapping, kept for restores.
    pub pvtime: vm_memory::GuestMemoryMmap,
    /// Whole-VM save and restore.
    pub migration: migrate::Session,
}

impl Machine {
    /// The firmware server in force.
    pub fn current(&self) -> Arc<FwVm> {
        self.vm.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The number of vCPUs.
    pub fn vcpu_count(&self) -> usize {
        self.config.vcpu_count()
    }

    /// Kicks one vCPU thread.
    pub fn kick(&self, v: VcpuIndex) {
        // A vCPU parked powered off is woken on its line, not by a signal.
        if let Some(lines) = &self.power {
            lines.wake(v);
        }
        self.signal(v);
    }

    /// Signals one vCPU thread out of `KVM_RUN` (a parked, powered-off
    /// vCPU stays parked: it has no steal to account, no event to take).
    pub fn signal(&self, v: VcpuIndex) {
        let thread = self
            .threads
            .read()
            .ok()
            .and_then(|ts| ts.get(v.get()).copied());
        if let Some(t) = thread
            && kick::kick(t)
        {
            self.stats.kicked(1);
        }
    }

    /// Kicks what fwcall asked for; `me` is the asking vCPU, if any.
    pub fn kick_for(&self, kicks: &Kicks, me: Option<VcpuIndex>) {
        for v in kick_targets(kicks, me, self.vcpu_count()) {
            self.kick(v);
        }
    }

    /// Kicks every vCPU.
    pub fn kick_all(&self) {
        for i in 0..self.vcpu_count() {
            self.kick(VcpuIndex(i as u32));
        }
    }

    /// Stops the VM.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        self.kick_all();
    }
}

/// `MPIDR_EL1` (op0 3, op1 0, `CRn` 0, `CRm` 0, op2 5).
const MPIDR_EL1: u64 = abi::sys_reg_id(3, 0, 0, 0, 5);
/// The MPIDR bits fwcall accepts: affinity, U, MT and RES1 bit 31.
pub const MPIDR_MASK: u64 = Mpidr::AFFINITY_MASK | Mpidr::FLAG_BITS;
/// EL1h with D, A, I and F masked: how Linux expects to be entered.
const BOOT_PSTATE: u64 = 0x3c5;
/// `SCTLR_EL1`, read from a vCPU that never ran: its reset value, which
/// vCPUs started by `CPU_ON` get.
const SCTLR_EL1: u64 = abi::SCTLR_EL1;
/// SPIs the vGIC offers (plus the 32 SGIs/PPIs).
const GIC_NR_IRQS: u32 = 128;

/// A VM ready for its vCPU threads: booted, or restored from an image.
#[derive(Debug)]
pub struct Parts {
    /// The KVM VM.
    pub vm_fd: VmFd,
    /// Its vGICv3.
    pub gic: DeviceFd,
    /// Its vCPUs, initialised, none run yet.
    pub vcpu_fds: Vec<VcpuFd>,
    /// fwcall's configuration (what this VMM offers).
    pub config: VmConfig,
    /// fwcall, started.
    pub fw: FwVm,
    /// Guest memory.
    pub mem: GuestMem,
    /// The UART's line control register.
    pub uart_lcr: u8,
    /// `kvm_vcpu_init.features[0]` of the vCPUs (power-off aside).
    pub vcpu_features: u32,
    /// For a restore: where the guest's counter resumes, done last.
    pub resume: Option<migrate::restore::Resuming>,
    /// `SCTLR_EL1`'s reset value (for vCPUs started by fwcall's PSCI).
    pub reset_sctlr: u64,
    /// What a `SYSTEM_RESET` boots again; `None` for a restored VM started
    /// without `--kernel`, which powers off instead.
    pub reboot: Option<Reboot>,
}

/// What a reset VM boots from: the boot images, what its device tree
/// says, and the vCPU initialisation.
#[derive(Debug)]
pub struct Reboot {
    /// The arm64 `Image`.
    pub kernel: Vec<u8>,
    /// The initrd.
    pub initrd: Option<Vec<u8>>,
    /// The kernel command line.
    pub cmdline: String,
    /// The vCPUs' MPIDRs, in order.
    pub mpidrs: Vec<u64>,
    /// `KVM_ARM_VCPU_INIT`'s argument (without `POWER_OFF`).
    pub init: kvm_vcpu_init,
}

impl Reboot {
    /// Reads the images `o` names (`--kernel`, `--initrd`, `--cmdline`).
    pub fn read(o: &Options, mpidrs: Vec<u64>, init: kvm_vcpu_init) -> Result<Self, VmmError> {
        let (kernel, initrd) = read_images(o)?;
        Ok(Reboot {
            kernel,
            initrd,
            cmdline: o.cmdline.clone(),
            mpidrs,
            init,
        })
    }

    /// The device tree for a boot with the initrd at `initrd`. The firmware
    /// nodes come from fwcall's VM; PSCI is fwcall's when it serves it,
    /// else KVM's at the version KVM reports for the guest (read on `vcpu`).
    pub fn device_tree(
        &self,
        vm: &FwVm,
        vcpu: &VcpuFd,
        ram_size: u64,
        initrd: Option<(u64, u64)>,
    ) -> Result<Vec<u8>, VmmError> {
        let psci = match vm.psci() {
            Some(p) if vm.features().std.contains(fwcall::StdFeatures::PSCI) => {
                fwcall::fdt::PsciVersion::served(p.version())
            }
            _ => fwcall::fdt::PsciVersion::from_word(ctx(
                read_one_reg(vcpu, abi::PSCI_VERSION),
                "reading the PSCI version",
            )? as u32),
        };
        let options = fwcall::fdt::FdtOptions {
            psci: Some(psci),
            ..Default::default()
        };
        let firmware = ctx(
            fwcall::fdt::FirmwareNodes::for_vm(vm, &options),
            "describing the firmware",
        )?;
        ctx(
            fdt::build(&fdt::FdtParams {
                mpidrs: self.mpidrs.clone(),
                ram_size,
                cmdline: self.cmdline.clone(),
                initrd,
                firmware,
            }),
            "building the device tree",
        )
    }
}

/// Builds the machine (boots the kernel, or restores `--restore`), runs
/// it, and returns the report line at exit.
pub fn run(o: &Options) -> Result<String, RunError> {
    let kvm = ctx(Kvm::new(), "opening /dev/kvm")?;
    let parts = match &o.restore {
        Some(dir) => migrate::restore::prepare(o, dir, &kvm)?,
        None => boot(o, &kvm)?,
    };
    serve(o, parts)
}

/// The kernel and initrd `o` names (`--kernel`, `--initrd`), read whole.
fn read_images(o: &Options) -> Result<(Vec<u8>, Option<Vec<u8>>), VmmError> {
    let kernel = ctx(
        std::fs::read(&o.kernel),
        &format!("reading {}", o.kernel.display()),
    )?;
    let initrd = match &o.initrd {
        Some(p) => Some(ctx(std::fs::read(p), &format!("reading {}", p.display()))?),
        None => None,
    };
    Ok((kernel, initrd))
}

/// A new VM with the kernel loaded and the boot CPU at its entry.
fn boot(o: &Options, kvm: &Kvm) -> Result<Parts, VmmError> {
    let (kernel, initrd) = read_images(o)?;
    let mem = ctx(GuestMem::new(o.mem_mib << 20), "guest memory")?;
    let boot = ctx(mem.load(&kernel, initrd.as_deref()), "loading the guest")?;

    let vm_fd = ctx(kvm.create_vm(), "KVM_CREATE_VM")?;
    add_memslots(&vm_fd, &mem)?;
    if !fwcall::kvm::has_smccc_filter(&vm_fd) {
        return Err(VmmError(
            "the host kernel has no SMCCC filter (KVM_ARM_VM_SMCCC_FILTER, Linux 6.4+)".into(),
        ));
    }
    let (mut vcpu_fds, init) = create_vcpus(&vm_fd, o.vcpus)?;
    let reset_sctlr = ctx(read_one_reg(&vcpu_fds[0], SCTLR_EL1), "reading SCTLR_EL1")?;
    let gic = create_gic(&vm_fd)?;

    // fwcall is configured with the MPIDRs KVM actually gave the vCPUs.
    let mut mpidrs = Vec::new();
    for fd in &vcpu_fds {
        mpidrs.push(ctx(read_one_reg(fd, MPIDR_EL1), "reading MPIDR_EL1")? & MPIDR_MASK);
    }
    let mut config = firmware::config_offering(&mpidrs, mem.ram_size(), &o.offer);
    // Handler-entry PSTATE follows the features the vCPU really has.
    let features = ctx(
        fwcall::kvm::cpu_features(&mut vcpu_fds[0]),
        "reading the vCPU's ID registers",
    )?;
    if let Some(s) = config.sdei.as_mut() {
        s.cpu_features = features;
    }
    eprintln!("fwcall-refvmm: guest CPU features {features:?}");
    if let Some(s) = &config.sdei {
        // What the guest should report: the e2e checks compare the two.
        let line = format!(
            "fwcall-sdei-version {} vendor={:#x}\n",
            s.version,
            fwcall::sdei::VENDOR_ID
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
    let vm = ctx(
        firmware::build_offering(config.clone(), mem.pvtime.clone(), &o.offer),
        "building fwcall",
    )?;

    // Before any vCPU runs: forward what fwcall serves, make KVM agree.
    let plan = FilterPlan::for_vm(&vm);
    ctx(install_filter(&vm_fd, &plan), "installing the SMCCC filter")?;
    ctx(sync_firmware(&vm, &vcpu_fds[0]), "firmware registers")?;
    for r in plan.ranges() {
        eprintln!("fwcall-refvmm: forwarding {r}");
    }

    let reboot = Reboot {
        kernel,
        initrd,
        cmdline: o.cmdline.clone(),
        mpidrs,
        init,
    };
    let dtb = reboot.device_tree(&vm, &vcpu_fds[0], mem.ram_size(), boot.initrd)?;
    ctx(mem.load_dtb(boot.dtb, &dtb), "loading the device tree")?;
    set_boot_regs(&vcpu_fds[0], boot.dtb, boot.entry)?;
    // Both guest counters (virtual and physical) start at zero together,
    // as they will continue after a restore, which sets one VM-wide offset.
    if vm_fd.check_extension(Cap::CounterOffset) {
        ctx(
            migrate::restore::set_counter_offset(&vm_fd, migrate::clock::host::counter()),
            "KVM_ARM_SET_COUNTER_OFFSET",
        )?;
    }
    Ok(Parts {
        vm_fd,
        gic,
        vcpu_fds,
        config,
        fw: vm,
        mem,
        uart_lcr: 0,
        vcpu_features: VCPU_FEATURES,
        resume: None,
        reset_sctlr,
        reboot: Some(reboot),
    })
}

/// The arm64 boot protocol on the boot vCPU: X0 = device tree, X1..X3 = 0,
/// MMU off.
fn set_boot_regs(boot_cpu: &VcpuFd, dtb: u64, entry: u64) -> Result<(), VmmError> {
    let boot_regs = [
        (abi::core_reg_id(abi::kvm_regs_offset::X0), dtb),
        (abi::core_reg_id(abi::kvm_regs_offset::PC), entry),
        (abi::core_reg_id(abi::kvm_regs_offset::PSTATE), BOOT_PSTATE),
    ];
    for (id, value) in boot_regs {
        ctx(
            write_one_reg(boot_cpu, id, value),
            "setting the boot registers",
        )?;
    }
    Ok(())
}

/// A system reset, with every vCPU thread stopped: the boot images loaded
/// again, every vCPU back to its reset state (`KVM_ARM_VCPU_INIT`, the
/// secondaries powered off), the boot vCPU at the kernel's entry, fwcall's
/// services at their boot state ([`fwcall::Vm::reset`]) and no start left
/// on a power line.
fn reboot(m: &Machine, r: &Reboot, mem: &GuestMem, fds: &[VcpuFd]) -> Result<(), VmmError> {
    let boot = ctx(
        mem.load(&r.kernel, r.initrd.as_deref()),
        "reloading the guest",
    )?;
    let dtb = r.device_tree(&m.current(), &fds[0], mem.ram_size(), boot.initrd)?;
    ctx(mem.load_dtb(boot.dtb, &dtb), "reloading the device tree")?;
    for (i, fd) in fds.iter().enumerate() {
        let mut this = r.init;
        if i > 0 {
            this.features[0] |= 1 << KVM_ARM_VCPU_POWER_OFF;
        }
        ctx(fd.vcpu_init(&this), "KVM_ARM_VCPU_INIT at reset")?;
    }
    set_boot_regs(&fds[0], boot.dtb, boot.entry)?;
    m.current().reset();
    if let Some(lines) = &m.power {
        lines.clear();
    }
    Ok(())
}

/// Runs the vCPU threads and the control thread until the VM stops; saves
/// it first when a save was requested. A guest reset (PSCI `SYSTEM_RESET`
/// or `SYSTEM_RESET2`) reboots it: every thread stops, [`reboot`] resets
/// the VM, the threads start again.
fn serve(o: &Options, parts: Parts) -> Result<String, RunError> {
    let Parts {
        vm_fd,
        gic,
        vcpu_fds,
        config,
        fw: vm,
        mem,
        uart_lcr,
        vcpu_features,
        mut resume,
        reset_sctlr,
        reboot: boot_images,
    } = parts;
    let devices = Devices::new(std::io::stdout());
    if let Ok(mut u) = devices.uart().lock() {
        u.set_lcr(uart_lcr);
    }
    let psci = vm.psci().is_some() && vm.features().std.contains(fwcall::StdFeatures::PSCI);
    let machine = Arc::new(Machine {
        vm: RwLock::new(Arc::new(vm)),
        stats: Stats::default(),
        gate: PauseGate::default(),
        devices,
        stop: AtomicBool::new(false),
        running: AtomicUsize::new(vcpu_fds.len()),
        threads: RwLock::new(Vec::new()),
        power: psci.then(|| Arc::new(PowerLines::new(vcpu_fds.len(), reset_sctlr))),
        config,
        pvtime: mem.pvtime.clone(),
        migration: migrate::Session::default(),
    });
    ctx(kick::install(), "installing the kick signal handler")?;
    ctx(
        kick::install_control_signals(),
        "installing the SIGUSR1/SIGUSR2 handlers",
    )?;
    ctx(
        migrate::install_save_signal(),
        "installing the SIGPWR handler",
    )?;

    let mut fds = vcpu_fds;
    let failure = loop {
        let (ends, failure, back) = run_threads(o, &machine, &vm_fd, fds, resume.take())?;
        fds = back;
        let reset = ends.contains(&vcpu::End::Reset);
        let saving = machine.migration.save_requested().is_some();
        if !reset || saving || failure.is_some() || fds.len() != machine.vcpu_count() {
            break failure;
        }
        let Some(images) = &boot_images else {
            // A restored VM started without --kernel has nothing to boot.
            eprintln!("fwcall-refvmm: guest reset, but no --kernel to boot: powering off");
            break None;
        };
        if let Err(e) = reboot(&machine, images, &mem, &fds) {
            break Some(e);
        }
        machine.stats.rebooted();
        eprintln!("fwcall-refvmm: guest reset: rebooting");
        machine.stop.store(false, Ordering::Release);
        machine.running.store(fds.len(), Ordering::Release);
    };
    drop(vm_fd);
    if let (Some(paused_at), Some(dir), None) =
        (machine.migration.save_requested(), &o.save_to, &failure)
    {
        if fds.len() != machine.vcpu_count() {
            return Err(VmmError("a vCPU thread panicked: nothing saved".into()).into());
        }
        // A CPU_ON whose target's thread had already stopped: the start is
        // still owed to the target, and goes into the image with it.
        if let Some(lines) = &machine.power {
            for (i, fd) in fds.iter_mut().enumerate() {
                if let Some(start) = lines.take(VcpuIndex(i as u32)) {
                    ctx(apply_start(fd, &start), "applying a pending CPU_ON")?;
                }
            }
        }
        let line = migrate::save::save(&migrate::save::Saving {
            dir,
            machine: &machine,
            gic: &gic,
            vcpus: &fds,
            mem: &mem,
            features: vcpu_features,
            paused_at,
            stopped_at: machine.migration.stopped_at(),
            stop_skew: machine.migration.stop_skew(),
        })?;
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
    let vm = machine.current();
    let stolen: Vec<u64> = vm.vcpus().map(|v| v.stolen_ns()).collect();
    let report = machine.stats.report(&stolen);
    match failure {
        Some(e) => Err(VmmError(format!("{e}\n{report}")).into()),
        None => Ok(report),
    }
}

/// One boot's worth of vCPU threads (and the control thread) until the VM
/// stops: how each vCPU ended, the first failure, and the vCPUs back.
#[allow(clippy::type_complexity)]
fn run_threads(
    o: &Options,
    machine: &Arc<Machine>,
    vm_fd: &VmFd,
    vcpu_fds: Vec<VcpuFd>,
    resume: Option<migrate::restore::Resuming>,
) -> Result<(Vec<vcpu::End>, Option<VmmError>, Vec<VcpuFd>), RunError> {
    let (done_tx, done_rx) = mpsc::channel();
    let mut handles = Vec::new();
    // A restored guest's counter is set with every vCPU thread ready at its
    // first KVM_RUN, so it resumes within microseconds of it; the per-vCPU
    // fallback needs the vCPU fds, so it goes first instead.
    let gated = match &resume {
        Some(r) if r.uses_offset(vm_fd) => {
            machine.migration.arm_gate();
            Some(r)
        }
        Some(r) => {
            let report = r.resume(vm_fd, &vcpu_fds)?;
            machine.migration.expect_first_run(report);
            None
        }
        None => None,
    };
    let fw = machine.current();
    let mut on = 0;
    for (i, fd) in vcpu_fds.into_iter().enumerate() {
        let (m, done) = (machine.clone(), done_tx.clone());
        let index = VcpuIndex(i as u32);
        // With fwcall's PSCI, fwcall says who is on (at boot: the boot
        // vCPU; after a restore: as saved).
        let off = machine.power.is_some() && fw.power_state(index) == PowerState::Off;
        on += usize::from(!off);
        let h = std::thread::Builder::new()
            .name(format!("vcpu{i}"))
            .spawn(move || {
                let (r, fd) = vcpu::run(&m, index, fd, off);
                // The guest stops when the last vCPU leaves: a save
                // reads its counter as of then.
                m.migration.vcpu_stopped(migrate::clock::host::counter());
                m.running.fetch_sub(1, Ordering::AcqRel);
                // The last thing this thread does: after it, it kicks nobody.
                let _ = done.send((i, r));
                // Handed back for a save or a reboot.
                fd
            });
        handles.push(ctx(h, "spawning a vCPU thread")?);
    }
    drop(fw);
    drop(done_tx);
    if let Ok(mut t) = machine.threads.write() {
        *t = handles.iter().map(|h| h.as_pthread_t()).collect();
    }
    let control_machine = machine.clone();
    let options = o.clone();
    let control = std::thread::spawn(move || control_loop(&control_machine, &options));
    if let Some(r) = gated {
        // Nothing else of ours starts after this: the vCPU threads have the
        // host to themselves when the guest resumes. A powered-off vCPU
        // parks on its power line before the gate: only the others come.
        let n = handles.len();
        let ready = machine.migration.wait_gate_full(on, || {
            machine.running.load(Ordering::Acquire) < n || machine.stop.load(Ordering::Acquire)
        });
        // The very last step before the guest runs again: its counter.
        let resumed = if ready {
            Some(r.resume(vm_fd, &[]))
        } else {
            None
        };
        machine.migration.open_gate();
        match resumed {
            Some(Ok(report)) => machine.migration.expect_first_run(report),
            Some(Err(e)) => {
                machine.shutdown();
                return Err(e);
            }
            None => {}
        }
    }

    let mut failure = None;
    let mut ends = Vec::new();
    for _ in 0..handles.len() {
        let Ok((i, r)) = done_rx.recv() else { break };
        match r {
            Ok(end) => {
                eprintln!("fwcall-refvmm: vcpu{i} stopped: {end}");
                ends.push(end);
            }
            Err(e) => {
                eprintln!("fwcall-refvmm: vcpu{i} failed: {e}");
                failure.get_or_insert(e);
            }
        }
        machine.shutdown();
    }
    let _ = control.join();
    if let Ok(mut t) = machine.threads.write() {
        t.clear();
    }
    let fds: Vec<VcpuFd> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    Ok((ends, failure, fds))
}

/// Registers RAM and the PV-time region with KVM.
pub fn add_memslots(vm_fd: &VmFd, mem: &GuestMem) -> Result<(), VmmError> {
    for s in ctx(mem.slots(), "memslots")? {
        let region = kvm_userspace_memory_region {
            slot: s.slot,
            flags: 0,
            guest_phys_addr: s.gpa,
            memory_size: s.size,
            userspace_addr: s.host,
        };
        // SAFETY: the host range is a live mapping of exactly `size` bytes
        // owned by `mem`, whose clones in `Machine` keep it mapped for as
        // long as the VM exists.
        ctx(
            unsafe { vm_fd.set_user_memory_region(region) },
            "KVM_SET_USER_MEMORY_REGION",
        )?;
    }
    Ok(())
}

/// `kvm_vcpu_init.features[0]` of every vCPU: PSCI 0.2+, so KVM's PSCI
/// (with `--psci kvm`) speaks it, and its `KVM_REG_ARM_PSCI_VERSION` takes
/// the version fwcall serves (with `--psci fwcall`).
const VCPU_FEATURES: u32 = 1 << KVM_ARM_VCPU_PSCI_0_2;

fn create_vcpus(vm_fd: &VmFd, n: u32) -> Result<(Vec<VcpuFd>, kvm_vcpu_init), VmmError> {
    let mut init = kvm_vcpu_init::default();
    ctx(
        vm_fd.get_preferred_target(&mut init),
        "KVM_ARM_PREFERRED_TARGET",
    )?;
    init.features[0] |= VCPU_FEATURES;
    let mut fds = Vec::new();
    for i in 0..n {
        let fd = ctx(vm_fd.create_vcpu(u64::from(i)), "KVM_CREATE_VCPU")?;
        let mut this = init;
        if i > 0 {
            // Secondaries wait for PSCI CPU_ON.
            this.features[0] |= 1 << KVM_ARM_VCPU_POWER_OFF;
        }
        ctx(fd.vcpu_init(&this), "KVM_ARM_VCPU_INIT")?;
        fds.push(fd);
    }
    Ok((fds, init))
}

/// Creates the vGICv3 at the layout's addresses and initialises it (after
/// every vCPU exists).
pub fn create_gic(vm_fd: &VmFd) -> Result<DeviceFd, VmmError> {
    let mut dev = kvm_create_device {
        type_: kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3,
        fd: 0,
        flags: 0,
    };
    let gic = ctx(
        vm_fd.create_device(&mut dev),
        "creating the vGICv3 (does the host have a GICv3?)",
    )?;
    let (dist, redist, nr_irqs) = (GICD_BASE, GICR_BASE, GIC_NR_IRQS + 32);
    let attrs = [
        (
            KVM_DEV_ARM_VGIC_GRP_ADDR,
            u64::from(KVM_VGIC_V3_ADDR_TYPE_DIST),
            &dist as *const u64 as u64,
        ),
        (
            KVM_DEV_ARM_VGIC_GRP_ADDR,
            u64::from(KVM_VGIC_V3_ADDR_TYPE_REDIST),
            &redist as *const u64 as u64,
        ),
        (
            KVM_DEV_ARM_VGIC_GRP_NR_IRQS,
            0,
            &nr_irqs as *const u32 as u64,
        ),
        // After every vCPU exists: size the redistributors, initialise.
        (
            KVM_DEV_ARM_VGIC_GRP_CTRL,
            u64::from(KVM_DEV_ARM_VGIC_CTRL_INIT),
            0,
        ),
    ];
    for (group, attr, addr) in attrs {
        let a = kvm_device_attr {
            flags: 0,
            group,
            attr,
            addr,
        };
        ctx(
            gic.set_device_attr(&a),
            &format!("vGIC attribute group {group} attr {attr}"),
        )?;
    }
    Ok(gic)
}

/// Raises events, refreshes stolen time, snapshots, and stops the VM on
/// timeout, until the VM stops.
fn control_loop(m: &Machine, o: &Options) {
    let start = Instant::now();
    let tick = Duration::from_millis(5);
    let (mut next_raise, mut next_steal) =
        (o.raise_every.map(|d| start + d), start + o.steal_refresh);
    let mut snapshot_at = o.snapshot_at.map(|d| start + d);
    while !m.stop.load(Ordering::Acquire) {
        std::thread::sleep(tick);
        let now = Instant::now();
        if o.timeout.is_some_and(|t| now >= start + t) {
            eprintln!("fwcall-refvmm: timeout, stopping the VM");
            m.shutdown();
            break;
        }
        let raise_now = control::take_raise_request() || next_raise.is_some_and(|t| now >= t);
        if raise_now {
            next_raise = o.raise_every.map(|d| now + d);
            let vm = m.current();
            match control::raise(&vm, o.raise_event) {
                Ok(kicks) => {
                    m.stats.raised();
                    m.kick_for(&kicks, None);
                }
                Err(e) => eprintln!("fwcall-refvmm: raise {:#x}: {e}", o.raise_event),
            }
        }
        if migrate::take_save_request() {
            match &o.save_to {
                // An image someone may still restore is never overwritten;
                // the guest keeps running.
                Some(dir) if dir.join(migrate::image::MANIFEST).exists() => eprintln!(
                    "fwcall-refvmm: SIGPWR ignored: {} already holds a saved VM",
                    dir.display()
                ),
                // Every vCPU thread leaves KVM_RUN and stops; the main
                // thread saves once all have.
                Some(_) if m.migration.request_save() => m.shutdown(),
                Some(_) => {}
                None => eprintln!("fwcall-refvmm: SIGPWR ignored: no --save-to directory"),
            }
        }
        if let Some(line) = m.migration.take_restore_line() {
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        }
        if control::take_snapshot_request() || snapshot_at.is_some_and(|t| now >= t) {
            snapshot_at = None;
            match snapshot::cycle(m) {
                Ok(msg) => eprintln!("fwcall-refvmm: {msg}"),
                Err(e) => eprintln!("fwcall-refvmm: snapshot failed: {e}"),
            }
        }
        if !o.steal_refresh.is_zero() && now >= next_steal {
            next_steal = now + o.steal_refresh;
            for i in 0..m.vcpu_count() {
                m.signal(VcpuIndex(i as u32));
            }
        }
    }
}
