//! The change feed: every change to a key range since a revision, in revision order, read from the
//! store's history. Watchers catch up through it (etcd's `watchableStore` reads the events of its
//! unsynced watchers from the backend the same way), so a watcher that falls behind costs memory in
//! nobody's buffer: it just reads further back in the history, until compaction takes that history
//! away.
//!
//! A worked example, one transaction per revision:
//!
//! ```text
//! rev 2: put a=1    rev 3: put b=2, put a=3 (one txn)    rev 4: delete a
//!
//! changes(a..c, from 2)        -> 2: PUT a=1 | 3: PUT b=2, PUT a=3 | 4: DELETE a   next = 5
//! changes(a, from 3, prev)     -> 3: PUT a=3 (prev a=1) | 4: DELETE a (prev a=3)   next = 5
//! changes(a..c, from 2, at most 2 revisions) -> 2: ... | 3: ...                    next = 4
//! ```
//!
//! Guarantees, each relied on by watch:
//! - Events come in (revision, sub-revision) order: the order the changes were made.
//! - A batch holds whole revisions: it never stops in the middle of one (atomicity).
//! - `next` says where to continue: every change in the range before `next` has been returned by
//!   this or earlier calls, none at or after it (no gaps, no duplicates).

use super::key_range::KeyRange;
use super::store::{Record, Store};
use super::{KeyValue, MvccError};
use crate::types::{LeaseId, Revision};

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change, as etcd's `mvccpb.Event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// A put's key-value; for a delete, as in etcd, only the key and `mod_revision` (the revision
    /// of the delete), everything else zero.
    pub kv: KeyValue,
    /// The key's value just before this change, if asked for and the key existed then.
    pub prev_kv: Option<KeyValue>,
}

/// How much one call may return and read, so that the caller holds the store for a bounded time.
/// Both are checked only between revisions (a revision is never split), so one revision larger than
/// the limits still comes whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeLimits {
    /// Revisions with at least one event in the range, at most (etcd `watchBatchMaxRevs`).
    pub max_revisions: usize,
    /// Records looked at (in the range or not), at most.
    pub max_records_scanned: usize,
    /// Bytes of keys and values (previous values included) returned, at most.
    pub max_bytes: usize,
}

/// A batch of changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes {
    pub events: Vec<Event>,
    /// The revision to continue from: the range's changes before it have all been returned.
    /// - `>= from`; `== current + 1` when the batch reached the newest change.
    pub next: Revision,
}

impl Store {
    /// The changes to the keys named by `key` and `range_end` (as in [`Store::range`]) made at
    /// revision `from` or later, oldest first, within `limits`. With `with_prev`, each event carries
    /// the key's previous value.
    ///
    /// # Errors
    /// [`MvccError::Compacted`] if `from` is before the compacted revision: that history is gone
    /// (etcd cancels such a watcher with its `compact_revision`). As in etcd, `from` equal to the
    /// compacted revision is served, with the changes of that revision compaction kept.
    ///
    /// # Panics
    /// If `from < 1` or a limit is 0 (the caller resolves "from now" to a revision).
    pub fn changes(
        &self,
        key: &[u8],
        range_end: &[u8],
        from: Revision,
        with_prev: bool,
        limits: ChangeLimits,
    ) -> Result<Changes, MvccError> {
        assert!(from.0 >= 1, "changes from revision {from}");
        assert!(limits.max_revisions > 0 && limits.max_records_scanned > 0 && limits.max_bytes > 0, "{limits:?}");
        if self.compacted_revision().0 > 0 && from < self.compacted_revision() {
            return Err(MvccError::Compacted);
        }
        let range = KeyRange::new(key, range_end);
        let mut events = Vec::new();
        let mut revisions = 0;
        let mut bytes = 0;
        // The revision being read and whether it had an event in the range.
        let mut open: Option<(Revision, bool)> = None;
        let mut next = Revision(from.0.max(self.current_revision().0 + 1));
        for (scanned, (rev, record)) in self.records_from(from).enumerate() {
            if open.is_none_or(|(r, _)| r != rev.main) {
                // A revision boundary: the only place to stop.
                if let Some((_, true)) = open {
                    revisions += 1;
                }
                if revisions >= limits.max_revisions || scanned >= limits.max_records_scanned || bytes >= limits.max_bytes {
                    next = rev.main;
                    break;
                }
                open = Some((rev.main, false));
            }
            if !range.contains(record.key()) {
                continue;
            }
            if let Some((_, had)) = open.as_mut() {
                *had = true;
            }
            let prev_kv = if with_prev { self.get(record.key(), Revision(rev.main.0 - 1)).cloned() } else { None };
            let (kind, kv) = match record {
                Record::Put(kv) => (EventKind::Put, kv.clone()),
                Record::Tombstone { key } => (EventKind::Delete, deleted(key, rev.main)),
            };
            bytes += kv.key.len() + kv.value.len() + prev_kv.as_ref().map_or(0, |p| p.key.len() + p.value.len());
            events.push(Event { kind, kv, prev_kv });
        }
        assert!(next >= from, "next {next} before from {from}");
        Ok(Changes { events, next })
    }
}

