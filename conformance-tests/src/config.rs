//! The `vm` line: keys, values, defaults, and the `event` declarations.
//!
//! [`VmSpec`] is the replayer's own description of the VM, independent of
//! any server; a [`Target`](crate::Target) turns it into a server config.

use crate::value::{parse_number, shown};
use fwcall::PsciVersion;
use fwcall_smccc::SmcccVersion;

/// The most vCPUs a trace may ask for.
pub const MAX_VCPUS: u32 = 512;
/// Default counter frequency (both native and PV): 62.5 MHz.
pub const DEFAULT_HZ: u64 = 0x3b9_aca0;
/// Default guest memory: 256 MiB of RAM at 1 GiB.
pub const DEFAULT_MEM: MemRegion = MemRegion {
    base: 0x4000_0000,
    size: 0x1000_0000,
};

/// A guest-physical region `[base, base + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRegion {
    /// First address.
    pub base: u64,
    /// Length in bytes, non-zero.
    pub size: u64,
}

impl MemRegion {
    /// Whether `[addr, addr + len)` lies inside this region.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        let end = self.base.saturating_add(self.size);
        addr >= self.base && addr.checked_add(len).is_some_and(|e| e <= end)
    }
}

/// An SDEI version the guest may be offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdeiVersion {
    /// SDEI 1.0.
    V1_0,
    /// SDEI 1.1.
    V1_1,
}

/// Guest CPU features that change exception-entry PSTATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CpuFeatures {
    /// `FEAT_PAN`.
    pub pan: bool,
    /// `FEAT_SSBS`.
    pub ssbs: bool,
    /// `FEAT_MTE`.
    pub mte: bool,
    /// `FEAT_BTI`.
    pub bti: bool,
    /// `FEAT_NMI`.
    pub nmi: bool,
}

/// Private or shared (SDEI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventScope {
    /// One instance per vCPU.
    Private,
    /// One instance for the VM.
    Shared,
}

/// Normal or critical (SDEI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventPriority {
    /// Normal priority.
    Normal,
    /// Critical priority.
    Critical,
}

/// A platform event declared with `event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// The event number.
    pub number: u32,
    /// Private or shared.
    pub scope: EventScope,
    /// Normal or critical.
    pub priority: EventPriority,
}

/// Everything the `vm` line (and `event` lines) say about the VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmSpec {
    /// Number of vCPUs, 1..=512.
    pub vcpus: u32,
    /// The SMCCC version to report; `None` = the server's highest.
    pub smccc: Option<SmcccVersion>,
    /// The SDEI version offered, or `None` for `sdei=off`.
    pub sdei: Option<SdeiVersion>,
    /// Private dynamic binding slots; `None` = the server's default.
    pub sdei_private_slots: Option<u32>,
    /// Shared dynamic binding slots; `None` = the server's default.
    pub sdei_shared_slots: Option<u32>,
    /// Whether PV time is offered.
    pub pvtime: bool,
    /// Base of the stolen-time records (vCPU i at base + 64 i).
    pub pvtime_ipa: Option<u64>,
    /// Whether LPT is offered.
    pub lpt: bool,
    /// Address of the LPT structure.
    pub lpt_ipa: Option<u64>,
    /// Host counter frequency.
    pub native_hz: u64,
    /// The frequency the guest is promised.
    pub pv_hz: u64,
    /// Guest memory regions: the first is RAM, the rest the VMM's own.
    pub mem: Vec<MemRegion>,
    /// Guest CPU features.
    pub features: CpuFeatures,
    /// Declared platform events, in declaration order.
    pub events: Vec<EventSpec>,
    /// The PSCI version served, or `None` for `psci=off` (fwtrace v1.1).
    pub psci: Option<PsciVersion>,
    /// Whether TRNG is served (fwtrace v1.1).
    pub trng: bool,
    /// `boot`: how many vCPUs are on at start, if given (fwtrace v1.1).
    pub boot: Option<u32>,
    /// `workaround_1`: the `SMCCC_ARCH_WORKAROUND_1` level in KVM's
    /// firmware-register encoding, 0..=2 (fwcall extension).
    pub workaround_1: u8,
    /// `workaround_2`: the `SMCCC_ARCH_WORKAROUND_2` level, 0..=3 (fwcall
    /// extension).
    pub workaround_2: u8,
    /// `workaround_3`: the `SMCCC_ARCH_WORKAROUND_3` level, 0..=2 (fwcall
    /// extension).
    pub workaround_3: u8,
    /// `soc_id`: the words `SMCCC_ARCH_SOC_ID` selectors 0 (version) and
    /// 1 (revision) return, or `None` for `soc_id=off` (fwcall extension).
    pub soc_id: Option<SocIdWords>,
}

