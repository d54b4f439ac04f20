//! Decoding records and folding them, oldest first, into the log they describe.
//!
//! The rules here mirror the asserts on the writing side (`Wal::append` and friends): what the
//! writer refuses to write, the reader refuses to accept.

use super::record::{Kind, RawRecord};
use super::segment::{Identity, SegmentId};
use protobuf::Message as _;
use raft::prelude::{Entry, HardState, SnapshotMetadata};

/// A record, decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    SegmentHeader(SegmentId, Identity),
    Entry(Entry),
    HardState(HardState),
    /// A state-machine snapshot at `index` is durable: entries up to it are no longer needed;
    /// entries after it stay.
    Snapshot(SnapshotMetadata),
    /// The log was replaced by a snapshot from the leader: every entry is gone, the next one has
    /// index `index + 1`.
    SnapshotInstall(SnapshotMetadata),
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::SegmentHeader(..) => Kind::SegmentHeader,
            Record::Entry(_) => Kind::Entry,
            Record::HardState(_) => Kind::HardState,
            Record::Snapshot(_) => Kind::Snapshot,
            Record::SnapshotInstall(_) => Kind::SnapshotInstall,
        }
    }

    /// The record's payload bytes.
    pub fn payload(&self) -> Vec<u8> {
        let pb = |m: &dyn protobuf::Message| m.write_to_bytes().expect("raft messages always encode");
        match self {
            Record::SegmentHeader(id, owner) => id.header_payload(*owner).to_vec(),
            Record::Entry(e) => pb(e),
            Record::HardState(hs) => pb(hs),
            Record::Snapshot(m) | Record::SnapshotInstall(m) => pb(m),
        }
    }

    /// Decodes a record whose checksums held. An error says what is wrong with it.
    pub fn decode(raw: &RawRecord<'_>) -> Result<Record, String> {
        let kind = Kind::from_byte(raw.kind).ok_or_else(|| format!("unknown record kind {}", raw.kind))?;
        let bad = |e: protobuf::ProtobufError| format!("{kind:?} record does not decode: {e}");
        Ok(match kind {
            Kind::SegmentHeader => {
                let (id, owner) = SegmentId::from_header_payload(raw.payload)?;
                Record::SegmentHeader(id, owner)
            }
            Kind::Entry => Record::Entry(Entry::parse_from_bytes(raw.payload).map_err(bad)?),
            Kind::HardState => Record::HardState(HardState::parse_from_bytes(raw.payload).map_err(bad)?),
            Kind::Snapshot => Record::Snapshot(SnapshotMetadata::parse_from_bytes(raw.payload).map_err(bad)?),
            Kind::SnapshotInstall => Record::SnapshotInstall(SnapshotMetadata::parse_from_bytes(raw.payload).map_err(bad)?),
        })
    }
}

/// The log as the records read so far describe it.
///
/// Invariants (checked by [`Replay::check_invariants`]):
/// - `entries` are contiguous: `entries[k].index == entries[0].index + k`.
/// - `entries` is empty or starts at `max(known_from, snapshot.index + 1)` and ends at
///   `next_index - 1`.
/// - Entries in `(snapshot.index, known_from)` are unknown: they were in segments that are gone.
///   Replay succeeds only if a snapshot covers them by the end.
#[derive(Debug, Default)]
pub struct Replay {
    pub snapshot: SnapshotMetadata,
    pub hard_state: HardState,
    pub entries: Vec<Entry>,
    /// The index the next entry gets (the last index + 1).
    pub next_index: u64,
    known_from: u64,
    started: bool,
}

impl Replay {
    /// The next segment begins. Its header must say it continues the log where it stands.
    pub fn segment_start(&mut self, id: SegmentId) -> Result<(), String> {
        if !self.started {
            self.started = true;
            self.next_index = id.first_index;
            self.known_from = id.first_index;
        } else if id.first_index != self.next_index {
            return Err(format!("segment starts at index {} but the log before it ends at {}", id.first_index, self.next_index - 1));
        }
        Ok(())
    }

