//! [`WalLog`]: the Raft log store that survives restarts, over the WAL and snapshot files.
//!
//! Writes go to the [`Wal`] (durable at `persist`) and to an in-memory copy of the log, from which
//! raft-rs reads through [`raft::Storage`]; nothing is read back from disk after `open`. Snapshots
//! of the state machine go to the [`SnapshotStore`], and a WAL marker records each one once its
//! file is durable.
//!
//! Lifecycle, and who calls what:
//! - **Start** ([`WalLog::open`]): replay the WAL, load the snapshot its newest marker names, and
//!   hand that snapshot's data to the caller, which restores the state machine from it *before*
//!   starting Raft (raft-rs's `applied` is then the snapshot's index, and raft-rs re-delivers the
//!   committed entries after it for the state machine to apply again).
//! - **Every Ready** ([`LogStore`]): `apply_snapshot` (a snapshot from the leader), `append`,
//!   `set_hard_state`, then one `persist`: one write and one fsync for the whole Ready.
//! - **Now and then** ([`WalLog::save_snapshot`]): after applying, the driver asks the state
//!   machine for its bytes at its applied index and saves them; the WAL then drops segments the
//!   snapshot covers, and the in-memory log keeps [`WalLogOptions::catch_up_entries`] entries
//!   before the snapshot so that a slightly lagging follower is caught up from the log rather than
//!   with a whole snapshot (etcd keeps 5,000 for the same reason).
//! - **A lagging follower** asks the leader's raft-rs for entries this log no longer holds; raft-rs
//!   then calls [`Storage::snapshot`], which hands out the newest saved snapshot.
//!
//! After a restart the in-memory log starts right after the snapshot (the catch-up entries before
//! it are not replayed).

use crate::durable::disk::Disk;
use crate::events::NodeEvent;
use crate::durable::snapshot::{SnapshotError, SnapshotStore};
use crate::durable::log_store::{LogStore, StorageError};
use crate::types::{Index, MemberId, Term};
use crate::durable::wal::{OpenReport, Recovered, Wal, WalOptions};
use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Entries kept in memory before the newest snapshot, as etcd's `SnapshotCatchUpEntries`.
pub const CATCH_UP_ENTRIES_DEFAULT: u64 = 5_000;
/// Applied entries between two snapshots, as etcd's `--snapshot-count` default.
pub const SNAPSHOT_COUNT_DEFAULT: u64 = 100_000;

/// How a [`WalLog`] is laid out and how much it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalLogOptions {
    pub wal: WalOptions,
    /// Entries kept in memory before the newest snapshot (module doc).
    pub catch_up_entries: u64,
    /// A snapshot is due once this many entries were applied since the newest one (at least 1).
    pub snapshot_count: u64,
}

impl Default for WalLogOptions {
    fn default() -> Self {
        WalLogOptions { wal: WalOptions::default(), catch_up_entries: CATCH_UP_ENTRIES_DEFAULT, snapshot_count: SNAPSHOT_COUNT_DEFAULT }
    }
}

/// What [`WalLog::open`] found.
#[derive(Debug)]
pub struct Opened {
    pub log: WalLog,
    /// The snapshot to restore the state machine from before Raft starts; `None` before the first
    /// snapshot (start from the empty state machine).
    pub snapshot: Option<Snapshot>,
    /// What the WAL had to repair or create (worth logging, and what sim tests check).
    pub report: OpenReport,
}

impl Opened {
    /// What to report about the open for member `id`: a [`NodeEvent::Recovered`], or `None` for a
    /// fresh log that needed no repair (a first start).
    pub fn recovered_event(&self, id: MemberId) -> Option<NodeEvent> {
        let r = &self.report;
        if r.created && r.removed.is_empty() && r.torn_tail.is_none() {
            return None;
        }
        let torn_tail = r.torn_tail.as_ref().map(|t| format!("{} at offset {}: {} bytes cut ({})", t.file, t.offset, t.bytes_cut, t.why));
        Some(NodeEvent::Recovered {
            id,
            snapshot_index: Index(self.log.latest.get_metadata().index),
            last_index: Index(self.log.log.last_index()),
            term: Term(self.log.log.hard_state.term),
            torn_tail,
            removed: r.removed.clone(),
        })
    }
}

/// The durable Raft log.
pub struct WalLog {
    disk: Arc<dyn Disk>,
    wal: Wal,
    snapshots: SnapshotStore,
    log: MemIndex,
    /// The newest snapshot, with its data: what `Storage::snapshot` hands a lagging follower.
    /// Index 0 (no data) before the first snapshot.
    latest: Snapshot,
    /// Older snapshot files wait for removal until the marker of `latest` is durable.
    purge_pending: bool,
    opts: WalLogOptions,
}

