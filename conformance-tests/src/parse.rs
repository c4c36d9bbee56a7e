//! The fwtrace lexer and parser.
//!
//! Parsing checks everything that can be known without running the trace:
//! syntax, the `vm` line's place, `event` lines before the server is first
//! used, variables bound before use, snapshots saved before they are
//! restored, literal vCPU indexes in range, raised events declared. Any
//! violation is a [`ParseError`] with the file and line; no input panics.

use crate::config::{
    EventPriority, EventScope, EventSpec, Setting, VmSpec, parse_setting, setting_key,
};
use crate::pattern::{Pattern, width_mask};
use crate::trace::{DeliveredOn, Directive, Line, SystemRequest, Trace, Width};
use crate::value::{Value, parse_value, shown};
use crate::vcpu::Reg;
use fwcall_smccc::{CALL_REGS, Conduit};
use std::collections::HashSet;

/// A malformed trace: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The file name.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, and how to write it instead.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The INTIDs of PPIs, which need a target vCPU.
const PPI: std::ops::RangeInclusive<u64> = 16..=31;

/// Parses a trace from raw bytes (which must be UTF-8).
pub fn parse_trace(file: &str, bytes: &[u8]) -> Result<Trace, ParseError> {
    Parser::new(file).run(bytes)
}

struct Parser<'f> {
    file: &'f str,
    vm: Option<(usize, VmSpec, bool)>,
    lines: Vec<Line>,
    first_server_use: Option<usize>,
    bound: HashSet<String>,
    snapshots: HashSet<String>,
    /// Literal vCPU indexes seen, checked at the end against the largest
    /// vCPU count the trace can have (a restore may override `vcpus`).
    vcpu_refs: Vec<(usize, u64)>,
    max_vcpus: u32,
    cur: usize,
}

type Res<T> = Result<T, String>;

impl<'f> Parser<'f> {
    fn new(file: &'f str) -> Self {
        Parser {
            file,
            vm: None,
            lines: Vec::new(),
            first_server_use: None,
            bound: HashSet::new(),
            snapshots: HashSet::new(),
            vcpu_refs: Vec::new(),
            max_vcpus: 0,
            cur: 0,
        }
    }

