//! The run loop is written once: the README, fwcall's `kvm` module docs
//! (through `examples/kvm_run_loop.rs`, run as a doctest on the fake vCPU)
//! and this VMM (`src/vcpu.rs`, on a real `VcpuFd`) show the same text.

use std::path::Path;

const BEGIN: &str = "// run-loop: begin";
const END: &str = "// run-loop: end";

fn read(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The lines between the markers, each trimmed (indentation differs with
/// the surrounding code).
fn region(text: &str, what: &str) -> Vec<String> {
    assert_eq!(text.matches(BEGIN).count(), 1, "{what}: one `{BEGIN}`");
    let start = text.find(BEGIN).unwrap() + BEGIN.len();
    let end = text[start..]
        .find(END)
        .unwrap_or_else(|| panic!("{what}: no `{END}`"));
    text[start..start + end]
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn readme_docs_and_refvmm_run_the_same_loop() {
    let example = region(
        &read("dispatch/examples/kvm_run_loop.rs"),
        "the compiled example",
    );
    assert!(
        example.iter().any(|l| l.contains("runner.prepare(me)")),
        "the region is the loop"
    );
    assert_eq!(
        region(&read("refvmm/src/vcpu.rs"), "refvmm"),
        example,
        "refvmm/src/vcpu.rs runs another loop than the documented one"
    );
    assert_eq!(
        region(&read("README.md"), "README"),
        example,
        "README.md shows another loop than the compiled one"
    );
    let docs = read("dispatch/src/kvm/mod.rs");
    assert!(
        docs.contains(r#"#![doc = include_str!("../../examples/kvm_run_loop.rs")]"#),
        "the kvm module docs show (and run) the example"
    );
}
