//! The `fwcall` subcommands, generic over the server so tests can drive
//! them with a mock.

use fwcall_conformance::engine::{RunOptions, Verdict, replay};
use fwcall_conformance::target::Target;
use fwcall_conformance::{find_traces, trace_name};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `fwcall replay` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct ReplayArgs {
    /// Print every directive, decoded.
    pub verbose: bool,
    /// Write every `snapshot NAME` to `DIR/NAME.snap`.
    pub save_snapshots: Option<PathBuf>,
    /// Trace files, or directories searched for `*.fwt`.
    pub files: Vec<PathBuf>,
}

/// Runs `fwcall replay`: one line per trace, then `N passed, M failed`.
/// Returns the exit status: 2 if any trace is malformed (or unreadable),
/// else 1 if any failed, else 0.
pub fn replay_files<T: Target>(args: &ReplayArgs, out: &mut dyn Write) -> i32 {
    let mut files = Vec::new();
    let mut worst = 0;
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in &args.files {
        if f.is_dir() {
            match find_traces(f) {
                Ok(found) => files.extend(found),
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "FAIL {}: {}: cannot read directory: {e}",
                        trace_name(f),
                        f.display()
                    );
                    failed += 1;
                    worst = 2;
                }
            }
        } else {
            files.push(f.clone());
        }
    }
    let opts = RunOptions {
        verbose: args.verbose,
        keep_snapshots: args.save_snapshots.is_some(),
    };
    for path in &files {
        let name = trace_name(path);
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                let _ = writeln!(out, "FAIL {name}: {shown}: cannot read: {e}");
                failed += 1;
                worst = 2;
                continue;
            }
        };
        let report = replay::<T>(&shown, &bytes, opts);
        for l in &report.log {
            let _ = writeln!(out, "  {l}");
        }
        let mut code = report.verdict.exit_code();
        if let Some(dir) = &args.save_snapshots
            && let Err(e) = save(dir, &report.snapshots)
        {
            let _ = writeln!(out, "FAIL {name}: {e}");
            code = code.max(1);
        }
        match &report.verdict {
            Verdict::Pass if code == 0 => {
                let _ = writeln!(out, "PASS {name}");
                passed += 1;
            }
            Verdict::Pass => failed += 1,
            Verdict::Failed(f) | Verdict::Malformed(f) => {
                let _ = writeln!(out, "FAIL {name}: {f}");
                failed += 1;
            }
        }
        worst = worst.max(code);
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    worst
}

fn save(dir: &Path, snaps: &[(String, Vec<u8>)]) -> Result<(), String> {
    if snaps.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, bytes) in snaps {
        let p = dir.join(format!("{name}.snap"));
        std::fs::write(&p, bytes).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(())
}

/// Runs `fwcall snapshot inspect FILE`: prints the summary, or one line
/// saying what is wrong. Returns 0, or 1 on any error.
pub fn inspect_file<T: Target>(path: &Path, out: &mut dyn Write) -> i32 {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(out, "error: {}: cannot read: {e}", path.display());
            return 1;
        }
    };
    match T::inspect(&bytes) {
        Ok(s) => {
            let _ = writeln!(out, "{s}");
            0
        }
        Err(e) => {
            let _ = writeln!(out, "error: {}: {}", path.display(), e.0.replace('\n', " "));
            1
        }
    }
}