/// The two words of a `soc_id=VERSION:REVISION` key, as the trace gives
/// them: whether the server accepts them (bit 31 clear) is the server's
/// business, so a trace can expect the refusal with `vm ... -> error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocIdWords {
    /// Selector 0: JEP-106 bank and code, and the SoC number.
    pub version: u32,
    /// Selector 1: the SoC revision.
    pub revision: u32,
}

/// The highest `workaround_1`/`workaround_3` level (KVM's
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1`: 0 not available, 1 available,
/// 2 not required).
pub const MAX_WORKAROUND_LEVEL: u8 = 2;
/// The highest `workaround_2` level (KVM's
/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2`: 0 not available, 1 unknown,
/// 2 available, 3 not required).
pub const MAX_WORKAROUND_2_LEVEL: u8 = 3;

impl VmSpec {
    /// The defaults of every key, for `vcpus` vCPUs.
    pub fn new(vcpus: u32) -> Self {
        VmSpec {
            vcpus,
            smccc: None,
            sdei: Some(SdeiVersion::V1_1),
            sdei_private_slots: None,
            sdei_shared_slots: None,
            pvtime: true,
            pvtime_ipa: None,
            lpt: false,
            lpt_ipa: None,
            native_hz: DEFAULT_HZ,
            pv_hz: DEFAULT_HZ,
            mem: vec![DEFAULT_MEM],
            features: CpuFeatures {
                pan: true,
                ..CpuFeatures::default()
            },
            events: Vec::new(),
            psci: None,
            trng: false,
            boot: None,
            workaround_1: 0,
            workaround_2: 0,
            workaround_3: 0,
            soc_id: None,
        }
    }

    /// How many vCPUs are on at start and after `vm-reset` (vCPUs
    /// 0..boot-1): the `boot` key, else all of them with `psci=off` and
    /// one otherwise.
    pub fn boot_count(&self) -> u32 {
        match (self.boot, self.psci) {
            (Some(n), _) => n,
            (None, None) => self.vcpus,
            (None, Some(_)) => 1,
        }
    }

    /// Checks the keys against each other: `boot` is 1..=vcpus, and with
    /// `psci=off` only `vcpus` (the hypervisor powers every vCPU on).
    pub fn check(&self) -> Result<(), String> {
        if let Some(n) = self.boot {
            if !(1..=self.vcpus).contains(&n) {
                return Err(format!(
                    "`boot` must be 1..=vcpus ({}), got {n}",
                    self.vcpus
                ));
            }
            if self.psci.is_none() && n != self.vcpus {
                return Err(format!(
                    "`boot={n}` needs PSCI: with `psci=off` every vCPU is on (boot={})",
                    self.vcpus
                ));
            }
        }
        Ok(())
    }

    /// Applies one parsed setting.
    pub fn apply(&mut self, s: &Setting) {
        match s {
            Setting::Vcpus(n) => self.vcpus = *n,
            Setting::Smccc(v) => self.smccc = Some(*v),
            Setting::Sdei(v) => self.sdei = *v,
            Setting::PrivateSlots(n) => self.sdei_private_slots = Some(*n),
            Setting::SharedSlots(n) => self.sdei_shared_slots = Some(*n),
            Setting::Pvtime(on) => self.pvtime = *on,
            Setting::PvtimeIpa(a) => self.pvtime_ipa = Some(*a),
            Setting::Lpt(on) => self.lpt = *on,
            Setting::LptIpa(a) => self.lpt_ipa = Some(*a),
            Setting::NativeHz(h) => self.native_hz = *h,
            Setting::PvHz(h) => self.pv_hz = *h,
            Setting::Mem(m) => self.mem.clone_from(m),
            Setting::Features(f) => self.features = *f,
            Setting::Psci(v) => self.psci = *v,
            Setting::Trng(on) => self.trng = *on,
            Setting::Boot(n) => self.boot = Some(*n),
            Setting::Workaround1(l) => self.workaround_1 = *l,
            Setting::Workaround2(l) => self.workaround_2 = *l,
            Setting::Workaround3(l) => self.workaround_3 = *l,
            Setting::SocId(w) => self.soc_id = *w,
        }
    }