    /// Folds one record (not a segment header) into the log.
    pub fn apply(&mut self, record: Record) -> Result<(), String> {
        match record {
            Record::SegmentHeader(..) => return Err("segment header in the middle of a segment".into()),
            Record::Entry(e) => self.entry(e)?,
            Record::HardState(hs) => {
                if hs.term < self.hard_state.term {
                    return Err(format!("term goes back from {} to {}", self.hard_state.term, hs.term));
                }
                self.hard_state = hs;
            }
            Record::Snapshot(meta) => self.snapshot(meta)?,
            Record::SnapshotInstall(meta) => {
                self.check_snapshot_order(&meta)?;
                self.entries.clear();
                self.next_index = meta.index + 1;
                self.known_from = meta.index + 1;
                self.snapshot = meta;
            }
        }
        self.check_invariants();
        Ok(())
    }

    fn entry(&mut self, e: Entry) -> Result<(), String> {
        let i = e.index;
        if i <= self.snapshot.index {
            return Err(format!("entry {i} rewrites the snapshot at {}", self.snapshot.index));
        }
        if i > self.next_index {
            return Err(format!("entry {i} leaves a gap after {}", self.next_index - 1));
        }
        // A new leader may overwrite an uncommitted suffix: drop it.
        match self.entries.first().map(|f| f.index) {
            Some(first) if i >= first => self.entries.truncate((i - first) as usize),
            _ => self.entries.clear(),
        }
        self.known_from = self.known_from.min(i);
        self.entries.push(e);
        self.next_index = i + 1;
        Ok(())
    }

    fn snapshot(&mut self, meta: SnapshotMetadata) -> Result<(), String> {
        self.check_snapshot_order(&meta)?;
        if meta.index >= self.next_index {
            return Err(format!("snapshot at {} is past the end of the log at {}", meta.index, self.next_index - 1));
        }
        if let Some(first) = self.entries.first().map(|f| f.index) {
            if meta.index >= first {
                let at = (meta.index - first) as usize;
                if self.entries[at].term != meta.term {
                    return Err(format!("snapshot at {} has term {}, the entry there has term {}", meta.index, meta.term, self.entries[at].term));
                }
                self.entries.drain(..=at);
            }
        }
        self.snapshot = meta;
        Ok(())
    }

    fn check_snapshot_order(&self, meta: &SnapshotMetadata) -> Result<(), String> {
        let (old, new) = (&self.snapshot, meta);
        if new.index < old.index || (new.index == old.index && new.term != old.term) {
            return Err(format!("snapshot goes back from {}@{} to {}@{}", old.index, old.term, new.index, new.term));
        }
        Ok(())
    }

    /// The invariants in the type's doc. A failure is a bug in this module, not bad input.
    pub fn check_invariants(&self) {
        for (k, e) in self.entries.iter().enumerate() {
            assert_eq!(e.index, self.entries[0].index + k as u64, "replayed entries are contiguous");
        }
        if let (Some(first), Some(last)) = (self.entries.first(), self.entries.last()) {
            assert_eq!(first.index, self.known_from.max(self.snapshot.index + 1));
            assert_eq!(last.index, self.next_index - 1);
        }
    }

    /// The log at the end of the WAL. `Err` if entries after the snapshot are missing, or the
    /// commit index points past the log.
    pub fn finish(mut self) -> Result<Replay, String> {
        if self.known_from > self.snapshot.index + 1 {
            return Err(format!(
                "entries {}..{} are missing: the oldest segment starts at {} and the newest snapshot is at {}",
                self.snapshot.index + 1,
                self.known_from - 1,
                self.known_from,
                self.snapshot.index
            ));
        }
        // Snapshots hold only committed state, so the commit index is at least the snapshot's
        // (raft-rs refuses to start otherwise). A commit index is never fsynced on its own, so the
        // one on disk may lag; it is never ahead of the log, whose prefix it was written after.
        self.hard_state.commit = self.hard_state.commit.max(self.snapshot.index);
        if self.hard_state.commit >= self.next_index {
            return Err(format!("commit index {} is past the end of the log at {}", self.hard_state.commit, self.next_index - 1));
        }
        self.hard_state.term = self.hard_state.term.max(self.snapshot.term);
        Ok(self)
    }
}
