//! The bodies of the cargo-fuzz targets in `fuzz/`, as plain functions so
//! `cargo test` can run them over the committed corpora without
//! cargo-fuzz. Each takes libFuzzer's bytes and panics on a finding.
//!
//! * [`decode`]: any 18 registers, conduit and vCPU: decoding never
//!   panics, encode∘decode is a fixed point, the server answers.
//! * [`vm_sequence`]: a [`Sequence`] of steps on a small multi-vCPU VM,
//!   with invariants checked after every step.
//! * [`differential`]: the same, against the reference [`crate::model`].
//! * [`restore`]: arbitrary and mutated snapshot blobs.
//! * [`fwtrace`]: the trace parser and replayer.
//!
//! ```
//! use fwcall_conformance::fuzz;
//! fuzz::decode(&[0x20, 0, 0, 0xc4, 1, 2, 3]);
//! fuzz::vm_sequence(b"any bytes at all");
//! fuzz::differential(b"any bytes at all");
//! fuzz::restore(b"FWCALLSN");
//! fuzz::fwtrace(b"vm vcpus=1\ncall 0 0xc4000020 -> _\n");
//! ```

pub mod decoded;
pub mod encode;
pub mod machine;
pub mod ops;
pub mod run;

use arbitrary::{Arbitrary, Unstructured};
use fwcall::smccc::Owner;
use fwcall::{Call, Conduit, FunctionId, SmcccVersion, VcpuIndex, Vm, VmConfig};

pub use decoded::Decoded;
pub use ops::{Sequence, Setup, Step};
use run::Runner;

/// Inputs longer than this are cut: bigger ones only slow the fuzzer.
pub const MAX_INPUT: usize = 64 * 1024;

/// The `decode` target's input.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct RawCall {
    /// `X0..X17`.
    pub x: [u64; 18],
    /// SMC rather than HVC.
    pub smc: bool,
    /// The calling vCPU (modulo 4).
    pub vcpu: u8,
}

/// Decoding never panics and round-trips; the server answers every call.
pub fn decode(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(raw) = RawCall::arbitrary(&mut u) else {
        return;
    };
    let call = Call {
        x: raw.x,
        conduit: if raw.smc { Conduit::Smc } else { Conduit::Hvc },
    };

    // FunctionId fields: the parts rebuild the ID.
    let fid = call.fid();
    let owner = fid.owner();
    assert_eq!(
        Owner::from_oen(owner.oen()),
        owner,
        "OEN round trip of {fid:?}"
    );
    let rebuilt = FunctionId::fast(fid.convention(), owner, fid.number());
    let kept = FunctionId::FAST_BIT
        | FunctionId::SMC64_BIT
        | (FunctionId::OEN_MASK << FunctionId::OEN_SHIFT)
        | 0xffff;
    if fid.raw() & FunctionId::FAST_BIT != 0 {
        assert_eq!(
            rebuilt.raw(),
            fid.raw() & kept,
            "fast() rebuilds {fid:?} from its fields"
        );
    }
    assert_eq!(fid.alias().alias(), fid);
    let _ = fid.is_well_formed(SmcccVersion::HIGHEST);

    // Typed decode: encode(decode(x)) decodes to the same thing.
    let d = Decoded::decode(&call);
    let again = Decoded::decode(&d.encode());
    assert_eq!(again, d, "decode(encode(decode({:#x?})))", call.x);

    // The verbose decoder and the server never panic on it.
    let _ = crate::decode::call(&call);
    let vcpus = 4;
    let Ok(vm) = Vm::new(VmConfig::new(vcpus), fwcall::NoMemory) else {
        panic!("default VM")
    };
    if let Ok(v) = vm.vcpu(VcpuIndex(u32::from(raw.vcpu) % vcpus)) {
        let out = v.handle(&call);
        let _ = crate::decode::reply(&call, &out.reply);
    }
}

