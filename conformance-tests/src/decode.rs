//! Human-readable calls and results for `fwcall replay --verbose`.
//!
//! `SDEI_EVENT_REGISTER(event=0, entry=0x..., arg=0x1234, RM_ANY) -> SUCCESS`:
//! names come from [`fwcall_smccc::ids::name`]; arguments are decoded per
//! function (SMCCC arch calls, SDEI, PV time); results are decoded as the
//! function's own values or as its error code's name.

use fwcall_smccc::{CALL_REGS, Call, Convention, FunctionId, Owner, Reply, ids};

/// Which error-code table a function's negative results come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Codes {
    Smccc,
    Sdei,
    Psci,
    Trng,
}

fn codes(fid: FunctionId) -> Codes {
    let f = fid.without_sve_hint();
    if f.owner() != Owner::StandardSecure {
        return Codes::Smccc;
    }
    match f.number() {
        0x00..=0x1f => Codes::Psci,
        0x20..=0x3f => Codes::Sdei,
        0x50..=0x5f => Codes::Trng,
        _ => Codes::Smccc,
    }
}

/// The name of a (possibly negative) result code, if it is one.
fn code_name(v: i64, table: Codes) -> Option<&'static str> {
    Some(match (table, v) {
        (_, 0) => "SUCCESS",
        (_, -1) => "NOT_SUPPORTED",
        (Codes::Smccc, -2) => "NOT_REQUIRED",
        (Codes::Smccc, -3) => "INVALID_PARAMETER",
        (Codes::Sdei, -2) => "INVALID_PARAMETERS",
        (Codes::Sdei, -3) => "DENIED",
        (Codes::Sdei, -5) => "PENDING",
        (Codes::Sdei, -10) => "OUT_OF_RESOURCE",
        (Codes::Psci, v) => return fwcall::psci::codes::name(v),
        (Codes::Trng, -2) => "INVALID_PARAMETERS",
        (Codes::Trng, -3) => "NO_ENTROPY",
        _ => return None,
    })
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

fn fid_name(raw: u64) -> String {
    let f = FunctionId::from_register(raw);
    ids::name(f).map_or_else(|| format!("{:#010x}", f.raw()), str::to_string)
}

fn routing(flags: u64) -> String {
    let mut s = if flags & 1 == 0 { "RM_ANY" } else { "RM_PE" }.to_string();
    if flags & 2 != 0 {
        s.push_str("|RELATIVE");
    }
    if flags & !3 != 0 {
        s.push_str(&format!("|reserved={:#x}", flags & !3));
    }
    s
}

