//! Command-line options.

use std::path::PathBuf;
use std::time::Duration;

use fwcall::sdei::SdeiVersion;

use crate::firmware::Offer;
use crate::migrate::Policy;

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The arm64 `Image` (with `--restore`: what a guest reset boots, empty
    /// for none).
    pub kernel: PathBuf,
    /// The initrd, if any.
    pub initrd: Option<PathBuf>,
    /// The kernel command line.
    pub cmdline: String,
    /// Number of vCPUs.
    pub vcpus: u32,
    /// RAM in MiB.
    pub mem_mib: u64,
    /// Raise `raise_event` on every vCPU this often.
    pub raise_every: Option<Duration>,
    /// The SDEI event the control path raises (0: signalled, else a
    /// declared platform event).
    pub raise_event: u32,
    /// Pause, snapshot, restore and resume fwcall this long after start.
    pub snapshot_at: Option<Duration>,
    /// Kick every vCPU this often so its stolen time is accounted even when
    /// the guest does not exit (0: only at exits).
    pub steal_refresh: Duration,
    /// Stop the VM after this long (a safety net for tests).
    pub timeout: Option<Duration>,
    /// Serve SDEI (and describe it in the device tree).
    pub sdei: bool,
    /// What the VMM offers the guest beyond `sdei` (`--sdei-version`,
    /// `--no-pvtime`, `--no-vmm-service`): a destination started with less
    /// refuses a guest that saw more.
    pub offer: Offer,
    /// Where SIGPWR saves the whole VM before this process exits.
    pub save_to: Option<PathBuf>,
    /// Restore the VM saved in this directory instead of booting a kernel.
    pub restore: Option<PathBuf>,
    /// How the guest's counter resumes after a restore.
    pub policy: Policy,
    /// Use `KVM_ARM_SET_COUNTER_OFFSET` when the kernel has it (off: the
    /// per-vCPU `KVM_REG_ARM_TIMER_CNT` fallback, for testing it).
    pub counter_offset: bool,
}

/// The default command line: the 8250 early console, kept after boot.
pub const DEFAULT_CMDLINE: &str =
    "earlycon=uart8250,mmio,0x9000000 keep_bootcon console=ttyS0 rdinit=/init";

/// Usage text.
pub const USAGE: &str = "usage: fwcall-refvmm (--kernel IMAGE [--initrd FILE] [--cmdline STR] [--vcpus N (2)] \
[--mem MIB (256)] | --restore DIR [--counter pause|realtime (pause)] [--no-counter-offset] \
[--kernel IMAGE [--initrd FILE] [--cmdline STR] (what a guest reset boots)]) \
[--save-to DIR] [--raise-every MS] [--raise-event N (0)] [--snapshot-at MS] [--steal-refresh MS (10)] \
[--timeout S] [--no-sdei | --sdei-version 1.0|1.1 (1.1)] [--no-pvtime] [--no-vmm-service] \
[--psci fwcall|kvm (fwcall)] [--trng fwcall|kvm (fwcall)]\n\
signals: SIGUSR1 raises the event once on every vCPU; SIGUSR2 snapshots and restores fwcall; \
SIGPWR saves the whole VM to the --save-to directory and exits";

/// A command line that cannot be run.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// Unknown flag.
    #[error("unknown option `{0}`\n{USAGE}")]
    Unknown(String),
    /// Flag without its value.
    #[error("`{0}` needs a value\n{USAGE}")]
    Missing(String),
    /// A value that does not parse.
    #[error("`{flag}`: `{value}` is not a valid number\n{USAGE}")]
    Bad {
        /// The flag.
        flag: String,
        /// The value.
        value: String,
    },
    /// No kernel.
    #[error("--kernel is required\n{USAGE}")]
    NoKernel,
    /// vCPU count outside the layout.
    #[error("--vcpus must be 1..={max}, not {got}")]
    Vcpus {
        /// Given.
        got: u32,
        /// Most the layout allows.
        max: u32,
    },
    /// Too little memory for Linux plus the device tree.
    #[error("--mem must be at least 16 MiB and at most 65536, not {0}")]
    Mem(u64),
    /// A word that is not one of the accepted ones.
    #[error("`{flag}`: `{value}` is not one of {accepted}\n{USAGE}")]
    Choice {
        /// The flag.
        flag: String,
        /// The value.
        value: String,
        /// What it accepts.
        accepted: &'static str,
    },
    /// An option that makes no sense with `--restore`: the image carries it.
    #[error(
        "`{0}` cannot be used with --restore: the saved image carries the guest's memory and vCPUs"
    )]
    WithRestore(String),
}

