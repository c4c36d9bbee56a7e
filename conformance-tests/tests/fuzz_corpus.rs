//! The fuzz targets' bodies over their committed corpora (`fuzz/corpus/`),
//! plus a short deterministic random run, so every `cargo test` exercises
//! them and the model/server agreement without cargo-fuzz.

use std::path::{Path, PathBuf};

use fwcall_conformance::fuzz;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn run_corpus(target: &str, body: fn(&[u8])) {
    let inputs = corpus(target);
    assert!(!inputs.is_empty(), "fuzz/corpus/{target} has no seeds");
    for (path, bytes) in inputs {
        let r = std::panic::catch_unwind(|| body(&bytes));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("{}: {}", path.display(), msg.unwrap_or_default());
        }
    }
}

/// A fixed-seed xorshift generator: the same bytes on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.next() as usize) % max;
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn decode_corpus() {
    run_corpus("decode", fuzz::decode);
}

#[test]
fn vm_sequence_corpus() {
    run_corpus("vm_sequence", fuzz::vm_sequence);
}

#[test]
fn differential_corpus() {
    run_corpus("differential", fuzz::differential);
}

#[test]
fn restore_corpus() {
    run_corpus("restore", fuzz::restore);
}

#[test]
fn fwtrace_corpus() {
    run_corpus("fwtrace", fuzz::fwtrace);
}

#[test]
fn model_and_server_agree_on_2000_random_sequences() {
    let mut rng = Rng(0x5eed_f00d_cafe_d00d);
    for i in 0..2000 {
        let data = rng.bytes(600);
        let r = std::panic::catch_unwind(|| fuzz::differential(&data));
        if r.is_err() {
            panic!(
                "random sequence {i} ({} bytes: {data:02x?}) found a difference",
                data.len()
            );
        }
    }
}

#[test]
fn random_sequences_keep_the_invariants() {
    let mut rng = Rng(0x0dd_ba11);
    for _ in 0..500 {
        fuzz::vm_sequence(&rng.bytes(600));
    }
}

#[test]
fn random_calls_decode_and_round_trip() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        fuzz::decode(&rng.bytes(200));
    }
}

/// Regenerates `fuzz/corpus/*` from the conformance traces and sample
/// snapshots: `cargo test -p fwcall-conformance --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes the seed corpora; run by hand after the traces change"]
fn write_seed_corpora() {
    use fwcall_conformance::fuzz::{encode, machine::Machine};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("../fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let mut traces: Vec<PathBuf> = Vec::new();
    for suite in ["sdei", "pvtime", "smccc", "snapshot", "psci", "trng"] {
        if let Ok(rd) = std::fs::read_dir(root.join("traces").join(suite)) {
            traces.extend(
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "fwt")),
            );
        }
    }
    traces.sort();
    let mut calls = std::collections::BTreeSet::new();
    for path in &traces {
        let name = format!(
            "{}-{}",
            path.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy(),
            path.file_stem().unwrap().to_string_lossy()
        );
        let text = std::fs::read(path).unwrap();
        write("fwtrace", &name, &text);
        let Ok(trace) = fwcall_conformance::parse_trace(&name, &text) else {
            continue;
        };
        let seq = encode::from_trace(&trace);
        let bytes = encode::to_bytes(&seq);
        write("vm_sequence", &name, &bytes);
        write("differential", &name, &bytes);
        for s in &seq.steps {
            if let fuzz::Step::Call {
                vcpu,
                func,
                args,
                smc,
            } = s
            {
                let mut raw = Vec::new();
                raw.extend_from_slice(&u64::from(func.id()).to_le_bytes());
                for a in args {
                    raw.extend_from_slice(&a.value(&seq.setup).to_le_bytes());
                }
                raw.extend_from_slice(&[0; 12 * 8]);
                raw.extend_from_slice(&[u8::from(*smc), *vcpu]);
                calls.insert(raw);
            }
        }
        // A snapshot of the state the trace leaves behind.
        let r = std::panic::catch_unwind(|| {
            let mut m = Machine::new(seq.setup);
            let _ = &mut m;
            let mut runner = fuzz::run::Runner::new(&seq, false);
            for s in &seq.steps {
                runner.apply(s);
            }
            runner.m.vm.snapshot().unwrap()
        });
        if let Ok(blob) = r {
            let mut input = encode::to_bytes(&fuzz::Sequence {
                setup: seq.setup,
                steps: vec![],
            });
            input.push(0);
            input.extend_from_slice(&blob);
            write("restore", &name, &input);
        }
    }
    for (i, c) in calls.iter().enumerate().take(200) {
        write("decode", &format!("call-{i:03}"), c);
    }
    if let Ok(rd) = std::fs::read_dir(root.join("snapshots/v1")) {
        for p in rd.filter_map(|e| e.ok().map(|e| e.path())) {
            let mut input = vec![1, 0, 1, 0, 0, 0, 2];
            input.extend_from_slice(&std::fs::read(&p).unwrap());
            write(
                "restore",
                &format!("sample-{}", p.file_stem().unwrap().to_string_lossy()),
                &input,
            );
        }
    }
}

/// Replays one input by hand: `FUZZ_TARGET=differential FUZZ_INPUT=path
/// cargo test -p fwcall-conformance --test fuzz_corpus -- --ignored replay_one --nocapture`.
#[test]
#[ignore = "debugging aid for a crashing input"]
fn replay_one() {
    let (Ok(target), Ok(path)) = (std::env::var("FUZZ_TARGET"), std::env::var("FUZZ_INPUT")) else {
        return;
    };
    let data = std::fs::read(path).unwrap();
    if matches!(target.as_str(), "vm_sequence" | "differential") {
        let seq = fuzz::Sequence::from_bytes(&data);
        eprintln!("{:?}", seq.setup);
        for (i, s) in seq.steps.iter().enumerate() {
            eprintln!("step {}: {s:x?}", i + 1);
        }
    }
    match target.as_str() {
        "decode" => fuzz::decode(&data),
        "vm_sequence" => fuzz::vm_sequence(&data),
        "differential" => fuzz::differential(&data),
        "restore" => fuzz::restore(&data),
        _ => fuzz::fwtrace(&data),
    }
}

/// What a corpus exercises: `FUZZ_DIR=dir cargo test -p fwcall-conformance
/// --test fuzz_corpus -- --ignored corpus_coverage --nocapture` prints
/// calls by result and deliveries by depth over every input in `dir`.
#[test]
#[ignore = "reporting aid"]
fn corpus_coverage() {
    let Ok(dir) = std::env::var("FUZZ_DIR") else {
        return;
    };
    let mut total = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let Ok(data) = std::fs::read(e.path()) else {
            continue;
        };
        let seq = fuzz::Sequence::from_bytes(&data);
        let mut r = fuzz::run::Runner::new(&seq, true);
        r.coverage = Some(Default::default());
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.run_all(&seq))).is_ok() {
            for (k, v) in r.coverage.take().unwrap_or_default() {
                *total.entry(k).or_insert(0u64) += v;
            }
        }
    }
    for (k, v) in total {
        println!("{v:>8}  {k}");
    }
}
