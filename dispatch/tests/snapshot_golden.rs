//! Every snapshot format version that ever shipped stays restorable.
//!
//! `conformance-tests/snapshots/vN/*.snap` were written by format version N
//! (by replaying `conformance-tests/traces/snapshot/*.fwt` with
//! `fwcall replay --save-snapshots`). Each must still inspect, restore into
//! a VM serving its ABI, and survive a second round trip with the same
//! contents, so a format change that breaks old snapshots fails here.

use std::path::{Path, PathBuf};

use fwcall::Vm;
use fwcall::pvtime::AtomicMemory;
use fwcall::snapshot::{FORMAT_VERSION, inspect};

fn golden_files() -> Vec<(u32, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance-tests/snapshots");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let dir = dir.unwrap().path();
        let Some(version) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix('v'))
        else {
            continue;
        };
        let version: u32 = version
            .parse()
            .unwrap_or_else(|_| panic!("{}: not vN", dir.display()));
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "snap") {
                out.push((version, f));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_committed_golden_snapshot_restores() {
    let files = golden_files();
    assert!(
        files.iter().any(|(v, _)| *v == 1),
        "format version 1 must have golden files"
    );
    for version in 1..=FORMAT_VERSION {
        assert!(
            files.iter().any(|(v, _)| *v == version),
            "format version {version} has no golden files"
        );
    }
    for (version, path) in &files {
        let name = path.display();
        let blob = std::fs::read(path).unwrap();
        let summary = inspect(&blob).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(summary.format_version, *version, "{name}");
        let config = summary.contents.config();
        let vm = Vm::restore(config.clone(), AtomicMemory::new(&config.reserved), &blob)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        vm.start().unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = vm.snapshot().unwrap();
        let resummary = inspect(&again).unwrap_or_else(|e| panic!("{name} re-snapshot: {e}"));
        let (mut old, new) = (summary.contents, resummary.contents);
        // start() published LPT for this run: the sequence moved by 2.
        if let (Some(o), Some(n)) = (old.pvtime.lpt.as_mut(), new.pvtime.lpt.as_ref()) {
            assert_eq!(n.sequence, o.sequence + 2, "{name}");
            o.sequence = n.sequence;
        }
        assert_eq!(old, new, "{name}: contents changed across a round trip");
    }
}
