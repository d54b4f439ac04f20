//! The store: the key index, the records it points to, and the current and compacted revisions.

use std::collections::{BTreeMap, BTreeSet};

use super::key_index::{KeyIndex, RevisionPair};
use super::key_range::KeyRange;
use super::txn::WriteTxn;
use super::{KeyValue, MvccError, RangeResult};
use crate::types::{LeaseId, Revision};

/// Serde for the store (its snapshot image).
mod image;

/// What one change wrote: the key-value of a put, or a delete's tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Record {
    Put(KeyValue),
    Tombstone { key: Vec<u8> },
}

impl Record {
    pub(super) fn key(&self) -> &[u8] {
        match self {
            Record::Put(kv) => &kv.key,
            Record::Tombstone { key } => key,
        }
    }
}

/// Bytes counted per record besides its key and value (revisions, version, lease, map overhead).
const RECORD_OVERHEAD_BYTES: usize = 64;

/// The multi-version key-value store. See the [module docs](super) for its layout and semantics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    /// Every key that has revisions, with its [`KeyIndex`].
    /// - No key index is empty, and each holds its own invariants.
    /// - Each revision in it has a record in `records` for the same key, a tombstone exactly where
    ///   the key index has one; no two keys share a revision.
    /// - At most one revision per key is at or before the compacted revision: the key's first, a put.
    index: BTreeMap<Vec<u8>, KeyIndex>,
    /// What each change wrote, by revision (etcd's backend "key" bucket).
    /// - Exactly the revisions in `index`, no others.
    /// - No revision after `current` (except those of an open [`WriteTxn`], at `current + 1`).
    /// - A put at `r` has `mod_revision == r.main` and `create_revision <= r.main`; the puts of one
    ///   generation share `create_revision` and count `version` up by one; a generation that
    ///   compaction has not trimmed starts at version 1 with `create_revision == mod_revision`.
    records: BTreeMap<RevisionPair, Record>,
    /// The revision of the last committed change.
    /// - `>= 1`: a fresh store is at 1.
    current: Revision,
    /// The revision of the last compaction; `None` if there was none (etcd's -1).
    /// - `<= current`, and `>= 0`.
    compacted: Option<Revision>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store at revision 1.
    pub fn new() -> Self {
        Store {
            index: BTreeMap::new(),
            records: BTreeMap::new(),
            current: Revision(1),
            compacted: None,
        }
    }

    /// The revision of the last committed change (1 for a fresh store).
    pub fn current_revision(&self) -> Revision {
        self.current
    }

    /// The revision of the last compaction, 0 if there was none.
    pub fn compacted_revision(&self) -> Revision {
        self.compacted.unwrap_or(Revision(0))
    }

    /// Whether a read at `rev` can be served, as [`Store::range`] decides.
    ///
    /// # Errors
    /// As [`Store::range`].
    pub fn check_revision(&self, rev: Revision) -> Result<(), MvccError> {
        self.read_revision(rev, self.current).map(|_| ())
    }

    /// The keys named by `key` and `range_end` as of revision `rev` (`rev <= 0`: current),
    /// ascending, at most `limit` of them (`0`: no limit). As in etcd, an empty `range_end` names
    /// the single key `key`; `range_end == [0]` every key `>= key` (with `key == [0]` too: all
    /// keys); any other `range_end` the keys in `[key, range_end)`.
    ///
    /// # Errors
    /// [`MvccError::FutureRevision`] if `rev` is after the current revision;
    /// [`MvccError::Compacted`] if it is before the compacted revision (etcd serves reads at the
    /// compacted revision itself).
    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        rev: Revision,
        limit: usize,
    ) -> Result<RangeResult, MvccError> {
        let at = self.read_revision(rev, self.current)?;
        Ok(self.range_at(KeyRange::new(key, range_end), at, limit))
    }

    /// How many keys [`Store::range`] would find, without reading them (etcd's `count_only`).
    ///
    /// # Errors
    /// As [`Store::range`].
    pub fn count(&self, key: &[u8], range_end: &[u8], rev: Revision) -> Result<usize, MvccError> {
        let at = self.read_revision(rev, self.current)?;
        Ok(self
            .visible_revisions(KeyRange::new(key, range_end), at)
            .count())
    }

    /// Opens a write transaction. Its changes all get revision `current + 1`; they become visible
    /// to other readers and the revision moves only at [`WriteTxn::commit`]. Dropping the
    /// transaction without committing rolls it back.
    pub fn write(&mut self) -> WriteTxn<'_> {
        WriteTxn::new(self)
    }

    /// Discards the history before revision `rev`: afterwards, reads at `rev` and later return
    /// exactly what they returned before, and reads before `rev` fail. Does not change the
    /// current revision.
    ///
    /// # Errors
    /// [`MvccError::Compacted`] if `rev` is not after the last compaction (the first compaction
    /// may be at 0, as in etcd); [`MvccError::FutureRevision`] if `rev` is after the current revision.
    pub fn compact(&mut self, rev: Revision) -> Result<(), MvccError> {
        if rev <= self.compacted.unwrap_or(Revision(-1)) {
            return Err(MvccError::Compacted);
        }
        if rev > self.current {
            return Err(MvccError::FutureRevision);
        }
        self.compacted = Some(rev);
        let mut kept = BTreeSet::new();
        self.index.retain(|_, ki| {
            kept.extend(ki.compact(rev));
            !ki.is_empty()
        });
        self.records.retain(|r, _| r.main > rev || kept.contains(r));
        Ok(())
    }

    /// A hash of every key-value visible at revision `rev` (`rev <= 0`: current): 32-bit FNV-1a
    /// over, per key in ascending order, the key and the value (each preceded by its length as a
    /// big-endian u64), then create revision, mod revision, version and lease (big-endian i64
    /// each). Stores that show the same key-values at `rev` hash equal, however they compacted.
    ///
    /// # Errors
    /// As etcd's `HashByRev`: [`MvccError::Compacted`] if `0 < rev <= compacted revision`;
    /// [`MvccError::FutureRevision`] if `rev` is after the current revision.
    pub fn hash_kv(&self, rev: Revision) -> Result<u32, MvccError> {
        if rev.0 > 0 && self.compacted.is_some_and(|c| rev <= c) {
            return Err(MvccError::Compacted);
        }
        let at = self.read_revision(rev, self.current)?;
        let all = KeyRange::new(&[], &[0]);
        Ok(hash_kvs(
            self.visible_revisions(all, at).map(|r| self.put_at(r)),
        ))
    }

    /// Roughly how many bytes the store holds: keys, values and a fixed overhead per record.
    pub fn approximate_size(&self) -> usize {
        let payload = |r: &Record| match r {
            Record::Put(kv) => kv.key.len() + kv.value.len(),
            Record::Tombstone { key } => key.len(),
        };
        self.records
            .values()
            .map(|r| payload(r) + RECORD_OVERHEAD_BYTES)
            .sum()
    }

    /// Asserts the invariants documented on the fields.
    pub fn check_invariants(&self) {
        self.check_invariants_up_to(self.current);
    }

    // ---------------------------------------------------------------------------------------
    // For reads and for `WriteTxn`.

    /// The revision to read at for a request at `rev`, from a view whose newest revision is `view`.
    pub(super) fn read_revision(
        &self,
        rev: Revision,
        view: Revision,
    ) -> Result<Revision, MvccError> {
        if rev > view {
            return Err(MvccError::FutureRevision);
        }
        let at = if rev.0 <= 0 { view } else { rev };
        if self.compacted.is_some_and(|c| at < c) {
            return Err(MvccError::Compacted);
        }
        Ok(at)
    }

    /// The revisions holding the keys of `range` that exist at `at`, in key order.
    fn visible_revisions<'a>(
        &'a self,
        range: KeyRange<'a>,
        at: Revision,
    ) -> impl Iterator<Item = RevisionPair> + 'a {
        let indexes: Box<dyn Iterator<Item = &KeyIndex>> = match range {
            KeyRange::Single(key) => Box::new(self.index.get(key).into_iter()),
            KeyRange::Span(start, end) => {
                Box::new(self.index.range::<[u8], _>((start, end)).map(|(_, ki)| ki))
            }
            KeyRange::Nothing => Box::new(std::iter::empty()),
        };
        indexes.filter_map(move |ki| ki.get(at))
    }

    /// The key-value a put wrote at `rev`.
    ///
    /// # Panics
    /// If there is no put at `rev` (the index points only at puts and existing records).
    fn put_at(&self, rev: RevisionPair) -> &KeyValue {
        match self.records.get(&rev) {
            Some(Record::Put(kv)) => kv,
            other => panic!("index points at {rev:?}, which holds {other:?}, not a put"),
        }
    }

    pub(super) fn range_at(&self, range: KeyRange<'_>, at: Revision, limit: usize) -> RangeResult {
        let mut kvs = Vec::new();
        let mut count = 0;
        for rev in self.visible_revisions(range, at) {
            count += 1;
            if limit == 0 || kvs.len() < limit {
                kvs.push(self.put_at(rev).clone());
            }
        }
        RangeResult {
            more: kvs.len() < count,
            kvs,
            count,
        }
    }

    pub(super) fn count_at(&self, range: KeyRange<'_>, at: Revision) -> usize {
        self.visible_revisions(range, at).count()
    }

    /// The key's value at `at`, if it exists then.
    pub(super) fn get(&self, key: &[u8], at: Revision) -> Option<&KeyValue> {
        let rev = self.index.get(key)?.get(at)?;
        Some(self.put_at(rev))
    }

    /// Records a put at `rev`. The caller ([`WriteTxn`]) chose `rev` after every existing revision.
    pub(super) fn insert_put(
        &mut self,
        rev: RevisionPair,
        key: &[u8],
        value: &[u8],
        lease: LeaseId,
    ) {
        let prev = self.get(key, rev.main);
        let (create_revision, version) =
            prev.map_or((rev.main, 1), |p| (p.create_revision, p.version + 1));
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision,
            mod_revision: rev.main,
            version,
            value: value.to_vec(),
            lease,
        };
        self.index
            .entry(key.to_vec())
            .or_insert_with(KeyIndex::new)
            .put(rev);
        let old = self.records.insert(rev, Record::Put(kv));
        assert!(old.is_none(), "revision {rev:?} written twice");
    }

    /// Records the deletion of an existing key at `rev`.
    pub(super) fn insert_tombstone(&mut self, rev: RevisionPair, key: &[u8]) {
        self.index
            .get_mut(key)
            .expect("deleting a key that has an index")
            .tombstone(rev);
        let old = self
            .records
            .insert(rev, Record::Tombstone { key: key.to_vec() });
        assert!(old.is_none(), "revision {rev:?} written twice");
    }

    /// Removes every change made at revision `main`, the open transaction's.
    pub(super) fn revert(&mut self, main: Revision) {
        assert_eq!(
            main,
            Revision(self.current.0 + 1),
            "only the open transaction can be reverted"
        );
        let undone = self.records.split_off(&RevisionPair::first_of(main));
        let keys: BTreeSet<&[u8]> = undone.values().map(Record::key).collect();
        for key in keys {
            let ki = self.index.get_mut(key).expect("a record's key is indexed");
            ki.revert(main);
            if ki.is_empty() {
                self.index.remove(key);
            }
        }
    }

    /// The records of revision `from` and later, in revision order (the change feed reads these).
    pub(super) fn records_from(&self, from: Revision) -> impl Iterator<Item = (&RevisionPair, &Record)> + '_ {
        self.records.range(RevisionPair::first_of(from)..)
    }

    /// How many changes were made at revision `main`.
    pub(super) fn count_records_at(&self, main: Revision) -> usize {
        let next = RevisionPair::first_of(Revision(main.0 + 1));
        self.records
            .range(RevisionPair::first_of(main)..next)
            .count()
    }

    /// The keys in the index, for tests of what compaction removes.
    #[cfg(test)]
    pub(super) fn indexed_keys(&self) -> Vec<Vec<u8>> {
        self.index.keys().cloned().collect()
    }

    /// Makes the open transaction's changes, at `current + 1`, the current revision.
    pub(super) fn bump(&mut self) {
        self.current = Revision(self.current.0 + 1);
    }

    /// The invariants, allowing records up to revision `newest` (an open transaction's).
    pub(super) fn check_invariants_up_to(&self, newest: Revision) {
        if let Err(e) = self.verify_up_to(newest) {
            panic!("store invariant broken: {e}");
        }
    }

    /// [`Store::check_invariants_up_to`] as a result: what a store decoded from untrusted bytes
    /// must pass.
    pub(super) fn verify_up_to(&self, newest: Revision) -> Result<(), String> {
        ensure!(
            self.current >= Revision(1),
            "current revision {} below 1",
            self.current
        );
        ensure!(
            newest == self.current || newest.0 == self.current.0 + 1,
            "newest revision {newest} vs current {}",
            self.current
        );
        if let Some(c) = self.compacted {
            ensure!(
                Revision(0) <= c && c <= self.current,
                "compacted revision {c} outside 0..={}",
                self.current
            );
        }
        let compacted = self.compacted.unwrap_or(Revision(-1));
        let mut indexed = 0;
        for (key, ki) in &self.index {
            ensure!(!ki.is_empty(), "empty key index for {key:?}");
            ki.verify()?;
            // The put before this one in the same generation, as stored.
            let mut prev: Option<&KeyValue> = None;
            for (i, (rev, tombstone)) in ki.revisions().enumerate() {
                indexed += 1;
                ensure!(rev.main <= newest, "revision {rev:?} after {newest}");
                ensure!(
                    rev.main > compacted || (i == 0 && !tombstone),
                    "{key:?} keeps {rev:?} at or before compaction {compacted}"
                );
                let Some(record) = self.records.get(&rev) else {
                    return Err(format!("no record at indexed {rev:?}"));
                };
                ensure!(record.key() == key.as_slice(),
                    "record at {rev:?} is for another key"
                );
                match record {
                    Record::Tombstone { .. } => {
                        ensure!(tombstone, "tombstone at {rev:?} where the index has a put");
                        prev = None;
                    }
                    Record::Put(kv) => {
                        ensure!(!tombstone, "put at {rev:?} where the index has a tombstone");
                        verify_put(kv, rev, prev, compacted)?;
                        prev = Some(kv);
                    }
                }
            }
        }
        ensure!(indexed == self.records.len(),
            "records that no key index points at"
        );
        Ok(())
    }
}

