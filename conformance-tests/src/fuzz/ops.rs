//! The fuzzers' input language: a VM setup and a sequence of steps, each
//! derived with `arbitrary` so libFuzzer's bytes map onto meaningful
//! actions (calls with arguments drawn from the interesting values, VMM
//! raises, interrupts, resets, stolen time, snapshots).

use arbitrary::Arbitrary;
use fwcall::{
    CpuFeatures, EventDecl, EventKind, Gpa, LptConfig, MemoryRegion, Priority, PsciConfig,
    PsciVersion, SdeiConfig, SdeiVersion, VcpuIndex, VmConfig,
};

use crate::model::{ModelConfig, PRIVATE_SLOT_BASE, SHARED_SLOT_BASE};

/// Most steps one input runs: keeps one execution well under a millisecond.
pub const MAX_STEPS: usize = 256;
/// Most vCPUs a fuzzed VM has.
pub const MAX_VCPUS: usize = 4;

/// The guest's RAM in every fuzzed VM.
pub const RAM: MemoryRegion = MemoryRegion {
    base: Gpa(0x4000_0000),
    size: 0x1000_0000,
};
/// The VMM's region for PV-time records and the LPT structure.
pub const RESERVED: MemoryRegion = MemoryRegion {
    base: Gpa(0x0a10_0000),
    size: 0x1_0000,
};
/// Where the stolen-time records start (64 bytes per vCPU).
pub const STOLEN_BASE: u64 = 0x0a10_0000;
/// Where the LPT structure lives, when configured.
pub const LPT_BASE: u64 = 0x0a10_8000;

/// The platform events every fuzzed VM declares, chosen to cover private
/// and shared, normal and critical, and a number above the slot range.
pub const EVENTS: [(u32, EventKind, Priority); 5] = [
    (0x10, EventKind::Private, Priority::Normal),
    (0x11, EventKind::Private, Priority::Critical),
    (0x20, EventKind::Shared, Priority::Normal),
    (0x21, EventKind::Shared, Priority::Critical),
    (0x4003_0000, EventKind::Shared, Priority::Normal),
];

/// The VM a sequence runs on.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// vCPU count - 1, modulo [`MAX_VCPUS`].
    pub vcpus: u8,
    /// Report SDEI 1.0 instead of 1.1.
    pub v1_0: bool,
    /// Guest CPU feature bits (PAN, SSBS, MTE, BTI, NMI).
    pub features: u8,
    /// Private dynamic slots, modulo 4.
    pub private_slots: u8,
    /// Shared dynamic slots, modulo 4.
    pub shared_slots: u8,
    /// Configure LPT.
    pub lpt: bool,
    /// Bit 0: fwcall serves PSCI 1.1; then vCPUs `0..=(psci >> 1) % count`
    /// boot on and the rest wait for `CPU_ON` (SDEI follows power).
    pub psci: u8,
}

impl Setup {
    /// The number of vCPUs.
    pub fn vcpu_count(&self) -> usize {
        usize::from(self.vcpus) % MAX_VCPUS + 1
    }

    /// Whether fwcall serves PSCI.
    pub fn psci_on(&self) -> bool {
        self.psci & 1 != 0
    }

    /// How many vCPUs are on at start and after a system reset.
    pub fn boot(&self) -> usize {
        if self.psci_on() {
            usize::from(self.psci >> 1) % self.vcpu_count() + 1
        } else {
            self.vcpu_count()
        }
    }

    fn sdei(&self) -> SdeiConfig {
        SdeiConfig {
            version: if self.v1_0 {
                SdeiVersion::V1_0
            } else {
                SdeiVersion::V1_1
            },
            events: EVENTS
                .iter()
                .map(|&(number, kind, priority)| EventDecl {
                    number,
                    kind,
                    priority,
                })
                .collect(),
            private_slots: u16::from(self.private_slots % 4),
            shared_slots: u16::from(self.shared_slots % 4),
            cpu_features: CpuFeatures::from_bits_truncate(u32::from(self.features)),
        }
    }

    /// The `VmConfig` fwcall is built from.
    pub fn vm_config(&self) -> VmConfig {
        let mut c = VmConfig::new(self.vcpu_count() as u32);
        c.sdei = Some(self.sdei());
        c.ram = vec![RAM];
        c.reserved = vec![RESERVED];
        c.pvtime.stolen_time_base = Some(Gpa(STOLEN_BASE));
        if self.lpt {
            c.pvtime.lpt = Some(LptConfig {
                ipa: Gpa(LPT_BASE),
                pv_hz: 100_000_000,
            });
        }
        if self.psci_on() {
            c.psci = Some(PsciConfig {
                version: PsciVersion::V1_1,
                boot: (0..self.boot() as u32).map(VcpuIndex).collect(),
            });
        }
        c
    }

