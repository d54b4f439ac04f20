//! The write-ahead log: Raft entries, HardState and snapshot markers in checksummed records, in
//! segment files on a [`Disk`].
//!
//! # Files
//! Segments are named `{seq:016x}-{first_index:016x}.wal` (lower-case hex): `seq` counts segments
//! from 1 in creation order, `first_index` is the log's last index + 1 when the segment was created.
//! Only the newest segment is ever written; a segment is closed (synced, never touched again) once
//! it holds [`WalOptions::segment_bytes_max`] bytes (one batch may overshoot), and a new one is
//! created, synced, and made durable by a directory fsync before anything is written to it.
//! Segments whose entries a durable snapshot covers are removed.
//!
//! # Record layout
//! A segment is a sequence of records, each framed so that a torn write can be told from damage:
//!
//! ```text
//!   offset  size  field
//!   0       4     body length L (u32 little-endian): kind + payload, 1 ..= 64 MiB
//!   4       4     CRC-32C of the body
//!   8       4     CRC-32C of bytes 0..8 (the header checksum: a length can be trusted on its own)
//!   12      1     kind: 1 segment header, 2 entry, 3 HardState, 4 snapshot, 5 snapshot install
//!   13      L-1   payload
//! ```
//!
//! Payloads: the segment header is `b"detcdwal"`, format version (u32 LE, now 2), seq (u64 LE),
//! first index (u64 LE), and the owner's member ID and cluster ID (u64 LE each; version 1 had no
//! owner, and is still read); the others are raft-rs's protobuf encodings of `eraftpb.Entry`,
//! `eraftpb.HardState` and `eraftpb.SnapshotMetadata` (index, term, and the ConfState).
//!
//! Every segment starts with a preamble: its header, then a snapshot record restating the newest
//! snapshot, then a HardState record restating the current HardState. So any segment, with the
//! ones after it, describes the whole log: older segments can go once a snapshot covers them.
//! A fresh WAL is segment 1 with first index 1 and a snapshot record at index 0 that carries the
//! initial ConfState (the voters of a new cluster).
//!
//! Records replay in order: an entry at index `i` drops any entries at `i` and after (a new leader
//! overwrote an uncommitted suffix), then is appended; a HardState replaces the previous one; a
//! snapshot record drops the entries up to its index; a snapshot-install record (a snapshot received
//! from the leader) drops all entries.
//!
//! # Worked example
//! A new 3-member cluster's WAL after two Readies: the first election (term 2, this node voted for
//! member 1, the leader's empty entry at index 1), then a put at index 2 with commit 1. With
//! `segment_bytes_max` = 130, the second sync filled segment 1, so it was closed and segment 2
//! created, first index 3:
//!
//! ```text
//!   0000000000000001-0000000000000001.wal
//!     offset  bytes  record
//!     0       57     header     seq 1, first index 1, owner  (12 frame + 1 kind + 44 payload)
//!     57      21     snapshot   index 0, term 0, voters [1, 2, 3]
//!     78      13     hardstate  term 0, vote 0, commit 0       (an all-zero protobuf is empty)
//!     91      17     entry      index 1, term 2, no data
//!     108     17     hardstate  term 2, vote 1, commit 0
//!     125     22     entry      index 2, term 2, data "put"
//!     147     19     hardstate  term 2, vote 1, commit 1
//!   0000000000000002-0000000000000003.wal
//!     0       57     header     seq 2, first index 3, owner
//!     57      21     snapshot   index 0, term 0, voters [1, 2, 3]
//!     78      19     hardstate  term 2, vote 1, commit 1
//! ```
//! (`worked_example_offsets_hold` in the tests checks these numbers.) A crash while the second
//! Ready's records were being written could leave segment 1 ending anywhere inside offsets
//! 109..150; `open` then cuts it back to 109 (or 131), and the put was never acknowledged.
//!
//! # Torn writes and corruption
//! A crash may cut the last write short: the newest segment then ends in a partial record (fewer
//! bytes than a header, or a header whose length reaches past the end of the file) or in zeros (a
//! file system that grew the file before writing its data). That record was never fsynced, so no
//! one was told it was durable: [`Wal::open`] cuts it off, syncs, and says so in
//! [`OpenReport::torn_tail`]. A newest segment whose very header is torn was being created when the
//! crash came and holds nothing: it is removed. Anything else is corruption, never a tear: a
//! complete frame whose checksum fails (a tear shortens a write, it does not change written bytes),
//! an impossible length, a record that does not decode or does not fit the log, a partial record in
//! a closed segment. Then `open` fails with [`WalError::Corrupt`] naming the file and offset, and
//! the node refuses to start rather than run with acknowledged data silently missing.
//!
//! # Durability and group commit
//! `append`, `set_hard_state` and the snapshot markers only encode records into a buffer.
//! [`Wal::sync`] writes the buffer with one write and makes it durable with one fsync, however many
//! proposals the batch carries. A HardState that changes only the commit index is written but does
//! not by itself cost an fsync: the commit index is recovered from the leader after a restart (the
//! same rule as etcd's `raft.MustSync`). After any failed write or fsync the WAL refuses all further
//! work ([`WalError::Failed`]): what reached the disk is unknown.