/// `NAME(args)` for a call.
pub fn call(c: &Call) -> String {
    let fid = c.fid();
    let f = fid.without_sve_hint();
    let a = |n: usize| c.arg(n);
    let args: Vec<String> = match f {
        ids::SMCCC_VERSION
        | ids::SMCCC_ARCH_WORKAROUND_1
        | ids::SMCCC_ARCH_WORKAROUND_3
        | ids::SDEI_VERSION
        | ids::SDEI_PE_MASK
        | ids::SDEI_PE_UNMASK
        | ids::SDEI_PRIVATE_RESET
        | ids::SDEI_SHARED_RESET
        | ids::PV_TIME_ST
        | ids::PV_TIME_LPT
        | ids::PSCI_VERSION
        | ids::PSCI_MIGRATE_INFO_TYPE
        | ids::PSCI_SYSTEM_OFF
        | ids::PSCI_SYSTEM_RESET
        | ids::TRNG_VERSION
        | ids::TRNG_GET_UUID => vec![],
        ids::PSCI_FEATURES | ids::TRNG_FEATURES => vec![format!("fid={}", fid_name(a(1)))],
        ids::PSCI_CPU_ON | ids::PSCI_CPU_ON_64 => vec![
            format!("target={}", hex(a(1))),
            format!("entry={}", hex(a(2))),
            format!("context={}", hex(a(3))),
        ],
        ids::PSCI_CPU_OFF => vec![],
        ids::PSCI_CPU_SUSPEND | ids::PSCI_CPU_SUSPEND_64 => vec![
            format!("power_state={:#x}", a(1) as u32),
            format!("entry={}", hex(a(2))),
            format!("context={}", hex(a(3))),
        ],
        ids::PSCI_AFFINITY_INFO | ids::PSCI_AFFINITY_INFO_64 => vec![
            format!("target={}", hex(a(1))),
            format!("level={}", a(2) as u32),
        ],
        ids::PSCI_SYSTEM_RESET2 | ids::PSCI_SYSTEM_RESET2_64 => vec![
            format!("type={:#x}", a(1) as u32),
            format!("cookie={}", hex(a(2))),
        ],
        ids::TRNG_RND32 | ids::TRNG_RND64 => vec![format!("bits={}", a(1) as u32)],
        ids::SMCCC_ARCH_FEATURES | ids::PV_TIME_FEATURES => vec![format!("fid={}", fid_name(a(1)))],
        ids::SMCCC_ARCH_SOC_ID | ids::SMCCC_ARCH_SOC_ID_64 => vec![match a(1) {
            0 => "SOC_ID_VERSION".into(),
            1 => "SOC_ID_REVISION".into(),
            2 => "SOC_ID_NAME".into(),
            x => format!("selector={x:#x}"),
        }],
        ids::SMCCC_ARCH_WORKAROUND_2 => vec![format!("enable={}", a(1))],
        ids::SDEI_EVENT_REGISTER => {
            let mut v = vec![
                format!("event={}", a(1) as u32),
                format!("entry={}", hex(a(2))),
                format!("arg={}", hex(a(3))),
                routing(a(4)),
            ];
            if a(4) & 1 != 0 {
                v.push(format!("affinity={}", hex(a(5))));
            }
            v
        }
        ids::SDEI_EVENT_ENABLE
        | ids::SDEI_EVENT_DISABLE
        | ids::SDEI_EVENT_UNREGISTER
        | ids::SDEI_EVENT_STATUS
        | ids::SDEI_INTERRUPT_RELEASE => vec![format!("event={}", a(1) as u32)],
        ids::SDEI_EVENT_CONTEXT => vec![format!("x{}", a(1))],
        ids::SDEI_EVENT_COMPLETE => vec![match a(1) {
            0 => "HANDLED".into(),
            1 => "FAILED".into(),
            x => format!("status={x:#x}"),
        }],
        ids::SDEI_EVENT_COMPLETE_AND_RESUME => vec![format!("resume={}", hex(a(1)))],
        ids::SDEI_EVENT_GET_INFO => vec![
            format!("event={}", a(1) as u32),
            match a(2) {
                0 => "EV_TYPE".into(),
                1 => "EV_SIGNALED".into(),
                2 => "EV_PRIORITY".into(),
                3 => "EV_ROUTING_MODE".into(),
                4 => "EV_ROUTING_AFF".into(),
                x => format!("info={x:#x}"),
            },
        ],
        ids::SDEI_EVENT_ROUTING_SET => {
            let mut v = vec![format!("event={}", a(1) as u32), routing(a(2))];
            if a(2) & 1 != 0 {
                v.push(format!("affinity={}", hex(a(3))));
            }
            v
        }
        ids::SDEI_INTERRUPT_BIND => vec![format!("intid={}", a(1))],
        ids::SDEI_EVENT_SIGNAL => vec![
            format!("event={}", a(1) as u32),
            format!("target={}", hex(a(2))),
        ],
        ids::SDEI_FEATURES => vec![match a(1) {
            0 => "BIND_SLOTS".into(),
            1 => "RELATIVE_MODE".into(),
            x => format!("feature={x:#x}"),
        }],
        _ if f.number() >= 0xff00 && ids::name(f).is_some() => vec![],
        _ => {
            // Unknown: show the first three argument registers raw.
            (1..=3).map(|n| format!("x{n}={}", hex(c.x[n]))).collect()
        }
    };
    let hint = if fid.sve_hint() && ids::name(fid).is_some() {
        "[SVE hint]"
    } else {
        ""
    };
    format!("{}{hint}({})", fid_name(c.x[0]), args.join(", "))
}

