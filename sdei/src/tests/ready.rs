//! `ReadySet` against a `BTreeSet` model in VMs larger than one word (64
//! vCPUs): single-threaded, the set must be exact (the superset slack is
//! only for concurrent adders), and `find` must visit members in
//! ascending order.

use std::collections::BTreeSet;
use std::vec::Vec;

use proptest::prelude::*;

use crate::ready::ReadySet;

/// Checks `set` against `model` for every index below `n`, and the order
/// in which `find` visits it.
fn check(set: &ReadySet, model: &BTreeSet<u32>, n: u32) {
    for v in 0..n {
        assert_eq!(set.contains(v), model.contains(&v), "member {v}");
    }
    let mut seen = Vec::new();
    let none = set.find(|v| {
        seen.push(v);
        false
    });
    assert_eq!(none, None);
    assert_eq!(seen, model.iter().copied().collect::<Vec<_>>());
    assert_eq!(set.find(|_| true), model.first().copied());
}

#[test]
fn removals_clear_exactly_their_own_member() {
    // (vCPU count, members, removed): each removed index shares a word
    // with members that must stay, including bit `v / 64` of that word.
    let cases: &[(u32, &[u32], &[u32])] = &[
        (130, &[0, 1, 5, 64, 65, 129], &[5]),
        (130, &[0, 1, 2, 64, 65, 66, 128, 129], &[65, 129]),
        (200, &[1, 63, 64, 66, 127, 130, 199], &[130, 66, 63]),
        (
            4096,
            &[0, 1, 63, 64, 2047, 4032, 4033, 4095],
            &[4095, 2047, 64],
        ),
        (4096, &[62, 63, 4094, 4095], &[62, 4094, 63, 4095]),
    ];
    for &(n, members, removed) in cases {
        let set = ReadySet::new(n as usize);
        let mut model = BTreeSet::new();
        for &v in members {
            set.insert(v);
            model.insert(v);
        }
        check(&set, &model, n);
        for &v in removed {
            set.remove(v);
            model.remove(&v);
            check(&set, &model, n);
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Insert(u32),
    Remove(u32),
}

fn op(n: u32) -> impl Strategy<Value = Op> {
    prop_oneof![(0..n).prop_map(Op::Insert), (0..n).prop_map(Op::Remove)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ready_set_matches_a_btreeset(
        (n, ops) in (65u32..=4096).prop_flat_map(|n| (Just(n), proptest::collection::vec(op(n), 1..200)))
    ) {
        let set = ReadySet::new(n as usize);
        let mut model = BTreeSet::new();
        for o in ops {
            match o {
                Op::Insert(v) => {
                    set.insert(v);
                    model.insert(v);
                }
                Op::Remove(v) => {
                    set.remove(v);
                    model.remove(&v);
                }
            }
            for &v in model.iter() {
                prop_assert!(set.contains(v), "lost member {}", v);
            }
            prop_assert_eq!(set.find(|_| true), model.first().copied());
        }
        check(&set, &model, n);
    }
}