mod record;
mod replay;
mod segment;

pub use record::{Kind, BODY_BYTES_MAX, FRAME_HEADER_BYTES};
pub use segment::{Identity, SegmentId};

use crate::bugs::{Bug, Bugs};
use crate::durable::disk::{Disk, DiskError};
use record::{End, RawRecord};
use replay::{Record, Replay};
use raft::prelude::{ConfState, Entry, HardState, SnapshotMetadata};
use std::sync::Arc;

/// The default size at which a segment is closed, as etcd's.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 << 20;

/// How the WAL is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is closed once it holds this many bytes (one batch may overshoot it).
    pub segment_bytes_max: u64,
    /// Whose log this is, written in every segment header; a WAL written by someone else (known
    /// and different) is refused at open. Zero: do not record or check.
    pub owner: Identity,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_bytes_max: SEGMENT_BYTES_MAX_DEFAULT, owner: Identity::default() }
    }
}

/// Why the WAL cannot be opened or written.
///
/// # Errors
/// - `Disk`: the disk refused an operation.
/// - `Corrupt`: bytes that no crash can produce, at `file`/`offset` (module doc); the node must not
///   start.
/// - `BadSegmentName`: a `.wal` file whose name is not a segment name.
/// - `RecordTooLarge`: an entry too large for a record; refused before anything was written.
/// - `Failed`: an earlier write or fsync failed; the WAL accepts nothing more.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL disk: {0}")]
    Disk(#[from] DiskError),
    #[error("WAL file {file} is corrupt at offset {offset}: {why}; refusing to start rather than run without acknowledged data")]
    Corrupt { file: String, offset: u64, why: String },
    #[error("file {name} ends in .wal but is not named like a WAL segment (seq-firstindex.wal in 16-digit hex)")]
    BadSegmentName { name: String },
    #[error("a WAL record of {bytes} bytes is over the limit of {max} bytes")]
    RecordTooLarge { bytes: usize, max: usize },
    #[error("the WAL stopped after an earlier failure ({0}); it accepts no more writes")]
    Failed(String),
    #[error(
        "WAL file {file} was written by member {:x} of cluster {:x}, not by this member ({:x} of cluster {:x}): \
         refusing to start on another member's data directory",
        found.member, found.cluster, expected.member, expected.cluster
    )]
    NotOurs { file: String, found: Identity, expected: Identity },
}

/// What the WAL says the log is, after [`Wal::open`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovered {
    /// Term, vote and commit (commit at least the snapshot's index).
    pub hard_state: HardState,
    /// The newest snapshot marker: index, term and ConfState. Index 0 before any snapshot, with the
    /// initial ConfState.
    pub snapshot: SnapshotMetadata,
    /// Every entry after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

/// What `open` had to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// There was no WAL: a fresh one was created.
    pub created: bool,
    /// A torn record cut off the end of the newest segment.
    pub torn_tail: Option<TornTail>,
    /// Files removed: a newest segment with a torn header, segments left over from an interrupted
    /// release.
    pub removed: Vec<String>,
}

