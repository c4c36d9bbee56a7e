//! Restoring a saved VM into a new KVM VM (aarch64), in the order the
//! [module documentation](super) gives.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fwcall::kvm::{
    FilterPlan, abi, check_firmware_registers, install_filter, read_one_reg, write_one_reg,
};
use fwcall::pvtime::offset::SavedClock;
use kvm_bindings::{KVM_ARM_VCPU_POWER_OFF, kvm_mp_state, kvm_vcpu_init};
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress};

use super::image::{self, Image, Reg};
use super::save::{KvmGic, reg_ids};
use super::{Policy, Refusal, RestoreReport, clock, compat, gic, regs};
use crate::cli::Options;
use crate::layout::{PVTIME_BASE, RAM_BASE};
use crate::memory::GuestMem;
use crate::vmm::{self, Parts, RunError, VmmError, ctx};

/// The last step of a restore, done right before the vCPU threads start:
/// where the guest's counter resumes.
#[derive(Debug)]
pub struct Resuming {
    dir: PathBuf,
    saved: SavedClock,
    /// The saved physical count (`KVM_REG_ARM_PTIMER_CNT`), per vCPU.
    saved_physical: Vec<Option<u64>>,
    policy: Policy,
    use_offset: bool,
    started: Instant,
    fwcall: Duration,
}

impl Resuming {
    /// Whether the counter is set with the VM-wide offset (else with each
    /// vCPU's counter registers).
    pub fn uses_offset(&self, vm_fd: &VmFd) -> bool {
        self.use_offset && vm_fd.check_extension(Cap::CounterOffset)
    }

    /// Sets the guest's counter by the policy: the VM counter offset when
    /// the kernel has it, else each vCPU's counter registers. Returns what
    /// the restore line reports once a vCPU runs.
    ///
    /// With the VM counter offset this runs while the vCPU threads wait at
    /// their first `KVM_RUN` (`vcpus` may be empty); the fallback writes
    /// each of `vcpus` and so runs before the threads start.
    pub fn resume(&self, vm_fd: &VmFd, vcpus: &[VcpuFd]) -> Result<RestoreReport, RunError> {
        let r = clock::plan(&self.saved, clock::host::now(), self.policy)
            .map_err(|e| refuse(&self.dir, e.to_string()))?;
        let advance = r.advance(&self.saved);
        let counter = if self.uses_offset(vm_fd) {
            ctx(
                set_counter_offset(vm_fd, r.offset),
                "KVM_ARM_SET_COUNTER_OFFSET",
            )?;
            "offset"
        } else {
            let why = if self.use_offset {
                "this kernel has no KVM_CAP_COUNTER_OFFSET (Linux 6.4+)"
            } else {
                "--no-counter-offset"
            };
            eprint!(
                "{}",
                format_args!(
                    "fwcall-refvmm: {why}: setting each vCPU's KVM_REG_ARM_TIMER_CNT instead of the VM counter offset; vCPUs may disagree by the time between the writes\n"
                )
            );
            for (i, fd) in vcpus.iter().enumerate() {
                ctx(
                    write_one_reg(fd, regs::TIMER_CNT, r.guest_count),
                    "writing KVM_REG_ARM_TIMER_CNT",
                )?;
                if let Some(Some(p)) = self.saved_physical.get(i) {
                    ctx(
                        write_one_reg(fd, regs::PTIMER_CNT, p.wrapping_add(advance)),
                        "writing KVM_REG_ARM_PTIMER_CNT",
                    )?;
                }
            }
            "timer-cnt"
        };
        crate::firmware::LAST_RESUME.set(self.saved.guest_count, r.guest_count);
        Ok(RestoreReport {
            started: self.started,
            fwcall: self.fwcall,
            counter_set_at: r.now.host_count,
            freq_hz: self.saved.freq_hz,
            detail: format!(
                "dir={} policy={} counter={counter} saved-guest-count={:#x} guest-count={:#x} advance-ticks={advance} blackout-ns={} freq-hz={}",
                self.dir.display(),
                self.policy.name(),
                self.saved.guest_count,
                r.guest_count,
                r.now.realtime_ns.saturating_sub(self.saved.realtime_ns),
                self.saved.freq_hz,
            ),
        })
    }
}

