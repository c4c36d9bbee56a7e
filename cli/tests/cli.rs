//! The `fwcall` binary: subcommands, output lines and exit statuses
//! (fwtrace.md "The command").

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fwcall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fwcall"))
        .args(args)
        .output()
        .expect("run fwcall")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A scratch directory unique to one test.
fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fwcall-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write trace");
    p.display().to_string()
}

const GOOD: &str = "vm vcpus=1\ncall 0 0x80000000 -> 0x10004\n";
const FAILING: &str = "vm vcpus=1\n# wrong on purpose\ncall 0 0x80000000 -> 0x10001\n";
const MALFORMED: &str = "vm vcpus=1\ncall 0 0xnope\n";

#[test]
fn help_lists_the_subcommands() {
    let o = fwcall(&["--help"]);
    assert!(o.status.success());
    let s = stdout(&o);
    assert!(s.contains("replay") && s.contains("snapshot"), "{s}");
}

#[test]
fn all_passing_traces_exit_0_with_summary() {
    let d = scratch("pass");
    let a = write(&d, "a.fwt", GOOD);
    let b = write(&d, "b.fwt", GOOD);
    let o = fwcall(&["replay", &a, &b]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "PASS a\nPASS b\n2 passed, 0 failed\n");
}

#[test]
fn a_failed_expectation_exits_1_with_file_and_line() {
    let d = scratch("fail");
    let a = write(&d, "a.fwt", GOOD);
    let f = write(&d, "wrong.fwt", FAILING);
    let o = fwcall(&["replay", &a, &f]);
    assert_eq!(o.status.code(), Some(1));
    let s = stdout(&o);
    assert!(
        s.contains(&format!(
            "FAIL wrong: {f}:3: expected x0=0x10001, got 0x10004\n"
        )),
        "{s}"
    );
    assert!(s.ends_with("1 passed, 1 failed\n"), "{s}");
}

#[test]
fn a_malformed_trace_exits_2_even_beside_failures() {
    let d = scratch("malformed");
    let f = write(&d, "wrong.fwt", FAILING);
    let m = write(&d, "broken.fwt", MALFORMED);
    let o = fwcall(&["replay", &m, &f]);
    assert_eq!(o.status.code(), Some(2));
    let s = stdout(&o);
    assert!(
        s.contains(&format!("FAIL broken: {m}:2: bad number `0xnope`")),
        "{s}"
    );
    assert!(s.ends_with("0 passed, 2 failed\n"), "{s}");
}

#[test]
fn a_missing_vm_line_exits_2() {
    let d = scratch("novm");
    let m = write(&d, "empty.fwt", "# nothing here\n");
    assert_eq!(fwcall(&["replay", &m]).status.code(), Some(2));
}

#[test]
fn an_unreadable_file_exits_2() {
    let o = fwcall(&["replay", "/nonexistent/trace.fwt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("FAIL trace: /nonexistent/trace.fwt: cannot read"));
}

#[test]
fn replay_without_files_is_a_usage_error() {
    assert_eq!(fwcall(&["replay"]).status.code(), Some(2));
}

#[test]
fn verbose_prints_calls_decoded_by_name() {
    let d = scratch("verbose");
    let t = write(
        &d,
        "v.fwt",
        "vm vcpus=2\ncall 1 0xc4000021 0 0xffff800010001000 0x1234 0 0 -> 0\n",
    );
    let o = fwcall(&["replay", "--verbose", &t]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(
            "vcpu1 SDEI_EVENT_REGISTER(event=0, entry=0xffff800010001000, arg=0x1234, RM_ANY) -> SUCCESS"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn directories_are_searched_for_traces() {
    let d = scratch("dir");
    write(&d, "one.fwt", GOOD);
    write(&d, "notes.txt", "not a trace");
    let o = fwcall(&["replay", &d.display().to_string()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "PASS one\n1 passed, 0 failed\n");
}

#[test]
fn snapshot_inspect_of_garbage_is_one_line_and_exit_1() {
    let d = scratch("inspect");
    let p = write(&d, "junk.snap", "definitely not a snapshot");
    let o = fwcall(&["snapshot", "inspect", &p]);
    assert_eq!(o.status.code(), Some(1));
    let s = stdout(&o);
    assert_eq!(s.lines().count(), 1, "{s}");
    assert!(s.starts_with("error: "), "{s}");
    let missing = fwcall(&["snapshot", "inspect", "/nonexistent.snap"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn save_snapshots_writes_files_that_inspect_decodes() {
    let d = scratch("snapshots");
    let t = write(
        &d,
        "s.fwt",
        "vm vcpus=2\ncall 1 0xc400002c -> 0\nsnapshot first\nsnapshot second\nrestore first\n",
    );
    let out = d.join("out");
    let o = fwcall(&["replay", "--save-snapshots", &out.display().to_string(), &t]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    for name in ["first", "second"] {
        let p = out.join(format!("{name}.snap"));
        assert!(p.is_file(), "{} missing", p.display());
        let i = fwcall(&["snapshot", "inspect", &p.display().to_string()]);
        assert_eq!(i.status.code(), Some(0), "{}", stdout(&i));
        assert!(stdout(&i).contains("vCPUs: 2"), "{}", stdout(&i));
    }
    // A truncated snapshot is one line of error and exit 1.
    let bytes = std::fs::read(out.join("first.snap")).expect("read snapshot");
    let cut = write(&d, "cut.snap", "");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let i = fwcall(&["snapshot", "inspect", &cut]);
    assert_eq!(i.status.code(), Some(1));
    assert_eq!(stdout(&i).lines().count(), 1, "{}", stdout(&i));
}
