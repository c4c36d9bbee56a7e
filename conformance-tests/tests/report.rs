//! `fwcall conformance`: the rule catalogue, the mapping from traces to
//! rules, the matrix, and REPORT.md kept current.

use fwcall_conformance::report::catalogue::{Catalogue, rule_refs};
use fwcall_conformance::report::{Coverage, TraceResult, builtin_traces, run_suites};
use fwcall_conformance::target_fwcall::FwcallTarget;
use fwcall_conformance::{Failure, Verdict};
use std::path::Path;

fn coverage() -> Coverage {
    let cat = Catalogue::builtin().expect("rules.txt parses");
    let runs = run_suites::<FwcallTarget>(&builtin_traces()).expect("traces readable");
    Coverage::build(&cat, &runs)
}

#[test]
fn report_md_is_current() {
    let md = coverage().render_markdown();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("REPORT.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == md,
        "conformance-tests/REPORT.md is stale; regenerate it with\n  \
         cargo run -p fwcall-cli -- conformance --markdown > conformance-tests/REPORT.md"
    );
}

#[test]
fn every_built_in_trace_passes_and_names_only_catalogued_rules() {
    let cov = coverage();
    assert!(cov.failed_traces().is_empty(), "{:?}", cov.failed_traces());
    assert!(
        cov.unknown.is_empty(),
        "unknown rule references: {:?}",
        cov.unknown
    );
    assert_eq!(cov.exit_code(), 0);
}

#[test]
fn every_sdei_and_pv_time_function_has_rules() {
    let cat = Catalogue::builtin().unwrap();
    let sdei = fwcall::smccc::ids::NAMES
        .iter()
        .filter(|(f, _)| f.raw() & 0xffff_ffe0 == 0xc400_0020)
        .map(|(_, n)| *n);
    let pv = ["PV_TIME_FEATURES", "PV_TIME_ST", "PV_TIME_LPT"];
    let mut n = 0;
    for name in sdei.chain(pv) {
        let f = cat
            .specs
            .iter()
            .flat_map(|s| &s.functions)
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} is not in rules.txt"));
        assert!(!f.rules.is_empty(), "{name} has no rules");
        n += 1;
    }
    assert_eq!(n, 19 + 3);
}

#[test]
fn the_matrix_has_the_seven_specifications() {
    let cat = Catalogue::builtin().unwrap();
    let keys: Vec<&str> = cat.specs.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        keys,
        ["SMCCC", "SDEI", "PVTIME", "LPT", "SNAPSHOT", "PSCI", "TRNG"]
    );
    // Every state-table cell of SDEI §7 is a rule: 6 states x 10 actions.
    let table = cat.specs[1]
        .functions
        .iter()
        .find(|f| f.name == "STATE_TABLE")
        .unwrap();
    assert_eq!(table.rules.len(), 60);
}

#[test]
fn catalogue_errors_name_the_line() {
    for (text, want) in [
        ("fn F\n", "line 1: `fn F` before any `spec`"),
        ("spec S t\nr1 x\n", "line 2: rule `r1` before any `fn`"),
        (
            "spec S t\nfn F\nr1 x\nr1 y\n",
            "line 4: rule F/r1 appears twice",
        ),
        (
            "spec S t\nfn F\nspec T u\nfn F\n",
            "line 4: function F appears twice",
        ),
        (
            "spec S t\nfn F\nr1\n",
            "line 3: rule `r1` has no description",
        ),
    ] {
        assert_eq!(Catalogue::parse(text).unwrap_err(), want);
    }
}

#[test]
fn rule_comments_are_found_anywhere_but_only_as_whole_comments() {
    let t = "# header\n# rule: A/x\nvm vcpus=1\ncall 0 1 # rule: not/this\n  #  rule: B/y C/z\n";
    assert_eq!(rule_refs(t), ["A/x", "B/y", "C/z"]);
}

fn result(name: &str, pass: bool, rules: &[&str]) -> TraceResult {
    TraceResult {
        name: name.into(),
        verdict: if pass {
            Verdict::Pass
        } else {
            Verdict::Failed(Failure {
                file: format!("{name}.fwt"),
                line: 3,
                message: "expected x0=0, got -2".into(),
            })
        },
        rules: rules.iter().map(|r| r.to_string()).collect(),
    }
}

#[test]
fn a_failing_trace_fails_its_rules_and_the_run() {
    let cat =
        Catalogue::parse("spec S The S spec\nfn F\na  rule a\nb  rule b\nc  rule c\n").unwrap();
    let runs = [
        result("s/good", true, &["F/a", "F/b"]),
        result("s/bad", false, &["F/b"]),
        result("s/lost", true, &["F/nope"]),
        result("s/bare", true, &[]),
    ];
    let cov = Coverage::build(&cat, &runs);
    assert_eq!((cov.covered(), cov.uncovered()), (2, 1));
    assert_eq!(cov.exit_code(), 1);
    let md = cov.render_markdown();
    assert!(md.contains("| **F** | `a` rule a | pass | good |"), "{md}");
    assert!(
        md.contains("|  | `b` rule b | **FAIL** | good, bad (FAIL) |"),
        "{md}"
    );
    assert!(md.contains("|  | `c` rule c | not covered |  |"), "{md}");
    assert!(
        md.contains("- s/bad: s/bad.fwt:3: expected x0=0, got -2"),
        "{md}"
    );
    assert!(md.contains("- s/lost: F/nope"), "{md}");
    assert!(md.contains("- s/bare"), "{md}");
    let text = cov.render_text(false);
    assert!(text.contains("FAIL  b"), "{text}");
    assert!(
        text.contains("----  c                              not covered"),
        "{text}"
    );
}

#[test]
fn a_failing_trace_on_disk_makes_the_command_exit_1() {
    let dir = std::env::temp_dir().join(format!("fwcall-report-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("smccc")).unwrap();
    std::fs::write(
        dir.join("smccc/wrong.fwt"),
        "# rule: SMCCC_VERSION/reports-configured\nvm vcpus=1 smccc=1.1\ncall 0 0x80000000 -> 0x10002\n",
    )
    .unwrap();
    let mut out = Vec::new();
    let code =
        fwcall_conformance::report::conformance::<FwcallTarget>(&dir, false, false, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("FAIL  reports-configured"), "{text}");
    assert!(
        text.contains("smccc/wrong: traces/smccc/wrong.fwt:3: expected x0=0x10002, got 0x10001"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