    /// The declared event with this number, if any.
    pub fn event(&self, number: u32) -> Option<&EventSpec> {
        self.events.iter().find(|e| e.number == number)
    }
}

/// One `KEY=VALUE` of a `vm` or `restore` line, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `vcpus`.
    Vcpus(u32),
    /// `smccc`.
    Smccc(SmcccVersion),
    /// `sdei`.
    Sdei(Option<SdeiVersion>),
    /// `sdei_private_slots`.
    PrivateSlots(u32),
    /// `sdei_shared_slots`.
    SharedSlots(u32),
    /// `pvtime`.
    Pvtime(bool),
    /// `pvtime_ipa`.
    PvtimeIpa(u64),
    /// `lpt`.
    Lpt(bool),
    /// `lpt_ipa`.
    LptIpa(u64),
    /// `native_hz`.
    NativeHz(u64),
    /// `pv_hz`.
    PvHz(u64),
    /// `mem`.
    Mem(Vec<MemRegion>),
    /// `features`.
    Features(CpuFeatures),
    /// `psci` (v1.1).
    Psci(Option<PsciVersion>),
    /// `trng` (v1.1).
    Trng(bool),
    /// `boot` (v1.1).
    Boot(u32),
    /// `workaround_1` (fwcall extension).
    Workaround1(u8),
    /// `workaround_2` (fwcall extension).
    Workaround2(u8),
    /// `workaround_3` (fwcall extension).
    Workaround3(u8),
    /// `soc_id` (fwcall extension).
    SocId(Option<SocIdWords>),
}

/// The keys a `vm` line knows, for messages.
pub const KEYS: &str = "vcpus, smccc, sdei, sdei_private_slots, sdei_shared_slots, pvtime, pvtime_ipa, lpt, lpt_ipa, native_hz, pv_hz, mem, features, psci, trng, boot, workaround_1, workaround_2, workaround_3, soc_id";

