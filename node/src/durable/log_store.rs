//! The disk seam for the Raft log: what the driver needs from durable storage.
//!
//! raft-rs reads the log through [`raft::Storage`]; the driver writes it through [`LogStore`]. The
//! contract a durable implementation (the WAL) must meet, and that the driver relies on:
//! - After `persist()` returns `Ok`, every entry, HardState and snapshot handed to `append`,
//!   `set_hard_state` and `apply_snapshot` before it survives a crash. The driver sends no message
//!   that depends on them and acknowledges no client before that (see `consensus/driver.rs`).
//! - An error is an operating error: the driver stops the node rather than limp on with a log it
//!   cannot trust (raft-rs `storage.rs` states the same contract).
//!
//! [`crate::durable::wal_log::WalLog`] is the durable implementation, over the WAL and snapshot files; the
//! `detcd` binary and the simulator use it. [`MemLog`] keeps everything in memory (a restart
//! forgets the log) and never compacts: for tests that need no disk.

use raft::prelude::{ConfState, Entry, HardState, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage};
use std::time::Duration;

/// A storage failure. The driver stops the node on any of them.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("raft storage: {0}")]
    Raft(#[from] raft::Error),
    #[error("disk: {0}")]
    Io(String),
    #[error(transparent)]
    Wal(#[from] crate::durable::wal::WalError),
    #[error(transparent)]
    Snapshot(#[from] crate::durable::snapshot::SnapshotError),
}

/// What the driver writes. Reads go through [`raft::Storage`].
pub trait LogStore: Storage + Send + 'static {
    /// Appends entries, truncating any conflicting suffix first.
    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError>;
    /// Records term, vote and commit.
    fn set_hard_state(&mut self, hs: HardState) -> Result<(), StorageError>;
    /// Records the commit index alone (after raft-rs's `LightReady`).
    fn set_commit(&mut self, commit: u64) -> Result<(), StorageError>;
    /// Replaces the log with a snapshot received from the leader.
    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError>;
    /// Makes everything written so far durable (one fsync for a whole Ready: group commit).
    fn persist(&mut self) -> Result<(), StorageError>;
    /// Whether the log wants a snapshot of the state machine now that it has applied up to
    /// `applied` (so that it can compact). Never, unless the store compacts.
    fn wants_snapshot(&self, _applied: u64) -> bool {
        false
    }
    /// Saves the state machine's bytes `data`, taken at applied index `index` (at most the commit
    /// index), and compacts the log up to about there. A store that never asks for snapshots may
    /// ignore it.
    fn save_snapshot(&mut self, _index: u64, _data: Vec<u8>) -> Result<(), StorageError> {
        Ok(())
    }
    /// The index of the newest saved or installed snapshot (0 before the first).
    fn snapshot_index(&self) -> u64 {
        0
    }
    /// Simulated disk time the writes since the last call took, which the driver sleeps off
    /// between `persist` and sending (see `disk`'s module doc). Zero unless the disk is simulated.
    fn take_io_delay(&mut self) -> Duration {
        Duration::ZERO
    }
}

/// The in-memory log.
#[derive(Clone)]
pub struct MemLog {
    inner: MemStorage,
}

impl MemLog {
    /// A fresh log whose configuration has `voters` (a new cluster's initial members).
    pub fn new_cluster(voters: Vec<u64>) -> MemLog {
        MemLog { inner: MemStorage::new_with_conf_state(ConfState::from((voters, vec![]))) }
    }
}

impl Storage for MemLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.inner.initial_state()
    }
    fn entries(&self, low: u64, high: u64, max_size: impl Into<Option<u64>>, context: GetEntriesContext) -> raft::Result<Vec<Entry>> {
        self.inner.entries(low, high, max_size, context)
    }
    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.inner.term(idx)
    }
    fn first_index(&self) -> raft::Result<u64> {
        self.inner.first_index()
    }
    fn last_index(&self) -> raft::Result<u64> {
        self.inner.last_index()
    }
    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        self.inner.snapshot(request_index, to)
    }
}

impl LogStore for MemLog {
    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        Ok(self.inner.wl().append(entries)?)
    }
    fn set_hard_state(&mut self, hs: HardState) -> Result<(), StorageError> {
        self.inner.wl().set_hardstate(hs);
        Ok(())
    }
    fn set_commit(&mut self, commit: u64) -> Result<(), StorageError> {
        self.inner.wl().mut_hard_state().commit = commit;
        Ok(())
    }
    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError> {
        Ok(self.inner.wl().apply_snapshot(snapshot)?)
    }
    fn persist(&mut self) -> Result<(), StorageError> {
        Ok(())
    }
}
