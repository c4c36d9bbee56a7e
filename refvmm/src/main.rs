//! `fwcall-refvmm`: boot an arm64 Linux guest on KVM with fwcall serving
//! SDEI and PV time. See `--help`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", refvmm::cli::USAGE);
        return;
    }
    let options = match refvmm::cli::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fwcall-refvmm: {e}");
            std::process::exit(2);
        }
    };
    run(options);
}

#[cfg(target_arch = "aarch64")]
fn run(options: refvmm::cli::Options) {
    match refvmm::vmm::run(&options) {
        Ok(report) => println!("{report}"),
        // One line naming what this destination lacks; 3 tells a script
        // "try another destination", the image being untouched.
        Err(refvmm::vmm::RunError::Refused(r)) => {
            eprintln!("fwcall-refvmm: {r}");
            std::process::exit(3);
        }
        Err(e) => {
            eprintln!("fwcall-refvmm: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(target_arch = "aarch64"))]
fn run(_options: refvmm::cli::Options) {
    eprintln!(
        "fwcall-refvmm: KVM/arm64 is needed; build it for aarch64-unknown-linux-gnu (refvmm/build-aarch64.sh)"
    );
    std::process::exit(2);
}
