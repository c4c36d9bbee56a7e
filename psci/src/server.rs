//! The PSCI server of one VM.

use alloc::vec::Vec;

use fwcall_smccc::{
    Call, CpuStart, FunctionId, Kicks, Mpidr, Outcome, PowerAction, Reply, ResetKind, SmcccVersion,
    VcpuIndex, ids,
};

use crate::codes::{
    AFFINITY_OFF, AFFINITY_ON, AFFINITY_ON_PENDING, ALREADY_ON, INTERNAL_FAILURE, INVALID_ADDRESS,
    INVALID_PARAMETERS, MIGRATE_NOT_REQUIRED, NOT_SUPPORTED, ON_PENDING, SUCCESS,
};
use crate::power::{PowerState, PowerTable};
use crate::{PsciConfig, PsciConfigError, PsciVersion};

/// The affinity fields of an MPIDR: Aff3 (39:32) and Aff2..Aff0 (23:0).
/// Any other bit set in a `CPU_ON` or `AFFINITY_INFO` target is invalid.
pub const AFFINITY_MASK: u64 = Mpidr::AFFINITY_MASK;

/// `CPU_SUSPEND` `power_state` bits that must be zero in the original
/// format (the one `PSCI_FEATURES(CPU_SUSPEND)` = 0 advertises): 31:26 and 23:17.
pub const POWER_STATE_SBZ: u32 = 0xFCFE_0000;

/// `SYSTEM_RESET2` reset type bit 31: vendor-specific types.
pub const RESET_TYPE_VENDOR: u32 = 1 << 31;

/// What dispatch does when power state changes: the seam where other
/// services follow the PE's power (SDEI resets a vCPU's private state).
/// Both methods run inside the `CPU_ON`/`CPU_OFF` call, before the new
/// state is published, and return the vCPUs to kick.
pub trait PowerHook {
    /// `target` is being powered on by `CPU_ON` (it is `OnPending`).
    fn cpu_on(&self, target: VcpuIndex) -> Kicks {
        let _ = target;
        Kicks::none()
    }

    /// `vcpu` is powering itself off with `CPU_OFF` (still `On`).
    fn cpu_off(&self, vcpu: VcpuIndex) -> Kicks {
        let _ = vcpu;
        Kicks::none()
    }
}

/// A [`PowerHook`] that does nothing: PSCI on its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHook;

impl PowerHook for NoHook {}

/// The functions fwcall implements (each version serves a subset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    Version,
    CpuSuspend,
    CpuOff,
    CpuOn,
    AffinityInfo,
    MigrateInfoType,
    SystemOff,
    SystemReset,
    Features,
    SystemReset2,
}

/// A PSCI server for one VM: the version, and the power state of every
/// vCPU as one atomic each. Shared by the vCPU threads (`Send + Sync`);
/// no call takes a lock or allocates.
///
/// ```
/// use fwcall_psci::{NoHook, Psci, PsciConfig, PsciVersion, PowerState};
/// use fwcall_smccc::{ids, Call, Mpidr, PowerAction, Reply, SmcccVersion, VcpuIndex};
///
/// let mpidrs = [Mpidr::kvm_default(0), Mpidr::kvm_default(1)];
/// let psci = Psci::new(&PsciConfig::new(PsciVersion::V1_1), &mpidrs, SmcccVersion::V1_1, &[]).unwrap();
/// assert_eq!(psci.power_state(VcpuIndex(1)), PowerState::Off);
///
/// // vCPU 0 starts vCPU 1 at 0x4008_0000 with context ID 7.
/// let on = Call::new(ids::PSCI_CPU_ON_64, &[0x1, 0x4008_0000, 7]);
/// let out = psci.call(VcpuIndex(0), &on, &NoHook);
/// assert_eq!(out.reply, Reply::x0(0));
/// let Some(PowerAction::CpuOn(start)) = out.power else { unreachable!() };
/// assert_eq!((start.target, start.entry, start.context_id), (VcpuIndex(1), 0x4008_0000, 7));
/// assert!(out.kicks.contains(VcpuIndex(1)));
/// assert_eq!(psci.power_state(VcpuIndex(1)), PowerState::On);
/// ```
#[derive(Debug)]
pub struct Psci {
    version: PsciVersion,
    smccc_1_1: bool,
    pub(crate) power: PowerTable,
    boot: Vec<VcpuIndex>,
    /// (affinity, vCPU index), sorted by affinity.
    by_affinity: Vec<(u64, u32)>,
    /// Each vCPU's affinity, by index: an O(1) hit for KVM's default layout.
    affinity_of: Vec<u64>,
    /// RAM as (first, last) addresses: where a `CPU_ON` entry may be.
    ram: Vec<(u64, u64)>,
}

