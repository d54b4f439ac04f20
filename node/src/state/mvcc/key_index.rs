//! One key's revision index: which revisions of the key exist, grouped into generations.
//! Mirrors etcd's `mvcc/key_index.go`; the [module docs](super) walk through an example.

use crate::types::Revision;

/// A revision together with the operation's position inside its write transaction, as etcd's
/// `revision{main, sub}`. Ordered by `main`, then `sub`: the order in which changes happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct RevisionPair {
    /// The revision of the write transaction that made the change.
    pub main: Revision,
    /// The change's index within that transaction: 0, 1, 2, ...
    pub sub: i64,
}

impl RevisionPair {
    /// The first pair of revision `main`: every change made at `main` sorts at or after it.
    pub fn first_of(main: Revision) -> Self {
        RevisionPair { main, sub: 0 }
    }
}

/// One life of a key: from the put that created it up to the delete that ended it, or up to now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Generation {
    /// The revisions of this life, oldest first.
    /// - Strictly increasing.
    /// - An ended generation (every one but the key's last) ends with its tombstone, the delete,
    ///   and holds at least one put before it. Compaction may drop older puts, never the tombstone
    ///   or the last put before it.
    /// - The last generation holds only puts; it is empty when the key is currently deleted.
    revs: Vec<RevisionPair>,
}

impl Generation {
    /// The newest revision whose main revision is at most `at`.
    fn newest_at(&self, at: Revision) -> Option<(usize, RevisionPair)> {
        self.revs
            .iter()
            .enumerate()
            .rev()
            .find(|(_, r)| r.main <= at)
            .map(|(i, r)| (i, *r))
    }
}

/// The revisions of one key, grouped into generations, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KeyIndex {
    /// - Never empty (`new` starts with one empty generation).
    /// - Every generation but the last has ended (see [`Generation::revs`]).
    /// - Revisions strictly increase from one generation to the next.
    /// - A key index whose only generation is empty is "empty": the store drops such keys, so it
    ///   never holds one between operations.
    generations: Vec<Generation>,
}

impl KeyIndex {
    /// A key with no revisions yet (the one state in which [`KeyIndex::is_empty`] is expected).
    pub fn new() -> Self {
        KeyIndex {
            generations: vec![Generation::default()],
        }
    }

    /// No revision at all: the key was never written, or compaction removed everything.
    pub fn is_empty(&self) -> bool {
        self.generations.len() == 1 && self.generations[0].revs.is_empty()
    }

    /// The newest revision of the key (etcd's `modified`).
    fn last_revision(&self) -> Option<RevisionPair> {
        self.generations
            .iter()
            .rev()
            .find_map(|g| g.revs.last().copied())
    }

    fn current_generation(&mut self) -> &mut Generation {
        self.generations
            .last_mut()
            .expect("a key index always has a generation")
    }

    /// Records a put at `rev`, starting a new generation if the key was deleted or new.
    ///
    /// # Panics
    /// If `rev` is not newer than every revision already recorded.
    pub fn put(&mut self, rev: RevisionPair) {
        assert!(
            self.last_revision().is_none_or(|last| rev > last),
            "put at {rev:?} is not newer than the key's last revision"
        );
        self.current_generation().revs.push(rev);
    }

    /// Records a delete at `rev`: ends the current generation with a tombstone and opens an empty one.
    ///
    /// # Panics
    /// If the key is not live (deleting a deleted key writes nothing in etcd), or `rev` is not newer
    /// than every revision already recorded.
    pub fn tombstone(&mut self, rev: RevisionPair) {
        assert!(
            !self.current_generation().revs.is_empty(),
            "tombstone at {rev:?} on a key that does not exist"
        );
        self.put(rev);
        self.generations.push(Generation::default());
    }

