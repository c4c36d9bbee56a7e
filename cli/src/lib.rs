//! The pieces of the `fwcall` command, as a library so tests can drive
//! them: the subcommands over any [`fwcall_conformance::Target`]
//! ([`cli`]), the simulated-VM demo ([`demo`]) and the benchmark with its
//! budgets ([`bench`](mod@bench)). The trace engine, the suites and the conformance
//! report they use live in `fwcall-conformance`.
//!
//! Install the command from a clone with `cargo install --path cli`, or run
//! it in place with `cargo run --release -p fwcall-cli -- demo`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, clippy::doc_markdown)]

pub mod bench;
pub mod cli;
pub mod demo;
