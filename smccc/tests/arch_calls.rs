//! The Arm Architecture calls as a guest sees them, table-driven over
//! versions, workaround levels and SoC ID configurations. Expectations come
//! from DEN0028 and KVM's firmware-register encoding (see
//! `/work/shared/spec/smccc-pvtime-kvm.md` §2.1, §2.2 and the register
//! table), not from the code under test.

use fwcall_smccc::arch::{Workaround2Level, WorkaroundLevel};
use fwcall_smccc::{ArchService, Call, FunctionId, SmcccVersion, SocId, Workarounds, ids};

const ALL_VERSIONS: [SmcccVersion; 5] = SmcccVersion::SUPPORTED;

fn features(s: &ArchService, queried: FunctionId) -> Option<u64> {
    let c = Call::new(ids::SMCCC_ARCH_FEATURES, &[u64::from(queried.raw())]);
    // Another service answering 7 for anything it is asked about: any 7
    // below means the arch service delegated.
    s.answer(ids::SMCCC_ARCH_FEATURES, &c, |_| 7)
}

fn call(s: &ArchService, fid: FunctionId, args: &[u64]) -> Option<u64> {
    s.answer(fid, &Call::new(fid, args), |_| 7)
}

fn neg(v: i64) -> Option<u64> {
    Some(v as u64)
}

/// KVM's `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1`/`_3` levels: 0 NOT_AVAIL,
/// 1 AVAIL, 2 NOT_REQUIRED; nothing else.
#[test]
fn workaround_level_decodes_kvm_register_levels() {
    let table = [
        (0, Some(WorkaroundLevel::NotAvail)),
        (1, Some(WorkaroundLevel::Avail)),
        (2, Some(WorkaroundLevel::NotRequired)),
        (3, None),
        (4, None),
        (0x10, None),
        (u64::MAX, None),
    ];
    for (v, want) in table {
        assert_eq!(WorkaroundLevel::from_level(v), want, "level {v}");
    }
}

/// `KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2`: 0 NOT_AVAIL, 1 UNKNOWN, 2 AVAIL,
/// 3 NOT_REQUIRED; nothing else.
#[test]
fn workaround2_level_decodes_kvm_register_levels() {
    let table = [
        (0, Some(Workaround2Level::NotAvail)),
        (1, Some(Workaround2Level::Unknown)),
        (2, Some(Workaround2Level::Avail)),
        (3, Some(Workaround2Level::NotRequired)),
        (4, None),
        (0x10, None),
        (u64::MAX, None),
    ];
    for (v, want) in table {
        assert_eq!(Workaround2Level::from_level(v), want, "level {v}");
    }
}

fn with(w: Workarounds) -> ArchService {
    ArchService {
        version: SmcccVersion::V1_4,
        workarounds: w,
        ..Default::default()
    }
}

/// An offered workaround call answers SUCCESS; one ARCH_FEATURES denies
/// (-1) answers NOT_SUPPORTED; each workaround on its own (DEN0028 §2.1,
/// rule `SMCCC_ARCH_WORKAROUND/offered-no-op`).
#[test]
fn workaround_calls_follow_their_own_level() {
    use Workaround2Level as W2;
    use WorkaroundLevel as W;
    // (wa1, wa2, wa3) -> answers to WORKAROUND_1, _2, _3.
    let table = [
        ((W::NotAvail, W2::NotAvail, W::NotAvail), [None, None, None]),
        ((W::Avail, W2::NotAvail, W::NotAvail), [Some(0), None, None]),
        ((W::NotAvail, W2::Avail, W::NotAvail), [None, Some(0), None]),
        ((W::NotAvail, W2::NotAvail, W::Avail), [None, None, Some(0)]),
        ((W::NotAvail, W2::Unknown, W::NotAvail), [None, None, None]),
        // NOT_REQUIRED is still offered: the call is a harmless no-op.
        (
            (W::NotRequired, W2::NotRequired, W::NotRequired),
            [Some(0), Some(0), Some(0)],
        ),
    ];
    let fids = [
        ids::SMCCC_ARCH_WORKAROUND_1,
        ids::SMCCC_ARCH_WORKAROUND_2,
        ids::SMCCC_ARCH_WORKAROUND_3,
    ];
    for ((wa1, wa2, wa3), want) in table {
        let s = with(Workarounds { wa1, wa2, wa3 });
        for (fid, want) in fids.into_iter().zip(want) {
            assert_eq!(
                call(&s, fid, &[1]),
                want,
                "{fid} with {wa1:?} {wa2:?} {wa3:?}"
            );
            // serves() agrees with what the call does.
            assert_eq!(s.serves(fid), want.is_some(), "serves({fid})");
        }
    }
}

/// `serves` is true exactly for the arch calls the service answers at its
/// version and configuration (rule `SMCCC_ARCH_FEATURES/implemented-zero`
/// and `unimplemented-minus-one`).
#[test]
fn serves_exactly_the_calls_the_version_defines() {
    let soc = SocId::new(4, 0x3b, 0x1234, 7).unwrap();
    for v in ALL_VERSIONS {
        let arch = v >= SmcccVersion::V1_1;
        let wide = v >= SmcccVersion::V1_2;
        let s = ArchService {
            version: v,
            soc_id: Some(soc),
            workarounds: Workarounds {
                wa1: WorkaroundLevel::Avail,
                wa2: Workaround2Level::Avail,
                wa3: WorkaroundLevel::Avail,
            },
        };
        let table = [
            (ids::SMCCC_VERSION, arch),
            (ids::SMCCC_ARCH_FEATURES, arch),
            (ids::SMCCC_ARCH_SOC_ID, wide),
            (ids::SMCCC_ARCH_WORKAROUND_1, arch),
            (ids::SMCCC_ARCH_WORKAROUND_2, arch),
            (ids::SMCCC_ARCH_WORKAROUND_3, arch),
            (ids::SMCCC_ARCH_SOC_ID_64, false),
            (ids::SMCCC_ARCH_WORKAROUND_4, false),
            (ids::PV_TIME_FEATURES, false),
            (ids::SDEI_VERSION, false),
        ];
        for (fid, want) in table {
            assert_eq!(s.serves(fid), want, "SMCCC {v}: serves({fid})");
            assert_eq!(
                call(&s, fid, &[0]).is_some(),
                want,
                "SMCCC {v}: answer({fid})"
            );
        }
    }
}