/// The invariants of the put `kv` at `rev`, following `prev` in its generation (if stored).
fn verify_put(kv: &KeyValue, rev: RevisionPair, prev: Option<&KeyValue>, compacted: Revision) -> Result<(), String> {
    ensure!(kv.mod_revision == rev.main,
        "mod revision of {kv:?} at {rev:?}"
    );
    ensure!(
        kv.create_revision <= kv.mod_revision && kv.version >= 1,
        "{kv:?}"
    );
    match prev {
        Some(p) => ensure!(
            kv.create_revision == p.create_revision && kv.version == p.version + 1,
            "{kv:?} after {p:?}"
        ),
        // Compaction only trims generations at or before the compacted revision.
        None if rev.main > compacted => ensure!(
            kv.version == 1 && kv.create_revision == kv.mod_revision,
            "first put of a generation: {kv:?}"
        ),
        None => {}
    }
    Ok(())
}

/// 32-bit FNV-1a, see [`Store::hash_kv`] for what is hashed.
pub(super) fn hash_kvs<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> u32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let mut hash = OFFSET_BASIS;
    let mut write = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u32::from(*b)).wrapping_mul(PRIME);
        }
    };
    for kv in kvs {
        write(&(kv.key.len() as u64).to_be_bytes());
        write(&kv.key);
        write(&(kv.value.len() as u64).to_be_bytes());
        write(&kv.value);
        for n in [
            kv.create_revision.0,
            kv.mod_revision.0,
            kv.version,
            kv.lease.0,
        ] {
            write(&n.to_be_bytes());
        }
    }
    hash
}
