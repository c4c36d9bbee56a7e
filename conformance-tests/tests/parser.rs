//! The fwtrace parser: what it accepts, and a clear FILE:LINE error for
//! every malformed form (fwtrace.md "Lexical rules", "Directives", "vm keys").

use fwcall_conformance::config::{EventPriority, EventScope, SdeiVersion};
use fwcall_conformance::pattern::{Atom, Pattern};
use fwcall_conformance::trace::{DeliveredOn, Directive, Width};
use fwcall_conformance::value::Value;
use fwcall_conformance::{MemRegion, parse_trace};
use fwcall_smccc::Conduit;

fn ok(src: &str) -> fwcall_conformance::Trace {
    match parse_trace("t.fwt", src.as_bytes()) {
        Ok(t) => t,
        Err(e) => panic!("{e}\n{src}"),
    }
}

fn bad(src: &str, line: usize, needle: &str) {
    match parse_trace("t.fwt", src.as_bytes()) {
        Ok(t) => panic!("accepted malformed trace:\n{src}\n{t:?}"),
        Err(e) => {
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(needle), "{e} (wanted `{needle}`)");
            assert!(e.to_string().starts_with(&format!("t.fwt:{line}: ")), "{e}");
        }
    }
}

#[test]
fn fwtrace_example_parses() {
    let t = ok("# Linux-style probe, then a signalled event on vCPU 1\n\
vm vcpus=2 sdei=1.1\n\
call 0 0xc4000020 -> @ver                 # SDEI_VERSION\n\
call 0 0xc4000031 -> 0                    # PRIVATE_RESET\n\
call 1 0xc4000021 0 0xffff800010001000 0x1234 0 0 -> 0   # REGISTER event 0\n\
set 1 pc=0xffff800010200000 pstate=0x3c5\n\
call 0 0xc400002f 0 0x80000001 -> 0       # SIGNAL event 0 to vCPU 1\n\
delivered 1 0\n\
expect 1 pc=0xffff800010001000 x0=0 x1=0x1234 x3=0x3c5\n\
call 1 0xc4000025 0                       # COMPLETE\n");
    assert_eq!(t.vm_line, 2);
    assert_eq!(t.spec.vcpus, 2);
    assert_eq!(t.lines.len(), 8);
    assert_eq!(t.lines[0].number, 3);
    assert_eq!(t.lines[0].text, "call 0 0xc4000020 -> @ver");
    match &t.lines[2].directive {
        Directive::Call {
            conduit,
            vcpu,
            func,
            args,
            pats,
        } => {
            assert_eq!(*conduit, Conduit::Hvc);
            assert_eq!(*vcpu, Value::Lit(1));
            assert_eq!(*func, Value::Lit(0xc400_0021));
            assert_eq!(args.len(), 5);
            assert_eq!(pats, &[Pattern::Alts(vec![Atom::Exact(Value::Lit(0))])]);
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn vm_keys_and_defaults() {
    let t = ok(
        "vm vcpus=4 smccc=1.2 sdei=off sdei_private_slots=3 sdei_shared_slots=0x10 pvtime=off \
                pvtime_ipa=0x9000000 lpt=on lpt_ipa=0x9010000 native_hz=100000000 pv_hz=1_000_000_000 \
                mem=0x40000000:0x1000_0000,0x9000000:0x20000 features=ssbs,bti\n",
    );
    let s = &t.spec;
    assert_eq!(s.smccc.map(|v| v.to_word()), Some(0x10002));
    assert_eq!(s.sdei, None);
    assert_eq!(
        (s.sdei_private_slots, s.sdei_shared_slots),
        (Some(3), Some(16))
    );
    assert!(!s.pvtime && s.lpt);
    assert_eq!(
        (s.pvtime_ipa, s.lpt_ipa),
        (Some(0x900_0000), Some(0x901_0000))
    );
    assert_eq!((s.native_hz, s.pv_hz), (100_000_000, 1_000_000_000));
    assert_eq!(
        s.mem[1],
        MemRegion {
            base: 0x900_0000,
            size: 0x2_0000
        }
    );
    assert!(s.features.ssbs && s.features.bti && !s.features.pan);
    let d = ok("vm vcpus=1 sdei=1.0\n");
    assert_eq!(d.spec.sdei, Some(SdeiVersion::V1_0));
    assert!(d.spec.pvtime);
}

#[test]
fn events_are_folded_into_the_spec() {
    let t = ok(
        "vm vcpus=1\nevent 5 shared critical\nevent 0x40000000 private normal\nset 0 x0=1\nevent 6 private normal\ncall 0 1\n",
    );
    assert_eq!(t.spec.events.len(), 3);
    assert_eq!(t.spec.events[0].scope, EventScope::Shared);
    assert_eq!(t.spec.events[0].priority, EventPriority::Critical);
}

#[test]
fn every_directive_form_parses() {
    let t = ok("vm vcpus=2\n\
        set 0 x0=1 x30=-1 pc=0x10 pstate=0x3c5 elr=1 spsr=2 vbar=3 sctlr=4 mpidr=0x80000000\n\
        smc 1 0x80000000 -> 0x10004|0x10003\n\
        expect 1 x0=_ x1=neg pstate=0x3c5/0x3cf x2=@cap\n\
        delivered 0 none\ndelivered any 3\ndelivered 1 @cap\n\
        irq 40\nirq 20 1\nraise 0 1\nvcpu-reset 1\nsteal 0 1000\n\
        mem 0x40000000 u8 = 255\nmem 0x40000000 u16 = -1\nmem @cap+8 u64 == 0/0xff\n\
        snapshot s1\nrestore s1\nrestore s1 vcpus=3 pv_hz=1 -> error\nrestore s1 -> ok\n");
    assert_eq!(t.lines.len(), 18);
    assert!(matches!(
        t.lines[4].directive,
        Directive::Delivered {
            on: DeliveredOn::Any,
            ..
        }
    ));
    assert!(matches!(
        t.lines[12].directive,
        Directive::MemWrite {
            width: Width::U16,
            value: Value::Lit(u64::MAX),
            ..
        }
    ));
    assert!(
        matches!(&t.lines[16].directive, Directive::Restore { expect_ok: false, overrides, .. } if overrides.len() == 2)
    );
}

#[test]
fn comments_blank_lines_tabs_and_crlf_are_ignored() {
    let t = ok(
        "\n   # only a comment\n\tvm\tvcpus=1   # trailing\r\n\r\n\tset 0\tx0=1#glued comment\r\n",
    );
    assert_eq!(t.lines.len(), 1);
    assert_eq!(t.lines[0].number, 5);
}

// ---- malformed: one test per rule ----

#[test]
fn empty_trace_has_no_vm() {
    bad("", 1, "no `vm` line");
    bad("# nothing\n\n", 3, "no `vm` line");
}

#[test]
fn directive_before_vm_is_malformed() {
    bad("set 0 x0=1\nvm vcpus=1\n", 1, "before `vm`");
}

#[test]
fn second_vm_is_malformed() {
    bad("vm vcpus=1\nvm vcpus=2\n", 2, "only once");
}

#[test]
fn vm_without_vcpus_is_malformed() {
    bad("vm sdei=off\n", 1, "needs `vcpus=N`");
}

#[test]
fn vm_key_errors_are_malformed() {
    bad("vm vcpus=0\n", 1, "1..=512");
    bad("vm vcpus=513\n", 1, "1..=512");
    bad("vm vcpus=1 colour=red\n", 1, "unknown key `colour`");
    bad("vm vcpus=1 sdei=2.0\n", 1, "`sdei` is off, 1.0 or 1.1");
    bad("vm vcpus=1 pvtime=1\n", 1, "`pvtime` is `on` or `off`");
    bad("vm vcpus=1 lpt=true\n", 1, "`lpt` is `on` or `off`");
    bad("vm vcpus=1 smccc=1\n", 1, "`smccc` is a version");
    bad("vm vcpus=1 features=sve\n", 1, "unknown CPU feature `sve`");
    bad("vm vcpus=1 mem=0x1000:0\n", 1, "size 0");
    bad("vm vcpus=1 mem=1:2,2:2\n", 1, "overlap");
    bad("vm vcpus=1 native_hz=ten\n", 1, "bad number");
    bad("vm vcpus=1 sdei_shared_slots=0x100000000\n", 1, "32 bits");
    bad("vm vcpus=1 vcpus=2\n", 1, "given twice");
    bad("vm vcpus=1 pvtime\n", 1, "KEY=VALUE");
}

#[test]
fn vm_arrow_other_than_error_is_malformed() {
    bad("vm vcpus=1 -> fail\n", 1, "`-> error`");
    bad("vm vcpus=1 ->\n", 1, "`-> error`");
}

#[test]
fn unknown_directive_is_malformed() {
    bad("vm vcpus=1\nhvc 0 1\n", 2, "unknown directive `hvc`");
}

#[test]
fn bad_numbers_are_malformed() {
    bad("vm vcpus=1\ncall 0 0x\n", 2, "bad number `0x`");
    bad("vm vcpus=1\ncall 0 12ab\n", 2, "bad number");
    bad("vm vcpus=1\ncall 0 0x1_0000_0000_0000_0000\n", 2, "64 bits");
    bad(
        "vm vcpus=1\ncall 0 -0x8000000000000001\n",
        2,
        "signed 64-bit",
    );
}

#[test]
fn event_forms_are_checked() {
    bad(
        "vm vcpus=1\nevent 5 global normal\n",
        2,
        "`private` or `shared`",
    );
    bad(
        "vm vcpus=1\nevent 5 private urgent\n",
        2,
        "`normal` or `critical`",
    );
    bad("vm vcpus=1\nevent 5 private\n", 2, "usage: event NUM");
    bad(
        "vm vcpus=1\nevent 0x100000000 private normal\n",
        2,
        "32 bits",
    );
    bad(
        "vm vcpus=1\nevent 0 private normal\n",
        2,
        "event 0 always exists",
    );
    bad(
        "vm vcpus=1\nevent 3 private normal\nevent 3 shared normal\n",
        3,
        "declared twice",
    );
    bad("vm vcpus=1\nevent @x private normal\n", 2, "bad number");
}

#[test]
fn event_after_the_server_is_used_is_malformed() {
    bad(
        "vm vcpus=1\ncall 0 0x80000000\nevent 5 private normal\n",
        3,
        "line 2",
    );
    bad(
        "vm vcpus=1\nsnapshot a\nevent 5 private normal\n",
        3,
        "before the server is first used",
    );
}

#[test]
fn set_forms_are_checked() {
    bad("vm vcpus=1\nset 0\n", 2, "at least one register");
    bad("vm vcpus=1\nset 0 x31=1\n", 2, "unknown register `x31`");
    bad("vm vcpus=1\nset 0 x0\n", 2, "REG=VALUE");
    bad("vm vcpus=1\nset 0 x0=zz\n", 2, "bad number");
    bad("vm vcpus=1\nset\n", 2, "usage: set");
}

#[test]
fn call_forms_are_checked() {
    bad("vm vcpus=1\ncall 0\n", 2, "usage: call");
    bad("vm vcpus=1\ncall 0 1 ->\n", 2, "at least one pattern");
    bad("vm vcpus=1\ncall 0 1 -> 1 2 3 4 5\n", 2, "at most x0..x3");
    bad(
        &format!("vm vcpus=1\ncall 0 1{}\n", " 0".repeat(18)),
        2,
        "at most 17",
    );
    bad("vm vcpus=1\nsmc 0 1 -> x\n", 2, "a pattern is");
    bad(
        "vm vcpus=1\ncall 0 1 -> 1|\n",
        2,
        "empty pattern alternative",
    );
}

#[test]
fn vcpu_out_of_range_is_malformed() {
    bad(
        "vm vcpus=2\ncall 2 0x80000000\n",
        2,
        "vCPU 2 does not exist",
    );
    bad("vm vcpus=2\nexpect 5 x0=0\n", 2, "vCPU 5");
    // A restore overriding vcpus widens what a trace may name.
    ok("vm vcpus=2\nsnapshot s\nrestore s vcpus=4 -> error\nexpect 3 x0=0\n");
}

#[test]
fn variables_must_be_captured_before_use() {
    bad("vm vcpus=1\ncall 0 @f\n", 2, "@f is used before");
    bad("vm vcpus=1\nexpect 0 x0=@a+1\n", 2, "@a is used before");
    bad("vm vcpus=1\nmem @a u8 = 1\n", 2, "@a");
    bad("vm vcpus=1\ncall 0 1 -> 0|@a\n", 2, "@a");
    bad("vm vcpus=1\ncall 0 @a -> @a\n", 2, "@a");
    ok("vm vcpus=1\ncall 0 1 -> @a\ncall 0 @a+1 -> @a-1\nexpect 0 x0=@a x1=@b x2=@b\n");
}

#[test]
fn delivered_forms_are_checked() {
    bad("vm vcpus=1\ndelivered 0\n", 2, "usage: delivered");
    bad(
        "vm vcpus=1\ndelivered any none\n",
        2,
        "`delivered any` takes an event",
    );
    bad("vm vcpus=1\ndelivered 0 0x100000000\n", 2, "32 bits");
}

#[test]
fn irq_forms_are_checked() {
    bad("vm vcpus=1\nirq\n", 2, "usage: irq");
    bad("vm vcpus=1\nirq 20\n", 2, "PPI");
    bad("vm vcpus=1\nirq 0x100000000\n", 2, "32 bits");
}

#[test]
fn raise_forms_are_checked() {
    bad("vm vcpus=1\nraise 5 0\n", 2, "event 5 is not declared");
    bad(
        "vm vcpus=1\nevent 5 private normal\nraise 5\n",
        3,
        "private",
    );
    bad("vm vcpus=1\nraise 0\n", 2, "private");
    bad("vm vcpus=1\nraise\n", 2, "usage: raise");
    ok("vm vcpus=2\nevent 6 shared normal\nraise 6\nraise 6 1\nraise 0 1\n");
}

#[test]
fn vcpu_reset_and_steal_forms_are_checked() {
    bad("vm vcpus=1\nvcpu-reset\n", 2, "usage: vcpu-reset");
    bad("vm vcpus=1\nsteal 0\n", 2, "usage: steal");
    bad("vm vcpus=1\nsteal 0 1 2\n", 2, "usage: steal");
}

#[test]
fn mem_forms_are_checked() {
    bad("vm vcpus=1\nmem 0x40000000 u128 = 1\n", 2, "not a width");
    bad("vm vcpus=1\nmem 0x40000000 u8 := 1\n", 2, "usage: mem");
    bad(
        "vm vcpus=1\nmem 0x40000000 u8 = 256\n",
        2,
        "does not fit in 8 bits",
    );
    bad("vm vcpus=1\nmem 0x40000000 u16 = -0x8001\n", 2, "16 bits");
    bad("vm vcpus=1\nmem 0x40000000 u8\n", 2, "usage: mem");
}

#[test]
fn snapshot_and_restore_forms_are_checked() {
    bad("vm vcpus=1\nsnapshot\n", 2, "usage: snapshot");
    bad("vm vcpus=1\nsnapshot ../x\n", 2, "bad snapshot name");
    bad("vm vcpus=1\nsnapshot .hidden\n", 2, "bad snapshot name");
    bad("vm vcpus=1\nrestore s\n", 2, "no `snapshot s`");
    bad(
        "vm vcpus=1\nsnapshot s\nrestore s -> maybe\n",
        3,
        "`-> ok` or `-> error`",
    );
    bad(
        "vm vcpus=1\nsnapshot s\nrestore s cores=2\n",
        3,
        "unknown key",
    );
    bad("vm vcpus=1\nsnapshot s\nrestore\n", 3, "usage: restore");
}

#[test]
fn invalid_utf8_is_malformed_with_its_line() {
    let mut src = b"vm vcpus=1\n".to_vec();
    src.extend_from_slice(b"set 0 x0=\xff\n");
    let e = parse_trace("t.fwt", &src).unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("UTF-8"), "{e}");
}

#[test]
fn error_messages_escape_control_characters() {
    let e = parse_trace("t.fwt", b"vm vcpus=1\n\x1b[31m\n").unwrap_err();
    assert!(e.message.contains("\\u{1b}"), "{e}");
}
