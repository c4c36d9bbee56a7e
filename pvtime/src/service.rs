//! The PV-time service of one VM: answers `PV_TIME_*` calls, accounts
//! stolen time per vCPU and keeps the guest-visible structures current.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fwcall_smccc::error::{NOT_SUPPORTED, SUCCESS};
use fwcall_smccc::{Call, FunctionId, Reply, VcpuIndex, ids};
use zerocopy::IntoBytes;

use crate::config::{LptConfig, PvTimeConfig, PvTimeConfigError};
use crate::lpt::{Coefficients, LptRecord};
use crate::memory::{Gpa, GuestMemoryAccess, MemoryError, MemoryRegion};
use crate::state::{LptState, PvTimeState, PvTimeStateError, VcpuPvState, on_off};
use crate::stolen::{RECORD_SIZE, STOLEN_TIME_OFFSET, StolenTimeRecord};

/// First function ID of the SMC64 PV-time range fwcall owns.
pub const PV_TIME_RANGE_64: core::ops::RangeInclusive<u32> = 0xC500_0000..=0xC500_FFFF;
/// The SMC32 aliases: never served (DEN0057A defines only SMC64 calls).
pub const PV_TIME_RANGE_32: core::ops::RangeInclusive<u32> = 0x8500_0000..=0x8500_FFFF;

/// One vCPU's slot: written by that vCPU's thread, lock-free. Aligned to
/// 128 bytes (two cache lines, as adjacent-line prefetchers pair them) so
/// vCPU threads accounting steal side by side never share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct VcpuSlot {
    stolen: AtomicU64,
    enabled: AtomicBool,
}

#[derive(Debug)]
struct Lpt {
    config: LptConfig,
    coefficients: Coefficients,
    sequence: AtomicU64,
    published: AtomicBool,
    guest_queried: AtomicBool,
}

/// PV time for one VM: `Send + Sync`, shared by every vCPU thread.
///
/// Per-vCPU state is a pair of atomics, so the hot paths ([`PvTime::call`],
/// [`PvTime::account`]) take no lock and never allocate. Call
/// [`PvTime::start`] before any vCPU runs (first run and after a restore).
///
/// ```
/// use fwcall_pvtime::{AtomicMemory, Gpa, MemoryRegion, PvTime, PvTimeConfig};
/// use fwcall_smccc::{ids, Call, Reply, VcpuIndex};
///
/// let ram = [MemoryRegion::new(0x4000_0000, 0x1000_0000)];
/// let reserved = [MemoryRegion::new(0x0a10_0000, 0x1_0000)];
/// let cfg = PvTimeConfig { stolen_time_base: Some(Gpa(0x0a10_0000)), ..Default::default() };
/// let pv = PvTime::new(&cfg, 2, &ram, &reserved).unwrap();
/// let mem = AtomicMemory::new(&reserved);
/// pv.start(&mem).unwrap();
///
/// // The Linux probe: PV_TIME_FEATURES(PV_TIME_ST), then PV_TIME_ST per CPU.
/// let feat = Call::new(ids::PV_TIME_FEATURES, &[ids::PV_TIME_ST.raw() as u64]);
/// assert_eq!(pv.call(VcpuIndex(0), &feat, &mem), Some(Reply::x0(0)));
/// let st = Call::new(ids::PV_TIME_ST, &[]);
/// assert_eq!(pv.call(VcpuIndex(1), &st, &mem), Some(Reply::x0(0x0a10_0040)));
///
/// assert_eq!(pv.account(VcpuIndex(1), 1500, &mem), Ok(1500));
/// assert_eq!(mem.read_u64(Gpa(0x0a10_0048)), Ok(1500));
/// ```
#[derive(Debug)]
pub struct PvTime {
    enabled: bool,
    base: Option<Gpa>,
    native_hz: u32,
    vcpus: Box<[VcpuSlot]>,
    lpt: Option<Lpt>,
}

impl PvTime {
    /// Builds the service for `vcpus` vCPUs after checking `config` against
    /// the guest's RAM and the regions the VMM reserved for PV time.
    pub fn new(
        config: &PvTimeConfig,
        vcpus: usize,
        ram: &[MemoryRegion],
        reserved: &[MemoryRegion],
    ) -> Result<Self, PvTimeConfigError> {
        let layout = config.layout(vcpus, ram, reserved)?;
        Ok(PvTime {
            enabled: config.enabled,
            base: layout.table.map(|t| t.base),
            native_hz: config.native_hz,
            vcpus: (0..vcpus).map(|_| VcpuSlot::default()).collect(),
            lpt: layout.lpt.map(|(config, coefficients)| Lpt {
                config,
                coefficients,
                sequence: AtomicU64::new(0),
                published: AtomicBool::new(false),
                guest_queried: AtomicBool::new(false),
            }),
        })
    }

