//! The search's memory: every (linearized set, model state) configuration reached so far.
//!
//! Reaching a configuration twice means the second path can do nothing the first could not, so
//! the search prunes it (Lowe's improvement to Wing and Gong; Porcupine does the same). The
//! entries also own every state the search holds: the search stack refers to states by index,
//! so a state is never cloned after the model produced it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::bitset::Bitset;

/// Index of an entry (a configuration and the state it owns).
pub(crate) type EntryId = u32;

/// Limits on what the memos may hold, so a search that explodes answers "unknown" instead of
/// exhausting memory.
pub(crate) const MEMO_ENTRIES_MAX: usize = 1 << 22;
/// Bytes all memos of one check may take together (partitions searched in parallel share
/// it), counting each entry's linearized set, its state's inline size and what the model says
/// the state owns on the heap ([`super::Model::state_heap_bytes`]).
pub(crate) const MEMO_BYTES_MAX: usize = 1 << 29;
const _: () = assert!(MEMO_ENTRIES_MAX < EntryId::MAX as usize);

/// Memo bytes in use, shared by the partitions of one check.
pub(crate) type SharedBytes = AtomicUsize;

/// Invariants:
/// - entry `e`'s linearized set is `words[e * words_per_set..][..words_per_set]` (one flat
///   array: a separate allocation per set would double the memory) and its state `states[e]`;
/// - no two entries are equal (same set and same state);
/// - `chain` links entries with the same fingerprint: `first[f]` is the newest, `chain[e]` the
///   next older one, [`NONE`] ends a chain.
pub(crate) struct Memo<'a, S> {
    /// Bytes used by every memo of this check, this one's included.
    shared: &'a SharedBytes,
    /// This memo's share of `shared`, given back on drop.
    bytes: usize,
    words: Vec<u64>,
    states: Vec<S>,
    first: HashMap<u64, EntryId, BuildHasherDefault<Fingerprinted>>,
    chain: Vec<EntryId>,
    words_per_set: usize,
}

const NONE: EntryId = EntryId::MAX;

/// The memo is full: the search must give up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MemoFull;

impl<S> Drop for Memo<'_, S> {
    fn drop(&mut self) {
        self.shared.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl<'a, S: Hash + Eq> Memo<'a, S> {
    pub(crate) fn new(ops: usize, shared: &'a SharedBytes) -> Self {
        Memo {
            shared,
            bytes: 0,
            words: Vec::new(),
            states: Vec::new(),
            first: HashMap::default(),
            chain: Vec::new(),
            words_per_set: ops.div_ceil(64),
        }
    }

    /// Records `(linearized, state)` unless it is already known.
    ///
    /// Returns the new entry, `Ok(None)` if the configuration was seen before.
    ///
    /// # Errors
    /// [`MemoFull`] when recording it would pass a `MEMO_*_MAX` limit.
    pub(crate) fn insert(
        &mut self,
        linearized: &Bitset,
        state: S,
        state_heap_bytes: usize,
    ) -> Result<Option<EntryId>, MemoFull> {
        let f = fingerprint(linearized, &state);
        let mut e = self.first.get(&f).copied().unwrap_or(NONE);
        assert_eq!(
            linearized.words().len(),
            self.words_per_set,
            "one set size per memo"
        );
        while e != NONE {
            if self.states[e as usize] == state && self.bits(e) == linearized.words() {
                return Ok(None);
            }
            e = self.chain[e as usize];
        }
        let entry_bytes = self.words_per_set * 8 + std::mem::size_of::<S>() + state_heap_bytes + 8;
        let total = self.shared.fetch_add(entry_bytes, Ordering::Relaxed) + entry_bytes;
        if self.states.len() + 1 > MEMO_ENTRIES_MAX || total > MEMO_BYTES_MAX {
            self.shared.fetch_sub(entry_bytes, Ordering::Relaxed);
            return Err(MemoFull);
        }
        self.bytes += entry_bytes;
        let id = self.states.len() as EntryId;
        self.words.extend_from_slice(linearized.words());
        self.states.push(state);
        self.chain.push(self.first.insert(f, id).unwrap_or(NONE));
        Ok(Some(id))
    }

    pub(crate) fn state(&self, id: EntryId) -> &S {
        &self.states[id as usize]
    }

    fn bits(&self, id: EntryId) -> &[u64] {
        let w = self.words_per_set;
        &self.words[id as usize * w..][..w]
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }
}

fn fingerprint<S: Hash>(linearized: &Bitset, state: &S) -> u64 {
    let mut h = DefaultHasher::new();
    linearized.hash(&mut h);
    state.hash(&mut h);
    h.finish()
}

/// Hashes a `u64` that already is a good hash (a fingerprint) by passing it through.
#[derive(Default)]
pub(crate) struct Fingerprinted(u64);

impl Hasher for Fingerprinted {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are used; fold anything else in so the hasher stays correct regardless.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_refuses_a_configuration_seen_before() {
        let shared = SharedBytes::new(0);
        let mut memo = Memo::new(10, &shared);
        let mut bits = Bitset::new(10);
        assert_eq!(memo.insert(&bits, "a", 0), Ok(Some(0)));
        assert_eq!(memo.insert(&bits, "a", 0), Ok(None));
        assert_eq!(memo.insert(&bits, "b", 0), Ok(Some(1)));
        bits.set(3);
        assert_eq!(memo.insert(&bits, "a", 0), Ok(Some(2)));
        assert_eq!(*memo.state(1), "b");
        assert_eq!(memo.len(), 3);
        drop(memo);
        assert_eq!(shared.into_inner(), 0, "a memo gives its bytes back");
    }
}