fn on_off(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{key}` is `on` or `off`, not `{}`", shown(v))),
    }
}

fn u32_value(key: &str, v: &str) -> Result<u32, String> {
    let n = parse_number(v).map_err(|e| format!("`{key}`: {e}"))?;
    u32::try_from(n).map_err(|_| format!("`{key}` must fit in 32 bits, got {n:#x}"))
}

fn level(key: &str, v: &str, max: u8) -> Result<u8, String> {
    let n = parse_number(v).map_err(|e| format!("`{key}`: {e}"))?;
    u8::try_from(n)
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("`{key}` is a KVM workaround level 0..={max}, got {n}"))
}

fn parse_soc_id(v: &str) -> Result<Option<SocIdWords>, String> {
    if v == "off" {
        return Ok(None);
    }
    let (a, b) = v
        .split_once(':')
        .ok_or_else(|| format!("`soc_id` is `off` or VERSION:REVISION, not `{}`", shown(v)))?;
    let word = |what: &str, t: &str| {
        let n = parse_number(t).map_err(|e| format!("`soc_id` {what}: {e}"))?;
        u32::try_from(n).map_err(|_| format!("`soc_id` {what} must fit in 32 bits, got {n:#x}"))
    };
    Ok(Some(SocIdWords {
        version: word("version", a)?,
        revision: word("revision", b)?,
    }))
}

fn parse_mem(v: &str) -> Result<Vec<MemRegion>, String> {
    let mut out: Vec<MemRegion> = Vec::new();
    for part in v.split(',') {
        let (b, s) = part
            .split_once(':')
            .ok_or_else(|| format!("`mem` region `{}` is not BASE:SIZE", shown(part)))?;
        let base = parse_number(b).map_err(|e| format!("`mem` base: {e}"))?;
        let size = parse_number(s).map_err(|e| format!("`mem` size: {e}"))?;
        if size == 0 {
            return Err(format!("`mem` region at {base:#x} has size 0"));
        }
        if base.checked_add(size).is_none() {
            return Err(format!(
                "`mem` region {base:#x}:{size:#x} runs past the end of the address space"
            ));
        }
        let r = MemRegion { base, size };
        if let Some(o) = out.iter().find(|o| {
            r.base < o.base.saturating_add(o.size) && o.base < r.base.saturating_add(r.size)
        }) {
            return Err(format!(
                "`mem` regions {:#x}:{:#x} and {base:#x}:{size:#x} overlap",
                o.base, o.size
            ));
        }
        out.push(r);
    }
    Ok(out)
}

fn parse_features(v: &str) -> Result<CpuFeatures, String> {
    let mut f = CpuFeatures::default();
    if v == "none" {
        return Ok(f);
    }
    for name in v.split(',') {
        let slot = match name {
            "pan" => &mut f.pan,
            "ssbs" => &mut f.ssbs,
            "mte" => &mut f.mte,
            "bti" => &mut f.bti,
            "nmi" => &mut f.nmi,
            _ => {
                return Err(format!(
                    "unknown CPU feature `{}`: `features` lists pan, ssbs, mte, bti, nmi, or is `none`",
                    shown(name)
                ));
            }
        };
        *slot = true;
    }
    Ok(f)
}

/// Parses `KEY=VALUE` into a [`Setting`]; unknown keys and out-of-range
/// values are errors.
pub fn parse_setting(tok: &str) -> Result<Setting, String> {
    let (key, v) = tok
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got `{}`", shown(tok)))?;
    Ok(match key {
        "vcpus" => {
            let n = u32_value(key, v)?;
            if !(1..=MAX_VCPUS).contains(&n) {
                return Err(format!("`vcpus` must be 1..={MAX_VCPUS}, got {n}"));
            }
            Setting::Vcpus(n)
        }
        "smccc" => Setting::Smccc(
            v.parse()
                .map_err(|_| format!("`smccc` is a version such as 1.1, not `{}`", shown(v)))?,
        ),
        "sdei" => Setting::Sdei(match v {
            "off" => None,
            "1.0" => Some(SdeiVersion::V1_0),
            "1.1" => Some(SdeiVersion::V1_1),
            _ => return Err(format!("`sdei` is off, 1.0 or 1.1, not `{}`", shown(v))),
        }),
        "sdei_private_slots" => Setting::PrivateSlots(u32_value(key, v)?),
        "sdei_shared_slots" => Setting::SharedSlots(u32_value(key, v)?),
        "pvtime" => Setting::Pvtime(on_off(key, v)?),
        "pvtime_ipa" => Setting::PvtimeIpa(parse_number(v).map_err(|e| format!("`{key}`: {e}"))?),
        "lpt" => Setting::Lpt(on_off(key, v)?),
        "lpt_ipa" => Setting::LptIpa(parse_number(v).map_err(|e| format!("`{key}`: {e}"))?),
        "native_hz" => Setting::NativeHz(parse_number(v).map_err(|e| format!("`{key}`: {e}"))?),
        "pv_hz" => Setting::PvHz(parse_number(v).map_err(|e| format!("`{key}`: {e}"))?),
        "mem" => Setting::Mem(parse_mem(v)?),
        "features" => Setting::Features(parse_features(v)?),
        "psci" => Setting::Psci(match v {
            "off" => None,
            _ => Some(
                v.parse()
                    .map_err(|_| format!("`psci` is off, 0.2, 1.0 or 1.1, not `{}`", shown(v)))?,
            ),
        }),
        "trng" => Setting::Trng(on_off(key, v)?),
        "boot" => {
            let n = u32_value(key, v)?;
            if !(1..=MAX_VCPUS).contains(&n) {
                return Err(format!("`boot` must be 1..=vcpus, got {n}"));
            }
            Setting::Boot(n)
        }
        "workaround_1" => Setting::Workaround1(level(key, v, MAX_WORKAROUND_LEVEL)?),
        "workaround_2" => Setting::Workaround2(level(key, v, MAX_WORKAROUND_2_LEVEL)?),
        "workaround_3" => Setting::Workaround3(level(key, v, MAX_WORKAROUND_LEVEL)?),
        "soc_id" => Setting::SocId(parse_soc_id(v)?),
        _ => {
            return Err(format!("unknown key `{}`; the keys are {KEYS}", shown(key)));
        }
    })
}

/// The key of a setting token (the text before `=`), for duplicate checks.
pub fn setting_key(tok: &str) -> &str {
    tok.split_once('=').map_or(tok, |(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_fwtrace_key_table() {
        let s = VmSpec::new(2);
        assert_eq!(s.smccc, None);
        assert_eq!(s.sdei, Some(SdeiVersion::V1_1));
        assert!(s.pvtime && !s.lpt);
        assert_eq!((s.pvtime_ipa, s.lpt_ipa), (None, None));
        assert_eq!((s.native_hz, s.pv_hz), (62_500_000, 62_500_000));
        assert_eq!(
            s.mem,
            vec![MemRegion {
                base: 0x4000_0000,
                size: 0x1000_0000
            }]
        );
        assert_eq!(
            s.features,
            CpuFeatures {
                pan: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn v1_1_keys_and_their_defaults() {
        let s = VmSpec::new(4);
        assert_eq!((s.psci, s.trng, s.boot_count()), (None, false, 4));
        let mut p = s.clone();
        p.apply(&parse_setting("psci=1.0").unwrap());
        assert_eq!((p.psci, p.boot_count()), (Some(PsciVersion::V1_0), 1));
        p.apply(&parse_setting("boot=3").unwrap());
        assert_eq!(p.boot_count(), 3);
        assert!(p.check().is_ok());
        p.apply(&parse_setting("psci=off").unwrap());
        assert!(p.check().is_err(), "boot=3 of 4 without PSCI");
        p.apply(&parse_setting("boot=4").unwrap());
        assert!(p.check().is_ok());
        p.apply(&parse_setting("boot=5").unwrap());
        assert!(p.check().is_err());
        for bad in ["psci=1.2", "psci=on", "trng=1.0", "boot=0", "boot=x"] {
            assert!(parse_setting(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_setting("trng=on"), Ok(Setting::Trng(true)));
    }

    #[test]
    fn extension_keys_take_kvm_levels_and_two_soc_id_words() {
        let s = VmSpec::new(1);
        assert_eq!(
            (s.workaround_1, s.workaround_2, s.workaround_3, s.soc_id),
            (0, 0, 0, None)
        );
        // KVM's firmware registers: WORKAROUND_1/3 have levels 0..=2,
        // WORKAROUND_2 has 0..=3.
        let ok = [
            ("workaround_1=2", Setting::Workaround1(2)),
            ("workaround_2=3", Setting::Workaround2(3)),
            ("workaround_3=0x1", Setting::Workaround3(1)),
            ("soc_id=off", Setting::SocId(None)),
            (
                "soc_id=0x043b1234:7",
                Setting::SocId(Some(SocIdWords {
                    version: 0x043b_1234,
                    revision: 7,
                })),
            ),
            // Bit 31 is the server's to refuse (`vm ... -> error`).
            (
                "soc_id=0x80000000:0",
                Setting::SocId(Some(SocIdWords {
                    version: 0x8000_0000,
                    revision: 0,
                })),
            ),
        ];
        for (tok, want) in ok {
            assert_eq!(parse_setting(tok), Ok(want), "{tok}");
        }
        for bad in [
            "workaround_1=3",
            "workaround_3=3",
            "workaround_2=4",
            "workaround_1=-1",
            "workaround_2=avail",
            "soc_id=on",
            "soc_id=1",
            "soc_id=0x1_0000_0000:0",
            "soc_id=0:0x1_0000_0000",
            "soc_id=1:x",
        ] {
            assert!(parse_setting(bad).is_err(), "{bad}");
        }
        let mut p = s.clone();
        p.apply(&parse_setting("workaround_2=2").unwrap());
        p.apply(&parse_setting("soc_id=5:6").unwrap());
        assert_eq!(p.workaround_2, 2);
        assert_eq!(
            p.soc_id,
            Some(SocIdWords {
                version: 5,
                revision: 6
            })
        );
    }

    #[test]
    fn vcpus_range_is_1_to_512() {
        assert!(parse_setting("vcpus=0").is_err());
        assert!(parse_setting("vcpus=513").is_err());
        assert_eq!(parse_setting("vcpus=512"), Ok(Setting::Vcpus(512)));
    }

    #[test]
    fn mem_regions_must_be_sane() {
        assert!(parse_setting("mem=0x1000:0").is_err());
        assert!(parse_setting("mem=0x1000:0x1000,0x1800:0x10").is_err());
        assert!(parse_setting("mem=0xffffffffffffffff:2").is_err());
        assert!(parse_setting("mem=0x1000").is_err());
        assert_eq!(
            parse_setting("mem=0x1000:0x1000,0x2000:0x40"),
            Ok(Setting::Mem(vec![
                MemRegion {
                    base: 0x1000,
                    size: 0x1000
                },
                MemRegion {
                    base: 0x2000,
                    size: 0x40
                }
            ]))
        );
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        for bad in [
            "cpus=1",
            "sdei=1.2",
            "pvtime=yes",
            "features=sve",
            "smccc=one",
            "vcpus",
            "=1",
            "sdei_private_slots=0x1_0000_0000",
        ] {
            assert!(parse_setting(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_setting("features=none"),
            Ok(Setting::Features(CpuFeatures::default()))
        );
    }
}
