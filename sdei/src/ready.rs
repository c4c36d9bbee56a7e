//! Candidate sets for `RM_ANY` routing: which vCPUs may be able to take a
//! shared event now, as a two-level bitmap.
//!
//! A set is a *superset* of the vCPUs it describes, kept without locks:
//! a vCPU adds itself when it becomes able (`PE_UNMASK`, the completion
//! that leaves it idle enough) and never removes itself; the router,
//! which holds the shared lock, checks each candidate against the vCPU's
//! own atomics and removes the ones it finds unable. So the hot calls
//! (`PE_MASK`, `PE_UNMASK`, handler entry) write no VM-wide cache line in
//! steady state: re-adding a vCPU whose bit is still set is one load.
//!
//! The second level (one bit per word of the first) lets the router find
//! the lowest candidate without reading every word: with the 4096-vCPU
//! limit the summary is one word, so a lookup is two loads and a removal
//! at most two read-modify-writes, whatever the VM's size. Each candidate
//! the router skips is removed, and was added by one enabling call, so the
//! routing work is bounded by the enabling calls, never by a scan of vCPUs.
//!
//! The races between adding and removing are closed Dekker-style (every
//! access `SeqCst`): the remover clears the bit and then re-reads the
//! vCPU's state, the adder publishes the state and then reads the bit.
//! One of the two sees the other, so an able vCPU always ends up with its
//! bit set (see `Sdei::claim_any`).

use alloc::boxed::Box;
use alloc::vec::Vec;

use fwcall_smccc::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// A lock-free superset of vCPU indices.
pub(crate) struct ReadySet {
    words: Box<[AtomicU64]>,
    summary: Box<[AtomicU64]>,
}

impl core::fmt::Debug for ReadySet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadySet")
            .field("vcpus", &(self.words.len() * 64))
            .finish()
    }
}

fn atomics(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>().into()
}

impl ReadySet {
    /// An empty set for `n` vCPUs.
    pub fn new(n: usize) -> Self {
        let words = n.div_ceil(64).max(1);
        ReadySet {
            words: atomics(words),
            summary: atomics(words.div_ceil(64)),
        }
    }

    /// Adds `v`. One load when it is already there.
    #[inline]
    pub fn insert(&self, v: u32) {
        let (w, bit) = (v as usize / 64, 1u64 << (v % 64));
        let Some(word) = self.words.get(w) else {
            return;
        };
        if word.load(SeqCst) & bit != 0 {
            return;
        }
        word.fetch_or(bit, SeqCst);
        let (s, sbit) = (w / 64, 1u64 << (w % 64));
        if let Some(sum) = self.summary.get(s)
            && sum.load(SeqCst) & sbit == 0
        {
            sum.fetch_or(sbit, SeqCst);
        }
    }

    /// Removes `v` (router only, under the shared lock).
    pub fn remove(&self, v: u32) {
        let (w, bit) = (v as usize / 64, 1u64 << (v % 64));
        let Some(word) = self.words.get(w) else {
            return;
        };
        let before = word.fetch_and(!bit, SeqCst);
        if before & !bit != 0 {
            return;
        }
        // The word is empty now: clear its summary bit, then look again,
        // because an adder that saw the summary bit set did not set it.
        let (s, sbit) = (w / 64, 1u64 << (w % 64));
        if let Some(sum) = self.summary.get(s) {
            sum.fetch_and(!sbit, SeqCst);
            if word.load(SeqCst) != 0 {
                sum.fetch_or(sbit, SeqCst);
            }
        }
    }

    /// The first candidate, in ascending order, for which `take` returns
    /// true. `take` may remove candidates it rejects (the iteration reads
    /// each word once, so removals do not disturb it).
    pub fn find(&self, mut take: impl FnMut(u32) -> bool) -> Option<u32> {
        for (s, sum) in self.summary.iter().enumerate() {
            let mut words = sum.load(SeqCst);
            while words != 0 {
                let w = s * 64 + words.trailing_zeros() as usize;
                words &= words - 1;
                let mut bits = self.words.get(w).map_or(0, |x| x.load(SeqCst));
                while bits != 0 {
                    let v = (w * 64) as u32 + bits.trailing_zeros();
                    bits &= bits - 1;
                    if take(v) {
                        return Some(v);
                    }
                }
            }
        }
        None
    }

    /// Whether `v` is in the set (tests and invariant checks).
    #[cfg(test)]
    pub fn contains(&self, v: u32) -> bool {
        let (w, bit) = (v as usize / 64, 1u64 << (v % 64));
        self.words.get(w).is_some_and(|x| x.load(SeqCst) & bit != 0)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn find_visits_candidates_in_ascending_order_across_words() {
        let set = ReadySet::new(4096);
        for v in [4095, 3, 64, 63, 1000] {
            set.insert(v);
        }
        let mut seen = Vec::new();
        assert_eq!(
            set.find(|v| {
                seen.push(v);
                false
            }),
            None
        );
        assert_eq!(seen, [3, 63, 64, 1000, 4095]);
        assert_eq!(set.find(|v| v >= 64), Some(64));
    }

    #[test]
    fn removing_the_last_bit_of_a_word_clears_its_summary_bit() {
        let set = ReadySet::new(200);
        set.insert(130);
        set.remove(130);
        assert_eq!(set.summary[0].load(SeqCst), 0);
        assert_eq!(set.find(|_| true), None);
        set.insert(130);
        set.insert(131);
        set.remove(130);
        assert_eq!(set.find(|_| true), Some(131));
        assert!(!set.contains(130));
    }

    #[test]
    fn indices_past_the_end_are_ignored() {
        let set = ReadySet::new(2);
        set.insert(64);
        set.remove(64);
        assert_eq!(set.find(|_| true), None);
    }
}