    /// Number of vCPUs.
    pub fn vcpus(&self) -> usize {
        self.vcpus.len()
    }

    /// Whether PV time is on and the stolen-time table is placed.
    pub fn is_available(&self) -> bool {
        self.enabled && self.base.is_some()
    }

    /// The address of vCPU `vcpu`'s record, if placed and the vCPU exists.
    pub fn record_address(&self, vcpu: VcpuIndex) -> Option<Gpa> {
        if vcpu.get() >= self.vcpus.len() {
            return None;
        }
        // In range by construction: the whole table was checked not to wrap.
        self.base?.checked_add(vcpu.get() as u64 * RECORD_SIZE)
    }

    /// The LPT coefficients published for this host, if LPT is configured.
    pub fn lpt_coefficients(&self) -> Option<Coefficients> {
        self.lpt.as_ref().map(|l| l.coefficients)
    }

    /// Serves a PV-time call from `vcpu`.
    ///
    /// Answers only the SMC64 IDs `PV_TIME_FEATURES`, `PV_TIME_ST` and (with
    /// LPT) `PV_TIME_LPT` while PV time is on; `None` for everything else,
    /// including the SMC32 aliases and all of PV time when it is off: the
    /// dispatcher then answers `NOT_SUPPORTED`. The SVE hint bit is ignored.
    #[inline]
    pub fn call<M: GuestMemoryAccess + ?Sized>(
        &self,
        vcpu: VcpuIndex,
        call: &Call,
        mem: &M,
    ) -> Option<Reply> {
        self.answer(vcpu, call, mem).map(Reply::x0)
    }

    /// The same as [`PvTime::call`], as the one value every PV-time call
    /// returns in `X0` (errors sign-extended): cheaper on a hot path, as no
    /// reply is built until the caller builds its own.
    #[inline]
    pub fn answer<M: GuestMemoryAccess + ?Sized>(
        &self,
        vcpu: VcpuIndex,
        call: &Call,
        mem: &M,
    ) -> Option<u64> {
        if !self.enabled {
            return None;
        }
        let r = match call.fid().without_sve_hint() {
            ids::PV_TIME_FEATURES => self.features(FunctionId::from_register(call.arg(1))),
            ids::PV_TIME_ST => match self.enable_record(vcpu, mem) {
                Some(addr) => return Some(addr.0),
                None => NOT_SUPPORTED,
            },
            ids::PV_TIME_LPT => {
                let l = self.lpt.as_ref()?;
                if l.published.load(Ordering::Acquire) {
                    l.guest_queried.store(true, Ordering::Relaxed);
                    return Some(l.config.ipa.0);
                }
                NOT_SUPPORTED
            }
            _ => return None,
        };
        Some(r as u64)
    }

    /// `PV_TIME_FEATURES(queried)`: 0 for the discovery call and
    /// `PV_TIME_ST` when the table is placed, 0 for `PV_TIME_LPT` once a
    /// structure was published for this run, -1 otherwise (an SMC32 alias
    /// included).
    fn features(&self, queried: FunctionId) -> i64 {
        let yes = match queried {
            ids::PV_TIME_FEATURES | ids::PV_TIME_ST => self.base.is_some(),
            ids::PV_TIME_LPT => self
                .lpt
                .as_ref()
                .is_some_and(|l| l.published.load(Ordering::Acquire)),
            _ => false,
        };
        if yes { SUCCESS } else { NOT_SUPPORTED }
    }

    /// Writes `vcpu`'s whole record (header, current total, zero padding)
    /// and marks it enabled. The total is never reset: a CPU that goes
    /// offline and online again keeps a monotonic `stolen_time`.
    fn enable_record<M: GuestMemoryAccess + ?Sized>(
        &self,
        vcpu: VcpuIndex,
        mem: &M,
    ) -> Option<Gpa> {
        let addr = self.record_address(vcpu)?;
        let slot = self.vcpus.get(vcpu.get())?;
        // Written once: every later update keeps it current, and `start()`
        // rewrites it after a restore, so a repeated PV_TIME_ST (CPU
        // hotplug) only returns the address.
        if slot.enabled.load(Ordering::Acquire) {
            return Some(addr);
        }
        self.write_record(addr, slot.stolen.load(Ordering::Acquire), mem)
            .ok()?;
        slot.enabled.store(true, Ordering::Release);
        Some(addr)
    }

