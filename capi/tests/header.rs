//! `include/fwcall.h` is generated from this crate's source by cbindgen and
//! committed, so C users get it with the repository. This test regenerates
//! it and fails when the committed header differs; `FWCALL_BLESS=1` writes
//! the new one instead.

use std::path::Path;

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let builder = cbindgen::Builder::new().with_config(config);
    // The crate root; cbindgen follows its `mod` items. Reading the source
    // directly needs no `cargo metadata` (so no lock or network).
    let builder = builder.with_src(dir.join("src/lib.rs"));
    let mut out = Vec::new();
    builder
        .generate()
        .expect("cbindgen could not read capi/src")
        .write(&mut out);
    String::from_utf8(out).expect("cbindgen writes UTF-8")
}

#[test]
fn committed_header_is_current() {
    let header = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/fwcall.h");
    let fresh = generate();
    if std::env::var_os("FWCALL_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&header, &fresh).expect("writing include/fwcall.h");
        return;
    }
    let committed = std::fs::read_to_string(&header).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/fwcall.h is stale: the C ABI in capi/src changed. Regenerate it with\n  \
         FWCALL_BLESS=1 cargo test -p fwcall-capi --test header\nand commit the result."
    );
}

#[test]
fn header_declares_every_exported_function() {
    // An export cbindgen failed to see (a new attribute form, a macro)
    // would silently vanish from the header: compare with the source.
    let fresh = generate();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut exported = 0;
    for entry in std::fs::read_dir(dir).expect("src/") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("source");
        for line in text.lines() {
            let Some(rest) = line.split("extern \"C\" fn ").nth(1) else {
                continue;
            };
            if !line.trim_start().starts_with("pub ") {
                continue;
            }
            let name = rest.split('(').next().expect("a name");
            exported += 1;
            assert!(
                fresh.contains(&format!("{name}(")),
                "{name} is exported but missing from the generated header"
            );
        }
    }
    assert!(exported >= 30, "only {exported} exported functions found");
}
