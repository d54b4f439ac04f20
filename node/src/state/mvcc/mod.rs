//! The multi-version key-value store, with etcd v3.4's semantics (`mvcc/kvstore*.go`,
//! `mvcc/key_index.go`, `mvcc/index.go`).
//!
//! Pure and synchronous: no I/O, no time, no randomness, no protobuf types (the gRPC layer
//! converts). Iteration is always in key or revision order, so equal inputs give equal outputs.
//!
//! # Revisions
//! A fresh store is at revision 1 and holds nothing. Every write transaction that changes
//! something bumps the revision exactly once, when it commits; its changes get sub-revisions 0, 1,
//! 2, ... in order. A put always changes something (even to the same value); deleting keys that do
//! not exist changes nothing, and neither does a transaction that only reads.
//!
//! # Layout
//! As in etcd, two structures:
//! - the *index*, key -> `KeyIndex`: which revisions the key has, grouped
//!   into generations (etcd's `treeIndex` of `keyIndex`es);
//! - the *records*, (revision, sub-revision) -> the key-value as written, or a tombstone for a
//!   delete (etcd's backend "key" bucket, which is keyed by revision).
//!
//! A generation is one life of a key, from the put that creates it to the delete that ends it.
//! Puts, a delete, then a put again, on key `foo`, each in its own transaction:
//!
//! ```text
//! rev 2: put foo=a    rev 3: put foo=b    rev 4: delete foo    rev 5: put foo=c
//!
//! index["foo"].generations:          records:
//!   [0] {2.0, 3.0, 4.0(t)}             2.0 -> foo=a create=2 mod=2 version=1
//!   [1] {5.0}                          3.0 -> foo=b create=2 mod=3 version=2
//!                                      4.0 -> tombstone(foo)
//!                                      5.0 -> foo=c create=5 mod=5 version=1
//! ```
//!
//! The delete appended its tombstone `4.0(t)` to generation 0 and opened an empty generation 1;
//! the put at 5 filled it, starting over at version 1 with create_revision 5. Reading `foo` at a
//! revision finds the generation live then and the newest revision at or before it: at 3 that is
//! `3.0` (`b`); at 4 generation 0 has ended, so `foo` does not exist; at 6 it is `5.0` (`c`).
//!
//! Compacting at revision `r` keeps what reads at `r` and later need. In each key, generations
//! whose tombstone is at or before `r` go entirely; in the generation live at `r`, the newest put
//! at or before `r` stays and older ones go; the records of dropped revisions go with them; a
//! key left with no revision leaves the index. On the example:
//!
//! ```text
//! compact(2): [0] {2.0, 3.0, 4.0(t)}  [1] {5.0}     (2.0 is what a read at 2 needs)
//! compact(3): [0] {3.0, 4.0(t)}       [1] {5.0}
//! compact(4): [0] {5.0}                             (foo did not exist at 4)
//! ```
//!
//! Had there been no put at 5, `compact(4)` would leave `foo` without revisions, and it would
//! leave the index.

/// `ensure!(condition, format...)`: in a `verify` function, returns `Err` with the message when
/// the condition does not hold. The store's invariants are written once, with this, and asserted
/// (`check_invariants`) or returned (`verify`: a store decoded from bytes that came from elsewhere).
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

mod changes;
mod key_index;
mod key_range;
mod store;
mod txn;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

pub use changes::{ChangeLimits, Changes, Event, EventKind};
pub use store::Store;
pub use txn::WriteTxn;

use crate::types::{LeaseId, Revision};

/// A key's value as of some revision, as etcd's `mvccpb.KeyValue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    /// The revision of the put that started this generation of the key.
    pub create_revision: Revision,
    /// The revision of the put that wrote this value.
    pub mod_revision: Revision,
    /// Puts in this generation so far: 1 on create, +1 per put; a delete resets it.
    pub version: i64,
    pub value: Vec<u8>,
    /// The lease attached by the put that wrote this value (`LeaseId(0)`: none).
    pub lease: LeaseId,
}

/// What a range read returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeResult {
    /// The keys found, ascending, at most `limit` of them.
    pub kvs: Vec<KeyValue>,
    /// How many keys the range holds at that revision, ignoring the limit.
    pub count: usize,
    /// Whether the limit left keys out (`count > kvs.len()`).
    pub more: bool,
}

/// Why a read or a compaction at some revision cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MvccError {
    /// The revision is older than the compacted revision (for a read) or not newer than it
    /// (for a compaction or a hash).
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    /// The revision is newer than the store's current revision.
    #[error("mvcc: required revision is a future revision")]
    FutureRevision,
}

/// The client sees etcd's error for each (the leaf `error` module knows nothing of the store, so
/// the conversion lives here, above it).
impl From<MvccError> for crate::error::ApiError {
    fn from(e: MvccError) -> Self {
        match e {
            MvccError::Compacted => crate::error::ApiError::Compacted,
            MvccError::FutureRevision => crate::error::ApiError::FutureRevision,
        }
    }
}
