//! `fwcall`: replay fwtrace files against the fwcall server, inspect
//! snapshots, print the conformance matrix, and run the demo.

use clap::{Parser, Subcommand};
use fwcall_cli::cli::{ReplayArgs, inspect_file, replay_files};
use fwcall_conformance::target_fwcall::FwcallTarget;
use std::path::PathBuf;
use std::process::ExitCode;

/// Firmware-call server tools: replay hypercall traces, inspect snapshots.
#[derive(Debug, Parser)]
#[command(name = "fwcall", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the library's share of an exit (under a minute) and check
    /// each figure against its budget; exit 1 if a budget is missed.
    Bench {
        /// A few iterations only, to check that every row runs.
        #[arg(long)]
        smoke: bool,
    },
    /// Replay fwtrace files, each in a fresh server; exit 0 all pass,
    /// 1 an expectation failed, 2 a trace is malformed.
    Replay {
        /// Print every directive with the call decoded by name.
        #[arg(long)]
        verbose: bool,
        /// Also write every `snapshot NAME` to DIR/NAME.snap.
        #[arg(long, value_name = "DIR")]
        save_snapshots: Option<PathBuf>,
        /// Trace files (directories are searched for *.fwt).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Work with saved snapshots.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Run every built-in suite and print the rule-coverage matrix per
    /// specification and function; exit 1 if any trace fails.
    Conformance {
        /// Print the matrix as Markdown (what conformance-tests/REPORT.md holds).
        #[arg(long)]
        markdown: bool,
        /// The suites to run (default: the built-in conformance-tests/traces).
        #[arg(long, value_name = "DIR")]
        traces: Option<PathBuf>,
    },
    /// A simulated 4-vCPU VM driven through fwcall as a VMM drives it,
    /// printed as a timeline; exit 0 only if every step behaved as expected.
    Demo {
        /// Also record the session as an fwtrace to FILE, then replay it.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum SnapshotCommand {
    /// Decode a snapshot and print a summary (exit 1 if it is invalid).
    Inspect {
        /// The snapshot file.
        file: PathBuf,
    },
}

/// Colour only on a terminal, and never when `NO_COLOR` is set.
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let code = match cli.command {
        Command::Bench { smoke } => bench(smoke, &mut out),
        Command::Replay {
            verbose,
            save_snapshots,
            files,
        } => replay_files::<FwcallTarget>(
            &ReplayArgs {
                verbose,
                save_snapshots,
                files,
            },
            &mut out,
        ),
        Command::Snapshot {
            command: SnapshotCommand::Inspect { file },
        } => inspect_file::<FwcallTarget>(&file, &mut out),
        Command::Conformance { markdown, traces } => {
            let root = traces.unwrap_or_else(fwcall_conformance::report::builtin_traces);
            fwcall_conformance::report::conformance::<FwcallTarget>(
                &root,
                markdown,
                colour(),
                &mut out,
            )
        }
        Command::Demo { record } => fwcall_cli::demo::cli(record.as_deref(), colour(), &mut out),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// Runs `fwcall bench`, counting heap allocations with the global allocator.
fn bench(smoke: bool, out: &mut impl std::io::Write) -> i32 {
    use fwcall_cli::bench;
    let opts = if smoke {
        bench::Options::SMOKE
    } else {
        bench::Options::QUICK
    };
    let count = |f: &mut dyn FnMut()| {
        let region = stats_alloc::Region::new(GLOBAL);
        f();
        region.change().allocations as u64
    };
    let rows = bench::run(opts, &count);
    let _ = write!(out, "{}", bench::render(&rows));
    let missed = rows.iter().filter(|r| !r.holds).count();
    let _ = writeln!(
        out,
        "{} budgets held, {} missed",
        rows.iter().filter(|r| !r.budget.is_empty()).count() - missed,
        missed
    );
    if smoke {
        let _ = writeln!(
            out,
            "(smoke run: a few iterations each, so the figures and verdicts mean nothing; run `fwcall bench` for them)"
        );
    }
    if smoke || missed == 0 { 0 } else { 1 }
}
