//! Runs every conformance suite (`traces/<suite>/*.fwt`) against the real
//! fwcall server and requires every trace to pass. This is how CI runs
//! the suites; a failure lists each failing trace with FILE:LINE.

use fwcall_conformance::find_traces;
use fwcall_conformance::target_fwcall::FwcallTarget;
use fwcall_conformance::{RunOptions, Verdict, replay};
use std::path::{Path, PathBuf};

fn traces_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")
}

/// Runs every trace under `dir`; returns how many ran, panicking with the
/// list of failures if any.
fn run_suite(dir: &Path) -> usize {
    let files = find_traces(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut failures = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let shown = f
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(f)
            .display()
            .to_string();
        let report = replay::<FwcallTarget>(&shown, &bytes, RunOptions::default());
        match report.verdict {
            Verdict::Pass => {}
            Verdict::Failed(e) => failures.push(format!("FAIL {e}")),
            Verdict::Malformed(e) => failures.push(format!("MALFORMED {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} traces in {} failed:\n{}",
        failures.len(),
        files.len(),
        dir.display(),
        failures.join("\n")
    );
    files.len()
}

#[test]
fn smccc_suite_passes() {
    let n = run_suite(&traces_root().join("smccc"));
    assert!(n >= 20, "the SMCCC suite shrank to {n} traces");
}

/// Every other suite directory, whoever added it.
#[test]
fn every_other_suite_passes() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(traces_root())
        .expect("traces/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "smccc"))
        .collect();
    dirs.sort();
    for d in dirs {
        run_suite(&d);
    }
}
