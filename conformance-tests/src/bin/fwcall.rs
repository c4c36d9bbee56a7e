//! `fwcall`: replay fwtrace files against the fwcall server, and inspect
//! snapshots.

use clap::{Parser, Subcommand};
use fwcall_conformance::cli::{ReplayArgs, inspect_file, replay_files};
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
}

#[derive(Debug, Subcommand)]
enum SnapshotCommand {
    /// Decode a snapshot and print a summary (exit 1 if it is invalid).
    Inspect {
        /// The snapshot file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let code = match cli.command {
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
    };
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