    /// The revision holding the key's value as of revision `at`, or `None` if the key did not exist
    /// then (never created, deleted, or compacted away). etcd's `keyIndex.get` / `findGeneration`.
    pub fn get(&self, at: Revision) -> Option<RevisionPair> {
        let last = self.generations.len() - 1;
        for (i, g) in self.generations.iter().enumerate().rev() {
            let (Some(first), Some(newest)) = (g.revs.first(), g.revs.last()) else {
                continue;
            };
            // An ended generation whose tombstone is at or before `at`: the key was deleted by
            // then, and every later generation starts after `at` (checked in the earlier turns).
            if i != last && newest.main <= at {
                return None;
            }
            if first.main <= at {
                return g.newest_at(at).map(|(_, r)| r);
            }
        }
        None
    }

    /// Drops every revision not needed to read at revision `at` or later, as etcd's
    /// `keyIndex.compact`. Returns the revision kept to serve reads at `at`, if the key existed then.
    ///
    /// Generations that ended (tombstone) at or before `at` go entirely. In the generation live at
    /// `at`, the newest put at or before `at` stays and the older ones go. The caller drops the
    /// key if it is then [empty](KeyIndex::is_empty).
    pub fn compact(&mut self, at: Revision) -> Option<RevisionPair> {
        let last = self.generations.len() - 1;
        // The first generation that is still live at `at` or starts after it (etcd's doCompact).
        let live = (0..last)
            .find(|&i| {
                self.generations[i]
                    .revs
                    .last()
                    .expect("an ended generation has a tombstone")
                    .main
                    > at
            })
            .unwrap_or(last);
        self.generations.drain(..live);
        let g = &mut self.generations[0];
        let kept = g.newest_at(at);
        if let Some((i, _)) = kept {
            g.revs.drain(..i);
        }
        // etcd also drops a generation reduced to its bare tombstone here. That cannot happen: the
        // generation is either the last one (no tombstone) or its tombstone is after `at`, so the
        // kept put stays before it.
        assert!(
            self.generations.len() == 1 || self.generations[0].revs.len() >= 2,
            "compaction left a bare tombstone"
        );
        kept.map(|(_, r)| r)
    }

    /// Removes every revision made at `main`, which must be the key's newest: rolls back a write
    /// transaction that was not committed. Doing it twice is harmless.
    pub fn revert(&mut self, main: Revision) {
        loop {
            let n = self.generations.len();
            let g = &mut self.generations[n - 1];
            if let Some(newest) = g.revs.last() {
                if newest.main != main {
                    return;
                }
                g.revs.pop();
            } else if n > 1
                && self.generations[n - 2]
                    .revs
                    .last()
                    .is_some_and(|t| t.main == main)
            {
                // The empty generation was opened by a tombstone of this transaction.
                self.generations.pop();
            } else {
                return;
            }
        }
    }

    /// Every revision with whether it is a tombstone, oldest first.
    pub fn revisions(&self) -> impl Iterator<Item = (RevisionPair, bool)> + '_ {
        let last = self.generations.len() - 1;
        self.generations.iter().enumerate().flat_map(move |(i, g)| {
            let tomb_at = if i == last {
                usize::MAX
            } else {
                g.revs.len() - 1
            };
            g.revs
                .iter()
                .enumerate()
                .map(move |(j, r)| (*r, j == tomb_at))
        })
    }

    /// The invariants documented on the fields, as a result (for indexes rebuilt from untrusted
    /// bytes).
    pub fn verify(&self) -> Result<(), String> {
        ensure!(
            !self.generations.is_empty(),
            "key index without a generation"
        );
        let last = self.generations.len() - 1;
        for g in &self.generations[..last] {
            ensure!(
                g.revs.len() >= 2,
                "ended generation without a put before its tombstone: {g:?}"
            );
        }
        let revs: Vec<RevisionPair> = self.revisions().map(|(r, _)| r).collect();
        ensure!(
            revs.windows(2).all(|w| w[0] < w[1]),
            "revisions not strictly increasing: {revs:?}"
        );
        Ok(())
    }
}