    /// Header and padding as byte writes, `stolen_time` as its own 64-bit
    /// store, so a reader on another CPU never sees a torn value.
    fn write_record<M: GuestMemoryAccess + ?Sized>(
        &self,
        addr: Gpa,
        stolen: u64,
        mem: &M,
    ) -> Result<(), MemoryError> {
        let rec = StolenTimeRecord::new(stolen);
        let bytes = rec.as_bytes();
        let stolen_at = addr
            .checked_add(STOLEN_TIME_OFFSET)
            .ok_or(MemoryError::OutOfRange {
                addr,
                len: RECORD_SIZE,
            })?;
        let tail_at = addr.checked_add(16).ok_or(MemoryError::OutOfRange {
            addr,
            len: RECORD_SIZE,
        })?;
        mem.write_bytes(addr, &bytes[..8])?;
        mem.write_bytes(tail_at, &bytes[16..])?;
        mem.write_u64(stolen_at, stolen)
    }

    /// What `SMCCC_ARCH_FEATURES(fid)` answers for a PV-time ID: the same
    /// as `PV_TIME_FEATURES(fid)` while PV time is on (0 for
    /// `PV_TIME_FEATURES` and `PV_TIME_ST` once placed, 0 for `PV_TIME_LPT`
    /// once published), -1 otherwise. Truthful for every PV-time function,
    /// so a guest without KVM discovers them all through it.
    pub fn arch_features(&self, fid: FunctionId) -> i64 {
        if self.enabled {
            self.features(fid)
        } else {
            NOT_SUPPORTED
        }
    }

    /// The number of OEN 5 functions served, for the general Call Count
    /// query: 0 when off, 2 (`FEATURES`, `ST`), 3 with LPT.
    pub fn functions_served(&self) -> u32 {
        match (self.enabled, self.lpt.is_some()) {
            (false, _) => 0,
            (true, false) => 2,
            (true, true) => 3,
        }
    }

