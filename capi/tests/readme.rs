//! The exit handler the READMEs show is the one CI compiles and runs
//! (`examples/exit_handler.c`, between its "readme" markers): this test
//! keeps the copies identical.

use std::path::Path;

fn example() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(dir.join("examples/exit_handler.c")).expect("example");
    let begin = "/* readme: begin */\n";
    let start = src.find(begin).expect("begin marker") + begin.len();
    let end = src.find("/* readme: end */").expect("end marker");
    src[start..end].to_string()
}

#[test]
fn readmes_show_the_compiled_exit_handler() {
    let block = format!("```c\n{}```\n", example());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for readme in ["README.md", "../README.md"] {
        let text = std::fs::read_to_string(dir.join(readme)).expect("README");
        assert!(
            text.contains(&block),
            "{readme} does not show capi/examples/exit_handler.c verbatim: copy the part between its readme markers"
        );
    }
}