/// `KVM_ARM_SET_COUNTER_OFFSET` on the VM: the guest's virtual and
/// physical counters become the host's count minus `offset`.
pub fn set_counter_offset(vm_fd: &VmFd, offset: u64) -> Result<(), std::io::Error> {
    let arg = abi::CounterOffset {
        counter_offset: offset,
        reserved: 0,
    };
    // SAFETY: a VM ioctl taking a pointer to a 16-byte struct that KVM only
    // reads during the call; `arg` is a live local of exactly that layout
    // (checked against kvm-bindings in fwcall's abi tests).
    let ret = unsafe {
        vmm_sys_util::ioctl::ioctl_with_ref(
            vm_fd,
            abi::KVM_ARM_SET_COUNTER_OFFSET as libc::c_ulong,
            &arg,
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn refuse(dir: &Path, what: impl std::fmt::Display) -> RunError {
    RunError::Refused(Refusal(format!(
        "refusing to restore {}: {what}; the image is untouched",
        dir.display()
    )))
}

fn value_of(r: &Reg) -> String {
    match r.as_u64() {
        Some(v) => format!("{v:#x}"),
        None => format!("({} bytes)", r.value.len()),
    }
}

/// Builds a VM from the image in `dir`, everything written back, ready for
/// its vCPU threads.
pub fn prepare(o: &Options, dir: &Path, kvm: &Kvm) -> Result<Parts, RunError> {
    let started = Instant::now();
    let image =
        Image::read(dir).map_err(|e| VmmError(format!("cannot restore {}: {e}", dir.display())))?;
    let m = &image.manifest;
    if m.ram_base != RAM_BASE {
        return Err(refuse(
            dir,
            format!(
                "the guest's RAM starts at {:#x}, this refvmm's at {RAM_BASE:#x}",
                m.ram_base
            ),
        ));
    }
    let freq = clock::host::frequency();
    if freq != m.clock.freq_hz {
        return Err(refuse(
            dir,
            format!(
                "the guest's counter ran at {} Hz and this host's runs at {freq} Hz: its timebase would change speed",
                m.clock.freq_hz
            ),
        ));
    }
    let vcpus = &image.machine.vcpus;
    let mut mpidrs = Vec::new();
    for (i, v) in vcpus.iter().enumerate() {
        let mpidr = v
            .reg(regs::MPIDR_EL1)
            .and_then(Reg::as_u64)
            .ok_or_else(|| VmmError(format!("vCPU {i} of the image has no MPIDR_EL1")))?;
        mpidrs.push(mpidr & vmm::MPIDR_MASK);
    }

    // The guest's CPU features (handler-entry PSTATE) are those of its
    // saved ID registers, which are written back to the new vCPUs below
    // (KVM refuses values this host cannot back).
    let id_reg = |r: fwcall::kvm::Reg| {
        vcpus
            .first()
            .and_then(|v| v.reg(r.kvm_id()))
            .and_then(Reg::as_u64)
    };
    let cpu = match (
        id_reg(fwcall::kvm::Reg::IdAa64Pfr1El1),
        id_reg(fwcall::kvm::Reg::IdAa64Mmfr1El1),
    ) {
        (Some(pfr1), Some(mmfr1)) => fwcall::CpuFeatures::from_id_registers(pfr1, mmfr1),
        _ => {
            return Err(refuse(
                dir,
                "the image's vCPU 0 has no ID_AA64PFR1_EL1/ID_AA64MMFR1_EL1 (not a refvmm image?)",
            ));
        }
    };

    // fwcall first: a guest that saw more than this VMM offers is refused
    // before a KVM VM even exists.
    let mem = ctx(
        GuestMem::from_image(&dir.join(image::RAM), m.ram_size),
        "mapping the saved RAM",
    )?;
    let t = Instant::now();
    let fw = compat::restore_fwcall(
        &o.offer,
        &mpidrs,
        m.ram_size,
        cpu,
        mem.pvtime.clone(),
        &image.fwcall,
    )
    .map_err(|r| refuse(dir, r))?;
    let mut fwcall = t.elapsed();

    let vm_fd = ctx(kvm.create_vm(), "KVM_CREATE_VM")?;
    vmm::add_memslots(&vm_fd, &mem)?;
    if !fwcall::kvm::has_smccc_filter(&vm_fd) {
        return Err(refuse(
            dir,
            "this host's KVM has no SMCCC filter (Linux 6.4+)",
        ));
    }
    let mut init = kvm_vcpu_init::default();
    ctx(
        vm_fd.get_preferred_target(&mut init),
        "KVM_ARM_PREFERRED_TARGET",
    )?;
    let mut fds: Vec<VcpuFd> = Vec::new();
    let mut reset_sctlr = 0;
    for (i, v) in vcpus.iter().enumerate() {
        let fd = ctx(vm_fd.create_vcpu(i as u64), "KVM_CREATE_VCPU")?;
        let mut this = init;
        // The saved MP state decides who runs, not the power-off flag.
        this.features[0] = v.features & !(1 << KVM_ARM_VCPU_POWER_OFF);
        ctx(
            fd.vcpu_init(&this),
            "KVM_ARM_VCPU_INIT with the saved features",
        )?;
        if i == 0 {
            // Before the saved registers go in: the reset value, which
            // vCPUs started by fwcall's PSCI get.
            reset_sctlr = ctx(
                read_one_reg(&fd, fwcall::kvm::abi::SCTLR_EL1),
                "reading SCTLR_EL1",
            )?;
        }
        fds.push(fd);
    }
    let gic_fd = vmm::create_gic(&vm_fd)?;
    // Decided: a restored guest reboots from the images this destination
    // was given (its image holds memory, not boot files); with none, its
    // reset powers it off.
    let reboot = if o.kernel.as_os_str().is_empty() {
        None
    } else {
        let mut boot_init = init;
        boot_init.features[0] =
            vcpus.first().map_or(0, |v| v.features) & !(1 << KVM_ARM_VCPU_POWER_OFF);
        Some(vmm::Reboot::read(o, mpidrs.clone(), boot_init)?)
    };

    // Registers this host does not have cannot be given back.
    let mut extra = 0;
    for (i, (fd, v)) in fds.iter().zip(vcpus).enumerate() {
        let here = reg_ids(fd)?;
        if let Some(r) = v.regs.iter().find(|r| !here.contains(&r.id)) {
            return Err(refuse(
                dir,
                format!(
                    "this host's KVM has no {} on vCPU {i}, which the guest's vCPU had (an older kernel?)",
                    regs::name(r.id)
                ),
            ));
        }
        extra += here.iter().filter(|id| v.reg(**id).is_none()).count();
    }
    if extra > 0 {
        eprint!(
            "{}",
            format_args!(
                "fwcall-refvmm: this host lists {extra} vCPU registers the image does not have; they keep their reset values\n"
            )
        );
    }

    // The guest ABI first: KVM refuses firmware-register values it cannot
    // back (an older host), then fwcall and KVM must agree.
    for (i, (fd, v)) in fds.iter().zip(vcpus).enumerate() {
        for r in v.regs.iter().filter(|r| regs::is_firmware(r.id)) {
            fd.set_one_reg(r.id, &r.value).map_err(|e| {
                refuse(
                    dir,
                    format!(
                        "this host's KVM refused {} = {} on vCPU {i} ({e}): the guest saw a hypervisor service or level this host does not offer",
                        regs::name(r.id),
                        value_of(r)
                    ),
                )
            })?;
        }
    }
    let t = Instant::now();
    check_firmware_registers(&fw, |id| read_one_reg(&fds[0], id)).map_err(|e| {
        refuse(
            dir,
            format!("KVM's firmware registers and fwcall's snapshot disagree: {e}"),
        )
    })?;
    fwcall += t.elapsed();

    for (i, (fd, v)) in fds.iter().zip(vcpus).enumerate() {
        for r in regs::restore_order(&v.regs, |r| r.id) {
            if regs::is_firmware(r.id) {
                continue;
            }
            fd.set_one_reg(r.id, &r.value).map_err(|e| {
                refuse(
                    dir,
                    format!(
                        "this host's KVM refused {} = {} on vCPU {i} ({e}): it cannot give the guest's vCPU the state it had",
                        regs::name(r.id),
                        value_of(r)
                    ),
                )
            })?;
        }
        let mpidr = ctx(read_one_reg(fd, regs::MPIDR_EL1), "reading MPIDR_EL1")? & vmm::MPIDR_MASK;
        if mpidr != mpidrs[i] {
            return Err(refuse(
                dir,
                format!(
                    "vCPU {i} has MPIDR {mpidr:#x} here, {:#x} in the image",
                    mpidrs[i]
                ),
            ));
        }
        ctx(
            fd.set_mp_state(kvm_mp_state {
                mp_state: v.mp_state,
            }),
            "KVM_SET_MP_STATE",
        )?;
    }

    gic::restore(&KvmGic(&gic_fd), &mpidrs, &image.machine.gic)
        .map_err(|e| refuse(dir, format!("this host's {e}")))?;

    ctx(
        mem.pvtime
            .write_slice(&image.pvtime, GuestAddress(PVTIME_BASE)),
        "loading the PV-time region",
    )?;
    let t = Instant::now();
    ctx(fw.start(), "starting the restored fwcall")?;
    fwcall += t.elapsed();
    let plan = FilterPlan::for_vm(&fw);
    ctx(install_filter(&vm_fd, &plan), "installing the SMCCC filter")?;
    for r in plan.ranges() {
        eprint!("{}", format_args!("fwcall-refvmm: forwarding {r}\n"));
    }

    // KVM does a vCPU's first-run setup (vGIC resources, timers) inside its
    // first KVM_RUN; do it now, with immediate_exit so the guest does not
    // run, so that it is not counted in the guest's time once the counter
    // is set.
    for fd in &mut fds {
        fd.set_kvm_immediate_exit(1);
        match fd.run() {
            Err(e) if e.errno() == libc::EINTR => {}
            Err(e) => return Err(VmmError(format!("preparing a vCPU's first run: {e}")).into()),
            Ok(exit) => {
                return Err(
                    VmmError(format!("a vCPU ran before its counter was set: {exit:?}")).into(),
                );
            }
        }
        fd.set_kvm_immediate_exit(0);
    }

    let saved_physical = vcpus
        .iter()
        .map(|v| v.reg(regs::PTIMER_CNT).and_then(Reg::as_u64))
        .collect();
    Ok(Parts {
        vm_fd,
        gic: gic_fd,
        vcpu_fds: fds,
        config: compat::destination_config(&o.offer, &mpidrs, m.ram_size, cpu),
        fw,
        mem,
        uart_lcr: image.machine.uart_lcr,
        reset_sctlr,
        reboot,
        vcpu_features: vcpus.first().map_or(0, |v| v.features),
        resume: Some(Resuming {
            dir: dir.to_path_buf(),
            saved: m.clock,
            saved_physical,
            policy: o.policy,
            use_offset: o.counter_offset,
            started,
            fwcall,
        }),
    })
}
