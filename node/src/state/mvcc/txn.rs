//! Write transactions: every change they make gets the same main revision.

use super::key_index::RevisionPair;
use super::key_range::KeyRange;
use super::store::Store;
use super::{KeyValue, MvccError, RangeResult};
use crate::types::{LeaseId, Revision};

/// An open write transaction on a [`Store`], from [`Store::write`] (etcd's `TxnWrite`).
///
/// Changes are applied to the store as they are made, at revision `current + 1` with
/// sub-revisions 0, 1, 2, ..., and reads through the transaction see them, as in etcd.
/// [`WriteTxn::commit`] makes that revision current if anything changed. Dropping the
/// transaction without committing removes every change it made (the store's `&mut` borrow means
/// nothing else could have seen them).
#[must_use = "a write transaction dropped without commit() is rolled back"]
pub struct WriteTxn<'s> {
    /// - Holds no revision after `current` other than this transaction's changes.
    store: &'s mut Store,
    /// How many changes this transaction made: the sub-revision of the next one.
    /// - Equals the number of records at the write revision.
    changes: i64,
    /// Set by `commit`; checked on drop, which rolls back an uncommitted transaction.
    committed: bool,
}

impl<'s> WriteTxn<'s> {
    pub(super) fn new(store: &'s mut Store) -> Self {
        WriteTxn {
            store,
            changes: 0,
            committed: false,
        }
    }

    /// The revision this transaction's changes get.
    fn write_revision(&self) -> Revision {
        Revision(self.store.current_revision().0 + 1)
    }

    /// The revision reads through this transaction see: the write revision once something changed,
    /// else the store's current revision. This is also what etcd puts in the response header.
    pub fn revision(&self) -> Revision {
        if self.changes > 0 {
            self.write_revision()
        } else {
            self.store.current_revision()
        }
    }

    /// The store's compacted revision (0 if never compacted).
    pub fn compacted_revision(&self) -> Revision {
        self.store.compacted_revision()
    }

    /// Whether a read at `rev` through this transaction can be served, as [`WriteTxn::range`] decides.
    ///
    /// # Errors
    /// As [`Store::range`], with [`WriteTxn::revision`] as the current revision.
    pub fn check_revision(&self, rev: Revision) -> Result<(), MvccError> {
        self.store.read_revision(rev, self.revision()).map(|_| ())
    }

    /// As [`Store::range`], seeing this transaction's own changes (`rev <= 0` reads at
    /// [`WriteTxn::revision`]).
    ///
    /// # Errors
    /// As [`Store::range`], with [`WriteTxn::revision`] as the current revision.
    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        rev: Revision,
        limit: usize,
    ) -> Result<RangeResult, MvccError> {
        let at = self.store.read_revision(rev, self.revision())?;
        Ok(self
            .store
            .range_at(KeyRange::new(key, range_end), at, limit))
    }

    /// As [`Store::count`], seeing this transaction's own changes.
    ///
    /// # Errors
    /// As [`Store::range`], with [`WriteTxn::revision`] as the current revision.
    pub fn count(&self, key: &[u8], range_end: &[u8], rev: Revision) -> Result<usize, MvccError> {
        let at = self.store.read_revision(rev, self.revision())?;
        Ok(self.store.count_at(KeyRange::new(key, range_end), at))
    }

    fn next_change(&mut self) -> RevisionPair {
        let rev = RevisionPair {
            main: self.write_revision(),
            sub: self.changes,
        };
        self.changes += 1;
        rev
    }

    /// Sets `key` to `value` with `lease` (`LeaseId(0)`: none). Always a change, even to the same
    /// value. Returns the key's previous value (as this transaction sees it), for `prev_kv`.
    ///
    /// # Panics
    /// If `key` is empty (the gRPC layer rejects empty keys, as etcd does).
    pub fn put(&mut self, key: &[u8], value: &[u8], lease: LeaseId) -> Option<KeyValue> {
        assert!(!key.is_empty(), "put with an empty key");
        let prev = self.store.get(key, self.revision()).cloned();
        let rev = self.next_change();
        self.store.insert_put(rev, key, value, lease);
        prev
    }

    /// Deletes the keys named by `key` and `range_end` (as in [`Store::range`]) that exist, one
    /// tombstone each, in key order. Returns them as they were; deleting nothing changes nothing.
    pub fn delete_range(&mut self, key: &[u8], range_end: &[u8]) -> Vec<KeyValue> {
        let deleted = self
            .store
            .range_at(KeyRange::new(key, range_end), self.revision(), 0)
            .kvs;
        for kv in &deleted {
            let rev = self.next_change();
            self.store.insert_tombstone(rev, &kv.key);
        }
        deleted
    }

    /// Ends the transaction: if it changed anything, its revision becomes the store's current one.
    /// Returns the store's current revision afterwards (the response header's revision).
    pub fn commit(mut self) -> Revision {
        if self.changes > 0 {
            self.store.bump();
        }
        self.committed = true;
        self.store.current_revision()
    }

    /// Asserts the store's invariants, allowing this transaction's changes, and the transaction's.
    pub fn check_invariants(&self) {
        self.store.check_invariants_up_to(self.write_revision());
        let main = self.write_revision();
        let at_write = self.store.count_records_at(main);
        assert_eq!(
            at_write as i64, self.changes,
            "records at the write revision vs changes made"
        );
    }
}

impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        if !self.committed && self.changes > 0 {
            let main = self.write_revision();
            self.store.revert(main);
        }
    }
}
