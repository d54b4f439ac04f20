//! The disk seam: the only place in `detcd-node` that touches files.
//!
//! A [`Disk`] is one flat directory of files, with exactly the operations the WAL (`wal`) and the
//! snapshot store (`snapshot`) need. Two implementations:
//! - [`RealDisk`]: `std::fs` under a root directory.
//! - [`SimDisk`]: an in-memory disk for the simulator that keeps written-but-unsynced data apart
//!   from durable data and loses the unsynced part on [`SimDisk::crash`]; see its module for the
//!   fault contract.
//!
//! # Durability contract (what callers may rely on, on both implementations)
//! - `append` and `truncate` change what `read` returns at once, but survive a crash only after
//!   `sync` of that file returns `Ok`.
//! - `create`, `rename` and `remove` change what `list` returns at once, but survive a crash only
//!   after `sync_dir` returns `Ok`. A file that was created and synced, but whose directory was not
//!   synced since, may be gone after a crash (POSIX: `fsync` of a file does not make its name
//!   durable).
//! - After a failed `sync` the state of that file is unknown: what was written may or may not be
//!   durable, and a retry that succeeds proves nothing (Linux may have dropped the dirty pages:
//!   "fsyncgate"). Callers must treat a failed sync as fatal for the data it covered.
//! - `rename` is atomic: after a crash, `to` names either its old file or the renamed one.
//!
//! # Why the API is synchronous
//! The WAL is written from the driver's Ready loop, whose storage calls (`LogStore`, and raft-rs's
//! `Storage`) are synchronous, and std's file I/O is too. Simulated latency therefore does not
//! sleep inside the disk: a slow [`SimDisk`] adds each operation's latency to a debt that
//! [`Disk::take_latency`] hands to the caller, and the driver sleeps it off (madsim time advances
//! only across an `.await`) between persisting a Ready and sending its messages, which is exactly
//! where a slow fsync delays a real node. On a real disk the time has already passed, so the debt is
//! always zero.

mod real;
pub mod sim;

pub use real::RealDisk;
pub use sim::{CrashMode, SimDisk};

use std::time::Duration;

/// A disk operation that failed. Every one is an operating error: the WAL stops rather than go on
/// with data it cannot trust.
///
/// # Errors
/// - `NotFound`: the named file does not exist.
/// - `AlreadyExists`: `create` of a name that exists.
/// - `Io`: the operating system refused the operation (disk full, I/O error, permissions).
/// - `Injected`: a fault the simulator injected (see [`SimDisk`]).
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{op} {name}: no such file")]
    NotFound { op: &'static str, name: String },
    #[error("{op} {name}: file already exists")]
    AlreadyExists { op: &'static str, name: String },
    #[error("{op} {name}: {source}")]
    Io { op: &'static str, name: String, source: std::io::Error },
    #[error("{op} {name}: injected fault (simulated disk)")]
    Injected { op: &'static str, name: String },
}

/// One flat directory of files. Names are plain file names (see [`check_name`]).
///
/// Methods take `&self`: the WAL and the snapshot store share one disk through an `Arc`.
pub trait Disk: Send + Sync + std::fmt::Debug + 'static {
    /// The names of the files in the directory, sorted.
    fn list(&self) -> Result<Vec<String>, DiskError>;
    /// Creates an empty file; `AlreadyExists` if the name is taken. Its name is durable only after
    /// [`Disk::sync_dir`].
    fn create(&self, name: &str) -> Result<(), DiskError>;
    /// The whole contents of a file.
    fn read(&self, name: &str) -> Result<Vec<u8>, DiskError>;
    /// Appends `data` at the end of a file. Durable only after [`Disk::sync`] of the file.
    fn append(&self, name: &str, data: &[u8]) -> Result<(), DiskError>;
    /// Cuts a file to `len` bytes (`len` <= its length). Durable only after [`Disk::sync`].
    fn truncate(&self, name: &str, len: u64) -> Result<(), DiskError>;
    /// fsync (fdatasync) of one file: its contents and length survive a crash once this returns
    /// `Ok`. Its name does not: that takes [`Disk::sync_dir`].
    fn sync(&self, name: &str) -> Result<(), DiskError>;
    /// fsync of the directory: every `create`, `rename` and `remove` so far survives a crash.
    fn sync_dir(&self) -> Result<(), DiskError>;
    /// Atomically gives file `from` the name `to`, replacing any file called `to`.
    fn rename(&self, from: &str, to: &str) -> Result<(), DiskError>;
    /// Removes a file.
    fn remove(&self, name: &str) -> Result<(), DiskError>;
    /// Simulated time the operations since the last call took, which the caller should sleep
    /// (module doc, "Why the API is synchronous"). Zero on a real disk.
    fn take_latency(&self) -> Duration {
        Duration::ZERO
    }
}

/// File names are single path components: not empty, not `.` or `..`, no `/` or NUL, at most
/// [`NAME_BYTES_MAX`] bytes.
///
/// # Panics
/// On any other name: names come from our own code, so a bad one is a programmer error.
pub fn check_name(name: &str) {
    assert!(
        !name.is_empty() && name != "." && name != ".." && name.len() <= NAME_BYTES_MAX && !name.contains(['/', '\0']),
        "bad file name {name:?}: must be one path component"
    );
}

/// The longest file name the disk accepts (ext4's limit).
pub const NAME_BYTES_MAX: usize = 255;

#[cfg(test)]
mod contract_tests;
