//! Saving a stopped VM to an image (aarch64, KVM).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use fwcall::kvm::read_one_reg;
use kvm_bindings::{RegList, kvm_device_attr};
use kvm_ioctls::{DeviceFd, VcpuFd};
use vm_memory::{Bytes, GuestAddress};

use super::gic::{self, GicAccess};
use super::image::{self, FileEntry, GicKind, MachineState, Manifest, Reg, VcpuState};
use super::{Downtime, clock, regs};
use crate::layout::{PVTIME_BASE, PVTIME_SIZE, RAM_BASE};
use crate::memory::GuestMem;
use crate::vmm::{Machine, VmmError, ctx};

/// The vGIC through `KVM_GET/SET_DEVICE_ATTR`.
#[derive(Debug)]
pub struct KvmGic<'a>(pub &'a DeviceFd);

impl GicAccess for KvmGic<'_> {
    type Error = kvm_ioctls::Error;

    fn get(&self, kind: GicKind, attr: u64) -> Result<u64, Self::Error> {
        let (mut wide, mut narrow) = (0u64, 0u32);
        let addr = if kind == GicKind::Sysreg {
            &mut wide as *mut u64 as u64
        } else {
            &mut narrow as *mut u32 as u64
        };
        let mut a = kvm_device_attr {
            flags: 0,
            group: gic::group(kind),
            attr,
            addr,
        };
        // SAFETY: `addr` points to a live local of the width this group
        // transfers (64 bits for CPU system registers, 32 otherwise), which
        // KVM writes during the ioctl only.
        unsafe { self.0.get_device_attr(&mut a) }?;
        Ok(if kind == GicKind::Sysreg {
            wide
        } else {
            u64::from(narrow)
        })
    }

    fn set(&self, kind: GicKind, attr: u64, value: u64) -> Result<(), Self::Error> {
        let narrow = value as u32;
        let addr = if kind == GicKind::Sysreg {
            &value as *const u64 as u64
        } else {
            &narrow as *const u32 as u64
        };
        self.0.set_device_attr(&kvm_device_attr {
            flags: 0,
            group: gic::group(kind),
            attr,
            addr,
        })
    }
}

/// Every register ID `KVM_GET_REG_LIST` gives for `vcpu` (kvm-bindings
/// caps the list at 500 entries; arm64 vCPUs have fewer).
pub fn reg_ids(vcpu: &VcpuFd) -> Result<Vec<u64>, VmmError> {
    let fam = |n| ctx(RegList::new(n), "allocating a register list");
    let mut list = fam(500)?;
    if let Err(e) = vcpu.get_reg_list(&mut list) {
        if e.errno() != libc::E2BIG {
            return Err(VmmError(format!("KVM_GET_REG_LIST: {e}")));
        }
        // KVM wrote back how many there are.
        let n = list.as_fam_struct_ref().n as usize;
        list = fam(n)?;
        ctx(vcpu.get_reg_list(&mut list), "KVM_GET_REG_LIST")?;
    }
    Ok(list.as_slice().to_vec())
}

/// Reads one vCPU whole: its registers in `KVM_GET_REG_LIST` order and
/// its MP state.
pub fn read_vcpu(vcpu: &VcpuFd, features: u32) -> Result<VcpuState, VmmError> {
    let mut regs_out = Vec::new();
    let mut buf = [0u8; regs::MAX_REG_BYTES];
    for id in reg_ids(vcpu)? {
        let size = regs::reg_size(id).ok_or_else(|| {
            VmmError(format!(
                "KVM listed register {id:#x} with a size this refvmm cannot hold"
            ))
        })?;
        ctx(
            vcpu.get_one_reg(id, &mut buf[..size]),
            &format!("reading {}", regs::name(id)),
        )?;
        regs_out.push(Reg {
            id,
            value: buf[..size].to_vec(),
        });
    }
    let mp = ctx(vcpu.get_mp_state(), "KVM_GET_MP_STATE")?;
    Ok(VcpuState {
        features,
        mp_state: mp.mp_state,
        regs: regs_out,
    })
}