/// The result of a call, decoded.
pub fn reply(c: &Call, r: &Reply) -> String {
    let regs = match r {
        Reply::Nothing => return "(no registers written)".into(),
        Reply::Restore(ctx) => {
            return format!(
                "(context restored: pc={:#x} pstate={:#x}{})",
                ctx.pc,
                ctx.pstate,
                ctx.el1
                    .map(|e| format!(" elr={:#x} spsr={:#x}", e.elr, e.spsr))
                    .unwrap_or_default()
            );
        }
        Reply::Return { regs, count } => &regs[..usize::from(*count).min(CALL_REGS)],
    };
    let fid = c.fid();
    let x0 = regs.first().copied().unwrap_or(0);
    let signed = match fid.convention() {
        Convention::Smc32 => x0 as u32 as i32 as i64,
        Convention::Smc64 => x0 as i64,
    };
    let table = codes(fid);
    let f = fid.without_sve_hint();
    if f.number() == 0xff01 && regs.len() >= 4 {
        let w = |n: usize| regs.get(n).copied().unwrap_or(0) as u32;
        return format!("UID {:08x}-{:08x}-{:08x}-{:08x}", w(0), w(1), w(2), w(3));
    }
    if signed < 0 {
        // An error code by name; any other negative value is data (an
        // address, a saved register) and reads best in hex.
        return code_name(signed, table).map_or_else(|| hex(x0), str::to_string);
    }
    let reg = |n: usize| regs.get(n).copied().unwrap_or(0);
    match f {
        ids::SMCCC_VERSION => format!("{}.{} ({x0:#x})", (x0 >> 16) & 0x7fff, x0 & 0xffff),
        ids::SDEI_VERSION => format!(
            "{}.{} vendor {:#x}",
            (x0 >> 48) & 0x7fff,
            (x0 >> 32) & 0xffff,
            x0 & 0xffff_ffff
        ),
        ids::SDEI_EVENT_STATUS => {
            let mut bits = Vec::new();
            for (b, n) in [(1, "registered"), (2, "enabled"), (4, "running")] {
                if x0 & b != 0 {
                    bits.push(n);
                }
            }
            if bits.is_empty() {
                "0 (unregistered)".into()
            } else {
                format!("{x0} ({})", bits.join("|"))
            }
        }
        ids::SDEI_PE_MASK => match x0 {
            1 => "1 (masked now)".into(),
            0 => "0 (was already masked)".into(),
            _ => hex(x0),
        },
        ids::SDEI_INTERRUPT_BIND => format!("event {x0}"),
        ids::SDEI_FEATURES if c.arg(1) == 0 => {
            format!("private={} shared={}", x0 & 0xffff, (x0 >> 16) & 0xffff)
        }
        ids::SDEI_EVENT_CONTEXT | ids::SDEI_EVENT_GET_INFO => hex(x0),
        ids::PV_TIME_ST | ids::PV_TIME_LPT => format!("ipa={x0:#x}"),
        ids::PSCI_VERSION | ids::TRNG_VERSION => {
            format!("{}.{} ({x0:#x})", (x0 >> 16) & 0x7fff, x0 & 0xffff)
        }
        ids::PSCI_AFFINITY_INFO | ids::PSCI_AFFINITY_INFO_64 => match x0 {
            0 => "ON".into(),
            1 => "OFF".into(),
            2 => "ON_PENDING".into(),
            _ => hex(x0),
        },
        ids::PSCI_MIGRATE_INFO_TYPE => format!("{x0}"),
        ids::TRNG_GET_UUID if regs.len() >= 4 => format!(
            "UUID words {:#010x} {:#010x} {:#010x} {:#010x}",
            reg(0),
            reg(1),
            reg(2),
            reg(3)
        ),
        ids::TRNG_RND32 | ids::TRNG_RND64 if regs.len() >= 4 => {
            format!("SUCCESS x1={:#x} x2={:#x} x3={:#x}", reg(1), reg(2), reg(3))
        }
        _ if f.number() == 0xff03 && regs.len() >= 2 => format!("revision {}.{}", reg(0), reg(1)),
        _ if f.number() == 0xff00 => format!("{x0} calls"),
        _ => code_name(signed, table).map_or_else(|| hex(x0), str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_decodes_like_the_fwtrace_example() {
        let c = Call::new(
            ids::SDEI_EVENT_REGISTER,
            &[0, 0xffff_8000_1000_1000, 0x1234, 0, 0],
        );
        assert_eq!(
            call(&c),
            "SDEI_EVENT_REGISTER(event=0, entry=0xffff800010001000, arg=0x1234, RM_ANY)"
        );
        assert_eq!(reply(&c, &Reply::x0(0)), "SUCCESS");
        assert_eq!(reply(&c, &Reply::signed(-3)), "DENIED");
    }

    #[test]
    fn smccc_results_use_smccc_code_names() {
        let c = Call::new(
            ids::SMCCC_ARCH_FEATURES,
            &[ids::PV_TIME_FEATURES.raw() as u64],
        );
        assert_eq!(call(&c), "SMCCC_ARCH_FEATURES(fid=PV_TIME_FEATURES)");
        assert_eq!(reply(&c, &Reply::signed(-2)), "NOT_REQUIRED");
        let v = Call::new(ids::SMCCC_VERSION, &[]);
        assert_eq!(reply(&v, &Reply::x0(0x10004)), "1.4 (0x10004)");
        // An SMC32 result is 32 bits: 0xffffffff is -1.
        assert_eq!(reply(&v, &Reply::x0(0xffff_ffff)), "NOT_SUPPORTED");
    }

    #[test]
    fn unknown_ids_show_raw_arguments() {
        let c = Call::new(FunctionId(0x8300_0001), &[1, 2, 3]);
        assert_eq!(call(&c), "0x83000001(x1=0x1, x2=0x2, x3=0x3)");
    }
}
