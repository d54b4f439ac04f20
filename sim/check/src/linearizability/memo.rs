//! The search's memory: every (linearized set, model state) configuration reached so far.
//!
//! Reaching a configuration twice means the second path can do nothing the first could not, so
//! the search prunes it (Lowe's improvement to Wing and Gong; Porcupine does the same). The
//! entries also own every state the search holds: the search stack refers to states by index,
//! so a state is never cloned after the model produced it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};

use super::bitset::Bitset;

/// Index of an entry (a configuration and the state it owns).
pub(crate) type EntryId = u32;

/// Limits on what the memo may hold, so a search that explodes answers "unknown" instead of
/// exhausting memory.
pub(crate) const MEMO_ENTRIES_MAX: usize = 1 << 23;
/// Bytes of linearized-set words all entries may hold together (the states come on top).
pub(crate) const MEMO_BITSET_BYTES_MAX: usize = 1 << 30;
const _: () = assert!(MEMO_ENTRIES_MAX < EntryId::MAX as usize);

/// Invariants:
/// - no two entries are equal (same set and same state);
/// - `chain` links entries with the same fingerprint: `first[f]` is the newest, `chain[e]` the
///   next older one, [`NONE`] ends a chain.
pub(crate) struct Memo<S> {
    entries: Vec<(Bitset, S)>,
    first: HashMap<u64, EntryId, BuildHasherDefault<Fingerprinted>>,
    chain: Vec<EntryId>,
    words_per_set: usize,
}

const NONE: EntryId = EntryId::MAX;

/// The memo is full: the search must give up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MemoFull;

impl<S: Hash + Eq> Memo<S> {
    pub(crate) fn new(ops: usize) -> Self {
        Memo {
            entries: Vec::new(),
            first: HashMap::default(),
            chain: Vec::new(),
            words_per_set: ops.div_ceil(64).max(1),
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
    ) -> Result<Option<EntryId>, MemoFull> {
        let f = fingerprint(linearized, &state);
        let mut e = self.first.get(&f).copied().unwrap_or(NONE);
        while e != NONE {
            let (bits, s) = &self.entries[e as usize];
            if *s == state && bits == linearized {
                return Ok(None);
            }
            e = self.chain[e as usize];
        }
        let full = self.entries.len() + 1 > MEMO_ENTRIES_MAX
            || (self.entries.len() + 1) * self.words_per_set * 8 > MEMO_BITSET_BYTES_MAX;
        if full {
            return Err(MemoFull);
        }
        let id = self.entries.len() as EntryId;
        self.entries.push((linearized.clone(), state));
        self.chain.push(self.first.insert(f, id).unwrap_or(NONE));
        Ok(Some(id))
    }

    pub(crate) fn state(&self, id: EntryId) -> &S {
        &self.entries[id as usize].1
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
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
        let mut memo = Memo::new(10);
        let mut bits = Bitset::new(10);
        assert_eq!(memo.insert(&bits, "a"), Ok(Some(0)));
        assert_eq!(memo.insert(&bits, "a"), Ok(None));
        assert_eq!(memo.insert(&bits, "b"), Ok(Some(1)));
        bits.set(3);
        assert_eq!(memo.insert(&bits, "a"), Ok(Some(2)));
        assert_eq!(*memo.state(1), "b");
        assert_eq!(memo.len(), 3);
    }
}
