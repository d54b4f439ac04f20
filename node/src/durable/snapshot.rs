//! Snapshot files: a Raft snapshot (metadata + the state machine's bytes), checksummed, written
//! atomically.
//!
//! The store does not know what the bytes mean: the state machine serializes itself
//! (`StateMachine::snapshot() -> Vec<u8>`) and restores itself (`StateMachine::restore(&[u8])`);
//! this module only keeps the bytes safe.
//!
//! # File format
//! One file per snapshot, named `{index:016x}-{term:016x}.snap` (lower-case hex):
//!
//! ```text
//!   offset  size  field
//!   0       8     magic b"detcdsnp"
//!   8       4     format version (u32 little-endian), now 1
//!   12      4     CRC-32C of every byte from offset 16 to the end
//!   16      8     metadata length M (u64 LE)
//!   24      8     data length D (u64 LE)
//!   32      M     eraftpb.SnapshotMetadata (protobuf): index, term, ConfState
//!   32+M    D     data: the state machine's bytes, opaque here
//! ```
//! The file must be exactly `32 + M + D` bytes, and its metadata must match its name.
//!
//! # Atomic write
//! `save` writes `NAME.tmp`, fsyncs it, renames it to `NAME`, and fsyncs the directory: after a
//! crash the snapshot is either whole under its name or absent (a leftover `.tmp` is removed by
//! [`SnapshotStore::retain_only`]). A snapshot counts only once a WAL marker names it, and the
//! marker is written after `save` returns: so a snapshot the WAL points at is always whole.

use crate::durable::disk::{Disk, DiskError};
use protobuf::Message as _;
use raft::prelude::{Snapshot, SnapshotMetadata};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"detcdsnp";
const FORMAT_VERSION: u32 = 1;
const HEADER_BYTES: usize = 32;
/// The largest metadata we accept: a ConfState of a few members is far below this.
const METADATA_BYTES_MAX: u64 = 1 << 20;
const SUFFIX: &str = ".snap";
const TMP_SUFFIX: &str = ".snap.tmp";

/// Why a snapshot cannot be saved or loaded.
///
/// # Errors
/// - `Disk`: the disk refused an operation.
/// - `Corrupt`: the file is not a whole, sound snapshot (`why` says how).
/// - `Missing`: no file for a snapshot the WAL names.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot disk: {0}")]
    Disk(#[from] DiskError),
    #[error("snapshot file {file} is corrupt: {why}; refusing to start rather than run with a wrong state")]
    Corrupt { file: String, why: String },
    #[error("the WAL names snapshot {index}@{term}, but its file {file} is missing")]
    Missing { index: u64, term: u64, file: String },
}

/// Snapshot files on a disk.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    disk: Arc<dyn Disk>,
}

/// The file name of the snapshot at `index`, `term`.
pub fn file_name(index: u64, term: u64) -> String {
    format!("{index:016x}-{term:016x}{SUFFIX}")
}

/// Encodes a snapshot file.
pub fn encode(snap: &Snapshot) -> Vec<u8> {
    let meta = snap.get_metadata().write_to_bytes().expect("raft messages always encode");
    let mut out = Vec::with_capacity(HEADER_BYTES + meta.len() + snap.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    out.extend_from_slice(&(snap.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&snap.data);
    let crc = crc32c::crc32c(&out[16..]);
    out[12..16].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a snapshot file; an error says what is wrong with it.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!("{} bytes, shorter than the {HEADER_BYTES}-byte header", bytes.len()));
    }
    if &bytes[..8] != MAGIC {
        return Err("no snapshot magic".into());
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(format!("format version {version}, this build reads version {FORMAT_VERSION}"));
    }
    let (meta_len, data_len) = (u64_at(16), u64_at(24));
    let expected = meta_len.checked_add(data_len).and_then(|n| n.checked_add(HEADER_BYTES as u64));
    if meta_len > METADATA_BYTES_MAX || expected != Some(bytes.len() as u64) {
        return Err(format!("lengths {meta_len} + {data_len} do not fit a file of {} bytes", bytes.len()));
    }
    if crc32c::crc32c(&bytes[16..]) != u32_at(12) {
        return Err("checksum mismatch".into());
    }
    let meta_end = HEADER_BYTES + meta_len as usize;
    let metadata = SnapshotMetadata::parse_from_bytes(&bytes[HEADER_BYTES..meta_end]).map_err(|e| format!("metadata does not decode: {e}"))?;
    let mut snap = Snapshot::default();
    snap.set_metadata(metadata);
    snap.data = bytes[meta_end..].to_vec().into();
    Ok(snap)
}

impl SnapshotStore {
    pub fn new(disk: Arc<dyn Disk>) -> SnapshotStore {
        SnapshotStore { disk }
    }

    /// Writes `snap` atomically and durably (module doc). Returns its file name.
    ///
    /// # Errors
    /// Any disk error; the file is then absent or whole, never partial.
    pub fn save(&self, snap: &Snapshot) -> Result<String, SnapshotError> {
        let meta = snap.get_metadata();
        let name = file_name(meta.index, meta.term);
        let tmp = format!("{name}.tmp");
        if self.disk.list()?.contains(&tmp) {
            self.disk.remove(&tmp)?;
        }
        let bytes = encode(snap);
        // Check what is about to be written, as `load` will.
        assert!(decode(&bytes).is_ok_and(|d| d == *snap), "snapshot encoding does not round-trip");
        self.disk.create(&tmp)?;
        self.disk.append(&tmp, &bytes)?;
        self.disk.sync(&tmp)?;
        self.disk.rename(&tmp, &name)?;
        self.disk.sync_dir()?;
        Ok(name)
    }