/// ARCH_FEATURES(SOC_ID) is 0 only when SMCCC >= 1.2 *and* a SoC ID is
/// configured (rule `SMCCC_ARCH_FEATURES/soc-id-configured`); the call
/// itself follows the same condition.
#[test]
fn soc_id_configured_needs_version_1_2_and_a_soc_id() {
    let soc = SocId::new(4, 0x3b, 0x1234, 7).unwrap();
    for v in ALL_VERSIONS {
        for configured in [None, Some(soc)] {
            let s = ArchService {
                version: v,
                soc_id: configured,
                ..Default::default()
            };
            let served = v >= SmcccVersion::V1_2 && configured.is_some();
            let want = if v < SmcccVersion::V1_1 {
                None // no ARCH_FEATURES at all in 1.0
            } else if served {
                Some(0)
            } else {
                neg(-1)
            };
            assert_eq!(
                features(&s, ids::SMCCC_ARCH_SOC_ID),
                want,
                "SMCCC {v}, SoC ID {configured:?}"
            );
            assert_eq!(
                call(&s, ids::SMCCC_ARCH_SOC_ID, &[0]),
                served.then_some(0x043b_1234),
                "SMCCC {v}, SoC ID {configured:?}"
            );
        }
    }
}

/// Selector 0 is the version word, 1 the revision, anything else
/// INVALID_PARAMETER (-3); the selector is W1 (rules
/// `SMCCC_ARCH_SOC_ID/version-selector`, `revision-selector`,
/// `bad-selector-invalid`).
#[test]
fn soc_id_selectors() {
    let s = ArchService {
        version: SmcccVersion::V1_2,
        soc_id: Some(SocId::new(0x7f, 0x7f, 0xffff, 0x7fff_ffff).unwrap()),
        ..Default::default()
    };
    let table = [
        (0, Some(0x7f7f_ffff)),
        (1, Some(0x7fff_ffff)),
        (2, neg(-3)),
        (3, neg(-3)),
        (0xffff_ffff, neg(-3)),
        (0x1_0000_0000, Some(0x7f7f_ffff)),
        (0x1_0000_0001, Some(0x7fff_ffff)),
    ];
    for (sel, want) in table {
        assert_eq!(
            call(&s, ids::SMCCC_ARCH_SOC_ID, &[sel]),
            want,
            "selector {sel:#x}"
        );
    }
}

/// ARCH_FEATURES of a workaround reports KVM's answer for the level, and
/// only its own workaround's level (rule `SMCCC_ARCH_FEATURES/workaround-levels`).
#[test]
fn workaround_levels_reported_per_workaround() {
    let lv = [
        (WorkaroundLevel::NotAvail, neg(-1)),
        (WorkaroundLevel::Avail, Some(0)),
        (WorkaroundLevel::NotRequired, Some(1)),
    ];
    let lv2 = [
        (Workaround2Level::NotAvail, neg(-1)),
        (Workaround2Level::Unknown, neg(-1)),
        (Workaround2Level::Avail, Some(0)),
        (Workaround2Level::NotRequired, neg(-2)),
    ];
    for (wa1, f1) in lv {
        for (wa2, f2) in lv2 {
            for (wa3, f3) in lv {
                let s = with(Workarounds { wa1, wa2, wa3 });
                let got = [
                    features(&s, ids::SMCCC_ARCH_WORKAROUND_1),
                    features(&s, ids::SMCCC_ARCH_WORKAROUND_2),
                    features(&s, ids::SMCCC_ARCH_WORKAROUND_3),
                ];
                assert_eq!(got, [f1, f2, f3], "{wa1:?} {wa2:?} {wa3:?}");
            }
        }
    }
}

/// The argument registers an arch call reads: one (W1) for ARCH_FEATURES
/// and a served SOC_ID, none for the others or for anything unserved.
#[test]
fn argument_registers_of_served_arch_calls() {
    let soc = SocId::new(1, 2, 3, 4).unwrap();
    for v in ALL_VERSIONS {
        for configured in [None, Some(soc)] {
            let s = ArchService {
                version: v,
                soc_id: configured,
                workarounds: Workarounds {
                    wa1: WorkaroundLevel::Avail,
                    wa2: Workaround2Level::Avail,
                    wa3: WorkaroundLevel::Avail,
                },
            };
            let arch = v >= SmcccVersion::V1_1;
            let soc_served = v >= SmcccVersion::V1_2 && configured.is_some();
            let table = [
                (ids::SMCCC_VERSION, 0),
                (ids::SMCCC_ARCH_FEATURES, u8::from(arch)),
                (ids::SMCCC_ARCH_SOC_ID, u8::from(soc_served)),
                (ids::SMCCC_ARCH_WORKAROUND_1, 0),
                (ids::SMCCC_ARCH_WORKAROUND_3, 0),
                (ids::SDEI_EVENT_REGISTER, 0),
                (ids::PV_TIME_ST, 0),
            ];
            for (fid, want) in table {
                assert_eq!(
                    s.argument_registers(fid),
                    want,
                    "SMCCC {v}, SoC ID {configured:?}: {fid}"
                );
            }
        }
    }
}
