//! One test per rule (names follow `conformance-tests/rules.txt`, TRNG).

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, Ordering};

use fwcall_smccc::{Call, FunctionId, Reply, Uid, ids};

use crate::*;

/// All-ones entropy, so every bit the server keeps shows.
#[derive(Debug)]
struct Ones;
impl EntropySource for Ones {
    fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy> {
        out.fill(0xff);
        Ok(())
    }
}

/// Records how many bytes each request asked for.
#[derive(Debug, Default)]
struct Counting(AtomicU32);
impl EntropySource for Counting {
    fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy> {
        self.0.store(out.len() as u32, Ordering::Relaxed);
        out.fill(0xff);
        Ok(())
    }
}

fn trng(source: impl EntropySource + 'static) -> Trng {
    Trng::new(TrngConfig::default(), Box::new(source)).unwrap()
}

fn regs(t: &Trng, fid: FunctionId, args: &[u64]) -> (u8, [u64; 4]) {
    match t.call(&Call::new(fid, args)).reply {
        Reply::Return { regs, count } => (count, [regs[0], regs[1], regs[2], regs[3]]),
        other => panic!("{other:?}"),
    }
}

fn x0(t: &Trng, fid: FunctionId, args: &[u64]) -> i64 {
    let (count, r) = regs(t, fid, args);
    assert_eq!(count, 1, "an X0-only answer");
    r[0] as i64
}

#[test]
fn trng_version_reports_1_0() {
    assert_eq!(x0(&trng(Ones), ids::TRNG_VERSION, &[]), 0x1_0000);
}

#[test]
fn trng_features_implemented_zero() {
    let t = trng(Ones);
    for f in [
        ids::TRNG_VERSION,
        ids::TRNG_FEATURES,
        ids::TRNG_GET_UUID,
        ids::TRNG_RND32,
        ids::TRNG_RND64,
    ] {
        assert_eq!(x0(&t, ids::TRNG_FEATURES, &[f.raw() as u64]), 0, "{f:?}");
    }
}

#[test]
fn trng_features_others_not_supported() {
    let t = trng(Ones);
    for f in [
        0xC400_0050u64,
        0xC400_0051,
        0xC400_0052,
        0x8400_0054,
        0x8400_0000,
        0xC400_0020,
        0,
    ] {
        assert_eq!(x0(&t, ids::TRNG_FEATURES, &[f]), NOT_SUPPORTED, "{f:#x}");
    }
}

#[test]
fn trng_features_w1_only() {
    let t = trng(Ones);
    assert_eq!(
        x0(
            &t,
            ids::TRNG_FEATURES,
            &[0xdead_beef_0000_0000 | 0xC400_0053]
        ),
        0
    );
}

#[test]
fn trng_smc64_aliases_not_supported() {
    let t = trng(Ones);
    for f in [0xC400_0050u32, 0xC400_0051, 0xC400_0052] {
        assert_eq!(x0(&t, FunctionId(f), &[64]), NOT_SUPPORTED);
    }
}

#[test]
fn get_uuid_words() {
    // KVM's UUID, as a worked example of the packing (digest §9.3).
    let kvm = Uid([
        0x0d, 0x21, 0xe0, 0x00, 0x43, 0x84, 0x11, 0xeb, 0x80, 0x70, 0x52, 0x44, 0x55, 0x4e, 0x5a,
        0x4c,
    ]);
    let t = Trng::new(TrngConfig { uuid: kvm }, Box::new(Ones)).unwrap();
    assert_eq!(
        regs(&t, ids::TRNG_GET_UUID, &[]),
        (4, [0x00e0_210d, 0xeb11_8443, 0x4452_7080, 0x4c5a_4e55])
    );
}

