//! The fwtrace engine: a simulated VMM that replays hypercall traces
//! (`.fwt` files, format in `shared/spec/fwtrace.md`) against a
//! firmware-call server, the conformance report, the SDEI reference model
//! and the fuzz target bodies. The `fwcall` command that drives them lives
//! in the `fwcall-cli` crate (`cli/`).
//!
//! * [`parse_trace`] turns text into a [`Trace`], or a [`ParseError`] with
//!   the file and line; it never panics, whatever the bytes.
//! * [`replay`] / [`run`] play the VMM: N simulated vCPUs, sparse guest
//!   memory limited to the `mem` regions, the delivery step after each
//!   directive; the verdict is pass, failed (exit 1) or malformed (exit 2).
//! * The engine is generic over [`Target`], the few operations it needs
//!   from a server; `target_fwcall` adapts the real `fwcall::Vm`.
//!
//! ```
//! use fwcall_conformance::parse_trace;
//!
//! let t = parse_trace("t.fwt", b"vm vcpus=2 sdei=1.0\ncall 0 0xc4000020 -> @v\n").unwrap();
//! assert_eq!(t.spec.vcpus, 2);
//! assert_eq!(t.lines.len(), 1);
//! let err = parse_trace("t.fwt", b"vm vcpus=2\ncall 0 0xzz\n").unwrap_err();
//! assert_eq!(err.to_string(), "t.fwt:2: bad number `0xzz`: hexadecimal digits are 0-9 and a-f");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, clippy::doc_markdown)]

pub mod config;
pub mod decode;
pub mod engine;
pub mod files;
pub mod fuzz;
pub mod memory;
pub mod model;
pub mod parse;
pub mod pattern;
pub mod recorder;
pub mod report;
pub mod target;
pub mod target_fwcall;
pub mod trace;
pub mod value;
pub mod vcpu;

pub use config::{MemRegion, VmSpec};
pub use engine::{Failure, Report, RunOptions, Verdict, replay, run};
pub use files::{find_traces, trace_name};
pub use memory::SimMemory;
pub use parse::{ParseError, parse_trace};
pub use target::{Delivery, Interrupted, Target, TargetError};
pub use trace::{Directive, Trace};