/// A torn write cut off at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub file: String,
    pub offset: u64,
    pub bytes_cut: u64,
    pub why: &'static str,
}

/// The open WAL. Single writer: the driver.
pub struct Wal {
    disk: Arc<dyn Disk>,
    opts: WalOptions,
    /// Segments on disk, oldest first; the last one is written to. Never empty.
    segments: Vec<SegmentId>,
    /// Bytes in the newest segment, written but maybe not synced (not counting `buf`).
    active_bytes: u64,
    /// Records encoded but not yet written.
    buf: Vec<u8>,
    /// Records in `buf`.
    buf_records: usize,
    /// Bytes were written to the newest segment since its last fsync.
    written_unsynced: bool,
    /// Something written or buffered since the last fsync must be durable before `sync` returns.
    must_fsync: bool,
    /// The log as of everything appended (buffered or not): mirrors `Replay`.
    next_index: u64,
    hard_state: HardState,
    snapshot: SnapshotMetadata,
    /// The newest snapshot whose marker is durable (what releasing segments may rely on).
    durable_snapshot_index: u64,
    failed: Option<String>,
    /// Injected bugs (simulation only, see `crate::bugs`).
    bugs: Bugs,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("segments", &self.segments)
            .field("active_bytes", &self.active_bytes)
            .field("next_index", &self.next_index)
            .field("snapshot_index", &self.snapshot.index)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

fn corrupt(file: &str, offset: u64, why: impl Into<String>) -> WalError {
    WalError::Corrupt { file: file.to_string(), offset, why: why.into() }
}

/// The segments on `disk`, sorted by seq.
fn list_segments(disk: &dyn Disk) -> Result<Vec<SegmentId>, WalError> {
    let mut ids = Vec::new();
    for name in disk.list()? {
        if name.ends_with(segment::SEGMENT_SUFFIX) {
            ids.push(SegmentId::parse(&name).ok_or(WalError::BadSegmentName { name })?);
        }
    }
    ids.sort();
    for pair in ids.windows(2) {
        if pair[0].seq == pair[1].seq {
            return Err(corrupt(&pair[1].file_name(), 0, format!("two segments with seq {}", pair[0].seq)));
        }
    }
    Ok(ids)
}

/// One segment's records, decoded, and where its good part ends.
struct ReadSegment {
    records: Vec<(u64, Record)>,
    end: End,
    valid_bytes: u64,
    len: u64,
}

fn read_segment(disk: &dyn Disk, id: SegmentId) -> Result<ReadSegment, WalError> {
    let name = id.file_name();
    let bytes = disk.read(&name)?;
    let (raw, end) = record::scan(&bytes);
    let valid_bytes = match &end {
        End::Clean => bytes.len() as u64,
        End::Torn { offset, .. } | End::Corrupt { offset, .. } => *offset,
    };
    let mut records = Vec::with_capacity(raw.len());
    for r in &raw {
        let decoded = Record::decode(r).map_err(|why| corrupt(&name, r.offset, why))?;
        records.push((r.offset, decoded));
    }
    if let Some((offset, first)) = records.first() {
        match first {
            Record::SegmentHeader(h, _) if *h == id => {}
            Record::SegmentHeader(h, _) => return Err(corrupt(&name, *offset, format!("header says segment {h:?}, the name says {id:?}"))),
            _ => return Err(corrupt(&name, *offset, "segment does not start with a header")),
        }
    }
    Ok(ReadSegment { records, end, valid_bytes, len: bytes.len() as u64 })
}

impl ReadSegment {
    const EMPTY: ReadSegment = ReadSegment { records: Vec::new(), end: End::Clean, valid_bytes: 0, len: 0 };
}

/// Records every segment starts with: header, snapshot, HardState (module doc).
const PREAMBLE_RECORDS: usize = 3;

/// Checks that a segment starts with its whole preamble (the header was checked when read).
fn check_preamble(name: &str, records: &[(u64, Record)]) -> Result<(), WalError> {
    match records {
        [_, (_, Record::Snapshot(_)), (_, Record::HardState(_)), ..] => Ok(()),
        _ => {
            let at = records.get(1).map_or(0, |r| r.0);
            Err(corrupt(name, at, "segment does not start with header, snapshot and HardState records"))
        }
    }
}

/// Refuses a segment whose header names an owner other than `expected` (both known).
fn check_owner(name: &str, records: &[(u64, Record)], expected: Identity) -> Result<(), WalError> {
    let Some((_, Record::SegmentHeader(_, found))) = records.first() else { return Ok(()) };
    let known = |i: &Identity| i.member != 0 || i.cluster != 0;
    if known(found) && known(&expected) && *found != expected {
        return Err(WalError::NotOurs { file: name.to_string(), found: *found, expected });
    }
    Ok(())
}

fn remove_files(disk: &dyn Disk, ids: &[SegmentId], report: &mut OpenReport) -> Result<(), WalError> {
    for id in ids {
        disk.remove(&id.file_name())?;
        report.removed.push(id.file_name());
    }
    if !ids.is_empty() {
        disk.sync_dir()?;
    }
    Ok(())
}

impl Wal {
    /// Opens the WAL on `disk`, creating a fresh one whose initial configuration is `bootstrap` if
    /// there is none, and returns it with the log it holds and what had to be repaired.
    ///
    /// # Errors
    /// [`WalError::Corrupt`] (naming file and offset) for anything but a torn tail; `Disk` errors.
    pub fn open(disk: Arc<dyn Disk>, opts: WalOptions, bootstrap: &ConfState) -> Result<(Wal, Recovered, OpenReport), WalError> {
        let mut report = OpenReport::default();
        let mut ids = list_segments(disk.as_ref())?;
        // The newest segment may have been written and not synced by an incarnation that then
        // died without the machine crashing: sync it before trusting what it says.
        if let Some(newest) = ids.last() {
            disk.sync(&newest.file_name())?;
        }
        // A newest segment without its whole preamble was being created by a rotation (or by a
        // first start) when the machine crashed: it holds nothing that was ever synced.
        let mut unborn = Vec::new();
        let mut newest = None;
        while let Some(&id) = ids.last() {
            let seg = read_segment(disk.as_ref(), id)?;
            if seg.records.len() >= PREAMBLE_RECORDS || matches!(seg.end, End::Corrupt { .. }) {
                newest = Some(seg);
                break;
            }
            unborn.push(id);
            ids.pop();
        }
        let Some(mut newest) = newest else {
            remove_files(disk.as_ref(), &unborn, &mut report)?;
            report.created = true;
            let wal = Wal::create(disk, opts, bootstrap)?;
            let recovered = Recovered { hard_state: HardState::default(), snapshot: wal.snapshot.clone(), entries: vec![] };
            return Ok((wal, recovered, report));
        };
        // Segments before a gap in the seq numbers are left over from a release that a crash
        // interrupted; the ones after the gap describe the whole log (module doc, "preamble").
        let start = ids.windows(2).rposition(|w| w[1].seq != w[0].seq + 1).map_or(0, |i| i + 1);
        let leftovers: Vec<SegmentId> = ids.drain(..start).collect();

        let mut replay = Replay::default();
        let mut torn = None;
        for (n, &id) in ids.iter().enumerate() {
            let name = id.file_name();
            let is_newest = n + 1 == ids.len();
            let seg = if is_newest { std::mem::replace(&mut newest, ReadSegment::EMPTY) } else { read_segment(disk.as_ref(), id)? };
            match &seg.end {
                End::Clean => {}
                End::Torn { offset, why } if is_newest => torn = Some(TornTail { file: name.clone(), offset: *offset, bytes_cut: seg.len - offset, why }),
                End::Torn { offset, why } => return Err(corrupt(&name, *offset, format!("{why} in a closed segment"))),
                End::Corrupt { offset, why } => return Err(corrupt(&name, *offset, why.clone())),
            }
            check_preamble(&name, &seg.records)?;
            check_owner(&name, &seg.records, opts.owner)?;
            replay.segment_start(id).map_err(|why| corrupt(&name, 0, why))?;
            for (offset, record) in seg.records.into_iter().skip(1) {
                replay.apply(record).map_err(|why| corrupt(&name, offset, why))?;
            }
            if is_newest {
                newest.valid_bytes = seg.valid_bytes;
            }
        }
        let newest_id = *ids.last().expect("the newest segment is kept");
        let replay = replay.finish().map_err(|why| corrupt(&newest_id.file_name(), newest.valid_bytes, why))?;

        // The WAL is sound: now repair.
        if let Some(t) = torn {
            disk.truncate(&t.file, t.offset)?;
            disk.sync(&t.file)?;
            report.torn_tail = Some(t);
        }
        remove_files(disk.as_ref(), &[unborn, leftovers].concat(), &mut report)?;
        let wal = Wal {
            disk,
            opts,
            segments: ids,
            active_bytes: newest.valid_bytes,
            buf: Vec::new(),
            buf_records: 0,
            written_unsynced: false,
            must_fsync: false,
            next_index: replay.next_index,
            hard_state: replay.hard_state.clone(),
            snapshot: replay.snapshot.clone(),
            durable_snapshot_index: replay.snapshot.index,
            failed: None,
            bugs: Bugs::none(),
        };
        let recovered = Recovered { hard_state: replay.hard_state, snapshot: replay.snapshot, entries: replay.entries };
        Ok((wal, recovered, report))
    }