impl Psci {
    /// Builds the server for a VM whose vCPU `i` has `mpidrs[i]`, reporting
    /// SMCCC `smccc` (for `PSCI_FEATURES(SMCCC_VERSION)`), with the guest's
    /// RAM as `(base, size)` pairs (an empty list skips the RAM check of
    /// `CPU_ON` entry points). The vCPUs in `config.boot` start on.
    pub fn new(
        config: &PsciConfig,
        mpidrs: &[Mpidr],
        smccc: SmcccVersion,
        ram: &[(u64, u64)],
    ) -> Result<Self, PsciConfigError> {
        config.validate(mpidrs.len())?;
        let mut by_affinity: Vec<(u64, u32)> = mpidrs
            .iter()
            .enumerate()
            .map(|(i, m)| (m.affinity(), i as u32))
            .collect();
        by_affinity.sort_unstable();
        if let Some(w) = by_affinity.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(PsciConfigError::DuplicateMpidr {
                first: w[0].1.min(w[1].1) as usize,
                second: w[0].1.max(w[1].1) as usize,
                affinity: w[0].0,
            });
        }
        let affinity_of = mpidrs.iter().map(|m| m.affinity()).collect();
        let boot = config.boot.clone();
        let power = PowerTable::new(boot_states(&boot, mpidrs.len()));
        Ok(Psci {
            version: config.version,
            smccc_1_1: smccc.has_arch_calls(),
            power,
            boot,
            by_affinity,
            affinity_of,
            ram: ram
                .iter()
                .filter(|(_, size)| *size > 0)
                .map(|(b, s)| (*b, b.saturating_add(s - 1)))
                .collect(),
        })
    }

    /// Like [`Psci::new`], with the power state of every vCPU given (a
    /// restore). `OnPending` is taken as `On`: the `CPU_ON` that set it
    /// had finished by the time the VM was paused.
    pub fn restore(
        config: &PsciConfig,
        mpidrs: &[Mpidr],
        smccc: SmcccVersion,
        ram: &[(u64, u64)],
        states: &[PowerState],
    ) -> Result<Self, PsciConfigError> {
        if states.len() != mpidrs.len() {
            return Err(PsciConfigError::StateCount {
                states: states.len(),
                vcpus: mpidrs.len(),
            });
        }
        let psci = Self::new(config, mpidrs, smccc, ram)?;
        for (i, s) in states.iter().enumerate() {
            psci.power.set(i, normalize(*s));
        }
        Ok(psci)
    }

    /// The version served.
    pub fn version(&self) -> PsciVersion {
        self.version
    }

    /// The vCPUs on at boot and after a system reset.
    pub fn boot(&self) -> &[VcpuIndex] {
        &self.boot
    }

    /// A vCPU's power state (`Off` for an unknown vCPU).
    #[inline]
    pub fn power_state(&self, vcpu: VcpuIndex) -> PowerState {
        self.power.get(vcpu.get())
    }

    /// Every vCPU's power state, in order (for a snapshot: pause every vCPU
    /// first).
    pub fn power_states(&self) -> Vec<PowerState> {
        (0..self.power.len())
            .map(|i| normalize(self.power.get(i)))
            .collect()
    }

    /// Back to the boot state (a system reset): the boot vCPUs on, every
    /// other vCPU off. Pause every vCPU first.
    pub fn reset(&self) {
        for (i, s) in boot_states(&self.boot, self.power.len()).enumerate() {
            self.power.set(i, s);
        }
    }

    /// Whether this version implements `fid` (for `PSCI_FEATURES` and
    /// `SMCCC_ARCH_FEATURES`). SMC64 IDs of SMC32-only functions and the
    /// functions fwcall leaves unimplemented are not.
    pub fn implements(&self, fid: FunctionId) -> bool {
        self.function(fid).is_some()
    }

    #[inline]
    fn function(&self, fid: FunctionId) -> Option<Function> {
        use Function::*;
        let f = match fid {
            ids::PSCI_VERSION => Version,
            ids::PSCI_CPU_SUSPEND | ids::PSCI_CPU_SUSPEND_64 => CpuSuspend,
            ids::PSCI_CPU_OFF => CpuOff,
            ids::PSCI_CPU_ON | ids::PSCI_CPU_ON_64 => CpuOn,
            ids::PSCI_AFFINITY_INFO | ids::PSCI_AFFINITY_INFO_64 => AffinityInfo,
            ids::PSCI_MIGRATE_INFO_TYPE => MigrateInfoType,
            ids::PSCI_SYSTEM_OFF => SystemOff,
            ids::PSCI_SYSTEM_RESET => SystemReset,
            ids::PSCI_FEATURES if self.version.has_features() => Features,
            ids::PSCI_SYSTEM_RESET2 | ids::PSCI_SYSTEM_RESET2_64 if self.version.has_reset2() => {
                SystemReset2
            }
            _ => return None,
        };
        Some(f)
    }

    /// Serves one PSCI call (function ID already stripped of the SVE hint)
    /// from `vcpu`. Arguments of SMC32 IDs are their low 32 bits, and so are
    /// the `uint32` arguments of SMC64 IDs. Results are written to `X0` only.
    /// `hook` runs at power transitions (see [`PowerHook`]).
    #[inline]
    pub fn call<H: PowerHook + ?Sized>(&self, vcpu: VcpuIndex, call: &Call, hook: &H) -> Outcome {
        // Every arm ends in one outcome constructor, so the (large) value is
        // built once, in the caller's slot.
        let signed = |code| Outcome::reply(Reply::signed(code));
        let act = |reply, power| Outcome {
            reply,
            kicks: Kicks::none(),
            power: Some(power),
        };
        match self.function(call.fid()) {
            None => signed(NOT_SUPPORTED),
            Some(Function::Version) => Outcome::reply(Reply::x0(self.version.to_word() as u64)),
            Some(Function::AffinityInfo) => match self.affinity_info(call.arg(1), call.arg(2)) {
                Ok(v) => Outcome::reply(Reply::x0(v)),
                Err(code) => signed(code),
            },
            Some(Function::CpuSuspend) => {
                if call.arg(1) as u32 & POWER_STATE_SBZ != 0 {
                    signed(INVALID_PARAMETERS)
                } else {
                    // Standby and power-down alike: WFI-like, registers kept.
                    act(Reply::signed(SUCCESS), PowerAction::Standby)
                }
            }
            Some(Function::CpuOff) => {
                let kicks = hook.cpu_off(vcpu);
                self.power.set(vcpu.get(), PowerState::Off);
                Outcome {
                    reply: Reply::Nothing,
                    kicks,
                    power: Some(PowerAction::CpuOff),
                }
            }
            Some(Function::CpuOn) => match self.cpu_on(call) {
                Err(code) => signed(code),
                Ok(start) => {
                    let mut kicks = hook.cpu_on(start.target);
                    self.power.set(start.target.get(), PowerState::On);
                    kicks.add(start.target);
                    Outcome {
                        reply: Reply::signed(SUCCESS),
                        kicks,
                        power: Some(PowerAction::CpuOn(start)),
                    }
                }
            },
            Some(Function::MigrateInfoType) => Outcome::reply(Reply::x0(MIGRATE_NOT_REQUIRED)),
            Some(Function::SystemOff) => {
                act(Reply::signed(INTERNAL_FAILURE), PowerAction::SystemOff)
            }
            Some(Function::SystemReset) => act(
                Reply::signed(INTERNAL_FAILURE),
                PowerAction::SystemReset(ResetKind::Cold),
            ),
            Some(Function::SystemReset2) => {
                let kind = call.arg(1) as u32;
                if kind == 0 {
                    let warm = ResetKind::Warm {
                        cookie: call.arg(2),
                    };
                    act(
                        Reply::signed(INTERNAL_FAILURE),
                        PowerAction::SystemReset(warm),
                    )
                } else if kind & RESET_TYPE_VENDOR != 0 {
                    signed(NOT_SUPPORTED)
                } else {
                    signed(INVALID_PARAMETERS)
                }
            }
            Some(Function::Features) => signed(self.features(call.arg(1) as u32)),
        }
    }

    /// `PSCI_FEATURES(fid)`.
    fn features(&self, fid: u32) -> i64 {
        if fid == ids::SMCCC_VERSION.raw() {
            return if self.smccc_1_1 {
                SUCCESS
            } else {
                NOT_SUPPORTED
            };
        }
        // Every implemented function reports 0, CPU_SUSPEND included:
        // platform-coordinated mode only, original power_state format.
        if self.implements(FunctionId(fid)) {
            SUCCESS
        } else {
            NOT_SUPPORTED
        }
    }

    /// The vCPU with exactly this affinity. Tries the index KVM's default
    /// MPIDRs give (Aff0 = i & 0xf, Aff1 = (i >> 4) & 0xff, Aff2 = i >> 12)
    /// first; affinities are unique, so a match there is the answer.
    #[inline]
    fn vcpu_by_affinity(&self, affinity: u64) -> Option<VcpuIndex> {
        let guess = ((affinity & 0xf)
            | ((affinity >> 8) & 0xff) << 4
            | ((affinity >> 16) & 0xff) << 12) as usize;
        if self.affinity_of.get(guess) == Some(&affinity) {
            return Some(VcpuIndex(guess as u32));
        }
        self.by_affinity
            .binary_search_by_key(&affinity, |(a, _)| *a)
            .ok()
            .and_then(|i| self.by_affinity.get(i))
            .map(|(_, v)| VcpuIndex(*v))
    }

    /// `CPU_ON`'s checks in order (target MPIDR, entry point, target state),
    /// claiming the target on success.
    #[inline]
    fn cpu_on(&self, call: &Call) -> Result<CpuStart, i64> {
        let (mpidr, entry, context_id) = (call.arg(1), call.arg(2), call.arg(3));
        if mpidr & !AFFINITY_MASK != 0 {
            return Err(INVALID_PARAMETERS);
        }
        let target = self.vcpu_by_affinity(mpidr).ok_or(INVALID_PARAMETERS)?;
        if !self.valid_entry(entry) {
            return Err(INVALID_ADDRESS);
        }
        match self.power.claim(target) {
            Ok(()) => Ok(CpuStart {
                target,
                entry,
                context_id,
            }),
            Err(PowerState::OnPending) => Err(ON_PENDING),
            Err(_) => Err(ALREADY_ON),
        }
    }

    /// An AArch64 entry point: 4-byte aligned, and inside RAM when the VM
    /// declared its RAM.
    #[inline]
    fn valid_entry(&self, entry: u64) -> bool {
        entry & 3 == 0
            && (self.ram.is_empty() || self.ram.iter().any(|(a, b)| (*a..=*b).contains(&entry)))
    }

    /// `AFFINITY_INFO(target, lowest_level)`: levels 0..=3; the affinity
    /// fields below the level are ignored in both the target and the vCPUs'
    /// MPIDRs. ON if any matching vCPU is on, else `ON_PENDING` if one is
    /// being powered on, else OFF; `INVALID_PARAMETERS` if none matches.
    #[inline]
    fn affinity_info(&self, target: u64, level: u64) -> Result<u64, i64> {
        let level = level as u32;
        if level > 3 || target & !AFFINITY_MASK != 0 {
            return Err(INVALID_PARAMETERS);
        }
        if level == 0 {
            let v = self.vcpu_by_affinity(target).ok_or(INVALID_PARAMETERS)?;
            return Ok(affinity_value(self.power.get(v.get())));
        }
        let below = (1u64 << (8 * level)) - 1;
        let first = target & !below;
        let last = first | below;
        let lo = self.by_affinity.partition_point(|(a, _)| *a < first);
        let hi = self.by_affinity.partition_point(|(a, _)| *a <= last);
        let matching = self.by_affinity.get(lo..hi).unwrap_or(&[]);
        if matching.is_empty() {
            return Err(INVALID_PARAMETERS);
        }
        let mut pending = false;
        for (_, v) in matching {
            match self.power.get(*v as usize) {
                PowerState::On => return Ok(AFFINITY_ON),
                PowerState::OnPending => pending = true,
                PowerState::Off => {}
            }
        }
        Ok(if pending {
            AFFINITY_ON_PENDING
        } else {
            AFFINITY_OFF
        })
    }
}

const fn affinity_value(s: PowerState) -> u64 {
    match s {
        PowerState::On => AFFINITY_ON,
        PowerState::OnPending => AFFINITY_ON_PENDING,
        PowerState::Off => AFFINITY_OFF,
    }
}

const fn normalize(s: PowerState) -> PowerState {
    match s {
        PowerState::OnPending => PowerState::On,
        other => other,
    }
}

fn boot_states(boot: &[VcpuIndex], n: usize) -> impl Iterator<Item = PowerState> + '_ {
    (0..n).map(move |i| {
        if boot.iter().any(|b| b.get() == i) {
            PowerState::On
        } else {
            PowerState::Off
        }
    })
}
