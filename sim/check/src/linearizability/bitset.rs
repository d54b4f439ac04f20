//! A fixed-size set of operation indices: which operations a search path has linearized.

/// Invariant: bits at positions `>= len` are always zero, so equal sets have equal words and
/// hashing the words is a valid hash of the set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Bitset {
    words: Box<[u64]>,
    len: usize,
}

impl Bitset {
    pub(crate) fn new(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)].into_boxed_slice(),
            len,
        }
    }

    pub(crate) fn set(&mut self, i: usize) {
        assert!(i < self.len, "bit {i} out of a set of {}", self.len);
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub(crate) fn clear(&mut self, i: usize) {
        assert!(i < self.len, "bit {i} out of a set of {}", self.len);
        self.words[i / 64] &= !(1 << (i % 64));
    }

    pub(crate) fn contains(&self, i: usize) -> bool {
        assert!(i < self.len, "bit {i} out of a set of {}", self.len);
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// The set's words (bit `i` is bit `i % 64` of word `i / 64`).
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    pub(crate) fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_set_and_clear_round_trip_across_words() {
        let mut s = Bitset::new(130);
        for i in [0, 63, 64, 129] {
            s.set(i);
        }
        assert_eq!(s.count(), 4);
        assert!(s.contains(64) && !s.contains(65));
        for i in [0, 63, 64, 129] {
            s.clear(i);
        }
        assert_eq!(s, Bitset::new(130));
    }
}