impl std::fmt::Debug for WalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalLog")
            .field("wal", &self.wal)
            .field("first_index", &(self.log.offset + 1))
            .field("last_index", &self.log.last_index())
            .field("snapshot_index", &self.latest.get_metadata().index)
            .finish_non_exhaustive()
    }
}

/// The log in memory, as raft-rs reads it.
///
/// Invariants:
/// - `entries[k].index == offset + 1 + k`.
/// - `offset_term` is the term of the entry at `offset` (0 at offset 0), which raft-rs may still ask
///   for after compaction.
/// - `offset` is at most the newest snapshot's index.
#[derive(Debug, Default)]
struct MemIndex {
    hard_state: HardState,
    conf_state: ConfState,
    offset: u64,
    offset_term: u64,
    entries: VecDeque<Entry>,
}

impl MemIndex {
    fn from_recovered(rec: Recovered) -> MemIndex {
        MemIndex {
            hard_state: rec.hard_state,
            conf_state: rec.snapshot.get_conf_state().clone(),
            offset: rec.snapshot.index,
            offset_term: rec.snapshot.term,
            entries: rec.entries.into(),
        }
    }

    fn last_index(&self) -> u64 {
        self.offset + self.entries.len() as u64
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.offset {
            return Ok(self.offset_term);
        }
        if idx < self.offset {
            return Err(raft::Error::Store(raft::StorageError::Compacted));
        }
        match self.entries.get((idx - self.offset - 1) as usize) {
            Some(e) => Ok(e.term),
            None => Err(raft::Error::Store(raft::StorageError::Unavailable)),
        }
    }

    fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        assert!(first.index > self.offset, "append at {} rewrites compacted entries up to {}", first.index, self.offset);
        assert!(first.index <= self.last_index() + 1, "append at {} leaves a gap after {}", first.index, self.last_index());
        self.entries.truncate((first.index - self.offset - 1) as usize);
        self.entries.extend(entries.iter().cloned());
    }

    /// Drops entries up to `index` (kept if `index` is at or below the offset).
    fn compact(&mut self, index: u64) {
        if index <= self.offset {
            return;
        }
        assert!(index <= self.last_index(), "compact to {index} past the last index {}", self.last_index());
        let term = self.term(index).expect("entry in range");
        self.entries.drain(..(index - self.offset) as usize);
        self.offset = index;
        self.offset_term = term;
    }

    /// Replaces the log with a snapshot received from the leader.
    fn restore(&mut self, meta: &SnapshotMetadata) {
        self.entries.clear();
        self.offset = meta.index;
        self.offset_term = meta.term;
        self.conf_state = meta.get_conf_state().clone();
        self.hard_state.commit = self.hard_state.commit.max(meta.index);
        self.hard_state.term = self.hard_state.term.max(meta.term);
    }
}

impl WalLog {
    /// Switches on injected bugs in the WAL (simulation only, see `crate::bugs`).
    pub fn inject_bugs(&mut self, bugs: crate::bugs::Bugs) {
        self.wal.inject_bugs(bugs);
    }

    /// Opens (or, on an empty disk, creates with `voters` as the initial members) the log on
    /// `disk`, which may also hold other files.
    ///
    /// # Errors
    /// `StorageError::Wal` / `StorageError::Snapshot` for a damaged WAL or snapshot (naming the file
    /// and offset): the node must refuse to start.
    pub fn open(disk: Arc<dyn Disk>, opts: WalLogOptions, voters: &[u64]) -> Result<Opened, StorageError> {
        let bootstrap = ConfState::from((voters.to_vec(), vec![]));
        let (wal, rec, report) = Wal::open(disk.clone(), opts.wal.clone(), &bootstrap)?;
        let snapshots = SnapshotStore::new(disk.clone());
        let marker = rec.snapshot.clone();
        let latest = if marker.index == 0 {
            let mut s = Snapshot::default();
            s.set_metadata(marker.clone());
            s
        } else {
            let s = snapshots.load(marker.index, marker.term)?;
            if *s.get_metadata() != marker {
                let file = crate::durable::snapshot::file_name(marker.index, marker.term);
                return Err(SnapshotError::Corrupt { file, why: "its metadata differs from the WAL's marker".into() }.into());
            }
            s
        };
        // Snapshot files the WAL does not point at: older ones, and a newer one whose marker did
        // not reach the disk before a crash.
        snapshots.retain_only(marker.index, marker.term)?;
        let restore = (marker.index > 0).then(|| latest.clone());
        let log = WalLog { disk, wal, snapshots, log: MemIndex::from_recovered(rec), latest, purge_pending: false, opts };
        Ok(Opened { log, snapshot: restore, report })
    }