    /// The same VM for the reference model.
    pub fn model_config(&self) -> ModelConfig {
        let s = self.sdei();
        ModelConfig {
            version: s.version,
            events: s.events,
            private_slots: s.private_slots,
            shared_slots: s.shared_slots,
            cpu_features: s.cpu_features,
            mpidrs: self.vm_config().mpidrs.iter().map(|m| m.0).collect(),
            boot: self.boot(),
        }
    }

    /// Guest-memory ranges fwcall may write: the stolen-time records and
    /// the LPT structure.
    pub fn writable(&self) -> Vec<(u64, u64)> {
        let mut w = vec![(STOLEN_BASE, 64 * self.vcpu_count() as u64)];
        if self.lpt {
            w.push((LPT_BASE, 64));
        }
        w
    }

    /// Event numbers worth naming: event 0, the platform events, every
    /// slot plus one past the configured ones, and a few invalid numbers.
    pub fn interesting_events(&self) -> Vec<u64> {
        let mut v = vec![0];
        v.extend(EVENTS.iter().map(|e| u64::from(e.0)));
        for i in 0..=u64::from(self.private_slots % 4) {
            v.push(u64::from(PRIVATE_SLOT_BASE) + i);
        }
        for j in 0..=u64::from(self.shared_slots % 4) {
            v.push(u64::from(SHARED_SLOT_BASE) + j);
        }
        v.extend([0x99, 0x8000_0000, 0x1_0000_0000, 0x1_0000_0010]);
        v
    }
}

/// A function ID to call.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// SDEI function `0xC400_0020 + n % 0x20`.
    Sdei(u8),
    /// An SDEI number through a variant ID: SMC32 alias, SVE hint, a
    /// reserved bit.
    SdeiVariant {
        /// Function number within the SDEI range.
        n: u8,
        /// Clear the SMC64 bit.
        smc32: bool,
        /// Set the SVE hint (bit 16).
        sve: bool,
        /// Set a must-be-zero bit (bit 17).
        reserved: bool,
    },
    /// `PV_TIME_FEATURES`.
    PvFeatures,
    /// `PV_TIME_ST`.
    PvSt,
    /// `PV_TIME_LPT`.
    PvLpt,
    /// `SMCCC_VERSION`.
    SmcccVersion,
    /// `SMCCC_ARCH_FEATURES`.
    ArchFeatures,
    /// Any 32-bit ID.
    Raw(u32),
    /// PSCI function `n % 0x20` (`CPU_ON`, `CPU_OFF`, `SYSTEM_RESET`, ...),
    /// SMC64 when bit 5 of `n` is set.
    Psci(u8),
}

impl Func {
    /// The `W0` value.
    pub fn id(self) -> u32 {
        match self {
            Func::Sdei(n) => 0xC400_0020 + u32::from(n % 0x20),
            Func::SdeiVariant {
                n,
                smc32,
                sve,
                reserved,
            } => {
                let mut id = 0xC400_0020 + u32::from(n % 0x20);
                if smc32 {
                    id &= !(1 << 30);
                }
                if sve {
                    id |= 1 << 16;
                }
                if reserved {
                    id |= 1 << 17;
                }
                id
            }
            Func::PvFeatures => 0xC500_0020,
            Func::PvSt => 0xC500_0021,
            Func::PvLpt => 0xC500_0022,
            Func::SmcccVersion => 0x8000_0000,
            Func::ArchFeatures => 0x8000_0001,
            Func::Raw(id) => id,
            Func::Psci(n) => {
                let base = if n & 0x20 != 0 {
                    0xC400_0000
                } else {
                    0x8400_0000
                };
                base | u32::from(n % 0x20)
            }
        }
    }
}

/// An argument, drawn from the values that matter.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// 0.
    Zero,
    /// One of [`Setup::interesting_events`].
    Event(u8),
    /// An MPIDR: of vCPU `n % count`, with or without flag bits, or one
    /// no vCPU has.
    Mpidr(u8),
    /// A small number (indexes, selectors, flags).
    Small(u8),
    /// An INTID in 0..1100 (SGI, PPI, SPI and beyond).
    Intid(u16),
    /// A kernel-looking address.
    Addr(u8),
    /// Anything.
    Raw(u64),
    /// An address in the guest's RAM (a `CPU_ON` entry point).
    Ram(u8),
}

