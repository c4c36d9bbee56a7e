//! Trace files on disk: finding them and naming them.

use std::path::{Path, PathBuf};

/// The name a trace is reported under: its file stem.
pub fn trace_name(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Every `*.fwt` under `dir`, sorted, recursively.
pub fn find_traces(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(find_traces(&p)?);
        } else if p.extension().is_some_and(|e| e == "fwt") {
            out.push(p);
        }
    }
    Ok(out)
}