fn number(flag: &str, value: &str) -> Result<u64, CliError> {
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    parsed.map_err(|_| CliError::Bad {
        flag: flag.into(),
        value: value.into(),
    })
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, CliError> {
    let mut o = Options {
        kernel: PathBuf::new(),
        initrd: None,
        cmdline: DEFAULT_CMDLINE.into(),
        vcpus: 2,
        mem_mib: 256,
        raise_every: None,
        raise_event: 0,
        snapshot_at: None,
        steal_refresh: Duration::from_millis(10),
        timeout: None,
        sdei: true,
        offer: Offer::default(),
        save_to: None,
        restore: None,
        policy: Policy::Pause,
        counter_offset: true,
    };
    let mut kernel = None;
    // Options the image carries, refused with --restore.
    let mut boot_only = None;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let switch = match flag.as_str() {
            "--no-sdei" => Some(&mut o.sdei),
            "--no-pvtime" => Some(&mut o.offer.pvtime),
            "--no-vmm-service" => Some(&mut o.offer.vmm_service),
            "--no-counter-offset" => Some(&mut o.counter_offset),
            _ => None,
        };
        if let Some(on) = switch {
            *on = false;
            continue;
        }
        if matches!(flag.as_str(), "--vcpus" | "--mem") {
            boot_only.get_or_insert_with(|| flag.clone());
        }
        let mut value = || it.next().ok_or_else(|| CliError::Missing(flag.clone()));
        match flag.as_str() {
            "--kernel" => kernel = Some(PathBuf::from(value()?)),
            "--initrd" => o.initrd = Some(PathBuf::from(value()?)),
            "--cmdline" => o.cmdline = value()?,
            "--vcpus" => {
                let n = number(&flag, &value()?)?;
                o.vcpus = u32::try_from(n).unwrap_or(u32::MAX);
            }
            "--mem" => o.mem_mib = number(&flag, &value()?)?,
            "--save-to" => o.save_to = Some(PathBuf::from(value()?)),
            "--restore" => o.restore = Some(PathBuf::from(value()?)),
            "--counter" => {
                let v = value()?;
                o.policy = v.parse().map_err(|_| CliError::Choice {
                    flag,
                    value: v,
                    accepted: "pause, realtime",
                })?;
            }
            "--psci" | "--trng" => {
                let v = value()?;
                let fwcall = match v.as_str() {
                    "fwcall" => true,
                    "kvm" => false,
                    _ => {
                        return Err(CliError::Choice {
                            flag,
                            value: v,
                            accepted: "fwcall, kvm",
                        });
                    }
                };
                if flag == "--psci" {
                    o.offer.psci = fwcall;
                } else {
                    o.offer.trng = fwcall;
                }
            }
            "--sdei-version" => {
                let v = value()?;
                o.offer.sdei = Some(match v.as_str() {
                    "1.0" => SdeiVersion::V1_0,
                    "1.1" => SdeiVersion::V1_1,
                    _ => {
                        return Err(CliError::Choice {
                            flag,
                            value: v,
                            accepted: "1.0, 1.1",
                        });
                    }
                });
            }
            "--raise-every" => {
                o.raise_every = Some(Duration::from_millis(number(&flag, &value()?)?))
            }
            "--raise-event" => {
                let v = value()?;
                o.raise_event = u32::try_from(number(&flag, &v)?)
                    .map_err(|_| CliError::Bad { flag, value: v })?;
            }
            "--snapshot-at" => {
                o.snapshot_at = Some(Duration::from_millis(number(&flag, &value()?)?))
            }
            "--steal-refresh" => o.steal_refresh = Duration::from_millis(number(&flag, &value()?)?),
            "--timeout" => o.timeout = Some(Duration::from_secs(number(&flag, &value()?)?)),
            _ => return Err(CliError::Unknown(flag)),
        }
    }
    if !o.sdei {
        o.offer.sdei = None;
    }
    if o.restore.is_some() {
        if let Some(flag) = boot_only {
            return Err(CliError::WithRestore(flag));
        }
        // With a restore, --kernel (--initrd, --cmdline) is what a guest
        // reset boots; without it a reset powers the guest off.
        o.kernel = kernel.unwrap_or_default();
        return Ok(o);
    }
    o.kernel = kernel.ok_or(CliError::NoKernel)?;
    let max = crate::layout::MAX_VCPUS;
    if o.vcpus == 0 || o.vcpus > max {
        return Err(CliError::Vcpus { got: o.vcpus, max });
    }
    if !(16..=65536).contains(&o.mem_mib) {
        return Err(CliError::Mem(o.mem_mib));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults_give_two_vcpus_256_mib_and_the_earlycon_cmdline() {
        let o = parse(args("--kernel /k")).unwrap();
        assert_eq!((o.vcpus, o.mem_mib, o.sdei), (2, 256, true));
        assert!(o.cmdline.contains("earlycon=uart8250,mmio,0x9000000"));
        assert_eq!(o.raise_every, None);
    }

    #[test]
    fn every_flag_parses() {
        let o = parse(args(
            "--kernel /k --initrd /i --vcpus 3 --mem 512 --raise-every 50 --raise-event 0x100 --snapshot-at 2000 --steal-refresh 0 --timeout 60 --no-sdei",
        ))
        .unwrap();
        assert_eq!(o.initrd, Some(PathBuf::from("/i")));
        assert_eq!(
            (o.vcpus, o.mem_mib, o.raise_event, o.sdei),
            (3, 512, 0x100, false)
        );
        assert_eq!(o.raise_every, Some(Duration::from_millis(50)));
        assert_eq!(o.snapshot_at, Some(Duration::from_secs(2)));
        assert_eq!(o.steal_refresh, Duration::ZERO);
        assert_eq!(o.timeout, Some(Duration::from_secs(60)));
        assert_eq!(o.offer.sdei, None);
    }

    #[test]
    fn migration_flags_parse() {
        let o = parse(args(
            "--kernel /k --save-to /m1 --sdei-version 1.0 --no-pvtime --no-vmm-service --psci kvm --trng kvm",
        ))
        .unwrap();
        assert_eq!(o.save_to, Some(PathBuf::from("/m1")));
        assert_eq!(
            o.offer,
            Offer {
                sdei: Some(SdeiVersion::V1_0),
                pvtime: false,
                vmm_service: false,
                psci: false,
                trng: false,
            }
        );
        assert_eq!((o.policy, o.counter_offset), (Policy::Pause, true));

        let o = parse(args(
            "--restore /m1 --counter realtime --no-counter-offset --save-to /m2",
        ))
        .unwrap();
        assert_eq!(o.restore, Some(PathBuf::from("/m1")));
        assert_eq!((o.policy, o.counter_offset), (Policy::Realtime, false));
        assert_eq!(o.offer, Offer::default());
        assert!(
            (o.offer.psci, o.offer.trng) == (true, true),
            "fwcall's by default"
        );
        assert_eq!(o.kernel, PathBuf::new(), "no reboot images");

        // What a restored guest's reset boots.
        let o = parse(args("--restore /m1 --kernel /k --initrd /i --cmdline x")).unwrap();
        assert_eq!(
            (o.kernel, o.initrd, o.cmdline.as_str()),
            (PathBuf::from("/k"), Some(PathBuf::from("/i")), "x")
        );
    }

    #[test]
    fn restore_refuses_what_the_image_carries_and_bad_choices() {
        assert_eq!(
            parse(args("--restore /m --vcpus 4")),
            Err(CliError::WithRestore("--vcpus".into()))
        );
        assert!(matches!(
            parse(args("--restore /m --counter later")),
            Err(CliError::Choice { .. })
        ));
        assert!(matches!(
            parse(args("--kernel /k --sdei-version 2.0")),
            Err(CliError::Choice { .. })
        ));
        assert!(matches!(
            parse(args("--kernel /k --no-such-thing")),
            Err(CliError::Unknown(_))
        ));
        for flag in ["--psci", "--trng"] {
            let e = parse(args(&format!("--kernel /k {flag} hvf"))).unwrap_err();
            assert_eq!(
                e,
                CliError::Choice {
                    flag: flag.into(),
                    value: "hvf".into(),
                    accepted: "fwcall, kvm"
                }
            );
        }
        let o = parse(args("--kernel /k --psci kvm")).unwrap();
        assert_eq!((o.offer.psci, o.offer.trng), (false, true));
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert_eq!(parse(args("")), Err(CliError::NoKernel));
        assert_eq!(
            parse(args("--kernel")),
            Err(CliError::Missing("--kernel".into()))
        );
        assert!(matches!(
            parse(args("--kernel /k --vcpus x")),
            Err(CliError::Bad { .. })
        ));
        assert!(matches!(
            parse(args("--kernel /k --vcpus 0")),
            Err(CliError::Vcpus { .. })
        ));
        assert!(matches!(
            parse(args("--kernel /k --mem 1")),
            Err(CliError::Mem(1))
        ));
        assert!(matches!(parse(args("--bogus")), Err(CliError::Unknown(_))));
    }
}