impl Arg {
    /// The register value in a VM set up by `setup`.
    pub fn value(self, setup: &Setup) -> u64 {
        match self {
            Arg::Zero => 0,
            Arg::Event(i) => {
                let ev = setup.interesting_events();
                ev[usize::from(i) % ev.len()]
            }
            Arg::Mpidr(i) => {
                let n = setup.vcpu_count() as u32;
                let i = u32::from(i);
                let m = fwcall::Mpidr::kvm_default(i % (n + 1)).0;
                match (i / (n + 1)) % 3 {
                    0 => m,
                    1 => m & !(1 << 31),
                    _ => m | 1 << 30 | 1 << 24,
                }
            }
            Arg::Small(v) => u64::from(v % 24),
            Arg::Intid(v) => u64::from(v % 1100),
            Arg::Addr(v) => 0xffff_8000_1000_0000 + (u64::from(v) << 12),
            Arg::Raw(v) => v,
            Arg::Ram(v) => RAM.base.0 + (u64::from(v) << 12),
        }
    }
}

/// The guest interrupt an `irq` step reports.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intid {
    /// A PPI, 16 + n % 16.
    Ppi(u8),
    /// An SPI, 32 + n % 8 (where binds land).
    Spi(u8),
    /// Anything.
    Raw(u32),
}

impl Intid {
    /// The INTID.
    pub fn value(self) -> u32 {
        match self {
            Intid::Ppi(n) => 16 + u32::from(n % 16),
            Intid::Spi(n) => 32 + u32::from(n % 8),
            Intid::Raw(v) => v,
        }
    }
}

/// One step of a sequence.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The guest on `vcpu` calls `func` with `X1..X5` = `args`.
    Call {
        /// Calling vCPU (modulo the count).
        vcpu: u8,
        /// The function.
        func: Func,
        /// `X1..X5`.
        args: [Arg; 5],
        /// Through SMC instead of HVC.
        smc: bool,
    },
    /// The VMM raises `events[event % len]` (or an invalid number).
    Raise {
        /// Index into the platform events, 0, a slot, an unknown number.
        event: u8,
        /// Target vCPU for a private event (may be out of range).
        vcpu: Option<u8>,
    },
    /// A guest interrupt fires.
    Irq {
        /// Which.
        intid: Intid,
        /// Target vCPU for a PPI (may be out of range).
        vcpu: Option<u8>,
    },
    /// The VMM resets a vCPU.
    Reset {
        /// Which (modulo the count).
        vcpu: u8,
    },
    /// The VMM accounts stolen time.
    Steal {
        /// Which (modulo the count).
        vcpu: u8,
        /// Nanoseconds.
        ns: u32,
    },
    /// The guest's registers change (what a delivery saves).
    Regs {
        /// Which (modulo the count).
        vcpu: u8,
        /// New PC.
        pc: u64,
        /// New PSTATE.
        pstate: u64,
        /// New `SCTLR_EL1`.
        sctlr: u64,
        /// New `X0..X3`.
        x: [u64; 4],
    },
    /// Snapshot, restore into a fresh VM, continue there.
    Snapshot,
}

/// A whole fuzz input.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq, Default)]
pub struct Sequence {
    /// The VM.
    pub setup: Setup,
    /// The steps (at most [`MAX_STEPS`] are run).
    pub steps: Vec<Step>,
}

impl Sequence {
    /// Decodes libFuzzer's bytes; never fails (short input = fewer steps).
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut u = arbitrary::Unstructured::new(data);
        let setup = Setup::arbitrary(&mut u).unwrap_or_default();
        let mut steps = Vec::new();
        while !u.is_empty() && steps.len() < MAX_STEPS {
            match Step::arbitrary(&mut u) {
                Ok(s) => steps.push(s),
                Err(_) => break,
            }
        }
        Sequence { setup, steps }
    }

    /// The raise target list: platform events, then 0, a slot, an unknown.
    pub fn raise_event(index: u8) -> u32 {
        let list: [u32; 8] = [
            EVENTS[0].0,
            EVENTS[1].0,
            EVENTS[2].0,
            EVENTS[3].0,
            EVENTS[4].0,
            0,
            PRIVATE_SLOT_BASE,
            0x99,
        ];
        list[usize::from(index) % list.len()]
    }
}