    /// Adds `ns` stolen nanoseconds to `vcpu` (saturating: the total never
    /// wraps or decreases) and, if the guest enabled its record, stores the
    /// new total there as one 64-bit write. Returns the new total.
    ///
    /// Call it from the vCPU's own thread before it re-enters the guest
    /// (concurrent calls for the same vCPU may publish out of order).
    /// The total counts from the vCPU's creation, also while the guest has
    /// not enabled its record. A failed write leaves the total accounted; the
    /// next call writes it again.
    #[inline]
    pub fn account<M: GuestMemoryAccess + ?Sized>(
        &self,
        vcpu: VcpuIndex,
        ns: u64,
        mem: &M,
    ) -> Result<u64, MemoryError> {
        let slot = self
            .vcpus
            .get(vcpu.get())
            .ok_or(MemoryError::NoSuchVcpu { vcpu })?;
        let old = slot
            .stolen
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_add(ns))
            })
            .unwrap_or_else(|v| v);
        let total = old.saturating_add(ns);
        if self.enabled
            && slot.enabled.load(Ordering::Acquire)
            && let Some(base) = self.base
        {
            // The table was checked not to wrap at construction.
            let addr = Gpa(base.0 + vcpu.get() as u64 * RECORD_SIZE + STOLEN_TIME_OFFSET);
            mem.write_u64(addr, total)?;
        }
        Ok(total)
    }

    /// Total stolen nanoseconds of `vcpu` (0 for an unknown vCPU).
    pub fn stolen_ns(&self, vcpu: VcpuIndex) -> u64 {
        self.vcpus
            .get(vcpu.get())
            .map_or(0, |s| s.stolen.load(Ordering::Acquire))
    }

    /// Whether the guest enabled `vcpu`'s record with `PV_TIME_ST`.
    pub fn guest_enabled(&self, vcpu: VcpuIndex) -> bool {
        self.vcpus
            .get(vcpu.get())
            .is_some_and(|s| s.enabled.load(Ordering::Acquire))
    }

    /// Prepares guest memory before any vCPU runs (first run, and after
    /// every restore): rewrites each enabled stolen-time record with its
    /// current total (so a destination whose reserved region was not
    /// migrated still shows a valid, monotonic record) and, with LPT,
    /// publishes this host's coefficients with the sequence number raised
    /// by 2.
    pub fn start<M: GuestMemoryAccess + ?Sized>(&self, mem: &M) -> Result<(), MemoryError> {
        self.start_with(mem, true)
    }

    /// [`PvTime::start`], publishing the LPT structure only when `lpt` is
    /// true: a VM whose guest ABI switches LPT off writes nothing for it
    /// (and `PV_TIME_LPT` then answers -1 for this run).
    pub fn start_with<M: GuestMemoryAccess + ?Sized>(
        &self,
        mem: &M,
        lpt: bool,
    ) -> Result<(), MemoryError> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(base) = self.base {
            for (i, slot) in self.vcpus.iter().enumerate() {
                if slot.enabled.load(Ordering::Acquire) {
                    let addr = Gpa(base.0 + i as u64 * RECORD_SIZE);
                    self.write_record(addr, slot.stolen.load(Ordering::Acquire), mem)?;
                }
            }
        }
        if let Some(l) = self.lpt.as_ref().filter(|_| lpt) {
            let seq = l.sequence.load(Ordering::Acquire).wrapping_add(2) & !1;
            let rec = LptRecord::new(seq, self.native_hz, l.config.pv_hz, &l.coefficients);
            rec.publish(mem, l.config.ipa)?;
            l.sequence.store(seq, Ordering::Release);
            l.published.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// The complete state for a snapshot (take it while every vCPU is paused).
    pub fn state(&self) -> PvTimeState {
        PvTimeState {
            enabled: self.enabled,
            stolen_time_base: self.base,
            vcpus: self
                .vcpus
                .iter()
                .map(|s| VcpuPvState {
                    stolen_ns: s.stolen.load(Ordering::Acquire),
                    guest_enabled: s.enabled.load(Ordering::Acquire),
                })
                .collect::<Vec<_>>(),
            lpt: self.lpt.as_ref().map(|l| {
                let sequence = l.sequence.load(Ordering::Acquire);
                LptState {
                    ipa: l.config.ipa,
                    pv_hz: l.config.pv_hz,
                    native_hz: self.native_hz,
                    sequence,
                    guest_queried: l.guest_queried.load(Ordering::Relaxed),
                }
            }),
            native_hz: self.native_hz,
        }
    }

    /// Rebuilds the service on a destination from its own configuration and
    /// a saved state. The destination may have another native frequency
    /// (LPT then publishes new coefficients at [`PvTime::start`]); the
    /// vCPU count, the on/off setting, every placement and the PV frequency
    /// must match. Never panics, whatever the state holds.
    pub fn restore(
        config: &PvTimeConfig,
        vcpus: usize,
        ram: &[MemoryRegion],
        reserved: &[MemoryRegion],
        state: &PvTimeState,
    ) -> Result<Self, PvTimeStateError> {
        let pv = PvTime::new(config, vcpus, ram, reserved)?;
        if state.vcpus.len() != vcpus {
            return Err(PvTimeStateError::VcpuCount {
                expected: vcpus,
                found: state.vcpus.len(),
            });
        }
        if state.enabled != config.enabled {
            return Err(PvTimeStateError::EnabledChanged {
                saved: on_off(state.enabled),
                dest: on_off(config.enabled),
            });
        }
        if state.stolen_time_base != pv.base {
            return Err(PvTimeStateError::PlacementChanged {
                saved: state.stolen_time_base,
                dest: pv.base,
            });
        }
        if state.stolen_time_base.is_none()
            && let Some(i) = state.vcpus.iter().position(|v| v.guest_enabled)
        {
            return Err(PvTimeStateError::EnabledWithoutTable { vcpu: i });
        }
        match (&state.lpt, &pv.lpt) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err(PvTimeStateError::LptChanged {
                    saved: on_off(state.lpt.is_some()),
                    dest: on_off(pv.lpt.is_some()),
                });
            }
            (Some(saved), Some(dest)) => {
                if saved.ipa != dest.config.ipa {
                    return Err(PvTimeStateError::LptMoved {
                        saved: saved.ipa,
                        dest: dest.config.ipa,
                    });
                }
                if saved.pv_hz != dest.config.pv_hz {
                    return Err(PvTimeStateError::PvFrequencyChanged {
                        saved: saved.pv_hz,
                        dest: dest.config.pv_hz,
                    });
                }
                if saved.sequence & 1 != 0 {
                    return Err(PvTimeStateError::OddSequence(saved.sequence));
                }
                dest.sequence.store(saved.sequence, Ordering::Relaxed);
                dest.guest_queried
                    .store(saved.guest_queried, Ordering::Relaxed);
            }
        }
        for (slot, saved) in pv.vcpus.iter().zip(&state.vcpus) {
            slot.stolen.store(saved.stolen_ns, Ordering::Relaxed);
            slot.enabled.store(saved.guest_enabled, Ordering::Relaxed);
        }
        Ok(pv)
    }
}