    /// Saves a snapshot of the state machine taken at `index` (the state machine's applied index,
    /// so at most the commit index), compacts the log, and releases what the snapshot covers.
    /// Syncs the WAL. A snapshot at or below the newest one is ignored.
    ///
    /// Order (each step durable before the next): the snapshot file, then the WAL marker naming
    /// it; only then are older snapshot files and covered segments removed. A crash anywhere
    /// leaves either the old snapshot and its marker, or the new ones.
    ///
    /// # Errors
    /// Any disk error (the node must stop).
    ///
    /// # Panics
    /// If `index` is past the commit index or no longer in the log.
    pub fn save_snapshot(&mut self, index: u64, data: Vec<u8>) -> Result<(), StorageError> {
        if index <= self.latest.get_metadata().index {
            return Ok(());
        }
        assert!(index <= self.log.hard_state.commit, "snapshot at {index} past the commit index {}", self.log.hard_state.commit);
        let term = self.log.term(index).unwrap_or_else(|e| panic!("snapshot at {index}: {e}"));
        let mut snap = Snapshot::default();
        let meta = snap.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(self.log.conf_state.clone());
        snap.data = data.into();
        self.snapshots.save(&snap)?;
        self.wal.mark_snapshot(snap.get_metadata())?;
        self.wal.sync()?;
        self.snapshots.retain_only(index, term)?;
        self.log.compact(index.saturating_sub(self.opts.catch_up_entries));
        self.latest = snap;
        Ok(())
    }

    /// The WAL underneath (for inspection).
    pub fn wal(&self) -> &Wal {
        &self.wal
    }
}

impl Storage for WalLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState { hard_state: self.log.hard_state.clone(), conf_state: self.log.conf_state.clone() })
    }

    fn entries(&self, low: u64, high: u64, max_size: impl Into<Option<u64>>, _context: GetEntriesContext) -> raft::Result<Vec<Entry>> {
        if low <= self.log.offset {
            return Err(raft::Error::Store(raft::StorageError::Compacted));
        }
        assert!(high <= self.log.last_index() + 1, "entries up to {high} asked, the last is {}", self.log.last_index());
        let from = (low - self.log.offset - 1) as usize;
        let to = (high - self.log.offset - 1) as usize;
        let mut out: Vec<Entry> = self.log.entries.range(from..to).cloned().collect();
        raft::util::limit_size(&mut out, max_size.into());
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.log.term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.log.offset + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.log.last_index())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let index = self.latest.get_metadata().index;
        if index == 0 || index < request_index {
            return Err(raft::Error::Store(raft::StorageError::SnapshotTemporarilyUnavailable));
        }
        Ok(self.latest.clone())
    }
}

impl LogStore for WalLog {
    fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.wal.append(entries)?;
        self.log.append(entries);
        Ok(())
    }

    fn set_hard_state(&mut self, hs: HardState) -> Result<(), StorageError> {
        self.wal.set_hard_state(&hs)?;
        self.log.hard_state = hs;
        Ok(())
    }

    fn set_commit(&mut self, commit: u64) -> Result<(), StorageError> {
        let mut hs = self.log.hard_state.clone();
        hs.commit = commit;
        self.set_hard_state(hs)
    }

    /// Saves the leader's snapshot durably (its file is synced before this returns), then records
    /// that the log was replaced, to be synced by the next `persist`.
    fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError> {
        let meta = snapshot.get_metadata().clone();
        if meta.index < self.latest.get_metadata().index {
            return Err(raft::Error::Store(raft::StorageError::SnapshotOutOfDate).into());
        }
        self.snapshots.save(&snapshot)?;
        self.wal.mark_snapshot_install(&meta)?;
        self.log.restore(&meta);
        self.latest = snapshot;
        self.purge_pending = true;
        Ok(())
    }

    fn persist(&mut self) -> Result<(), StorageError> {
        self.wal.sync()?;
        if self.purge_pending {
            let m = self.latest.get_metadata();
            self.snapshots.retain_only(m.index, m.term)?;
            self.purge_pending = false;
        }
        Ok(())
    }

    fn wants_snapshot(&self, applied: u64) -> bool {
        applied >= self.latest.get_metadata().index.saturating_add(self.opts.snapshot_count.max(1))
    }

    fn save_snapshot(&mut self, index: u64, data: Vec<u8>) -> Result<(), StorageError> {
        WalLog::save_snapshot(self, index, data)
    }

    fn snapshot_index(&self) -> u64 {
        self.latest.get_metadata().index
    }

    fn take_io_delay(&mut self) -> Duration {
        self.disk.take_latency()
    }
}

#[cfg(test)]
mod tests;