    /// A fresh WAL: segment 1, a snapshot record at index 0 carrying `conf_state`, an empty
    /// HardState; synced and made durable in the directory.
    fn create(disk: Arc<dyn Disk>, opts: WalOptions, conf_state: &ConfState) -> Result<Wal, WalError> {
        let mut snapshot = SnapshotMetadata::default();
        snapshot.set_conf_state(conf_state.clone());
        let mut wal = Wal {
            disk,
            opts,
            segments: vec![],
            active_bytes: 0,
            buf: Vec::new(),
            buf_records: 0,
            written_unsynced: false,
            must_fsync: false,
            next_index: 1,
            hard_state: HardState::default(),
            snapshot,
            durable_snapshot_index: 0,
            failed: None,
            bugs: Bugs::none(),
        };
        wal.start_segment(SegmentId { seq: 1, first_index: 1 })?;
        Ok(wal)
    }

    /// Switches on injected bugs (simulation only, see `crate::bugs`).
    pub fn inject_bugs(&mut self, bugs: Bugs) {
        self.bugs = bugs;
    }

    /// Appends entries (contiguous, the first at most the log's last index + 1: a lower first index
    /// overwrites the suffix from there). Buffered until [`Wal::sync`].
    ///
    /// # Errors
    /// `RecordTooLarge` (nothing is buffered then), `Failed`.
    ///
    /// # Panics
    /// If the entries are not contiguous, leave a gap, or rewrite the snapshot: raft-rs never asks
    /// for that, so it is a programmer error.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), WalError> {
        self.check_ok()?;
        let payloads: Vec<Vec<u8>> = entries.iter().map(|e| Record::Entry(e.clone()).payload()).collect();
        if let Some(p) = payloads.iter().find(|p| p.len() + 1 > BODY_BYTES_MAX) {
            return Err(WalError::RecordTooLarge { bytes: p.len() + 1, max: BODY_BYTES_MAX });
        }
        for (e, payload) in entries.iter().zip(payloads) {
            assert!(e.index > self.snapshot.index, "entry {} rewrites the snapshot at {}", e.index, self.snapshot.index);
            assert!(e.index <= self.next_index, "entry {} leaves a gap after {}", e.index, self.next_index - 1);
            self.next_index = e.index + 1;
            self.push_raw(Kind::Entry, &payload);
        }
        self.must_fsync |= !entries.is_empty();
        Ok(())
    }