    fn err(&self, line: usize, message: String) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line,
            message,
        }
    }

    fn run(mut self, bytes: &[u8]) -> Result<Trace, ParseError> {
        let mut last = 1;
        for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let number = i.saturating_add(1);
            last = number;
            let text = std::str::from_utf8(raw).map_err(|e| {
                self.err(
                    number,
                    format!(
                        "not UTF-8 text (invalid byte at column {}); traces are UTF-8",
                        e.valid_up_to().saturating_add(1)
                    ),
                )
            })?;
            let code = text.split('#').next().unwrap_or("");
            let toks: Vec<&str> = code
                .split([' ', '\t', '\r'])
                .filter(|t| !t.is_empty())
                .collect();
            if toks.is_empty() {
                continue;
            }
            let text = toks.join(" ");
            self.line(number, &toks, text)
                .map_err(|m| self.err(number, m))?;
        }
        let Some((vm_line, spec, vm_expects_error)) = self.vm.take() else {
            return Err(self.err(
                last,
                "the trace has no `vm` line; it must start with `vm vcpus=N ...`".into(),
            ));
        };
        for &(line, v) in &self.vcpu_refs {
            if v >= u64::from(self.max_vcpus) {
                return Err(self.err(
                    line,
                    format!(
                        "vCPU {v} does not exist: the vm has {} vCPUs (numbered from 0)",
                        self.max_vcpus
                    ),
                ));
            }
        }
        Ok(Trace {
            file: self.file.to_string(),
            vm_line,
            spec,
            vm_expects_error,
            lines: self.lines,
        })
    }

    fn line(&mut self, number: usize, toks: &[&str], text: String) -> Res<()> {
        self.cur = number;
        let (&kw, rest) = toks.split_first().ok_or("empty line")?;
        if kw == "vm" {
            return self.vm_line(number, rest);
        }
        if self.vm.is_none() {
            return Err(format!(
                "`{}` before `vm`: the first directive must be `vm vcpus=N ...`",
                shown(kw)
            ));
        }
        if kw == "event" {
            return self.event_line(rest);
        }
        let directive = match kw {
            "set" => self.set(rest)?,
            "call" => self.call(Conduit::Hvc, rest)?,
            "smc" => self.call(Conduit::Smc, rest)?,
            "expect" => self.expect(rest)?,
            "delivered" => self.delivered(rest)?,
            "irq" => self.irq(rest)?,
            "raise" => self.raise(rest)?,
            "vm-reset" => {
                let [] = exact(rest, "vm-reset")?;
                Directive::VmReset
            }
            "system" => {
                let [what] = exact(rest, "system off|reset|none")?;
                Directive::System {
                    want: match what {
                        "off" => Some(SystemRequest::Off),
                        "reset" => Some(SystemRequest::Reset),
                        "none" => None,
                        _ => {
                            return Err(format!(
                                "`system` checks `off`, `reset` or `none`, not `{}`",
                                shown(what)
                            ));
                        }
                    },
                }
            }
            "vcpu-reset" => {
                let [v] = exact(rest, "vcpu-reset VCPU")?;
                Directive::VcpuReset {
                    vcpu: self.vcpu(v)?,
                }
            }
            "steal" => {
                let [v, ns] = exact(rest, "steal VCPU NS")?;
                Directive::Steal {
                    vcpu: self.vcpu(v)?,
                    ns: self.value(ns)?,
                }
            }
            "mem" => self.mem(rest)?,
            "snapshot" => {
                let [name] = exact(rest, "snapshot NAME")?;
                check_name(name)?;
                self.snapshots.insert(name.to_string());
                Directive::Snapshot {
                    name: name.to_string(),
                }
            }
            "restore" => self.restore(rest)?,
            _ => {
                return Err(format!(
                    "unknown directive `{}`; the directives are vm, event, set, call, smc, expect, delivered, irq, raise, vcpu-reset, vm-reset, steal, mem, snapshot, restore, system",
                    shown(kw)
                ));
            }
        };
        if uses_server(&directive) && self.first_server_use.is_none() {
            self.first_server_use = Some(number);
        }
        self.lines.push(Line {
            number,
            text,
            directive,
        });
        Ok(())
    }

    fn vm_line(&mut self, number: usize, rest: &[&str]) -> Res<()> {
        if let Some((first, ..)) = &self.vm {
            return Err(format!(
                "`vm` may appear only once (it is already at line {first})"
            ));
        }
        let (keys, arrow) = split_arrow(rest);
        let expects_error = match arrow {
            None => false,
            Some(["error"]) => true,
            Some(["ok"]) => false,
            Some(_) => return Err("a `vm` line may end only in `-> error`".into()),
        };
        let settings = settings(keys)?;
        let Some(vcpus) = settings.iter().find_map(|s| match s {
            Setting::Vcpus(n) => Some(*n),
            _ => None,
        }) else {
            return Err("`vm` needs `vcpus=N` (1..=512)".into());
        };
        let mut spec = VmSpec::new(vcpus);
        for s in &settings {
            spec.apply(s);
        }
        spec.check()?;
        self.max_vcpus = vcpus;
        self.vm = Some((number, spec, expects_error));
        Ok(())
    }

    fn event_line(&mut self, rest: &[&str]) -> Res<()> {
        let [n, scope, prio] = exact(rest, "event NUM private|shared normal|critical")?;
        if let Some(first) = self.first_server_use {
            return Err(format!(
                "`event` must come before the server is first used (line {first}); declare every event right after `vm`"
            ));
        }
        let number = u32_lit(n, "event number")?;
        let scope = match scope {
            "private" => EventScope::Private,
            "shared" => EventScope::Shared,
            _ => {
                return Err(format!(
                    "event scope is `private` or `shared`, not `{}`",
                    shown(scope)
                ));
            }
        };
        let priority = match prio {
            "normal" => EventPriority::Normal,
            "critical" => EventPriority::Critical,
            _ => {
                return Err(format!(
                    "event priority is `normal` or `critical`, not `{}`",
                    shown(prio)
                ));
            }
        };
        let Some((_, spec, _)) = self.vm.as_mut() else {
            return Err("`event` before `vm`".into());
        };
        if number == 0 {
            return Err(
                "event 0 always exists (private, normal); declare only platform events".into(),
            );
        }
        if spec.event(number).is_some() {
            return Err(format!("event {number} is declared twice"));
        }
        spec.events.push(EventSpec {
            number,
            scope,
            priority,
        });
        Ok(())
    }

    /// A vCPU operand; literal indexes are range-checked at the end.
    fn vcpu(&mut self, tok: &str) -> Res<Value> {
        let v = self.value(tok)?;
        if let Some(n) = v.literal() {
            self.vcpu_refs.push((self.cur, n));
        }
        Ok(v)
    }

    fn value(&self, tok: &str) -> Res<Value> {
        let v = parse_value(tok)?;
        self.require_bound(v.var())?;
        Ok(v)
    }

    fn require_bound(&self, var: Option<&str>) -> Res<()> {
        match var {
            Some(name) if !self.bound.contains(name) => Err(format!(
                "variable @{name} is used before any pattern captures it"
            )),
            _ => Ok(()),
        }
    }

    fn pattern(&mut self, tok: &str) -> Res<Pattern> {
        let p = Pattern::parse(tok)?;
        for u in p.uses() {
            self.require_bound(Some(u))?;
        }
        if let Some(name) = p.captures() {
            self.bound.insert(name.to_string());
        }
        Ok(p)
    }

    fn set(&mut self, rest: &[&str]) -> Res<Directive> {
        let (v, pairs) = rest.split_first().ok_or("usage: set VCPU REG=VALUE ...")?;
        if pairs.is_empty() {
            return Err("usage: set VCPU REG=VALUE ... (at least one register)".into());
        }
        let vcpu = self.vcpu(v)?;
        let mut regs = Vec::new();
        for p in pairs {
            let (r, val) = reg_pair(p)?;
            regs.push((r, self.value(val)?));
        }
        Ok(Directive::Set { vcpu, regs })
    }

    fn call(&mut self, conduit: Conduit, rest: &[&str]) -> Res<Directive> {
        let usage = "usage: call VCPU FUNC [ARG ...] [-> PAT ...]";
        let (head, arrow) = split_arrow(rest);
        let [v, f, args @ ..] = head else {
            return Err(usage.into());
        };
        if args.len() > CALL_REGS - 1 {
            return Err(format!(
                "{} arguments given; a call passes at most 17 (x1..x17)",
                args.len()
            ));
        }
        let vcpu = self.vcpu(v)?;
        let func = self.value(f)?;
        let args = args
            .iter()
            .map(|a| self.value(a))
            .collect::<Res<Vec<_>>>()?;
        let pats = match arrow {
            None => Vec::new(),
            Some([]) => return Err("`->` needs at least one pattern (for x0)".into()),
            Some(p) if p.len() > 4 => {
                return Err(format!(
                    "{} patterns given; `->` checks at most x0..x3 (use `expect` for others)",
                    p.len()
                ));
            }
            Some(p) => p.iter().map(|t| self.pattern(t)).collect::<Res<Vec<_>>>()?,
        };
        Ok(Directive::Call {
            conduit,
            vcpu,
            func,
            args,
            pats,
        })
    }

    fn expect(&mut self, rest: &[&str]) -> Res<Directive> {
        let (v, pairs) = rest.split_first().ok_or("usage: expect VCPU REG=PAT ...")?;
        if pairs.is_empty() {
            return Err("usage: expect VCPU REG=PAT ... (at least one register)".into());
        }
        let vcpu = self.vcpu(v)?;
        let mut checks = Vec::new();
        let mut power = None;
        for p in pairs {
            if let Some(state) = p.strip_prefix("power=") {
                if power.is_some() {
                    return Err("`power=` is given twice".into());
                }
                power = Some(match state {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("`power=` is `on` or `off`, not `{}`", shown(state))),
                });
                continue;
            }
            let (r, pat) = reg_pair(p)?;
            checks.push((r, self.pattern(pat)?));
        }
        Ok(Directive::Expect {
            vcpu,
            checks,
            power,
        })
    }

    fn delivered(&mut self, rest: &[&str]) -> Res<Directive> {
        let [who, ev] = exact(rest, "delivered VCPU EVENT|none, or delivered any EVENT")?;
        let on = if who == "any" {
            DeliveredOn::Any
        } else {
            DeliveredOn::Vcpu(self.vcpu(who)?)
        };
        let event = if ev == "none" {
            if on == DeliveredOn::Any {
                return Err(
                    "`delivered any` takes an event; write `delivered VCPU none` per vCPU".into(),
                );
            }
            None
        } else {
            let e = self.value(ev)?;
            if let Some(n) = e.literal() {
                u32::try_from(n).map_err(|_| format!("event {n:#x} does not fit in 32 bits"))?;
            }
            Some(e)
        };
        Ok(Directive::Delivered { on, event })
    }

    fn optional_vcpu(&mut self, tok: Option<&&str>) -> Res<Option<Value>> {
        tok.map(|t| self.vcpu(t)).transpose()
    }

    fn irq(&mut self, rest: &[&str]) -> Res<Directive> {
        let (intid, vcpu) = match rest {
            [i] => (i, None),
            [i, v] => (i, Some(v)),
            _ => return Err("usage: irq INTID [VCPU]".into()),
        };
        let intid = self.value(intid)?;
        if let Some(n) = intid.literal() {
            u32::try_from(n).map_err(|_| format!("INTID {n:#x} does not fit in 32 bits"))?;
            if PPI.contains(&n) && vcpu.is_none() {
                return Err(format!("INTID {n} is a PPI: write `irq {n} VCPU`"));
            }
        }
        let vcpu = self.optional_vcpu(vcpu)?;
        Ok(Directive::Irq { intid, vcpu })
    }

    fn raise(&mut self, rest: &[&str]) -> Res<Directive> {
        let (ev, vcpu) = match rest {
            [e] => (e, None),
            [e, v] => (e, Some(v)),
            _ => return Err("usage: raise EVENT [VCPU]".into()),
        };
        let event = self.value(ev)?;
        if let Some(n) = event.literal() {
            let spec = self
                .vm
                .as_ref()
                .map(|(_, s, _)| s)
                .ok_or("`raise` before `vm`")?;
            let n32 =
                u32::try_from(n).map_err(|_| format!("event {n:#x} does not fit in 32 bits"))?;
            let private = match spec.event(n32) {
                Some(e) => e.scope == EventScope::Private,
                None if n32 == 0 => true,
                None => {
                    return Err(format!(
                        "event {n32} is not declared: add `event {n32} private|shared normal|critical` after `vm`"
                    ));
                }
            };
            if private && vcpu.is_none() {
                return Err(format!("event {n32} is private: write `raise {n32} VCPU`"));
            }
        }
        let vcpu = self.optional_vcpu(vcpu)?;
        Ok(Directive::Raise { event, vcpu })
    }

    fn mem(&mut self, rest: &[&str]) -> Res<Directive> {
        let usage = "usage: mem ADDR u8|u16|u32|u64 = VALUE, or mem ADDR u8|u16|u32|u64 == PAT";
        let [addr, width, op, operand] = exact(rest, usage)?;
        let addr = self.value(addr)?;
        let width = match width {
            "u8" => Width::U8,
            "u16" => Width::U16,
            "u32" => Width::U32,
            "u64" => Width::U64,
            _ => return Err(format!("`{}` is not a width; {usage}", shown(width))),
        };
        match op {
            "=" => {
                let value = self.value(operand)?;
                if let Some(v) = value.literal() {
                    check_fits(v, width)?;
                }
                Ok(Directive::MemWrite { addr, width, value })
            }
            "==" => Ok(Directive::MemCheck {
                addr,
                width,
                pat: self.pattern(operand)?,
            }),
            _ => Err(format!("`{}`: {usage}", shown(op))),
        }
    }

    fn restore(&mut self, rest: &[&str]) -> Res<Directive> {
        let (head, arrow) = split_arrow(rest);
        let (name, keys) = head
            .split_first()
            .ok_or("usage: restore NAME [KEY=VALUE ...] [-> ok|error]")?;
        check_name(name)?;
        if !self.snapshots.contains(*name) {
            return Err(format!(
                "no `snapshot {}` before this line to restore",
                shown(name)
            ));
        }
        let expect_ok = match arrow {
            None | Some(["ok"]) => true,
            Some(["error"]) => false,
            Some(_) => return Err("`restore` ends in `-> ok` or `-> error`".into()),
        };
        let overrides = settings(keys)?;
        for s in &overrides {
            if let Setting::Vcpus(n) = s {
                self.max_vcpus = self.max_vcpus.max(*n);
            }
        }
        if let Some((_, spec, _)) = &self.vm {
            let mut dest = spec.clone();
            for s in &overrides {
                dest.apply(s);
            }
            dest.check()?;
        }
        Ok(Directive::Restore {
            name: name.to_string(),
            overrides,
            expect_ok,
        })
    }
}