/// Writes guest RAM to `DIR/ram.img` as a sparse file: all-zero pages stay
/// holes. Returns the entry and the bytes actually written.
fn write_ram(dir: &Path, mem: &GuestMem) -> Result<(FileEntry, u64), VmmError> {
    const PAGE: usize = 4096;
    const CHUNK: usize = 2 << 20;
    let path = dir.join(image::RAM);
    let file = ctx(File::create(&path), &format!("creating {}", path.display()))?;
    let size = mem.ram_size();
    ctx(file.set_len(size), "sizing ram.img")?;
    let mut buf = vec![0u8; CHUNK];
    let mut written = 0u64;
    let mut at = 0u64;
    while at < size {
        let n = (size - at).min(CHUNK as u64) as usize;
        let chunk = &mut buf[..n];
        ctx(
            mem.ram.read_slice(chunk, GuestAddress(RAM_BASE + at)),
            "reading guest RAM",
        )?;
        // Write each run of non-zero pages with one call.
        let mut run: Option<usize> = None;
        for (i, page) in chunk.chunks(PAGE).enumerate() {
            let zero = page.iter().all(|b| *b == 0);
            match (zero, run) {
                (false, None) => run = Some(i * PAGE),
                (true, Some(start)) => {
                    write_at(&file, &chunk[start..i * PAGE], at + start as u64)?;
                    written += (i * PAGE - start) as u64;
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(start) = run {
            write_at(&file, &chunk[start..], at + start as u64)?;
            written += (n - start) as u64;
        }
        at += n as u64;
    }
    ctx(file.sync_all(), "syncing ram.img")?;
    let entry = FileEntry {
        name: image::RAM.into(),
        size,
        crc32: None,
    };
    Ok((entry, written))
}

fn write_at(file: &File, data: &[u8], offset: u64) -> Result<(), VmmError> {
    ctx(file.write_all_at(data, offset), "writing ram.img")
}

/// What a save needs from the stopped machine.
#[derive(Debug)]
pub struct Saving<'a> {
    /// Where to write the image.
    pub dir: &'a Path,
    /// The machine (fwcall, UART).
    pub machine: &'a Machine,
    /// The vGIC.
    pub gic: &'a DeviceFd,
    /// Every vCPU, out of `KVM_RUN` for good.
    pub vcpus: &'a [VcpuFd],
    /// Guest memory.
    pub mem: &'a GuestMem,
    /// `kvm_vcpu_init.features[0]` the vCPUs were created with.
    pub features: u32,
    /// When the pause was requested.
    pub paused_at: Instant,
    /// The host count when the last vCPU thread left its loop (0: unknown).
    pub stopped_at: u64,
    /// Host ticks between the first and the last vCPU stopping.
    pub stop_skew: u64,
}

/// Saves the stopped VM; returns the `fwcall-migrate-saved` line.
pub fn save(s: &Saving<'_>) -> Result<String, VmmError> {
    let first = s
        .vcpus
        .first()
        .ok_or_else(|| VmmError("no vCPU to save".into()))?;
    // The guest's count and realtime when it stopped: read now, then moved
    // back by the host ticks since the last vCPU left its loop.
    let now_count = ctx(
        read_one_reg(first, regs::TIMER_CNT),
        "reading the guest's counter (KVM_REG_ARM_TIMER_CNT)",
    )?;
    let host_now = clock::host::counter();
    let realtime_now = clock::realtime_ns();
    let freq_hz = clock::host::frequency();
    let since_stop = match s.stopped_at {
        0 => 0,
        at => host_now.saturating_sub(at),
    };
    let saved_clock = fwcall::pvtime::offset::SavedClock {
        guest_count: now_count.wrapping_sub(since_stop),
        realtime_ns: realtime_now.saturating_sub(clock::ticks_to_ns(since_stop, freq_hz)),
        freq_hz,
    };

    let fw_start = Instant::now();
    let blob = ctx(s.machine.current().snapshot(), "fwcall snapshot")?;
    let fwcall_time = fw_start.elapsed();

    let mut vcpus = Vec::new();
    for fd in s.vcpus {
        vcpus.push(read_vcpu(fd, s.features)?);
    }
    let mpidrs: Vec<u64> = vcpus
        .iter()
        .map(|v| v.reg(regs::MPIDR_EL1).and_then(Reg::as_u64).unwrap_or(0))
        .collect();
    let gic_writes = ctx(gic::save(&KvmGic(s.gic), &mpidrs), "saving the vGIC")?;
    let uart_lcr = s
        .machine
        .devices
        .uart()
        .lock()
        .map(|u| u.lcr())
        .unwrap_or(0);
    let machine = MachineState {
        vcpus,
        gic: gic_writes,
        uart_lcr,
    };

    let mut pvtime = vec![0u8; PVTIME_SIZE as usize];
    ctx(
        s.mem
            .pvtime
            .read_slice(&mut pvtime, GuestAddress(PVTIME_BASE)),
        "reading the PV-time region",
    )?;

    let dir = s.dir;
    ctx(image::create_dir(dir), "saving")?;
    let (ram, ram_written) = write_ram(dir, s.mem)?;
    let mut files = vec![ram];
    files.push(ctx(
        image::write_file(dir, image::PVTIME, &pvtime),
        "saving",
    )?);
    files.push(ctx(image::write_file(dir, image::FWCALL, &blob), "saving")?);
    files.push(ctx(
        image::write_file(dir, image::MACHINE, machine.encode().as_bytes()),
        "saving",
    )?);
    let manifest = Manifest {
        vcpus: s.vcpus.len() as u32,
        ram_base: RAM_BASE,
        ram_size: s.mem.ram_size(),
        clock: saved_clock,
        files,
    };
    ctx(image::commit(dir, &manifest), "saving")?;
    let downtime = Downtime {
        total: s.paused_at.elapsed(),
        fwcall: fwcall_time,
    };
    Ok(format!(
        "fwcall-migrate-saved dir={} guest-count={:#x} realtime-ns={} freq-hz={} stop-skew-us={} ram-bytes={} fwcall-bytes={} {downtime}\n",
        dir.display(),
        saved_clock.guest_count,
        saved_clock.realtime_ns,
        saved_clock.freq_hz,
        clock::ticks_to_ns(s.stop_skew, freq_hz) / 1000,
        ram_written,
        blob.len(),
    ))
}