    /// Records a new HardState. Buffered until [`Wal::sync`]; needs an fsync only if term or vote
    /// changed (module doc).
    ///
    /// # Panics
    /// If the term goes backwards (Raft §5.1: a node's term never decreases).
    pub fn set_hard_state(&mut self, hs: &HardState) -> Result<(), WalError> {
        self.check_ok()?;
        assert!(hs.term >= self.hard_state.term, "term goes back from {} to {}", self.hard_state.term, hs.term);
        if *hs == self.hard_state {
            return Ok(());
        }
        // BUG vote-not-persisted: a new term or vote treated like a commit-only change (no fsync).
        self.must_fsync |= (hs.term != self.hard_state.term || hs.vote != self.hard_state.vote) && !self.bugs.has(Bug::VoteNotPersisted);
        self.hard_state = hs.clone();
        self.push(Record::HardState(hs.clone()));
        Ok(())
    }

    /// Records that a state-machine snapshot at `meta.index` is durable (the caller saved it
    /// first): entries up to it are no longer needed; later ones stay. Once this marker is synced,
    /// segments it covers are removed.
    ///
    /// # Panics
    /// If the snapshot goes backwards or lies past the end of the log.
    pub fn mark_snapshot(&mut self, meta: &SnapshotMetadata) -> Result<(), WalError> {
        self.check_ok()?;
        self.check_snapshot_order(meta);
        assert!(meta.index < self.next_index, "snapshot at {} is past the end of the log at {}", meta.index, self.next_index - 1);
        self.snapshot = meta.clone();
        self.push(Record::Snapshot(meta.clone()));
        self.must_fsync = true;
        Ok(())
    }