#[test]
fn get_uuid_w0_non_negative() {
    let (_, r) = regs(&trng(Ones), ids::TRNG_GET_UUID, &[]);
    assert!((r[0] as u32 as i32) >= 0);
    assert!(r.iter().all(|w| *w <= u32::MAX as u64));
    let bad = Uid([0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(Trng::new(TrngConfig { uuid: bad }, Box::new(Ones)).is_err());
}

#[test]
fn rnd32_layout() {
    let t = trng(Ones);
    assert_eq!(
        regs(&t, ids::TRNG_RND32, &[96]),
        (4, [0, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff])
    );
    assert_eq!(regs(&t, ids::TRNG_RND32, &[1]), (4, [0, 0, 0, 1]));
    assert_eq!(
        regs(&t, ids::TRNG_RND32, &[33]),
        (4, [0, 0, 1, 0xffff_ffff])
    );
    assert_eq!(
        regs(&t, ids::TRNG_RND32, &[70]),
        (4, [0, 0x3f, 0xffff_ffff, 0xffff_ffff])
    );
}

#[test]
fn rnd32_n_zero_invalid() {
    assert_eq!(x0(&trng(Ones), ids::TRNG_RND32, &[0]), INVALID_PARAMETERS);
}

#[test]
fn rnd32_n_too_large_invalid() {
    assert_eq!(x0(&trng(Ones), ids::TRNG_RND32, &[97]), INVALID_PARAMETERS);
}

#[test]
fn rnd64_layout() {
    let t = trng(Ones);
    let all = u64::MAX;
    assert_eq!(regs(&t, ids::TRNG_RND64, &[192]), (4, [0, all, all, all]));
    assert_eq!(regs(&t, ids::TRNG_RND64, &[64]), (4, [0, 0, 0, all]));
    assert_eq!(regs(&t, ids::TRNG_RND64, &[65]), (4, [0, 0, 1, all]));
    assert_eq!(regs(&t, ids::TRNG_RND64, &[136]), (4, [0, 0xff, all, all]));
    assert_eq!(regs(&t, ids::TRNG_RND64, &[3]), (4, [0, 0, 0, 7]));
}

#[test]
fn rnd64_byte_order() {
    // The first bytes of the stream are the lowest bits (X3's low byte).
    #[derive(Debug)]
    struct Counter;
    impl EntropySource for Counter {
        fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy> {
            for (i, b) in out.iter_mut().enumerate() {
                *b = i as u8;
            }
            Ok(())
        }
    }
    let (_, r) = regs(&trng(Counter), ids::TRNG_RND64, &[192]);
    assert_eq!(r[3], 0x0706_0504_0302_0100);
    assert_eq!(r[2], 0x0f0e_0d0c_0b0a_0908);
    assert_eq!(r[1], 0x1716_1514_1312_1110);
}

#[test]
fn rnd64_n_zero_invalid() {
    assert_eq!(x0(&trng(Ones), ids::TRNG_RND64, &[0]), INVALID_PARAMETERS);
}

#[test]
fn rnd64_n_above_192_invalid() {
    assert_eq!(x0(&trng(Ones), ids::TRNG_RND64, &[193]), INVALID_PARAMETERS);
}

#[test]
fn rnd64_n_upper_bits_ignored() {
    let t = trng(Ones);
    assert_eq!(
        regs(&t, ids::TRNG_RND64, &[1 << 32 | 8]),
        (4, [0, 0, 0, 0xff])
    );
    // 2^32 reads as N = 0.
    assert_eq!(x0(&t, ids::TRNG_RND64, &[1 << 32]), INVALID_PARAMETERS);
}

#[test]
fn rnd_asks_only_needed_bytes() {
    let c = std::sync::Arc::new(Counting::default());
    let t = Trng::new(TrngConfig::default(), Box::new(c.clone())).unwrap();
    for (n, bytes) in [(1, 1), (8, 1), (9, 2), (64, 8), (72, 9), (192, 24)] {
        regs(&t, ids::TRNG_RND64, &[n]);
        assert_eq!(c.0.load(Ordering::Relaxed), bytes, "N = {n}");
    }
}

#[test]
fn rnd_no_entropy() {
    let t = trng(NoSource);
    assert_eq!(x0(&t, ids::TRNG_RND64, &[64]), NO_ENTROPY);
    assert_eq!(x0(&t, ids::TRNG_RND32, &[32]), NO_ENTROPY);
    // Nothing else needs entropy.
    assert_eq!(x0(&t, ids::TRNG_VERSION, &[]), 0x1_0000);
}

#[test]
fn deterministic_source_repeats_across_instances() {
    let a = trng(DeterministicSource::new(9));
    let b = trng(DeterministicSource::new(9));
    for n in [64u64, 192, 13] {
        assert_eq!(
            regs(&a, ids::TRNG_RND64, &[n]),
            regs(&b, ids::TRNG_RND64, &[n])
        );
    }
    let c = trng(DeterministicSource::new(10));
    assert_ne!(
        regs(&a, ids::TRNG_RND64, &[192]),
        regs(&c, ids::TRNG_RND64, &[192])
    );
}

#[test]
fn os_entropy_fills() {
    let t = trng(OsEntropy);
    let (count, r) = regs(&t, ids::TRNG_RND64, &[192]);
    assert_eq!((count, r[0]), (4, 0));
    // 192 random bits all zero: odds 2^-192.
    assert!(r[1] | r[2] | r[3] != 0);
}

proptest::proptest! {
    /// For any N and any entropy, no bit at or above N is set, and RND32
    /// leaves the upper halves zero.
    #[test]
    fn no_bit_above_n(n in 0u64..300, smc64: bool, seed: u64) {
        let t = trng(DeterministicSource::new(seed));
        let (fid, max, width) = if smc64 { (ids::TRNG_RND64, 192, 64) } else { (ids::TRNG_RND32, 96, 32) };
        let out = t.call(&Call::new(fid, &[n])).reply;
        if n == 0 || n > max {
            proptest::prop_assert_eq!(out, Reply::signed(INVALID_PARAMETERS));
        } else {
            let Reply::Return { regs, count: 4 } = out else { panic!("{out:?}") };
            proptest::prop_assert_eq!(regs[0], 0);
            for (k, r) in [3usize, 2, 1].into_iter().enumerate() {
                let lo = k as u64 * width;
                let keep = n.saturating_sub(lo).min(width);
                let mask = if keep >= 64 { u64::MAX } else { (1u64 << keep) - 1 };
                proptest::prop_assert_eq!(regs[r] & !mask, 0);
            }
        }
    }
}

#[test]
fn register_budget_reads_only_its_arguments_and_writes_at_most_its_results() {
    for b in REGISTER_USE {
        for n in [0u64, 1, 64, 96, 191, 192, 193, 1 << 32 | 8] {
            let src = || trng(crate::DeterministicSource::new(3));
            let (p, q) = (src(), src());
            let mut all = Call::new(b.fid, &[n]);
            for (i, x) in all.x.iter_mut().enumerate().skip(2) {
                *x = 0x5a00 + i as u64;
            }
            let mut only = all;
            for r in only.x.iter_mut().skip(1 + usize::from(b.args)) {
                *r = 0x1111;
            }
            let (a, o) = (p.call(&all), q.call(&only));
            assert_eq!(a, o, "{:?} with {} arguments", b.fid, b.args);
            match a.reply {
                Reply::Return { count, regs } => {
                    let ok = (regs[0] as i64) >= 0;
                    let expected = if ok { b.writes } else { 1 };
                    assert_eq!(count, expected, "{:?}, N = {n}", b.fid);
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
