//! The replay entropy source is SplitMix64 (checked against the reference
//! outputs of Vigna's `splitmix64.c` for seed 0), and a TRNG server keeps
//! the configuration it was given and draws from the source it was last
//! given.

use fwcall_smccc::{Call, Reply, Uid, ids};
use fwcall_trng::{DeterministicSource, EntropySource, NoEntropy, Trng, TrngConfig};

/// `splitmix64.c` from state 0: its first three outputs.
const SPLITMIX64_SEED0: [u64; 3] = [
    0xe220_a839_7b1d_cdaf,
    0x6e78_9e6a_a1b9_65f4,
    0x06c4_5d18_8009_454f,
];

#[test]
fn deterministic_source_is_splitmix64() {
    let s = DeterministicSource::new(0);
    let mut out = [0u8; 24];
    s.fill(&mut out).unwrap();
    for (i, want) in SPLITMIX64_SEED0.iter().enumerate() {
        let got = u64::from_le_bytes(out[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(got, *want, "word {i}");
    }
}

/// A source that fills with one byte value.
#[derive(Debug)]
struct Constant(u8);

impl EntropySource for Constant {
    fn fill(&self, out: &mut [u8]) -> Result<(), NoEntropy> {
        out.fill(self.0);
        Ok(())
    }
}

fn rnd64(t: &Trng) -> u64 {
    match t.call(&Call::new(ids::TRNG_RND64, &[64])).reply {
        Reply::Return { regs, .. } => {
            assert_eq!(regs[0], 0, "RND64 succeeded");
            regs[3] // the lowest 64 bits are in X3 (DEN0098 §2.6)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn trng_keeps_its_config_and_uses_the_latest_source() {
    let config = TrngConfig {
        uuid: Uid([0x11; 16]),
    };
    let mut t = Trng::new(config, Box::new(Constant(0xab))).unwrap();
    assert_eq!(*t.config(), config);
    assert_eq!(rnd64(&t), 0xabab_abab_abab_abab);
    t.set_source(Box::new(Constant(0x5c)));
    assert_eq!(rnd64(&t), 0x5c5c_5c5c_5c5c_5c5c);
}