    /// Records that the log was replaced by a snapshot received from the leader (the caller saved
    /// it first): every entry is gone, the next one has index `meta.index + 1`.
    ///
    /// # Panics
    /// If the snapshot goes backwards.
    pub fn mark_snapshot_install(&mut self, meta: &SnapshotMetadata) -> Result<(), WalError> {
        self.check_ok()?;
        self.check_snapshot_order(meta);
        self.snapshot = meta.clone();
        self.next_index = meta.index + 1;
        self.push(Record::SnapshotInstall(meta.clone()));
        self.must_fsync = true;
        Ok(())
    }

    fn check_snapshot_order(&self, meta: &SnapshotMetadata) {
        let old = &self.snapshot;
        assert!(
            meta.index > old.index || (meta.index == old.index && meta.term == old.term),
            "snapshot goes back from {}@{} to {}@{}",
            old.index,
            old.term,
            meta.index,
            meta.term
        );
    }

    /// Writes everything buffered with one write and, if any of it must be durable, one fsync
    /// (group commit). Then closes the segment if it is full, and removes segments that a durable
    /// snapshot covers.
    ///
    /// # Errors
    /// Any disk error; the WAL then refuses all further work (`Failed`).
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.check_ok()?;
        let result = self.sync_inner();
        if let Err(e) = &result {
            self.failed = Some(e.to_string());
        }
        result
    }

    fn sync_inner(&mut self) -> Result<(), WalError> {
        let active = self.active().file_name();
        if !self.buf.is_empty() {
            // Check the checksums of what is about to be written, as the reader will.
            let (records, end) = record::scan(&self.buf);
            assert!(end == End::Clean && records.len() == self.buf_records, "WAL buffer damaged in memory: {end:?}");
            self.disk.append(&active, &self.buf)?;
            self.active_bytes += self.buf.len() as u64;
            self.buf.clear();
            self.buf_records = 0;
            self.written_unsynced = true;
        }
        if self.must_fsync && self.bugs.has(Bug::AckBeforeFsync) {
            // BUG ack-before-fsync: the caller goes on (sends acks, applies) as if this were durable;
            // the bytes reach the disk only when the segment is closed.
            self.must_fsync = false;
        } else if self.must_fsync {
            self.disk.sync(&active)?;
            self.written_unsynced = false;
            self.must_fsync = false;
            self.durable_snapshot_index = self.snapshot.index;
        }
        if self.active_bytes >= self.opts.segment_bytes_max {
            if self.written_unsynced {
                self.disk.sync(&active)?;
                self.written_unsynced = false;
            }
            let next = SegmentId { seq: self.active().seq + 1, first_index: self.next_index };
            self.start_segment(next)?;
        }
        self.release_covered()
    }

    /// Creates segment `id` with its preamble, synced and durable in the directory, and makes it
    /// the one written to. The previous one must be fully synced.
    fn start_segment(&mut self, id: SegmentId) -> Result<(), WalError> {
        assert!(self.buf.is_empty() && !self.written_unsynced && !self.must_fsync, "closing a segment with unsynced records");
        let mut preamble = Vec::new();
        for r in [Record::SegmentHeader(id, self.opts.owner), Record::Snapshot(self.snapshot.clone()), Record::HardState(self.hard_state.clone())] {
            record::encode(r.kind(), &r.payload(), &mut preamble);
        }
        let name = id.file_name();
        self.disk.create(&name)?;
        self.disk.append(&name, &preamble)?;
        self.disk.sync(&name)?;
        // The new name must be durable before records that matter go into the file.
        if !self.bugs.has(Bug::SkipDirFsync) {
            self.disk.sync_dir()?;
        }
        self.segments.push(id);
        self.active_bytes = preamble.len() as u64;
        Ok(())
    }

    /// Removes the oldest segments whose live entries all lie at or below the newest durable
    /// snapshot. Segment `i`'s live entries are below `min(first_index of every later segment)`:
    /// entries at that index and after were overwritten before that segment was created.
    fn release_covered(&mut self) -> Result<(), WalError> {
        let covered_to = self.durable_snapshot_index;
        let mut min_later_first = u64::MAX;
        let mut covered = vec![false; self.segments.len()];
        for i in (0..self.segments.len() - 1).rev() {
            min_later_first = min_later_first.min(self.segments[i + 1].first_index);
            covered[i] = min_later_first - 1 <= covered_to;
        }
        let n = covered.iter().take_while(|c| **c).count();
        if n == 0 {
            return Ok(());
        }
        // Oldest first, so that a crash part-way leaves a gap-free run of newer segments.
        for id in self.segments.drain(..n) {
            self.disk.remove(&id.file_name())?;
        }
        self.disk.sync_dir()?;
        Ok(())
    }

    fn push(&mut self, r: Record) {
        self.push_raw(r.kind(), &r.payload());
    }

    fn push_raw(&mut self, kind: Kind, payload: &[u8]) {
        record::encode(kind, payload, &mut self.buf);
        self.buf_records += 1;
    }

    fn check_ok(&self) -> Result<(), WalError> {
        match &self.failed {
            Some(why) => Err(WalError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    fn active(&self) -> SegmentId {
        *self.segments.last().expect("a WAL always has a segment")
    }

    /// The segments on disk, oldest first.
    pub fn segments(&self) -> &[SegmentId] {
        &self.segments
    }

    /// The log's last index (of everything appended, synced or not).
    pub fn last_index(&self) -> u64 {
        self.next_index - 1
    }

    /// The newest snapshot marker (synced or not).
    pub fn snapshot(&self) -> &SnapshotMetadata {
        &self.snapshot
    }
}

/// One segment as [`inspect`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub name: String,
    /// Offset, frame length and kind byte of every sound record.
    pub records: Vec<(u64, u64, u8)>,
    /// How the segment ends (`None`: exactly after its last record), as `(offset, why)`.
    pub damage: Option<(u64, String)>,
}

/// Describes every segment on `disk` without changing anything: for tests, tools and fault
/// injection that aims at a record.
///
/// # Errors
/// A disk error, or a bad segment name.
pub fn inspect(disk: &dyn Disk) -> Result<Vec<SegmentInfo>, WalError> {
    let mut out = Vec::new();
    for id in list_segments(disk)? {
        let name = id.file_name();
        let bytes = disk.read(&name)?;
        let (raw, end) = record::scan(&bytes);
        let frame = |r: &RawRecord<'_>| record::framed_len(r.payload.len()) as u64;
        let records = raw.iter().map(|r| (r.offset, frame(r), r.kind)).collect();
        let damage = match end {
            End::Clean => None,
            End::Torn { offset, why } => Some((offset, format!("torn: {why}"))),
            End::Corrupt { offset, why } => Some((offset, format!("corrupt: {why}"))),
        };
        out.push(SegmentInfo { name, records, damage });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod fuzz_tests;