/// Runs a sequence with the invariants of [`run::Runner::check_state`].
pub fn vm_sequence(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    Runner::run(&Sequence::from_bytes(data), false);
}

/// Runs a sequence against the server and the reference model together.
pub fn differential(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    Runner::run(&Sequence::from_bytes(data), true);
}

/// Restore of arbitrary bytes never panics; what is accepted is a valid
/// state: it inspects cleanly, snapshots to a blob that restores to the
/// same bytes, and serves calls and deliveries.
///
/// Input: a [`Setup`] (the destination VM), a mode byte, then the blob.
/// Mode bit 0 rewrites the length field and bit 1 the checksum, so
/// mutations of a valid blob get past the header checks.
pub fn restore(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    let mut u = Unstructured::new(data);
    let setup = Setup::arbitrary(&mut u).unwrap_or_default();
    let mode = u8::arbitrary(&mut u).unwrap_or(0);
    let mut blob = u.take_rest().to_vec();
    if mode & 1 != 0 && blob.len() >= 24 {
        let len = blob.len() as u64;
        blob[16..24].copy_from_slice(&len.to_le_bytes());
    }
    if mode & 2 != 0 {
        fwcall::snapshot::format::reseal(&mut blob);
    }
    let _ = fwcall::snapshot::inspect(&blob);
    // fwcall may write its reserved region (the snapshot decides the
    // placement inside it), never RAM.
    let reserved = (ops::RESERVED.base.0, ops::RESERVED.size);
    let mem = std::sync::Arc::new(machine::WatchedMemory::new(vec![reserved]));
    let Ok(vm) = Vm::restore(setup.vm_config(), mem.clone(), &blob) else {
        return;
    };
    if let Err(e) = fwcall::snapshot::inspect(&blob) {
        panic!("restore accepted a blob that inspect refuses: {e}");
    }
    let again = match vm.snapshot() {
        Ok(b) => b,
        Err(e) => panic!("snapshot of an accepted restore failed: {e}"),
    };
    match Vm::restore(setup.vm_config(), mem.clone(), &again) {
        Ok(vm2) => match vm2.snapshot() {
            Ok(b) if b == again => {}
            Ok(_) => panic!("restore of a re-saved blob is not a fixed point"),
            Err(e) => panic!("snapshot failed: {e}"),
        },
        Err(e) => panic!("a blob fwcall wrote itself is refused: {e}"),
    }
    let _ = vm.start();
    // A guest that had SDEI switched off keeps it off: nothing to serve.
    let sdei_on = vm.features().std.contains(fwcall::StdFeatures::SDEI);
    if vm.sdei().is_none() || !sdei_on {
        return;
    }
    // Serve the restored state: the invariants must hold from here on.
    let mut m = machine::Machine::new(setup);
    m.regs = vec![machine::Regs::default(); vm.vcpu_count()];
    m.mem = mem;
    m.vm = vm;
    let seq = Sequence {
        setup,
        steps: Vec::new(),
    };
    let mut r = Runner::new(&seq, false);
    r.m = m;
    r.adopt_saved_contexts();
    r.check_state();
    r.resume_all();
    for v in 0..r.m.vcpus() as u8 {
        r.apply(&Step::Call {
            vcpu: v,
            func: ops::Func::Sdei(0x0c),
            args: [ops::Arg::Zero; 5],
            smc: false,
        });
        r.apply(&Step::Call {
            vcpu: v,
            func: ops::Func::Sdei(0x05),
            args: [ops::Arg::Zero; 5],
            smc: false,
        });
    }
    r.drain();
}

/// The trace parser and replayer never panic, whatever the bytes.
pub fn fwtrace(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    let _ = crate::parse_trace("fuzz.fwt", data);
    let report = crate::replay::<crate::target_fwcall::FwcallTarget>(
        "fuzz.fwt",
        data,
        crate::RunOptions::default(),
    );
    let _ = report.verdict.exit_code();
}