/// Whether a directive needs the server to exist (so `event` lines must
/// come before it).
fn uses_server(d: &Directive) -> bool {
    matches!(
        d,
        Directive::Call { .. }
            | Directive::Irq { .. }
            | Directive::Raise { .. }
            | Directive::VcpuReset { .. }
            | Directive::VmReset
            | Directive::Steal { .. }
            | Directive::Snapshot { .. }
            | Directive::Restore { .. }
    )
}

fn split_arrow<'a, 'b>(toks: &'a [&'b str]) -> (&'a [&'b str], Option<&'a [&'b str]>) {
    match toks.iter().position(|t| *t == "->") {
        Some(i) => (&toks[..i], toks.get(i + 1..)),
        None => (toks, None),
    }
}

fn exact<'a, const N: usize>(rest: &[&'a str], usage: &str) -> Res<[&'a str; N]> {
    <[&str; N]>::try_from(rest).map_err(|_| format!("usage: {usage}"))
}

fn settings(toks: &[&str]) -> Res<Vec<Setting>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for t in toks {
        let key = setting_key(t);
        if !seen.insert(key) {
            return Err(format!("key `{}` is given twice", shown(key)));
        }
        out.push(parse_setting(t)?);
    }
    Ok(out)
}

fn reg_pair(tok: &str) -> Res<(Reg, &str)> {
    let (r, v) = tok
        .split_once('=')
        .ok_or_else(|| format!("expected REG=VALUE, got `{}`", shown(tok)))?;
    let reg = Reg::parse(r).ok_or_else(|| {
        format!(
            "unknown register `{}`; the registers are x0..x30, pc, pstate, elr, spsr, vbar, sctlr, mpidr",
            shown(r)
        )
    })?;
    Ok((reg, v))
}

fn u32_lit(tok: &str, what: &str) -> Res<u32> {
    let n = crate::value::parse_number(tok)?;
    u32::try_from(n).map_err(|_| format!("{what} {n:#x} does not fit in 32 bits"))
}

/// Whether `v` fits an access of `width`: as an unsigned value, or as a
/// negative number whose two's complement fits.
pub fn check_fits(v: u64, width: Width) -> Res<()> {
    let bits = width.bits();
    let m = width_mask(bits);
    let as_signed = crate::pattern::sign_extend(v & m, bits) as u64;
    if v & !m == 0 || as_signed == v {
        Ok(())
    } else {
        Err(format!("{v:#x} does not fit in {} bits", bits))
    }
}

/// Snapshot names become file names (`DIR/NAME.snap`): keep them plain.
fn check_name(name: &str) -> Res<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad snapshot name `{}`: use up to 64 letters, digits, `_`, `-` or `.` (not first)",
            shown(name)
        ))
    }
}