    /// Loads the snapshot at `index`, `term`.
    ///
    /// # Errors
    /// `Missing` if there is no such file, `Corrupt` if it is damaged or does not match its name.
    pub fn load(&self, index: u64, term: u64) -> Result<Snapshot, SnapshotError> {
        let file = file_name(index, term);
        let bytes = match self.disk.read(&file) {
            Ok(b) => b,
            Err(DiskError::NotFound { .. }) => return Err(SnapshotError::Missing { index, term, file }),
            Err(e) => return Err(e.into()),
        };
        let snap = decode(&bytes).map_err(|why| SnapshotError::Corrupt { file: file.clone(), why })?;
        let m = snap.get_metadata();
        if (m.index, m.term) != (index, term) {
            return Err(SnapshotError::Corrupt { file, why: format!("it holds snapshot {}@{}", m.index, m.term) });
        }
        Ok(snap)
    }

    /// Removes every snapshot file (and leftover temporary file) except the one at `index`, `term`.
    /// Call it once the WAL marker for that snapshot is durable: until then the previous snapshot
    /// may still be the one a restart needs.
    ///
    /// # Errors
    /// Any disk error.
    pub fn retain_only(&self, index: u64, term: u64) -> Result<(), SnapshotError> {
        let keep = file_name(index, term);
        let mut removed = false;
        for name in self.disk.list()? {
            if (name.ends_with(SUFFIX) || name.ends_with(TMP_SUFFIX)) && name != keep {
                self.disk.remove(&name)?;
                removed = true;
            }
        }
        if removed {
            self.disk.sync_dir()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::disk::{CrashMode, SimDisk};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn snap(index: u64, term: u64, data: &[u8]) -> Snapshot {
        let mut s = Snapshot::default();
        s.mut_metadata().index = index;
        s.mut_metadata().term = term;
        s.mut_metadata().mut_conf_state().voters = vec![1, 2, 3];
        s.data = data.to_vec().into();
        s
    }

    fn store() -> (SimDisk, SnapshotStore) {
        let disk = SimDisk::new(1);
        (disk.clone(), SnapshotStore::new(Arc::new(disk)))
    }

    #[test]
    fn a_saved_snapshot_survives_a_crash_and_loads_back() {
        let (disk, store) = store();
        let s = snap(42, 3, b"state machine bytes \x00\xff");
        assert_eq!(store.save(&s).unwrap(), "000000000000002a-0000000000000003.snap");
        disk.crash(CrashMode::LoseUnsynced);
        assert_eq!(store.load(42, 3).unwrap(), s);
    }

    #[test]
    fn a_crash_during_save_leaves_no_snapshot_or_a_whole_one() {
        for seed in 0..50 {
            let disk = SimDisk::new(seed);
            let store = SnapshotStore::new(Arc::new(disk.clone()));
            let s = snap(7, 1, &vec![9u8; 5000]);
            // Stop after the rename but before the directory sync: the crash decides.
            let tmp = format!("{}.tmp", file_name(7, 1));
            disk.create(&tmp).unwrap();
            disk.append(&tmp, &encode(&s)).unwrap();
            disk.sync(&tmp).unwrap();
            disk.rename(&tmp, &file_name(7, 1)).unwrap();
            disk.crash(CrashMode::Torn);
            match store.load(7, 1) {
                Ok(loaded) => assert_eq!(loaded, s, "seed {seed}"),
                Err(SnapshotError::Missing { .. }) => {}
                Err(e) => panic!("seed {seed}: {e}"),
            }
            store.retain_only(7, 1).unwrap();
            assert!(disk.list().unwrap().iter().all(|n| !n.ends_with(".tmp")));
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_is_detected() {
        let (disk, store) = store();
        let s = snap(5, 2, b"0123456789");
        let name = store.save(&s).unwrap();
        let len = disk.read(&name).unwrap().len() as u64;
        for at in 0..len {
            disk.clear_read_faults();
            disk.corrupt_read(&name, at, 0x08);
            match store.load(5, 2) {
                Err(SnapshotError::Corrupt { file, .. }) => assert_eq!(file, name),
                other => panic!("flip at {at}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_file_under_the_wrong_name_is_refused() {
        let (disk, store) = store();
        store.save(&snap(5, 2, b"x")).unwrap();
        disk.rename(&file_name(5, 2), &file_name(6, 2)).unwrap();
        assert!(matches!(store.load(6, 2), Err(SnapshotError::Corrupt { .. })));
        assert!(matches!(store.load(5, 2), Err(SnapshotError::Missing { .. })));
    }

    #[test]
    fn retain_only_keeps_one_snapshot_and_other_files() {
        let (disk, store) = store();
        store.save(&snap(1, 1, b"a")).unwrap();
        store.save(&snap(2, 1, b"b")).unwrap();
        disk.create("0000000000000001-0000000000000001.wal").unwrap();
        store.retain_only(2, 1).unwrap();
        assert_eq!(disk.list().unwrap(), vec!["0000000000000001-0000000000000001.wal".to_string(), file_name(2, 1)]);
    }

    #[test]
    fn fuzz_decode_never_panics() {
        let good = encode(&snap(3, 1, b"some data"));
        let mut rng = StdRng::seed_from_u64(0x5eed);
        for i in 0..5_000 {
            let mut bytes = if i % 2 == 0 { good.clone() } else { (0..rng.gen_range(0..80)).map(|_| rng.gen()).collect() };
            if !bytes.is_empty() {
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] = rng.gen();
                }
            }
            let _ = decode(&bytes);
        }
    }
}