/// The key-value of a delete event, as etcd shows it.
fn deleted(key: &[u8], rev: Revision) -> KeyValue {
    KeyValue { key: key.to_vec(), create_revision: Revision(0), mod_revision: rev, version: 0, value: vec![], lease: LeaseId(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: ChangeLimits = ChangeLimits { max_revisions: usize::MAX, max_records_scanned: usize::MAX, max_bytes: usize::MAX };

    /// The example of the module doc.
    fn example() -> Store {
        let mut s = Store::new();
        let mut t = s.write();
        t.put(b"a", b"1", LeaseId(0));
        t.commit();
        let mut t = s.write();
        t.put(b"b", b"2", LeaseId(0));
        t.put(b"a", b"3", LeaseId(0));
        t.commit();
        let mut t = s.write();
        t.delete_range(b"a", b"");
        t.commit();
        s
    }

    fn summary(c: &Changes) -> Vec<String> {
        c.events
            .iter()
            .map(|e| {
                let key = String::from_utf8_lossy(&e.kv.key);
                let prev = e.prev_kv.as_ref().map(|p| format!(" prev={}", String::from_utf8_lossy(&p.value))).unwrap_or_default();
                match e.kind {
                    EventKind::Put => format!("{}: PUT {key}={}{prev}", e.kv.mod_revision, String::from_utf8_lossy(&e.kv.value)),
                    EventKind::Delete => format!("{}: DELETE {key}{prev}", e.kv.mod_revision),
                }
            })
            .collect()
    }

    #[test]
    fn replays_every_change_in_order_with_whole_revisions() {
        let s = example();
        let c = s.changes(b"a", b"c", Revision(2), false, ALL).unwrap();
        assert_eq!(summary(&c), ["2: PUT a=1", "3: PUT b=2", "3: PUT a=3", "4: DELETE a"]);
        assert_eq!(c.next, Revision(5));
        let d = &c.events[3].kv;
        assert_eq!((d.create_revision, d.version, d.value.len(), d.lease), (Revision(0), 0, 0, LeaseId(0)));
    }

    #[test]
    fn prev_kv_is_the_value_before_the_change() {
        let s = example();
        let c = s.changes(b"a", b"", Revision(3), true, ALL).unwrap();
        assert_eq!(summary(&c), ["3: PUT a=3 prev=1", "4: DELETE a prev=3"]);
        let first = s.changes(b"a", b"", Revision(2), true, ALL).unwrap();
        assert_eq!(first.events[0].prev_kv, None, "a did not exist before revision 2");
    }

    #[test]
    fn limits_stop_only_between_revisions_and_next_resumes_without_gap_or_duplicate() {
        let s = example();
        let lim = ChangeLimits { max_revisions: 1, max_records_scanned: 1, max_bytes: 1 };
        let mut from = Revision(1);
        let mut all = Vec::new();
        let mut batches = 0;
        loop {
            let c = s.changes(b"a", b"c", from, false, lim).unwrap();
            assert!(c.next > from || c.events.is_empty());
            all.extend(summary(&c));
            // One revision per batch, never split: revision 3's two events come together.
            let revs: std::collections::BTreeSet<_> = c.events.iter().map(|e| e.kv.mod_revision).collect();
            assert!(revs.len() <= 1, "{revs:?}");
            batches += 1;
            if c.next == from {
                break;
            }
            from = c.next;
        }
        assert_eq!(all, ["2: PUT a=1", "3: PUT b=2", "3: PUT a=3", "4: DELETE a"]);
        assert_eq!(from, Revision(5));
        assert!(batches >= 4);
    }

    #[test]
    fn a_future_start_waits_and_an_empty_range_advances() {
        let s = example();
        let c = s.changes(b"a", b"", Revision(9), false, ALL).unwrap();
        assert!(c.events.is_empty());
        assert_eq!(c.next, Revision(9));
        let c = s.changes(b"zzz", b"", Revision(1), false, ALL).unwrap();
        assert!(c.events.is_empty());
        assert_eq!(c.next, Revision(5), "nothing for zzz up to the current revision");
    }

    #[test]
    fn a_start_before_the_compacted_revision_is_refused() {
        let mut s = example();
        s.compact(Revision(3)).unwrap();
        assert_eq!(s.changes(b"a", b"c", Revision(2), false, ALL), Err(MvccError::Compacted));
        // At the compacted revision itself, as etcd: what compaction kept of it.
        let c = s.changes(b"a", b"c", Revision(3), false, ALL).unwrap();
        assert_eq!(summary(&c), ["3: PUT b=2", "3: PUT a=3", "4: DELETE a"]);
        let c = s.changes(b"a", b"c", Revision(4), false, ALL).unwrap();
        assert_eq!(summary(&c), ["4: DELETE a"]);
    }
}
